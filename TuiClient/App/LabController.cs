using Lab.Shared.Wire;

namespace Lab.TuiClient.App;

/// <summary>The panes, in the order of their function keys (F2 screen … F7 participants).</summary>
public enum Pane { Screen, Memory, Processes, Events, Debugger, Participants }

/// <summary>
/// What the app does with keys, clicks, commands and frames, apart from drawing: which pane has the
/// focus, what goes to the machine, the command bar, selections, scrolling, the event filter, follow
/// mode and the message on the status line. The Terminal.Gui views (<see cref="TuiApp"/>) draw its
/// state; tests drive it directly. Runs on the UI thread only (frames arrive through <see cref="Update"/>).
///
/// Keys: on the machine's screen, a participant who may drive sends every key to the machine (':',
/// Tab, Esc, Ctrl+C and Ctrl+D included) except the global function keys: F1 help, F2-F7 panes,
/// F8 command bar, F9 menu, F10 quit. Elsewhere ':' opens the command bar and Tab moves the focus.
/// </summary>
public sealed partial class LabController
{
    private readonly ISessionSource _session;
    private readonly MachineKeys _keys;
    private Role? _lastRole;
    private FollowState? _lastFollow;
    private DebuggerState? _lastDebugger;
    private DateTime _messageAt;
    /// <summary>The last refusal of keys sent in the background (set on a pool thread; <see cref="Update"/> shows it).</summary>
    private string? _keysRefused;

    public LabController(ISessionSource session, bool isLocal)
    {
        _session = session;
        IsLocal = isLocal;
        // The keys go out from a pool thread: the refusal waits for the UI thread's next Update, as a frame does
        // (saying it there would change the message while the main loop draws the status line).
        _keys = new MachineKeys(session, refusal => { Volatile.Write(ref _keysRefused, refusal); StateChanged?.Invoke(); });
    }

    public ISessionSource Session => _session;
    public SessionMirror Mirror => _session.Mirror;
    /// <summary>The machine runs in this process (`tui local`): quitting ends it, so it asks first.</summary>
    public bool IsLocal { get; }
    public Pane Focus { get; private set; } = Pane.Screen;
    public CommandLineEditor CommandLine { get; } = new();
    public bool CommandOpen { get; private set; }
    public string Message { get; private set; } = "";
    public bool MessageIsRefusal { get; private set; }
    public EventFilter Filter { get; private set; } = new();
    /// <summary>0: the memory pane shows physical memory; else this pid's address space.</summary>
    public int VirtualPid { get; private set; }
    public int SelectedPage { get; private set; }
    public int SelectedProcess { get; private set; }
    public int SelectedParticipant { get; private set; }
    /// <summary>Event log lines scrolled back from the newest (0: following the newest).</summary>
    public int EventScroll { get; private set; }
    public string? Search { get; private set; }
    /// <summary>Console lines scrolled back (POSIX), or CGA rows scrolled down (a screen shorter than 25 rows).</summary>
    public int ScreenScroll { get; private set; }
    public ConsoleScrollback Scrollback { get; } = new();
    /// <summary>The console line `find` found last (highlighted; the next find starts above it), or -1.</summary>
    public int ConsoleFound { get; private set; } = -1;
    /// <summary>The last memory map as drawn (for clicks and the selection's range).</summary>
    public Panes.GridLayout MemoryLayout { get; set; }
    /// <summary>The first process row the table showed (for clicks).</summary>
    public int FirstProcessShown { get; private set; }
    /// <summary>Rows the screen pane shows (fewer than 25 on a small terminal).</summary>
    public int ScreenRows { get; set; } = 25;
    public bool QuitRequested { get; private set; }
    /// <summary>The session's information as last asked (the instructor's status line shows its join code).</summary>
    public SessionInfo? Info { get; private set; }
    private bool _infoAsked, _toldRemoved;

    /// <summary>Asks the user yes or no (the app shows a dialog; tests answer directly).</summary>
    public Func<string, string, Task<bool>> Confirm { get; set; } = (_, _) => Task.FromResult(true);
    /// <summary>Shows help, or the session's information (the app opens dialogs).</summary>
    public Action? ShowHelp { get; set; }
    public Action<string>? ShowInfo { get; set; }
    /// <summary>Raised (on any thread) when state changed outside a key or frame, or is waiting for the next
    /// <see cref="Update"/> (a refused key came back): the app calls Update and redraws on its main loop.</summary>
    public Action? StateChanged { get; set; }

    public bool IsPosix => Mirror.Status?.Profile == "posix";
    public bool IsGuestKernel => Mirror.Status?.Profile == "kernel";
    public bool CanDrive => Mirror.Role >= Role.Driver;
    public string? MyId => (_session as RemoteSession)?.Joined?.ParticipantId;

    // ------------------------------------------------------------------------------------------
    // Frames.

    /// <summary>After a frame (or <see cref="StateChanged"/>): a refusal of typed keys, scrollback, follow mode, the debugger
    /// pane on a stop, a changed role; messages that the new state makes stale are replaced.</summary>
    public void Update()
    {
        var m = Mirror;
        if (Interlocked.Exchange(ref _keysRefused, null) is { } refused) Say(refused, refusal: true);
        if (IsPosix)
        {
            int scrolled;
            lock (m.SyncRoot) scrolled = Scrollback.Update(m.Screen);
            if (ScreenScroll > 0) ScreenScroll += scrolled;   // stay on the lines being read
        }
        if (_session.ConnectionStatus.StartsWith("removed", StringComparison.Ordinal) && !_toldRemoved)
        {
            _toldRemoved = true;
            Say($"you were {_session.ConnectionStatus}: you no longer see or drive it (F10 quits)", refusal: true);
        }
        if (m.Role == Role.Instructor && !_infoAsked)
        {
            _infoAsked = true;
            _ = RefreshInfoAsync();
        }
        if (m.Role != _lastRole)
        {
            if (_lastRole is { } was && was != m.Role)
                Say(m.Role switch
                {
                    Role.Driver => "you may drive now: keys on the screen go to the machine",
                    Role.Viewer => "you are a viewer now: you watch, the drivers type",
                    _ => $"you are {m.Role.ToString().ToLowerInvariant()} now",
                });
            _lastRole = m.Role;
        }
        if (m.Follow is { } f && !ReferenceEquals(f, _lastFollow))
        {
            bool wasOn = _lastFollow is { Enabled: true };
            _lastFollow = f;
            if (f.Enabled) _ = ApplyFollowAsync(f);
            else if (wasOn) Say($"{f.By} ended follow mode");
        }
        if (m.Debugger is { } d && !ReferenceEquals(d, _lastDebugger))
        {
            var was = _lastDebugger;
            bool stoppedNow = d.Stopped && (was is not { Stopped: true } || was.Tick != d.Tick || was.Reason != d.Reason);
            _lastDebugger = d;
            string why = $"{d.Reason}{(d.By.Length > 0 ? $" (by {d.By})" : "")}";
            if (stoppedNow)
            {
                Focus = Pane.Debugger;
                Say($"stopped: {why}");
            }
            else if (!d.Stopped && Message.StartsWith("stopped", StringComparison.Ordinal))
                Say($"running: {why}");
        }
        FadeMessage();
    }

    /// <summary>Clears the message once it was shown long enough: a confirmation after 8 s, a refusal after 20 s
    /// (both sooner when something replaces them). True when it did: the status line needs drawing again.</summary>
    public bool FadeMessage()
    {
        if (Message.Length == 0 || DateTime.UtcNow - _messageAt <= TimeSpan.FromSeconds(MessageIsRefusal ? 20 : 8)) return false;
        Message = "";
        return true;
    }

    /// <summary>Follow mode: show what the leader shows (pane and pid), the leader's own view included.</summary>
    private async Task ApplyFollowAsync(FollowState f)
    {
        Say($"following {f.By}: {FollowText(f)}");
        switch (f.Pane)
        {
            case "memory" or "vmap" or "virtual":
                await ShowMemoryAsync(f.Pane == "memory" && f.Pid == 0 ? 0 : f.Pid, quiet: true);
                break;
            case "pmap" or "physical":
                await ShowMemoryAsync(0, quiet: true);
                break;
            case "debugger": Focus = Pane.Debugger; break;
            case "events":
                Focus = Pane.Events;
                Filter = f.Pid > 0 ? new EventFilter(Pid: f.Pid) : new EventFilter();
                EventScroll = 0;
                break;
            case "cga": Focus = Pane.Screen; break;
        }
        // Nothing else redraws a paused machine's panes: the frame answering the view change may
        // have arrived (and been drawn) before this call returned and set VirtualPid.
        StateChanged?.Invoke();
    }

    public static string FollowText(FollowState f) => $"{f.Pane}{(f.Pid > 0 ? $" pid {f.Pid}" : "")}";

    /// <summary>Sets the status line's message (a refusal is shown in red until replaced or 20 s).</summary>
    public void Say(string text, bool refusal = false)
    {
        Message = text;
        MessageIsRefusal = refusal;
        _messageAt = DateTime.UtcNow;
    }

    /// <summary>Draws a pane's content (the app's views and the tests both draw through here).</summary>
    public void DrawPane(Pane pane, ICanvas c)
    {
        var m = Mirror;
        switch (pane)
        {
            case Pane.Screen when IsPosix: Panes.Console(c, Scrollback.WithScreen(), ScreenScroll, ConsoleFound); break;
            case Pane.Screen:
                Panes.Cga(c, m, ScreenScroll);
                if (c.Height < 25)
                {
                    string note = $" rows {ScreenScroll + 1}-{ScreenScroll + c.Height} of 25 · Shift+↑↓ or wheel ";
                    c.Write(Math.Max(0, c.Width - note.Length), c.Height - 1, note, Panes.Black, Panes.Grey);
                }
                break;
            case Pane.Memory:
                MemoryLayout = VirtualPid > 0 ? Panes.VirtualMemory(c, m, VirtualPid, SelectedPage) : Panes.Memory(c, m, SelectedPage);
                break;
            case Pane.Processes: FirstProcessShown = Panes.Processes(c, m, SelectedProcess); break;
            case Pane.Events: Panes.Events(c, m, Filter, EventScroll, Search); break;
            case Pane.Debugger: Panes.Debugger(c, m); break;
            case Pane.Participants: Panes.Participants(c, m, MyId, Focus == Pane.Participants ? SelectedParticipant : -1); break;
        }
    }

    /// <summary>The status line's fields: session (and in a cluster the node that runs it), role, who drives,
    /// speed, state, tick, follow mode, connection.</summary>
    public string StatusFields()
    {
        var m = Mirror;
        var s = m.Status;
        string node = s?.Node is { } name ? $" on node {name}" : "";
        string state = s == null ? "waiting for the first frame" : s.Halted ?? (s.Running ? "running" : "paused");
        var drivers = m.Participants.Where(p => p.Role == Role.Driver).Select(p => p.Name).ToArray();
        string follow = m.Follow is { Enabled: true } f ? $" │ following {f.By}: {FollowText(f)}" : "";
        if (Info is { JoinCode: { } code } && m.Role == Role.Instructor) follow += $" │ code {code}";
        return $" {_session.SessionName}{node} │ {m.Role.ToString().ToLowerInvariant()} │ drivers: {(drivers.Length == 0 ? "-" : string.Join(",", drivers))} │ " +
               $"{s?.Speed ?? "-"} │ {state} │ tick {m.Tick}{follow} │ {_session.ConnectionStatus} │ ";
    }

    /// <summary>The status line's message, or else a hint at the keys that matter where the focus is,
    /// as long a one as fits in <paramref name="room"/> columns.</summary>
    public string StatusMessage(int room = int.MaxValue)
    {
        if (CommandOpen) return "";
        if (Message.Length > 0) return Message;
        string[] hints = CanDrive && Focus == Pane.Screen
            ? ["keys go to the machine · F1 help · F8 command · F10 quit", "F1 help · F8 command · F10 quit", "F1 help"]
            : ["F1 help · : command · Tab/F2-F7 panes · F10 quit", "F1 help · : command · F10 quit", "F1 help"];
        return hints.FirstOrDefault(h => h.Length <= room) ?? "";
    }

    // ------------------------------------------------------------------------------------------
    // Keys.

    /// <summary>Routes a key (see the class comment). Returns false when the key is not the app's
    /// (the menu bar's F9 and Alt+letter go on to Terminal.Gui).</summary>
    public async Task<bool> HandleKeyAsync(KeyEvent key)
    {
        if (CommandOpen) { await CommandBarKeyAsync(key); return true; }
        switch (key.Code)
        {
            case KeyCode.F1: ShowHelp?.Invoke(); return true;
            case >= KeyCode.F2 and <= KeyCode.F7: FocusPane((Pane)(key.Code - KeyCode.F2)); return true;
            case KeyCode.F8: OpenCommandBar(); return true;
            case KeyCode.F10: await QuitAsync(); return true;
            case KeyCode.F9: return false;
        }
        if (key.Modifiers.HasFlag(KeyModifiers.Alt)) return false;   // Alt+letter: the menu bar
        if (Focus == Pane.Screen && CanDrive) return ScreenKey(key);
        if (Focus == Pane.Screen && key.Shift && key.Code is KeyCode.PageUp or KeyCode.PageDown or KeyCode.Up or KeyCode.Down)
            return ScreenKey(key);   // scrolling works for viewers too
        switch (key.Code)
        {
            case KeyCode.Char when key.Char == ':': OpenCommandBar(); return true;
            case KeyCode.Char when key.Char == '?': ShowHelp?.Invoke(); return true;
            case KeyCode.Tab: FocusPane((Pane)(((int)Focus + (key.Shift ? 5 : 1)) % 6)); return true;
            case KeyCode.Ctrl when key.Char is 'c' or 'd':
                Say(Focus == Pane.Screen
                    ? "viewers' keys do not reach the machine; F10 quits"
                    : $"Ctrl+{char.ToUpperInvariant(key.Char)} goes to the machine from its screen (F2); F10 quits");
                return true;
        }
        return Focus switch
        {
            Pane.Memory => MemoryKey(key),
            Pane.Processes => await ProcessKeyAsync(key),
            Pane.Events => EventKey(key),
            Pane.Participants => await ParticipantKeyAsync(key),
            Pane.Screen => await ViewerScreenKeyAsync(key),
            _ => false,
        };
    }

    /// <summary>
    /// A paste (a terminal's bracketed paste): into the command bar when it is open (its first line), to
    /// the machine when its screen is focused and you drive (line ends as Enter, control characters other
    /// than Tab dropped, as a terminal pastes), and otherwise a note saying where pastes go.
    /// </summary>
    public void Paste(string text)
    {
        if (CommandOpen)
        {
            foreach (char ch in text.Split('\n', '\r')[0]) if (!char.IsControl(ch)) CommandLine.Edit(KeyEvent.Printable(ch));
            return;
        }
        if (Focus != Pane.Screen || !CanDrive)
        {
            Say(CanDrive ? "pastes go to the machine's screen (F2) or the command bar (F8)" : "viewers cannot type into the machine: a paste goes nowhere", refusal: true);
            return;
        }
        var clean = new System.Text.StringBuilder(text.Length);
        foreach (char ch in text.Replace("\r\n", "\n").Replace('\r', '\n'))
            if (ch is '\n' or '\t' || !char.IsControl(ch)) clean.Append(ch);
        if (clean.Length == 0) return;
        ScreenScroll = IsPosix ? 0 : ScreenScroll;
        _keys.Send(clean.ToString());
    }

    /// <summary>A driver's key on the machine's screen: to the machine, except Shift+PgUp/PgDn (scroll).</summary>
    private bool ScreenKey(KeyEvent key)
    {
        if (key.Shift && key.Code is KeyCode.PageUp or KeyCode.PageDown or KeyCode.Up or KeyCode.Down)
        {
            int step = key.Code is KeyCode.PageUp or KeyCode.PageDown ? Math.Max(1, ScreenRows - 2) : 1;
            ScrollScreen(key.Code is KeyCode.PageUp or KeyCode.Up ? step : -step);
            return true;
        }
        if (MachineText(key, IsPosix) is not { } text) return false;
        if (IsPosix) (ScreenScroll, ConsoleFound) = (0, -1);   // typing returns the console to its newest line
        _keys.Send(text);
        return true;
    }

    /// <summary>A viewer's key on the screen: sent anyway (the server's refusal says why and how to get driving).</summary>
    private async Task<bool> ViewerScreenKeyAsync(KeyEvent key)
    {
        if (MachineText(key, IsPosix) is not { Length: 1 } text || key.Code != KeyCode.Char) return false;
        try { await _session.KeyAsync(text[0]); }
        catch (CommandFailedException e) { Say(e.Message, refusal: true); }
        return true;
    }

    /// <summary>
    /// What a key sends to the machine: characters as they are, Enter as "\n", Tab, Esc, Backspace as
    /// DEL on a POSIX console (as a Linux terminal's erase character) and BS on WeensyOS, Ctrl+letter as
    /// its control character, and on a POSIX console the cursor and editing keys as an xterm's escape
    /// sequences (line editors such as busybox sh's use them). Null for keys a terminal would not send.
    /// </summary>
    public static string? MachineText(KeyEvent key, bool posix) => key.Code switch
    {
        KeyCode.Char => key.Char.ToString(),
        KeyCode.Enter => "\n",
        KeyCode.Tab => "\t",
        KeyCode.Escape => "\x1b",
        KeyCode.Backspace => posix ? "\x7f" : "\b",
        KeyCode.Ctrl => ((char)(key.Char - 'a' + 1)).ToString(),
        _ when !posix => null,
        KeyCode.Up => "\x1b[A", KeyCode.Down => "\x1b[B", KeyCode.Right => "\x1b[C", KeyCode.Left => "\x1b[D",
        KeyCode.Home => "\x1b[H", KeyCode.End => "\x1b[F", KeyCode.Delete => "\x1b[3~", KeyCode.Insert => "\x1b[2~",
        KeyCode.PageUp => "\x1b[5~", KeyCode.PageDown => "\x1b[6~",
        _ => null,
    };

    /// <summary>Scrolls the screen pane: console scrollback (POSIX) or the CGA rows a small terminal crops.</summary>
    public void ScrollScreen(int lines)
    {
        int max = IsPosix ? Scrollback.Lines.Count : Math.Max(0, 25 - ScreenRows);
        // Positive scrolls back: the console goes up (older lines); the CGA screen moves its view up too.
        ScreenScroll = IsPosix ? Math.Clamp(ScreenScroll + lines, 0, max) : Math.Clamp(ScreenScroll - lines, 0, max);
    }

    public void FocusPane(Pane pane)
    {
        Focus = pane;
        if (pane == Pane.Screen && !CanDrive && Message.Length == 0) Say("you are watching: the instructor can grant you driving");
    }

    private bool MemoryKey(KeyEvent key)
    {
        int count = Math.Max(1, MemoryLayout.Count);
        int moved = key.Code switch
        {
            KeyCode.Left => -1, KeyCode.Right => 1, KeyCode.Up => -64, KeyCode.Down => 64,
            KeyCode.PageUp => -64 * 8, KeyCode.PageDown => 64 * 8, _ => 0,
        };
        if (moved == 0 && key.Code is not (KeyCode.Home or KeyCode.End)) return false;
        SelectedPage = key.Code switch
        {
            KeyCode.Home => 0,
            KeyCode.End => count - 1,
            _ => Math.Clamp(SelectedPage + moved, 0, count - 1),
        };
        return true;
    }

    /// <summary>A click on the memory map selects the page (or cell) under it.</summary>
    public void ClickMemory(int x, int y)
    {
        Focus = Pane.Memory;
        if (MemoryLayout.CellAt(x, y) is { } cell) SelectedPage = cell;
    }

    private async Task<bool> ProcessKeyAsync(KeyEvent key)
    {
        int count = Mirror.Processes.Length;
        switch (key.Code)
        {
            case KeyCode.Up: SelectedProcess = Math.Max(0, SelectedProcess - 1); return true;
            case KeyCode.Down: SelectedProcess = Math.Clamp(SelectedProcess + 1, 0, Math.Max(0, count - 1)); return true;
            case KeyCode.Enter when SelectedProcess < count:
                await ShowMemoryAsync(Mirror.Processes[SelectedProcess].Pid);
                return true;
        }
        return false;
    }

    /// <summary>A click on a process row selects it and shows its virtual memory.</summary>
    public async Task ClickProcessAsync(int y)
    {
        Focus = Pane.Processes;
        int row = FirstProcessShown + y - 1;
        var rows = Mirror.Processes;
        if (y < 1 || row >= rows.Length) return;
        SelectedProcess = row;
        await ShowMemoryAsync(rows[row].Pid);
    }

    private bool EventKey(KeyEvent key)
    {
        int step = key.Code switch { KeyCode.Up => 1, KeyCode.Down => -1, KeyCode.PageUp => 10, KeyCode.PageDown => -10, _ => 0 };
        if (step != 0) { ScrollEvents(step); return true; }
        switch (key.Code)
        {
            case KeyCode.End: EventScroll = 0; return true;
            case KeyCode.Home: EventScroll = int.MaxValue / 2; ScrollEvents(0); return true;
            case KeyCode.Char when key.Char == '/': OpenCommandBar("find "); return true;
            case KeyCode.Char when key.Char is 'n' or 'N' && Search is { } s: FindNext(s, older: key.Char == 'n'); return true;
        }
        return false;
    }

    /// <summary>Scrolls the event log by <paramref name="lines"/> (positive: back in time).</summary>
    public void ScrollEvents(int lines)
    {
        int total = Mirror.Events.Count(Filter.Matches);
        EventScroll = Math.Clamp(EventScroll + lines, 0, Math.Max(0, total - 1));
    }

    /// <summary>Moves the log to the next line containing the search text, older (n) or newer (N).</summary>
    private void FindNext(string text, bool older)
    {
        var passing = Mirror.Events.Where(Filter.Matches).ToArray();
        int at = passing.Length - 1 - EventScroll;
        for (int i = at + (older ? -1 : 1); i >= 0 && i < passing.Length; i += older ? -1 : 1)
            if ($"{passing[i].Tick,6} {EventFilter.KindName(passing[i].Kind),-8} {passing[i].Text}".Contains(text, StringComparison.OrdinalIgnoreCase))
            {
                EventScroll = passing.Length - 1 - i;
                Say($"'{text}' at tick {passing[i].Tick} (n older, N newer)");
                return;
            }
        Say($"no {(older ? "older" : "newer")} event contains '{text}'");
    }

    private async Task<bool> ParticipantKeyAsync(KeyEvent key)
    {
        var list = Mirror.Participants;
        switch (key.Code)
        {
            case KeyCode.Up: SelectedParticipant = Math.Max(0, SelectedParticipant - 1); return true;
            case KeyCode.Down: SelectedParticipant = Math.Clamp(SelectedParticipant + 1, 0, Math.Max(0, list.Length - 1)); return true;
        }
        if (SelectedParticipant >= list.Length) return false;
        string id = list[SelectedParticipant].Id;
        string? command = key.Code switch
        {
            KeyCode.Char when key.Char == 'g' => $"grant {id}",
            KeyCode.Char when key.Char == 'r' => $"revoke {id}",
            KeyCode.Char when key.Char == 'x' => $"remove {id}",
            KeyCode.Delete => $"remove {id}",
            _ => null,
        };
        if (command == null) return false;
        await RunCommandAsync(command);
        return true;
    }

    /// <summary>A click on a participant selects them (for g, r and x).</summary>
    public void ClickParticipant(int y)
    {
        Focus = Pane.Participants;
        if (y >= 0 && y < Mirror.Participants.Length) SelectedParticipant = y;
    }

    private async Task QuitAsync()
    {
        if (IsLocal && !await Confirm("Quit", "Quit tui local? The machine runs in this process and ends with it."))
        {
            Say("still here");
            return;
        }
        QuitRequested = true;
    }
}
