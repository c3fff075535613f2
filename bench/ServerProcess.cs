using System.Diagnostics;

namespace Lab.Bench;

/// <summary>
/// A Lab server running as a child process of the benchmark (this program with `COMMAND --serve`),
/// so its CPU and memory are its own: started on a free loopback port with a fresh data folder,
/// ready once it answers HTTP, killed and its folder deleted on dispose.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    public Process Process { get; }
    public string Url { get; }
    private readonly string _data;
    private readonly Queue<string> _log = new();
    private const int LogLines = 200;

    private ServerProcess(Process process, string url, string data)
    {
        Process = process;
        Url = url;
        _data = data;
    }

    /// <summary>Starts `COMMAND --serve --urls ... --data ...` plus <paramref name="extraArgs"/> and waits until it answers.</summary>
    public static Task<ServerProcess> StartAsync(string command, params string[] extraArgs) => StartAsync(command, _ => extraArgs);

    /// <summary>As above, with arguments that depend on the server's own URL (a cluster node's --public-url).</summary>
    public static async Task<ServerProcess> StartAsync(string command, Func<string, IEnumerable<string>> extraArgs)
    {
        int port = Lab.TestSupport.Network.FreeLoopbackPort();
        string url = $"http://127.0.0.1:{port}";
        string data = Path.Combine(Path.GetTempPath(), $"lab-{command}-" + Guid.NewGuid().ToString("N"));
        var psi = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Run as `dotnet Lab.Bench.dll ...` rather than through the apphost: the child needs the dll too.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
            psi.ArgumentList.Add(System.Reflection.Assembly.GetEntryAssembly()!.Location);
        foreach (string a in new[] { command, "--serve", "--urls", url, "--data", data, "--Logging:LogLevel:Default=Warning" }.Concat(extraArgs(url)))
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi) ?? throw new BenchmarkException("cannot start the server");
        var server = new ServerProcess(process, url, data);
        // Its log (warnings and errors: the console logger writes to stdout) is kept, the last lines only.
        process.OutputDataReceived += (_, e) => server.Keep(e.Data);
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            using var http = new HttpClient();
            for (int i = 0; ; i++)
            {
                try { await http.GetStringAsync(url); break; }
                catch (HttpRequestException) when (i < 300)
                {
                    if (process.HasExited) throw new BenchmarkException($"the server exited with status {process.ExitCode}: {(await stderr).Trim()}");
                    await Task.Delay(100);
                }
            }
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private void Keep(string? line)
    {
        if (line == null) return;
        lock (_log)
        {
            _log.Enqueue(line);
            if (_log.Count > LogLines) _log.Dequeue();
        }
    }

    /// <summary>The last lines the server logged (its stdout).</summary>
    public string[] RecentLog()
    {
        lock (_log) return _log.ToArray();
    }

    /// <summary>The server's CPU time so far.</summary>
    public TimeSpan CpuTime
    {
        get { Process.Refresh(); return Process.TotalProcessorTime; }
    }

    public double WorkingSetMegabytes
    {
        get { Process.Refresh(); return Process.WorkingSet64 / (1024.0 * 1024.0); }
    }

    public ValueTask DisposeAsync()
    {
        if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        Process.Dispose();
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
        return ValueTask.CompletedTask;
    }
}
