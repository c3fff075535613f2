using Lab.Shared.Wire;
using Lab.TuiClient.Terminal;

namespace Lab.TuiClient.App;

/// <summary>
/// The interactive client: lays out the panes, routes keys (to the machine when the CGA pane has
/// focus and you may drive; to the UI otherwise), runs the ':' command bar, and redraws only what
/// changed. The same app serves `tui connect` (remote session) and `tui local`.
/// </summary>
public sealed class TuiApp
{
    private enum Focus { Cga, Memory, Events }

    private readonly ISessionSource _session;
    private readonly ScreenBuffer _buffer = new(80, 25);
    private Focus _focus = Focus.Cga;
    private bool _showProcesses = true, _showEvents = true, _showMemory = true, _showParticipants = true, _showDebugger;
    private DebuggerState? _lastDebugger;
    private int _virtualPid;                 // 0: the memory pane shows physical memory
    private FollowState? _lastFollow;
    private bool _help;
    private string? _commandLine;
    private string _message = "F1 help · Tab focus · : command · F10 quit";
    private int _selectedPage;
    private int _memoryCells = 1;            // cells in the memory pane as last drawn (the selection's range)
    private EventFilter _filter = new();
    private bool _quit;
    private volatile bool _dirty = true;

    public TuiApp(ISessionSource session)
    {
        _session = session;
        _session.Changed += () => _dirty = true;
    }

    public static readonly string[] HelpLines =
    [
        "Lab TUI — keys",
        "",
        "  Tab          move focus: CGA screen → memory map → event log",
        "  keys         with the CGA screen focused, keys go to the machine (drivers only):",
        "               WeensyOS: a allocator, f fork, e forkexit, q power off",
        "               POSIX console: type a line, Enter sends it, Backspace edits,",
        "               Ctrl+C interrupts the running program, Ctrl+D ends input",
        "  arrows       memory map: move the selected page (owner, refcount shown)",
        "  :            command bar (Enter runs, Esc cancels)",
        "  F1 / ?       this help      F2 processes  F3 events  F4 memory  F5 participants  F6 debugger",
        "  F10, Ctrl+C  quit (on a POSIX console you drive, Ctrl+C goes to the machine: use F10)",
        "",
        "Commands (':'):",
        "  pause | resume | speed realtime|slow|max|<f>x | reboot [allocator|fork|forkexit] [0..7|cow]",
        "  reboot COMMAND LINE (POSIX: e.g. reboot sh -i, reboot t-fork)",
        "  grant ID|NAME | revoke ID|NAME (ids: participants pane) | follow PANE [PID] | unfollow | close  (instructor)",
        "  filter pid N (also shows its every syscall with arguments and results) | filter kind K | filter off",
        "  vmap PID (a process's virtual memory) | pmap (physical memory)",
        "  follow memory|vmap|debugger|events|cga [PID] (instructor: everyone's view follows)",
        "Debugger (drivers; everyone sees the result and who did it):",
        "  step [N] | continue | break ADDR | break syscall NAME | break fork [PID] | break exit [PID]",
        "  break fault [PID] | delete N|all | breaks | regs | disas [ADDR] | x ADDR [N] | walk ADDR | ps",
        "  quit",
        "",
        "Every action is shown to the whole session with who did it.",
        "Press any key to close this help.",
    ];

    public async Task<int> RunAsync(TerminalHost terminal)
    {
        _buffer.Resize(terminal.Width, terminal.Height);
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(33));
        var events = terminal.Events;
        while (!_quit)
        {
            var batch = new List<TerminalEvent>();
            while (events.TryRead(out var ev)) batch.Add(ev);
            for (int i = 0; i < batch.Count; i++)
            {
                switch (batch[i])
                {
                    case KeyPressed k when MachineKey(k.Key) is not null:
                        {
                            // Keys that arrived together (typing ahead, a paste) go as one request, so a
                            // pasted command line is neither reordered nor refused by the key rate limit.
                            var typed = new System.Text.StringBuilder();
                            for (; i < batch.Count && batch[i] is KeyPressed more && MachineKey(more.Key) is { } c; i++) typed.Append(c);
                            i--;
                            await TypeAsync(typed.ToString());
                            break;
                        }
                    case KeyPressed k: await HandleKeyAsync(k.Key); break;
                    case Resized r: _buffer.Resize(r.Width, r.Height); terminal.Invalidate(); break;
                }
                _dirty = true;
            }
            if (events.Completion.IsCompleted) break;
            if (_dirty)
            {
                _dirty = false;
                Draw();
                terminal.Present(_buffer);
            }
            await tick.WaitForNextTickAsync();
        }
        return 0;
    }

    /// <summary>Sets the screen size (the terminal reports it; tests choose one).</summary>
    internal void Resize(int width, int height) => _buffer.Resize(width, height);

    // ------------------------------------------------------------------------------------------
    // Keys.

    internal async Task HandleKeyAsync(KeyEvent key)
    {
        if (_help) { _help = false; return; }
        if (_commandLine != null) { await CommandBarKeyAsync(key); return; }
        if (ConsoleControlKey(key) is { } control)
        {
            // On a POSIX console you drive, Ctrl+C and Ctrl+D belong to the program, as in a terminal.
            try { await _session.KeyAsync(control); }
            catch (CommandFailedException e) { _message = "refused: " + e.Message; }
            return;
        }
        if (key.Code == KeyCode.F10 || (key.Code == KeyCode.Ctrl && key.Char == 'c')) { _quit = true; return; }
        switch (key.Code)
        {
            case KeyCode.F1: _help = true; return;
            case KeyCode.F2: _showProcesses = !_showProcesses; return;
            case KeyCode.F3: _showEvents = !_showEvents; return;
            case KeyCode.F4: _showMemory = !_showMemory; return;
            case KeyCode.F5: _showParticipants = !_showParticipants; return;
            case KeyCode.F6: _showDebugger = !_showDebugger; return;
            case KeyCode.Tab: _focus = (Focus)(((int)_focus + 1) % 3); return;
        }
        if (key.Code == KeyCode.Char && key.Char == ':' ) { _commandLine = ""; return; }
        if (_focus == Focus.Memory)
        {
            int count = Math.Max(1, _memoryCells);
            _selectedPage = key.Code switch
            {
                KeyCode.Left => Math.Max(0, _selectedPage - 1),
                KeyCode.Right => Math.Min(count - 1, _selectedPage + 1),
                KeyCode.Up => Math.Max(0, _selectedPage - 64),
                KeyCode.Down => Math.Min(count - 1, _selectedPage + 64),
                _ => _selectedPage,
            };
            return;
        }
        if (MachineKey(key) is { } c)
        {
            await TypeAsync(c.ToString());
            return;
        }
        if (ConsoleEscape(key) is { } sequence)
        {
            await TypeAsync(sequence);
            return;
        }
        if (key.Code == KeyCode.Char && key.Char == '?') _help = true;
    }

    private async Task CommandBarKeyAsync(KeyEvent key)
    {
        switch (key.Code)
        {
            case KeyCode.Escape: _commandLine = null; return;
            case KeyCode.Backspace:
                _commandLine = _commandLine!.Length > 0 ? _commandLine[..^1] : _commandLine;
                return;
            case KeyCode.Enter:
                string command = _commandLine!.Trim();
                _commandLine = null;
                if (command.Length > 0) await RunCommandAsync(command);
                return;
            case KeyCode.Char:
                if (_commandLine!.Length < 200) _commandLine += key.Char;
                return;
        }
    }

    /// <summary>Client-side commands (quit, filter) run here; everything else goes to the session.</summary>
    internal async Task RunCommandAsync(string command)
    {
        var words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        switch (words[0].ToLowerInvariant())
        {
            case "quit" or "q" or "exit":
                _quit = true;
                return;
            case "help":
                _help = true;
                return;
            case "vmap" when words.Length == 2 && int.TryParse(words[1], out int vpid) && vpid > 0:
                await ShowVirtualAsync(vpid);
                return;
            case "pmap":
                await ShowVirtualAsync(0);
                return;
            case "filter":
                _filter = words switch
                {
                    [_, "off"] or [_] => new EventFilter(),
                    [_, "pid", var p] when int.TryParse(p, out int pid) => new EventFilter(Pid: pid),
                    [_, "kind", var k] when Enum.TryParse<EventKind>(k, true, out var kind) => new EventFilter(Kind: kind),
                    _ => _filter,
                };
                _message = $"event filter: {_filter}";
                // A pid filter also asks for that pid's every system call, with arguments and results.
                try { await _session.WatchAsync(_filter.Pid is { } watched ? [watched] : []); }
                catch (CommandFailedException e) { _message = "refused: " + e.Message; }
                return;
        }
        try { _message = await _session.CommandAsync(command); }
        catch (CommandFailedException e) { _message = "refused: " + e.Message; }
    }

    private async Task ShowVirtualAsync(int pid)
    {
        try
        {
            await _session.ViewMemoryAsync(pid);
            _virtualPid = pid;
            _showMemory = true;
            _showDebugger = false;
            _message = pid > 0 ? $"virtual memory of pid {pid}" : "physical memory";
        }
        catch (CommandFailedException e) { _message = "refused: " + e.Message; }
    }

    /// <summary>Follow mode: when someone else leads, show what they show (pane and pid).</summary>
    private void ApplyFollow(SessionMirror m)
    {
        var f = m.Follow;
        if (f == null || ReferenceEquals(f, _lastFollow)) return;
        _lastFollow = f;
        if (!f.Enabled || f.By == MyName(m)) return;   // the leader's own view is already what it shows
        switch (f.Pane)
        {
            case "memory" or "vmap" or "virtual":
                _ = ShowVirtualAsync(f.Pane == "memory" && f.Pid == 0 ? 0 : f.Pid);
                break;
            case "pmap" or "physical":
                _ = ShowVirtualAsync(0);
                break;
            case "debugger":
                _showDebugger = true;
                break;
            case "events":
                _showEvents = true;
                _filter = f.Pid > 0 ? new EventFilter(Pid: f.Pid) : new EventFilter();
                break;
            case "cga":
                _focus = Focus.Cga;
                break;
        }
        _message = $"following {f.By}: {f.Pane}{(f.Pid > 0 ? $" pid {f.Pid}" : "")}";
    }

    private string? MyName(SessionMirror m) => _session is RemoteSession r ? r.Joined?.Name : null;

    // ------------------------------------------------------------------------------------------
    // Drawing.

    internal ScreenBuffer Draw()
    {
        var m = _session.Mirror;
        ApplyFollow(m);
        _buffer.Clear();
        int w = _buffer.Width, h = _buffer.Height;
        if (_help)
        {
            for (int i = 0; i < HelpLines.Length; i++) _buffer.Write(1, i, HelpLines[i], i == 0 ? Panes.Yellow : Panes.Grey, maxWidth: w - 2);
            DrawStatus(m);
            return _buffer;
        }
        // CGA screen top-left (80x25 plus a title line); side column to its right; bottom row of panes below.
        var cga = Panes.Box(_buffer, new Rect(0, 0, Math.Min(80, w), Math.Min(26, h - 1)),
            FollowTitle(m, IsPosix ? $"console · {_session.SessionName} · {m.Status?.Program}" : $"CGA · {_session.SessionName}"), _focus == Focus.Cga);
        Panes.Cga(_buffer, cga, m);
        int sideX = 81, sideW = w - sideX;
        if (sideW >= 20)
        {
            int y = 0;
            if (_showProcesses)
            {
                int height = Math.Min(18, h - 1);
                Panes.Processes(_buffer, Panes.Box(_buffer, new Rect(sideX, y, sideW, height), "processes", false), m);
                y += height;
            }
            if (_showParticipants && y < h - 2)
            {
                int height = Math.Min(8, h - 1 - y);
                Panes.Participants(_buffer, Panes.Box(_buffer, new Rect(sideX, y, sideW, height), "participants", false), m);
            }
        }
        int bottomY = 26, bottomH = h - 1 - bottomY;
        // The debugger pane appears by itself when the machine stops for the debugger.
        if (m.Debugger is { } dbg && !ReferenceEquals(dbg, _lastDebugger))
        {
            if (dbg.Stopped) _showDebugger = true;
            _lastDebugger = dbg;
        }
        if (bottomH >= 3)
        {
            int x = 0;
            if (_showDebugger)
            {
                int dw = Math.Min(90, w);
                Panes.Debugger(_buffer, Panes.Box(_buffer, new Rect(0, bottomY, dw, bottomH), "debugger (F6)", false), m);
                x = dw + 1;
            }
            else if (_showMemory)
            {
                int mw = Math.Min(74, w);
                if (_virtualPid > 0)
                {
                    var inner = Panes.Box(_buffer, new Rect(0, bottomY, mw, Math.Min(bottomH, 15)), $"virtual memory of pid {_virtualPid} (:pmap for physical)", _focus == Focus.Memory);
                    _memoryCells = Panes.VirtualMemory(_buffer, inner, m, _virtualPid, _selectedPage);
                }
                else
                {
                    var inner = Panes.Box(_buffer, new Rect(0, bottomY, mw, Math.Min(bottomH, IsPosix ? 20 : 11)), IsGuestKernel ? "physical memory (from the page tables; :vmap PID for an address space)" : "physical memory (pageinfo; :vmap PID for a process)", _focus == Focus.Memory);
                    _memoryCells = Panes.Memory(_buffer, inner, m, _selectedPage);
                }
                x = mw + 1;
            }
            if (_showEvents && w - x >= 20)
                Panes.Events(_buffer, Panes.Box(_buffer, new Rect(x, bottomY, w - x, bottomH), $"events ({_filter})", _focus == Focus.Events), m, _filter);
        }
        DrawStatus(m);
        return _buffer;
    }

    private bool IsPosix => _session.Mirror.Status?.Profile == "posix";
    private bool IsGuestKernel => _session.Mirror.Status?.Profile == "kernel";

    /// <summary>The character a key sends to the machine (CGA or console pane focused, no help or
    /// command bar open; ':' opens the command bar instead), or null when the key is for the UI.</summary>
    private char? MachineKey(KeyEvent key)
    {
        if (_help || _commandLine != null || _focus != Focus.Cga) return null;
        return key.Code switch
        {
            KeyCode.Char when key.Char != ':' => key.Char,
            KeyCode.Enter => '\n',
            KeyCode.Escape => '\x1b',
            KeyCode.Backspace when IsPosix => '\x7f',
            _ => null,
        };
    }

    /// <summary>The escape sequence a terminal (xterm, in normal cursor mode) sends for a cursor or
    /// editing key, for a POSIX console you drive with the console focused: line editors such as
    /// busybox sh's move and recall history with them. Null for other keys.</summary>
    private string? ConsoleEscape(KeyEvent key)
    {
        if (_help || _commandLine != null || _focus != Focus.Cga || !IsPosix) return null;
        return key.Code switch
        {
            KeyCode.Up => "\x1b[A", KeyCode.Down => "\x1b[B", KeyCode.Right => "\x1b[C", KeyCode.Left => "\x1b[D",
            KeyCode.Home => "\x1b[H", KeyCode.End => "\x1b[F", KeyCode.Delete => "\x1b[3~",
            KeyCode.PageUp => "\x1b[5~", KeyCode.PageDown => "\x1b[6~",
            _ => null,
        };
    }

    /// <summary>Sends keys to the machine: one key as a key, several as one typed run.</summary>
    private async Task TypeAsync(string keys)
    {
        try
        {
            if (keys.Length == 1) await _session.KeyAsync(keys[0]);
            else await _session.TypeAsync(keys);
        }
        catch (CommandFailedException e) { _message = "refused: " + e.Message; }
    }

    /// <summary>Ctrl+C / Ctrl+D as console characters when they go to a POSIX machine (console focused, you drive); else null.</summary>
    private char? ConsoleControlKey(KeyEvent key) =>
        key.Code == KeyCode.Ctrl && key.Char is 'c' or 'd' && _focus == Focus.Cga && IsPosix && _session.Mirror.Role != Role.Viewer
            ? (char)(key.Char - 'a' + 1) : null;

    private static string FollowTitle(SessionMirror m, string title) =>
        m.Follow is { Enabled: true } f ? $"{title} · following {f.By}: {f.Pane}{(f.Pid > 0 ? $" pid {f.Pid}" : "")}" : title;

    /// <summary>The last row: session, role, tick, speed, running or paused, connection, and the message or command bar.</summary>
    private void DrawStatus(SessionMirror m)
    {
        int y = _buffer.Height - 1;
        _buffer.Fill(0, y, _buffer.Width, 1, new Cell(' ', Panes.Black, 7));
        if (_commandLine != null)
        {
            _buffer.Write(0, y, ":" + _commandLine + "█", Panes.Black, 7, maxWidth: _buffer.Width);
            return;
        }
        var s = m.Status;
        string state = s == null ? "waiting for the first frame" : s.Halted ?? (s.Running ? "running" : "paused");
        string left = $" {_session.SessionName} │ {m.Role.ToString().ToLowerInvariant()} │ tick {m.Tick} │ {s?.Speed ?? "-"} │ {state} │ {_session.ConnectionStatus} │ ";
        int n = _buffer.Write(0, y, left, Panes.Black, 7);
        _buffer.Write(n, y, _message, 1, 7, maxWidth: _buffer.Width - n);
    }
}
