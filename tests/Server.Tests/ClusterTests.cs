using Lab.Shared.Wire;
using Lab.TuiClient.App;
using Lab.TuiClient.Net;
using Microsoft.AspNetCore.SignalR;
using StackExchange.Redis;
using Role = Lab.Shared.Wire.Role;
using Xunit.Abstractions;

namespace Lab.Server.Tests;

/// <summary>
/// A cluster as an operator runs one: a real redis-server and three real server processes on loopback. Clients
/// enter through any node; nodes are killed with SIGKILL or stopped with SIGTERM; Redis is killed and started
/// again empty. Each test waits for conditions (frames, log lines, Redis keys), never for a fixed time.
/// </summary>
[Collection("cluster")]   // three nodes at a time are enough for a 2-core machine
public sealed class ClusterTests(ITestOutputHelper output)
{
    /// <summary>Short leases and snapshots, so a failover takes seconds.</summary>
    private static readonly string[] Fast = ["--Lab:LeaseTime=00:00:03", "--save-interval", "1"];

    private static async Task<NodeProcess[]> StartNodesAsync(RedisProcess redis, int count, params string[] extra)
    {
        var nodes = new NodeProcess[count];
        for (int i = 0; i < count; i++) nodes[i] = await NodeProcess.StartAsync($"n{i + 1}", redis.Endpoint, extra);
        return nodes;
    }

    /// <summary>
    /// On a failure, each node's own output (its log: a hub method's unexpected exception is logged there,
    /// and the client sees only "an unexpected error") into the test's output; false, so the exception
    /// goes on as it was.
    /// </summary>
    private bool WriteNodeOutputs(IEnumerable<NodeProcess> nodes)
    {
        foreach (var n in nodes) output.WriteLine($"--- node {n.Name} ({n.Url}):\n{n.Output}");
        return false;
    }

    private static async Task DisposeAllAsync(IEnumerable<NodeProcess> nodes)
    {
        foreach (var n in nodes) await n.DisposeAsync();
    }

    private static async Task<T> WithClientAsync<T>(string url, Func<LabClient, Task<T>> body)
    {
        await using var c = new LabClient(url, reconnect: false);
        await c.StartAsync();
        return await body(c);
    }

    /// <summary>Asks <paramref name="url"/> for the session list until <paramref name="ready"/> holds for it.</summary>
    private static async Task<SessionSummary[]> WaitForListAsync(string url, Func<SessionSummary[], bool> ready, string what, int timeoutSeconds = 90)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(timeoutSeconds);
        while (true)
        {
            SessionSummary[] list = [];
            try { list = await WithClientAsync(url, c => c.ListSessions()); }
            catch (Exception e) when (e is not HubException && DateTime.UtcNow < until) { }
            if (ready(list)) return list;
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"timed out waiting for {what}; {url} lists: " + string.Join("; ", list.Select(s => $"{s.Name} on {s.Node}: {s.Halted ?? "running"}")));
            await Task.Delay(100);
        }
    }

    private static bool Runs(SessionSummary[] list, string name) =>
        list.Any(s => s.Name == name && s.Node != null && s.Halted is null && s.Profile != "");

    private static string Screen(SessionMirror m) => string.Join("\n", m.ScreenText().Select(l => l.TrimEnd()));

    /// <summary>Waits until the remote session's screen shows <paramref name="text"/>.</summary>
    private static async Task WaitForScreenAsync(RemoteSession s, string text, int timeoutSeconds = 90)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(timeoutSeconds);
        while (!Screen(s.Mirror).Contains(text))
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"timed out waiting for '{text}' ({s.ConnectionStatus}); the screen shows:\n{Screen(s.Mirror)}");
            await Task.Delay(50);
        }
    }

    /// <summary>Types a line, retrying while the session is between nodes (the client is reconnecting).</summary>
    private static async Task TypeAsync(RemoteSession s, string line, int timeoutSeconds = 90)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(timeoutSeconds);
        while (true)
        {
            try
            {
                await s.TypeAsync(line);
                return;
            }
            catch (CommandFailedException) when (DateTime.UtcNow < until)
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>The node (of <paramref name="nodes"/>) that runs a session now, by the cluster's own list.</summary>
    private static async Task<NodeProcess> OwnerAsync(NodeProcess[] nodes, string session, NodeProcess? not = null)
    {
        var ask = nodes.First(n => n != not && !n.Process.HasExited);
        var list = await WaitForListAsync(ask.Url, l => Runs(l, session) && (not is null || l.First(s => s.Name == session).Node != not.Name), $"{session} running on a live node");
        string node = list.First(s => s.Name == session).Node!;
        return nodes.First(n => n.Name == node);
    }

    [Fact]
    public async Task Three_nodes_and_one_redis_run_a_course_as_one_lab()
    {
        await using var redis = await RedisProcess.StartAsync();
        // Four creations per address in all, whichever node is asked (the fifth is refused by the third node).
        var nodes = await StartNodesAsync(redis, 3, [.. Fast, "--Lab:CreationsPerAddressBurst=4", "--Lab:CreationIntervalPerAddressSeconds=3600"]);
        try
        {
            // One demo for the whole cluster, listed alike by every node, with its node.
            foreach (var n in nodes)
            {
                var list = await WaitForListAsync(n.Url, l => Runs(l, "demo"), "the demo");
                Assert.Single(list, s => s.Name == "demo");
            }

            // A course: sessions created through different nodes spread over the nodes.
            var lecture = await WithClientAsync(nodes[0].Url, c => c.CreateSession(new CreateSessionOptions("lecture", "", "", "posix", true, 0)));
            var lab1 = await WithClientAsync(nodes[1].Url, c => c.CreateSession(new CreateSessionOptions("lab1", "forkexit", "cow", "weensyos", true, 0)));
            await WithClientAsync(nodes[1].Url, c => c.CreateSession(new CreateSessionOptions("lab2", "fork", "cow", "weensyos", false, 0)));
            await WithClientAsync(nodes[2].Url, c => c.CreateSession(new CreateSessionOptions("lab3", "allocator", "cow", "weensyos", false, 0)));
            var tooMany = await Assert.ThrowsAsync<HubException>(() => WithClientAsync(nodes[2].Url, c => c.CreateSession(new CreateSessionOptions("lab4", "fork", "cow", "weensyos", false, 0))));
            Assert.Contains("too many session creations from your address", tooMany.Message);
            var all = await WaitForListAsync(nodes[2].Url, l => new[] { "demo", "lecture", "lab1", "lab2", "lab3" }.All(n => Runs(l, n)), "the course's sessions");
            output.WriteLine(string.Join("\n", all.Select(s => $"{s.Name} on {s.Node}")));
            Assert.True(all.Select(s => s.Node).Distinct().Count() >= 2, "new sessions go to the least-loaded nodes: " + string.Join(", ", all.Select(s => $"{s.Name}@{s.Node}")));

            // The instructor enters through one node, a student through another: both land on the node that runs the
            // lecture, with the role their key or code gives.
            await using var prof = await RemoteSession.ConnectAsync(nodes[2].Url, "lecture", "prof", lecture.InstructorKey, CancellationToken.None);
            await using var student = await RemoteSession.ConnectAsync(nodes[1].Url, "lecture", "student", lecture.JoinCode, CancellationToken.None);
            Assert.Equal(Role.Instructor, prof.Joined!.Role);
            Assert.Equal(Role.Viewer, student.Joined!.Role);
            var owner = await OwnerAsync(nodes, "lecture");
            var other = nodes.First(n => n != owner);
            // Joining on a node that does not run it says where it runs.
            var elsewhere = await Assert.ThrowsAsync<HubException>(() => WithClientAsync(other.Url, c => c.Join("lecture", "x", lecture.JoinCode)));
            Assert.Contains($"runs on node {owner.Name} ({owner.Url})", elsewhere.Message);

            // The instructor grants the student driving; the student drives, the instructor sees it.
            await WaitForScreenAsync(prof, "$");
            // Frames say which node runs the session, and the TUI's status line shows it.
            Assert.Equal(owner.Name, prof.Mirror.Status?.Node);
            Assert.StartsWith($" lecture on node {owner.Name} │ instructor │", new LabController(prof, isLocal: false).StatusFields());
            Assert.Contains("granted", await prof.CommandAsync("grant student"));
            await TypeAsync(student, "echo hello from another node\n");
            await WaitForScreenAsync(prof, "hello from another node\n$");

            // Wrong codes count across nodes: five against lab1 lock the address out of lab2's node too.
            var lab1Owner = await OwnerAsync(nodes, "lab1");
            for (int i = 0; i < 5; i++)
                await Assert.ThrowsAsync<HubException>(() => WithClientAsync(lab1Owner.Url, c => c.Join("lab1", "guesser", "AAAA-BBBB-CCCC-DDDD")));
            var lab2Owner = await OwnerAsync(nodes, "lab2");
            var locked = await Assert.ThrowsAsync<HubException>(() => WithClientAsync(lab2Owner.Url, c => c.Join("lab2", "guesser", "AAAA-BBBB-CCCC-DDDD")));
            Assert.Contains("too many wrong codes from your address", locked.Message);
            output.WriteLine($"lab1 on {lab1Owner.Name}, lab2 on {lab2Owner.Name}: {locked.Message}");
            Assert.NotNull(lab1.JoinCode);
        }
        catch (Exception) when (WriteNodeOutputs(nodes)) { throw; }   // never caught: the filter only writes
        finally { await DisposeAllAsync(nodes); }
    }

    [Fact]
    public async Task Killing_a_node_moves_its_sessions_to_another_with_their_last_snapshot()
    {
        await using var redis = await RedisProcess.StartAsync();
        var nodes = await StartNodesAsync(redis, 3, Fast);
        try
        {
            var created = await WithClientAsync(nodes[0].Url, c => c.CreateSession(new CreateSessionOptions("work", "", "", "posix", false, 0)));
            await using var prof = await RemoteSession.ConnectAsync(nodes[1].Url, "work", "prof", created.InstructorKey, CancellationToken.None);
            await WaitForScreenAsync(prof, "$");
            // The snapshot of the idle shell, then a line typed: any later snapshot that differs holds the line
            // (its effect, or its keys still waiting in the machine's input). An idle machine's snapshots are alike.
            var db = (await ConnectionMultiplexer.ConnectAsync(redis.Endpoint)).GetDatabase();
            byte[]? before;
            while ((before = await db.HashGetAsync("lab:s:work", "machine")) is null) await Task.Delay(50);
            await TypeAsync(prof, "echo saved-before-the-crash > /tmp/f; echo typed\n");
            await WaitForScreenAsync(prof, "typed\n$");
            while (true)
            {
                byte[]? now = await db.HashGetAsync("lab:s:work", "machine");
                if (now != null && !now.AsSpan().SequenceEqual(before)) break;
                await Task.Delay(50);
            }

            var owner = await OwnerAsync(nodes, "work");
            var killedAt = DateTime.UtcNow;
            await owner.KillAsync();
            var successor = await OwnerAsync(nodes, "work", not: owner);
            output.WriteLine($"session work: {owner.Name} killed; {successor.Name} runs it {(DateTime.UtcNow - killedAt).TotalSeconds:0.0} s later (lease 3 s)");
            Assert.Contains("runs session work now (from its last snapshot)", successor.Output);

            // The client found the new node by itself, rejoined as the instructor, and the file is there.
            await TypeAsync(prof, "cat /tmp/f\n");
            await WaitForScreenAsync(prof, "$ cat /tmp/f\nsaved-before-the-crash\n$");
            Assert.Equal(Role.Instructor, prof.Mirror.Role);
            Assert.Equal(successor.Name, (string?)await db.StringGetAsync("lab:lease:work"));
        }
        catch (Exception) when (WriteNodeOutputs(nodes)) { throw; }   // never caught: the filter only writes
        finally { await DisposeAllAsync(nodes); }
    }

    [Fact]
    public async Task A_node_stopped_gracefully_hands_its_sessions_over_with_nothing_lost()
    {
        await using var redis = await RedisProcess.StartAsync();
        // No periodic snapshot within the test: only the handover's final one can carry what was typed.
        var nodes = await StartNodesAsync(redis, 2, "--Lab:LeaseTime=00:00:03", "--save-interval", "3600");
        try
        {
            var created = await WithClientAsync(nodes[0].Url, c => c.CreateSession(new CreateSessionOptions("essay", "", "", "posix", false, 0)));
            await using var prof = await RemoteSession.ConnectAsync(nodes[0].Url, "essay", "prof", created.InstructorKey, CancellationToken.None);
            await WaitForScreenAsync(prof, "$");
            await TypeAsync(prof, "echo the-last-line > /tmp/g; echo typed\n");
            await WaitForScreenAsync(prof, "typed\n$");

            var owner = await OwnerAsync(nodes, "essay");
            var successor = nodes.First(n => n != owner);
            var db = (await ConnectionMultiplexer.ConnectAsync(redis.Endpoint)).GetDatabase();
            while (!await db.KeyExistsAsync($"lab:node:{successor.Name}")) await Task.Delay(50);   // the other node has announced itself
            await owner.TerminateAsync();
            output.WriteLine(owner.Output);
            Assert.Matches($"handed over [0-9]+ sessions: .*essay → {successor.Name}", owner.Output);
            Assert.Equal(0, owner.Process.ExitCode);

            await TypeAsync(prof, "cat /tmp/g\n");
            await WaitForScreenAsync(prof, "$ cat /tmp/g\nthe-last-line\n$");
            Assert.Contains("runs session essay now (from its last snapshot)", successor.Output);
        }
        catch (Exception) when (WriteNodeOutputs(nodes)) { throw; }   // never caught: the filter only writes
        finally { await DisposeAllAsync(nodes); }
    }

    [Fact]
    public async Task Sessions_keep_running_while_redis_is_away_and_the_cluster_heals_when_it_returns()
    {
        await using var redis = await RedisProcess.StartAsync();
        var nodes = await StartNodesAsync(redis, 2, Fast);
        try
        {
            await WithClientAsync(nodes[0].Url, c => c.CreateSession(new CreateSessionOptions("steady", "forkexit", "cow", "weensyos", false, 0)));
            var owner = await OwnerAsync(nodes, "steady");
            await using var viewer = await TestClient.ConnectAsync(owner.Url);
            await viewer.JoinAsync("steady", "viewer");
            await viewer.WaitForAsync(m => m.Tick > 0, "the first frames");

            await redis.KillAsync();
            await owner.WaitForOutputAsync("cannot be reached", TimeSpan.FromSeconds(60));
            ulong tick = viewer.Mirror.Tick;
            await viewer.WaitForAsync(m => m.Tick > tick + 100, "the machine running on without Redis");
            // (New connections wait for Redis: SignalR's backplane subscribes each one. Open ones go on.)
            var refused = await Assert.ThrowsAsync<HubException>(() => viewer.Hub.CreateSession(new CreateSessionOptions("new", "fork", "cow", "weensyos", false, 0)));
            output.WriteLine(refused.Message);
            if (!refused.Message.Contains("Redis")) output.WriteLine(owner.Output);
            Assert.Contains("Redis", refused.Message);
            Assert.Contains(await viewer.Hub.ListSessions(), s => s.Name == "steady");

            // Redis comes back empty: the nodes announce their sessions and snapshots again.
            await redis.StartAgainAsync();
            var other = nodes.First(n => n != owner);
            await WaitForListAsync(other.Url, l => Runs(l, "steady") && Runs(l, "demo"), "the sessions listed again after Redis returned");
            var db = (await ConnectionMultiplexer.ConnectAsync(redis.Endpoint)).GetDatabase();
            while (!await db.HashExistsAsync("lab:s:steady", "machine")) await Task.Delay(100);
            Assert.Equal(owner.Name, (string?)await db.StringGetAsync("lab:lease:steady"));
            await viewer.WaitForAsync(m => m.Tick > tick + 200, "the machine still running");
        }
        catch (Exception) when (WriteNodeOutputs(nodes)) { throw; }   // never caught: the filter only writes
        finally { await DisposeAllAsync(nodes); }
    }

    [Fact]
    public async Task A_node_whose_redis_cannot_be_reached_says_so_and_does_not_start()
    {
        int port = Lab.TestSupport.Network.FreeLoopbackPort();
        using var node = NodeProcess.Launch(["--urls", "http://127.0.0.1:0", "--redis", $"127.0.0.1:{port}", "--data", Path.Combine(Path.GetTempPath(), "lab-noredis-" + Guid.NewGuid().ToString("N"))]);
        string stderr = await node.StandardError.ReadToEndAsync();
        await node.WaitForExitAsync();
        Assert.Equal(1, node.ExitCode);
        Assert.Contains($"cannot reach Redis at 127.0.0.1:{port} (--redis)", stderr);
    }
}
