using System.Diagnostics;
using Lab.Shared.Wire;
using Lab.TuiClient.Net;
using MessagePack;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Options;

namespace Lab.Bench;

/// <summary>
/// The viewers of one session for `bench fanout` (one server or a cluster): N official SignalR clients
/// (<see cref="LabClient"/>) that join the session as viewers and count the frames they receive, their
/// latency (the server's frame stamp to receipt) and, for a sample of <see cref="SampledViewers"/>, the
/// exact bytes on the wire. The sample decodes whole frames (as the TUI does); the others decode only the
/// frame's stamp, so hundreds of viewers in this process measure the server, not this process's decoding.
/// How each viewer reaches the server (one URL, or Locate and a redirect in a cluster) is the caller's.
/// </summary>
public sealed class FanoutViewers : IAsyncDisposable
{
    public const int SampledViewers = 8;

    /// <summary>The first keys of a <see cref="Frame"/> (wire format 2): the rest of the array is skipped, not decoded.</summary>
    [MessagePackObject]
    public sealed record FrameStamp([property: Key(0)] long Seq, [property: Key(1)] bool Full, [property: Key(2)] ulong Tick, [property: Key(3)] long ServerTimeMicros);

    /// <summary>What the viewers received over a window: frames/s per viewer (mean and p10), latency, KB/s per sampled viewer.</summary>
    public sealed record Figures(double FramesPerSecond, double FramesPerSecondP10, double P50Ms, double P99Ms, double KBytesPerSecond);

    /// <summary>A measured window: the viewers' figures, each server's CPU (% of one core) and memory, this process's CPU,
    /// the rest of the machine's (other processes: the host is shared), and how long connecting every viewer took before.</summary>
    public sealed record Window(Figures Viewers, double[] ServerCpuPercent, double[] ServerMegabytes, double BenchCpuPercent, double OtherCpuPercent, double ConnectSeconds);

    private readonly LabClient[] _clients;
    private readonly long[] _frames;
    private readonly List<double>[] _latencies;
    private readonly long[] _bytes;
    private bool _measuring;

    /// <summary>The base URL each viewer ended up connected to (the node that serves it).</summary>
    public string[] ServedBy { get; }
    /// <summary>How long connecting and joining every viewer took.</summary>
    public double ConnectSeconds { get; private set; }

    private FanoutViewers(int count)
    {
        _clients = new LabClient[count];
        _frames = new long[count];
        _latencies = Enumerable.Range(0, count).Select(_ => new List<double>()).ToArray();
        _bytes = new long[count];
        ServedBy = new string[count];
    }

    /// <summary>
    /// Connects <paramref name="count"/> viewers, 32 at a time: <paramref name="connect"/> gives viewer i a started
    /// client (not yet joined) and the URL it is connected to; each then counts frames and joins <paramref name="session"/>.
    /// </summary>
    public static async Task<FanoutViewers> ConnectAsync(int count, string session, Func<int, Task<(LabClient Client, string Url)>> connect)
    {
        var viewers = new FanoutViewers(count);
        // The exact bytes a frame takes on the wire: SignalR's MessagePack protocol with Lab's options.
        var protocol = new MessagePackHubProtocol(Options.Create(new MessagePackHubProtocolOptions { SerializerOptions = LabMessagePack.Options }));
        using var gate = new SemaphoreSlim(32);
        var clock = Stopwatch.StartNew();
        try
        {
            await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    var (client, url) = await connect(i);
                    viewers._clients[i] = client;
                    viewers.ServedBy[i] = url;
                    viewers.Count(client, i, protocol);
                    await client.Join(session, $"viewer{i}", null);
                }
                finally { gate.Release(); }
            }));
        }
        catch
        {
            await viewers.DisposeAsync();
            throw;
        }
        viewers.ConnectSeconds = clock.Elapsed.TotalSeconds;
        return viewers;
    }

    /// <summary>Registers viewer <paramref name="index"/>'s frame handler: whole frames for the sample, stamps for the rest.</summary>
    private void Count(LabClient client, int index, MessagePackHubProtocol protocol)
    {
        void Received(long serverTimeMicros)
        {
            if (!Volatile.Read(ref _measuring)) return;
            long nowMicros = Frame.NowMicros();
            _frames[index]++;   // SignalR runs one connection's handlers one at a time
            lock (_latencies[index]) _latencies[index].Add((nowMicros - serverTimeMicros) / 1000.0);
        }
        if (index < SampledViewers)
        {
            client.OnFrame(f =>
            {
                if (Volatile.Read(ref _measuring)) _bytes[index] += protocol.GetMessageBytes(new InvocationMessage(nameof(ILabClient.Frame), [f])).Length;
                Received(f.ServerTimeMicros);
            });
        }
        else client.Connection.On<FrameStamp>(nameof(ILabClient.Frame), f => Received(f.ServerTimeMicros));
    }

    /// <summary>Counts over <paramref name="seconds"/> (from zero) and returns the viewers' figures with the CPU and memory of
    /// <paramref name="servers"/> and of this process over the same window.</summary>
    public async Task<Window> MeasureAsync(int seconds, IReadOnlyList<ServerProcess> servers)
    {
        for (int i = 0; i < _clients.Length; i++)
        {
            Interlocked.Exchange(ref _frames[i], 0);
            Interlocked.Exchange(ref _bytes[i], 0);
            lock (_latencies[i]) _latencies[i].Clear();
        }
        var cpuStart = servers.Select(s => s.CpuTime).ToArray();
        var benchStart = Process.GetCurrentProcess().TotalProcessorTime;
        var machine = SessionsBenchmark.MachineJiffies();
        var clock = Stopwatch.StartNew();
        Volatile.Write(ref _measuring, true);
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        Volatile.Write(ref _measuring, false);
        double elapsed = clock.Elapsed.TotalSeconds;
        var machineEnd = SessionsBenchmark.MachineJiffies();
        double machineCpu = (double)(machineEnd.Busy - machine.Busy) / Math.Max(1, machineEnd.Total - machine.Total) * 100 * Environment.ProcessorCount;
        double benchCpu = (Process.GetCurrentProcess().TotalProcessorTime - benchStart).TotalSeconds / elapsed * 100;
        var cpu = servers.Select((s, i) => (s.CpuTime - cpuStart[i]).TotalSeconds / elapsed * 100).ToArray();
        var mem = servers.Select(s => s.WorkingSetMegabytes).ToArray();

        var all = _latencies.SelectMany(l => { lock (l) return l.ToArray(); }).ToArray();
        double P(double q) => all.Length == 0 ? double.NaN : Stats.Percentile(all, q);
        var rates = _frames.Select(f => f / elapsed).ToArray();
        double kbps = _bytes.Take(Math.Min(SampledViewers, _bytes.Length)).Average() / elapsed / 1024.0;
        var figures = new Figures(rates.Average(), Stats.Percentile(rates, 0.1), P(0.5), P(0.99), kbps);
        return new Window(figures, cpu, mem, benchCpu, Math.Max(0, machineCpu - benchCpu - cpu.Sum()), ConnectSeconds);
    }

    public async ValueTask DisposeAsync() =>
        await Task.WhenAll(_clients.Where(c => c != null).Select(c => c.DisposeAsync().AsTask()));
}
