namespace Lab.Shared.Wire;

// The hub's contract, in one place: the server's hub implements ILabHub and calls its clients through
// ILabClient (SignalR's typed hub, Hub<ILabClient>); the .NET client invokes ILabHub's methods by
// their nameof; docs/PROTOCOL.md lists the same methods (a test compares them). Arguments and results
// are the MessagePack objects of WireTypes.cs, encoded with LabMessagePack.Options.

/// <summary>Hub methods a client calls (client → server). Refusals come back as the call's error text.</summary>
public interface ILabHub
{
    /// <summary>Public and private sessions with their status (private ones do not reveal codes).</summary>
    Task<SessionSummary[]> ListSessions();

    /// <summary>Creates a session; the creator receives its instructor key (and a join code if private).</summary>
    Task<CreateSessionResult> CreateSession(CreateSessionOptions options);

    /// <summary>Where a session runs: on this node (join here), on another node of the cluster (connect to its
    /// URL and join there), or nowhere for a moment (being taken over, or the node cannot reach its directory now: ask again). Refused when no such session exists.</summary>
    Task<SessionLocation> Locate(string session);

    /// <summary>Joins a session; <paramref name="code"/> is a private session's join code or the instructor key.</summary>
    Task<JoinResult> Join(string session, string name, string? code);

    /// <summary>Joins again as the participant <paramref name="token"/> names (a <see cref="JoinResult.RejoinToken"/>
    /// from an earlier Join or Rejoin): the same name and role, after a lost connection or a server restart.
    /// A token the session does not know joins as Join(session, name, code) would; one voided by `remove` is refused.</summary>
    Task<JoinResult> Rejoin(string session, string name, string? code, string token);

    /// <summary>What the joined session is and who you are in it; instructors also get the join code and instructor key.</summary>
    Task<SessionInfo> Info();

    /// <summary>Leaves the current session.</summary>
    Task Leave();

    /// <summary>This client's frames carry that pid's virtual memory map (0 stops it).</summary>
    Task ViewMemory(int pid);

    /// <summary>This client's frames carry every system call of these pids (at most 16; empty stops it).</summary>
    Task Watch(int[] pids);

    /// <summary>One key (one character, or "Enter", "Esc", "Backspace", "Tab"); drivers only.</summary>
    Task Key(string key);

    /// <summary>A run of keys (up to 1024 characters) in one call; drivers only.</summary>
    Task Type(string text);

    /// <summary>A session or debugger command ("pause", "grant p3", "step 10"...); returns a confirmation.</summary>
    Task<string> Command(string command);

    /// <summary>Every register of a kernel session's CPU in gdb's x86-64 order (the bytes of gdb's `g` reply:
    /// docs/PROTOCOL.md); drivers only. For `tui gdb`.</summary>
    Task<byte[]> ReadRegisters();

    /// <summary>Up to 4096 bytes of a kernel session's virtual memory as the CPU translates it now
    /// (through CR3); drivers only. For `tui gdb`.</summary>
    Task<byte[]> ReadMemory(ulong address, int length);

    /// <summary>Sends a file to the server in order, in chunks of at most <see cref="LabHubRoute.MaxChunkBytes"/>
    /// (the first at offset 0 says the name and the total size): a kernel for CreateSession with profile
    /// "kernel", or for the command `push`. One upload per connection; a new offset 0 starts over.</summary>
    Task<string> Upload(string name, int offset, byte[] chunk, int total);
}

/// <summary>Client methods the server calls (server → client).</summary>
public interface ILabClient
{
    /// <summary>What changed in the joined session since this client's previous frame (the first is full).</summary>
    Task Frame(Frame frame);

    /// <summary>An instructor (<paramref name="by"/>) removed this client from its session: no more frames come,
    /// every later call of this connection is refused, and its rejoin token no longer works.</summary>
    Task Removed(string by);

    /// <summary>The joined session now runs on another node of the cluster (base URL <paramref name="url"/>): connect
    /// there and rejoin with the rejoin token. Sent when a node hands its sessions over before it stops.</summary>
    Task Moved(string url);
}

/// <summary>Where the hub is served.</summary>
public static class LabHubRoute
{
    /// <summary>The hub's path on the server (http://HOST:PORT/hubs/lab).</summary>
    public const string Path = "/hubs/lab";

    /// <summary>The largest chunk <see cref="ILabHub.Upload"/> takes (messages are limited to 32 KiB).</summary>
    public const int MaxChunkBytes = 16 * 1024;

    /// <summary>The largest file an upload may bring.</summary>
    public const int MaxUploadBytes = 8 << 20;

    /// <summary>The hub URL for a server base URL such as http://localhost:5080.</summary>
    public static string For(string baseUrl) => baseUrl.TrimEnd('/') + Path;
}
