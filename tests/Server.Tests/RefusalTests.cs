using Lab.Shared.Wire;
using Microsoft.AspNetCore.SignalR;

namespace Lab.Server.Tests;

/// <summary>
/// Refusals a person can act on, on real Kestrel with real clients: the demo's instructor key (logged,
/// in DATA/demo.key, set by --demo-key), what a viewer is told to do to drive, pids that are not
/// processes of the session, and debugger commands with bad or extra arguments (refused with their
/// usage, changing nothing). Also: the debugger view says what happened in Reason and who in By, once.
/// </summary>
public class RefusalTests
{
    /// <summary>The refusal's text as the server wrote it (the client prefixes what call failed).</summary>
    private static async Task<string> Refusal(Func<Task> call) => Lab.TuiClient.App.ServerErrors.Reason((await Assert.ThrowsAsync<HubException>(call)).Message);

    [Fact]
    public async Task The_demo_key_is_logged_kept_in_the_data_directory_and_set_by_the_operator()
    {
        string data = Path.Combine(Path.GetTempPath(), "lab-demo-" + Guid.NewGuid().ToString("N"));
        string keyFile = Path.Combine(data, "demo.key");
        string key;
        await using (var server = await LabServerFixture.StartAsync(data))
        {
            // A random key, in one log line with the exact command, and in DATA/demo.key (0600).
            var line = await server.Log.WaitForAsync(e => e.Text.StartsWith("demo session: drive it as its instructor"), "the demo key line");
            key = File.ReadAllText(keyFile).Trim();
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
            Assert.Equal($"demo session: drive it as its instructor with `tui connect 127.0.0.1:{server.Port}/demo --key {key}` (the key is also in {keyFile})", line.Text);
            await using var op = await TestClient.ConnectAsync(server.Url);
            Assert.Equal(Role.Instructor, (await op.JoinAsync("demo", "op", key)).Role);
        }
        // A restart keeps it (the saved demo and the file agree).
        await using (var server = await LabServerFixture.StartAsync(data))
        {
            await server.Log.WaitForAsync(e => e.Text.Contains($"--key {key}`"), "the same key logged again");
            await using var op = await TestClient.ConnectAsync(server.Url);
            Assert.Equal(Role.Instructor, (await op.JoinAsync("demo", "op", key)).Role);
        }
        // --demo-key sets it: the saved demo takes the new key, the old one stops working, the file follows.
        await using (var server = await LabServerFixture.StartAsync(data, arguments: ["--demo-key", "operator-chosen-key"]))
        {
            await server.Log.WaitForAsync(e => e.Text.Contains("--key operator-chosen-key`"), "the operator's key logged");
            Assert.Equal("operator-chosen-key", File.ReadAllText(keyFile).Trim());
            await using var op = await TestClient.ConnectAsync(server.Url);
            Assert.Contains("wrong instructor key", await Refusal(() => op.JoinAsync("demo", "op", key)));
            Assert.Equal(Role.Instructor, (await op.JoinAsync("demo", "op", "operator-chosen-key")).Role);
        }
    }

    [Fact]
    public async Task A_viewer_is_told_how_to_get_driving_in_the_demo_and_elsewhere()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var viewer = await TestClient.ConnectAsync(server.Url);
        await viewer.JoinAsync("demo", "visitor");
        Assert.Equal("viewers cannot type into the machine: the demo is driven by whoever runs the server (its instructor key is in the server's log and in its data/demo.key); for a machine of your own: tui local",
            await Refusal(() => viewer.KeyAsync("f")));

        // With instructors present, the refusal names them.
        await using var op = await TestClient.ConnectAsync(server.Url);
        await op.JoinAsync("demo", "op", server.Sessions.DemoKey);
        Assert.Equal("viewers cannot pause the machine: ask op (the instructor) to grant you driving", await Refusal(() => viewer.CommandAsync("pause")));
        await using var ta = await TestClient.ConnectAsync(server.Url);
        await ta.JoinAsync("demo", "ta", server.Sessions.DemoKey);
        Assert.Equal("viewers cannot use the debugger: ask op or ta (instructors) to grant you driving", await Refusal(() => viewer.CommandAsync("step")));

        // A session whose instructor left: how the role is had, and where a machine of one's own is.
        await using var prof = await TestClient.ConnectAsync(server.Url);
        var created = await prof.Hub.CreateSession(new CreateSessionOptions("leftalone"));
        await prof.JoinAsync("leftalone", "prof", created.InstructorKey);
        await viewer.JoinAsync("leftalone", "visitor");
        await prof.Hub.Leave();
        Assert.Equal($"viewers cannot type into the machine: nobody is instructor here now: the session's instructor key gives that role (tui connect 127.0.0.1:{server.Port}/leftalone --key KEY); for a machine of your own: tui local",
            await Refusal(() => viewer.KeyAsync("f")));
    }

    [Fact]
    public async Task Pids_that_are_not_processes_of_the_session_are_refused()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var prof = await TestClient.ConnectAsync(server.Url);
        var created = await prof.Hub.CreateSession(new CreateSessionOptions("pids", "allocator"));
        await prof.JoinAsync("pids", "prof", created.InstructorKey);
        await prof.WaitForAsync(m => m.Processes.Any(p => p.Pid == 2), "allocator's processes");

        Assert.Equal("no such process 999 (ps lists them)", await Refusal(() => prof.Hub.ViewMemory(999)));
        Assert.Equal("no such process -1 (ps lists them)", await Refusal(() => prof.Hub.ViewMemory(-1)));
        Assert.Equal("no such process 999 (ps lists them)", await Refusal(() => prof.CommandAsync("follow vmap 999")));
        Assert.Equal("no such process 999 (ps lists them)", await Refusal(() => prof.CommandAsync("follow events 999")));
        Assert.Equal("no pane named 'nosuch' to follow (choose memory, vmap, debugger, events, cga)", await Refusal(() => prof.CommandAsync("follow nosuch")));
        Assert.Equal("'x' is not a pid", await Refusal(() => prof.CommandAsync("follow vmap x")));
        Assert.False(server.Sessions.Find("pids")!.Follow.Enabled);   // nothing was followed

        // Live pids are taken.
        await prof.Hub.ViewMemory(2);
        await prof.WaitForAsync(m => m.VirtualMap is { Pid: 2 } v && v.Entries.Length > 0, "pid 2's map");
        Assert.Equal("following", await prof.CommandAsync("follow vmap 2"));
        await prof.Hub.ViewMemory(0);
    }

    [Fact]
    public async Task Debugger_commands_with_bad_or_extra_arguments_are_refused_with_their_usage_and_change_nothing()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var prof = await TestClient.ConnectAsync(server.Url);
        var created = await prof.Hub.CreateSession(new CreateSessionOptions("dbg", "allocator"));
        await prof.JoinAsync("dbg", "prof", created.InstructorKey);
        await using var pat = await TestClient.ConnectAsync(server.Url);
        await pat.JoinAsync("dbg", "pat");
        await prof.CommandAsync("grant pat");
        await pat.WaitForAsync(m => m.Role == Role.Driver, "driving");
        Assert.Equal("stepped 1 instruction", await pat.CommandAsync("step"));   // stopped by the debugger from here on
        var session = server.Sessions.Find("dbg")!;
        long version = session.DebugVersion;
        ulong tick = session.Latest.Tick, retired = 0;
        await session.InspectAsync("test", m => { retired = m.Machine.InstructionsRetired; return []; });

        var refusals = new (string Command, string Usage)[]
        {
            ("step abc", "usage: step [N]"), ("step 0", "usage: step [N]"), ("step -1", "usage: step [N]"), ("step 1 2", "usage: step [N]"),
            ("step 99999999", "usage: step [N]"),
            ("x 0x100000 abc", "usage: x ADDR [N]"), ("x 0x100000 0", "usage: x ADDR [N]"), ("x", "usage: x ADDR [N]"), ("x zz", "usage: x ADDR [N]"),
            ("x 0x100000 16 32", "usage: x ADDR [N]"),
            ("delete abc", "usage: delete N|all"), ("delete", "usage: delete N|all"), ("delete 1 2", "usage: delete N|all"),
            ("break zz", "usage: break ADDR"), ("break", "usage: break ADDR"), ("break 0x100000 0x100004", "usage: break ADDR"),
            ("break fork abc", "usage: break ADDR"), ("break syscall", "usage: break ADDR"), ("break exit 1 2", "usage: break ADDR"),
            ("walk zz", "usage: walk ADDR"), ("walk", "usage: walk ADDR"), ("walk 0x1000 0x2000", "usage: walk ADDR"),
            ("disas zz", "usage: disas [ADDR]"), ("disas 0x1000 8", "usage: disas [ADDR]"),
            ("continue now", "usage: continue"), ("regs all", "usage: regs"), ("breaks 1", "usage: breaks"), ("bt full", "usage: bt"),
            ("ps aux", "usage: ps"), ("interrupt now", "usage: interrupt"),
        };
        // Thirty commands go past the command rate limit (10 a second after 20): ask again when it refuses.
        async Task<string> Refused(string command)
        {
            string refusal;
            while ((refusal = await Refusal(() => pat.CommandAsync(command))) == "too many commands: slow down") await Task.Delay(100);
            return refusal;
        }
        foreach (var (command, usage) in refusals)
        {
            string refusal = await Refused(command);
            Assert.True(refusal.Contains(usage), $"'{command}' is refused with '{usage}', not '{refusal}'");
        }
        Assert.Contains("'zz' is not an address", await Refused("walk zz"));
        Assert.Contains("no breakpoint 7 (breaks lists them)", await Refused("delete 7"));

        // Nothing happened: the debugger view, the machine and the breakpoints are as they were.
        ulong retiredAfter = 0;
        await session.InspectAsync("test", m => { retiredAfter = m.Machine.InstructionsRetired; return []; });
        Assert.Equal(retired, retiredAfter);
        Assert.Equal(version, session.DebugVersion);
        Assert.Equal(tick, session.Latest.Tick);
        Assert.Empty(session.Debugger.Breakpoints);
    }

    [Fact]
    public async Task The_debugger_view_says_what_happened_in_Reason_and_who_in_By()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var prof = await TestClient.ConnectAsync(server.Url);
        var created = await prof.Hub.CreateSession(new CreateSessionOptions("who", "allocator"));
        await prof.JoinAsync("who", "prof", created.InstructorKey);
        await using var student = await TestClient.ConnectAsync(server.Url);
        await student.JoinAsync("who", "student");
        await prof.CommandAsync("grant student");
        await student.WaitForAsync(m => m.Role == Role.Driver, "driving");

        async Task Expect(TestClient who, string command, string reason, string by)
        {
            await who.CommandAsync(command);
            await prof.WaitForAsync(m => m.Debugger is { } d && d.Reason == reason && d.By == by, $"'{reason}' by {by} after '{command}'");
        }
        Assert.Equal("stopped", await student.CommandAsync("interrupt"));
        await prof.WaitForAsync(m => m.Debugger is { Stopped: true } d && d.Reason.StartsWith("interrupted at 0x") && d.By == "student", "the interrupt");
        await Expect(student, "step 2", "stepped 2 instructions", "student");
        await Expect(prof, "break 0x100000", "set breakpoint 1: at 0x100000", "prof");
        await Expect(student, "delete 1", "deleted 1 breakpoint (1: at 0x100000)", "student");
        await Expect(student, "regs", "showed the registers", "student");
        Assert.Equal("0 breakpoints", await student.CommandAsync("breaks"));
        await Expect(prof, "continue", "continued", "prof");
        // Break on fork, reboot into p-fork: the machine stopped by itself, so nobody is named.
        await prof.CommandAsync("break fork");
        await prof.CommandAsync("reboot fork");
        await prof.WaitForAsync(m => m.Debugger is { Stopped: true } d && d.Reason.StartsWith("breakpoint 2: on fork") && d.By == "", "the fork breakpoint");
        Assert.Contains(prof.Mirror.Events, e => e.Text == "student stepped 2 instructions");
        Assert.Contains(prof.Mirror.Events, e => e.Text == "prof continued");
    }
}
