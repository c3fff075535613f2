using Lab.Shared.Wire;

namespace Lab.Server.Sessions;

/// <summary>
/// An immutable picture of a session's machine, published by the session loop (at most ~60 times a
/// second) and read by every client sender without locks. Senders diff it against what their client
/// last received.
/// </summary>
public sealed record SessionSnapshot(
    long Version,
    ulong Tick,
    ushort[] Screen,
    byte[] Pages,
    ProcessRow[] Processes,
    SessionSummary Status,
    long LastEventSeq,
    IReadOnlyDictionary<int, byte[]> VirtualMaps);
