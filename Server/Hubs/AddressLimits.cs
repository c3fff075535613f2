using System.Collections.Concurrent;
using Lab.Server.Sessions;

namespace Lab.Server.Hubs;

/// <summary>
/// Limits kept per client address rather than per connection (a new connection must not bring a fresh
/// allowance): session creations, and failed joins with a growing lockout. A singleton service;
/// entries of addresses that went quiet are dropped now and then so the table stays small. In a cluster the
/// counts live in Redis (<see cref="Cluster.ClusterLimits"/>), the same for every node; while Redis is away
/// each node counts on its own.
/// </summary>
public sealed class AddressLimits
{
    private readonly LabServerOptions _options;
    private readonly ConcurrentDictionary<string, RateLimiter> _creations = new();
    private readonly ConcurrentDictionary<string, JoinFailures> _joinFailures = new();
    private readonly Func<DateTime> _now;
    private DateTime _swept;

    private readonly Cluster.ClusterLimits? _cluster;

    public AddressLimits(LabServerOptions options, Func<DateTime>? now = null, Cluster.ClusterLimits? cluster = null)
    {
        _options = options;
        _cluster = cluster;
        _now = now ?? (() => options.Clock.GetUtcNow().UtcDateTime);
        _swept = _now();
    }

    /// <summary>Takes one session creation from the address's allowance; false when it is spent.</summary>
    public bool TryCreate(string address)
    {
        if (_cluster != null)
            try { return _cluster.TryCreate(address, _now(), 1 / _options.CreationIntervalPerAddressSeconds, _options.CreationsPerAddressBurst); }
            catch (Exception e) when (Cluster.ClusterDirectory.IsRedisFailure(e)) { }
        Sweep();
        var limiter = _creations.GetOrAdd(address, _ => new RateLimiter(1 / _options.CreationIntervalPerAddressSeconds, _options.CreationsPerAddressBurst, _now));
        return limiter.TryTake();
    }

    /// <summary>Drops the entries of addresses that have been quiet for an hour.</summary>
    private void Sweep()
    {
        var now = _now();
        if (now - _swept < TimeSpan.FromMinutes(10)) return;
        _swept = now;
        foreach (var (address, limiter) in _creations)
            if (limiter.IdleFor > TimeSpan.FromHours(1)) _creations.TryRemove(address, out _);
        foreach (var (key, failures) in _joinFailures)
            if (failures.QuietSince(now) > TimeSpan.FromHours(1)) _joinFailures.TryRemove(key, out _);
    }

    // ------------------------------------------------------------------------------------------
    // Failed joins. A wrong code or key counts against the client's address and against the session:
    // after FreeFailures the address is locked out for LockoutBase, doubling with each further failure
    // up to LockoutMax; a session refuses code attempts from anyone once it saw SessionFailuresPerMinute
    // wrong ones within a minute. A right code resets the address's count.

    public const int FreeFailures = 5;
    public static readonly TimeSpan LockoutBase = TimeSpan.FromSeconds(10), LockoutMax = TimeSpan.FromMinutes(15);
    public const int SessionFailuresPerMinute = 30;

    private sealed class JoinFailures
    {
        public int Count;
        public DateTime LockedUntil;
        public DateTime Last;
        public readonly Queue<DateTime> Recent = new();
        public TimeSpan QuietSince(DateTime now) { lock (this) return now - Last; }
    }

    /// <summary>Null when the address may try a code for the session now; otherwise the refusal text.</summary>
    public string? JoinRefusal(string address, string session)
    {
        Sweep();
        var now = _now();
        if (_cluster != null)
            try
            {
                var (refused, left) = _cluster.JoinRefusal(address, session, now, SessionFailuresPerMinute);
                return refused switch
                {
                    1 => $"too many wrong codes from your address: try again in {Math.Ceiling(left.TotalSeconds)} s",
                    2 => $"too many wrong codes for session '{session}' in the last minute: try again in {Math.Ceiling(left.TotalSeconds)} s",
                    _ => null,
                };
            }
            catch (Exception e) when (Cluster.ClusterDirectory.IsRedisFailure(e)) { }
        if (_joinFailures.TryGetValue("a:" + address, out var mine))
            lock (mine)
                if (now < mine.LockedUntil)
                    return $"too many wrong codes from your address: try again in {Math.Ceiling((mine.LockedUntil - now).TotalSeconds)} s";
        if (_joinFailures.TryGetValue("s:" + session.ToLowerInvariant(), out var theirs))
            lock (theirs)
            {
                while (theirs.Recent.Count > 0 && now - theirs.Recent.Peek() > TimeSpan.FromMinutes(1)) theirs.Recent.Dequeue();
                if (theirs.Recent.Count >= SessionFailuresPerMinute)
                    return $"too many wrong codes for session '{session}' in the last minute: try again in {Math.Ceiling((theirs.Recent.Peek() + TimeSpan.FromMinutes(1) - now).TotalSeconds)} s";
            }
        return null;
    }

    /// <summary>Counts a wrong code; returns the lockout it starts for the address (zero: none yet) and the address's failure count.</summary>
    public (TimeSpan Lockout, int Failures) JoinFailed(string address, string session)
    {
        var now = _now();
        if (_cluster != null)
            try
            {
                var (failures, lockout) = _cluster.JoinFailed(address, session, now, FreeFailures, LockoutBase, LockoutMax);
                return (lockout, failures);
            }
            catch (Exception e) when (Cluster.ClusterDirectory.IsRedisFailure(e)) { }
        var theirs = _joinFailures.GetOrAdd("s:" + session.ToLowerInvariant(), _ => new JoinFailures());
        lock (theirs)
        {
            theirs.Recent.Enqueue(now);
            theirs.Last = now;
            while (theirs.Recent.Count > SessionFailuresPerMinute) theirs.Recent.Dequeue();
        }
        var mine = _joinFailures.GetOrAdd("a:" + address, _ => new JoinFailures());
        lock (mine)
        {
            mine.Count++;
            mine.Last = now;
            if (mine.Count < FreeFailures) return (TimeSpan.Zero, mine.Count);
            var lockout = TimeSpan.FromTicks(Math.Min(LockoutMax.Ticks, LockoutBase.Ticks << Math.Min(mine.Count - FreeFailures, 16)));
            mine.LockedUntil = now + lockout;
            return (lockout, mine.Count);
        }
    }

    /// <summary>A right code: the address starts again from no failures.</summary>
    public void JoinSucceeded(string address)
    {
        _joinFailures.TryRemove("a:" + address, out _);
        if (_cluster != null)
            try { _cluster.JoinSucceeded(address); }
            catch (Exception e) when (Cluster.ClusterDirectory.IsRedisFailure(e)) { }
    }
}
