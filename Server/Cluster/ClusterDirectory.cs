using System.Text.Json;
using Lab.Server.Sessions;
using Lab.Shared.Wire;
using StackExchange.Redis;

namespace Lab.Server.Cluster;

/// <summary>What a node says about itself every heartbeat (JSON under lab:node:NAME, expiring with its lease):
/// where clients reach it, how loaded it is, and the list lines of the sessions it runs.</summary>
public sealed record NodeRecord(string Name, string Url, int Sessions, long MemoryUsedMiB, long MemoryBudgetMiB, SessionSummary[] Summaries);

/// <summary>A session as Redis keeps it: its settings (secrets hashed, the kernel file apart) and its last snapshot (null before the first).</summary>
public sealed record StoredSession(SessionSettings Settings, byte[]? Machine);

/// <summary>
/// Every key a cluster keeps in Redis, and nothing else (the node's logic is in <see cref="ClusterNode"/>):
/// <list type="bullet">
/// <item><c>lab:sessions</c> — the set of every session's name (a name is taken cluster-wide by SADD);</item>
/// <item><c>lab:s:NAME</c> — a hash: <c>settings</c> (JSON), <c>kernel</c> (a kernel session's file), <c>machine</c> (the last snapshot);</item>
/// <item><c>lab:lease:NAME</c> — the node that runs it, expiring after the lease time unless that node renews it;</item>
/// <item><c>lab:assign:NAME</c> — the node a new or handed-over session should go to (a short-lived hint);</item>
/// <item><c>lab:node:NAME</c> — a live node's <see cref="NodeRecord"/>, expiring like a lease; <c>lab:nodes</c> the names ever seen;</item>
/// <item><c>lab:demo-key</c> — the demo's instructor key, the same on every node;</item>
/// <item><c>lab:limit:…</c> — per-address limits shared by all nodes (<see cref="ClusterLimits"/>).</item>
/// </list>
/// Writes to a session's keys are fenced: only the holder of its lease may write them (a Lua script checks
/// the lease and writes in one step), so a node cut off from Redis whose lease another node took can never
/// overwrite the newer state. Every call may throw <see cref="RedisException"/> while Redis is unreachable.
/// </summary>
public sealed class ClusterDirectory : IAsyncDisposable
{
    /// <summary>Whether <paramref name="e"/> is Redis failing: unreachable (RedisException) or too slow to answer
    /// (RedisTimeoutException, which is a TimeoutException and not a RedisException).</summary>
    public static bool IsRedisFailure(Exception e) => e is RedisException or RedisTimeoutException;

    private static readonly JsonSerializerOptions Json = new();
    private readonly ConnectionMultiplexer _redis;
    private readonly string _prefix;

    public string Node { get; }
    public string Endpoint { get; }
    public TimeSpan Lease { get; }
    public IDatabase Db => _redis.GetDatabase();
    public ConnectionMultiplexer Connection => _redis;
    public bool Connected => _redis.IsConnected;

    private ClusterDirectory(ConnectionMultiplexer redis, string endpoint, string node, TimeSpan lease, string prefix)
    {
        _redis = redis;
        Endpoint = endpoint;
        Node = node;
        Lease = lease;
        _prefix = prefix;
    }

    /// <summary>Connects to Redis at HOST:PORT. Throws <see cref="ClusterUnreachableException"/> with a clear
    /// message when it cannot be reached now; later outages are ridden out (the client reconnects by itself).</summary>
    public static ClusterDirectory Connect(string endpoint, string node, TimeSpan lease, string prefix = "lab")
    {
        var config = new ConfigurationOptions
        {
            AbortOnConnectFail = true,
            ConnectTimeout = 5000,
            SyncTimeout = 5000,
            ConnectRetry = 2,
            ClientName = $"lab-{node}",
            ReconnectRetryPolicy = new LinearRetry(1000),
            // While Redis is away a call fails at once (the node goes on with what it has) instead of waiting in a backlog.
            BacklogPolicy = BacklogPolicy.FailFast,
        };
        try
        {
            config.EndPoints.Add(endpoint);
            var redis = ConnectionMultiplexer.Connect(config);
            redis.GetDatabase().Ping();
            return new ClusterDirectory(redis, endpoint, node, lease, prefix);
        }
        catch (Exception e) when (e is RedisException or ArgumentException or FormatException)
        {
            throw new ClusterUnreachableException($"cannot reach Redis at {endpoint} (--redis): {e.Message.Split('\n')[0]}", e);
        }
    }

    private RedisKey SessionsKey => $"{_prefix}:sessions";
    private RedisKey SessionKey(string name) => $"{_prefix}:s:{name.ToLowerInvariant()}";
    private RedisKey LeaseKey(string name) => $"{_prefix}:lease:{name.ToLowerInvariant()}";
    private RedisKey AssignKey(string name) => $"{_prefix}:assign:{name.ToLowerInvariant()}";
    private RedisKey NodeKey(string node) => $"{_prefix}:node:{node}";
    private RedisKey NodesKey => $"{_prefix}:nodes";
    public RedisKey LimitKey(string what) => $"{_prefix}:limit:{what}";
    private long LeaseMs => (long)Lease.TotalMilliseconds;

    // ------------------------------------------------------------------------------------------
    // Nodes.

    /// <summary>Publishes this node's record; it expires after three lease times unless published again.</summary>
    public void PublishNode(NodeRecord record)
    {
        var batch = Db.CreateBatch();
        var set = batch.StringSetAsync(NodeKey(record.Name), JsonSerializer.SerializeToUtf8Bytes(record, Json), Lease * 3);
        var add = batch.SetAddAsync(NodesKey, record.Name);
        batch.Execute();
        Task.WaitAll(set, add);
    }

    /// <summary>Removes this node's record at once (a graceful stop).</summary>
    public void RemoveNode() => Db.KeyDelete(NodeKey(Node));

    /// <summary>Every live node's record (those whose record has not expired).</summary>
    public IReadOnlyList<NodeRecord> LiveNodes()
    {
        var names = Db.SetMembers(NodesKey).Select(n => (string)n!).ToArray();
        if (names.Length == 0) return [];
        var values = Db.StringGet(names.Select(n => NodeKey(n)).ToArray());
        var live = new List<NodeRecord>();
        for (int i = 0; i < names.Length; i++)
        {
            if (values[i].IsNullOrEmpty) continue;
            try { if (JsonSerializer.Deserialize<NodeRecord>((byte[])values[i]!, Json) is { } r) live.Add(r); }
            catch (JsonException) { }
        }
        return live;
    }

    // ------------------------------------------------------------------------------------------
    // Sessions: names, leases, assignments.

    private const string RegisterScript = """
        if redis.call('sadd', KEYS[1], ARGV[1]) == 0 then return 0 end
        redis.call('del', KEYS[2])
        redis.call('hset', KEYS[2], 'settings', ARGV[2])
        if ARGV[3] ~= '' then redis.call('hset', KEYS[2], 'kernel', ARGV[3]) end
        if ARGV[4] == 'lease' then redis.call('set', KEYS[3], ARGV[5], 'PX', ARGV[6])
        else redis.call('set', KEYS[4], ARGV[5], 'PX', ARGV[6]) end
        return 1
        """;

    /// <summary>Takes a new session's name cluster-wide and stores its settings. With <paramref name="runHere"/>
    /// this node takes its lease; otherwise it is assigned to <paramref name="node"/>, which adopts it on its next
    /// scan. False when the name is taken.</summary>
    public bool Register(SessionSettings settings, bool runHere, string node)
    {
        var result = Db.ScriptEvaluate(RegisterScript,
            [SessionsKey, SessionKey(settings.Name), LeaseKey(settings.Name), AssignKey(settings.Name)],
            [settings.Name, SettingsJson(settings), settings.KernelImage ?? RedisValue.EmptyString, runHere ? "lease" : "assign", node,
             runHere ? LeaseMs : (long)(Lease * 4).TotalMilliseconds]);
        return (long)result == 1;
    }

    /// <summary>Every session's name in the cluster.</summary>
    public string[] SessionNames() => Db.SetMembers(SessionsKey).Select(n => (string)n!).ToArray();

    /// <summary>The holders of these sessions' leases (null: nobody runs it now) and their assignment hints.</summary>
    public (string? Lease, string? Assigned)[] Owners(IReadOnlyList<string> names)
    {
        if (names.Count == 0) return [];
        var leases = Db.StringGet(names.Select(LeaseKey).ToArray());
        var assigns = Db.StringGet(names.Select(AssignKey).ToArray());
        return names.Select((_, i) => ((string?)leases[i], (string?)assigns[i])).ToArray();
    }

    /// <summary>The node holding a session's lease (null: nobody now), and whether the session exists at all.</summary>
    public async Task<(bool Exists, string? Owner, string? Assigned)> FindAsync(string name)
    {
        var batch = Db.CreateBatch();
        var exists = batch.SetContainsAsync(SessionsKey, name);
        var lease = batch.StringGetAsync(LeaseKey(name));
        var assign = batch.StringGetAsync(AssignKey(name));
        batch.Execute();
        return (await exists, await lease, await assign);
    }

    /// <summary><see cref="FindAsync"/> for the heartbeat (its own loop, one call a second).</summary>
    public (bool Exists, string? Owner, string? Assigned) Find(string name) => FindAsync(name).GetAwaiter().GetResult();

    /// <summary>Takes an unheld session's lease for this node; false when another node holds it.</summary>
    public bool TryAcquire(string name) => Db.StringSet(LeaseKey(name), Node, Lease, When.NotExists);

    private const string RenewScript = """
        local holder = redis.call('get', KEYS[1])
        if holder == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
        if not holder then
          if redis.call('sismember', KEYS[2], ARGV[3]) == 0 then return -1 end
          redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2
        end
        return 0
        """;

    /// <summary>Renews this node's lease of a session it runs: Renewed; Retaken (the lease was gone, after Redis
    /// lost its data or a long outage, and nobody else took it: this node holds it again); Lost (another node
    /// holds it: this node's copy must stop); Unknown (Redis no longer knows the session: register it again).</summary>
    public LeaseState Renew(string name)
    {
        long r = (long)Db.ScriptEvaluate(RenewScript, [LeaseKey(name), SessionsKey], [Node, LeaseMs, name]);
        return r switch { 1 => LeaseState.Renewed, 2 => LeaseState.Retaken, -1 => LeaseState.Unknown, _ => LeaseState.Lost };
    }

    private const string ReleaseScript = """
        if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
        redis.call('del', KEYS[1])
        if ARGV[2] ~= '' then redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
        return 1
        """;

    /// <summary>Gives up this node's lease of a session (a graceful stop), assigning it to <paramref name="to"/>
    /// (null: whoever adopts it first). False when this node did not hold it.</summary>
    public bool Release(string name, string? to) =>
        (long)Db.ScriptEvaluate(ReleaseScript, [LeaseKey(name), AssignKey(name)], [Node, to ?? "", (long)(Lease * 4).TotalMilliseconds]) == 1;

    // ------------------------------------------------------------------------------------------
    // Sessions: settings and snapshots (fenced by the lease).

    private const string FencedWriteScript = """
        if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
        redis.call('hset', KEYS[2], ARGV[2], ARGV[3])
        if ARGV[4] ~= '' then redis.call('hset', KEYS[2], ARGV[4], ARGV[5]) end
        return 1
        """;

    /// <summary>Writes a session's settings (and its kernel file, when given) if this node holds its lease;
    /// throws <see cref="LeaseLostException"/> otherwise.</summary>
    public void SaveSettings(SessionSettings settings, bool withKernel)
    {
        bool kernel = withKernel && settings.KernelImage != null;
        Fenced(settings.Name, "settings", SettingsJson(settings), kernel ? "kernel" : "", kernel ? settings.KernelImage! : RedisValue.EmptyString);
    }

    /// <summary>Writes a session's snapshot (a <c>SnapshotFile</c>) if this node holds its lease; throws
    /// <see cref="LeaseLostException"/> otherwise.</summary>
    public void SaveMachine(string name, byte[] snapshot) => Fenced(name, "machine", snapshot, "", RedisValue.EmptyString);

    private void Fenced(string name, string field, RedisValue value, string field2, RedisValue value2)
    {
        var r = Db.ScriptEvaluate(FencedWriteScript, [LeaseKey(name), SessionKey(name)], [Node, field, value, field2, value2]);
        if ((long)r != 1) throw new LeaseLostException($"this node no longer holds session {name}'s lease: another node runs it");
    }

    /// <summary>Reads a session's settings, kernel file and last snapshot (null when Redis has no settings for it).</summary>
    public StoredSession? Load(string name)
    {
        var fields = Db.HashGet(SessionKey(name), ["settings", "kernel", "machine"]);
        if (fields[0].IsNullOrEmpty) return null;
        var settings = JsonSerializer.Deserialize<SessionSettings>((byte[])fields[0]!, Json)
                       ?? throw new InvalidDataException("its settings in Redis are empty");
        if (!fields[1].IsNullOrEmpty) settings = settings with { KernelImage = fields[1] };
        return new StoredSession(settings, fields[2].IsNullOrEmpty ? null : (byte[])fields[2]!);
    }

    private const string DeleteScript = """
        local holder = redis.call('get', KEYS[1])
        if holder and holder ~= ARGV[1] then return 0 end
        redis.call('del', KEYS[1], KEYS[2], KEYS[3])
        redis.call('srem', KEYS[4], ARGV[2])
        return 1
        """;

    /// <summary>Deletes a closed session from the cluster (unless another node holds its lease).</summary>
    public bool Delete(string name) =>
        (long)Db.ScriptEvaluate(DeleteScript, [LeaseKey(name), SessionKey(name), AssignKey(name), SessionsKey], [Node, name]) == 1;

    /// <summary>Moves a session that cannot be restored out of the directory (its keys stay under
    /// lab:quarantine:NAME:TIME for whoever wants to look); returns that key.</summary>
    public string Quarantine(string name)
    {
        string target = $"{_prefix}:quarantine:{name}:{DateTime.UtcNow:yyyyMMdd-HHmmss}";
        var t = Db.CreateTransaction();
        _ = t.KeyRenameAsync(SessionKey(name), target);
        _ = t.SetRemoveAsync(SessionsKey, name);
        _ = t.KeyDeleteAsync(LeaseKey(name));
        _ = t.KeyDeleteAsync(AssignKey(name));
        t.Execute();
        return target;
    }

    /// <summary>The demo's instructor key for the whole cluster: the operator's (stored for the others),
    /// else the one already stored, else <paramref name="fresh"/> (stored if no node stored one first).</summary>
    public string DemoKey(string? operatorKey, string fresh)
    {
        RedisKey key = $"{_prefix}:demo-key";
        if (!string.IsNullOrWhiteSpace(operatorKey))
        {
            Db.StringSet(key, operatorKey.Trim());
            return operatorKey.Trim();
        }
        Db.StringSet(key, fresh, when: When.NotExists);
        return (string?)Db.StringGet(key) ?? fresh;
    }

    private static byte[] SettingsJson(SessionSettings settings) =>
        JsonSerializer.SerializeToUtf8Bytes(settings with { KernelImage = null }, Json);

    public async ValueTask DisposeAsync() => await _redis.CloseAsync();
}

public enum LeaseState { Renewed, Retaken, Lost, Unknown }

/// <summary>Redis cannot be reached at start (the node refuses to start without it).</summary>
public sealed class ClusterUnreachableException(string message, Exception inner) : Exception(message, inner);

/// <summary>A fenced write found another node holding the session's lease (an IOException: the save is
/// refused like a full disk, and the node's lease check stops its stale copy).</summary>
public sealed class LeaseLostException(string message) : IOException(message);
