using System.Diagnostics;
using Lab.TuiClient.Net;
using Microsoft.AspNetCore.SignalR;

namespace Lab.Bench;

/// <summary>
/// `bench fanout --nodes N`: the viewers of one session spread over a cluster, next to one node. A real
/// redis-server and N real server nodes (child processes: this program with `fanout --serve --redis …
/// --node nK --public-url URL`); the cluster's demo runs on one of them (its owner). Viewer i enters
/// through node i mod N the way `tui connect NODE/demo` does (<see cref="LabClient.ConnectToSessionAsync"/>:
/// Locate, then a connection to the node it names) and joins as a viewer. Measured as `bench fanout`
/// (<see cref="FanoutViewers"/>): frames/s per viewer, latency p50/p99, KB/s per viewer; per node the
/// viewers that entered there and the viewers it serves, its CPU while the viewers entered (CPU seconds)
/// and over the measured window (% of one core), its memory; redis-server's CPU. In the same run, the same
/// number of viewers on one server (<see cref="FanoutBenchmark.RunOneAsync"/>), so the two compare.
/// Under the redirect design (docs/CLUSTER.md) every viewer of a session is served by its owner node: the
/// other nodes only answer Locate.
/// </summary>
public static class FanoutClusterBenchmark
{
    private sealed record NodeFigures(string Name, int Entered, int Served, double ConnectCpuSeconds, double CpuPercent, double Megabytes);

    private sealed record ClusterResult(FanoutViewers.Window Window, NodeFigures[] Nodes, string Owner, double RedisCpuPercent);

    /// <summary>For each viewer count: one node, then the cluster; prints both and a machine-readable line per count.</summary>
    internal static async Task<int> RunAsync(int nodeCount, int[] counts, int seconds)
    {
        Console.WriteLine($"fanout --nodes {nodeCount}: the demo session (forkexit, real time) watched by N viewers, first on one server, then on " +
            $"{nodeCount} cluster nodes on a real redis-server (viewer i enters through node i mod {nodeCount}: Locate, then the node it names); " +
            $"servers and redis in child processes, {seconds} s measured per run after a 2 s settle, {Environment.ProcessorCount} cores");
        Console.WriteLine($"load average at start: {File.ReadAllText("/proc/loadavg").Trim()}");
        var lines = new List<string>();
        foreach (int n in counts)
        {
            var single = await FanoutBenchmark.RunOneAsync(n, seconds, null);
            Console.WriteLine($"{n} viewers on one server: {single.Viewers.FramesPerSecond:F1} frames/s, p99 {single.Viewers.P99Ms:F1} ms (the table follows the cluster's run)");
            var cluster = await RunClusterAsync(nodeCount, n, seconds);
            Print(n, nodeCount, single, cluster);
            lines.Add(Summary(n, nodeCount, single, cluster));
        }
        Console.WriteLine($"load average at end: {File.ReadAllText("/proc/loadavg").Trim()}");
        Console.WriteLine("CPU: % of one core over the measured window (connect CPU: seconds of CPU while the viewers entered and joined); bench: this process, the viewers; other: the rest of the machine, from /proc/stat");
        foreach (var line in lines) Console.WriteLine(line);
        return 0;
    }

    /// <summary>The two runs of one viewer count: the viewers' figures, then each process's share.</summary>
    private static void Print(int viewers, int nodeCount, FanoutViewers.Window single, ClusterResult cluster)
    {
        Console.WriteLine();
        Console.WriteLine($"{viewers} viewers: one server, then {nodeCount} nodes (the demo runs on {cluster.Owner})");
        Console.WriteLine($"{"setup",-10} {"frames/s",9} {"fps p10",8} {"p50 ms",8} {"p99 ms",8} {"KB/s/viewer",12} {"bench CPU",10} {"other CPU",10} {"connect s",10}");
        void Row(string setup, FanoutViewers.Window w) =>
            Console.WriteLine($"{setup,-10} {w.Viewers.FramesPerSecond,9:F1} {w.Viewers.FramesPerSecondP10,8:F1} {w.Viewers.P50Ms,8:F1} {w.Viewers.P99Ms,8:F1} " +
                $"{w.Viewers.KBytesPerSecond,12:F2} {w.BenchCpuPercent,9:F0}% {w.OtherCpuPercent,9:F0}% {w.ConnectSeconds,10:F1}");
        Row("1 server", single);
        Row($"{nodeCount} nodes", cluster.Window);
        Console.WriteLine($"{"process",-16} {"entered",8} {"served",8} {"connect CPU s",14} {"CPU",7} {"MB",6}");
        Console.WriteLine($"{"1 server",-16} {viewers,8} {viewers,8} {"-",14} {single.ServerCpuPercent[0],6:F0}% {single.ServerMegabytes[0],6:F0}");
        foreach (var node in cluster.Nodes)
            Console.WriteLine($"{node.Name + (node.Name == cluster.Owner ? " (owner)" : ""),-16} {node.Entered,8} {node.Served,8} {node.ConnectCpuSeconds,14:F1} {node.CpuPercent,6:F0}% {node.Megabytes,6:F0}");
        Console.WriteLine($"{"redis-server",-16} {"",8} {"",8} {"",14} {cluster.RedisCpuPercent,6:F1}%");
    }

    private static string Summary(int viewers, int nodeCount, FanoutViewers.Window single, ClusterResult cluster)
    {
        var v = cluster.Window.Viewers;
        var owner = cluster.Nodes.First(n => n.Name == cluster.Owner);
        string nodes = string.Concat(cluster.Nodes.Select(n => $" {n.Name}_cpu_pct={n.CpuPercent:F1} {n.Name}_served={n.Served}"));
        return FormattableString.Invariant($"fanout_nodes nodes={nodeCount} viewers={viewers} owner={cluster.Owner} fps={v.FramesPerSecond:F1} fps_p10={v.FramesPerSecondP10:F1} ") +
            FormattableString.Invariant($"p50_ms={v.P50Ms:F1} p99_ms={v.P99Ms:F1} kbps={v.KBytesPerSecond:F2} owner_cpu_pct={owner.CpuPercent:F1}{nodes} redis_cpu_pct={cluster.RedisCpuPercent:F1} ") +
            FormattableString.Invariant($"single_fps={single.Viewers.FramesPerSecond:F1} single_fps_p10={single.Viewers.FramesPerSecondP10:F1} single_p99_ms={single.Viewers.P99Ms:F1} ") +
            FormattableString.Invariant($"single_kbps={single.Viewers.KBytesPerSecond:F2} single_cpu_pct={single.ServerCpuPercent[0]:F1} other_cpu_pct={cluster.Window.OtherCpuPercent:F0} single_other_cpu_pct={single.OtherCpuPercent:F0}");
    }

    /// <summary>Redis, <paramref name="nodeCount"/> nodes and <paramref name="viewers"/> viewers entering round-robin; one window measured.</summary>
    private static async Task<ClusterResult> RunClusterAsync(int nodeCount, int viewers, int seconds)
    {
        using var redis = await RedisServer.StartAsync();
        var nodes = new List<ServerProcess>();
        try
        {
            for (int k = 1; k <= nodeCount; k++)
            {
                string name = $"n{k}";
                nodes.Add(await ServerProcess.StartAsync("fanout", url => ["--redis", redis.Endpoint, "--node", name, "--public-url", url]));
            }
            string[] names = Enumerable.Range(1, nodeCount).Select(k => $"n{k}").ToArray();
            string[] urls = nodes.Select(n => n.Url).ToArray();
            string owner = await WaitForDemoAsync(urls);

            var cpuBefore = nodes.Select(n => n.CpuTime).ToArray();
            await using var rig = await FanoutViewers.ConnectAsync(viewers, "demo", async i =>
            {
                // The client's own path: one node given, Locate there, follow to the owner.
                var (client, url, _) = await LabClient.ConnectToSessionAsync([urls[i % nodeCount]], "demo", CancellationToken.None);
                return (client, url);
            });
            var connectCpu = nodes.Select((n, k) => (n.CpuTime - cpuBefore[k]).TotalSeconds).ToArray();
            await Task.Delay(TimeSpan.FromSeconds(2));   // settle: initial full frames out of the way
            redis.Process.Refresh();
            var redisBefore = redis.Process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var window = await rig.MeasureAsync(seconds, nodes);
            redis.Process.Refresh();
            double redisCpu = (redis.Process.TotalProcessorTime - redisBefore).TotalSeconds / clock.Elapsed.TotalSeconds * 100;

            var figures = names.Select((name, k) => new NodeFigures(name,
                Entered: Enumerable.Range(0, viewers).Count(i => i % nodeCount == k),
                Served: rig.ServedBy.Count(u => u == urls[k]),
                connectCpu[k], window.ServerCpuPercent[k], window.ServerMegabytes[k])).ToArray();
            return new ClusterResult(window, figures, owner, redisCpu);
        }
        catch
        {
            // What the nodes said is the first thing to read when a run fails.
            for (int k = 0; k < nodes.Count; k++)
                foreach (var line in nodes[k].RecentLog().TakeLast(40)) Console.Error.WriteLine($"n{k + 1}: {line}");
            throw;
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }

    /// <summary>Waits until every node sees all the others live and can say where the demo runs; returns the owner's
    /// name. The demo is made by the least-loaded node at a heartbeat, so it appears a second or two after the start.</summary>
    private static async Task<string> WaitForDemoAsync(string[] urls)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(120);
        string why = "";
        while (DateTime.UtcNow < until)
        {
            try
            {
                var owners = new HashSet<string>();
                bool ready = true;
                foreach (string url in urls)
                {
                    await using var client = new LabClient(url, reconnect: false);
                    await client.StartAsync();
                    var where = await client.Locate("demo");
                    if (where.Waiting != null || where.Node == null) (ready, why) = (false, where.Waiting ?? "no owner yet");
                    else if (where.Nodes.Length != urls.Length) (ready, why) = (false, $"{url} sees {where.Nodes.Length} live nodes");
                    else owners.Add(where.Node);
                }
                if (ready && owners.Count == 1) return owners.First();
                if (owners.Count > 1) why = "the nodes disagree on the demo's owner: " + string.Join(", ", owners);
            }
            catch (HubException e) { why = e.Message; }   // no demo yet
            await Task.Delay(500);
        }
        throw new BenchmarkException($"the cluster's demo did not settle on one node within 120 s: {why}");
    }
}
