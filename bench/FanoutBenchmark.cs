using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Lab.Shared.Wire;
using MessagePack;
using Microsoft.AspNetCore.SignalR.Client;
using Lab.TuiClient.Net;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Options;

namespace Lab.Bench;

/// <summary>
/// `bench fanout`: one session (demo, WeensyOS forkexit at real time) and N viewers on loopback.
/// The server runs as a child process (this program with --serve) so its CPU and memory are its own.
/// For each N it reports frames per second delivered per client, p50/p99 latency from the server's
/// frame stamp to the client's receipt, server CPU and memory, and bytes per second per viewer. Viewers run
/// the official SignalR client; eight decode whole frames (and count their bytes), the others only the
/// frame's stamp, so the figures are the server's and not this process's decoding.
/// Target (issue 5): 500 viewers at 30 frames/s with p99 under 100 ms, at most 20 KB/s per viewer.
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
        int[] counts = [100, 500, 1000];
        int seconds = 10;
        string? posix = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--clients": counts = args[++i].Split(',').Select(int.Parse).ToArray(); break;
                case "--seconds": seconds = int.Parse(args[++i]); break;
                case "--posix": posix = args[++i]; break;
                case "--help":
                    Console.WriteLine("usage: bench fanout [--clients 100,500,1000] [--seconds 10] [--posix \"COMMAND\"]");
                    return 0;
                default: throw new BenchmarkException($"unknown option '{args[i]}'");
            }
        }
        Console.WriteLine(posix == null
            ? $"fanout: demo session (forkexit, real time), {seconds} s measured per run, server in a child process"
            : $"fanout: a POSIX session running '{posix}' at full speed, {seconds} s measured per run, server in a child process");
        Console.WriteLine($"{"viewers",8} {"frames/s",9} {"p50 ms",8} {"p99 ms",8} {"KB/s/viewer",12} {"server CPU",11} {"server MB",10}");
        string? summary = null;
        foreach (int n in counts)
        {
            var r = RunOne(n, seconds, posix).GetAwaiter().GetResult();
            Console.WriteLine($"{n,8} {r.FramesPerSecond,9:F1} {r.P50Ms,8:F1} {r.P99Ms,8:F1} {r.KBytesPerSecond,12:F2} {r.ServerCpuPercent,10:F0}% {r.ServerMegabytes,10:F0}");
            summary += $" v{n}_fps={r.FramesPerSecond:F1} v{n}_p99_ms={r.P99Ms:F1} v{n}_kbps={r.KBytesPerSecond:F2}";
        }
        Console.WriteLine($"fanout{summary}");
        return 0;
    }

    private const int SampledViewers = 8;

    /// <summary>The first keys of a <see cref="Frame"/> (wire format 2): the rest of the array is skipped, not decoded.</summary>
    [MessagePackObject]
    public sealed record FrameStamp([property: Key(0)] long Seq, [property: Key(1)] bool Full, [property: Key(2)] ulong Tick, [property: Key(3)] long ServerTimeMicros);

    private sealed record Result(double FramesPerSecond, double P50Ms, double P99Ms, double KBytesPerSecond, double ServerCpuPercent, double ServerMegabytes);


    private static async Task<Result> RunOne(int viewers, int seconds, string? posix)
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
        var clients = new LabClient[viewers];
        var frames = new long[viewers];
        var latencies = new List<double>[viewers];
        var bytes = new long[viewers];
        // The exact bytes a frame takes on the wire: SignalR's MessagePack protocol with Lab's options.
        var protocol = new MessagePackHubProtocol(Options.Create(new MessagePackHubProtocolOptions { SerializerOptions = LabMessagePack.Options }));
        bool measuring = false;
        for (int i = 0; i < viewers; i++) latencies[i] = new List<double>();
        using var gate = new SemaphoreSlim(32);
        await Task.WhenAll(Enumerable.Range(0, viewers).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                var c = new LabClient(url, reconnect: false);
                int index = i;
                void Received(long serverTimeMicros)
                {
                    if (!Volatile.Read(ref measuring)) return;
                    long nowMicros = Frame.NowMicros();
                    frames[index]++;
                    lock (latencies[index]) latencies[index].Add((nowMicros - serverTimeMicros) / 1000.0);
                }
                if (index < SampledViewers)
                {
                    // A sample of viewers decodes whole frames (as the TUI does) and counts their exact wire size.
                    c.OnFrame(f =>
                    {
                        if (Volatile.Read(ref measuring)) bytes[index] += protocol.GetMessageBytes(new InvocationMessage(nameof(ILabClient.Frame), [f])).Length;
                        Received(f.ServerTimeMicros);
                    });
                }
                else
                {
                    // The others decode the stamp only: hundreds of whole decoders in this one process would
                    // measure this process, not the server.
                    c.Connection.On<FrameStamp>(nameof(ILabClient.Frame), f => Received(f.ServerTimeMicros));
                }
                await c.StartAsync();
                await c.Join(session, $"viewer{i}", null);
                clients[i] = c;
            }
            finally { gate.Release(); }
        }));

        await Task.Delay(TimeSpan.FromSeconds(2));   // settle: initial full frames out of the way
        var cpuStart = server.CpuTime;
        var clock = Stopwatch.StartNew();
        Volatile.Write(ref measuring, true);
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        Volatile.Write(ref measuring, false);
        double elapsed = clock.Elapsed.TotalSeconds;
        double cpu = (server.CpuTime - cpuStart).TotalSeconds / elapsed * 100;
        double mem = server.WorkingSetMegabytes;

        var all = latencies.SelectMany(l => l).OrderBy(x => x).ToArray();
        double P(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(q * all.Length))];
        double fps = frames.Average() / elapsed;
        int sampled = Math.Min(SampledViewers, viewers);
        double kbps = bytes.Take(sampled).Average() / elapsed / 1024.0;
        await Task.WhenAll(clients.Where(c => c != null).Select(c => c.DisposeAsync().AsTask()));
        return new Result(fps, P(0.5), P(0.99), kbps, cpu, mem);
    }
}
