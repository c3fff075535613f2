using Lab.Server.Hubs;
using Lab.Server.Sessions;
using Lab.Shared.Wire;
using Microsoft.AspNetCore.SignalR;
using StackExchange.Redis;

namespace Lab.Server.Cluster;

/// <summary>
/// This server's part in a cluster (only with --redis). Every heartbeat (a fifth of the lease time) it
/// publishes its record, renews the leases of the sessions it runs, and adopts sessions nobody runs: those
/// assigned to it, and those whose node died (its lease expired) when it is the least-loaded node. On a
/// graceful stop it hands its sessions over first. The threading rule: one loop does all of it, and the hub
/// only reads (<see cref="Locate"/>, <see cref="ListSessions"/>).
/// </summary>
public sealed class ClusterNode : IHostedLifecycleService
{
    private readonly ClusterDirectory _directory;
    private readonly SessionManager _sessions;
    private readonly IHubContext<LabHub, ILabClient> _hub;
    private readonly LabServerOptions _options;
    private readonly ILogger<ClusterNode> _log;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private volatile IReadOnlyList<NodeRecord> _live = [];
    private bool _redisAway;
    /// <summary>When this node first saw each session without a lease (an orphan any node may take after a while).</summary>
    private readonly Dictionary<string, DateTime> _orphanSince = new(StringComparer.OrdinalIgnoreCase);

    public ClusterNode(ClusterDirectory directory, SessionManager sessions, IHubContext<LabHub, ILabClient> hub, LabServerOptions options, ILogger<ClusterNode> log)
    {
        _directory = directory;
        _sessions = sessions;
        _hub = hub;
        _options = options;
        _log = log;
    }

    public string Name => _directory.Node;

    /// <summary>The base URL clients reach this node at (set once the server listens).</summary>
    public string? Url { get; private set; }

    /// <summary>The SignalR group of a session's connections (on every node, through the Redis backplane).</summary>
    public static string GroupOf(string session) => "session:" + session.ToLowerInvariant();

    private TimeSpan Beat => _options.LeaseTime / 5;

    /// <summary>Called once the server listens: from now on this node announces itself and takes sessions.</summary>
    public void Listening(string url)
    {
        Url = _options.PublicUrl?.TrimEnd('/') ?? url;
        _log.LogInformation("cluster node {Node} at {Url}: sessions, their directory and snapshots are in Redis at {Redis}", Name, Url, _directory.Endpoint);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(() => LoopAsync(_stop.Token));
        return Task.CompletedTask;
    }

    private async Task LoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            if (Url != null)
            {
                try
                {
                    Heartbeat();
                    if (_redisAway) _log.LogInformation("Redis at {Redis} is back: node {Node} announces its sessions again", _directory.Endpoint, Name);
                    _redisAway = false;
                }
                catch (Exception e) when (ClusterDirectory.IsRedisFailure(e) || e is TimeoutException)
                {
                    if (!_redisAway)
                        _log.LogError("Redis at {Redis} cannot be reached ({Error}): the sessions on this node keep running; the cluster heals when Redis is back",
                            _directory.Endpoint, e.Message.Split('\n')[0]);
                    _redisAway = true;
                }
                catch (Exception e)
                {
                    _log.LogError(e, "cluster heartbeat failed; it goes on");
                }
            }
            try { await Task.Delay(Beat, stop); }
            catch (OperationCanceledException) { break; }
        }
    }

    /// <summary>One heartbeat: announce, renew, adopt.</summary>
    private void Heartbeat()
    {
        _directory.PublishNode(Record());
        _live = _directory.LiveNodes();
        RenewLeases();
        AdoptOrphans();
        if (!string.IsNullOrEmpty(_options.DemoSession) && _sessions.Find(_options.DemoSession) is null
            && !_directory.Find(_options.DemoSession).Exists && SessionManager.LeastLoadedNode(_live) == Name)
            _sessions.CreateDemo();
    }

    private NodeRecord Record()
    {
        var local = _sessions.All.Select(s => s.Latest.Status with { Participants = s.ParticipantCount, Node = Name }).ToArray();
        return new NodeRecord(Name, Url!, local.Length, _sessions.MemoryUsedMiB, _sessions.MemoryBudgetMiB, local);
    }

    /// <summary>Renews the lease of each session running here. A lease another node holds now means this node
    /// was cut off long enough to be given up: its copy stops (the other is newer). A session Redis forgot
    /// (Redis restarted empty) is registered again and saved at once.</summary>
    private void RenewLeases()
    {
        foreach (var session in _sessions.All)
        {
            switch (_directory.Renew(session.Name))
            {
                case LeaseState.Lost:
                    _log.LogWarning("session {Name}: another node runs it now (this node was cut off from Redis); this node's copy stops", session.Name);
                    _sessions.Release(session.Name, "this node lost the session to another node while it was cut off from Redis: reconnect to follow it there");
                    break;
                case LeaseState.Unknown:
                    _log.LogWarning("session {Name}: Redis no longer knows it (was Redis restarted?); registering it again", session.Name);
                    if (_directory.Register(session.SettingsToSave(), runHere: true, Name)) _ = _sessions.SaveAsync(session, force: true);
                    break;
                case LeaseState.Retaken:
                    _ = _sessions.SaveAsync(session, force: true);   // Redis may have lost its snapshot too
                    break;
            }
        }
    }

    /// <summary>Takes the sessions nobody runs that this node should: assigned to it; or, when their assignee is
    /// not alive, when it is the least-loaded live node (any node does after two heartbeats without a taker).</summary>
    private void AdoptOrphans()
    {
        var local = new HashSet<string>(_sessions.LocalNames, StringComparer.OrdinalIgnoreCase);
        var names = _directory.SessionNames().Where(n => !local.Contains(n)).ToArray();
        var owners = _directory.Owners(names);
        var live = _live.ToDictionary(n => n.Name, StringComparer.Ordinal);
        var now = DateTime.UtcNow;
        for (int i = 0; i < names.Length; i++)
        {
            string name = names[i];
            var (lease, assigned) = owners[i];
            if (lease != null)
            {
                _orphanSince.Remove(name);
                continue;
            }
            if (!_orphanSince.TryGetValue(name, out var since)) _orphanSince[name] = since = now;
            bool mine = assigned == Name
                        || ((assigned == null || !live.ContainsKey(assigned))
                            && (Preferred(name) == Name || now - since > 2 * Beat));
            if (mine && _directory.TryAcquire(name)) Adopt(name);
        }
        foreach (var gone in _orphanSince.Keys.Except(names, StringComparer.OrdinalIgnoreCase).ToArray()) _orphanSince.Remove(gone);
    }

    /// <summary>The live node that should take an orphan: the fewest sessions, ties broken by a hash of the
    /// session and node names (so the orphans of a dead node spread over the others).</summary>
    private string? Preferred(string session) =>
        _live.OrderBy(n => n.Sessions).ThenBy(n => StableHash(session + "@" + n.Name)).FirstOrDefault()?.Name;

    private static uint StableHash(string s)
    {
        uint h = 2166136261;
        foreach (char c in s) h = (h ^ c) * 16777619;
        return h;
    }

    /// <summary>Runs a session whose lease this node just took; one that cannot be restored is quarantined.</summary>
    private void Adopt(string name)
    {
        StoredSession? stored;
        string? error;
        try
        {
            stored = _directory.Load(name);
            error = stored is null ? "Redis has no settings for it" : _sessions.Adopt(stored);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
        {
            stored = null;
            error = e.Message;
        }
        _orphanSince.Remove(name);
        if (error != null)
        {
            string where = _directory.Quarantine(name);
            _log.LogError("session {Name} cannot run on node {Node}: {Error}; its keys were moved to {Where}", name, Name, error, where);
            return;
        }
        _log.LogInformation("node {Node} runs session {Name} now ({How})", Name, name, stored!.Machine is null ? "new" : "from its last snapshot");
        // Whoever still watches it through its old node (a graceful handover) is told where it went.
        _ = _hub.Clients.Group(GroupOf(name)).Moved(Url!);
    }

    /// <summary>Where a session runs: here (Url null), on another node, or nowhere for a moment (Waiting).
    /// Null when no such session exists. Reads Redis without blocking a thread (a class arriving at once sends
    /// hundreds of lookups: blocking calls starved the thread pool and timed out); the owner's URL comes from the
    /// node list of the last heartbeat (≤ 1 s old). Throws RedisException while Redis is unreachable,
    /// RedisTimeoutException when it does not answer in time.</summary>
    public async Task<SessionLocation?> LocateAsync(string session)
    {
        var live = _live;
        var nodes = live.Select(n => n.Url).ToArray();
        if (_sessions.Find(session) is { Closed: false } here) return new SessionLocation(here.Name, null, Name, null, nodes);
        var (exists, owner, assigned) = await _directory.FindAsync(session);
        if (!exists) return null;
        if (owner == null)
            return new SessionLocation(session, null, null, assigned != null
                ? $"session '{session}' is starting on node {assigned}: try again in a moment"
                : $"session '{session}' is moving to another node (its node stopped answering): try again in a moment", nodes);
        var node = live.FirstOrDefault(n => n.Name == owner);
        if (owner == Name || node is null)
            return new SessionLocation(session, null, owner, $"session '{session}' is starting on node {owner}: try again in a moment", nodes);
        return new SessionLocation(session, node.Url, node.Name, null, nodes);
    }

    /// <summary>Every session of the cluster, each with the node that runs it; sessions that run nowhere for a
    /// moment are listed as moving. While Redis is unreachable, this node's own sessions only.</summary>
    public SessionSummary[] ListSessions()
    {
        var local = Record().Summaries;
        try
        {
            // A node's record outlives it by a few seconds: a line counts only while its node holds the session's lease.
            var names = _directory.SessionNames();
            var owners = _directory.Owners(names);
            var holder = names.Select((n, i) => (n, owners[i].Lease)).ToDictionary(x => x.n, x => x.Lease, StringComparer.OrdinalIgnoreCase);
            var all = local.Concat(_directory.LiveNodes().Where(n => n.Name != Name).SelectMany(n => n.Summaries))
                .Where(s => holder.TryGetValue(s.Name, out var h) && h == s.Node)
                .GroupBy(s => s.Name, StringComparer.OrdinalIgnoreCase).Select(g => g.First()).ToList();
            var listed = new HashSet<string>(all.Select(s => s.Name), StringComparer.OrdinalIgnoreCase);
            foreach (string name in names.Where(n => !listed.Contains(n)))
                all.Add(new SessionSummary(name, "", "", "", false, 0, 0, false, "", holder[name] is { } node
                    ? $"on node {node}, which does not answer yet or any more: it goes on on another node within seconds if that node is gone"
                    : "moving to another node: it goes on there in a few seconds"));
            return all.OrderBy(s => s.Name, StringComparer.OrdinalIgnoreCase).ToArray();
        }
        catch (Exception e) when (ClusterDirectory.IsRedisFailure(e) || e is TimeoutException)
        {
            return local;
        }
    }

    /// <summary>
    /// A graceful stop hands every session over: this node leaves the list of live nodes, then each session
    /// stops taking input, writes its final snapshot and is assigned to the least-loaded other node (or to
    /// whoever comes, without one), which restores it from exactly there and tells its viewers where it went.
    /// Waits (up to twice the lease time) for them to be taken, so the viewers are still connected to hear it.
    /// Runs before the host's ApplicationStopping (which makes SignalR close every connection).
    /// </summary>
    public Task StoppingAsync(CancellationToken cancellationToken) => HandOverAsync();

    /// <summary>Hands the sessions over, once (see <see cref="StoppingAsync"/>; <see cref="ClusterLifetime"/>
    /// calls it on SIGTERM or Ctrl+C before SignalR closes the connections, so the viewers hear where their
    /// session went).</summary>
    public Task HandOverAsync()
    {
        lock (_stop) return _handOver ??= HandOverOnceAsync();
    }
    private Task? _handOver;

    public Task StopAsync(CancellationToken cancellationToken) => HandOverAsync();

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task HandOverOnceAsync()
    {
        _stop.Cancel();
        if (_loop != null) await _loop;
        var local = _sessions.All.ToArray();
        try
        {
            _directory.RemoveNode();
            var others = _directory.LiveNodes().Where(n => n.Name != Name).ToList();
            var load = others.ToDictionary(n => n.Name, n => n.Sessions);
            foreach (var session in local)
            {
                await _sessions.SaveFinalAsync(session);
                string? to = load.Count == 0 ? null : load.OrderBy(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).First().Key;
                if (to != null) load[to]++;
                _directory.Release(session.Name, to);
            }
            if (local.Length > 0 && others.Count > 0)
            {
                var names = local.Select(s => s.Name).ToArray();
                var until = DateTime.UtcNow + 2 * _options.LeaseTime;
                while (DateTime.UtcNow < until && _directory.Owners(names).Any(o => o.Lease == null || o.Lease == Name))
                    await Task.Delay(100, CancellationToken.None);
                var owners = _directory.Owners(names);
                _log.LogInformation("node {Node} handed over {Count} sessions: {List}", Name, names.Length,
                    string.Join(", ", names.Select((n, i) => $"{n} → {owners[i].Lease ?? "nobody yet"}")));
                await TellViewersWhereAsync(local, owners.Select(o => o.Lease).ToArray());
            }
            else if (local.Length > 0)
                _log.LogWarning("node {Node} stops with no other node alive: its {Count} sessions wait in Redis for the next node that starts", Name, local.Length);
        }
        catch (Exception e) when (ClusterDirectory.IsRedisFailure(e) || e is TimeoutException)
        {
            _log.LogError("node {Node} could not hand its sessions over (Redis: {Error}); another node resumes them from their last snapshots once their leases expire",
                Name, e.Message.Split('\n')[0]);
        }
        foreach (var session in local) _sessions.Release(session.Name, "the session moved to another node");
    }

    /// <summary>
    /// Tells the viewers still connected here where each handed-over session went, and waits (up to the lease
    /// time) until they have left. The new node says so too once it runs the session, but only through the
    /// backplane and possibly after this node has closed its connections; a client that then knew no other node
    /// could not follow. Told here, it asks the new node, which answers "starting" until the session runs.
    /// </summary>
    private async Task TellViewersWhereAsync(LabSession[] sessions, string?[] holders)
    {
        var urls = _directory.LiveNodes().ToDictionary(n => n.Name, n => n.Url);
        var told = new List<LabSession>();
        for (int i = 0; i < sessions.Length; i++)
            if (holders[i] is { } holder && holder != Name && urls.TryGetValue(holder, out var url))
            {
                await _hub.Clients.Group(GroupOf(sessions[i].Name)).Moved(url);
                told.Add(sessions[i]);
            }
        var until = DateTime.UtcNow + _options.LeaseTime;
        while (DateTime.UtcNow < until && told.Any(s => s.ParticipantCount > 0))
            await Task.Delay(100, CancellationToken.None);
    }
}
