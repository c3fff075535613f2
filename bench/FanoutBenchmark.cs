using Lab.Shared.Wire;
using Lab.TuiClient.Net;

namespace Lab.Bench;

/// <summary>
/// `bench fanout`: one session (demo, WeensyOS forkexit at real time) and N viewers on loopback.
/// The server runs as a child process (this program with --serve) so its CPU and memory are its own.
/// For each N it reports frames per second delivered per client, p50/p99 latency from the server's
/// frame stamp to the client's receipt, server CPU and memory, and bytes per second per viewer
/// (<see cref="FanoutViewers"/>: the official SignalR client; a sample decodes whole frames).
/// Target (issue 5): 500 viewers at 30 frames/s with p99 under 100 ms, at most 20 KB/s per viewer.
/// `--nodes N` runs the same viewers against a cluster instead (<see cref="FanoutClusterBenchmark"/>).
/// </summary>
public static class FanoutBenchmark
{
    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "--serve")
        {
            Lab.Server.LabServerHost.Create(args[1..]).Run();
            return 0;
        }
        int[]? counts = null;
        int seconds = 10, nodes = 1;
        string? posix = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--clients": counts = args[++i].Split(',').Select(int.Parse).ToArray(); break;
                case "--seconds": seconds = int.Parse(args[++i]); break;
                case "--posix": posix = args[++i]; break;
                case "--nodes": nodes = int.Parse(args[++i]); break;
                case "--help":
                    Console.WriteLine("usage: bench fanout [--clients 100,500,1000] [--seconds 10] [--posix \"COMMAND\"]");
                    Console.WriteLine("       bench fanout --nodes 3 [--clients 1500] [--seconds 10]   (a cluster on a real redis-server, next to one node)");
                    return 0;
                default: throw new BenchmarkException($"unknown option '{args[i]}'");
            }
        }
        if (nodes < 1 || seconds < 1 || (counts != null && counts.Any(n => n < 1))) throw new BenchmarkException("--nodes, --seconds and --clients must be at least 1");
        if (nodes > 1)
        {
            if (posix != null) throw new BenchmarkException("--posix is for one node; --nodes watches the cluster's demo");
            return FanoutClusterBenchmark.RunAsync(nodes, counts ?? [1500], seconds).GetAwaiter().GetResult();
        }
        counts ??= [100, 500, 1000];
        Console.WriteLine(posix == null
            ? $"fanout: demo session (forkexit, real time), {seconds} s measured per run, server in a child process"
            : $"fanout: a POSIX session running '{posix}' at full speed, {seconds} s measured per run, server in a child process");
        Console.WriteLine($"{"viewers",8} {"frames/s",9} {"p50 ms",8} {"p99 ms",8} {"KB/s/viewer",12} {"server CPU",11} {"server MB",10}");
        string? summary = null;
        foreach (int n in counts)
        {
            var r = RunOneAsync(n, seconds, posix).GetAwaiter().GetResult();
            var v = r.Viewers;
            Console.WriteLine($"{n,8} {v.FramesPerSecond,9:F1} {v.P50Ms,8:F1} {v.P99Ms,8:F1} {v.KBytesPerSecond,12:F2} {r.ServerCpuPercent[0],10:F0}% {r.ServerMegabytes[0],10:F0}");
            summary += $" v{n}_fps={v.FramesPerSecond:F1} v{n}_p99_ms={v.P99Ms:F1} v{n}_kbps={v.KBytesPerSecond:F2}";
        }
        Console.WriteLine($"fanout{summary}");
        return 0;
    }

    /// <summary>
    /// One server (a child process, with the demo) and <paramref name="viewers"/> viewers connected to it
    /// straight (no Locate: a single server); measured over <paramref name="seconds"/> after a 2 s settle.
    /// With <paramref name="posix"/>, the viewers watch a POSIX session running that command instead of the demo.
    /// </summary>
    internal static async Task<FanoutViewers.Window> RunOneAsync(int viewers, int seconds, string? posix)
    {
        await using var server = await ServerProcess.StartAsync("fanout");
        string url = server.Url;
        string session = "demo";
        await using var creator = new LabClient(url, reconnect: false);
        if (posix != null)
        {
            // A POSIX session (console, wide pages, up to thousands of processes) made for the run.
            await creator.StartAsync();
            session = "fanout-posix";
            await creator.CreateSession(new CreateSessionOptions(session, posix, "cow", "posix"));
        }
        await using var rig = await FanoutViewers.ConnectAsync(viewers, session, async i =>
        {
            var client = new LabClient(url, reconnect: false);
            try { await client.StartAsync(); }
            catch
            {
                await client.DisposeAsync();
                throw;
            }
            return (client, url);
        });
        await Task.Delay(TimeSpan.FromSeconds(2));   // settle: initial full frames out of the way
        return await rig.MeasureAsync(seconds, [server]);
    }
}
