using System.Runtime.CompilerServices;
using Lab.Kernel.Guest;

namespace Lab.Kernel.Tests.Guest;

/// <summary>Lab's own C WeensyOS kernel (userland/kernel), as built by `dotnet build` into userland/build/kernel.</summary>
internal static class LabKernel
{
    /// <summary>Guest speed for tests: 100 M instructions a second, so 1,000,000 per 100 Hz tick (the
    /// kernel spends 100-170 thousand on the displays at every trap).</summary>
    public const ulong TestInstructionsPerSecond = 100_000_000;

    public static string RepoRoot([CallerFilePath] string thisFile = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "..", ".."));

    /// <summary>The path of a variant's kernel (stripped like obj/kernel, or kernel.full with symbols).</summary>
    public static string PathOf(string variant, bool full = false)
    {
        string path = Path.Combine(RepoRoot(), "userland", "build", "kernel", variant, full ? "kernel.full" : "kernel");
        if (!File.Exists(path)) throw new FileNotFoundException($"Lab's C kernel variant '{variant}' is not built (dotnet build builds userland/kernel)", path);
        return path;
    }

    public static GuestKernelMachine Boot(string variant, bool full = false, ulong instructionsPerSecond = TestInstructionsPerSecond) =>
        GuestKernelMachine.Load(PathOf(variant, full), new GuestKernelOptions { InstructionsPerSecond = instructionsPerSecond });
}
