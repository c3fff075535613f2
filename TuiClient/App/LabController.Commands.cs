using Lab.Shared.Wire;

namespace Lab.TuiClient.App;

/// <summary>The command bar: client-side commands run here (quit, help, vmap, filter, find, info),
/// the rest go to the session, which answers with a confirmation or a refusal.</summary>
public sealed partial class LabController
{
    /// <summary>Every command word, for completion and help.</summary>
    public static readonly string[] Verbs =
    [
        "pause", "resume", "speed", "reboot", "grant", "revoke", "remove", "code", "info", "follow", "unfollow", "close",
        "filter", "find", "vmap", "pmap", "step", "continue", "break", "delete", "breaks", "regs", "disas", "x", "walk", "ps",
        "help", "quit",
    ];

    public void OpenCommandBar(string text = "")
    {
        CommandOpen = true;
        CommandLine.Start(text);
        Message = "";   // what was said before is stale once a new command is being typed
    }

    private async Task CommandBarKeyAsync(KeyEvent key)
    {
        switch (key.Code)
        {
            case KeyCode.Escape: CommandOpen = false; return;
            case KeyCode.Ctrl when key.Char is 'c' or 'g': CommandOpen = false; return;
            case KeyCode.Enter:
                CommandOpen = false;
                string command = CommandLine.Submit();
                if (command.Length > 0) await RunCommandAsync(command);
                return;
            case KeyCode.Tab:
                var matches = CommandLine.Complete(Candidates);
                if (matches.Count > 1) Say(string.Join("  ", matches));
                else if (matches.Count == 0) Say("no completion");
                return;
        }
        CommandLine.Edit(key);
    }

    /// <summary>What may come next after <paramref name="words"/> (the words before the one being completed).</summary>
    private IEnumerable<string> Candidates(string[] words)
    {
        var m = Mirror;
        IEnumerable<string> Pids() => m.Processes.Select(p => p.Pid.ToString());
        IEnumerable<string> People() => m.Participants.SelectMany(p => new[] { p.Id, p.Name });
        return words switch
        {
            [] => Verbs,
            ["follow"] => Lab.Server.Hubs.LabHub.FollowPanes,
            ["follow", _] or ["vmap"] or ["filter", "pid"] => Pids(),
            ["filter"] => ["pid", "kind", "all", "syscalls", "off"],
            ["filter", "kind"] => EventFilter.Kinds.Select(k => k.Name),
            ["grant" or "revoke" or "remove"] => People(),
            ["speed"] => ["realtime", "slow", "max", "0.5x", "2x"],
            ["break"] => ["syscall", "fork", "exit", "fault"],
            ["break", "fork" or "exit" or "fault"] => Pids(),
            ["reboot"] when !IsPosix && !IsGuestKernel => ["allocator", "fork", "forkexit"],
            ["reboot", _] when !IsPosix && !IsGuestKernel => ["0", "1", "2", "3", "4", "5", "6", "7", "cow"],
            _ => [],
        };
    }

    /// <summary>Runs a command line: client-side ones here, the rest by the session (its answer or
    /// refusal goes to the status line).</summary>
    public async Task RunCommandAsync(string command)
    {
        var words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0) return;
        switch (words[0].ToLowerInvariant())
        {
            case "quit" or "q" or "exit":
                await QuitAsync();
                return;
            case "help" or "?":
                ShowHelp?.Invoke();
                return;
            case "vmap":
                if (words.Length != 2 || !int.TryParse(words[1], out int vpid) || vpid <= 0)
                {
                    Say("usage: vmap PID (a process's virtual memory; pmap for physical)", refusal: true);
                    return;
                }
                await ShowMemoryAsync(vpid);
                return;
            case "pmap":
                await ShowMemoryAsync(0);
                return;
            case "filter":
                await FilterAsync(words);
                return;
            case "find" or "search":
                if (words.Length < 2) { Search = null; Say("search cleared"); return; }
                Search = string.Join(' ', words[1..]);
                if (Focus == Pane.Screen && IsPosix) { FindInConsole(Search); return; }
                Focus = Pane.Events;
                EventScroll = 0;
                FindNext(Search, older: true);
                return;
            case "info":
                await InfoAsync();
                return;
            case "close" when !await Confirm("Close the session", $"Close {_session.SessionName} for everyone? Its machine stops and everyone is disconnected."):
                Say("the session stays open");
                return;
            case "remove" when words.Length == 2 && !await Confirm("Remove a participant", $"Remove {words[1]} from {_session.SessionName}?"):
                Say($"{words[1]} stays");
                return;
        }
        try
        {
            string answer = await _session.CommandAsync(command);
            Say(answer);
            if (words[0].Equals("code", StringComparison.OrdinalIgnoreCase)) await RefreshInfoAsync();
            // The leader's own view follows too (everyone else's moves with the next frame).
            if (words[0].Equals("follow", StringComparison.OrdinalIgnoreCase) && words.Length >= 2)
                await ApplyFollowAsync(new FollowState(true, words[1].ToLowerInvariant(), words.Length > 2 && int.TryParse(words[2], out int fp) ? fp : 0, "you"));
        }
        catch (CommandFailedException e) { Say(e.Message, refusal: true); }
    }

    private async Task FilterAsync(string[] words)
    {
        EventFilter? filter = words switch
        {
            [_] or [_, "off"] => new EventFilter(),
            [_, "all"] => new EventFilter(AllKinds: true),
            [_, "syscalls"] => new EventFilter(Kind: EventKind.Syscall),
            [_, "pid", var p] when int.TryParse(p, out int pid) && pid > 0 => new EventFilter(Pid: pid),
            [_, "kind", var k] when EventFilter.ParseKind(k) is { } kind => new EventFilter(Kind: kind),
            _ => null,
        };
        if (filter == null)
        {
            string kinds = string.Join(", ", EventFilter.Kinds.Select(k => k.Name));
            Say(words is [_, "kind", var bad]
                ? $"no event kind '{bad}' (kinds: {kinds})"
                : $"usage: filter off | all | syscalls | pid N | kind K (kinds: {kinds})", refusal: true);
            return;
        }
        // A pid that has exited still has its past events to read (a fork child's whole life, say).
        bool exited = false;
        if (filter.Pid is { } watched && Mirror.Processes.All(p => p.Pid != watched))
        {
            if (Mirror.Events.All(e => e.Pid != watched))
            {
                Say($"no such process {watched} (processes: {string.Join(" ", Mirror.Processes.Select(p => p.Pid))}; no events of it either)", refusal: true);
                return;
            }
            exited = true;
        }
        Filter = filter;
        EventScroll = 0;
        Focus = Pane.Events;
        Say($"event log: {Filter}{(exited ? " (no such process now: its past events, and its calls if the pid comes back)" : "")}");
        // A pid filter also asks for that pid's every system call, with arguments and results.
        try { await _session.WatchAsync(Filter.Pid is { } pid2 ? [pid2] : []); }
        catch (CommandFailedException e) { Say(e.Message, refusal: true); }
    }

    /// <summary>Shows physical memory (pid 0) or a process's address space in the memory pane.</summary>
    public async Task ShowMemoryAsync(int pid, bool quiet = false)
    {
        try
        {
            await _session.ViewMemoryAsync(pid);
            VirtualPid = pid;
            SelectedPage = 0;
            Focus = Pane.Memory;
            if (!quiet) Say(pid > 0 ? $"virtual memory of pid {pid}" : "physical memory");
        }
        catch (CommandFailedException e) { Say(e.Message, refusal: true); }
    }

    /// <summary>`find TEXT` on the console: scrolls back to the next older line containing the text (from
    /// the lowest line in view), so running it again goes further back.</summary>
    private void FindInConsole(string text)
    {
        var lines = Scrollback.WithScreen();
        int newest = Panes.NewestLine(lines, ScreenRows);
        int from = ConsoleFound >= 0 && ConsoleFound < lines.Count ? ConsoleFound : newest - ScreenScroll + 1;
        for (int i = from - 1; i >= 0; i--)
            if (Panes.LineText(lines[i]).Contains(text, StringComparison.OrdinalIgnoreCase))
            {
                ConsoleFound = i;
                ScreenScroll = newest - i;   // the line found at the bottom (or as low as the oldest line allows)
                Say($"'{text}' on line {i + 1} of {lines.Count} (find again goes further back; typing returns)");
                return;
            }
        Say($"no older console line contains '{text}'");
    }

    /// <summary>Asks the session for its information again (at the start, for the instructor, and after `code`).</summary>
    private async Task RefreshInfoAsync()
    {
        try { Info = await _session.InfoAsync(); }
        catch (CommandFailedException) { }   // the status line simply shows no join code
        StateChanged?.Invoke();
    }

    /// <summary>`info`: the session, your role and, for the instructor, the join code and instructor key
    /// with the commands that use them, in a dialog (which can copy them).</summary>
    private async Task InfoAsync()
    {
        try
        {
            Info = await _session.InfoAsync();
            ShowInfo?.Invoke(InfoText(Info));
        }
        catch (CommandFailedException e) { Say(e.Message, refusal: true); }
    }

    /// <summary>The info dialog's text.</summary>
    public string InfoText(SessionInfo i)
    {
        string target = (_session as RemoteSession)?.Target ?? $"HOST/{i.Session}";
        var lines = new List<string>
        {
            $"session:        {i.Session} ({i.Profile}: {i.Program}{(i.Profile == "weensyos" ? $" at step {i.Step}" : "")}, {(i.Private ? "private" : "public")})",
            $"you:            {i.Name} ({i.ParticipantId}), {i.Role.ToString().ToLowerInvariant()}",
        };
        if (i.JoinCode is { } code) lines.Add($"join code:      {code}   students: tui connect {target} --code {code}");
        else if (!i.Private) lines.Add($"join code:      none (public: tui connect {target})");
        if (i.InstructorKey is { } key) lines.Add($"instructor key: {key}   (keep it secret: tui connect {target} --key {key})");
        return string.Join("\n", lines);
    }
}

/// <summary>
/// Keys on their way to the machine, in order and in as few requests as the typing allows: keys that
/// arrive while a request is in flight, or within <see cref="MinGap"/> of the last one, go together. A
/// terminal hands the app a fast burst (an unbracketed paste, typing ahead) a key or a few at a time,
/// and sent one by one those would run into the server's key rate limit (30 a second) and be refused;
/// a key typed after a pause goes at once.
/// </summary>
internal sealed class MachineKeys(ISessionSource session, Action<string> refused)
{
    /// <summary>At most 20 requests a second: well inside the server's 30 keys a second.</summary>
    private static readonly TimeSpan MinGap = TimeSpan.FromMilliseconds(50);
    private readonly System.Text.StringBuilder _pending = new();
    private bool _sending;
    private DateTime _lastSent = DateTime.MinValue;

    public void Send(string text)
    {
        lock (_pending)
        {
            _pending.Append(text);
            if (_sending) return;
            _sending = true;
        }
        _ = Task.Run(DrainAsync);
    }

    private async Task DrainAsync()
    {
        while (true)
        {
            // Close behind the last request: let the burst gather first.
            var wait = _lastSent + MinGap - DateTime.UtcNow;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            string keys;
            lock (_pending)
            {
                if (_pending.Length == 0) { _sending = false; return; }
                keys = _pending.ToString(0, Math.Min(_pending.Length, Lab.Server.Hubs.LabHub.MaxTypedKeys));
                _pending.Remove(0, keys.Length);
            }
            _lastSent = DateTime.UtcNow;
            try
            {
                if (keys.Length == 1) await session.KeyAsync(keys[0]);
                else await session.TypeAsync(keys);
            }
            catch (CommandFailedException e) { refused(e.Message); }
        }
    }
}
