using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Lab.Bench;

/// <summary>
/// A real redis-server for a benchmark: started on a free loopback port with persistence off
/// (`--save "" --appendonly no`), ready once it answers PING, killed on dispose. Installs the Debian
/// package redis-server with apt-get when it is missing.
/// </summary>
public sealed class RedisServer : IDisposable
{
    public Process Process { get; }
    public int Port { get; }
    /// <summary>host:port, as StackExchange.Redis takes it.</summary>
    public string Endpoint => $"127.0.0.1:{Port}";

    private RedisServer(Process process, int port)
    {
        Process = process;
        Port = port;
    }

    public static async Task<RedisServer> StartAsync()
    {
        string exe = FindOrInstall();
        int port = Lab.TestSupport.Network.FreeLoopbackPort();
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning" })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi) ?? throw new BenchmarkException("cannot start redis-server");
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        var redis = new RedisServer(process, port);
        for (int i = 0; ; i++)
        {
            try
            {
                if ((await redis.CommandAsync("PING")).StartsWith("+PONG")) return redis;
            }
            catch (SocketException) when (i < 100 && !process.HasExited) { }
            if (process.HasExited || i >= 100)
            {
                redis.Dispose();
                throw new BenchmarkException("redis-server did not answer PING");
            }
            await Task.Delay(50);
        }
    }

    private static string FindOrInstall()
    {
        static string? Find() => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "redis-server")).FirstOrDefault(File.Exists);
        if (Find() is { } found) return found;
        Console.WriteLine("redis-server not found: installing the Debian package redis-server");
        if (!Qemu.AptGet("install", "-y", "redis-server") && !(Qemu.AptGet("update") && Qemu.AptGet("install", "-y", "redis-server")))
            throw new BenchmarkException("apt-get install -y redis-server failed");
        return Find() ?? throw new BenchmarkException("redis-server was installed but is not on PATH");
    }

    /// <summary>Sends one inline command on a fresh connection and returns the raw reply (a bulk reply's body).</summary>
    public async Task<string> CommandAsync(string command)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"));
        var buffer = new MemoryStream();
        var chunk = new byte[16384];
        while (true)
        {
            int n = await stream.ReadAsync(chunk);
            if (n == 0) break;
            buffer.Write(chunk, 0, n);
            string text = Encoding.ASCII.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
            if (text.StartsWith('$'))
            {
                int header = text.IndexOf("\r\n", StringComparison.Ordinal);
                if (header < 0) continue;
                int length = int.Parse(text[1..header]);
                if (text.Length >= header + 2 + length) return text.Substring(header + 2, length);
            }
            else if (text.EndsWith("\r\n")) return text;
        }
        throw new BenchmarkException($"redis closed the connection during '{command}'");
    }

    /// <summary>The numeric fields of `INFO stats` (total_net_input_bytes, total_net_output_bytes, …).</summary>
    public async Task<Dictionary<string, long>> StatsAsync()
    {
        var result = new Dictionary<string, long>();
        foreach (var line in (await CommandAsync("INFO stats")).Split("\r\n"))
        {
            int colon = line.IndexOf(':');
            if (colon > 0 && long.TryParse(line[(colon + 1)..], out long v)) result[line[..colon]] = v;
        }
        return result;
    }

    public void Dispose()
    {
        try { if (!Process.HasExited) Process.Kill(); Process.WaitForExit(5000); }
        catch (InvalidOperationException) { }
        Process.Dispose();
    }
}
