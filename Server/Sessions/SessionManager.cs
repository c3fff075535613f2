using System.Collections.Concurrent;
using Lab.Server.Persistence;
using Lab.Shared.Wire;

namespace Lab.Server.Sessions;

/// <summary>Server options (from the command line / configuration section "Lab").</summary>
public sealed class LabServerOptions
{
    public string DataDirectory { get; set; } = "data";
    public TimeSpan SaveInterval { get; set; } = TimeSpan.FromSeconds(30);
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);
    public int MaxSessions { get; set; } = 64;
    /// <summary>The built-in public session created at start (null or empty: none).</summary>
    public string? DemoSession { get; set; } = "demo";
}

/// <summary>
/// The singleton that owns every session: create, list, find, close; restores saved sessions at
/// start, saves them periodically and at shutdown, and reaps idle ones.
/// </summary>
public sealed class SessionManager : IHostedService, IDisposable
{
    private readonly ConcurrentDictionary<string, LabSession> _sessions = new(StringComparer.OrdinalIgnoreCase);
    private readonly SessionStore _store;
    private readonly LabServerOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<SessionManager> _log;
    private readonly CancellationTokenSource _stop = new();
    private Task? _maintenance;

    public SessionManager(SessionStore store, LabServerOptions options, ILoggerFactory loggers)
    {
        _store = store;
        _options = options;
        _loggers = loggers;
        _log = loggers.CreateLogger<SessionManager>();
    }

    public LabSession? Find(string name) => _sessions.TryGetValue(name, out var s) ? s : null;

    public IReadOnlyCollection<LabSession> All => _sessions.Values.ToArray();

    /// <summary>Creates a session; the error text explains a refusal.</summary>
    public (LabSession? Session, string? Error) Create(SessionSettings settings, Stream? state = null)
    {
        if (settings.Validate() is { } error) return (null, error);
        if (_sessions.Count >= _options.MaxSessions) return (null, $"this server already runs {_options.MaxSessions} sessions");
        var session = new LabSession(settings, state, _loggers.CreateLogger($"session.{settings.Name}"));
        if (!_sessions.TryAdd(settings.Name, session))
        {
            session.Dispose();
            return (null, $"a session named '{settings.Name}' already exists");
        }
        _store.Save(settings);
        _log.LogInformation("session {Name} created ({Program}, step {Step})", settings.Name, settings.Program, settings.Step);
        return (session, null);
    }

    public void Close(string name)
    {
        if (_sessions.TryRemove(name, out var session))
        {
            session.Log(EventKind.System, 0, "the session was closed");
            session.Dispose();
            try { lock (_storeLock) _store.Delete(name); }
            catch (IOException e) { _log.LogWarning("session {Name} closed, but its saved files could not be deleted: {Error}", name, e.Message); }
        }
    }

    /// <summary>Saves a session's settings and machine. A machine that cannot be snapshot (our bug) is
    /// logged and keeps its last good snapshot; it never stops the saving of the others or shutdown.</summary>
    private readonly object _storeLock = new();

    public async Task SaveAsync(LabSession session)
    {
        if (session.Closed) return;
        // The session's thread streams its machine into the file (SessionStore.SaveMachine).
        try { await session.SaveStateAsync(write => _store.SaveMachine(session.Name, write), TimeSpan.FromSeconds(10)); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (!session.Closed)
                _log.LogError(e, "session {Name}: the machine snapshot failed; its settings are saved and its last good snapshot kept", session.Name);
        }
        // A session closed while its snapshot was taken must not come back on disk (nor after a
        // restart): Close marks it closed before it deletes the folder under the same lock.
        lock (_storeLock)
        {
            if (session.Closed) return;
            _store.Save(session.Settings);
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var (settings, machineFile) in _store.LoadAll())
        {
            FileStream? state;
            try { state = machineFile is null ? null : File.OpenRead(machineFile); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.LogWarning("skipping saved session {Name}: {Error}", settings.Name, e.Message);
                continue;
            }
            using (state)
            {
                var (_, error) = Create(settings, state);
                if (error != null) _log.LogWarning("could not restore session {Name}: {Error}", settings.Name, error);
                else _log.LogInformation("restored session {Name}", settings.Name);
            }
        }
        if (!string.IsNullOrEmpty(_options.DemoSession) && Find(_options.DemoSession) is null)
        {
            Create(new SessionSettings
            {
                Name = _options.DemoSession,
                Program = "forkexit",
                InstructorKey = SessionSettings.NewSecret(),
                Pinned = true,
            });
        }
        _maintenance = Task.Run(() => MaintainAsync(_stop.Token));
        await Task.CompletedTask;
    }

    /// <summary>Periodic saving and idle reaping.</summary>
    private async Task MaintainAsync(CancellationToken stop)
    {
        var lastSave = DateTime.UtcNow;
        while (!stop.IsCancellationRequested)
        {
            try { await Task.Delay(TimeSpan.FromSeconds(1), stop); }
            catch (OperationCanceledException) { break; }
            foreach (var s in All)
            {
                if (!s.Settings.Pinned && s.ParticipantCount == 0 && DateTime.UtcNow - s.LastActivityUtc > _options.IdleTimeout)
                {
                    _log.LogInformation("closing idle session {Name}", s.Name);
                    // Maintenance must outlive any one session's trouble (it also saves all the others).
                    try { Close(s.Name); }
                    catch (Exception e) { _log.LogError(e, "closing idle session {Name} failed", s.Name); }
                }
            }
            if (DateTime.UtcNow - lastSave >= _options.SaveInterval)
            {
                lastSave = DateTime.UtcNow;
                foreach (var s in All)
                {
                    try { await SaveAsync(s); }
                    catch (IOException e) { _log.LogWarning("saving {Name} failed: {Error}", s.Name, e.Message); }
                }
            }
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stop.Cancel();
        if (_maintenance != null) await _maintenance;
        foreach (var s in All)
        {
            try { await SaveAsync(s); }
            catch (IOException e) { _log.LogWarning("saving {Name} at shutdown failed: {Error}", s.Name, e.Message); }
        }
        _log.LogInformation("saved {Count} sessions to {Dir}", _sessions.Count, _store.Directory);
    }

    public void Dispose()
    {
        foreach (var s in _sessions.Values) s.Dispose();
        _sessions.Clear();
    }
}
