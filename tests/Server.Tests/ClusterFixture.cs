using System.Diagnostics;
using System.Text;
using Lab.TestSupport;

namespace Lab.Server.Tests;

/// <summary>A real redis-server on a free loopback port, with nothing saved to disk; it can be killed and
/// started again on the same port (empty, as a Redis without persistence comes back).</summary>
public sealed class RedisProcess : IAsyncDisposable
{
    public int Port { get; }
    public string Endpoint => $"127.0.0.1:{Port}";
    private Process? _process;

    private RedisProcess(int port) => Port = port;

    public static async Task<RedisProcess> StartAsync()
    {
        var redis = new RedisProcess(Network.FreeLoopbackPort());
        await redis.StartAgainAsync();
        return redis;
    }

    /// <summary>Starts redis-server (again) and waits until it answers PING.</summary>
    public async Task StartAgainAsync()
    {
        var psi = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no" })
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi) ?? throw new InvalidOperationException("redis-server did not start (test.sh installs it)");
        _ = _process.StandardOutput.ReadToEndAsync();
        _ = _process.StandardError.ReadToEndAsync();
        for (int i = 0; ; i++)
        {
            try
            {
                using var tcp = new System.Net.Sockets.TcpClient();
                await tcp.ConnectAsync("127.0.0.1", Port);
                var stream = tcp.GetStream();
                await stream.WriteAsync("PING\r\n"u8.ToArray());
                var buffer = new byte[16];
                int n = await stream.ReadAsync(buffer);
                if (Encoding.ASCII.GetString(buffer, 0, n).StartsWith("+PONG")) return;
            }
            catch (System.Net.Sockets.SocketException) when (i < 600 && !_process.HasExited) { }
            if (_process.HasExited) throw new InvalidOperationException($"redis-server exited with status {_process.ExitCode}");
            await Task.Delay(50);
        }
    }

    /// <summary>Kills redis-server (SIGKILL): everything it held is gone.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill();
            await p.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }
}

/// <summary>
/// A Lab server node as its own process (`dotnet Lab.Server.dll --redis …`), so it can be killed with
/// SIGKILL or stopped with SIGTERM as an operator would; its output is kept for the test to read.
/// </summary>
public sealed class NodeProcess : IAsyncDisposable
{
    public string Name { get; }
    public string Url { get; }
    public Process Process { get; }
    public string DataDirectory { get; }
    private readonly StringBuilder _output = new();

    public string Output { get { lock (_output) return _output.ToString(); } }

    private NodeProcess(string name, string url, Process process, string data)
    {
        Name = name;
        Url = url;
        Process = process;
        DataDirectory = data;
    }

    /// <summary>The server build beside this test build (same configuration).</summary>
    public static string ServerDll
    {
        get
        {
            string config = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release";
            return Path.Combine(LabKernelBuild.RepoRoot(), "Server", "bin", config, "net10.0", "Lab.Server.dll");
        }
    }

    /// <summary>Starts a node and returns once it answers HTTP and has joined the cluster.</summary>
    public static async Task<NodeProcess> StartAsync(string name, string redis, params string[] extra)
    {
        int port = Network.FreeLoopbackPort();
        string url = $"http://127.0.0.1:{port}";
        string data = Path.Combine(Path.GetTempPath(), $"lab-node-{name}-" + Guid.NewGuid().ToString("N"));
        var process = Launch(["--urls", url, "--redis", redis, "--node", name, "--data", data, .. extra]);
        var node = new NodeProcess(name, url, process, data);
        node.Capture();
        try
        {
            await node.WaitForOutputAsync($"cluster node {name} at", TimeSpan.FromSeconds(120));
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the server with these arguments (for a run that is expected to fail).</summary>
    public static Process Launch(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(ServerDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["Logging__LogLevel__Default"] = "Information";
        psi.Environment["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning";
        return Process.Start(psi) ?? throw new InvalidOperationException("cannot start the server");
    }

    private void Capture()
    {
        Process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_output) _output.AppendLine(e.Data); };
        Process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_output) _output.AppendLine(e.Data); };
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
    }

    /// <summary>Waits until the node's output contains <paramref name="text"/> (fails if the node exits first).</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (!Output.Contains(text))
        {
            if (Process.HasExited) throw new InvalidOperationException($"node {Name} exited ({Process.ExitCode}) before saying '{text}':\n{Output}");
            if (DateTime.UtcNow > until) throw new TimeoutException($"node {Name} did not say '{text}':\n{Output}");
            await Task.Delay(50);
        }
    }

    /// <summary>kill -9: the node dies without a word.</summary>
    public async Task KillAsync()
    {
        if (Process.HasExited) return;
        Process.Kill();
        await Process.WaitForExitAsync();
    }

    /// <summary>kill -TERM (an operator's stop): waits until the process has ended.</summary>
    public async Task TerminateAsync()
    {
        if (Process.HasExited) return;
        using (var kill = Process.Start("kill", ["-TERM", Process.Id.ToString()])) await kill!.WaitForExitAsync();
        await Process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        Process.Dispose();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
