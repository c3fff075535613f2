using System.Collections.Concurrent;
using Lab.Server.Cluster;
using Lab.Server.Persistence;
using Lab.Shared.Wire;

namespace Lab.Server.Sessions;

/// <summary>Server options (from the command line / configuration section "Lab").</summary>
public sealed class LabServerOptions
{
    public string DataDirectory { get; set; } = "data";
    /// <summary>The execution tier of every session's machine (--tier interp|jit); null: the machines' default
    /// (the JIT, or the LAB_TIER environment variable).</summary>
    public Lab.Machine.ExecutionTier? Tier { get; set; }
    /// <summary>The clock the per-address limits (join-code lockouts, creation allowances) read; tests
    /// replace it so a lockout cannot run out while they look at it. Not configuration.</summary>
    [Microsoft.Extensions.Configuration.ConfigurationKeyName("__clock_not_configurable")]
    public TimeProvider Clock { get; set; } = TimeProvider.System;
    public TimeSpan SaveInterval { get; set; } = TimeSpan.FromSeconds(30);
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);
    /// <summary>New sessions are refused beyond this many (restored sessions are always restored).</summary>
    public int MaxSessions { get; set; } = 64;
    /// <summary>Guest memory all sessions together may use, in MiB; 0: three quarters of the memory
    /// this process may use (the machine's, or its container's limit).</summary>
    public long MemoryBudgetMiB { get; set; }
    /// <summary>Guest memory the sessions created from one client address may use, in MiB.</summary>
    public long MemoryBudgetPerAddressMiB { get; set; } = 4096;
    /// <summary>Session creations one client address may make: a burst, then one per this many seconds.</summary>
    public int CreationsPerAddressBurst { get; set; } = 20;
    public double CreationIntervalPerAddressSeconds { get; set; } = 3;
    /// <summary>The built-in public session created at start (null or empty: none).</summary>
    public string? DemoSession { get; set; } = "demo";
    /// <summary>The demo's instructor key (command line --demo-key KEY, configuration Lab:DemoKey). Unset: the
    /// key in DATA/demo.key, or a new random one written there. The server logs it at start.</summary>
    public string? DemoKey { get; set; }
    /// <summary>Redis as HOST:PORT (command line --redis, configuration Lab:Redis): this server is a node of a
    /// cluster that keeps its sessions, their directory and snapshots in that Redis. Unset: a single server.</summary>
    public string? Redis { get; set; }
    /// <summary>This node's name in the cluster (--node; default: the host name and port).</summary>
    public string? NodeName { get; set; }
    /// <summary>The base URL clients reach this node at (--public-url; default: the address it listens on).</summary>
    public string? PublicUrl { get; set; }
    /// <summary>How long a node's hold on its sessions lasts without renewal: a node that dies loses its
    /// sessions to the others after this long (they are renewed every fifth of it).</summary>
    public TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>Test hook: awaited before each saved session is restored (null in production).</summary>
    public Func<string, Task>? BeforeRestore { get; set; }
}

/// <summary>
/// The singleton that owns every session: create, list, find, close; restores saved sessions in the
/// background after the server listens, saves them periodically (each on its own: one that fails is
/// logged and retried, the others go on) and at shutdown, and reaps idle ones.
/// Admission is atomic: the session cap and the memory budgets are checked and reserved under one lock.
/// </summary>
public sealed partial class SessionManager : IHostedService, IDisposable
{
    /// <summary>Host memory a session costs beyond its guest RAM (decoded code, tables, snapshots).</summary>
    public const int SessionOverheadMiB = 16;

    private readonly ConcurrentDictionary<string, LabSession> _sessions = new(StringComparer.OrdinalIgnoreCase);
    private readonly ISessionStore _store;
    private readonly SessionStore _disk;
    /// <summary>The cluster's directory in Redis (null on a single server).</summary>
    public ClusterDirectory? Cluster { get; }
    private readonly LabServerOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<SessionManager> _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _restored = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _maintenance, _restore;

    // Admission state, under _admission: sessions being created (name -> cost), sessions waiting to be
    // restored, what each live session costs and which address created it.
    private readonly object _admission = new();
    private readonly Dictionary<string, Admitted> _admitted = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, SessionSettings> _restoring = new(StringComparer.OrdinalIgnoreCase);
    private sealed record Admitted(long CostMiB, string? Address);

    public SessionManager(SessionStore disk, LabServerOptions options, ILoggerFactory loggers, ClusterDirectory? cluster = null)
    {
        _disk = disk;
        Cluster = cluster;
        _store = cluster != null ? new RedisSessionStore(cluster) : disk;
        _options = options;
        _loggers = loggers;
        _log = loggers.CreateLogger<SessionManager>();
        MemoryBudgetMiB = options.MemoryBudgetMiB > 0 ? options.MemoryBudgetMiB
            : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4 * 3 >> 20;
    }

    /// <summary>The guest memory all sessions together may use (MiB).</summary>
    public long MemoryBudgetMiB { get; }

    /// <summary>The session of that name. A session being closed is found until its files are gone
    /// (Close removes it last), so whoever no longer finds it also finds nothing on disk.</summary>
    public LabSession? Find(string name) => _sessions.TryGetValue(name, out var s) ? s : null;

    public IReadOnlyCollection<LabSession> All => _sessions.Values.Where(s => !s.Closed).ToArray();

    /// <summary>Completes when every saved session was restored (or refused) and the demo exists.</summary>
    public Task Restored => _restored.Task;

    /// <summary>True while a saved session of this name waits to be restored.</summary>
    public bool IsRestoring(string name)
    {
        lock (_admission) return _restoring.ContainsKey(name);
    }

    /// <summary>Sessions still waiting to be restored, as the session list shows them.</summary>
    public SessionSummary[] RestoringSummaries()
    {
        lock (_admission)
            return _restoring.Values.Select(s => new SessionSummary(s.Name, s.Program, s.Step, s.Profile, s.Private, 0, 0, false, s.SpeedName,
                "restoring after a server restart")).ToArray();
    }

    /// <summary>What a session of these settings is charged against the memory budgets (MiB).</summary>
    public static long CostMiB(SessionSettings settings) =>
        (settings.Profile == SessionSettings.PosixProfile ? settings.MemoryMiB : 2) + (settings.KernelImage?.Length ?? 0) / (1 << 20) + SessionOverheadMiB;

    /// <summary>Creates a new session on behalf of a client at <paramref name="address"/> (null: the
    /// server itself). Refused, with a text that says why, over the session cap or a memory budget, or
    /// when its folder cannot be written (then nothing is left running).</summary>
    public (LabSession? Session, string? Error) Create(SessionSettings settings, string? address = null)
    {
        if (settings.Validate() is { } error) return (null, error);
        settings = settings.WithHashedSecrets();   // from here on only the hashes exist on the server
        if (Cluster != null && PlaceElsewhere(settings) is { } placed) return placed;
        if (Admit(settings, address, restoring: false) is { } refused) return (null, refused);
        LabSession session;
        try
        {
            session = new LabSession(settings, null, _loggers.CreateLogger($"session.{settings.Name}"), _options.Tier);
        }
        catch (Exception e)
        {
            Withdraw(settings.Name);
            _log.LogError(e, "session {Name} could not be created", settings.Name);
            return (null, $"the session could not be started: {e.Message}");
        }
        try
        {
            if (Cluster != null)
            {
                // The name is taken cluster-wide and the lease this node's, in one step.
                if (!Cluster.Register(settings, runHere: true, Cluster.Node))
                {
                    session.Dispose();
                    Withdraw(settings.Name);
                    return (null, $"a session named '{settings.Name}' already exists");
                }
            }
            else lock (_storeLock) _store.Save(settings);
        }
        catch (Exception e)
        {
            // A session nobody can save would vanish at the next restart with the student's work: refuse it now.
            session.Dispose();
            Withdraw(settings.Name);
            string where = Cluster != null ? $"the cluster's Redis at {Cluster.Endpoint} cannot be reached" : "its folder cannot be written";
            _log.LogError("session {Name} not created: {Where} ({Error})", settings.Name, where, e.Message);
            return (null, Cluster != null
                ? $"the cluster cannot save sessions right now: its Redis at {Cluster.Endpoint} cannot be reached; nothing was created (try again when it is back)"
                : $"the server cannot save sessions right now ({e.Message.Split('\n')[0]}); nothing was created");
        }
        Go(session);
        _log.LogInformation("session {Name} created ({Profile} {Program}, {Cost} MiB{From})", settings.Name, settings.Profile,
            settings.Program, CostMiB(settings), address == null ? "" : $", from {address}");
        return (session, null);
    }

    /// <summary>Checks and reserves a name, a place under the cap and memory, all under one lock
    /// (so concurrent creations cannot overshoot). Restored sessions are not refused for the cap or
    /// memory: they existed before the restart, and a restart must not lose them.</summary>
    private string? Admit(SessionSettings settings, string? address, bool restoring)
    {
        long cost = CostMiB(settings);
        lock (_admission)
        {
            if (_admitted.ContainsKey(settings.Name) || (!restoring && _restoring.ContainsKey(settings.Name)))
                return $"a session named '{settings.Name}' already exists";
            if (!restoring)
            {
                if (_admitted.Count >= _options.MaxSessions)
                    return $"this server already runs {_admitted.Count} sessions (at most {_options.MaxSessions}): close one first";
                long used = _admitted.Values.Sum(a => a.CostMiB);
                if (used + cost > MemoryBudgetMiB)
                    return $"the server's memory for sessions is spent: {used} of {MemoryBudgetMiB} MiB are in use and this session needs {cost} MiB (close a session, or ask for less memory)";
                if (address != null)
                {
                    long mine = _admitted.Values.Where(a => a.Address == address).Sum(a => a.CostMiB);
                    long limit = Math.Min(_options.MemoryBudgetPerAddressMiB, MemoryBudgetMiB);
                    if (mine + cost > limit)
                        return $"sessions created from your address already use {mine} of the {limit} MiB one address may use, and this one needs {cost} MiB (close one of them first)";
                }
            }
            _admitted[settings.Name] = new Admitted(cost, address);
            return null;
        }
    }

    private void Withdraw(string name)
    {
        lock (_admission) _admitted.Remove(name);
    }

    /// <summary>An admitted session that started: from now on it is found and listed.</summary>
    private void Go(LabSession session)
    {
        lock (_admission) _sessions[session.Name] = session;
    }

    /// <summary>Closes a session: it stops, its files are deleted, and only then does it leave the
    /// list (so a session that is no longer listed has nothing left on disk).</summary>
    public void Close(string name)
    {
        if (!_sessions.TryGetValue(name, out var session)) return;
        session.Log(EventKind.System, 0, "the session was closed");
        session.Dispose();
        try { lock (_storeLock) _store.Delete(name); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)   // Redis's errors arrive as IOException (RedisSessionStore)
        {
            _log.LogWarning("session {Name} closed, but its saved files could not be deleted: {Error}", name, e.Message);
        }
        lock (_admission)
            if (_sessions.TryRemove(new KeyValuePair<string, LabSession>(name, session))) _admitted.Remove(name);
        _saveHealth.TryRemove(name, out _);
    }

    // ------------------------------------------------------------------------------------------
    // Saving: each session on its own. A failure is logged with the reason and retried after a
    // backoff (2 s, 4 s, ... up to the save interval); the other sessions are saved meanwhile.

    private readonly object _storeLock = new();
    private sealed class SaveHealth
    {
        public int Failures;
        public DateTime RetryAt;
    }
    private readonly ConcurrentDictionary<string, SaveHealth> _saveHealth = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Saves a session's settings and machine; returns null, or why it could not be saved
    /// (already logged). Never throws. A machine that cannot be snapshot keeps its last good snapshot
    /// on disk and its settings are still written. An unchanged machine is written again only when
    /// <paramref name="force"/> (the store lost it).</summary>
    public async Task<string?> SaveAsync(LabSession session, bool force = false)
    {
        if (session.Closed) return null;
        var health = _saveHealth.GetOrAdd(session.Name, _ => new SaveHealth());
        try
        {
            // A session closed while it is saved must not come back on disk (nor after a restart):
            // Close marks it closed before it deletes the folder under the same lock.
            lock (_storeLock)
            {
                if (session.Closed) return null;
                _store.Save(session.SettingsToSave());
            }
            // The session's own thread streams its machine into machine.bin (nothing the size of the
            // machine is built in memory); it takes the same lock for the write.
            bool saved = await session.SaveStateAsync(write =>
            {
                lock (_storeLock)
                {
                    if (!session.Closed) _store.SaveMachine(session.Name, write);
                }
            }, TimeSpan.FromSeconds(10), force: force);
            if (!saved && !session.Closed) throw new TimeoutException("its machine did not answer within 10 s");
        }
        catch (Exception e) when (e is not (IOException or UnauthorizedAccessException or TimeoutException))
        {
            // Our bug in the snapshot, not the disk's: its settings are saved and its last good
            // machine.bin kept (the failed write removed its temporary file).
            if (!session.Closed)
                _log.LogError(e, "session {Name}: the machine snapshot failed; its settings are saved and its last good snapshot kept", session.Name);
            return null;
        }
        catch (Exception e)
        {
            if (session.Closed) return null;
            health.Failures++;
            var backoff = TimeSpan.FromSeconds(Math.Min(_options.SaveInterval.TotalSeconds, Math.Pow(2, Math.Min(health.Failures, 16))));
            health.RetryAt = DateTime.UtcNow + backoff;
            _log.LogError("session {Name} could not be saved ({Error}); failure {Count}, retrying in {Seconds:0} s",
                session.Name, e.Message, health.Failures, backoff.TotalSeconds);
            return e.Message;
        }
        if (health.Failures > 0)
            _log.LogInformation("session {Name} saved again after {Count} failed attempts", session.Name, health.Failures);
        health.Failures = 0;
        return null;
    }

    /// <summary>Sessions whose last save failed and whose retry is due.</summary>
    private IEnumerable<LabSession> RetriesDue() =>
        All.Where(s => _saveHealth.TryGetValue(s.Name, out var h) && h.Failures > 0 && DateTime.UtcNow >= h.RetryAt);

    // ------------------------------------------------------------------------------------------
    // Start, background restore, maintenance, shutdown.

    /// <summary>Finds the saved sessions (their settings only: quick) so they are listed as
    /// restoring from the first request on, creates the demo if it is not among them, and leaves
    /// reading the machines back to a background task: the server listens at once.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _log.LogInformation("session limits: {Max} sessions, {Budget} MiB of guest memory in all, {PerAddress} MiB per client address",
            _options.MaxSessions, MemoryBudgetMiB, Math.Min(_options.MemoryBudgetPerAddressMiB, MemoryBudgetMiB));
        if (Cluster != null)
        {
            // A node restores nothing from disk: the cluster's sessions are in Redis, and ClusterNode adopts
            // those nobody runs (the demo among them, or creates it).
            if (!string.IsNullOrEmpty(_options.DemoSession)) DemoKey = Cluster.DemoKey(_options.DemoKey, SessionSettings.NewSecret());
            _restored.TrySetResult();
            _maintenance = Task.Run(() => MaintainAsync(_stop.Token));
            return Task.CompletedTask;
        }
        IReadOnlyList<SavedSession> saved = [];
        try
        {
            int removed = _disk.RemoveTemporaryFiles();
            if (removed > 0) _log.LogWarning("removed {Count} temporary files left by an interrupted save", removed);
            saved = _disk.List();
        }
        catch (Exception e)
        {
            _log.LogError("no saved session restored: {Dir} cannot be read ({Error})", _disk.Directory, e.Message);
        }
        lock (_admission)
            foreach (var s in saved) _restoring[s.Name] = s.Settings;
        if (!string.IsNullOrEmpty(_options.DemoSession))
        {
            DemoKey = ChooseDemoKey();
            if (!saved.Any(s => IsDemoName(s.Name))) CreateDemo();
        }
        _restore = Task.Run(() => RestoreAllAsync(saved, _stop.Token));
        _maintenance = Task.Run(() => MaintainAsync(_stop.Token));
        return Task.CompletedTask;
    }

    /// <summary>Creates the demo session (in a cluster: on the least-loaded node, if no node has it).</summary>
    public void CreateDemo()
    {
        var (_, error) = Create(new SessionSettings
        {
            Name = _options.DemoSession!,
            Program = "forkexit",
            InstructorKey = DemoKey ?? SessionSettings.NewSecret(),
            Pinned = true,
        });
        if (error != null) _log.LogError("the demo session {Name} could not be created: {Error}", _options.DemoSession, error);
    }

    /// <summary>The demo's instructor key (null without a demo): the operator's --demo-key, else the one in
    /// DATA/demo.key, else a new one. Whoever runs the server drives the demo with it.</summary>
    public string? DemoKey { get; private set; }

    /// <summary>Where the demo's key is kept for whoever runs the server (0600, beside the sessions).</summary>
    public string DemoKeyFile => Path.Combine(_disk.Directory, "demo.key");

    public bool IsDemo(LabSession session) => IsDemoName(session.Name);

    private bool IsDemoName(string name) => !string.IsNullOrEmpty(_options.DemoSession) && string.Equals(name, _options.DemoSession, StringComparison.OrdinalIgnoreCase);

    /// <summary>Decides the demo's key and writes it to <see cref="DemoKeyFile"/> when it changed (a file
    /// that cannot be written is logged: the key is still logged at start).</summary>
    private string ChooseDemoKey()
    {
        string? stored = null;
        try { if (File.Exists(DemoKeyFile)) stored = File.ReadAllText(DemoKeyFile).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { _log.LogWarning("cannot read {File}: {Error}", DemoKeyFile, e.Message); }
        string key = !string.IsNullOrWhiteSpace(_options.DemoKey) ? _options.DemoKey.Trim() : string.IsNullOrEmpty(stored) ? SessionSettings.NewSecret() : stored;
        if (key != stored)
        {
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                using (var file = new StreamWriter(new FileStream(DemoKeyFile, options))) file.WriteLine(key);
                if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(DemoKeyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.LogWarning("the demo's instructor key could not be written to {File}: {Error}", DemoKeyFile, e.Message);
            }
        }
        return key;
    }

    /// <summary>The one log line that tells whoever runs the server how to drive the demo (called once the
    /// server listens, with the address it listens on).</summary>
    public void LogDemoKey(string hostAndPort)
    {
        if (DemoKey is null) return;
        _log.LogInformation("demo session: drive it as its instructor with `tui connect {Host}/{Demo} --key {Key}` (the key is also in {File})",
            hostAndPort, _options.DemoSession, DemoKey, Cluster != null ? "Redis, under lab:demo-key, the same on every node" : DemoKeyFile);
    }

    /// <summary>Writes a session's settings (its roster, a new join code) at once, without its machine; a
    /// failure is logged and left to the next periodic save.</summary>
    public void SaveSettings(LabSession session)
    {
        try
        {
            lock (_storeLock)
                if (!session.Closed) _store.Save(session.SettingsToSave());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("session {Name}: its settings could not be saved now ({Error}); retried at the next save", session.Name, e.Message);
        }
    }

    /// <summary>Restores every saved session, one at a time; a damaged or unreadable one is refused
    /// with a log line (and moved to data/quarantine), never stopping the others or the server.</summary>
    private async Task RestoreAllAsync(IReadOnlyList<SavedSession> saved, CancellationToken stop)
    {
        try
        {
            int restored = 0, refused = 0;
            foreach (var s in saved)
            {
                if (stop.IsCancellationRequested) break;
                if (_options.BeforeRestore is { } hook) await hook(s.Name);
                if (Restore(s)) restored++;
                else refused++;
            }
            if (saved.Count > 0)
                _log.LogInformation("restored {Restored} of {Count} saved sessions{Refused}", restored, saved.Count,
                    refused > 0 ? $" ({refused} not restored: see the errors above)" : "");
            // A saved demo that could not be restored is made anew.
            if (!stop.IsCancellationRequested && !string.IsNullOrEmpty(_options.DemoSession) && Find(_options.DemoSession) is null) CreateDemo();
        }
        catch (Exception e)
        {
            _log.LogError(e, "restoring saved sessions failed");
        }
        finally
        {
            lock (_admission) _restoring.Clear();
            _restored.TrySetResult();
        }
    }

    /// <summary>Restores one saved session; false (logged) when it cannot be.</summary>
    private bool Restore(SavedSession saved)
    {
        var settings = saved.Settings.WithHashedSecrets();
        // The demo's key is the one the server logs (a saved demo of an older server had a key nobody saw).
        bool newDemoKey = IsDemoName(saved.Name) && DemoKey is { } demoKey && !settings.IsInstructorKey(demoKey);
        if (newDemoKey) settings = settings.WithInstructorKey(DemoKey!);
        bool plainSecrets = saved.Settings.InstructorKey != null || saved.Settings.JoinCode != null || newDemoKey;
        try
        {
            using var state = _disk.OpenMachine(saved);
            if (Admit(settings, null, restoring: true) is { } refused)
            {
                _log.LogError("session {Name} not restored: {Error}", saved.Name, refused);
                return false;
            }
            LabSession session;
            try { session = new LabSession(settings, state, _loggers.CreateLogger($"session.{settings.Name}"), _options.Tier); }
            catch
            {
                Withdraw(settings.Name);
                throw;
            }
            Go(session);
            _log.LogInformation("restored session {Name}", saved.Name);
            if (plainSecrets)
            {
                // An older server's settings.json holds the key and code in plain text: replace it now.
                try { lock (_storeLock) _store.Save(settings); }
                catch (Exception e) { _log.LogWarning("session {Name}: its settings still hold plain secrets ({Error}); retried at the next save", saved.Name, e.Message); }
            }
            return true;
        }
        catch (Exception e)
        {
            string where;
            try { where = $"its files were moved to {_disk.Quarantine(saved)}"; }
            catch (Exception q) when (q is IOException or UnauthorizedAccessException) { where = $"its files stay in {saved.Folder} ({q.Message})"; }
            _log.LogError("session {Name} not restored: {Error}; {Where}", saved.Name,
                e is InvalidDataException or EndOfStreamException ? e.Message : $"{e.GetType().Name}: {e.Message}", where);
            return false;
        }
        finally
        {
            lock (_admission) _restoring.Remove(saved.Name);
        }
    }

    /// <summary>Periodic saving and idle reaping. Nothing one session does stops it.</summary>
    private async Task MaintainAsync(CancellationToken stop)
    {
        var lastSave = DateTime.UtcNow;
        while (!stop.IsCancellationRequested)
        {
            try { await Task.Delay(TimeSpan.FromSeconds(1), stop); }
            catch (OperationCanceledException) { break; }
            try
            {
                foreach (var s in All)
                {
                    if (!s.Settings.Pinned && s.ParticipantCount == 0 && DateTime.UtcNow - s.LastActivityUtc > _options.IdleTimeout)
                    {
                        _log.LogInformation("closing idle session {Name}", s.Name);
                        try { Close(s.Name); }
                        catch (Exception e) { _log.LogError(e, "closing idle session {Name} failed", s.Name); }
                    }
                }
                if (DateTime.UtcNow - lastSave >= _options.SaveInterval)
                {
                    lastSave = DateTime.UtcNow;
                    foreach (var s in All) await SaveAsync(s);
                }
                else
                {
                    foreach (var s in RetriesDue()) await SaveAsync(s);
                }
            }
            catch (Exception e)
            {
                _log.LogError(e, "session maintenance failed; it goes on");
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stop.Cancel();
        foreach (var task in new[] { _maintenance, _restore })
        {
            if (task == null) continue;
            try { await task; }
            catch (Exception e) { _log.LogError(e, "a background task failed at shutdown"); }
        }
        var sessions = All;
        var failed = new List<string>();
        foreach (var s in sessions)
            if (await SaveAsync(s) is { } error) failed.Add($"{s.Name} ({error})");
        if (failed.Count > 0)
            _log.LogError("saved {Saved} of {Count} sessions to {Dir}; NOT saved: {Failed}",
                sessions.Count - failed.Count, sessions.Count, _store.Where, string.Join(", ", failed));
        // A node that handed every session over (or a server with none) has nothing to report.
        else if (sessions.Count > 0) _log.LogInformation("saved {Count} sessions to {Dir}", sessions.Count, _store.Where);
    }

    public void Dispose()
    {
        foreach (var s in _sessions.Values) s.Dispose();
        _sessions.Clear();
    }
}
