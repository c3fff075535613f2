using System.Diagnostics;

namespace Lab.TestSupport;

/// <summary>The outcome of a host process run by <see cref="NativeProcess"/>: raw bytes, not decoded text.</summary>
public sealed record NativeResult(int ExitCode, byte[] Stdout, byte[] Stderr, TimeSpan WallTime);

/// <summary>
/// Runs a host program and captures its stdout and stderr as exact bytes (unlike <see cref="Gcc.Run"/>,
/// which decodes text), so outputs can be compared byte for byte with the Machine's.
/// </summary>
public static class NativeProcess
{
    /// <summary>Runs <paramref name="program"/> with stdin closed. A program killed by a signal
    /// reports 128 + the signal number, as a shell would.</summary>
    public static NativeResult Run(string program, IEnumerable<string>? args = null, int timeoutMs = 300_000)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (args != null) foreach (var a in args) psi.ArgumentList.Add(a);
        var sw = Stopwatch.StartNew();
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"cannot run '{program}': {e.Message}", e);
        }
        using (p)
        {
            p.StandardInput.Close();
            var outBuf = new MemoryStream();
            var errBuf = new MemoryStream();
            var outTask = p.StandardOutput.BaseStream.CopyToAsync(outBuf);
            var errTask = p.StandardError.BaseStream.CopyToAsync(errBuf);
            if (!p.WaitForExit(timeoutMs))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"{program} did not finish in {timeoutMs} ms");
            }
            sw.Stop();
            Task.WaitAll(outTask, errTask);
            return new NativeResult(p.ExitCode, outBuf.ToArray(), errBuf.ToArray(), sw.Elapsed);
        }
    }
}
