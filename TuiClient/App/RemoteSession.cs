using Lab.Shared.Wire;
using Lab.TuiClient.Net;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;

namespace Lab.TuiClient.App;

/// <summary>
/// `tui connect`: a session on a server, through the official SignalR client. It reconnects by itself and
/// rejoins with its rejoin token, so a lost connection or a server restart gives back the same name and
/// role (a driver stays a driver); once an instructor removed it, it stays out and says so. In a cluster it
/// connects to the node that runs the session, and when that node goes away (or hands the session over and
/// says where: Moved) it finds the session's new node through any node it knows.
/// </summary>
public sealed class RemoteSession : ISessionSource
{
    private volatile LabClient _client;
    private readonly string _name, _user, _entry;
    private readonly string? _code;
    private volatile string _status = "connecting…";
    private volatile string? _removedBy;
    private volatile string _url;
    private volatile string[] _nodes = [];
    private volatile string? _movedTo;
    private int _reconnecting;
    private volatile bool _disposed;

    public string SessionName => _name;
    public SessionMirror Mirror { get; } = new();
    public string ConnectionStatus => _status;
    public event Action? Changed;
    public JoinResult? Joined { get; private set; }
    /// <summary>HOST:PORT/SESSION, as `tui connect` takes it (for the commands the info dialog shows).</summary>
    public string Target { get; }

    private RemoteSession(LabClient client, string entry, string url, string[] nodes, string session, string user, string? code)
    {
        _name = session;
        Target = $"{new Uri(entry).Authority}/{session}";
        _entry = entry;
        _url = url;
        _nodes = nodes;
        _user = user;
        _code = code;
        _client = client;
        Attach(client);
    }

    /// <summary>Listens to a (new) connection: frames, removal, a move, and its loss.</summary>
    private void Attach(LabClient client)
    {
        client.OnFrame(frame =>
        {
            Mirror.Apply(frame);
            Changed?.Invoke();
        });
        client.OnRemoved(by =>
        {
            _removedBy = by;
            _status = $"removed from the session by {by}";
            Changed?.Invoke();
        });
        client.OnMoved(url =>
        {
            _movedTo = url;   // also heard by a reconnect that is already under way
            Reconnect("the session moved to another node: following it…");
        });
        client.Connection.Closed += e =>
        {
            if (client != _client || _disposed) return Task.CompletedTask;   // an old connection, or ours closed on purpose
            Reconnect($"connection lost{(e != null ? ": " + ServerErrors.Innermost(e).Message : "")}: reconnecting…");
            return Task.CompletedTask;
        };
    }

    /// <summary>
    /// Connects again (once at a time), to the node a Moved named first (<see cref="_movedTo"/>), then the node it was on, the server
    /// it first connected to and every node of the cluster it knows, with the delays of <see cref="LabRetryPolicy"/>
    /// for up to its ten minutes; then rejoins. A removed client stays out.
    /// </summary>
    private void Reconnect(string status)
    {
        if (_removedBy != null || _disposed || Interlocked.Exchange(ref _reconnecting, 1) == 1) return;
        _status = status;
        Changed?.Invoke();
        _ = Task.Run(async () =>
        {
            try
            {
                var policy = new LabRetryPolicy();
                var started = DateTime.UtcNow;
                for (int attempt = 0; !_disposed; attempt++)
                {
                    var delay = policy.NextRetryDelay(new Microsoft.AspNetCore.SignalR.Client.RetryContext
                        { PreviousRetryCount = attempt, ElapsedTime = DateTime.UtcNow - started });
                    if (delay is null) break;
                    await Task.Delay(delay.Value);
                    string[] servers = [.. _movedTo is { } first ? new[] { first } : [], _url, _entry, .. _nodes];
                    try
                    {
                        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                        var (client, url, nodes) = await LabClient.ConnectToSessionAsync(servers, _name, cts.Token, why =>
                        {
                            _status = $"reconnecting: {ServerErrors.Reason(why)}";
                            Changed?.Invoke();
                        });
                        var old = _client;
                        _client = client;
                        _url = url;
                        _movedTo = null;
                        if (nodes.Length > 0) _nodes = nodes;
                        Attach(client);
                        _ = old.DisposeAsync().AsTask();
                        await RejoinAsync();
                        Changed?.Invoke();
                        return;
                    }
                    catch (HubException e)
                    {
                        _status = $"reconnect failed: {ServerErrors.Reason(e.Message)}";
                        Changed?.Invoke();
                        return;
                    }
                    catch (Exception e)   // whatever a lost or restarting server throws: try again
                    {
                        _status = $"connection lost: reconnecting… ({ServerErrors.Innermost(e).GetType().Name}: {ServerErrors.Innermost(e).Message})";
                        Changed?.Invoke();
                    }
                }
                if (!_disposed) _status = "disconnected: no server answered for ten minutes";
                Changed?.Invoke();
            }
            finally { Volatile.Write(ref _reconnecting, 0); }
        });
    }

    /// <summary>How long a rejoin waits for a session the restarted server is still restoring.</summary>
    private static readonly TimeSpan RestoreWait = TimeSpan.FromMinutes(2);

    /// <summary>Joins again after a reconnect: with the rejoin token (same name and role) and the code it
    /// joined with (the instructor key, so Info shows it again; a token needs no join code). A session the
    /// restarted server is still restoring is waited for.</summary>
    private async Task RejoinAsync()
    {
        var until = DateTime.UtcNow + RestoreWait;
        while (true)
        {
            try
            {
                var before = Joined;
                Joined = before?.RejoinToken is { } token
                    ? await _client.Rejoin(_name, _user, _code, token)
                    : await _client.Join(_name, _user, _code);
                _status = "reconnected";
                return;
            }
            catch (HubException e) when ((e.Message.Contains("still being restored") || e.Message.Contains("try again in a moment")) && DateTime.UtcNow < until
                                         && _client.Connection.State == HubConnectionState.Connected)
            {
                _status = $"reconnected; {ServerErrors.Reason(e.Message)}";
                Changed?.Invoke();
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
            catch (HubException e)
            {
                string reason = ServerErrors.Reason(e.Message);
                if (reason.StartsWith("you were removed from this session by ", StringComparison.Ordinal))
                {
                    _removedBy = reason["you were removed from this session by ".Length..];
                    _status = $"removed from the session by {_removedBy}";
                }
                else _status = $"rejoin failed: {reason}";
                return;
            }
            catch (Exception e) when (IsConnectionFailure(e))
            {
                _status = $"rejoin failed: {ServerErrors.Innermost(e).Message}";
                return;
            }
        }
    }

    /// <summary>Connects (to the node that runs the session, in a cluster) and joins; failures throw
    /// <see cref="CommandFailedException"/> with one clear line.</summary>
    public static async Task<RemoteSession> ConnectAsync(string baseUrl, string session, string user, string? code, CancellationToken cancellation)
    {
        LabClient client;
        string url;
        string[] nodes;
        try
        {
            (client, url, nodes) = await LabClient.ConnectToSessionAsync([baseUrl], session, cancellation);
        }
        catch (HubException e)
        {
            throw new CommandFailedException(ServerErrors.Reason(e.Message));
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            throw new CommandFailedException($"cannot reach {baseUrl}: {ServerErrors.Innermost(e).Message}");
        }
        var s = new RemoteSession(client, baseUrl, url, nodes, session, user, code);
        try
        {
            s.Joined = await client.Join(session, user, code, cancellation);
            s._status = "connected";
            if (nodes.Length > 0) _ = s.KeepNodesFreshAsync();
            return s;
        }
        catch (HubException e)
        {
            s._disposed = true;
            await client.DisposeAsync();
            throw new CommandFailedException(ServerErrors.Reason(e.Message));
        }
    }

    /// <summary>How often a client in a cluster asks for the list of live nodes again.</summary>
    private static readonly TimeSpan NodesRefresh = TimeSpan.FromSeconds(30);

    /// <summary>In a cluster, asks its node for the live nodes every <see cref="NodesRefresh"/>, so that a
    /// node that joined after this client connected is one it can fail over to when its own node dies.</summary>
    private async Task KeepNodesFreshAsync()
    {
        while (!_disposed)
        {
            await Task.Delay(NodesRefresh);
            var client = _client;
            if (_disposed || Volatile.Read(ref _reconnecting) == 1 || client.Connection.State != HubConnectionState.Connected) continue;
            try
            {
                var where = await client.Locate(_name);
                if (where.Nodes.Length > 0) _nodes = where.Nodes;
            }
            catch (Exception e) when (e is HubException || IsConnectionFailure(e)) { }   // the next round, or the reconnect, deals with it
        }
    }

    /// <summary>What a lost or unreachable server looks like through the SignalR client (as opposed to a refusal, a HubException).</summary>
    public static bool IsConnectionFailure(Exception e) =>
        e is HttpRequestException or System.Net.WebSockets.WebSocketException or TimeoutException or OperationCanceledException
            or IOException or InvalidOperationException or InvalidDataException;

    public Task KeyAsync(char key) =>
        Call(() => _client.Key(key switch { '\n' or '\r' => "Enter", '\x1b' => "Esc", '\x7f' => "Backspace", _ => key.ToString() }));

    public Task TypeAsync(string keys) => Call(() => _client.Type(keys));

    public async Task<string> CommandAsync(string command)
    {
        string result = "";
        await Call(async () => result = await _client.Command(command));
        return result;
    }

    public Task ViewMemoryAsync(int pid) => Call(() => _client.ViewMemory(pid));

    public Task WatchAsync(int[] pids) => Call(() => _client.Watch(pids));

    public async Task<SessionInfo> InfoAsync()
    {
        SessionInfo? info = null;
        await Call(async () => info = await _client.Info());
        return info!;
    }

    /// <summary>Runs a hub call; a refusal or a lost connection becomes a <see cref="CommandFailedException"/> with the reason.</summary>
    private async Task Call(Func<Task> call)
    {
        if (_removedBy is { } by) throw new CommandFailedException($"you were removed from this session by {by}");
        if (_client.Connection.State != HubConnectionState.Connected)
            throw new CommandFailedException($"not connected ({_status}): try again when the connection is back");
        try { await call(); }
        catch (HubException e) { throw new CommandFailedException(ServerErrors.Reason(e.Message)); }
        catch (Exception e) when (IsConnectionFailure(e)) { throw new CommandFailedException($"the connection was lost: {ServerErrors.Innermost(e).Message}"); }
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        await _client.DisposeAsync();
    }
}
