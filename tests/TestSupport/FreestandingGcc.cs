using System.Security.Cryptography;
using System.Text;

namespace Lab.TestSupport;

/// <summary>
/// Builds freestanding static x86-64 programs (no libc: the program brings its own <c>_start</c>,
/// syscalls and mem* functions) that run both natively on Linux and in the Machine under
/// <see cref="BareElfRunner"/>. libgcc is linked after the sources, for <c>__int128</c> division
/// and <c>__popcountdi2</c>. Outputs are cached under the temp directory by a hash of the sources,
/// the headers they include and the flags.
/// </summary>
public static class FreestandingGcc
{
    /// <summary>Flags every build gets: static, no libc, no PIE, no stack protector or CET.</summary>
    public static readonly IReadOnlyList<string> BaseFlags =
    [
        "-static", "-nostdlib", "-ffreestanding", "-fno-pie", "-no-pie",
        "-fno-stack-protector", "-fcf-protection=none", "-fno-asynchronous-unwind-tables",
    ];

    /// <summary>
    /// The flags the emulator benchmark's C workloads (bench/workloads, and a user's own) are built with,
    /// after <see cref="BaseFlags"/>: -O2 as gcc's default x86-64 (so SSE2 floating point and its
    /// vectorised loops), and sqrt inline, since no libm is linked to set errno.
    /// </summary>
    public static readonly IReadOnlyList<string> WorkloadFlags = ["-O2", "-fno-math-errno"];

    private static readonly object Lock = new();

    /// <summary>
    /// Compiles and links <paramref name="sources"/> with <see cref="BaseFlags"/> plus
    /// <paramref name="flags"/> (e.g. "-O2", "-mgeneral-regs-only"); returns the executable's path.
    /// <paramref name="headers"/> are files the sources include: they only feed the cache key.
    /// </summary>
    public static string Build(IReadOnlyList<string> sources, IReadOnlyList<string> flags, string outputName, IEnumerable<string>? headers = null)
    {
        var allFlags = BaseFlags.Concat(flags).ToList();
        var key = new StringBuilder("freestanding-v1\0");
        foreach (var f in sources.Concat(headers ?? []))
            key.Append(Path.GetFileName(f)).Append('\0').Append(File.ReadAllText(f)).Append('\0');
        foreach (var f in allFlags) key.Append(f).Append('\0');
        string hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())))[..16];
        string dir = Path.Combine(Path.GetTempPath(), "lab-gcc-cache", hash);
        string output = Path.Combine(dir, outputName);
        lock (Lock)
        {
            if (File.Exists(output)) return output;
            Directory.CreateDirectory(dir);
            string tmp = output + ".tmp" + Environment.ProcessId;
            var args = new List<string>(allFlags) { "-o", tmp };
            args.AddRange(sources);
            args.Add("-lgcc");
            var (code, stdout, stderr) = Gcc.Run("gcc", args);
            if (code != 0)
                throw new InvalidOperationException($"gcc failed ({code}) for {outputName}: gcc {string.Join(' ', args)}\n{stderr}{stdout}");
            File.Move(tmp, output, overwrite: true);
            return output;
        }
    }
}
