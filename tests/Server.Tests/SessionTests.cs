using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Lab.Shared.Wire;

namespace Lab.Server.Tests;

/// <summary>Real Kestrel on loopback with several real WebSocket clients.</summary>
public class SessionTests
{
    private static async Task<(TestClient Instructor, CreateSessionResult Created)> CreateAsync(LabServerFixture server, string name, string program = "forkexit", bool isPrivate = false)
    {
        var instructor = await TestClient.ConnectAsync(server.Url);
        var created = await instructor.Hub.CreateSession(new CreateSessionOptions(name, program, "cow", "weensyos", isPrivate));
        var joined = await instructor.JoinAsync(name, "prof", created.InstructorKey);
        Assert.Equal(Role.Instructor, joined.Role);
        return (instructor, created);
    }

    private static bool SameScreen(SessionMirror a, SessionMirror b)
    {
        lock (a.SyncRoot) lock (b.SyncRoot) return a.Screen.AsSpan().SequenceEqual(b.Screen);
    }

    [Fact]
    public async Task TwoDriversAndAViewerSeeIdenticalScreensAndALateJoinerCatchesUp()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (instructor, _) = await CreateAsync(server, "lecture", program: "allocator");
        await using var _i = instructor;
        await using var driver = await TestClient.ConnectAsync(server.Url);
        await using var viewer = await TestClient.ConnectAsync(server.Url);
        Assert.Equal(Role.Viewer, (await driver.JoinAsync("lecture", "bob")).Role);
        Assert.Equal(Role.Viewer, (await viewer.JoinAsync("lecture", "carol")).Role);
        Assert.Equal("granted bob", await instructor.CommandAsync("grant bob"));
        await driver.WaitForAsync(m => m.Role == Role.Driver, "bob's role to become driver");
        // Commands that cannot do what they say are refused with the reason.
        Assert.Contains("no pane named 'nosuch'", (await Assert.ThrowsAsync<HubException>(() => instructor.CommandAsync("follow nosuch"))).Message);
        Assert.Equal("revoked carol", await instructor.CommandAsync("revoke carol"));

        // The driver presses 'f' (soft reboot into p-fork); everyone sees fork's memory map.
        await driver.KeyAsync("f");
        foreach (var c in new[] { instructor, driver, viewer })
            await c.WaitForAsync(m => m.Events.Any(e => e.Text.Contains("bob pressed 'f'")), "the key press in the event log");
        await instructor.CommandAsync("speed max");
        await viewer.WaitForAsync(m => m.Processes.Count(p => p.Name == "p-fork") >= 4, "p-fork's four processes");
        // The process table knows who forked whom and what runs.
        Assert.Contains(viewer.Mirror.Processes, p => p.Pid == 1 && p.Parent == 0 && p.Name == "p-fork");
        Assert.Contains(viewer.Mirror.Processes, p => p.Parent == 1 && p.Name == "p-fork");
        await instructor.CommandAsync("pause");
        foreach (var c in new[] { instructor, driver, viewer })
            await c.WaitForAsync(m => m.Status is { Running: false }, "the paused status");

        // Paused: every client converges on the same screen and tick.
        await viewer.WaitForAsync(m => SameScreen(m, instructor.Mirror) && SameScreen(m, driver.Mirror), "identical screens");
        Assert.Equal(instructor.Mirror.Tick, viewer.Mirror.Tick);
        Assert.Equal(server.Sessions.Find("lecture")!.Latest.Screen, viewer.Mirror.Screen);
        Assert.Contains("PHYSICAL MEMORY", string.Join("\n", viewer.Mirror.ScreenText()));

        // A late joiner gets a full snapshot and reaches the same state.
        await using var late = await TestClient.ConnectAsync(server.Url);
        await late.JoinAsync("lecture", "dave");
        await late.WaitForAsync(m => m.FramesApplied > 0 && SameScreen(m, viewer.Mirror), "the late joiner's screen");
        Assert.Equal(viewer.Mirror.Pages, late.Mirror.Pages);
        Assert.Equal(4, late.Mirror.Participants.Length);
    }

    [Fact]
    public async Task SyscallsAreAggregatedInTheLogAndDetailedForWatchedPids()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (instructor, _) = await CreateAsync(server, "syscalls", program: "allocator");
        await using var _i = instructor;
        await instructor.WaitForAsync(m => m.Events.Any(e => e.Kind == EventKind.SyscallSummary && e.Text.Contains("yield ×")), "aggregated syscall lines");
        await instructor.Hub.Watch(new[] { 3 });
        await instructor.WaitForAsync(m => m.Events.Any(e => e.Kind == EventKind.Syscall && e.Pid == 3 && e.Text.StartsWith("sys_")), "pid 3's detailed syscalls");
        Assert.DoesNotContain(instructor.Mirror.Events, e => e.Kind == EventKind.Syscall && e.Text.StartsWith("sys_") && e.Pid != 3);
    }

    [Fact]
    public async Task PairDebuggingBreakOnForkStepInspectAndContinue()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (instructor, _) = await CreateAsync(server, "debug", program: "allocator");
        await using var _i = instructor;
        await using var partner = await TestClient.ConnectAsync(server.Url);
        await partner.JoinAsync("debug", "pat");
        await instructor.CommandAsync("grant pat");
        await partner.WaitForAsync(m => m.Role == Role.Driver, "driving");

        // Break on fork, then reboot into p-fork: the machine stops at the first fork.
        Assert.Contains("on fork", await partner.CommandAsync("break fork"));
        await instructor.CommandAsync("reboot fork");
        await instructor.WaitForAsync(m => m.Debugger is { Stopped: true } d && d.Reason.Contains("fork"), "the fork breakpoint");
        await partner.WaitForAsync(m => m.Debugger is { Stopped: true } d && d.Reason.Contains("fork"), "the same stop for the partner");
        var stop = partner.Mirror.Debugger!;
        Assert.Equal(18, stop.Registers.Length);
        Assert.Contains(stop.Disassembly, l => l.StartsWith("=>"));
        Assert.Equal(Role.Driver, partner.Mirror.Role);

        // Step exactly 5 instructions (with the breakpoint gone: p-fork forks again right away);
        // everyone sees who did it.
        Assert.Equal("deleted 1", await partner.CommandAsync("delete 1"));
        Assert.Equal("stepped 5 instructions", await partner.CommandAsync("step 5"));
        Assert.Contains("usage: step [N]", (await Assert.ThrowsAsync<HubException>(() => partner.CommandAsync("step abc"))).Message);
        await instructor.WaitForAsync(m => m.Debugger is { } d && d.By == "pat" && d.Reason.StartsWith("stepped 5"), "pat's step");

        // Inspect: registers, memory, page-table walk of the program's text page.
        await instructor.CommandAsync("walk 0x100000");
        await partner.WaitForAsync(m => m.Debugger is { } d && d.Output.Length == 5 && d.Output[^1].StartsWith("PT"), "the walk's four levels");
        Assert.Contains(partner.Mirror.Debugger!.Output, l => l.StartsWith("PML4"));
        await instructor.CommandAsync("x 0x100000 32");
        await partner.WaitForAsync(m => m.Debugger is { } d && d.Output.Length == 2 && d.Output[0].StartsWith("0x00100000:"), "the memory dump");
        await instructor.CommandAsync("x 0x40000 16");   // kernel memory is not user-readable from step 1 on
        await instructor.WaitForAsync(m => m.Debugger!.Output[0].StartsWith("cannot read"), "the unreadable-memory message");

        // Continue: the machine runs again and the log says who did what.
        await partner.CommandAsync("continue");
        await instructor.WaitForAsync(m => m.Status is { Running: true }, "running again");
        Assert.Contains(instructor.Mirror.Events, ev => ev.Text.Contains("pat stepped 5 instructions"));
        Assert.Contains(instructor.Mirror.Events, ev => ev.Text.Contains("prof walked the page tables for 0x100000"));

        // Viewers watch but cannot drive the debugger.
        await using var viewer = await TestClient.ConnectAsync(server.Url);
        await viewer.JoinAsync("debug", "val");
        var refused = await Assert.ThrowsAsync<HubException>(() => viewer.CommandAsync("step"));
        Assert.Contains("viewers cannot use the debugger", refused.Message);
        await viewer.WaitForAsync(m => m.Debugger != null, "the debugger state for a late joiner");
    }

    [Fact]
    public async Task BreakOnASyscallStopsTheRunningMachine()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (instructor, _) = await CreateAsync(server, "probe", program: "allocator");
        await using var _i = instructor;
        await instructor.WaitForAsync(m => m.Tick > 5, "a few ticks");
        await instructor.CommandAsync("break syscall page_alloc");
        try
        {
            await instructor.WaitForAsync(m => m.Debugger is { Stopped: true }, "the page_alloc breakpoint", 20);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException("no stop; events:\n" + string.Join("\n", instructor.Mirror.Events.Where(e => e.Kind != EventKind.SyscallSummary).TakeLast(15).Select(e => e.Text)));
        }
        Assert.Contains("page_alloc", instructor.Mirror.Debugger!.Reason);
    }

    [Fact]
    public async Task ViewersAreRefusedWithAReasonAndWrongCodesGetNothing()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (instructor, created) = await CreateAsync(server, "private-lab", isPrivate: true);
        await using var _i = instructor;
        Assert.NotNull(created.JoinCode);

        await using var stranger = await TestClient.ConnectAsync(server.Url);
        var e = await Assert.ThrowsAsync<HubException>(() => stranger.JoinAsync("private-lab", "eve", "000000" == created.JoinCode ? "111111" : "000000"));
        Assert.Contains("wrong join code", e.Message);
        e = await Assert.ThrowsAsync<HubException>(() => stranger.JoinAsync("private-lab", "eve"));
        Assert.Contains("join code is required", e.Message);
        e = await Assert.ThrowsAsync<HubException>(() => stranger.KeyAsync("q"));
        Assert.Contains("join a session first", e.Message);
        e = await Assert.ThrowsAsync<HubException>(() => stranger.JoinAsync("nope", "eve"));
        Assert.Contains("no session named 'nope'", e.Message);

        await using var student = await TestClient.ConnectAsync(server.Url);
        Assert.Equal(Role.Viewer, (await student.JoinAsync("private-lab", "sam", created.JoinCode)).Role);
        e = await Assert.ThrowsAsync<HubException>(() => student.KeyAsync("q"));
        Assert.Contains("viewers cannot type", e.Message);
        e = await Assert.ThrowsAsync<HubException>(() => student.CommandAsync("pause"));
        Assert.Contains("viewers cannot pause", e.Message);
        e = await Assert.ThrowsAsync<HubException>(() => student.CommandAsync("grant sam"));
        Assert.Contains("only the instructor", e.Message);
        // The refusal is shown to everyone, with who tried.
        await instructor.WaitForAsync(m => m.Events.Any(ev => ev.Text.Contains("sam tried to type into the machine")), "the refusal in the log");
    }

    [Fact]
    public async Task AClientThatStopsReadingDelaysNobodyAndHoldsNoBacklog()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (instructor, _) = await CreateAsync(server, "busy");
        await using var _i = instructor;
        await instructor.CommandAsync("speed max");

        // A raw WebSocket client that handshakes, joins, and then never reads again.
        using var stalled = new ClientWebSocket();
        await stalled.ConnectAsync(new Uri(server.Url.Replace("http", "ws") + "/hubs/lab"), CancellationToken.None);
        await stalled.SendAsync(Encoding.UTF8.GetBytes("{\"protocol\":\"messagepack\",\"version\":1}\u001e"), WebSocketMessageType.Text, true, CancellationToken.None);
        var join = new Microsoft.AspNetCore.SignalR.Protocol.InvocationMessage("1", nameof(ILabHub.Join), ["busy", "sleepy", null]);
        await stalled.SendAsync(RawHub.Protocol.GetMessageBytes(join), WebSocketMessageType.Binary, true, CancellationToken.None);

        await using var watcher = await TestClient.ConnectAsync(server.Url);
        await watcher.JoinAsync("busy", "watcher");
        // Live managed memory, measured a few times (other threads keep allocating short-lived objects).
        static long Live() => Enumerable.Range(0, 3).Select(_ => GC.GetTotalMemory(forceFullCollection: true)).Min();
        long before = Live();
        long framesBefore = watcher.Mirror.FramesApplied;
        ulong tickBefore = server.Sessions.Find("busy")!.Latest.Tick;
        // The healthy client keeps receiving frames while the other stalls: 150 of them (about 5 s
        // at 30 a second) over thousands of ticks at full speed, which the stalled client would
        // have had to queue.
        await watcher.WaitForAsync(m => m.FramesApplied - framesBefore >= 150 && m.Tick >= tickBefore + 2000,
            "150 frames and 2000 ticks while another client stalls", timeoutSeconds: 120);
        long after = Live();

        // The server kept no growing queue for the stalled one.
        Assert.True(after - before < 32L << 20, $"server memory grew by {(after - before) >> 20} MiB while a client stalled");
    }

    [Fact]
    public async Task ARestartBringsASessionBackAtTheSameTick()
    {
        string data = Path.Combine(Path.GetTempPath(), "lab-restart-" + Guid.NewGuid().ToString("N"));
        ulong tick;
        ushort[] screen;
        string key;
        int port;
        {
            var server = await LabServerFixture.StartAsync(data);
            port = server.Port;
            var (instructor, created) = await CreateAsync(server, "persist", program: "allocator");
            key = created.InstructorKey;
            await instructor.WaitForAsync(m => m.Tick > 50, "some ticks");
            await instructor.CommandAsync("pause");
            await instructor.WaitForAsync(m => m.Status is { Running: false }, "pause");
            tick = server.Sessions.Find("persist")!.Latest.Tick;
            screen = server.Sessions.Find("persist")!.Latest.Screen;
            await instructor.DisposeAsync();
            await server.StopAsync();   // graceful shutdown saves every session
            await server.DisposeAsync();
        }
        await using var restarted = await LabServerFixture.StartAsync(data);
        var session = restarted.Sessions.Find("persist");
        Assert.NotNull(session);
        Assert.Equal(tick, session!.Latest.Tick);
        Assert.Equal(screen, session.Latest.Screen);
        // The codes survive too: the old instructor key still makes you the instructor.
        await using var back = await TestClient.ConnectAsync(restarted.Url);
        Assert.Equal(Role.Instructor, (await back.JoinAsync("persist", "prof", key)).Role);
        _ = port;
    }

    [Fact]
    public async Task ClosingASessionTellsEveryoneInIt()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (instructor, _) = await CreateAsync(server, "closing");
        await using var _i = instructor;
        await using var viewer = await TestClient.ConnectAsync(server.Url);
        await viewer.JoinAsync("closing", "vic");
        await viewer.WaitForAsync(m => m.FramesApplied > 0, "a frame");
        var refused = await Assert.ThrowsAsync<HubException>(() => viewer.CommandAsync("close"));
        Assert.Contains("only the instructor", refused.Message);
        Assert.Equal("closed", await instructor.CommandAsync("close"));
        await viewer.WaitForAsync(m => m.Status?.Halted == "the session was closed", "the closed status");
        Assert.Null(server.Sessions.Find("closing"));
        var e = await Assert.ThrowsAsync<HubException>(() => viewer.JoinAsync("closing", "vic"));
        Assert.Contains("no session named 'closing'", e.Message);
    }

    [Fact]
    public async Task IdleSessionsAreReapedButTheDemoStays()
    {
        await using var server = await LabServerFixture.StartAsync(configure: o => o.IdleTimeout = TimeSpan.FromSeconds(1));
        var (instructor, _) = await CreateAsync(server, "short-lived");
        await instructor.DisposeAsync();   // everyone leaves
        for (int i = 0; i < 300 && server.Sessions.Find("short-lived") != null; i++) await Task.Delay(100);
        Assert.Null(server.Sessions.Find("short-lived"));
        Assert.NotNull(server.Sessions.Find("demo"));   // pinned
        Assert.False(Directory.Exists(Path.Combine(server.DataDirectory, "sessions", "short-lived")));
    }

    [Fact]
    public async Task KeyFloodsAreRefusedThenTheConnectionIsClosed()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (instructor, _) = await CreateAsync(server, "flood");
        await using var _i = instructor;
        // Keys as fast as a script can send them, without waiting for answers: refused, then cut off.
        var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        instructor.Hub.Connection.Closed += _ => { closed.TrySetResult(); return Task.CompletedTask; };
        string? refusal = null;
        for (int i = 0; i < 100_000 && refusal == null; i++)   // past the burst of 60, faster than 30 a second
        {
            try { await instructor.KeyAsync("x"); }
            catch (HubException e) { refusal = e.Message; }
        }
        Assert.Contains("too many keys", refusal);
        try
        {
            for (int i = 0; i < 1_000_000 && !closed.Task.IsCompleted; i++)
                await instructor.Hub.Connection.SendAsync(nameof(ILabHub.Key), "x");
        }
        catch (Exception e) when (e is not HubException) { }   // sending on the closed connection
        await closed.Task.WaitAsync(TimeSpan.FromMinutes(2));   // a failure guard, not a speed limit
        Assert.Equal(Microsoft.AspNetCore.SignalR.Client.HubConnectionState.Disconnected, instructor.Hub.Connection.State);
        // Other clients can still use the server.
        await using var other = await TestClient.ConnectAsync(server.Url);
        await other.JoinAsync("flood", "other");
        await other.WaitForAsync(m => m.FramesApplied > 0, "a frame for another client");
    }
}

/// <summary>
/// A session's own memory stays flat while it runs (the loop once leaked a channel waiter per idle wait).
/// In the memory tests' collection, which runs alone: GC.GetTotalMemory counts the whole process, and
/// another test class allocating meanwhile (the key flood) once grew it past the limit.
/// </summary>
[Collection(nameof(ResidentMemory))]
public class SessionMemoryTests
{
    /// <summary>Waits (without a wall-clock bound on the machine's speed) until the session reaches a tick.</summary>
    internal static void WaitForTick(Lab.Server.Sessions.LabSession session, ulong tick)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);   // a failure guard, not a speed limit
        while (session.Latest.Tick < tick)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the session stopped at tick {session.Latest.Tick} before {tick}");
            session.Changed.WaitAsync(session.Changed.Version, CancellationToken.None).Wait(100);
        }
    }

    [Fact]
    public void ARunningSessionDoesNotAccumulateMemory()
    {
        using var session = new Lab.Server.Sessions.LabSession(
            new Lab.Server.Sessions.SessionSettings { Name = "mem", InstructorKey = "k" }, null,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        WaitForTick(session, 50);
        static long Live() => Enumerable.Range(0, 3).Select(_ => GC.GetTotalMemory(forceFullCollection: true)).Min();
        long before = Live();
        ulong tick = session.Latest.Tick;
        // 300 more ticks: three seconds of idle waits between realtime ticks, each of which once leaked.
        WaitForTick(session, tick + 300);
        long grown = Live() - before;
        Assert.True(grown < 8L << 20, $"a running session grew by {grown >> 10} KiB in 300 ticks");
    }

    [Fact]
    public void ASessionWhoseProcessesAllBrokeSaysItIsStalled()
    {
        // p-kernelwrite writes kernel memory: from step 1 on it page-faults and is the only process.
        using var session = new Lab.Server.Sessions.LabSession(
            new Lab.Server.Sessions.SessionSettings { Name = "stuck", InstructorKey = "k", Program = "kernelwrite", Step = "1" }, null,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (session.Summary().Halted is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the stalled kernel was never reported");
            session.Changed.WaitAsync(session.Changed.Version, CancellationToken.None).Wait(100);
        }
        var summary = session.Summary();
        Assert.Equal("stalled: every process is broken (1 faulted); press a, f or e, or reboot", summary.Halted);
        Assert.False(summary.Running);
    }
}
