using System.Buffers.Binary;
using System.Diagnostics;
using Lab.Shared.Wire;
using Lab.TuiClient.Net;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Lab.Bench;

/// <summary>
/// `bench backplane`: with several nodes on one Redis, should a viewer connected to another node than
/// the session's owner get its frames through SignalR's Redis backplane, or be redirected to the owner?
/// A real redis-server and two real Kestrel nodes (child processes, <see cref="BackplaneNode"/>), N viewers
/// (official .NET SignalR client, MessagePack) connected to node B. Paths, each at --hz per viewer:
/// <list type="bullet">
/// <item>direct: node B sends to its own connections by id (the redirect design: the owner serves its
/// viewers; with the backplane configured, a local connection id skips Redis);</item>
/// <item>via_redis: node A sends to each of B's connections by id (one Redis publish per viewer per frame);</item>
/// <item>group: node A sends once per frame to a group holding every viewer (one publish per frame).</item>
/// </list>
/// Measured per path: messages/s delivered per viewer, latency from the send time embedded in the payload,
/// CPU of node A, node B, redis-server and this process, Redis's network bytes (INFO stats). The frame
/// size is measured from the real server's demo unless --sizes is given.
/// </summary>
public static class BackplaneBenchmark
{
    private sealed record Path(string Name, bool FromA, bool Group);
    private static readonly Path[] Paths = [new("direct", false, false), new("via_redis", true, false), new("group", true, true)];

    private sealed record Result(Path Path, int Size, double MsgsPerViewer, double MinViewer, double P50Ms, double P99Ms,
        double CpuA, double CpuB, double CpuRedis, double CpuBench, double CpuOther, double RedisInKBps, double RedisOutKBps, string PusherReport)
    {
        public double? SumOverride { get; init; }
        public double CpuTotal => SumOverride ?? CpuA + CpuB + CpuRedis;
    }

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "--serve")
        {
            BackplaneNode.Run(args[1..]);
            return 0;
        }
        int clients = 500, seconds = 5, rounds = 3;
        double hz = 30;
        int[]? sizes = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--clients": clients = int.Parse(args[++i]); break;
                case "--seconds": seconds = int.Parse(args[++i]); break;
                case "--rounds": rounds = int.Parse(args[++i]); break;
                case "--hz": hz = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--sizes": sizes = args[++i].Split(',').Select(int.Parse).ToArray(); break;
                case "--help":
                    Console.WriteLine("usage: bench backplane [--clients 500] [--seconds 5] [--rounds 3] [--hz 30] [--sizes BYTES,...]   (default size: a typical frame of the real demo, measured)");
                    return 0;
                default: throw new BenchmarkException($"unknown option '{args[i]}'");
            }
        }
        return RunAsync(clients, seconds, rounds, hz, sizes).GetAwaiter().GetResult();
    }

    private static async Task<int> RunAsync(int clients, int seconds, int rounds, double hz, int[]? sizes)
    {
        sizes ??= [await MeasureFrameSize()];
        using var redis = await RedisServer.StartAsync();
        await using var nodeA = await ServerProcess.StartAsync("backplane", "--redis", redis.Endpoint);
        await using var nodeB = await ServerProcess.StartAsync("backplane", "--redis", redis.Endpoint);
        Console.WriteLine($"backplane: redis-server on {redis.Endpoint}, nodes A {nodeA.Url} and B {nodeB.Url} (child processes), {clients} viewers on B, {hz} frames/s each, {seconds} s measured per path and round, {rounds} rounds");
        Console.WriteLine($"load average at start: {File.ReadAllText("/proc/loadavg").Trim()}");
        var viewers = new Viewers();
        try
        {
            await viewers.Connect(nodeB.Url, clients);
            // Warm-up, unmeasured: every path once, so JIT tiering in all three processes is past.
            foreach (var path in Paths) await Measure(path, sizes[0], hz, 2, viewers, nodeA, nodeB, redis);
            Console.WriteLine($"{"round",5} {"path",10} {"bytes",6} {"msgs/s/viewer",14} {"min viewer",11} {"p50 ms",7} {"p99 ms",7} {"node A CPU",11} {"node B CPU",11} {"redis CPU",10} {"sum CPU",8} {"bench CPU",10} {"other CPU",10} {"redis in KB/s",14} {"redis out KB/s",15}");
            void Row(string round, Result r) =>
                Console.WriteLine($"{round,5} {r.Path.Name,10} {r.Size,6} {r.MsgsPerViewer,14:F1} {r.MinViewer,11:F1} {r.P50Ms,7:F1} {r.P99Ms,7:F1} {r.CpuA,10:F1}% {r.CpuB,10:F1}% {r.CpuRedis,9:F1}% {r.CpuTotal,7:F1}% {r.CpuBench,9:F1}% {r.CpuOther,9:F0}% {r.RedisInKBps,14:F0} {r.RedisOutKBps,15:F0}   {r.PusherReport}");
            // Rounds interleave the paths, so a neighbour's burst of work on the shared host lands on
            // one round of each rather than on all rounds of one path; the medians are compared.
            var results = new List<Result>();
            for (int round = 1; round <= rounds; round++)
                foreach (int size in sizes)
                    foreach (var path in Paths)
                    {
                        var r = await Measure(path, size, hz, seconds, viewers, nodeA, nodeB, redis);
                        results.Add(r);
                        Row(round.ToString(), r);
                    }
            Console.WriteLine($"load average at end: {File.ReadAllText("/proc/loadavg").Trim()}");
            Console.WriteLine($"medians over {rounds} rounds:");
            var medians = sizes.SelectMany(size => Paths.Select(path => Median(results.Where(r => r.Size == size && r.Path == path).ToArray()))).ToArray();
            foreach (var m in medians) Row("med", m);
            Console.WriteLine("CPU: % of one core over the window (sum: node A + node B + redis-server; bench: this process, the viewers; other: the rest of the machine, from /proc/stat)");
            foreach (int size in sizes)
            {
                Result R(string name) => medians.First(r => r.Size == size && r.Path.Name == name);
                var (direct, via, group) = (R("direct"), R("via_redis"), R("group"));
                Console.WriteLine($"backplane via_redis_cpu_pct={via.CpuTotal:F1} direct_cpu_pct={direct.CpuTotal:F1} via_redis_p99_ms={via.P99Ms:F1} direct_p99_ms={direct.P99Ms:F1} group_cpu_pct={group.CpuTotal:F1} group_p99_ms={group.P99Ms:F1} via_redis_over_direct_cpu={via.CpuTotal / direct.CpuTotal:F1} size_bytes={size} viewers={clients}");
            }
            return 0;
        }
        finally
        {
            await viewers.DisposeAsync();
        }
    }

    /// <summary>Each figure's median over the rounds of one path and size (CPU sum: the median of the sums).</summary>
    private static Result Median(Result[] rounds)
    {
        double M(Func<Result, double> f) => Stats.Median(rounds.Select(f));
        var r = rounds[0];
        var m = new Result(r.Path, r.Size, M(x => x.MsgsPerViewer), M(x => x.MinViewer), M(x => x.P50Ms), M(x => x.P99Ms),
            M(x => x.CpuA), M(x => x.CpuB), M(x => x.CpuRedis), M(x => x.CpuBench), M(x => x.CpuOther), M(x => x.RedisInKBps), M(x => x.RedisOutKBps), "");
        return m with { SumOverride = M(x => x.CpuTotal) };
    }

    /// <summary>Starts a path's pusher, lets it settle, measures over <paramref name="seconds"/>, stops it.</summary>
    private static async Task<Result> Measure(Path path, int size, double hz, int seconds, Viewers viewers,
        ServerProcess nodeA, ServerProcess nodeB, RedisServer redis)
    {
        using var http = new HttpClient();
        string pusher = path.FromA ? nodeA.Url : nodeB.Url;
        string query = FormattableString.Invariant($"mode={(path.Group ? "group" : "each")}&size={size}&hz={hz}");
        (await http.PostAsync($"{pusher}/start?{query}", new StringContent(string.Join('\n', viewers.Ids)))).EnsureSuccessStatusCode();
        await Task.Delay(TimeSpan.FromSeconds(2));   // settle: subscriptions, JIT, first publishes
        viewers.Reset();
        var cpu = CpuTimes(nodeA, nodeB, redis);
        var stats = await redis.StatsAsync();
        var machine = SessionsBenchmark.MachineJiffies();
        var clock = Stopwatch.StartNew();
        viewers.Measuring = true;
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        viewers.Measuring = false;
        double elapsed = clock.Elapsed.TotalSeconds;
        var cpuEnd = CpuTimes(nodeA, nodeB, redis);
        var statsEnd = await redis.StatsAsync();
        var machineEnd = SessionsBenchmark.MachineJiffies();
        double machinePct = (double)(machineEnd.Busy - machine.Busy) / Math.Max(1, machineEnd.Total - machine.Total) * 100 * Environment.ProcessorCount;
        string report = await (await http.PostAsync($"{pusher}/stop", null)).Content.ReadAsStringAsync();
        await Task.Delay(TimeSpan.FromSeconds(1));   // drain before the next path
        double Pct(int i) => (cpuEnd[i] - cpu[i]).TotalSeconds / elapsed * 100;
        double KBps(string key) => (statsEnd[key] - stats[key]) / elapsed / 1024;
        var rates = viewers.Counts.Select(c => c / elapsed).ToArray();
        var latencies = viewers.Latencies();
        double P(double q) => latencies.Length == 0 ? double.NaN : Stats.Percentile(latencies, q);
        return new Result(path, size, rates.Average(), rates.Min(), P(0.5), P(0.99), Pct(0), Pct(1), Pct(2), Pct(3),
            Math.Max(0, machinePct - Pct(0) - Pct(1) - Pct(2) - Pct(3)),
            KBps("total_net_input_bytes"), KBps("total_net_output_bytes"), report);
    }

    private static TimeSpan[] CpuTimes(ServerProcess a, ServerProcess b, RedisServer redis)
    {
        a.Process.Refresh();
        b.Process.Refresh();
        redis.Process.Refresh();
        return [a.Process.TotalProcessorTime, b.Process.TotalProcessorTime, redis.Process.TotalProcessorTime, Process.GetCurrentProcess().TotalProcessorTime];
    }

    /// <summary>
    /// The wire size (SignalR MessagePack invocation) of a typical Lab frame: the median of the
    /// frames a viewer of the real server's demo receives over three seconds, once the first full
    /// frame is past. Prints the median, p90 and the full frame.
    /// </summary>
    private static async Task<int> MeasureFrameSize()
    {
        await using var server = await ServerProcess.StartAsync("fanout");
        await using var client = new LabClient(server.Url, reconnect: false);
        var protocol = new MessagePackHubProtocol(Options.Create(new MessagePackHubProtocolOptions { SerializerOptions = LabMessagePack.Options }));
        var sizes = new List<int>();
        int full = 0;
        client.OnFrame(f =>
        {
            int bytes = protocol.GetMessageBytes(new InvocationMessage(nameof(ILabClient.Frame), [f])).Length;
            lock (sizes)
            {
                if (f.Full) full = bytes;
                else sizes.Add(bytes);
            }
        });
        await client.StartAsync();
        await client.Join("demo", "sizer", null);
        await Task.Delay(TimeSpan.FromSeconds(4));
        double[] s;
        lock (sizes) s = sizes.Skip(30).Select(x => (double)x).ToArray();   // after the first second
        if (s.Length == 0) throw new BenchmarkException("the demo sent no frames to measure");
        int median = (int)Stats.Median(s);
        Console.WriteLine($"typical Lab frame (the real demo, forkexit at real time): median {median} B, p90 {Stats.Percentile(s, 0.9):F0} B, max {s.Max():F0} B over {s.Length} diff frames; the full first frame {full} B");
        return median;
    }

    /// <summary>The viewers: SignalR clients on node B that count the payloads they receive and their latency.</summary>
    private sealed class Viewers : IAsyncDisposable
    {
        private readonly List<HubConnection> _connections = new();
        private long[] _counts = [];
        private List<double>[] _latencies = [];
        public string[] Ids { get; private set; } = [];
        public volatile bool Measuring;

        public long[] Counts => _counts.ToArray();

        public async Task Connect(string url, int count)
        {
            _counts = new long[count];
            _latencies = Enumerable.Range(0, count).Select(_ => new List<double>()).ToArray();
            var ids = new string[count];
            using var gate = new SemaphoreSlim(32);
            var connections = new HubConnection[count];
            await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    var c = new HubConnectionBuilder()
                        .WithUrl(url + BackplaneNode.HubPath, o => o.Transports = HttpTransportType.WebSockets)
                        .AddMessagePackProtocol()
                        .Build();
                    c.On<byte[]>(BackplaneNode.Method, payload =>
                    {
                        if (!Measuring) return;
                        double ms = (DateTime.UtcNow.Ticks - BinaryPrimitives.ReadInt64LittleEndian(payload)) / 10_000.0;
                        Interlocked.Increment(ref _counts[i]);
                        lock (_latencies[i]) _latencies[i].Add(ms);
                    });
                    await c.StartAsync();
                    ids[i] = await c.InvokeAsync<string>(nameof(BackplaneNode.FrameHub.Hello), BackplaneNode.Group);
                    connections[i] = c;
                }
                finally { gate.Release(); }
            }));
            _connections.AddRange(connections);
            Ids = ids;
        }

        public void Reset()
        {
            for (int i = 0; i < _counts.Length; i++)
            {
                Interlocked.Exchange(ref _counts[i], 0);
                lock (_latencies[i]) _latencies[i].Clear();
            }
        }

        public double[] Latencies() => _latencies.SelectMany(l => { lock (l) return l.ToArray(); }).ToArray();

        public async ValueTask DisposeAsync() =>
            await Task.WhenAll(_connections.Select(c => c.DisposeAsync().AsTask()));
    }
}
