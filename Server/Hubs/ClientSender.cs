using Lab.Server.Sessions;
using Lab.Shared.Wire;
using Microsoft.AspNetCore.SignalR;

namespace Lab.Server.Hubs;

/// <summary>
/// One per joined connection: sends that client its frames. It keeps only what the client last
/// received (never a queue): when woken it diffs the session's latest snapshot against that copy and
/// sends one frame, at most 30 per second. A client that reads slowly therefore gets coalesced
/// frames, and memory per client stays bounded; a client whose send is stuck for
/// <see cref="SendTimeout"/> is disconnected. Other clients never wait for it.
/// </summary>
public sealed class ClientSender
{
    public static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(1.0 / 30);
    public static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(10);
    /// <summary>Big parts (a POSIX machine's wide page map, a process table of hundreds of rows) go at
    /// most this often; the screen, events and everything else still go at up to 30 frames a second.</summary>
    public static readonly TimeSpan HeavyInterval = TimeSpan.FromMilliseconds(250);
    private const int HeavyProcessRows = 64;
    private DateTime _heavySentAt = DateTime.MinValue;
    private bool _heavyHeldBack;

    private readonly IHubContext<LabHub, ILabClient> _hub;
    private readonly LabSession _session;
    private readonly string _connectionId;
    private readonly string? _node;
    private readonly Action _abort;
    private readonly CancellationTokenSource _stop = new();
    private readonly ushort[] _screen = new ushort[FrameCodec.ScreenCells];
    private byte[] _pages = [];
    private bool _widePages;
    private ProcessRow[]? _processes;
    private SessionSummary? _status;
    private long _participantsVersion = -1, _followVersion = -1, _debugVersion = 0, _eventSeq;
    private Role? _role;
    private long _seq, _detailSeq;
    private bool _sentFull;
    private IReadOnlySet<int> _watched = new HashSet<int>();   // replaced whole by Watch, read with Volatile

    // What the hub asks for (hub threads, under _requestLock) and what the send loop acts on (the
    // loop only): the loop takes the request at the start of each frame, so a change of pid always
    // sends the new pid's map, never a stale one.
    private readonly object _requestLock = new();
    private int _requestedPid;
    private long _requestVersion, _takenVersion;
    private int _viewPid;
    private VirtualMap? _sentMap;

    /// <summary>The pid whose virtual memory map this client shows (0: none). Called from hub threads.</summary>
    public void ViewMemory(int pid)
    {
        lock (_requestLock)
        {
            _requestedPid = pid;
            _requestVersion++;
        }
    }

    /// <summary>The pids whose every system call this client wants to see (follow detail). Called from hub threads.</summary>
    public void Watch(IReadOnlySet<int> pids) => Volatile.Write(ref _watched, pids);

    public long FramesSent => _seq;

    /// <param name="node">This node's name in a cluster (the frames' Status.Node: a session runs where its
    /// frames are sent from), null on a single server.</param>
    public ClientSender(IHubContext<LabHub, ILabClient> hub, LabSession session, string connectionId, string? node, Action abort)
    {
        _hub = hub;
        _session = session;
        _connectionId = connectionId;
        _node = node;
        _abort = abort;
        // A late joiner starts from the latest events, not the whole history.
        _eventSeq = Math.Max(0, session.LastEventSeq - 50);
        _ = Task.Run(RunAsync);
    }

    public void Stop() => _stop.Cancel();

    private async Task RunAsync()
    {
        var token = _stop.Token;
        long seen = -1;
        var last = DateTime.MinValue;
        try
        {
            while (!token.IsCancellationRequested)
            {
                var changed = _session.Changed.WaitAsync(seen, token);
                // A held-back heavy part must still arrive when nothing else changes afterwards: wake
                // at the next change or when HeavyInterval has passed, whichever comes first.
                if (_heavyHeldBack) await Task.WhenAny(changed, Task.Delay(HeavyInterval, token));
                else await changed;
                token.ThrowIfCancellationRequested();
                var wait = MinInterval - (DateTime.UtcNow - last);
                if (wait > TimeSpan.Zero) await Task.Delay(wait, token);
                seen = _session.Changed.Version;
                if (_session.Closed)
                {
                    var closed = _session.Latest.Status with { Running = false, Halted = "the session was closed", Participants = 0, Node = _node };
                    await SendAsync(new Frame { Seq = ++_seq, Tick = _session.Latest.Tick, Status = closed, ServerTimeMicros = Frame.NowMicros() }, token);
                    return;
                }
                var frame = BuildFrame();
                if (frame == null) continue;
                last = DateTime.UtcNow;   // pace start to start, so a send's own time does not lower the rate
                await SendAsync(frame, token);
            }
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            _abort();   // stuck for SendTimeout: drop this client, nobody else is affected
        }
        catch (OperationCanceledException) { }
        catch (Exception) when (!token.IsCancellationRequested)
        {
            _abort();
        }
    }

    /// <summary>Sends one frame through the typed client; a send stuck for <see cref="SendTimeout"/> throws
    /// TimeoutException (and the caller drops the client, which also ends the stuck write).</summary>
    private Task SendAsync(Frame frame, CancellationToken token) =>
        _hub.Clients.Client(_connectionId).Frame(frame).WaitAsync(SendTimeout, token);

    /// <summary>How many participants a viewer or driver is sent at most (the status carries the total):
    /// instructors and drivers first, then viewers in id order, and always the client itself.
    /// Instructors get everyone (they grant and remove by the list).</summary>
    public const int RosterLimit = 100;
    private Participant[]? _sentParticipants;

    /// <summary>The roster as this client sees it (see <see cref="RosterLimit"/>).</summary>
    private Participant[] RosterFor(Participant[] all)
    {
        if (all.Length <= RosterLimit || _session.Lookup(_connectionId)?.Role == Role.Instructor) return all;
        string? me = _session.IdOf(_connectionId);
        var shown = all.Where(p => p.Role != Role.Viewer).Concat(all.Where(p => p.Role == Role.Viewer)).Take(RosterLimit).ToList();
        if (me != null && shown.All(p => p.Id != me) && all.FirstOrDefault(p => p.Id == me) is { } self) shown.Add(self);
        return shown.ToArray();
    }

    /// <summary>What changed since this client's previous frame; null when nothing did.</summary>
    private Frame? BuildFrame()
    {
        var snap = _session.Latest;
        // A reboot into another memory size or profile changes the page layout: start the client afresh.
        bool full = !_sentFull || _pages.Length != snap.Pages.Length || _widePages != snap.WidePages;
        byte[]? screen = full ? FrameCodec.PackScreenFull(snap.Screen) : FrameCodec.PackScreenDiff(_screen, snap.Screen);
        if (screen != null) snap.Screen.CopyTo(_screen, 0);
        // A busy POSIX machine changes thousands of pages and processes a second: those parts wait for
        // HeavyInterval (what changed meanwhile goes in one later diff), so a lecture hall of viewers
        // is not sent megabytes a second each.
        bool heavyDue = full || DateTime.UtcNow - _heavySentAt >= HeavyInterval;
        // The session hands out a new page array only when a snapshot is new (a POSIX machine's only
        // when its pages changed), so the same array needs no diff.
        bool pagesNew = !ReferenceEquals(_pages, snap.Pages);
        bool pagesHeld = !full && pagesNew && snap.WidePages && !heavyDue;
        byte[]? pages = full ? FrameCodec.PackPagesFull(snap.Pages)
            : !pagesNew || pagesHeld ? null
            : snap.WidePages ? FrameCodec.PackWidePagesDiff(_pages, snap.Pages) : FrameCodec.PackPagesDiff(_pages, snap.Pages);
        if (!pagesHeld) (_pages, _widePages) = (snap.Pages, snap.WidePages);
        bool bigTable = snap.Processes.Length > HeavyProcessRows || (_processes?.Length ?? 0) > HeavyProcessRows;
        bool processesChanged = full || _processes == null || !_processes.SequenceEqual(snap.Processes);
        bool processesHeld = processesChanged && bigTable && !heavyDue;
        ProcessRow[]? processes = processesChanged && !processesHeld ? snap.Processes : null;
        if (processes != null) _processes = processes;
        // The roster of a lecture hall (hundreds joining in a minute) is a heavy part too.
        Participant[]? participants = null;
        bool participantsHeld = false;
        long rosterVersion = _session.ParticipantsVersion;
        if (full || rosterVersion != _participantsVersion)
        {
            var all = _session.Participants();
            participantsHeld = !full && all.Length > HeavyProcessRows && !heavyDue;
            if (!participantsHeld)
            {
                _participantsVersion = rosterVersion;
                var mine = RosterFor(all);
                if (full || _sentParticipants is null || !mine.AsSpan().SequenceEqual(_sentParticipants)) participants = _sentParticipants = mine;
            }
        }
        if ((pages != null && snap.WidePages) || (processes != null && bigTable) || (participants != null && participants.Length > HeavyProcessRows))
            _heavySentAt = DateTime.UtcNow;
        _heavyHeldBack = pagesHeld || processesHeld || participantsHeld;
        var status = snap.Status with { Participants = _session.ParticipantCount, Node = _node };
        SessionSummary? statusPart = full || status != _status ? status : null;
        if (statusPart != null) _status = status;
        FollowState? follow = null;
        if (full || _session.FollowVersion != _followVersion)
        {
            _followVersion = _session.FollowVersion;
            follow = _session.Follow;
        }
        DebuggerState? debugger = null;
        if ((full && _session.DebugVersion > 0) || _session.DebugVersion != _debugVersion)
        {
            _debugVersion = _session.DebugVersion;
            debugger = _session.Debugger;
        }
        VirtualMap? vmap = null;
        lock (_requestLock)
        {
            if (_takenVersion != _requestVersion)
            {
                (_viewPid, _takenVersion, _sentMap) = (_requestedPid, _requestVersion, null);
            }
        }
        int viewPid = _viewPid;
        if (viewPid > 0)
        {
            if (snap.VirtualMaps.TryGetValue(viewPid, out var map))
            {
                if (!map.SameAs(_sentMap)) vmap = map;
                _sentMap = map;
            }
            else if (_sentMap == null || _sentMap.PageCount != 0)
            {
                vmap = new VirtualMap(viewPid, []);   // the process is gone (or its map is not built yet)
                _sentMap = vmap;
            }
        }
        LabEvent[] events = _session.EventsSince(_eventSeq);
        if (events.Length > 0) _eventSeq = events[^1].Seq;
        var watched = Volatile.Read(ref _watched);
        if (watched.Count > 0)
        {
            var detail = _session.DetailsSince(_detailSeq, watched, out _detailSeq);
            // Detail entries carry their own sequence space; clients tell them apart by kind and text.
            if (detail.Length > 0) events = events.Concat(detail).ToArray();
        }
        else _detailSeq = 0;
        Role? role = _session.Lookup(_connectionId)?.Role;
        Role? rolePart = full || role != _role ? role : null;
        _role = role;

        if (!full && screen == null && pages == null && processes == null && statusPart == null
            && participants == null && follow == null && events.Length == 0 && rolePart == null && debugger == null && vmap == null)
            return null;
        _sentFull = true;
        return new Frame
        {
            Seq = ++_seq,
            Full = full,
            Tick = snap.Tick,
            ServerTimeMicros = Frame.NowMicros(),
            Screen = screen,
            Pages = snap.WidePages ? null : pages,
            WidePages = snap.WidePages ? pages : null,
            Processes = processes,
            Events = events.Length > 0 ? events : null,
            Participants = participants,
            Status = statusPart,
            Follow = follow,
            YourRole = rolePart,
            Debugger = debugger,
            VirtualMap = vmap,
        };
    }
}
