using StackExchange.Redis;

namespace Lab.Server.Cluster;

/// <summary>
/// The per-address limits of <see cref="Hubs.AddressLimits"/> kept in Redis, so every node of a cluster counts
/// the same: wrong join codes (the address's lockout and the session's minute), and session creations (a
/// token bucket). The same rules as the single server's, in Lua scripts that read and write in one step.
/// Throws RedisException while Redis is away (the caller falls back to the node's own counts).
/// </summary>
public sealed class ClusterLimits(ClusterDirectory directory)
{
    private const string RefusalScript = """
        local now = tonumber(ARGV[1])
        local locked = tonumber(redis.call('hget', KEYS[1], 'until') or '0')
        if locked > now then return {1, locked - now} end
        redis.call('zremrangebyscore', KEYS[2], '-inf', now - 60000)
        if redis.call('zcard', KEYS[2]) >= tonumber(ARGV[2]) then
          local oldest = redis.call('zrange', KEYS[2], 0, 0, 'WITHSCORES')
          return {2, tonumber(oldest[2]) + 60000 - now}
        end
        return {0, 0}
        """;

    /// <summary>0: the address may try a code now; 1: the address is locked out; 2: the session saw too many
    /// wrong codes this minute. With the time left.</summary>
    public (int Refused, TimeSpan Left) JoinRefusal(string address, string session, DateTime now, int sessionFailuresPerMinute)
    {
        var r = (RedisResult[])directory.Db.ScriptEvaluate(RefusalScript, [AddressKey(address), SessionKey(session)], [Ms(now), sessionFailuresPerMinute])!;
        return ((int)r[0], TimeSpan.FromMilliseconds((long)r[1]));
    }

    private const string FailedScript = """
        local now = tonumber(ARGV[1])
        redis.call('zadd', KEYS[2], now, ARGV[5])
        redis.call('zremrangebyscore', KEYS[2], '-inf', now - 60000)
        redis.call('pexpire', KEYS[2], 120000)
        local count = redis.call('hincrby', KEYS[1], 'count', 1)
        redis.call('pexpire', KEYS[1], 3600000)
        local free = tonumber(ARGV[2])
        if count < free then return {count, 0} end
        local lock = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * (2 ^ math.min(count - free, 16)))
        redis.call('hset', KEYS[1], 'until', now + lock)
        return {count, lock}
        """;

    /// <summary>Counts a wrong code against the address and the session; the address's failures and the lockout it starts.</summary>
    public (int Failures, TimeSpan Lockout) JoinFailed(string address, string session, DateTime now, int freeFailures, TimeSpan lockoutBase, TimeSpan lockoutMax)
    {
        var r = (RedisResult[])directory.Db.ScriptEvaluate(FailedScript, [AddressKey(address), SessionKey(session)],
            [Ms(now), freeFailures, (long)lockoutBase.TotalMilliseconds, (long)lockoutMax.TotalMilliseconds, Guid.NewGuid().ToString("N")])!;
        return ((int)r[0], TimeSpan.FromMilliseconds((long)r[1]));
    }

    /// <summary>A right code: the address starts again from no failures.</summary>
    /// <summary>Forgets the address's failures; sent without waiting for the answer (a join never waits on it).</summary>
    public void JoinSucceeded(string address) => directory.Db.KeyDelete(AddressKey(address), CommandFlags.FireAndForget);

    private const string CreateScript = """
        local now = tonumber(ARGV[1]); local rate = tonumber(ARGV[2]); local burst = tonumber(ARGV[3])
        local t = redis.call('hmget', KEYS[1], 'tokens', 'at')
        local tokens = tonumber(t[1]) or burst
        local at = tonumber(t[2]) or now
        tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
        local ok = 0
        if tokens >= 1 then tokens = tokens - 1; ok = 1 end
        redis.call('hset', KEYS[1], 'tokens', tostring(tokens), 'at', now)
        redis.call('pexpire', KEYS[1], 3600000)
        return ok
        """;

    /// <summary>Takes one session creation from the address's allowance; false when it is spent.</summary>
    public bool TryCreate(string address, DateTime now, double perSecond, int burst) =>
        (long)directory.Db.ScriptEvaluate(CreateScript, [directory.LimitKey("create:" + address)], [Ms(now), perSecond, burst]) == 1;

    private RedisKey AddressKey(string address) => directory.LimitKey("fail:a:" + address);
    private RedisKey SessionKey(string session) => directory.LimitKey("fail:s:" + session.ToLowerInvariant());
    private static long Ms(DateTime t) => (long)(t - DateTime.UnixEpoch).TotalMilliseconds;
}
