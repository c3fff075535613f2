using Lab.Shared.Wire;

namespace Lab.Server.Sessions;

/// <summary>
/// An immutable picture of a session's machine, published by the session loop (at most ~60 times a
/// second) and read by every client sender without locks. Senders diff it against what their client
/// last received. <see cref="Pages"/> is in the wide form (<see cref="FrameCodec.WidePageSize"/>
/// bytes a page) when <see cref="WidePages"/> is set (POSIX profile), else (owner, refcount) pairs.
/// </summary>
public sealed record SessionSnapshot(
    long Version,
    ulong Tick,
    ushort[] Screen,
    byte[] Pages,
    bool WidePages,
    ProcessRow[] Processes,
    SessionSummary Status,
    long LastEventSeq,
    IReadOnlyDictionary<int, VirtualMap> VirtualMaps);
