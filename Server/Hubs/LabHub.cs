using Lab.Server.Sessions;
using Lab.Shared.Wire;
using Microsoft.AspNetCore.SignalR;

namespace Lab.Server.Hubs;

/// <summary>
/// The hub at /hubs/lab (documented in docs/PROTOCOL.md). Thin: it checks roles and rates and hands
/// work to the session (commands go through the session's channel; the machine is never touched here).
/// Errors reach the caller as HubException text that says why.
/// </summary>
public sealed class LabHub : Hub<ILabClient>, ILabHub
{
    private const int MaxFloodRefusals = 50;
    private readonly SessionManager _sessions;
    private readonly ConnectionTracker _connections;
    private readonly IHubContext<LabHub, ILabClient> _context;
    private readonly AddressLimits _addresses;
    private readonly ILogger<LabHub> _log;
    private readonly IHostApplicationLifetime _lifetime;
    /// <summary>This node's part in a cluster (null on a single server).</summary>
    private readonly Cluster.ClusterNode? _cluster;

    public LabHub(SessionManager sessions, ConnectionTracker connections, IHubContext<LabHub, ILabClient> context, AddressLimits addresses, ILogger<LabHub> log,
        IHostApplicationLifetime lifetime, IServiceProvider services)
    {
        _cluster = services.GetService<Cluster.ClusterNode>();
        _sessions = sessions;
        _connections = connections;
        _context = context;
        _addresses = addresses;
        _log = log;
        _lifetime = lifetime;
    }

    /// <summary>A server that is stopping takes no new connections: SignalR closes the open ones as it stops,
    /// and a client reconnecting at once would otherwise hold the shutdown up for its whole timeout (30 s)
    /// before the restarted server could have it. The transport is cut rather than the hub connection
    /// closed: a hub close tells the client not to reconnect, and it must go on trying until the server
    /// is back.</summary>
    public override Task OnConnectedAsync()
    {
        if (_lifetime.ApplicationStopping.IsCancellationRequested)
        {
            if (Context.GetHttpContext() is { } http) http.Abort();
            else Context.Abort();
        }
        return Task.CompletedTask;
    }

    /// <summary>This connection's state; every call of a connection whose participant was removed is refused.</summary>
    private ConnectionState State
    {
        get
        {
            var state = _connections.Get(Context.ConnectionId);
            if (state.RemovedBy is { } by)
            {
                Limit(state.Commands, "calls");   // a removed client that keeps calling is closed like any flood
                throw new HubException($"you were removed from this session by {by}");
            }
            return state;
        }
    }

    /// <summary>The caller's IP address (IPv4 as dotted quad even on a dual-stack socket): limits that a new
    /// connection must not reset are kept per address.</summary>
    private string ClientAddress
    {
        get
        {
            var ip = Context.GetHttpContext()?.Connection.RemoteIpAddress;
            if (ip == null) return "unknown";
            return (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString();
        }
    }

    /// <summary>Public and private sessions with their status (private ones do not reveal codes);
    /// sessions still being restored after a restart are listed as such.</summary>
    public Task<SessionSummary[]> ListSessions()
    {
        Limit(State.Queries, "session lists");
        if (_cluster != null) return Task.FromResult(_cluster.ListSessions());
        return Task.FromResult(_sessions.All.Select(s => s.Latest.Status with { Participants = s.ParticipantCount })
            .Concat(_sessions.RestoringSummaries()).OrderBy(s => s.Name).ToArray());
    }

    /// <summary>Creates a session. The caller receives the instructor key (and a join code for a private session).</summary>
    public Task<CreateSessionResult> CreateSession(CreateSessionOptions options)
    {
        Limit(State.Creates, "session creations");
        // A stranger's message may leave any field nil (MessagePack arrays): read those as empty.
        if (options is null) throw new HubException("CreateSession needs its options (see docs/PROTOCOL.md)");
        options = options with { Name = options.Name ?? "", Program = options.Program ?? "", Step = options.Step ?? "", Profile = options.Profile ?? "" };
        string address = ClientAddress;
        if (!_addresses.TryCreate(address))
            throw new HubException("too many session creations from your address: slow down (try again in a minute)");
        // A kernel session boots the file this connection uploaded (tui create --kernel FILE).
        byte[]? kernel = null;
        if (options.Profile == SessionSettings.KernelProfile)
        {
            var upload = _connections.TakeUpload(State);
            if (upload == null) throw new HubException("a kernel session needs its kernel file: upload it first (tui create HOST/SESSION --kernel FILE does both)");
            kernel = upload.Bytes;
            options = options with { Program = upload.Name };
        }
        var settings = new SessionSettings
        {
            Name = options.Name,
            Program = SessionSettings.ProgramFor(options.Profile, options.Program),
            Step = options.Step,
            Profile = options.Profile,
            MemoryMiB = options.MemoryMiB > 0 ? options.MemoryMiB : 64,
            TicksPerSecond = SessionSettings.DefaultSpeed(options.Profile),
            Private = options.Private,
            InstructorKey = SessionSettings.NewSecret(),
            JoinCode = options.Private ? SessionSettings.NewJoinCode() : null,
            KernelImage = kernel,
        };
        var (session, error) = _sessions.Create(settings, address);
        if (error != null) throw new HubException(error);
        session?.KnowJoinCode(settings.JoinCode);   // null: created for another node of the cluster
        return Task.FromResult(new CreateSessionResult(settings.Name, settings.InstructorKey, settings.JoinCode));
    }

    /// <summary>
    /// Joins a session. <paramref name="code"/> is the join code of a private session, or the
    /// instructor key (which makes the caller an instructor). A wrong code or key gets nothing, counts
    /// against the caller's address and the session (with a growing lockout), and is logged.
    /// </summary>
    public Task<JoinResult> Join(string session, string name, string? code) => Joined(Admit(session, name, code, token: null));

    /// <summary>In a cluster, a joined connection is in its session's group, so the node that takes the session
    /// over can tell it where it went (through the Redis backplane).</summary>
    private async Task<JoinResult> Joined(JoinResult result)
    {
        if (_cluster != null) await Groups.AddToGroupAsync(Context.ConnectionId, Cluster.ClusterNode.GroupOf(result.Session));
        return result;
    }

    /// <summary>Where a session runs (see <see cref="ILabHub.Locate"/>).</summary>
    public async Task<SessionLocation> Locate(string session)
    {
        Limit(State.Queries, "session lookups");
        if (_cluster == null)
        {
            if (_sessions.Find(session ?? "") is { Closed: false } here) return new SessionLocation(here.Name, null, null, null, []);
            if (_sessions.IsRestoring(session ?? ""))
                return new SessionLocation(session!, null, null, $"session '{session}' is still being restored after a server restart: try again in a few seconds", []);
            throw new HubException($"no session named '{session}' on this server");
        }
        try
        {
            return await _cluster.LocateAsync(session ?? "") ?? throw new HubException($"no session named '{session}' in this cluster");
        }
        catch (Exception e) when (Cluster.ClusterDirectory.IsRedisFailure(e))
        {
            // Not a refusal: the client asks again (Waiting), as it does while a session moves.
            string why = e is StackExchange.Redis.RedisTimeoutException ? "does not answer in time" : "cannot be reached";
            return new SessionLocation(session ?? "", null, null,
                $"the cluster's directory (Redis) {why} from this node now, and session '{session}' does not run here: trying again", []);
        }
    }

    /// <summary>
    /// Joins again as the participant a rejoin token names (same name, role and id), e.g. after a lost
    /// connection or a server restart. A token the session does not know joins as <see cref="Join"/> would;
    /// a token voided by `remove` is refused. With a known token, <paramref name="code"/> counts only when
    /// it is the instructor key (the caller is an instructor and Info shows the key); anything else is ignored.
    /// </summary>
    public Task<JoinResult> Rejoin(string session, string name, string? code, string token)
    {
        if (string.IsNullOrEmpty(token)) throw new HubException("Rejoin needs the rejoin token an earlier Join gave (JoinResult key 4); without one, use Join");
        return Joined(Admit(session, name, code, token));
    }

    /// <summary>What Join and Rejoin share: find the session, check the code (or the token), admit.</summary>
    private JoinResult Admit(string session, string name, string? code, string? token)
    {
        var state = State;
        Limit(state.Joins, "joins");
        var target = _sessions.Find(session ?? "");
        if (target == null || target.Closed)
            throw new HubException(_cluster != null ? ElsewhereInCluster(session ?? "")
                : _sessions.IsRestoring(session ?? "")
                ? $"session '{session}' is still being restored after a server restart: try again in a few seconds"
                : $"no session named '{session}' on this server");
        string address = ClientAddress;
        bool withCode = !string.IsNullOrEmpty(code);

        if (token != null && target.TokenStatus(token) is { } removedBy)
        {
            if (removedBy.Length > 0) throw new HubException($"you were removed from this session by {removedBy}");
            // The token admits; a code beside it counts only as the instructor key (anything else, such as a
            // join code changed since, is ignored), and is not tried while the address is locked out.
            string? key = withCode && _addresses.JoinRefusal(address, target.Name) is null && target.Settings.IsInstructorKey(code!) ? code : null;
            LeaveCurrent(state);
            var (known, again, error) = target.Rejoin(Context.ConnectionId, token, key != null ? Role.Instructor : Role.Viewer);
            if (error != null) throw new HubException(error);
            if (known) return Attach(state, target, again!, key);
            // Dropped from the roster in the meantime: join as anybody would.
        }

        if (ParticipantNames.Check(name) is { } badName) throw new HubException(badName);
        if ((withCode || target.Settings.Private) && _addresses.JoinRefusal(address, target.Name) is { } locked)
            throw new HubException(locked);
        Role role;
        if (withCode && target.Settings.IsInstructorKey(code!)) role = Role.Instructor;
        else if (target.Settings.Private && !withCode) throw new HubException("this session is private: a join code is required");
        else if (target.Settings.Private && target.Settings.IsJoinCode(code!)) role = Role.Viewer;
        else if (withCode) throw WrongCode(target, address, name, target.Settings.Private ? "wrong join code or instructor key" : "wrong instructor key");
        else role = Role.Viewer;
        if (withCode) _addresses.JoinSucceeded(address);

        LeaveCurrent(state);
        var (joined, refused) = target.Add(Context.ConnectionId, name, role);
        if (joined == null) throw new HubException(refused);
        return Attach(state, target, joined, role == Role.Instructor ? code : null);
    }

    /// <summary>Why a session cannot be joined on this node of a cluster: where it runs instead, or why it runs nowhere now.</summary>
    private string ElsewhereInCluster(string session)
    {
        try
        {
            // Joining on a node that does not run the session is rare (clients Locate first): blocking here is fine.
            return _cluster!.LocateAsync(session).GetAwaiter().GetResult() switch
            {
                null => $"no session named '{session}' in this cluster",
                { Url: { } url, Node: var node } => $"session '{session}' runs on node {node} ({url}): connect there (tui connect follows this by itself)",
                { Waiting: { } waiting } => waiting,
                _ => $"session '{session}' is starting on this node: try again in a moment",
            };
        }
        catch (Exception e) when (Cluster.ClusterDirectory.IsRedisFailure(e))
        {
            return $"session '{session}' does not run on this node, and the cluster's directory (Redis) cannot be reached now: try again in a moment";
        }
    }

    /// <summary>Makes this connection the participant <paramref name="joined"/> of <paramref name="target"/>:
    /// a connection that held the same participant until now is detached, and this one gets its sender.</summary>
    private JoinResult Attach(ConnectionState state, LabSession target, Membership joined, string? instructorKey)
    {
        if (joined.Displaced is { } old && _connections.Find(old) is { } oldState) Detach(oldState);
        state.Session = target;
        state.InstructorKey = instructorKey;
        var connection = Context;
        state.Sender = new ClientSender(_context, target, Context.ConnectionId, _sessions.Cluster?.Node, () => connection.Abort());
        var p = joined.Participant;
        return new JoinResult(target.Name, p.Role, p.Id, p.Name, joined.RejoinToken);
    }

    /// <summary>The joined session and who the caller is in it; instructors also get the join code (of a
    /// private session, when the server can know it) and the instructor key (when they joined with it).</summary>
    public Task<SessionInfo> Info()
    {
        var state = State;
        Limit(state.Queries, "info requests");
        return Task.FromResult(InfoOf(state));
    }

    private SessionInfo InfoOf(ConnectionState state)
    {
        var s = state.Session ?? throw new HubException("join a session first");
        var who = s.Lookup(Context.ConnectionId) ?? throw new HubException("join a session first");
        bool instructor = who.Role == Role.Instructor;
        var settings = s.Settings;
        return new SessionInfo(s.Name, settings.Profile, settings.Program, settings.Step, settings.Private, s.IdOf(Context.ConnectionId) ?? "",
            who.Name, who.Role, instructor ? s.JoinCodeFor(state.InstructorKey) : null, instructor ? state.InstructorKey : null);
    }

    /// <summary>Session info as the `info` command says it (one line).</summary>
    private string InfoText(SessionInfo i)
    {
        string what = i.Profile == SessionSettings.WeensyProfile ? $"{i.Profile} {i.Program} at step {i.Step}" : $"{i.Profile} {i.Program}";
        var parts = new List<string>
        {
            $"session {i.Session}: {what}, {(i.Private ? "private" : "public")}",
            $"you are {i.Name} ({i.ParticipantId}), {i.Role.ToString().ToLowerInvariant()}",
        };
        if (i.Role == Role.Instructor)
        {
            if (i.Private) parts.Add(i.JoinCode is { } c ? $"join code {c}" : "join code unknown (the server keeps only its hash; `code` makes a new one)");
            parts.Add(i.InstructorKey is { } k ? $"instructor key {k} (tui connect {Host}/{i.Session} --key {k})"
                : "instructor key not known to this connection (you did not join with it)");
        }
        return string.Join("; ", parts);
    }

    /// <summary>HOST:PORT as the caller reached this server (for the commands refusals suggest).</summary>
    private string Host => Context.GetHttpContext()?.Request.Host.Value is { Length: > 0 } h ? h : "HOST";

    /// <summary>Counts and logs a wrong code; the refusal says when the caller may try again.</summary>
    private HubException WrongCode(LabSession target, string address, string name, string reason)
    {
        var (lockout, failures) = _addresses.JoinFailed(address, target.Name);
        _log.LogWarning("wrong code for session {Session} from {Address} (as '{Name}'): failure {Failures}{Lockout}",
            target.Name, address, name, failures, lockout > TimeSpan.Zero ? $", address locked out for {lockout.TotalSeconds:0} s" : "");
        return new HubException(lockout > TimeSpan.Zero ? $"{reason} (too many wrong codes: try again in {lockout.TotalSeconds:0} s)" : reason);
    }

    public Task Leave()
    {
        LeaveCurrent(State);
        return Task.CompletedTask;
    }

    /// <summary>Asks for the virtual memory map of a pid in this client's frames (0 stops it).</summary>
    public Task ViewMemory(int pid)
    {
        Limit(State.Views, "view changes");
        var sender = State.Sender ?? throw new HubException("join a session first");
        if (pid < 0) throw new HubException($"no such process {pid} (ps lists them)");
        if (pid > 0) CheckProcess(State.Session!, pid);
        sender.ViewMemory(pid);
        State.Session?.SetViewedPid(Context.ConnectionId, pid);
        return Task.CompletedTask;
    }

    /// <summary>Asks for every system call of these pids in this client's frames (the aggregated log stays as it is). An empty list stops it.</summary>
    public Task Watch(int[] pids)
    {
        Limit(State.Views, "view changes");
        var sender = State.Sender ?? throw new HubException("join a session first");
        if (pids is null || pids.Length > 16) throw new HubException("watch at most 16 pids");
        sender.Watch(pids.ToHashSet());
        return Task.CompletedTask;
    }

    /// <summary>Types a key into the machine (drivers and instructors). Keys are single characters
    /// (control characters included, e.g. "\u0003" for Ctrl-C); "Enter", "Esc", "Backspace" and "Tab" are named.</summary>
    public Task Key(string key) => PostKeys(() => key switch
    {
        "Enter" => "\n",
        "Esc" => "\x1b",
        "Backspace" => "\x7f",
        "Tab" => "\t",
        { Length: 1 } => key,
        _ => throw new HubException($"unknown key '{key}': send one character, 'Enter', 'Esc', 'Backspace' or 'Tab'"),
    });

    /// <summary>Types a run of keys at once (typing ahead, a paste; drivers and instructors): up to
    /// <see cref="MaxTypedKeys"/> characters, "\n" or "\r" for Enter, counted as one key against the
    /// rate limit so a pasted command line is not refused halfway.</summary>
    public Task Type(string text) => PostKeys(() =>
    {
        if (string.IsNullOrEmpty(text)) throw new HubException("nothing to type");
        if (text.Length > MaxTypedKeys) throw new HubException($"type at most {MaxTypedKeys} characters at once");
        return text.Replace('\r', '\n');
    });

    /// <summary>What Key and Type share: one token of the key rate limit (refused keys count too, so a
    /// viewer's flood is throttled like a driver's), drivers only, then the keys (checked by
    /// <paramref name="keys"/> after the role and the limit) go to the session if its input has room.</summary>
    private Task PostKeys(Func<string> keys)
    {
        Limit(State.Keys, "keys");
        var (session, who, _) = RequireRole(Role.Driver, "type into the machine");
        if (session.Moving is { } moving) throw new HubException(moving);
        string text = keys();
        if (!session.TryReserveInput(text.Length))
            throw new HubException($"the machine is not reading its input: at most {LabSession.MaxPendingInput / 1024} KiB of typed input may wait (is it paused?); try again when it has read some");
        if (!session.Post(new KeyCommand(who, text)))
        {
            session.ReleaseInput(text.Length);
            throw new HubException("the session is busy: slow down");
        }
        return Task.CompletedTask;
    }

    public const int MaxTypedKeys = 1024;

    /// <summary>Refuses a pid that is not in the session's process table as last published (the hub never
    /// touches the machine: the loop publishes the table with every snapshot).</summary>
    private static void CheckProcess(LabSession session, int pid)
    {
        if (!session.Latest.Processes.Any(p => p.Pid == pid)) throw new HubException($"no such process {pid} (ps lists them)");
    }

    /// <summary>The panes an instructor can lead everyone to (follow PANE [PID]).</summary>
    public static readonly string[] FollowPanes = ["memory", "vmap", "debugger", "events", "cga"];

    /// <summary>
    /// A session command (see docs/PROTOCOL.md): info, pause, resume, speed X, reboot [program] [step],
    /// grant NAME, revoke NAME, remove NAME, code, follow PANE [PID], unfollow, close. Returns a confirmation text.
    /// </summary>
    public async Task<string> Command(string command)
    {
        Limit(State.Commands, "commands");   // first: a refused command counts too
        var words = (command ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length == 0) throw new HubException("empty command");
        string verb = words[0].ToLowerInvariant();
        if (LabSession.IsDebuggerVerb(verb))
        {
            var (s, who, _) = RequireRole(Role.Driver, "use the debugger");
            return await AskSession(() => s.DebugAsync(who, words));
        }
        switch (verb)
        {
            case "pause":
                {
                    var (s, who, _) = RequireRole(Role.Driver, "pause the machine");
                    Post(s, new PauseCommand(who));
                    return "paused";
                }
            case "resume":
            case "continue":
                {
                    var (s, who, _) = RequireRole(Role.Driver, "resume the machine");
                    Post(s, new ResumeCommand(who));
                    return "resumed";
                }
            case "speed":
                {
                    var (s, who, _) = RequireRole(Role.Driver, "change the speed");
                    if (words.Length != 2 || SessionSettings.ParseSpeed(words[1]) is not { } tps)
                        throw new HubException("usage: speed realtime|slow|max|<factor>x (e.g. speed 0.5x)");
                    Post(s, new SpeedCommand(who, tps));
                    return $"speed {words[1]}";
                }
            case "reboot":
                {
                    var (s, who, _) = RequireRole(Role.Driver, "reboot the machine");
                    if (s.Settings.Profile == SessionSettings.KernelProfile)
                    {
                        if (words.Length > 1) throw new HubException("a kernel session reboots the kernel it was given: say just `reboot`");
                        Post(s, new RebootCommand(who, null, null));
                        return $"rebooting {s.Settings.Program}";
                    }
                    bool posix = s.Settings.Profile == SessionSettings.PosixProfile;
                    // A POSIX session reboots into a command line (reboot sh -i, reboot t-fork); WeensyOS into a program and a step.
                    string? program = words.Length <= 1 ? null : posix ? string.Join(' ', words[1..]) : words[1].ToLowerInvariant();
                    string? step = !posix && words.Length > 2 ? words[2].ToLowerInvariant() : null;
                    var check = s.Settings with { Program = program ?? s.Settings.Program, Step = step ?? s.Settings.Step };
                    if (check.Validate() is { } error) throw new HubException(error);
                    Post(s, new RebootCommand(who, program, step));
                    return posix ? $"rebooting into {check.Program}" : $"rebooting into {check.Program} at step {check.Step}";
                }
            case "grant":
            case "revoke":
                {
                    var (s, who, _) = RequireRole(Role.Instructor, $"{verb} driving");
                    if (words.Length != 2) throw new HubException($"usage: {verb} ID|NAME (the id, e.g. p3, is shown in the participants list)");
                    var (name, error) = s.SetRole(words[1], verb == "grant" ? Role.Driver : Role.Viewer, who);
                    if (name == null) throw new HubException(error);
                    _sessions.SaveSettings(s);   // a grant survives a crash too, not only a clean restart
                    return $"{(verb == "grant" ? "granted" : "revoked")} {name}";
                }
            case "remove":
                {
                    var (s, who, _) = RequireRole(Role.Instructor, "remove participants");
                    if (words.Length != 2) throw new HubException("usage: remove ID|NAME (the id, e.g. p3, is shown in the participants list)");
                    var (name, connection, error) = s.RemoveParticipant(words[1], Context.ConnectionId, who);
                    if (name == null) throw new HubException(error);
                    if (_connections.Find(connection!) is { } removed)
                    {
                        removed.RemovedBy = who;
                        Detach(removed);
                    }
                    _sessions.SaveSettings(s);
                    // Told after it is out (a slow or gone client must not hold this call up).
                    try { await _context.Clients.Client(connection!).Removed(who).WaitAsync(TimeSpan.FromSeconds(2)); }
                    catch (Exception e) when (e is TimeoutException or IOException or OperationCanceledException or InvalidOperationException) { }
                    return $"removed {name}";
                }
            case "code":
                {
                    var (s, who, _) = RequireRole(Role.Instructor, "change the join code");
                    if (words.Length != 1) throw new HubException("usage: code (gives a private session a new join code)");
                    if (!s.Settings.Private)
                        throw new HubException($"session '{s.Name}' is public: anyone may join without a code. A private session (with a join code) is created with `tui create {Host}/NAME --private`");
                    string code = s.ChangeJoinCode(State.InstructorKey, who);
                    _sessions.SaveSettings(s);
                    return $"new join code {code}: the old one no longer works (who is in stays)";
                }
            case "info":
                {
                    if (words.Length != 1) throw new HubException("usage: info (the session, your role; for instructors the join code and instructor key)");
                    return InfoText(InfoOf(State));
                }
            case "follow":
                {
                    var (s, who, _) = RequireRole(Role.Instructor, "lead follow mode");
                    if (words.Length is < 2 or > 3) throw new HubException("usage: follow PANE [PID] (PANE: " + string.Join(", ", FollowPanes) + ")");
                    if (!FollowPanes.Contains(words[1].ToLowerInvariant()))
                        throw new HubException($"no pane named '{words[1]}' to follow (choose {string.Join(", ", FollowPanes)})");
                    int pid = 0;
                    if (words.Length > 2 && !(int.TryParse(words[2], out pid) && pid > 0))
                        throw new HubException($"'{words[2]}' is not a pid");
                    if (pid > 0) CheckProcess(s, pid);
                    s.SetFollow(new FollowState(true, words[1].ToLowerInvariant(), pid, who));
                    return "following";
                }
            case "unfollow":
                {
                    var (s, who, _) = RequireRole(Role.Instructor, "end follow mode");
                    s.SetFollow(new FollowState(false, "", 0, who));
                    return "follow mode off";
                }
            case "push":
                {
                    var (s, who, _) = RequireRole(Role.Driver, "push a kernel");
                    if (s.Settings.Profile != SessionSettings.KernelProfile)
                        throw new HubException("push replaces the kernel of a kernel session; this session runs Lab's own " + s.Settings.Profile);
                    var upload = _connections.TakeUpload(State)
                        ?? throw new HubException("upload the new kernel first (tui push HOST/SESSION FILE does both)");
                    // The same check a new kernel session's settings get.
                    if ((s.Settings with { Program = upload.Name, KernelImage = upload.Bytes }).Validate() is { } bad)
                        throw new HubException($"{bad}; the session keeps its kernel");
                    Post(s, new PushKernelCommand(who, upload.Name, upload.Bytes));
                    return $"pushed {upload.Name} ({upload.Bytes.Length} bytes): reboot to boot it";
                }
            case "put":
                {
                    var (s, who, _) = RequireRole(Role.Driver, "upload files");
                    if (words.Length > 2) throw new HubException("usage: put [PATH] (where the upload goes; default /home/student/NAME)");
                    var upload = _connections.TakeUpload(State) ?? throw new HubException("upload the file first (tui upload HOST/SESSION FILE [PATH] does both)");
                    string path = words.Length == 2 ? words[1] : "/home/student/" + upload.Name;
                    if (!path.StartsWith('/')) path = "/home/student/" + path;
                    await AskSession(async () => { await s.PutFileAsync(who, path, upload.Bytes); return true; });
                    return $"uploaded {path} ({upload.Bytes.Length} bytes)";
                }
            case "close":
                {
                    var (s, _, _) = RequireRole(Role.Instructor, "close the session");
                    _sessions.Close(s.Name);
                    return "closed";
                }
            default:
                throw new HubException($"unknown command '{verb}' (try: info, pause, resume, speed, reboot, push, put, grant, revoke, remove, code, follow, unfollow, close; debugger: {LabSession.DebuggerHelp})");
        }
    }

    /// <summary>The registers gdb's `g` packet carries (X64TargetDescription's order), read on the session's thread.</summary>
    public Task<byte[]> ReadRegisters() => Inspect("read the registers", target =>
    {
        var all = new List<byte>();
        for (int n = 0; n < target.RegisterCount; n++) all.AddRange(target.ReadRegister(n)!);
        return all.ToArray();
    });

    /// <summary>Virtual memory as the session's CPU translates it now (gdb's `m` packet).</summary>
    public Task<byte[]> ReadMemory(ulong address, int length) => Inspect("read memory", target =>
    {
        if (length is < 1 or > MaxReadBytes) throw new ArgumentException($"read 1 to {MaxReadBytes} bytes at a time");
        var bytes = new byte[length];
        return target.ReadMemory(address, bytes) ? bytes : throw new ArgumentException($"cannot read {length} bytes at 0x{address:x}: not mapped in the current address space");
    });

    public const int MaxReadBytes = 4096;

    /// <summary>What ReadRegisters and ReadMemory share: drivers only, kernel sessions only, on the loop thread.</summary>
    private async Task<byte[]> Inspect(string action, Func<Lab.Kernel.Guest.Gdb.IGdbTarget, byte[]> read)
    {
        Limit(State.Inspections, "reads");
        var (s, who, _) = RequireRole(Role.Driver, action);
        return await AskSession(() => s.InspectAsync(who, m => m.GdbTarget is { } target ? read(target)
            : throw new ArgumentException("gdb works on kernel sessions (a kernel built from C): Lab's own kernels run as C# on the host")));
    }

    /// <summary>Waits for something the session's loop answers (debugger commands, reads, uploads); its refusals
    /// (ArgumentException, InvalidOperationException) and a loop that does not answer become the caller's error text.</summary>
    private static async Task<T> AskSession<T>(Func<Task<T>> ask)
    {
        try { return await ask(); }
        catch (ArgumentException e) { throw new HubException(e.Message); }
        catch (InvalidOperationException e) { throw new HubException(e.Message); }
        catch (TimeoutException) { throw new HubException("the session did not answer in time"); }
    }

    /// <summary>
    /// One chunk of a file for a later CreateSession (profile kernel) or `push`: in order, at most
    /// <see cref="LabHubRoute.MaxChunkBytes"/>, offset 0 (re)starts with the name and total size (at most
    /// <see cref="LabHubRoute.MaxUploadBytes"/>). Returns how much has arrived.
    /// </summary>
    public Task<string> Upload(string name, int offset, byte[] chunk, int total)
    {
        var state = State;
        Limit(state.Uploads, "upload chunks");
        if (chunk is null || chunk.Length > LabHubRoute.MaxChunkBytes) throw new HubException($"upload chunks are 1 to {LabHubRoute.MaxChunkBytes} bytes");
        if (offset == 0)
        {
            if (string.IsNullOrWhiteSpace(name) || name.Length > 200) throw new HubException("an upload needs a file name (at most 200 characters)");
            if (total <= 0 || total > LabHubRoute.MaxUploadBytes)
                throw new HubException($"a file of {total} bytes cannot be uploaded (1 byte to {LabHubRoute.MaxUploadBytes >> 20} MiB)");
            if (!_connections.StartUpload(state, Path.GetFileName(name), total))
                throw new HubException("the server is receiving too many uploads right now: try again in a minute");
        }
        var upload = state.Upload ?? throw new HubException("start the upload at offset 0");
        if (offset != upload.Received) throw new HubException($"upload chunk at offset {offset}, expected {upload.Received}: send the chunks in order");
        if (offset + chunk.Length > upload.Bytes.Length) throw new HubException($"the chunk goes past the announced size of {upload.Bytes.Length} bytes");
        chunk.CopyTo(upload.Bytes, offset);
        upload.Received += chunk.Length;
        return Task.FromResult(upload.Complete ? $"received {upload.Name} ({upload.Received} bytes)" : $"{upload.Received} of {upload.Bytes.Length} bytes");
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        var state = _connections.Remove(Context.ConnectionId);
        if (state != null) LeaveCurrent(state);
        return Task.CompletedTask;
    }

    private void LeaveCurrent(ConnectionState state)
    {
        if (_cluster != null && state.Session is { } left)
            _ = Groups.RemoveFromGroupAsync(Context.ConnectionId, Cluster.ClusterNode.GroupOf(left.Name)).ContinueWith(_ => { }, TaskScheduler.Default);
        state.Session?.Remove(Context.ConnectionId);
        Detach(state);
    }

    /// <summary>Cuts a connection from its session: no more frames, no session, no key. (Leaving also
    /// takes the participant out; a removed or displaced connection's participant is already out.)</summary>
    private static void Detach(ConnectionState state)
    {
        state.Sender?.Stop();
        state.Sender = null;
        state.Session = null;
        state.InstructorKey = null;
    }

    private static void Post(LabSession session, SessionCommand command)
    {
        if (session.Moving is { } moving) throw new HubException(moving);
        if (!session.Post(command)) throw new HubException("the session is busy: slow down");
    }

    /// <summary>The caller's session, name and role, if the role is at least <paramref name="needed"/>; otherwise a refusal that says why.</summary>
    private (LabSession Session, string Name, Role Role) RequireRole(Role needed, string action)
    {
        var session = State.Session ?? throw new HubException("join a session first");
        var who = session.Lookup(Context.ConnectionId) ?? throw new HubException("join a session first");
        if (who.Role < needed)
        {
            string reason = needed == Role.Instructor ? $"only the instructor may {action}" : $"viewers cannot {action}: {HowToDrive(session)}";
            session.LogRefusal(who.Name, action, who.Role);
            throw new HubException(reason);
        }
        return (session, who.Name, who.Role);
    }

    /// <summary>What a viewer can do to drive: ask the instructors present; in the demo, know that whoever runs
    /// the server drives it; elsewhere, how the instructor role is had. And where a machine of one's own is.</summary>
    private string HowToDrive(LabSession session)
    {
        var instructors = session.InstructorsPresent();
        if (instructors.Length > 0)
            return $"ask {string.Join(" or ", instructors)} ({(instructors.Length == 1 ? "the instructor" : "instructors")}) to grant you driving";
        if (_sessions.IsDemo(session))
            return "the demo is driven by whoever runs the server (its instructor key is in the server's log and in its data/demo.key); " +
                   "for a machine of your own: tui local";
        return $"nobody is instructor here now: the session's instructor key gives that role (tui connect {Host}/{session.Name} --key KEY); " +
               "for a machine of your own: tui local";
    }

    private void Limit(RateLimiter limiter, string what)
    {
        if (limiter.TryTake()) return;
        if (limiter.Refusals > MaxFloodRefusals) Context.Abort();
        throw new HubException($"too many {what}: slow down");
    }
}
