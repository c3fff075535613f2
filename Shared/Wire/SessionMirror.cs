namespace Lab.Shared.Wire;

/// <summary>
/// A client's copy of a session, kept up to date by applying frames in order (the TUI and tests use
/// it). Full frames replace everything; diffs patch. The event log keeps the most recent entries only.
/// </summary>
public sealed class SessionMirror
{
    public const int MaxEvents = 1000;

    private readonly object _lock = new();
    private readonly List<LabEvent> _events = new();

    public ushort[] Screen { get; } = new ushort[FrameCodec.ScreenCells];
    public byte[] Pages { get; private set; } = [];
    /// <summary>Physical pages in the wide form (POSIX profile; <see cref="FrameCodec.WidePageSize"/> bytes each); empty otherwise.</summary>
    public byte[] WidePages { get; private set; } = [];
    public ProcessRow[] Processes { get; private set; } = [];
    public Participant[] Participants { get; private set; } = [];
    public SessionSummary? Status { get; private set; }
    public FollowState? Follow { get; private set; }
    public Role Role { get; private set; }
    public DebuggerState? Debugger { get; private set; }
    public VirtualMap? VirtualMap { get; private set; }
    public ulong Tick { get; private set; }
    public long FramesApplied { get; private set; }
    public long LastSeq { get; private set; }
    /// <summary>Server time of the last frame (Unix µs), for latency measurement.</summary>
    public long LastServerTimeMicros { get; private set; }

    /// <summary>Takes the lock that <see cref="Apply"/> holds, to read several fields consistently.</summary>
    public object SyncRoot => _lock;

    public IReadOnlyList<LabEvent> Events
    {
        get { lock (_lock) return _events.ToArray(); }
    }

    public void Apply(Frame frame)
    {
        lock (_lock)
        {
            if (frame.Screen != null) FrameCodec.ApplyScreen(Screen, frame.Screen, frame.Full);
            if (frame.Pages != null)
            {
                if (frame.Full || Pages.Length == 0) Pages = new byte[frame.Pages.Length];
                FrameCodec.ApplyPages(Pages, frame.Pages, frame.Full);
            }
            if (frame.WidePages != null)
            {
                if (frame.Full || WidePages.Length == 0) WidePages = new byte[frame.WidePages.Length];
                FrameCodec.ApplyWidePages(WidePages, frame.WidePages, frame.Full);
            }
            if (frame.Processes != null) Processes = frame.Processes;
            if (frame.Participants != null) Participants = frame.Participants;
            if (frame.Status != null) Status = frame.Status;
            if (frame.Follow != null) Follow = frame.Follow;
            if (frame.YourRole is { } role) Role = role;
            if (frame.Debugger != null) Debugger = frame.Debugger;
            if (frame.VirtualMap != null) VirtualMap = frame.VirtualMap.PageCount == 0 ? null : frame.VirtualMap;
            if (frame.Events != null)
            {
                _events.AddRange(frame.Events);
                if (_events.Count > MaxEvents) _events.RemoveRange(0, _events.Count - MaxEvents);
            }
            Tick = frame.Tick;
            LastSeq = frame.Seq;
            LastServerTimeMicros = frame.ServerTimeMicros;
            FramesApplied++;
        }
    }

    /// <summary>The screen as 25 lines of text (characters only).</summary>
    public string[] ScreenText()
    {
        lock (_lock)
        {
            var lines = new string[25];
            for (int r = 0; r < 25; r++)
            {
                var chars = new char[80];
                for (int c = 0; c < 80; c++)
                {
                    byte ch = (byte)Screen[r * 80 + c];
                    chars[c] = ch >= 0x20 && ch < 0x7F ? (char)ch : ' ';
                }
                lines[r] = new string(chars);
            }
            return lines;
        }
    }
}
