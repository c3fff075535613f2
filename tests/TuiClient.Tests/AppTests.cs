using Lab.TuiClient.App;
using Lab.TuiClient.Terminal;

namespace Lab.TuiClient.Tests;

/// <summary>The app against `tui local`'s in-process server, without a terminal: keys in, screen buffer out.</summary>
public class AppTests
{
    private static async Task WaitFor(Func<bool> condition, string what)
    {
        for (int i = 0; i < 600 && !condition(); i++) await Task.Delay(100);
        Assert.True(condition(), $"timed out waiting for {what}");
    }

    private static string Text(ScreenBuffer b) => string.Join("\n", Enumerable.Range(0, b.Height).Select(b.RowText));

    private static async Task<(LocalServer Server, RemoteSession Session, TuiApp App)> Local(string program)
    {
        var server = await LocalServer.StartAsync(program, "cow");
        var session = await server.ConnectAsync(CancellationToken.None);
        var app = new TuiApp(session);
        app.Resize(130, 45);
        return (server, session, app);
    }

    [Fact]
    public async Task KeysInTheCgaPaneReachTheMachine()
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
        await app.HandleKeyAsync(KeyEvent.Printable('a'));   // WeensyOS: soft reboot into the allocators
        await WaitFor(() => session.Mirror.Processes.Length == 4 && !SharedUserPage(), "the allocators after 'a'");
        await app.RunCommandAsync("pause");
        await WaitFor(() => session.Mirror.Status is { Running: false }, "pause");
        var screen = app.Draw();
        Assert.Contains("PHYSICAL MEMORY", Text(screen));
        Assert.Contains("paused", screen.RowText(screen.Height - 1));
    }

    [Fact]
    public async Task TheDebuggerPaneOpensWhenABreakpointHits()
    {
        var (server, session, app) = await Local("allocator");
        await using var _s = server;
        await using var _c = session;
        await app.RunCommandAsync("break syscall page_alloc");
        // The allocators stop calling page_alloc once memory is full (on a loaded machine that can be
        // before the breakpoint is set): a reboot makes them allocate again.
        await app.RunCommandAsync("reboot allocator");
        await WaitFor(() => session.Mirror.Debugger is { Stopped: true }, "the page_alloc breakpoint");
        string text = Text(app.Draw());
        Assert.Contains("debugger (F6)", text);
        Assert.Contains("STOPPED", text);
        Assert.Contains("=> 0x", text);          // disassembly at rip
        Assert.Contains("rax", text);
        await app.RunCommandAsync("walk 0x100000");
        await WaitFor(() => session.Mirror.Debugger!.Output.Any(l => l.StartsWith("PML4")), "the walk");
        Assert.Contains("PML4", Text(app.Draw()));
    }

    [Fact]
    public async Task VirtualMemoryOfAPidAndFollowMode()
    {
        var (server, session, app) = await Local("allocator");
        await using var _s = server;
        await using var _c = session;
        await WaitFor(() => session.Mirror.Processes.Length == 4, "four allocators");
        await app.RunCommandAsync("vmap 2");
        await WaitFor(() => session.Mirror.VirtualMap is { Pid: 2 }, "pid 2's virtual map");
        var map = session.Mirror.VirtualMap!;
        Assert.Equal(768, map.PageCount);
        Assert.Equal(7, map[0xB8].Perm);                  // the console page: P|W|U
        Assert.Equal(0, map[0x40].Perm & 4);              // kernel pages are not user-accessible (step >= 1)
        string text = Text(app.Draw());
        Assert.Contains("virtual memory of pid 2", text);
        Assert.Contains("0x2C0000", text);

        // Follow mode: a viewer's pane follows what the instructor shows.
        await using var viewer = await RemoteSession.ConnectAsync(server.Url, "local", "viewer", null, CancellationToken.None);
        var viewerApp = new TuiApp(viewer);
        viewerApp.Resize(130, 45);
        await app.RunCommandAsync("follow vmap 3");
        await WaitFor(() => { viewerApp.Draw(); return viewer.Mirror.VirtualMap is { Pid: 3 }; }, "the viewer following pid 3");
        Assert.Contains("virtual memory of pid 3", Text(viewerApp.Draw()));
        Assert.Contains("following", Text(viewerApp.Draw()));

        // The participants pane shows each id, and grant takes one.
        await WaitFor(() => Text(app.Draw()).Contains("p2  viewer (viewer)"), "the viewer's id in the participants pane");
        await app.RunCommandAsync("grant p2");
        await WaitFor(() => Text(app.Draw()).Contains("p2  viewer (driver)"), "the viewer driving");
    }

    [Fact]
    public async Task FilteringOnAPidShowsItsSyscallsWithArgumentsAndResults()
    {
        var (server, session, app) = await Local("allocator");
        await using var _s = server;
        await using var _c = session;
        await app.RunCommandAsync("filter pid 2");
        // The machine stops at each page_alloc, so pid 2's call stays the newest line of its filtered log:
        // running on, its yields would scroll it out of the pane once memory is full.
        await app.RunCommandAsync("break syscall page_alloc");
        var before = session.Mirror.Debugger;
        await app.RunCommandAsync("reboot allocator");   // pid 2 allocates again after the watch began (see above)
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
        await WaitFor(() => Text(app.Draw()).Contains("sys_page_alloc(0x"), "the calls in the events pane");
    }

    [Fact]
    public async Task CommandBarHelpAndFilters()
    {
        var (server, session, app) = await Local("forkexit");
        await using var _s = server;
        await using var _c = session;
        foreach (char c in ":filter kind fork") await app.HandleKeyAsync(KeyEvent.Printable(c));
        Assert.Contains(":filter kind fork", app.Draw().RowText(44));
        await app.HandleKeyAsync(new KeyEvent(KeyCode.Enter));
        Assert.Contains("event filter: fork", app.Draw().RowText(44));
        await app.HandleKeyAsync(new KeyEvent(KeyCode.F1));
        Assert.Contains("Lab TUI", Text(app.Draw()));
        await app.HandleKeyAsync(KeyEvent.Printable('x'));   // any key closes help
        Assert.DoesNotContain("Lab TUI — keys", Text(app.Draw()));
        await app.RunCommandAsync("frobnicate");
        Assert.Contains("refused: unknown command 'frobnicate'", app.Draw().RowText(44));
    }

    /// <summary>busybox sh as a session's shell, driven from the console pane: cursor keys reach its
    /// line editor as a terminal's escape sequences (Left moves, Up recalls history, Home goes to the
    /// start), and the console screen follows the editor's redraws (cursor moves, erase to the end of
    /// the line), so what is shown is what runs.</summary>
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
        var app = new TuiApp(session);
        app.Resize(160, 50);
        string Screen() => string.Join("\n", session.Mirror.ScreenText().Select(l => l.TrimEnd())).TrimEnd();
        async Task Keys(params KeyEvent[] keys) { foreach (var k in keys) await app.HandleKeyAsync(k); }
        static KeyEvent[] Text(string s) => s.Select(KeyEvent.Printable).ToArray();
        await WaitFor(() => Screen().Contains("/ $"), "busybox's prompt");
        await Keys(Text("echo abc"));
        await Keys(new KeyEvent(KeyCode.Left), new KeyEvent(KeyCode.Left), KeyEvent.Printable('X'), new KeyEvent(KeyCode.Enter));
        await WaitFor(() => Screen().Contains("/ $ echo aXbc\naXbc\n/ $"), "the line edited with Left and its output");
        await Keys(new KeyEvent(KeyCode.Up), new KeyEvent(KeyCode.Home), KeyEvent.Printable('#'));
        await WaitFor(() => Screen().EndsWith("/ $ #echo aXbc"), "the recalled line redrawn with # in front");
        await Keys(new KeyEvent(KeyCode.Enter), new KeyEvent(KeyCode.Up), new KeyEvent(KeyCode.Up));
        await Keys(Text(" more"));
        await Keys(new KeyEvent(KeyCode.Enter));
        await WaitFor(() => Screen().Contains("/ $ echo aXbc more\naXbc more\n/ $"), "the first line recalled, extended and run");
    }

    [Fact]
    public async Task A_posix_session_shows_a_console_and_a_scaled_memory_map_and_a_sparse_virtual_map()
    {
        var server = await LocalServer.StartAsync(new Lab.Server.Sessions.SessionSettings
        {
            Name = "local", Profile = "posix", Program = "sh -i", MemoryMiB = 64, TicksPerSecond = 0, InstructorKey = "k",
        });
        await using var _s = server;
        var session = await server.ConnectAsync(CancellationToken.None);
        await using var _c = session;
        var app = new TuiApp(session);
        app.Resize(160, 50);
        await WaitFor(() => session.Mirror.ScreenText()[0].StartsWith("$"), "the prompt");
        foreach (char c in "echo hi") await app.HandleKeyAsync(KeyEvent.Printable(c));
        await app.HandleKeyAsync(new KeyEvent(KeyCode.Enter));
        await WaitFor(() => session.Mirror.ScreenText()[1].StartsWith("hi"), "echo's output");
        string text = Text(app.Draw());
        Assert.Contains("console · local · sh -i", text);
        Assert.Contains("16384 pages (64 MiB), 16 pages per cell", text);   // 256 rows of 64 would not fit: 16 pages a cell
        Assert.Contains("0x3C00000", text);                                  // the last row's label (16 rows): all of memory is shown

        int sh = session.Mirror.Processes.First(p => p.Name == "sh").Pid;
        await app.RunCommandAsync($"vmap {sh}");
        await WaitFor(() => session.Mirror.VirtualMap is { PageCount: > 0 } m && m.Pid == sh, "sh's virtual map");
        text = Text(app.Draw());
        Assert.Contains($"virtual memory of pid {sh}", text);
        Assert.Contains("0x400000", text);                                   // the program image
        // The stack rows are at the top of the address space: move the cursor to the last page.
        await app.HandleKeyAsync(new KeyEvent(KeyCode.Tab));
        for (int i = 0; i < 40; i++) await app.HandleKeyAsync(new KeyEvent(KeyCode.Down));
        text = Text(app.Draw());
        Assert.Contains("0x7FFFFFF", text);
    }
}

