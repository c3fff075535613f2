using Lab.Shared.Wire;
using Lab.TuiClient.Net;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;

namespace Lab.TuiClient.App;

/// <summary>
/// `tui connect`: a session on a server, through the official SignalR client. It reconnects by itself and
/// rejoins with its rejoin token, so a lost connection or a server restart gives back the same name and
/// role (a driver stays a driver); once an instructor removed it, it stays out and says so.
/// </summary>
public sealed class RemoteSession : ISessionSource
{
    private readonly LabClient _client;
    private readonly string _name, _user;
    private readonly string? _code;
    private volatile string _status = "connecting…";
    private volatile string? _removedBy;

    public string SessionName => _name;
    public SessionMirror Mirror { get; } = new();
    public string ConnectionStatus => _status;
    public event Action? Changed;
    public JoinResult? Joined { get; private set; }
    /// <summary>HOST:PORT/SESSION, as `tui connect` takes it (for the commands the info dialog shows).</summary>
    public string Target { get; }

    private RemoteSession(string baseUrl, string session, string user, string? code)
    {
        _name = session;
        Target = $"{new Uri(baseUrl).Authority}/{session}";
        _user = user;
        _code = code;
        _client = new LabClient(baseUrl);
        _client.OnFrame(frame =>
        {
            Mirror.Apply(frame);
            Changed?.Invoke();
        });
        _client.OnRemoved(by =>
        {
            _removedBy = by;
            _status = $"removed from the session by {by}";
            Changed?.Invoke();
        });
        var connection = _client.Connection;
        connection.Reconnecting += _ =>
        {
            if (_removedBy == null) _status = "connection lost: reconnecting…";
            Changed?.Invoke();
            return Task.CompletedTask;
        };
        // A reconnected client is a new connection to the server: join again (the first frame is full).
        connection.Reconnected += async _ =>
        {
            if (_removedBy != null) return;   // removed: it stays out
            await RejoinAsync();
            Changed?.Invoke();
        };
        connection.Closed += e =>
        {
            if (_removedBy == null) _status = $"disconnected{(e != null ? ": " + ServerErrors.Innermost(e).Message : "")}";
            Changed?.Invoke();
            return Task.CompletedTask;
        };
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
            catch (HubException e) when (e.Message.Contains("still being restored") && DateTime.UtcNow < until
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

    /// <summary>Connects and joins; failures throw <see cref="CommandFailedException"/> with one clear line.</summary>
    public static async Task<RemoteSession> ConnectAsync(string baseUrl, string session, string user, string? code, CancellationToken cancellation)
    {
        var s = new RemoteSession(baseUrl, session, user, code);
        try
        {
            await s._client.StartAsync(cancellation);
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            await s._client.DisposeAsync();
            throw new CommandFailedException($"cannot reach {baseUrl}: {ServerErrors.Innermost(e).Message}");
        }
        try
        {
            s.Joined = await s._client.Join(session, user, code, cancellation);
            s._status = "connected";
            return s;
        }
        catch (HubException e)
        {
            await s._client.DisposeAsync();
            throw new CommandFailedException(ServerErrors.Reason(e.Message));
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

    public async ValueTask DisposeAsync() => await _client.DisposeAsync();
}
