using System.Runtime.CompilerServices;

namespace Lab.TestSupport;

/// <summary>Where `dotnet build` puts Lab's own C WeensyOS kernel (userland/kernel), one folder per variant.</summary>
public static class LabKernelBuild
{
    public static string RepoRoot([CallerFilePath] string thisFile = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", ".."));

    /// <summary>The path of a variant's kernel (stripped like obj/kernel, or kernel.full with symbols).</summary>
    public static string PathOf(string variant, bool full = false)
    {
        string path = Path.Combine(RepoRoot(), "userland", "build", "kernel", variant, full ? "kernel.full" : "kernel");
        if (!File.Exists(path)) throw new FileNotFoundException($"Lab's C kernel variant '{variant}' is not built (dotnet build builds userland/kernel)", path);
        return path;
    }
}
