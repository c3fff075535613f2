using System.Runtime.InteropServices;
using Lab.Shared.Wire;
using Terminal.Gui.App;
using Terminal.Gui.Input;
using Terminal.Gui.ViewBase;
using Terminal.Gui.Views;

namespace Lab.TuiClient.App;

/// <summary>
/// The interactive client on Terminal.Gui: a menu bar, the panes as views, a status bar, dialogs. The
/// same app serves `tui connect` (a remote session) and `tui local` (a machine in this process).
///
/// Layout: a terminal of at least <see cref="WideWidth"/>x<see cref="WideHeight"/> shows the machine's
/// screen with the processes and participants beside it and the memory map (or the debugger) and the
/// event log below. A smaller one, down to <see cref="MinWidth"/>x<see cref="MinHeight"/>, shows one
/// pane at a time under a strip of tabs (F2-F7 or a click switch); below that the app says what size
/// it needs. All state lives in <see cref="LabController"/>; this class lays out, draws and forwards
/// keys and the mouse. Everything here runs on Terminal.Gui's main loop; frames arrive on network
/// threads and only mark the app dirty. The controller's awaits resume on the main loop too (Terminal.Gui's
/// synchronization context, inside Run), but nothing redraws when they do: whatever starts one asks for the
/// redraw after it (<see cref="AfterAsync"/> for keys, clicks and the menu; StateChanged from the controller).
/// </summary>
public sealed class TuiApp
{
    public const int MinWidth = 80, MinHeight = 24, WideWidth = 112, WideHeight = 38;
    private static readonly string[] TabNames = ["screen", "memory", "processes", "events", "debugger", "people"];

    private readonly LabController _c;
    private readonly IApplication _app;
    private readonly LabWindow _window = new() { BorderStyle = Terminal.Gui.Drawing.LineStyle.None };
    private readonly PaneView _screen, _memory, _processes, _events, _debugger, _participants, _tabs, _status, _help, _tooSmall;
    private readonly PaneView[] _panes;
    private readonly MenuBar _menu;
    private int _helpScroll;
    private bool _helpOpen;
    private volatile bool _dirty = true, _running;
    private Pane _bottomLeft = Pane.Memory;   // wide layout: the memory map or the debugger below the screen

    private TuiApp(ISessionSource session, bool isLocal, IApplication app)
    {
        _app = app;
        _c = new LabController(session, isLocal)
        {
            Confirm = (title, text) => Task.FromResult(MessageBox.Query(_app, title, text, "_Yes", "_No") == 0),
            ShowHelp = () => { _helpOpen = true; _helpScroll = 0; Redraw(); },
        };
        _c.ShowInfo = ShowInfo;
        _c.StateChanged = MarkDirty;
        _screen = new PaneView(c => _c.DrawPane(Pane.Screen, c)) { Wheeled = d => { _c.ScrollScreen(d * 3); Redraw(); }, Clicked = (_, _) => Focus(Pane.Screen) };
        _memory = new PaneView(c => _c.DrawPane(Pane.Memory, c)) { Clicked = (x, y) => { _c.ClickMemory(x, y); Redraw(); } };
        _processes = new PaneView(c => _c.DrawPane(Pane.Processes, c)) { Clicked = (x, y) => _ = AfterAsync(_c.ClickProcessAsync(y)) };
        _events = new PaneView(c => _c.DrawPane(Pane.Events, c)) { Wheeled = d => { _c.ScrollEvents(d * 3); Redraw(); }, Clicked = (_, _) => Focus(Pane.Events) };
        _debugger = new PaneView(c => _c.DrawPane(Pane.Debugger, c)) { Clicked = (_, _) => Focus(Pane.Debugger) };
        _participants = new PaneView(c => _c.DrawPane(Pane.Participants, c)) { Clicked = (_, y) => { _c.ClickParticipant(y); Redraw(); } };
        _tabs = new PaneView(DrawTabs) { Clicked = (x, _) => ClickTab(x) };
        _status = new PaneView(DrawStatus);
        _help = new PaneView(c => { for (int i = _helpScroll; i < HelpLines.Length; i++) c.Write(1, i - _helpScroll, HelpLines[i], i == 0 ? Panes.Yellow : Panes.Grey); });
        _tooSmall = new PaneView(c => Panes.Wrapped(c, 0, $"Lab needs a terminal of at least {MinWidth}x{MinHeight}; this one is {c.Width}x{c.Height}. Make it larger (F10 quits).", Panes.Yellow));
        _panes = [_screen, _memory, _processes, _events, _debugger, _participants];
        _menu = BuildMenu();
        _window.Add(_menu, _tabs, _screen, _memory, _processes, _events, _debugger, _participants, _help, _status, _tooSmall);
        _app.Keyboard.KeyDown += OnKeyDown;
        _app.ScreenChanged += (_, _) => Relayout();
        _app.Paste += (_, e) =>
        {
            if (_app.TopRunnableView != _window || _tooSmall.Visible) return;   // a dialog's fields take their own pastes
            _c.Paste(e.Text);
            e.Handled = true;
            Redraw();
        };
        _app.AddTimeout(TimeSpan.FromMilliseconds(33), Tick);
        session.Changed += MarkDirty;
    }

    /// <summary>Runs the app on this terminal until the user quits (F10, :quit); returns the exit status.</summary>
    public static int Run(ISessionSource session, bool isLocal)
    {
        IApplication app = Create();
        int code = RunOn(app, session, isLocal);
        // After a hang-up Terminal.Gui's input thread spins on the dead terminal and its Dispose waits
        // for that thread forever: leave it (the process ends right after the cleanup; see Program.cs).
        if (code != HangUpExit) app.Dispose();
        return code;
    }

    /// <summary>The exit status after the terminal hung up (SIGHUP), as a shell reports a process it ended: 128 + 1.</summary>
    public const int HangUpExit = 129;

    /// <summary>`tui connect` without a target: the connect dialog first, then the app (1 if cancelled).</summary>
    public static int RunConnecting(string? name, string? secret, Func<ConnectDialog.Answer, ISessionSource> connect)
    {
        IApplication app = Create();
        int code = 1;
        try
        {
            if (ConnectDialog.Connect(app, name, secret, connect) is not { } session) return code;
            try { return code = RunOn(app, session, isLocal: false); }
            finally { session.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
        }
        finally { if (code != HangUpExit) app.Dispose(); }   // (see Run)
    }

    /// <summary>The Terminal.Gui application, its main loop at 60 iterations a second (the default 25
    /// adds up to 40 ms to every key's echo).</summary>
    private static IApplication Create()
    {
        Application.MaximumIterationsPerSecond = 60;
        var app = Application.Create();
        app.Init();
        return app;
    }

    private static int RunOn(IApplication app, ISessionSource session, bool isLocal)
    {
        var tui = new TuiApp(session, isLocal, app);
        // No Update before Run: it may start hub calls (follow mode, the join code), and only inside Run do their
        // continuations come back to the main loop. The first tick (dirty from the start) applies what has arrived.
        tui.Relayout();
        app.Invoke(() => tui._running = true);
        // A closed terminal (SIGHUP) or a kill (SIGTERM) ends the app as F10 does, so what it owns is
        // cleaned up: `tui local`'s server stops and its data directory goes; a connection leaves its session.
        using var hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, tui.StopOnSignal);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, tui.StopOnSignal);
        app.Run(tui._window);
        session.Changed -= tui.MarkDirty;
        if (tui._hungUp) return HangUpExit;
        tui._window.Dispose();
        return 0;
    }

    /// <summary>SIGHUP or SIGTERM: the process does not die at once; the main loop stops and the callers' cleanup runs.</summary>
    private void StopOnSignal(PosixSignalContext context)
    {
        context.Cancel = true;
        if (context.Signal == PosixSignal.SIGHUP) _hungUp = true;
        _app.Invoke(() => _app.RequestStop(_window));
    }

    private volatile bool _hungUp;

    // ------------------------------------------------------------------------------------------
    // Frames and redrawing.

    /// <summary>A frame arrived or a key came back refused (any thread): the main loop redraws at once,
    /// and the 30 Hz tick catches anything an early Invoke (before the loop ran) missed.</summary>
    private void MarkDirty()
    {
        _dirty = true;
        if (_running) _app.Invoke(() => Tick());
    }

    /// <summary>The main loop's tick: applies what arrived since the last one and redraws, or does
    /// nothing when nothing did (many frames between two ticks cost one redraw) but fade an old message.</summary>
    private bool Tick()
    {
        if (!_dirty)
        {
            // A paused machine sends no frames: its status line's message still goes on time.
            if (_c.FadeMessage()) Redraw();
            return true;
        }
        _dirty = false;
        _c.Update();
        Redraw();
        return true;
    }

    private void Redraw()
    {
        if (_c.QuitRequested) { _app.RequestStop(_window); return; }
        // Lay out again only when something the layout depends on changed (idle frames cost a draw, no layout).
        if (!LayoutShape().Equals(_shape)) Relayout();
        foreach (var v in _window.SubViews.OfType<PaneView>()) v.Refresh();
    }

    /// <summary>What the layout and the panes' titles depend on.</summary>
    private object LayoutShape() => (_app.Screen.Size, _c.Focus, _helpOpen, StatusRows(), _c.VirtualPid, _c.Filter, _c.Search, _c.Mirror.Role, _c.Mirror.Status?.Program);

    private object? _shape;

    /// <summary>After a command or click that awaited the session: redraw on the main loop.</summary>
    private async Task AfterAsync(Task work)
    {
        await work;
        _app.Invoke(Redraw);
    }

    private void Focus(Pane pane)
    {
        _c.FocusPane(pane);
        Redraw();
    }

    // ------------------------------------------------------------------------------------------
    // Layout.

    /// <summary>Places the views for the terminal's size and the focused pane (see the class comment).</summary>
    private void Relayout()
    {
        int w = _app.Screen.Width, h = _app.Screen.Height;
        _shape = LayoutShape();
        bool tooSmall = w < MinWidth || h < MinHeight;
        _tooSmall.Visible = tooSmall;
        _menu.Visible = !tooSmall;
        if (tooSmall)
        {
            foreach (var v in _panes.Append(_tabs).Append(_help).Append(_status)) v.Visible = false;
            Place(_tooSmall, 0, 0, w, h);
            return;
        }
        int statusRows = StatusRows();
        Place(_status, 0, h - statusRows, w, statusRows);
        _status.Visible = true;
        if (_c.Focus is Pane.Memory or Pane.Debugger) _bottomLeft = _c.Focus;
        bool compact = w < WideWidth || h < WideHeight;
        int top = 1, bottom = h - statusRows;
        if (_helpOpen)
        {
            foreach (var v in _panes.Append(_tabs)) v.Visible = false;
            Place(_help, 0, top, w, bottom - top, "help (Esc, Enter or F1 closes; arrows scroll)");
            _help.Visible = true;
            return;
        }
        _help.Visible = false;
        if (compact)
        {
            Place(_tabs, 0, top, w, 1);
            _tabs.Visible = true;
            foreach (var (v, i) in _panes.Select((v, i) => (v, i)))
            {
                v.Visible = (Pane)i == _c.Focus;
                // One pane fills the width: the machine's screen needs all 80 columns and as many rows
                // as there are; the others keep a title line (what they show: the filter, the pid).
                if (v.Visible) Place(v, 0, top + 1, w, bottom - top - 1, (Pane)i == Pane.Screen ? null : Title((Pane)i), titleOnly: true);
            }
            _c.ScreenRows = Math.Min(25, bottom - top - 1);
            return;
        }
        _tabs.Visible = false;
        int screenH = Math.Min(27, bottom - top - 8), sideX = 82;
        Place(_screen, 0, top, 82, screenH, Title(Pane.Screen));
        _c.ScreenRows = screenH - 2;
        int procH = Math.Max(5, (screenH * 2) / 3);
        Place(_processes, sideX, top, w - sideX, procH, Title(Pane.Processes));
        Place(_participants, sideX, top + procH, w - sideX, screenH - procH, Title(Pane.Participants));
        int lowY = top + screenH, lowH = bottom - lowY, leftW = Math.Min(78, w / 2);
        var left = _bottomLeft == Pane.Debugger ? _debugger : _memory;
        var other = left == _debugger ? _memory : _debugger;
        Place(left, 0, lowY, leftW, lowH, Title(_bottomLeft));
        Place(_events, leftW, lowY, w - leftW, lowH, Title(Pane.Events));
        foreach (var v in new[] { _screen, _processes, _participants, left, _events }) v.Visible = true;
        other.Visible = false;
    }

    /// <summary>Places a pane; a title gives it a frame, or only a title line (<paramref name="titleOnly"/>).</summary>
    private static void Place(PaneView v, int x, int y, int width, int height, string? title = null, bool titleOnly = false)
    {
        v.X = x;
        v.Y = y;
        v.Width = Math.Max(0, width);
        v.Height = Math.Max(0, height);
        v.FrameStyle = title is null ? PaneFrame.None : titleOnly ? PaneFrame.TitleLine : PaneFrame.Box;
        v.FrameTitle = title ?? "";
    }

    /// <summary>A pane's title: its function key and name, what it shows, and a marker when it has the focus.</summary>
    private string Title(Pane pane)
    {
        var m = _c.Mirror;
        string what = pane switch
        {
            Pane.Screen => _c.IsPosix ? $"console · {_c.Session.SessionName} · {m.Status?.Program}" : $"CGA · {_c.Session.SessionName}",
            Pane.Memory => _c.VirtualPid > 0 ? $"virtual memory of pid {_c.VirtualPid} (:pmap physical)"
                : _c.IsGuestKernel ? "physical memory (from the page tables; :vmap PID)" : "physical memory (:vmap PID or click a process)",
            Pane.Events => $"events: {_c.Filter}{(_c.Search is { } s ? $" · find '{s}'" : "")}",
            Pane.Debugger => "debugger",
            Pane.Processes => "processes (click or Enter: its memory)",
            _ => "participants" + (_c.Mirror.Role == Role.Instructor ? " (g grant · r revoke · x remove)" : ""),
        };
        return $"{(_c.Focus == pane ? "▶ " : "")}F{(int)pane + 2} {what}";
    }

    // ------------------------------------------------------------------------------------------
    // Keys.

    private void OnKeyDown(object? sender, Key key)
    {
        if (_app.TopRunnableView != _window) return;   // a dialog is open: its keys are its own
        if (_tooSmall.Visible)
        {
            if (key.KeyCode == Terminal.Gui.Drivers.KeyCode.F10) { _app.RequestStop(_window); key.Handled = true; }
            return;
        }
        if (KeyEvent.From(key) is not { } k) return;
        if (_helpOpen)
        {
            key.Handled = true;
            if (k.Code == KeyCode.Up) _helpScroll = Math.Max(0, _helpScroll - 1);
            else if (k.Code == KeyCode.Down) _helpScroll = Math.Min(HelpLines.Length - 1, _helpScroll + 1);
            else if (k.Code is KeyCode.Escape or KeyCode.Enter or KeyCode.F1 or KeyCode.F10 || k.Code == KeyCode.Char && k.Char is 'q' or ' ')
            {
                _helpOpen = false;
            }
            Redraw();
            return;
        }
        var handling = _c.HandleKeyAsync(k);
        if (handling.IsCompleted)
        {
            key.Handled = handling.Result;
            Redraw();
        }
        else
        {
            key.Handled = true;
            _ = AfterAsync(handling);
        }
    }

    /// <summary>The session's information in a dialog; Copy puts it on the clipboard.</summary>
    private void ShowInfo(string text)
    {
        if (MessageBox.Query(_app, "Session", text, "_Copy", "_Close") == 0)
            _c.Say(_app.Clipboard?.TrySetClipboardData(text) == true ? "copied to the clipboard" : "this terminal offers no clipboard: select the text instead");
    }

    private void ClickTab(int x)
    {
        int at = 0;
        for (int i = 0; i < TabNames.Length; i++)
        {
            int width = TabLabel(i).Length;
            if (x >= at && x < at + width) { Focus((Pane)i); return; }
            at += width + 1;
        }
    }

    private static string TabLabel(int i) => $" F{i + 2} {TabNames[i]} ";

    // ------------------------------------------------------------------------------------------
    // Drawing the app's own parts.

    private void DrawTabs(ICanvas c)
    {
        int x = 0;
        for (int i = 0; i < TabNames.Length; i++)
        {
            bool current = (Pane)i == _c.Focus;
            x += c.Write(x, 0, TabLabel(i), current ? Panes.Black : Panes.White, current ? Panes.Yellow : Cell.DefaultColor) + 1;
        }
    }

    /// <summary>Status rows: one, or more when the message would not fit beside the fields.</summary>
    private int StatusRows()
    {
        int w = Math.Max(1, _app.Screen.Width);
        string message = _c.Message;   // a hint never takes a row of its own; a message does
        if (_c.CommandOpen) return message.Length > 0 ? 2 : 1;   // completions above the command line
        // A message never gets cut: it takes as many rows as it needs, up to a third of the terminal.
        return message.Length <= Math.Max(0, w - _c.StatusFields().Length) ? 1 : 1 + Math.Min(Math.Max(3, _app.Screen.Height / 3), (message.Length + w - 1) / w);
    }

    private void DrawStatus(ICanvas c)
    {
        c.Fill(0, 0, c.Width, c.Height, new Cell(' ', Panes.Black, Panes.Grey));
        int y = c.Height - 1;
        if (_c.CommandOpen)
        {
            var line = _c.CommandLine;
            int shift = Math.Max(0, line.Cursor + 2 - c.Width);
            c.Write(0, y, (":" + line.Text).AsSpan(shift), Panes.Black, Panes.Grey);
            c.Put(1 + line.Cursor - shift, y, new Cell(line.Cursor < line.Text.Length ? line.Text[line.Cursor] : ' ', Panes.Grey, Panes.Black));
            if (c.Height > 1) c.Write(0, 0, _c.Message, Panes.Black, Panes.Grey);
            return;
        }
        string fields = _c.StatusFields(), message = _c.StatusMessage(c.Width - fields.Length);
        int n = c.Write(0, y, fields, Panes.Black, Panes.Grey);
        byte fg = _c.MessageIsRefusal ? (byte)4 : (byte)1;
        if (c.Height == 1) c.Write(n, y, message, fg, Panes.Grey);
        else Panes.Wrapped(new SubCanvas(c, new System.Drawing.Rectangle(0, 0, c.Width, c.Height - 1)), 0, message, fg, Panes.Grey);
    }

    private MenuBar BuildMenu()
    {
        MenuItem Do(string text, string command) => new(text, "", () => _ = AfterAsync(_c.RunCommandAsync(command)), null);
        MenuItem Show(string text, Pane pane) => new(text, "", () => Focus(pane), null);
        return new MenuBar(
        [
            new MenuBarItem("_Session",
            [
                Do("_Info (join code, keys)", "info"), Do("_Pause", "pause"), Do("_Resume", "resume"), Do("Re_boot", "reboot"),
                Do("New join _code", "code"), Do("C_lose session…", "close"), Do("_Quit", "quit"),
            ]),
            new MenuBarItem("_View",
            [
                Show("_Screen  F2", Pane.Screen), Show("_Memory  F3", Pane.Memory), Show("Pr_ocesses  F4", Pane.Processes),
                Show("_Events  F5", Pane.Events), Show("_Debugger  F6", Pane.Debugger), Show("P_eople  F7", Pane.Participants),
                Do("P_hysical memory", "pmap"), Do("All event _kinds", "filter all"), Do("Default event _filter", "filter off"),
            ]),
            new MenuBarItem("_Debug",
            [
                Do("_Step", "step"), Do("Step _10", "step 10"), Do("_Continue", "continue"), Do("Break on _fork", "break fork"),
                Do("Break on e_xit", "break exit"), Do("_Registers", "regs"), Do("_Breakpoints", "breaks"), Do("_Delete all breakpoints", "delete all"),
            ]),
            new MenuBarItem("_Help", [new MenuItem("_Keys and commands  F1", "", () => _c.ShowHelp?.Invoke(), null)]),
        ]);
    }

    public static readonly string[] HelpLines =
    [
        "Lab TUI — keys and commands",
        "",
        "  F1 help   F2 screen   F3 memory   F4 processes   F5 events   F6 debugger   F7 people",
        "  F8 command bar (':' too, except on the screen you drive)   F9 menu   F10 quit",
        "",
        "  On the machine's screen, a driver's every key goes to the machine, as in a terminal:",
        "    WeensyOS: a allocator, f fork, e forkexit, q power off",
        "    POSIX console: ':' and Tab are typed; Ctrl+C interrupts, Ctrl+D ends input (of the foreground",
        "    program, as on a Linux tty); arrows and Home/End edit the shell's line; Shift+PgUp/PgDn scroll back",
        "  Elsewhere: Tab / Shift+Tab move between panes, ':' opens the command bar, '?' this help",
        "  Memory: arrows or a click select a page (owner, refcount shown)   Processes: Enter or a click: its map",
        "  Events: arrows, PgUp/PgDn, wheel scroll; End newest; '/' find, n older match, N newer",
        "  People (instructor): arrows or a click select; g grant driving, r revoke, x remove",
        "",
        "Command bar: Enter runs, Esc cancels, Up/Down history, Tab completes",
        "  pause | resume | speed realtime|slow|max|<f>x | reboot [allocator|fork|forkexit] [0..7|cow]",
        "  reboot COMMAND LINE (POSIX: e.g. reboot sh -i)        info (join code, instructor key)",
        "  grant ID|NAME | revoke ID|NAME | remove ID|NAME | code (new join code) | close   (instructor)",
        "  follow memory|vmap|debugger|events|cga [PID] | unfollow   (instructor: everyone's view follows)",
        "  filter off | all | syscalls | pid N (with each syscall's arguments) | kind K",
        "  find TEXT (on the POSIX console's screen: its scrollback; elsewhere: the event log)",
        "    kinds: action syscall fork exit fault track summary system (default: all but syscalls)",
        "  vmap PID (a process's virtual memory) | pmap (physical memory)",
        "Debugger (drivers; everyone sees the result and who did it):",
        "  step [N] | continue | break ADDR | break syscall NAME | break fork|exit|fault [PID]",
        "  delete N|all | breaks | regs | disas [ADDR] | x ADDR [N] | walk ADDR | ps",
        "  quit",
    ];
}

/// <summary>The app's top-level view. It never clears itself: its panes paint every cell they own,
/// and a cleared window would make Terminal.Gui send the whole screen again for every frame.</summary>
internal sealed class LabWindow : Runnable
{
    protected override bool OnClearingViewport() => true;
}
