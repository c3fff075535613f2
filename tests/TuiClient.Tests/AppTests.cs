using Lab.TuiClient.App;

namespace Lab.TuiClient.Tests;

/// <summary>
/// The app's behaviour without a terminal: <see cref="LabController"/> (what the Terminal.Gui views
/// show and what keys, clicks and commands do) against `tui local`'s real in-process server; panes are
/// drawn onto a <see cref="CellGrid"/> and read as text. TmuxTests drive the real app in a terminal.
/// </summary>
public class AppTests
{
    internal static async Task WaitFor(Func<bool> condition, string what)
    {
        for (int i = 0; i < 600 && !condition(); i++) await Task.Delay(100);
        Assert.True(condition(), $"timed out waiting for {what}");
    }

    /// <summary>A pane as text, drawn at the given size.</summary>
    internal static string Draw(LabController c, Pane pane, int width = 120, int height = 30)
    {
        var grid = new CellGrid(width, height);
        c.Update();
        c.DrawPane(pane, grid);
        return grid.Text();
    }

    private static async Task<(LocalServer Server, RemoteSession Session, LabController App)> Local(string program)
    {
        var server = await LocalServer.StartAsync(program, "cow");
        var session = await server.ConnectAsync(CancellationToken.None);
        return (server, session, new LabController(session, isLocal: true));
    }

    private static async Task Keys(LabController c, string text)
    {
        foreach (char ch in text) await c.HandleKeyAsync(KeyEvent.Printable(ch));
    }

    [Fact]
    public async Task Keys_on_the_screen_reach_the_machine()
    {
        var (server, session, app) = await Local("fork");
        await using var _s = server;
        await using var _c = session;
        // p-fork shares pages copy-on-write (refcount > 1); the allocators share nothing.
        bool SharedUserPage()
        {
            var pages = session.Mirror.Pages;
            for (int p = 0; p + 1 < pages.Length; p += 2)
                if ((sbyte)pages[p] > 0 && pages[p + 1] > 1) return true;
            return false;
        }
        await WaitFor(() => session.Mirror.Processes.Length == 4 && SharedUserPage(), "p-fork's four processes sharing pages");
        Assert.True(await app.HandleKeyAsync(KeyEvent.Printable('a')));   // WeensyOS: soft reboot into the allocators
        await WaitFor(() => session.Mirror.Processes.Length == 4 && !SharedUserPage(), "the allocators after 'a'");
        await app.RunCommandAsync("pause");
        await WaitFor(() => session.Mirror.Status is { Running: false }, "pause");
        Assert.Contains("PHYSICAL MEMORY", Draw(app, Pane.Screen, 80, 25));
        Assert.Contains("paused", app.StatusFields());
        Assert.DoesNotContain("on node", app.StatusFields());   // a single server: no node (ClusterTests has a cluster's)
        // A 21-row screen (an 80x24 terminal) shows rows 1-21 and scrolls to the rest.
        app.ScreenRows = 21;
        Assert.Contains("rows 1-21 of 25", Draw(app, Pane.Screen, 80, 21));
        await app.HandleKeyAsync(new KeyEvent(KeyCode.Down, Modifiers: KeyModifiers.Shift));
        Assert.Contains("rows 2-22 of 25", Draw(app, Pane.Screen, 80, 21));
    }

    /// <summary>Issue 13, problem 1: the debugger pane shows every register in full at any width, and who acted once.</summary>
    [Fact]
    public async Task The_debugger_pane_opens_on_a_breakpoint_and_never_cuts_a_register()
    {
        var (server, session, app) = await Local("allocator");
        await using var _s = server;
        await using var _c = session;
        await app.RunCommandAsync("break syscall page_alloc");
        // The allocators stop calling page_alloc once memory is full (on a loaded machine that can be
        // before the breakpoint is set): a reboot makes them allocate again.
        await app.RunCommandAsync("reboot allocator");
        await WaitFor(() => session.Mirror.Debugger is { Stopped: true }, "the page_alloc breakpoint");
        app.Update();
        Assert.Equal(Pane.Debugger, app.Focus);
        Assert.StartsWith("stopped: ", app.Message);
        var d = session.Mirror.Debugger!;
        foreach (int width in new[] { 120, 80, 46, 30 })
        {
            string text;
            // The state drawn is the state checked (a reboot racing the first stop may stop it again).
            do { d = session.Mirror.Debugger!; text = Draw(app, Pane.Debugger, width, 40); } while (!ReferenceEquals(d, session.Mirror.Debugger));
            Assert.Contains("STOPPED", text);
            Assert.Contains("=> 0x", text);          // disassembly at rip
            for (int r = 0; r < d.Registers.Length; r++)
                Assert.Contains($"{Lab.Shared.Wire.DebuggerState.RegisterNames[r],-6} {d.Registers[r]:x16}", text);
            Assert.DoesNotContain($"by {d.By} · by {d.By}", text);
        }
        await app.RunCommandAsync("walk 0x100000");
        await WaitFor(() => session.Mirror.Debugger!.Output.Any(l => l.StartsWith("PML4")), "the walk");
        Assert.Contains("PML4", Draw(app, Pane.Debugger));
        // Continue: the allocators call page_alloc again at once, and the status line says the machine
        // stopped there (not the "continued" answer, which is no longer true).
        ulong tick = d.Tick;
        await app.RunCommandAsync("continue");
        await WaitFor(() => { app.Update(); return session.Mirror.Debugger is { Stopped: true } again && again.Tick != tick && app.Message.StartsWith("stopped: "); },
            "the next stop replacing the continue answer");
    }

    /// <summary>Issue 13, problems 6, 7 and 9: follow mode moves the leader's view too, unknown panes
    /// and pids are refused with the reason, follow state leaves the status line with unfollow, and
    /// each participant sees "(you)" on their own line; a removed driver's key comes back refused through StateChanged.</summary>
    [Fact]
    public async Task Virtual_memory_follow_mode_and_participants()
    {
        var (server, session, app) = await Local("allocator");
        await using var _s = server;
        await using var _c = session;
        await WaitFor(() => session.Mirror.Processes.Length == 4, "four allocators");
        await app.RunCommandAsync("vmap 2");
        await WaitFor(() => session.Mirror.VirtualMap is { Pid: 2 }, "pid 2's virtual map");
        string text = Draw(app, Pane.Memory);
        Assert.Contains("0x2C0000", text);
        Assert.Equal(2, app.VirtualPid);

        await app.RunCommandAsync("vmap 999");
        Assert.True(app.MessageIsRefusal);
        Assert.Contains("no such process 999", app.Message);
        Assert.Equal(2, app.VirtualPid);

        await using var viewer = await RemoteSession.ConnectAsync(server.Url, "local", "viewer", null, CancellationToken.None);
        var viewerApp = new LabController(viewer, isLocal: false);
        // The instructor leads: the viewer's memory pane and the instructor's own both show pid 3.
        await app.RunCommandAsync("follow vmap 3");
        Assert.Equal(3, app.VirtualPid);
        Assert.Equal(Pane.Memory, app.Focus);
        // The viewer's pid is set when its view change returns, after the frame with pid 3's map perhaps, and no
        // frame need follow (a paused machine sends none): the app is told to redraw then (a CI run's stale title).
        bool toldAtPid3 = false;
        viewerApp.StateChanged = () => toldAtPid3 |= viewerApp.VirtualPid == 3;
        await WaitFor(() => { viewerApp.Update(); return viewer.Mirror.VirtualMap is { Pid: 3 } && Volatile.Read(ref toldAtPid3); }, "the viewer following pid 3, told to redraw");
        Assert.Equal(3, viewerApp.VirtualPid);
        Assert.Contains("following root: vmap pid 3", viewerApp.StatusFields());
        await app.RunCommandAsync("follow nosuch");
        Assert.True(app.MessageIsRefusal);
        Assert.Contains("nosuch", app.Message);
        await app.RunCommandAsync("unfollow");
        await WaitFor(() => { viewerApp.Update(); return !viewerApp.StatusFields().Contains("following"); }, "follow mode gone from the viewer's status line");
        Assert.Contains("ended follow mode", viewerApp.Message);

        // The participants pane: ids, roles, "(you)"; grant takes an id.
        await WaitFor(() => Draw(app, Pane.Participants).Contains("p2  viewer (viewer)"), "the viewer's id in the participants pane");
        Assert.Contains("p1  root (instructor) (you)", Draw(app, Pane.Participants));
        Assert.Contains("p2  viewer (viewer) (you)", Draw(viewerApp, Pane.Participants));
        Assert.DoesNotContain("root (instructor) (you)", Draw(viewerApp, Pane.Participants));

        // A viewer's key is refused with the reason; the refusal is replaced once driving is granted.
        await viewerApp.HandleKeyAsync(new KeyEvent(KeyCode.F2));
        await viewerApp.HandleKeyAsync(KeyEvent.Printable('f'));
        Assert.True(viewerApp.MessageIsRefusal);
        Assert.Contains("viewers cannot", viewerApp.Message);
        await app.RunCommandAsync("grant p2");
        await WaitFor(() => { viewerApp.Update(); return viewerApp.Message.StartsWith("you may drive now"); }, "the grant replacing the refusal");
        Assert.False(viewerApp.MessageIsRefusal);
        // The instructor's own frames say so on their own connection: maybe later than the viewer's.
        await WaitFor(() => app.StatusFields().Contains("drivers: viewer"), "the new driver on the instructor's status line");

        // A driver's keys go out from a pool thread: their refusal comes back through StateChanged, for the next
        // Update (on the app's main loop) to show. Here the driver was removed (its mirror, which no frame
        // updates any more, still says it drives).
        await app.RunCommandAsync("remove p2");
        await WaitFor(() => viewer.ConnectionStatus.StartsWith("removed"), "the viewer told it was removed");
        viewerApp.Update();
        bool refusalTold = false;
        viewerApp.StateChanged = () => refusalTold = true;
        await viewerApp.HandleKeyAsync(KeyEvent.Printable('f'));
        await WaitFor(() => Volatile.Read(ref refusalTold), "the refused key reported");
        viewerApp.Update();
        Assert.True(viewerApp.MessageIsRefusal);
        Assert.StartsWith("you were removed from this session by root", viewerApp.Message);
    }

    [Fact]
    public async Task Filtering_on_a_pid_shows_its_syscalls_with_arguments_and_results()
    {
        var (server, session, app) = await Local("allocator");
        await using var _s = server;
        await using var _c = session;
        await WaitFor(() => session.Mirror.Processes.Length == 4, "four allocators");
        await app.RunCommandAsync("filter pid 2");
        Assert.Equal("pid 2", app.Filter.ToString());
        // The machine stops at each page_alloc, so pid 2's call stays the newest line of its filtered log.
        await app.RunCommandAsync("break syscall page_alloc");
        var before = session.Mirror.Debugger;
        await app.RunCommandAsync("reboot allocator");   // pid 2 allocates again after the watch began
        static bool Pid2Allocated(Lab.Shared.Wire.SessionMirror m) => m.Events.Any(e => e.Pid == 2 && e.Text.StartsWith("sys_page_alloc(0x") && e.Text.Contains(") = "));
        for (int stops = 0; ; stops++)
        {
            await WaitFor(() => session.Mirror.Debugger is { Stopped: true } d && !ReferenceEquals(d, before), "a stop at page_alloc");
            before = session.Mirror.Debugger;
            if (before!.Pid == 2) break;
            Assert.True(stops < 50, "pid 2 never called page_alloc");
            await app.RunCommandAsync("continue");
        }
        await WaitFor(() => Pid2Allocated(session.Mirror), "pid 2's page_alloc calls");
        await WaitFor(() => Draw(app, Pane.Events).Contains("sys_page_alloc(0x"), "the calls in the events pane");
    }

    /// <summary>Issue 13, problem 4: the log hides per-call syscall lines unless asked, refuses an
    /// unknown kind naming the kinds, scrolls back and finds text.</summary>
    [Fact]
    public async Task The_event_log_filters_by_named_kinds_scrolls_back_and_finds()
    {
        var (server, session, app) = await Local("forkexit");
        await using var _s = server;
        await using var _c = session;
        await WaitFor(() => session.Mirror.Events.Count(e => e.Kind == Lab.Shared.Wire.EventKind.Exit) > 30, "many exits");
        Assert.DoesNotContain(" summary ", Draw(app, Pane.Events, 120, 200));
        await app.RunCommandAsync("filter kind foo");
        Assert.True(app.MessageIsRefusal);
        Assert.Contains("no event kind 'foo' (kinds: action, syscall, fork, exit, fault, track, summary, system)", app.Message);
        Assert.Equal("all but syscalls", app.Filter.ToString());
        // A pid that exited (taken while the machine is paused, so the table stays put) still shows its past events.
        await app.RunCommandAsync("pause");
        await WaitFor(() => session.Mirror.Status is { Running: false }, "the pause");
        int gone = 0;
        await WaitFor(() => (gone = session.Mirror.Events.Where(e => e.Kind == Lab.Shared.Wire.EventKind.Exit).Select(e => e.Pid)
            .FirstOrDefault(pid => session.Mirror.Processes.All(p => p.Pid != pid))) != 0, "an exited pid");
        await app.RunCommandAsync($"filter pid {gone}");
        Assert.False(app.MessageIsRefusal, app.Message);
        Assert.Contains("no such process now: its past events", app.Message);
        Assert.Equal($"pid {gone}", app.Filter.ToString());
        await app.RunCommandAsync("filter pid 99");
        Assert.True(app.MessageIsRefusal);
        Assert.Contains("no such process 99", app.Message);
        await app.RunCommandAsync("resume");
        await WaitFor(() => session.Mirror.Status is { Running: true }, "the resume");   // (so the pause below is a new one)
        await app.RunCommandAsync("filter kind fork");
        string forks = Draw(app, Pane.Events, 120, 10);
        Assert.All(forks.Split('\n').Where(l => l.Length > 0), l => Assert.Contains(" fork ", l));
        await app.RunCommandAsync("pause");
        // The machine pauses after the answer (the session's loop takes the command): until then new forks would
        // change the newest lines between the two draws compared below.
        await WaitFor(() => session.Mirror.Status is { Running: false }, "the second pause");

        // Scrolling back shows older lines, and End returns to the newest.
        string newest = Draw(app, Pane.Events, 120, 5);
        await app.HandleKeyAsync(new KeyEvent(KeyCode.PageUp));
        string older = Draw(app, Pane.Events, 120, 5);
        Assert.NotEqual(newest, older);
        Assert.Contains("newer below", older);
        await app.HandleKeyAsync(new KeyEvent(KeyCode.End));
        Assert.Equal(newest, Draw(app, Pane.Events, 120, 5));

        await app.RunCommandAsync("filter off");
        await app.RunCommandAsync("find joined as instructor");
        Assert.Contains("root joined as instructor", Draw(app, Pane.Events, 120, 5).Split('\n').Last(l => l.Length > 0));
    }

    /// <summary>Issue 13, problems 2, 8 and 9: ':' and Ctrl+C outside the screen never quit; F10 in
    /// `tui local` asks first; `close` asks; the command bar keeps history and completes.</summary>
    [Fact]
    public async Task Quitting_and_closing_ask_and_the_command_bar_recalls_and_completes()
    {
        var (server, session, app) = await Local("forkexit");
        await using var _s = server;
        await using var _c = session;
        var asked = new List<string>();
        bool answer = false;
        app.Confirm = (title, _) => { asked.Add(title); return Task.FromResult(answer); };

        await app.HandleKeyAsync(new KeyEvent(KeyCode.F5));
        Assert.Equal(Pane.Events, app.Focus);
        await app.HandleKeyAsync(KeyEvent.Control('c'));
        Assert.False(app.QuitRequested);
        Assert.Contains("F10 quits", app.Message);
        await app.HandleKeyAsync(new KeyEvent(KeyCode.F10));
        Assert.Equal(["Quit"], asked);
        Assert.False(app.QuitRequested);

        await Keys(app, ":fil");
        Assert.True(app.CommandOpen);
        await app.HandleKeyAsync(new KeyEvent(KeyCode.Tab));
        Assert.Equal("filter ", app.CommandLine.Text);
        await Keys(app, "kind fo");
        await app.HandleKeyAsync(new KeyEvent(KeyCode.Tab));
        Assert.Equal("filter kind fork ", app.CommandLine.Text);
        await app.HandleKeyAsync(new KeyEvent(KeyCode.Enter));
        Assert.Equal("fork", app.Filter.ToString());
        await Keys(app, ":pause");
        await app.HandleKeyAsync(new KeyEvent(KeyCode.Enter));
        await Keys(app, ":");
        await app.HandleKeyAsync(new KeyEvent(KeyCode.Up));
        Assert.Equal("pause", app.CommandLine.Text);
        await app.HandleKeyAsync(new KeyEvent(KeyCode.Up));
        Assert.Equal("filter kind fork", app.CommandLine.Text);
        await app.HandleKeyAsync(new KeyEvent(KeyCode.Escape));
        Assert.False(app.CommandOpen);

        await app.RunCommandAsync("close");
        Assert.Equal(["Quit", "Close the session"], asked);
        Assert.Equal("the session stays open", app.Message);
        await app.RunCommandAsync("frobnicate");
        Assert.True(app.MessageIsRefusal);
        Assert.Contains("unknown command 'frobnicate'", app.Message);

        answer = true;
        await app.HandleKeyAsync(new KeyEvent(KeyCode.F10));
        Assert.True(app.QuitRequested);
    }

    /// <summary>busybox sh as a session's shell, driven from the console: cursor keys reach its line
    /// editor as a terminal's escape sequences (Left moves, Up recalls history, Home goes to the start),
    /// and the console screen follows the editor's redraws, so what is shown is what runs.</summary>
    [Fact]
    public async Task Busybox_sh_in_the_console_edits_with_cursor_keys_and_recalls_history()
    {
        Assert.True(Lab.Server.Sessions.SessionSettings.HostProgramPath("busybox") is not null, "busybox-static is not installed (test.sh installs it)");
        var server = await LocalServer.StartAsync(new Lab.Server.Sessions.SessionSettings
        {
            Name = "local", Profile = "posix", Program = "busybox sh -i", MemoryMiB = 64, TicksPerSecond = 0, InstructorKey = "k",
        });
        await using var _s = server;
        var session = await server.ConnectAsync(CancellationToken.None);
        await using var _c = session;
        var app = new LabController(session, isLocal: true);
        string Screen() => string.Join("\n", session.Mirror.ScreenText().Select(l => l.TrimEnd())).TrimEnd();
        async Task Press(params KeyEvent[] keys) { foreach (var k in keys) await app.HandleKeyAsync(k); }
        await WaitFor(() => Screen().Contains("/ $"), "busybox's prompt");
        app.Update();
        await Keys(app, "echo a:c | cut -d: -f2");   // ':' is typed, not the command bar
        Assert.False(app.CommandOpen);
        await Press(new KeyEvent(KeyCode.Enter));
        await WaitFor(() => Screen().Contains("cut -d: -f2\nc\n/ $"), "cut's output");
        await Keys(app, "echo abc");
        await Press(new KeyEvent(KeyCode.Left), new KeyEvent(KeyCode.Left), KeyEvent.Printable('X'), new KeyEvent(KeyCode.Enter));
        await WaitFor(() => Screen().Contains("/ $ echo aXbc\naXbc\n/ $"), "the line edited with Left and its output");
        await Press(new KeyEvent(KeyCode.Up), new KeyEvent(KeyCode.Home), KeyEvent.Printable('#'));
        await WaitFor(() => Screen().EndsWith("/ $ #echo aXbc"), "the recalled line redrawn with # in front");
        await Press(new KeyEvent(KeyCode.Enter), new KeyEvent(KeyCode.Up), new KeyEvent(KeyCode.Up));
        await Keys(app, " more");
        await Press(new KeyEvent(KeyCode.Enter));
        await WaitFor(() => Screen().Contains("/ $ echo aXbc more\naXbc more\n/ $"), "an earlier line recalled, extended and run");
    }

    [Fact]
    public async Task A_posix_session_shows_a_console_with_scrollback_and_a_scaled_memory_map_and_a_sparse_virtual_map()
    {
        var server = await LocalServer.StartAsync(new Lab.Server.Sessions.SessionSettings
        {
            Name = "local", Profile = "posix", Program = "sh -i", MemoryMiB = 64, TicksPerSecond = 0, InstructorKey = "k",
        });
        await using var _s = server;
        var session = await server.ConnectAsync(CancellationToken.None);
        await using var _c = session;
        var app = new LabController(session, isLocal: true);
        await WaitFor(() => session.Mirror.ScreenText()[0].StartsWith("$"), "the prompt");
        app.Update();
        // Forty numbered lines scroll the 25-row console; the first ones stay in the scrollback.
        for (int i = 1; i <= 40; i++)
        {
            await Keys(app, $"echo line{i}");
            await app.HandleKeyAsync(new KeyEvent(KeyCode.Enter));
            await WaitFor(() => { app.Update(); return session.Mirror.ScreenText().Any(l => l.TrimEnd() == $"line{i}"); }, $"line{i}");
        }
        Assert.DoesNotContain("line1\n", Draw(app, Pane.Screen, 80, 25));
        await app.HandleKeyAsync(new KeyEvent(KeyCode.PageUp, Modifiers: KeyModifiers.Shift));
        await app.HandleKeyAsync(new KeyEvent(KeyCode.PageUp, Modifiers: KeyModifiers.Shift));
        await app.HandleKeyAsync(new KeyEvent(KeyCode.PageUp, Modifiers: KeyModifiers.Shift));
        string back = Draw(app, Pane.Screen, 80, 25);
        Assert.StartsWith("$ echo line1 ", back);
        Assert.Contains("\nline1\n$ echo line2\nline2\n", back);
        Assert.Contains("scrollback:", back);
        await Keys(app, "x");   // typing returns to the newest line
        Assert.DoesNotContain("scrollback:", Draw(app, Pane.Screen, 80, 25));
        await WaitFor(() => session.Mirror.ScreenText().Any(l => l.TrimEnd() == "$ x"), "the typed x");
        // find on the console scrolls back to the newest older line with the text; again, further back.
        // The line found is shown (at the bottom when there are lines enough above it) in reverse video.
        string Found()
        {
            var grid = new CellGrid(80, 25);
            app.DrawPane(Pane.Screen, grid);
            var rows = Enumerable.Range(0, 25).Where(y => grid[0, y].Style == CellStyle.Reverse).ToList();
            Assert.Single(rows);
            return grid.RowText(rows[0]).TrimEnd();
        }
        await app.RunCommandAsync("find echo line20");
        Assert.Equal("$ echo line20", Found());
        Assert.Equal("$ echo line20", Draw(app, Pane.Screen, 80, 25).Split('\n').Last(l => l.Length > 0));
        await app.RunCommandAsync("find line1");            // further back: line19 … line10, then line1
        Assert.Equal("line19", Found());
        await app.RunCommandAsync("find no such text");
        Assert.Contains("no older console line", app.Message);
        await app.RunCommandAsync("find echo line7");
        Assert.Equal("$ echo line7", Found());

        string memory = Draw(app, Pane.Memory, 74, 20);
        Assert.Contains("16384 pages (64 MiB), 16 pages per cell", memory);   // 256 rows of 64 would not fit: 16 pages a cell
        Assert.Contains("0x3C00000", memory);                                  // the last row's label: all of memory is shown

        int sh = session.Mirror.Processes.First(p => p.Name == "sh").Pid;
        await app.RunCommandAsync($"vmap {sh}");
        await WaitFor(() => session.Mirror.VirtualMap is { PageCount: > 0 } m && m.Pid == sh, "sh's virtual map");
        Assert.Contains("0x400000", Draw(app, Pane.Memory, 74, 15));          // the program image
        // The stack rows are at the top of the address space: move the selection to the last page.
        Assert.Equal(Pane.Memory, app.Focus);
        await app.HandleKeyAsync(new KeyEvent(KeyCode.End));
        Assert.Contains("0x7FFFFFF", Draw(app, Pane.Memory, 74, 15));
    }
}
