using System.Collections.Concurrent;
using Lab.Server.Sessions;

namespace Lab.Server.Hubs;

/// <summary>Per-connection state the hub needs across calls: the joined session, its sender, rate limiters.</summary>
public sealed class ConnectionState
{
    public LabSession? Session { get; set; }
    public ClientSender? Sender { get; set; }
    public RateLimiter Keys { get; } = new(perSecond: 30, burst: 60);
    public RateLimiter Commands { get; } = new(perSecond: 10, burst: 20);
    public RateLimiter Creates { get; } = new(perSecond: 0.1, burst: 3);
    public RateLimiter Joins { get; } = new(perSecond: 1, burst: 5);
    /// <summary>ListSessions.</summary>
    public RateLimiter Queries { get; } = new(perSecond: 2, burst: 10);
    /// <summary>ViewMemory and Watch (each makes the session build and send more).</summary>
    public RateLimiter Views { get; } = new(perSecond: 5, burst: 20);
    /// <summary>Refusals logged for this connection: the first of a run, then one line with the count (see <see cref="RefusalLogFilter"/>).</summary>
    public RefusalLog Refusals { get; } = new();
}

/// <summary>The registry of connection states (a singleton service, not a static).</summary>
public sealed class ConnectionTracker
{
    private readonly ConcurrentDictionary<string, ConnectionState> _states = new();

    public ConnectionState Get(string connectionId) => _states.GetOrAdd(connectionId, _ => new ConnectionState());

    public ConnectionState? Remove(string connectionId) => _states.TryRemove(connectionId, out var s) ? s : null;

    public int Count => _states.Count;
}
