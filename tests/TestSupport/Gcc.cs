using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Lab.TestSupport;

/// <summary>
/// Compiles C test programs with the host gcc at test time. Outputs are cached by a hash of the
/// sources and flags under the system temp directory, so repeated runs do not recompile.
/// A missing gcc gives one clear error naming the tool.
/// </summary>
public static class Gcc
{
    private static readonly object Lock = new();

    /// <summary>Compiles (and links) <paramref name="sources"/> with <paramref name="flags"/>; returns the output path.
    /// <paramref name="compiler"/> is the driver to run (gcc, or musl-gcc for a musl build).</summary>
    /// <param name="libraries">Link flags placed after the sources (a static link searches an archive
    /// such as -lm only for what is undefined at that point).</param>
    public static string Build(IReadOnlyList<string> sources, IReadOnlyList<string> flags, string outputName, string compiler = "gcc",
        IReadOnlyList<string>? libraries = null)
    {
        var hash = new StringBuilder(compiler).Append('\0');
        foreach (var s in sources) hash.Append(s).Append('\0').Append(File.ReadAllText(s)).Append('\0');
        foreach (var f in flags) hash.Append(f).Append('\0');
        foreach (var l in libraries ?? []) hash.Append("lib:").Append(l).Append('\0');
        string key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(hash.ToString())))[..16];
        string dir = Path.Combine(Path.GetTempPath(), "lab-gcc-cache", key);
        string output = Path.Combine(dir, outputName);
        lock (Lock)
        {
            if (File.Exists(output)) return output;
            Directory.CreateDirectory(dir);
            string tmp = output + ".tmp" + Environment.ProcessId;
            var args = new List<string>(flags) { "-o", tmp };
            args.AddRange(sources);
            args.AddRange(libraries ?? []);
            var (code, stdout, stderr) = Run(compiler, args);
            if (code != 0) throw new InvalidOperationException($"{compiler} failed ({code}) for {outputName}:\n{stderr}{stdout}");
            File.Move(tmp, output, overwrite: true);
            return output;
        }
    }

    /// <summary>Runs a program, returning exit code and captured output. Throws a clear error if it does not exist.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(string program, IEnumerable<string> args, byte[]? stdin = null, int timeoutMs = 120_000)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot run '{program}': {e.Message} (is it installed? e.g. apt-get install gcc)", e);
        }
        using (p)
        {
            var outTask = p.StandardOutput.ReadToEndAsync();
            var errTask = p.StandardError.ReadToEndAsync();
            if (stdin != null) p.StandardInput.BaseStream.Write(stdin);
            p.StandardInput.Close();
            if (!p.WaitForExit(timeoutMs))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"{program} did not finish in {timeoutMs} ms");
            }
            return (p.ExitCode, outTask.Result, errTask.Result);
        }
    }
}
