using System.Diagnostics;

namespace Lab.Bench;

/// <summary>
/// A private tmux server (its own socket, no user configuration) holding one detached session that
/// runs one command: keys go in with send-keys, the screen comes out with capture-pane. Disposing kills
/// that private server, which ends the command; the command's process is also killed by its pid if it
/// outlives the hang-up. Nothing else's tmux sessions or processes are touched.
/// </summary>
public sealed class Tmux : IDisposable
{
    private readonly string _socket = "lab-bench-" + Guid.NewGuid().ToString("N")[..8];
    private const string Target = "bench";
    private int? _commandPid;

    /// <summary>Fails with a clear message when tmux cannot run here.</summary>
    public static void Require()
    {
        try
        {
            var (code, _, err) = RunTmux(["-V"]);
            if (code != 0) throw new BenchmarkException($"'tmux -V' failed: {err.Trim()}");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new BenchmarkException("tmux is not installed (this benchmark drives the TUI through tmux: apt-get install -y tmux)");
        }
    }

    /// <summary>Starts <paramref name="command"/> (run by sh) in a detached WIDTHxHEIGHT session.</summary>
    public Tmux(int width, int height, string command)
    {
        // remain-on-exit keeps the pane (and what the command printed) if the command dies early.
        Check(RunTmux(["-L", _socket, "-f", "/dev/null", "new-session", "-d", "-s", Target, "-x", $"{width}", "-y", $"{height}", command,
            ";", "set-option", "-t", Target, "remain-on-exit", "on"]), "new-session");
        var (_, path, _) = RunTmux(["-L", _socket, "display-message", "-p", "#{socket_path}"]);
        _socketPath = path.Trim();
    }

    private readonly string _socketPath;

    /// <summary>The visible screen as text, one line per row (capture-pane -p).</summary>
    public string Capture()
    {
        var (code, stdout, stderr) = RunTmux(["-L", _socket, "capture-pane", "-p", "-t", Target]);
        if (code != 0) throw new BenchmarkException($"tmux capture-pane failed: {stderr.Trim()}");
        return stdout;
    }

    /// <summary>Sends key names (send-keys KEY...), e.g. "F5", "C-u", "Enter".</summary>
    public void Keys(params string[] keys) => Check(RunTmux(["-L", _socket, "send-keys", "-t", Target, .. keys]), "send-keys");

    /// <summary>Types text literally (send-keys -l).</summary>
    public void Type(string text) => Check(RunTmux(["-L", _socket, "send-keys", "-t", Target, "-l", text]), "send-keys -l");

    /// <summary>Polls the screen until <paramref name="condition"/> holds; fails with the screen after <paramref name="timeout"/>.</summary>
    public string WaitFor(Func<string, bool> condition, string what, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        string screen = "";
        while (clock.Elapsed < timeout)
        {
            screen = Capture();
            if (condition(screen)) return screen;
            Thread.Sleep(50);
        }
        throw new BenchmarkException($"timed out after {timeout.TotalSeconds:F0} s waiting for {what}; the screen shows:\n{screen}");
    }

    /// <summary>
    /// The pid of the process whose command line contains <paramref name="marker"/>: the pane's process
    /// (sh may exec the command) or one of its descendants.
    /// </summary>
    public int FindProcess(string marker)
    {
        var (code, stdout, stderr) = RunTmux(["-L", _socket, "display-message", "-p", "-t", Target, "#{pane_pid}"]);
        if (code != 0 || !int.TryParse(stdout.Trim(), out int panePid)) throw new BenchmarkException($"tmux display-message failed: {stderr.Trim()}");
        var pending = new Queue<int>([panePid]);
        while (pending.TryDequeue(out int pid))
        {
            string cmdline;
            try { cmdline = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' '); }
            catch (IOException) { continue; }
            if (cmdline.Contains(marker, StringComparison.Ordinal)) { _commandPid = pid; return pid; }
            foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    foreach (string child in File.ReadAllText(Path.Combine(task, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
                        pending.Enqueue(int.Parse(child));
                }
                catch (IOException) { }
            }
        }
        throw new BenchmarkException($"no process running '{marker}' under the tmux pane (pid {panePid})");
    }

    public void Dispose()
    {
        RunTmux(["-L", _socket, "kill-server"]);
        if (_socketPath.Length > 0) File.Delete(_socketPath);   // kill-server leaves the socket file behind
        if (_commandPid is int pid)
        {
            try
            {
                using var p = Process.GetProcessById(pid);
                if (p.WaitForExit(3000) == false) p.Kill(entireProcessTree: true);
            }
            catch (ArgumentException) { }            // already gone
            catch (InvalidOperationException) { }
        }
    }

    private static void Check((int Code, string Stdout, string Stderr) result, string what)
    {
        if (result.Code != 0) throw new BenchmarkException($"tmux {what} failed: {result.Stderr.Trim()}");
    }

    private static (int Code, string Stdout, string Stderr) RunTmux(string[] args)
    {
        var psi = new ProcessStartInfo("tmux") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.Result);
    }
}
