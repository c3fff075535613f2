using MessagePack;

namespace Lab.Shared.Wire;

// The hub's message shapes, as MessagePack-CSharp objects with integer keys: each is written as a
// MessagePack array whose element i is the member with [Key(i)] (docs/PROTOCOL.md lists them). A reader
// ignores elements past the ones it knows and defaults missing ones, so a field is added by appending a
// key; renumbering or removing one is a new protocol version. Enums are integers.

/// <summary>What a participant may do in a session.</summary>
public enum Role
{
    /// <summary>Watches; keys and commands are refused.</summary>
    Viewer = 0,
    /// <summary>May type into the machine and control it (pause, reboot, speed, debugger).</summary>
    Driver = 1,
    /// <summary>Owns the session: everything a driver may do, plus granting and revoking driving, follow mode, closing.</summary>
    Instructor = 2,
}

/// <summary>Kinds of entries in a session's event log.</summary>
public enum EventKind
{
    /// <summary>A participant did something (joined, pressed a key, paused...). Text says who and what.</summary>
    Action = 0,
    Syscall = 1,
    Fork = 2,
    Exit = 3,
    Fault = 4,
    Track = 5,
    /// <summary>Several syscalls folded into one line because they came faster than a person can read.</summary>
    SyscallSummary = 6,
    /// <summary>The kernel or session said something (panic, power-off, reboot).</summary>
    System = 7,
}

/// <summary>Options for creating a session.</summary>
[MessagePackObject]
public sealed record CreateSessionOptions(
    [property: Key(0)] string Name,
    [property: Key(1)] string Program = "forkexit",
    [property: Key(2)] string Step = "cow",
    [property: Key(3)] string Profile = "weensyos",
    [property: Key(4)] bool Private = false,
    // POSIX only: guest memory in MiB (0: the default).
    [property: Key(5)] int MemoryMiB = 0);

/// <summary>What the creator of a session receives: the instructor key (keep it secret) and, for a private session, the join code.</summary>
[MessagePackObject]
public sealed record CreateSessionResult(
    [property: Key(0)] string Name,
    [property: Key(1)] string InstructorKey,
    [property: Key(2)] string? JoinCode);

/// <summary>One line of the session list, and the status part of frames.</summary>
[MessagePackObject]
public sealed record SessionSummary(
    [property: Key(0)] string Name,
    [property: Key(1)] string Program,
    [property: Key(2)] string Step,
    [property: Key(3)] string Profile,
    [property: Key(4)] bool Private,
    [property: Key(5)] int Participants,
    [property: Key(6)] ulong Tick,
    [property: Key(7)] bool Running,
    [property: Key(8)] string Speed,
    // Why the machine stopped or makes no progress (null while it runs).
    [property: Key(9)] string? Halted,
    // The node that runs it, in a cluster (null on a single server).
    [property: Key(10)] string? Node = null);

/// <summary>The answer to Join and Rejoin: your role and participant id, and the rejoin token (a secret of
/// this participant: <see cref="ILabHub.Rejoin"/> with it after a lost connection or a server restart
/// gives the same name and role back). Older servers send no token (null).</summary>
[MessagePackObject]
public sealed record JoinResult(
    [property: Key(0)] string Session,
    [property: Key(1)] Role Role,
    [property: Key(2)] string ParticipantId,
    [property: Key(3)] string Name,
    [property: Key(4)] string? RejoinToken = null);

/// <summary>The answer to Locate: where a session runs. <see cref="Url"/> is null when the node asked runs it
/// (join there); otherwise the base URL of the node that does (connect there and join). <see cref="Waiting"/>
/// says why it runs nowhere for the moment (its node stopped answering and another takes it over, or it is
/// starting): ask again shortly. <see cref="Nodes"/> are the base URLs of every live node, for reconnecting
/// elsewhere when this one goes away (empty on a single server).</summary>
[MessagePackObject]
public sealed record SessionLocation(
    [property: Key(0)] string Session,
    [property: Key(1)] string? Url,
    [property: Key(2)] string? Node,
    [property: Key(3)] string? Waiting,
    [property: Key(4)] string[] Nodes);

/// <summary>The answer to Info: what the session is and who you are in it. <see cref="JoinCode"/> and
/// <see cref="InstructorKey"/> are filled for instructors only (the key when this connection joined with
/// it; the code of a private session when the server knows it).</summary>
[MessagePackObject]
public sealed record SessionInfo(
    [property: Key(0)] string Session,
    [property: Key(1)] string Profile,
    [property: Key(2)] string Program,
    [property: Key(3)] string Step,
    [property: Key(4)] bool Private,
    [property: Key(5)] string ParticipantId,
    [property: Key(6)] string Name,
    [property: Key(7)] Role Role,
    [property: Key(8)] string? JoinCode,
    [property: Key(9)] string? InstructorKey);

/// <summary>One participant of a session; <see cref="Id"/> (p1, p2, ...) is what grant and revoke take.</summary>
[MessagePackObject]
public sealed record Participant(
    [property: Key(0)] string Id,
    [property: Key(1)] string Name,
    [property: Key(2)] Role Role);

/// <summary>One row of the process table.</summary>
[MessagePackObject]
public sealed record ProcessRow(
    [property: Key(0)] int Pid,
    [property: Key(1)] int Parent,
    [property: Key(2)] string State,
    [property: Key(3)] string Name,
    [property: Key(4)] int Pages);

/// <summary>One event-log entry.</summary>
[MessagePackObject]
public sealed record LabEvent(
    [property: Key(0)] long Seq,
    [property: Key(1)] ulong Tick,
    [property: Key(2)] EventKind Kind,
    [property: Key(3)] int Pid,
    [property: Key(4)] string Text);

/// <summary>What the instructor points at, broadcast in follow mode.</summary>
[MessagePackObject]
public sealed record FollowState(
    [property: Key(0)] bool Enabled,
    [property: Key(1)] string Pane,
    [property: Key(2)] int Pid,
    [property: Key(3)] string By);
