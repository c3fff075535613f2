using Lab.Machine;
using System.Diagnostics;
using System.Threading.Channels;
using Lab.Kernel.Common;
using Lab.Shared.Wire;

namespace Lab.Server.Sessions;

/// <summary>
/// One lab session: a machine (WeensyOS or POSIX, see <see cref="SessionMachine"/>), its participants and their roles, and the event log.
/// The machine belongs to the session's own loop thread (not a thread-pool work item): it runs
/// the machine at the chosen speed, applies commands from a bounded channel between slices, and
/// publishes an immutable <see cref="SessionSnapshot"/> that client senders read without locks.
/// </summary>
public sealed partial class LabSession : IDisposable
{
    private const int EventRingSize = 2048;
    private static readonly TimeSpan PublishInterval = TimeSpan.FromMilliseconds(16);
    private static readonly TimeSpan UnthrottledSlice = TimeSpan.FromMilliseconds(15);

    private readonly Channel<SessionCommand> _commands =
        Channel.CreateBounded<SessionCommand>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Thread _thread;
    private readonly ILogger _log;
    private readonly object _stateLock = new();
    private readonly LabEvent?[] _events = new LabEvent?[EventRingSize];
    private long _eventSeq;
    private FollowState _follow = new(false, "", 0, "");
    private volatile bool _closing;
    private volatile SessionSnapshot _latest;
    private SessionMachine _machine;
    private bool _running;
    private long _snapshotVersion;
    private ProcessRow[] _lastProcesses = [];

    /// <summary>Bumped whenever anything a client sees changes (machine snapshot, participants, follow, events).</summary>
    public ChangeSignal Changed { get; } = new();
    /// <summary>Bumped when the participant list changes.</summary>
    public long ParticipantsVersion { get; private set; }
    public long FollowVersion { get; private set; }

    private SessionSettings _settings;
    /// <summary>The session's settings as they are now. Changed only through <see cref="UpdateSettings"/>
    /// (the loop changes speed and pause, hub threads the join code): no change is lost to another.</summary>
    public SessionSettings Settings => Volatile.Read(ref _settings);

    /// <summary>Applies <paramref name="change"/> to the settings atomically (any thread).</summary>
    private void UpdateSettings(Func<SessionSettings, SessionSettings> change)
    {
        while (true)
        {
            var before = Settings;
            if (ReferenceEquals(Interlocked.CompareExchange(ref _settings, change(before), before), before)) return;
        }
    }
    public string Name => Settings.Name;
    public DateTime LastActivityUtc { get; private set; } = DateTime.UtcNow;
    public SessionSnapshot Latest => _latest;

    public LabSession(SessionSettings settings, Stream? restoreState, ILogger log, ExecutionTier? tier = null)
    {
        _tier = tier;
        _settings = settings with { Roster = null };
        LoadRoster(settings.Roster);
        _log = log;
        _machine = SessionMachine.Create(settings, tier);
        if (restoreState != null)
        {
            // A state that cannot be restored is refused (the manager says so and keeps the files), never
            // silently replaced by a fresh machine: that would lose the student's work without a word.
            try
            {
                _machine.RestoreState(restoreState);
            }
            catch (Exception e)
            {
                _machine.Dispose();
                throw new InvalidDataException($"its saved machine cannot be restored ({e.GetType().Name}: {e.Message})", e);
            }
        }
        _running = !settings.Paused;
        _machine.Observer = OnKernelEvent;
        _latest = BuildSnapshot();
        _thread = new Thread(Loop) { IsBackground = true, Name = $"session {settings.Name}" };
        _thread.Start();
    }

    // ------------------------------------------------------------------------------------------
    // Participants and roles: LabSession.Participants.cs.

    // A refused action goes to the log once per participant and action per RefusalWindow; repeats
    // are counted into the next line (a viewer holding a key down must not bury the real events).
    private static readonly TimeSpan RefusalWindow = TimeSpan.FromSeconds(10);
    private readonly Dictionary<(string Name, string Action), (DateTime LoggedAt, int Suppressed)> _refusals = new();

    /// <summary>Logs that <paramref name="name"/> tried something their role does not allow (summarised).</summary>
    public void LogRefusal(string name, string action, Role role)
    {
        int suppressed;
        lock (_stateLock)
        {
            var now = DateTime.UtcNow;
            var key = (name, action);
            if (_refusals.TryGetValue(key, out var last) && now - last.LoggedAt < RefusalWindow)
            {
                _refusals[key] = last with { Suppressed = last.Suppressed + 1 };
                return;
            }
            if (_refusals.Count > 256) _refusals.Clear();
            suppressed = last.Suppressed;
            _refusals[key] = (now, 0);
        }
        Log(EventKind.Action, 0, $"{name} tried to {action} (refused: {role.ToString().ToLowerInvariant()})"
            + (suppressed > 0 ? $"; {suppressed} more attempts refused before this" : ""));
    }

    public FollowState Follow { get { lock (_stateLock) return _follow; } }

    public void SetFollow(FollowState follow)
    {
        lock (_stateLock)
        {
            _follow = follow;
            FollowVersion++;
        }
        Log(EventKind.Action, 0, follow.Enabled ? $"{follow.By} is showing {follow.Pane}{(follow.Pid > 0 ? $" of pid {follow.Pid}" : "")} to everyone" : $"{follow.By} stopped follow mode");
    }

    // ------------------------------------------------------------------------------------------
    // Event log.

    /// <summary>Appends an event (any thread) and wakes the senders.</summary>
    public void Log(EventKind kind, int pid, string text)
    {
        lock (_stateLock)
        {
            long seq = ++_eventSeq;
            _events[seq % EventRingSize] = new LabEvent(seq, _latest?.Tick ?? 0, kind, pid, text);
        }
        Changed.Bump();
    }

    public long LastEventSeq { get { lock (_stateLock) return _eventSeq; } }

    /// <summary>Events after <paramref name="afterSeq"/> (at most the ring's size; older ones are summarised).</summary>
    public LabEvent[] EventsSince(long afterSeq, int max = 256)
    {
        lock (_stateLock)
        {
            if (afterSeq >= _eventSeq) return [];
            long first = Math.Max(afterSeq + 1, _eventSeq - Math.Min(max, EventRingSize - 1) + 1);
            var list = new List<LabEvent>();
            if (first > afterSeq + 1)
                list.Add(new LabEvent(first - 1, _latest.Tick, EventKind.System, 0, $"({first - 1 - afterSeq} earlier events not shown)"));
            for (long s = first; s <= _eventSeq; s++)
                if (_events[s % EventRingSize] is { } e) list.Add(e);
            return list.ToArray();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Commands.

    /// <summary>Typed input that may wait for the machine to read it (queued keys, the console's
    /// unread input, the line being edited): beyond it typing is refused.</summary>
    public const int MaxPendingInput = 64 * 1024;
    private int _queuedInput;          // characters in KeyCommands not yet applied (hub threads add, the loop subtracts)
    private volatile int _machineInput; // what the machine holds unread, as the loop last saw it

    /// <summary>Reserves room for <paramref name="chars"/> typed characters; false when the input is full.</summary>
    public bool TryReserveInput(int chars)
    {
        if (Interlocked.Add(ref _queuedInput, chars) + _machineInput <= MaxPendingInput) return true;
        Interlocked.Add(ref _queuedInput, -chars);
        return false;
    }

    public void ReleaseInput(int chars) => Interlocked.Add(ref _queuedInput, -chars);

    /// <summary>Queues a command for the loop. False when the queue is full (the caller is told to slow down).</summary>
    public bool Post(SessionCommand command)
    {
        LastActivityUtc = DateTime.UtcNow;
        if (!_commands.Writer.TryWrite(command)) return false;
        _commandPosted.Set();
        return true;
    }

    /// <summary>Saves the machine on the loop thread (for persistence): <paramref name="store"/> runs
    /// there with the machine's streaming save, which it points at its file, so nothing the size of
    /// the machine is built in memory. False when the queue is full or it did not finish in time. A machine
    /// unchanged since its last snapshot is not written again unless <paramref name="force"/>.</summary>
    public async Task<bool> SaveStateAsync(Action<Action<Stream>> store, TimeSpan timeout, bool final = false, bool force = false)
    {
        var tcs = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_commands.Writer.TryWrite(new SaveCommand(store, tcs, final, force))) return false;
        _commandPosted.Set();
        try { return await tcs.Task.WaitAsync(timeout); }
        catch (TimeoutException) { return false; }
    }

    // ------------------------------------------------------------------------------------------
    // The loop (session thread only below this line).

    private void Loop()
    {
        var clock = Stopwatch.StartNew();
        double nextTickAt = 0;
        TimeSpan lastPublish = TimeSpan.Zero;
        try
        {
            while (!_closing)
            {
                while (_commands.Reader.TryRead(out var command)) Apply(command);
                bool halted = _machine.Halted;
                if (!_running || halted || _machine.WaitingForInput)
                {
                    MaybePublish(clock, ref lastPublish, force: false);
                    WaitForCommand(TimeSpan.FromMilliseconds(50));
                    nextTickAt = clock.Elapsed.TotalSeconds;
                    continue;
                }
                double tps = Settings.TicksPerSecond;
                ulong perTick = _machine.InstructionsPerTick;
                if (tps <= 0)
                {
                    // Unthrottled: tick-sized slices for up to UnthrottledSlice of wall time, so commands
                    // (a Ctrl-C, a pause) and frames keep flowing however heavy the guest's work is.
                    var sliceStart = clock.Elapsed;
                    do RunSlice(perTick);
                    while (_running && !_machine.Halted && !_machine.WaitingForInput && _commands.Reader.Count == 0
                           && clock.Elapsed - sliceStart < UnthrottledSlice);
                }
                else
                {
                    double now = clock.Elapsed.TotalSeconds;
                    if (now < nextTickAt)
                    {
                        MaybePublish(clock, ref lastPublish, force: false);
                        double wait = nextTickAt - clock.Elapsed.TotalSeconds;
                        if (wait > 0) WaitForCommand(TimeSpan.FromSeconds(Math.Min(wait, 0.05)));
                        continue;
                    }
                    // Run the ticks that are due (at most a few, so a stall does not become a burst).
                    int due = (int)Math.Clamp((now - nextTickAt) * tps + 1, 1, 10);
                    RunSlice(perTick * (ulong)due);
                    nextTickAt += due / tps;
                    if (now - nextTickAt > 0.25) nextTickAt = now;
                }
                MaybePublish(clock, ref lastPublish, force: false);
            }
        }
        catch (Exception e)
        {
            // Our bug, not the guest's: keep the server and other sessions alive, stop this machine.
            _log.LogError(e, "session {Name}: machine loop failed", Name);
            _running = false;
            Log(EventKind.System, 0, $"the session's machine stopped after an internal error: {e.Message}");
            try { Publish(); }
            catch (Exception again) { _log.LogError(again, "session {Name}: publishing after the failure failed too", Name); }
            // The machine stays until the session is closed (its last state is what people see);
            // then the loop below frees it.
            while (!_closing)
            {
                WaitForCommand(TimeSpan.FromSeconds(1));
                while (_commands.Reader.TryRead(out var command)) Refuse(command);
            }
        }
        finally
        {
            // The loop thread owns the machine: it frees the native memory itself, once nothing can
            // touch it any more (see Dispose).
            _machine.Dispose();
            _machineFreed.Set();
        }
    }

    /// <summary>Answers a command the stopped machine cannot carry out.</summary>
    private void Refuse(SessionCommand command)
    {
        var stopped = new InvalidOperationException("the session's machine stopped after an internal error");
        switch (command)
        {
            case SaveCommand save: save.Result.TrySetException(stopped); break;
            case DebugCommand debug: debug.Result.TrySetException(stopped); break;
            case InspectCommand inspect: inspect.Result.TrySetException(stopped); break;
            case KeyCommand key: ReleaseInput(key.Keys.Length); break;
        }
    }

    /// <summary>Set whenever a command is queued; the loop sleeps on it between ticks.</summary>
    private readonly ManualResetEventSlim _commandPosted = new(false, spinCount: 0);

    /// <summary>
    /// Sleeps until a command arrives or the timeout passes. The event does not spin (a realtime
    /// session sleeps a hundred times a second; spinning before each sleep cost more than running
    /// the machine). It is reset before the loop drains the queue, so a command queued after the
    /// drain sets it again and is never slept through.
    /// </summary>
    private void WaitForCommand(TimeSpan timeout)
    {
        // Whole milliseconds, rounded up: a wait of less than one would return at once, and the
        // loop would spin through the end of every tick (that spin was most of what an idle
        // realtime session cost).
        int ms = (int)Math.Clamp(Math.Ceiling(timeout.TotalMilliseconds), 1, int.MaxValue);
        if (_commands.Reader.Count == 0) _commandPosted.Wait(ms);
        _commandPosted.Reset();
    }

    private static readonly TimeSpan InvariantInterval = TimeSpan.FromSeconds(1);
    private DateTime _invariantsCheckedAt = DateTime.MinValue;

    private void MaybePublish(Stopwatch clock, ref TimeSpan lastPublish, bool force)
    {
        if (!force && clock.Elapsed - lastPublish < PublishInterval) return;
        lastPublish = clock.Elapsed;
        _machineInput = _machine.PendingInput;   // room for typing frees up as programs read
        if (DateTime.UtcNow - _invariantsCheckedAt >= InvariantInterval)
        {
            // WeensyOS checks itself every tick; the POSIX kernel's check walks every page table, so
            // the session asks once a second. A failure halts the machine and says why.
            _invariantsCheckedAt = DateTime.UtcNow;
            if (_machine.CheckInvariants() is { } failure && _reportedInvariant != failure)
            {
                _reportedInvariant = failure;
                Log(EventKind.System, 0, $"kernel invariant failed: {failure}");
            }
        }
        Publish();
    }

    private string? _reportedInvariant;

    // ------------------------------------------------------------------------------------------
    // Kernel events: syscalls come far faster than a person reads, so the log gets them once a
    // second: each call when there were few, one line per pid with counts when there were many.
    // The full detail goes to a separate ring that clients read only for the pids they watch.

    private const int MaxPendingKernelEvents = 20_000;
    private const int IndividualSyscallLimit = 8;
    private const int MaxSummaryLines = 16;
    private const int DetailRingSize = 4096;
    private readonly List<KernelEvent> _kernelEvents = new();
    private long _droppedKernelEvents;
    private readonly KernelEvent[] _details = new KernelEvent[DetailRingSize];   // formatted only when a watcher asks
    private long _detailSeq;

    private void OnKernelEvent(KernelEvent e)
    {
        bool logged = e.Kind is KernelEventKind.Fault or KernelEventKind.Killed or KernelEventKind.Track or KernelEventKind.Trap;
        if (!logged)
        {
            // Counted at once, so the summary is exact however many calls come (a fork bomb makes
            // hundreds of thousands a second); only the per-call detail below is bounded.
            var key = (e.Pid, e.Name);
            _syscallCounts[key] = _syscallCounts.GetValueOrDefault(key) + 1;
            if (_windowSyscalls.Count <= IndividualSyscallLimit) _windowSyscalls.Add(e);
        }
        if (_kernelEvents.Count < MaxPendingKernelEvents) _kernelEvents.Add(e);
        else if (logged) _droppedKernelEvents++;
        CheckBreakConditions(e);
    }

    // Syscall counts gathered for the current summary window (one window per second of wall time).
    private readonly Dictionary<(int Pid, string Name), int> _syscallCounts = new();
    private readonly List<KernelEvent> _windowSyscalls = new();
    private DateTime _windowStart = DateTime.UtcNow;
    private static readonly TimeSpan SummaryWindow = TimeSpan.FromSeconds(1);

    private void FlushKernelEvents()
    {
        lock (_stateLock)
            foreach (var e in _kernelEvents) _details[++_detailSeq % DetailRingSize] = e;
        // Faults and track reports are logged one by one, unless a flood (memory running out under a
        // fork bomb) brings many at once: then the first few and one line for the rest.
        int shown = 0, more = 0;
        foreach (var e in _kernelEvents)
        {
            if (e.Kind is not (KernelEventKind.Fault or KernelEventKind.Killed or KernelEventKind.Track or KernelEventKind.Trap)) continue;
            if (shown++ < MaxSummaryLines) Log(e.Kind == KernelEventKind.Track ? EventKind.Track : EventKind.Fault, e.Pid, $"pid {e.Pid}: {e}");
            else more++;
        }
        _droppedKernelEvents += more;
        _kernelEvents.Clear();
        if (_droppedKernelEvents > 0)
        {
            Log(EventKind.System, 0, $"({_droppedKernelEvents} more faults and track reports not shown: too many at once)");
            _droppedKernelEvents = 0;
        }
        if (DateTime.UtcNow - _windowStart < SummaryWindow) return;

        // A person reads a few lines a second: a quiet window shows each call, a busy one a line per pid.
        if (_windowSyscalls.Count <= IndividualSyscallLimit)
        {
            foreach (var e in _windowSyscalls) Log(EventKind.Syscall, e.Pid, $"pid {e.Pid}: {e}");
        }
        else
        {
            var byPid = _syscallCounts.GroupBy(kv => kv.Key.Pid).OrderBy(g => g.Key).ToList();
            if (byPid.Count > MaxSummaryLines)
            {
                // Thousands of processes (a fork bomb) would bury the log: one line for all of them.
                string counts = string.Join(", ", _syscallCounts.GroupBy(kv => kv.Key.Name).OrderBy(g => g.Key).Select(g => $"{g.Key} ×{g.Sum(kv => kv.Value)}"));
                Log(EventKind.SyscallSummary, 0, $"{byPid.Count} processes: {counts} in the last second");
            }
            else
            {
                foreach (var group in byPid)
                {
                    string counts = string.Join(", ", group.OrderBy(kv => kv.Key.Name).Select(kv => $"{kv.Key.Name} ×{kv.Value}"));
                    Log(EventKind.SyscallSummary, group.Key, $"pid {group.Key}: {counts} in the last second");
                }
            }
        }
        _syscallCounts.Clear();
        _windowSyscalls.Clear();
        _windowStart = DateTime.UtcNow;
    }

    /// <summary>Full syscall detail after <paramref name="afterSeq"/> for the given pids (bounded).</summary>
    public LabEvent[] DetailsSince(long afterSeq, IReadOnlySet<int> pids, out long lastSeq, int max = 256)
    {
        lock (_stateLock)
        {
            lastSeq = _detailSeq;
            if (pids.Count == 0 || afterSeq >= _detailSeq) return [];
            long first = Math.Max(afterSeq + 1, _detailSeq - DetailRingSize + 1);
            var list = new List<LabEvent>();
            for (long s = first; s <= _detailSeq; s++)
            {
                var e = _details[s % DetailRingSize];
                if (!pids.Contains(e.Pid)) continue;
                var kind = e.Kind switch { KernelEventKind.Fault or KernelEventKind.Killed => EventKind.Fault, KernelEventKind.Track => EventKind.Track, _ => EventKind.Syscall };
                list.Add(new LabEvent(s, e.Tick, kind, e.Pid, e.ToString()));
            }
            return list.Count > max ? list.GetRange(list.Count - max, max).ToArray() : list.ToArray();
        }
    }

    private void Publish()
    {
        FlushKernelEvents();
        var snap = BuildSnapshot();
        var prev = _latest;
        if (prev != null && prev.Tick == snap.Tick && prev.Status == snap.Status && prev.Screen.AsSpan().SequenceEqual(snap.Screen)
            && prev.Pages.AsSpan().SequenceEqual(snap.Pages) && prev.Processes.SequenceEqual(snap.Processes)
            && ReferenceEquals(prev.VirtualMaps, snap.VirtualMaps))
            return;   // nothing changed
        DeriveProcessEvents(snap.Processes);
        _latest = snap;
        Changed.Bump();
    }

    private SessionSnapshot BuildSnapshot()
    {
        var screen = new ushort[FrameCodec.ScreenCells];
        _machine.CopyScreen(screen);
        var owned = new Dictionary<int, int>();
        var pages = _machine.Pages(owned);
        var procs = _machine.Processes(owned);
        return new SessionSnapshot(++_snapshotVersion, _machine.Ticks, screen, pages, _machine.WidePages, procs, Summary(), LastEventSeq, VirtualMaps());
    }

    // ------------------------------------------------------------------------------------------
    // Virtual memory maps: built only for the pids somebody views (a POSIX machine can have
    // thousands of processes), at most ten times a second, and shared by all who view them.

    private static readonly TimeSpan VirtualMapInterval = TimeSpan.FromMilliseconds(100);
    private IReadOnlyDictionary<int, VirtualMap> _virtualMaps = new Dictionary<int, VirtualMap>();
    private DateTime _virtualMapsAt = DateTime.MinValue;
    private readonly Dictionary<string, int> _viewedPids = new();   // connection id -> pid (under _stateLock)

    /// <summary>Says which pid's virtual map a connection shows (0: none).</summary>
    public void SetViewedPid(string connectionId, int pid)
    {
        lock (_stateLock)
        {
            if (pid > 0) _viewedPids[connectionId] = pid;
            else _viewedPids.Remove(connectionId);
        }
        _virtualMapsAt = DateTime.MinValue;   // build the new one at the next publish
        Changed.Bump();
    }

    private IReadOnlyDictionary<int, VirtualMap> VirtualMaps()
    {
        if (DateTime.UtcNow - _virtualMapsAt < VirtualMapInterval) return _virtualMaps;
        _virtualMapsAt = DateTime.UtcNow;
        int[] pids;
        lock (_stateLock) pids = _viewedPids.Values.Distinct().ToArray();
        var maps = new Dictionary<int, VirtualMap>();
        foreach (int pid in pids)
            if (_machine.VirtualMap(pid) is { } map) maps[pid] = map;
        // Keep the old dictionary when nothing changed, so an idle session publishes nothing new.
        if (maps.Count == _virtualMaps.Count && maps.All(kv => _virtualMaps.TryGetValue(kv.Key, out var old) && old.SameAs(kv.Value)))
            return _virtualMaps;
        _virtualMaps = maps;
        return maps;
    }

    /// <summary>Forks, exits and faults as the process table shows them, for the event log.</summary>
    private void DeriveProcessEvents(ProcessRow[] now)
    {
        var before = _lastProcesses.ToDictionary(p => p.Pid);
        var after = now.ToDictionary(p => p.Pid);
        var events = new List<(EventKind Kind, int Pid, string Text)>();
        foreach (var p in now)
        {
            if (!before.TryGetValue(p.Pid, out var old))
                events.Add((EventKind.Fork, p.Pid, p.Parent > 1 ? $"pid {p.Parent} forked pid {p.Pid} ({p.Name})" : $"pid {p.Pid} started ({p.Name})"));
            else if (old.State != p.State && p.State == "broken") events.Add((EventKind.Fault, p.Pid, $"pid {p.Pid} faulted and was stopped"));
            else if (old.State != p.State && p.State == "zombie") events.Add((EventKind.Exit, p.Pid, $"pid {p.Pid} ({p.Name}) exited; a zombie until pid {p.Parent} waits"));
            else if (old.Name != p.Name) events.Add((EventKind.Action, p.Pid, $"pid {p.Pid} now runs {p.Name}"));
        }
        foreach (var p in _lastProcesses)
            if (!after.ContainsKey(p.Pid) && p.State != "zombie") events.Add((EventKind.Exit, p.Pid, $"pid {p.Pid} ({p.Name}) exited"));
        _lastProcesses = now;

        // A person reads a few lines at a time: many of one kind at once (a fork bomb, a killed
        // process tree) become one line with the count and the range of pids.
        foreach (var group in events.GroupBy(e => e.Kind))
        {
            if (group.Count() <= MaxSummaryLines)
            {
                foreach (var e in group) Log(e.Kind, e.Pid, e.Text);
                continue;
            }
            int first = group.Min(e => e.Pid), last = group.Max(e => e.Pid);
            string what = group.Key switch
            {
                EventKind.Fork => "processes started",
                EventKind.Exit => "processes exited",
                EventKind.Fault => "processes faulted",
                _ => "processes changed program",
            };
            Log(group.Key, 0, $"{group.Count()} {what} (pids {first}..{last})");
        }
    }

    public SessionSummary Summary()
    {
        // A stalled kernel still runs (a key may reboot it) but is not "running" to anyone watching.
        string? halted = _machine.HaltReason ?? _machine.StallReason;
        return new SessionSummary(Name, Settings.Program, Settings.Step, Settings.Profile, Settings.Private,
            ParticipantCount, _machine.Ticks, _running && halted == null, Settings.SpeedName, halted);
    }

    private void Apply(SessionCommand command)
    {
        if (command is not SaveCommand) _commandsApplied++;
        switch (command)
        {
            case KeyCommand k:
                {
                    var said = new List<string>();
                    foreach (char key in k.Keys)
                        if (_machine.PressKey(key) is { } text) said.Add(text);
                    ReleaseInput(k.Keys.Length);
                    _machineInput = _machine.PendingInput;
                    // A paste of many keys is one line in the log, not one per key.
                    if (said.Count <= 4) foreach (var text in said) Log(EventKind.Action, 0, $"{k.By} {text}");
                    else Log(EventKind.Action, 0, $"{k.By} typed {k.Keys.Length} keys: \"{Shorten(string.Concat(k.Keys.Select(SessionText.Printable)), 60)}\"");
                    break;
                }
            case PauseCommand p:
                _running = false;
                UpdateSettings(s => s with { Paused = true });
                Log(EventKind.Action, 0, $"{p.By} paused the machine at tick {_machine.Ticks}");
                break;
            case ResumeCommand r:
                _running = true;
                UpdateSettings(s => s with { Paused = false });
                Log(EventKind.Action, 0, $"{r.By} resumed the machine");
                break;
            case SpeedCommand s:
                UpdateSettings(x => x with { TicksPerSecond = s.TicksPerSecond });
                Log(EventKind.Action, 0, $"{s.By} set the speed to {Settings.SpeedName}");
                break;
            case PushKernelCommand push:
                UpdateSettings(s => s with { Program = push.Name, KernelImage = push.Image });
                Log(EventKind.Action, 0, $"{push.By} pushed a new kernel ({push.Name}, {push.Image.Length} bytes): reboot to boot it");
                break;
            case RebootCommand rb:
                {
                    var next = Settings with { Program = rb.Program ?? Settings.Program, Step = rb.Step ?? Settings.Step };
                    _machine.Dispose();
                    _machine = SessionMachine.Create(next, _tier);
                    _machine.Observer = OnKernelEvent;
                    _reportedInvariant = null;
                    foreach (var b in _breaks.Where(b => b.Kind == BreakKind.Address)) _machine.Machine.Cpu.AddBreakpoint(new Lab.Machine.VirtAddr(b.Address));
                    UpdateSettings(s => s with { Program = next.Program, Step = next.Step, Paused = false });
                    _running = true;
                    _lastProcesses = [];
                    Log(EventKind.Action, 0, next.Profile == SessionSettings.WeensyProfile
                        ? $"{rb.By} rebooted into {next.Program} at step {next.Step}" : $"{rb.By} rebooted into {next.Program}");
                    break;
                }
            case SaveCommand save:
                try
                {
                    // A machine that has not run and took no command since its last snapshot (paused, or a
                    // shell waiting at its prompt) would write the same bytes again: the stored one stands.
                    var version = (_machine.Machine.Clock, _commandsApplied);
                    if (save.Final || save.Force || version != _savedVersion)
                    {
                        save.Store(_machine.SaveState);
                        _savedVersion = version;
                    }
                    if (save.Final) _running = false;   // what was saved is the machine's last state here
                    save.Result.TrySetResult(true);
                }
                catch (Exception e) { save.Result.TrySetException(e); }
                return;
            case InspectCommand inspect:
                try { inspect.Result.TrySetResult(inspect.Read(_machine)); }
                catch (ArgumentException e) { inspect.Result.TrySetException(e); }
                break;
            case DebugCommand debug:
                ApplyDebug(debug);
                break;
        }
        Publish();
    }

    /// <summary>Commands applied (saves excepted), and the machine's clock with that count at the last snapshot
    /// written: equal now, the machine has not changed since (session thread only).</summary>
    private long _commandsApplied;
    /// <summary>The execution tier of this session's machines (the server's --tier; null: the default).</summary>
    private readonly ExecutionTier? _tier;

    /// <summary>The tier its machine's CPU runs on (fixed when the machine is built; any thread may read it).</summary>
    public ExecutionTier Tier => _machine.Machine.Cpu.Tier;
    private (ulong Clock, long Commands) _savedVersion = (ulong.MaxValue, -1);

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..(max - 1)] + "…";

    /// <summary>Why the session takes no input now (it is being handed to another node), or null. Set before
    /// its final save, so nothing typed after that save is accepted and then lost.</summary>
    public string? Moving { get => Volatile.Read(ref _moving); set => Volatile.Write(ref _moving, value); }
    private string? _moving;

    /// <summary>True once the session was closed; senders send a last frame saying so and stop.</summary>
    public bool Closed => _closing;

    private readonly ManualResetEventSlim _machineFreed = new();

    /// <summary>Set once the loop has ended and freed the machine (tests and shutdown may wait for it).</summary>
    public WaitHandle MachineFreed => _machineFreed.WaitHandle;

    /// <summary>
    /// Closes the session. The machine's native memory is freed by the loop thread as it exits, never
    /// here: a slice still running on that thread must not find its memory gone, however long it
    /// takes. Dispose therefore does not wait (a hub call or the reaper is never held up).
    /// </summary>
    public void Dispose()
    {
        _closing = true;
        Changed.Bump();
        _commands.Writer.TryComplete();
        _commandPosted.Set();   // wake the loop now, so it sees _closing
    }
}
