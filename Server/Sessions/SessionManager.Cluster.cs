using Lab.Server.Cluster;
using Lab.Server.Persistence;
using Lab.Shared.Wire;

namespace Lab.Server.Sessions;

// The session manager's part in a cluster (Cluster is set): where a new session goes, taking over a session
// another node ran, letting one go. ClusterNode decides when; these do it. On a single server none is called.
public sealed partial class SessionManager
{
    /// <summary>
    /// Places a new session on the least-loaded live node. When that is another node, the session is
    /// registered in Redis and assigned to it (it starts there on that node's next scan, within a second) and
    /// this returns (null, null) or (null, why not); when it is this node, null, and Create goes on here.
    /// </summary>
    private (LabSession? Session, string? Error)? PlaceElsewhere(SessionSettings settings)
    {
        var cluster = Cluster!;
        string? target;
        try { target = LeastLoadedNode(WithRecentPlacements(cluster.LiveNodes())); }
        catch (Exception e) when (Lab.Server.Cluster.ClusterDirectory.IsRedisFailure(e)) { target = null; }   // Redis away: this node takes it (Register then says why not)
        if (target is null || target == cluster.Node) return null;
        try
        {
            if (!cluster.Register(settings, runHere: false, target)) return (null, $"a session named '{settings.Name}' already exists");
        }
        catch (Exception e) when (Lab.Server.Cluster.ClusterDirectory.IsRedisFailure(e))
        {
            return (null, $"the cluster cannot save sessions right now (Redis: {e.Message.Split('\n')[0]}); nothing was created");
        }
        lock (_recentPlacements) _recentPlacements.Add((target, DateTime.UtcNow));
        _log.LogInformation("session {Name} created for node {Node}, the least loaded ({Profile} {Program})", settings.Name, target, settings.Profile, settings.Program);
        return (null, null);
    }

    /// <summary>Sessions this node placed on others in the last seconds: their records do not count them yet, and
    /// a burst of creations (a class starting) must not all go to the node that looked emptiest a moment ago.</summary>
    private readonly List<(string Node, DateTime At)> _recentPlacements = [];

    private IEnumerable<NodeRecord> WithRecentPlacements(IEnumerable<NodeRecord> nodes)
    {
        lock (_recentPlacements)
        {
            _recentPlacements.RemoveAll(p => DateTime.UtcNow - p.At > 2 * _options.LeaseTime);
            var recent = _recentPlacements.GroupBy(p => p.Node).ToDictionary(g => g.Key, g => g.Count());
            return nodes.Select(n => n with { Sessions = n.Name == Cluster!.Node ? All.Count : n.Sessions + recent.GetValueOrDefault(n.Name) }).ToArray();
        }
    }

    /// <summary>The live node with the most guest memory to spare (ties: fewest sessions, then name); null when none is known.</summary>
    public static string? LeastLoadedNode(IEnumerable<NodeRecord> nodes) =>
        nodes.OrderByDescending(n => n.MemoryBudgetMiB - n.MemoryUsedMiB >= 0 ? 1 : 0)
            .ThenBy(n => n.Sessions)
            .ThenByDescending(n => n.MemoryBudgetMiB - n.MemoryUsedMiB)
            .ThenBy(n => n.Name, StringComparer.Ordinal)
            .FirstOrDefault()?.Name;

    /// <summary>The guest memory the sessions running here are charged (MiB).</summary>
    public long MemoryUsedMiB
    {
        get { lock (_admission) return _admitted.Values.Sum(a => a.CostMiB); }
    }

    /// <summary>
    /// Runs a session another node ran (or that was created for this one), from what Redis keeps: its
    /// settings and last snapshot. This node must hold its lease. Returns null, or why it cannot run
    /// (then it is quarantined in Redis by the caller). Never refused for the cap or memory: a session that
    /// existed must not be lost because its new node is full.
    /// </summary>
    public string? Adopt(StoredSession stored)
    {
        var settings = stored.Settings.WithHashedSecrets();
        if (settings.Validate() is { } invalid) return $"invalid settings ({invalid})";
        if (IsDemoName(settings.Name) && DemoKey is { } demoKey && !settings.IsInstructorKey(demoKey)) settings = settings.WithInstructorKey(demoKey);
        if (Admit(settings, null, restoring: true) is { } refused) return refused;
        LabSession session;
        try
        {
            using Stream? state = stored.Machine is { } machine ? new MemoryStream(SnapshotFile.Unwrap(machine, out _).ToArray(), writable: false) : null;
            session = new LabSession(settings, state, _loggers.CreateLogger($"session.{settings.Name}"), _options.Tier);
        }
        catch (Exception e)
        {
            Withdraw(settings.Name);
            return e is InvalidDataException or EndOfStreamException ? e.Message : $"{e.GetType().Name}: {e.Message}";
        }
        Go(session);
        session.Log(EventKind.System, 0, stored.Machine is null ? $"the session started on node {Cluster!.Node}" : $"the session goes on on node {Cluster!.Node}, from its last snapshot");
        return null;
    }

    /// <summary>
    /// Hands a session over (this node stops gracefully): input is refused from now on, its settings and a
    /// final snapshot are written, and its machine stops there, so its next node starts from exactly where it
    /// stopped. False (logged) when the final save failed; the periodic snapshot is then what survives.
    /// </summary>
    public async Task<bool> SaveFinalAsync(LabSession session)
    {
        session.Moving = "the session is moving to another node (this one is stopping): it goes on there in a moment, and your client reconnects by itself";
        try
        {
            lock (_storeLock) _store.Save(session.SettingsToSave());
            bool saved = await session.SaveStateAsync(write =>
            {
                lock (_storeLock) _store.SaveMachine(session.Name, write);
            }, TimeSpan.FromSeconds(10), final: true);
            if (!saved) throw new TimeoutException("its machine did not answer within 10 s");
            return true;
        }
        catch (Exception e)
        {
            _log.LogError("session {Name}: its final snapshot failed ({Error}); it goes on elsewhere from its last periodic snapshot", session.Name, e.Message);
            return false;
        }
    }

    /// <summary>Stops running a session here without deleting it (another node runs it now, or will): its
    /// viewers get a last frame and their connection's session ends.</summary>
    public void Release(string name, string why)
    {
        if (!_sessions.TryGetValue(name, out var session)) return;
        session.Log(EventKind.System, 0, why);
        session.Dispose();
        lock (_admission)
            if (_sessions.TryRemove(new KeyValuePair<string, LabSession>(name, session))) _admitted.Remove(name);
        _saveHealth.TryRemove(name, out _);
        (_store as RedisSessionStore)?.Forget(name);
    }

    /// <summary>Sessions that run here (closed ones excluded), for the lease renewal.</summary>
    public IReadOnlyCollection<string> LocalNames => All.Select(s => s.Name).ToArray();
}
