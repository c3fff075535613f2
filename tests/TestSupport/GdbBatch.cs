using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Lab.TestSupport;

/// <summary>
/// Real gdb (the Debian package; test.sh installs it) in batch mode, as a student would type the
/// commands: <c>gdb -batch -nx FILE -ex 'target remote 127.0.0.1:PORT' -ex ...</c>.
/// </summary>
public static class GdbBatch
{
    /// <summary>Runs gdb on <paramref name="file"/> attached to 127.0.0.1:<paramref name="port"/> (no attach when
    /// port is null), then <paramref name="commands"/>; returns what it printed (stdout and stderr).</summary>
    public static string Run(string file, int? port, params string[] commands)
    {
        var r = NativeProcess.Run("gdb", Arguments(file, port, commands));
        return Encoding.UTF8.GetString(r.Stdout) + Encoding.UTF8.GetString(r.Stderr);
    }

    private static List<string> Arguments(string file, int? port, string[] commands)
    {
        var args = new List<string> { "-batch", "-nx", "-ex", "set confirm off", "-ex", "set pagination off", file };
        if (port is int p) { args.Add("-ex"); args.Add($"target remote 127.0.0.1:{p}"); }
        foreach (string c in commands) { args.Add("-ex"); args.Add(c); }
        return args;
    }

    /// <summary>Starts gdb as <see cref="Run"/> does but returns at once, so the test can press Ctrl-C
    /// (<see cref="Interrupt"/>) while a command runs; <see cref="Finish"/> waits for it and returns its output.</summary>
    public static (Process Gdb, Task<string> Output) Start(string file, int port, params string[] commands)
    {
        var psi = new ProcessStartInfo("gdb")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (string a in Arguments(file, port, commands)) psi.ArgumentList.Add(a);
        var gdb = Process.Start(psi)!;
        gdb.StandardInput.Close();
        var stdout = gdb.StandardOutput.ReadToEndAsync();
        var stderr = gdb.StandardError.ReadToEndAsync();
        return (gdb, Task.WhenAll(stdout, stderr).ContinueWith(t => t.Result[0] + t.Result[1]));
    }

    /// <summary>What Ctrl-C in gdb's terminal does: SIGINT to gdb (this process only, by its pid), which
    /// makes gdb send the remote target the interrupt byte.</summary>
    public static void Interrupt(Process gdb)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", new[] { "-INT", gdb.Id.ToString(CultureInfo.InvariantCulture) }) { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    /// <summary>Waits for gdb started by <see cref="Start"/> to exit (killing it after five minutes) and returns what it printed.</summary>
    public static string Finish(Process gdb, Task<string> output)
    {
        using (gdb)
        {
            if (!gdb.WaitForExit(300_000)) gdb.Kill();
            return output.Result;
        }
    }

    /// <summary>The value of register <paramref name="name"/> in gdb's <c>info registers</c> output (the
    /// last time it was printed), e.g. "rip 0x41770 0x41770 &lt;kernel&gt;".</summary>
    public static ulong Register(string output, string name)
    {
        var matches = Regex.Matches(output, $@"^{Regex.Escape(name)}\s+0x([0-9a-f]+)", RegexOptions.Multiline);
        if (matches.Count == 0) throw new InvalidOperationException($"gdb printed no register {name}:\n{output}");
        return ulong.Parse(matches[^1].Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }
}
