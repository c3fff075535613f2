using System.Collections.Concurrent;
using Lab.Server.Sessions;

namespace Lab.Server.Hubs;

/// <summary>Per-connection state the hub needs across calls: the joined session, its sender, rate limiters.</summary>
public sealed class ConnectionState
{
    public LabSession? Session { get; set; }
    public ClientSender? Sender { get; set; }
    /// <summary>The instructor key this connection joined with (verified), so Info can show it again.</summary>
    public string? InstructorKey { get; set; }
    /// <summary>Who removed this connection's participant from its session: every later call is refused.</summary>
    public string? RemovedBy { get; set; }
    public RateLimiter Keys { get; } = new(perSecond: 30, burst: 60);
    public RateLimiter Commands { get; } = new(perSecond: 10, burst: 20);
    public RateLimiter Creates { get; } = new(perSecond: 0.1, burst: 3);
    public RateLimiter Joins { get; } = new(perSecond: 1, burst: 5);
    /// <summary>ListSessions.</summary>
    public RateLimiter Queries { get; } = new(perSecond: 2, burst: 10);
    /// <summary>ViewMemory and Watch (each makes the session build and send more).</summary>
    public RateLimiter Views { get; } = new(perSecond: 5, burst: 20);
    /// <summary>ReadRegisters and ReadMemory (gdb reads in small pieces).</summary>
    public RateLimiter Inspections { get; } = new(perSecond: 200, burst: 400);
    /// <summary>Upload chunks (16 KiB each: about 2 MB a second), with a burst that takes a whole file of the
    /// largest size at once, so `tui upload` never has to slow down for one file.</summary>
    public RateLimiter Uploads { get; } = new(perSecond: 128, burst: Lab.Shared.Wire.LabHubRoute.MaxUploadBytes / Lab.Shared.Wire.LabHubRoute.MaxChunkBytes + 16);
    /// <summary>The file this connection is sending (<see cref="Lab.Shared.Wire.ILabHub.Upload"/>), complete when Received == Bytes.Length.</summary>
    public PendingUpload? Upload { get; set; }
    /// <summary>Refusals logged for this connection: the first of a run, then one line with the count (see <see cref="RefusalLogFilter"/>).</summary>
    public RefusalLog Refusals { get; } = new();
}

/// <summary>A file arriving in chunks: its name, its bytes so far (the array has the announced size).</summary>
public sealed class PendingUpload(string name, int total)
{
    public string Name { get; } = name;
    public byte[] Bytes { get; } = new byte[total];
    public int Received { get; set; }
    public bool Complete => Received == Bytes.Length;
}

/// <summary>The registry of connection states (a singleton service, not a static).</summary>
public sealed class ConnectionTracker
{
    private readonly ConcurrentDictionary<string, ConnectionState> _states = new();

    public ConnectionState Get(string connectionId) => _states.GetOrAdd(connectionId, _ => new ConnectionState());

    /// <summary>The state of a connection that exists (null for one that is gone).</summary>
    public ConnectionState? Find(string connectionId) => _states.TryGetValue(connectionId, out var s) ? s : null;

    public ConnectionState? Remove(string connectionId)
    {
        if (!_states.TryRemove(connectionId, out var s)) return null;
        DropUpload(s);
        return s;
    }

    /// <summary>Bytes all connections' unfinished or unused uploads may hold together.</summary>
    public const long UploadBudgetBytes = 64L << 20;
    private long _uploadBytes;

    /// <summary>Starts an upload of <paramref name="total"/> bytes on <paramref name="state"/> (dropping its previous one);
    /// false when the server-wide budget for uploads is spent.</summary>
    public bool StartUpload(ConnectionState state, string name, int total)
    {
        DropUpload(state);
        if (Interlocked.Add(ref _uploadBytes, total) > UploadBudgetBytes)
        {
            Interlocked.Add(ref _uploadBytes, -total);
            return false;
        }
        state.Upload = new PendingUpload(name, total);
        return true;
    }

    /// <summary>Hands over a connection's complete upload (null when there is none) and frees its share of the budget.</summary>
    public PendingUpload? TakeUpload(ConnectionState state)
    {
        var upload = state.Upload;
        if (upload is not { Complete: true }) return null;
        DropUpload(state);
        return upload;
    }

    private void DropUpload(ConnectionState state)
    {
        if (state.Upload is { } old) Interlocked.Add(ref _uploadBytes, -old.Bytes.Length);
        state.Upload = null;
    }

    public int Count => _states.Count;
}
