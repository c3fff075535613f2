using Lab.Shared.Client;
using Lab.Shared.Wire;

namespace Lab.TuiClient.App;

/// <summary>`tui connect`: a session on a server, through our SignalR client; reconnects by itself.</summary>
public sealed class RemoteSession : ISessionSource
{
    private readonly LabHubConnection _connection;
    private readonly string _name, _user;
    private readonly string? _code;
    private string _status = "connecting…";

    public string SessionName => _name;
    public SessionMirror Mirror { get; } = new();
    public string ConnectionStatus => _status;
    public event Action? Changed;
    public JoinResult? Joined { get; private set; }

    private RemoteSession(string baseUrl, string session, string user, string? code)
    {
        _name = session;
        _user = user;
        _code = code;
        _connection = new LabHubConnection(baseUrl.TrimEnd('/') + "/hubs/lab",
            new LabHubConnectionOptions { ReconnectPolicy = LabReconnectPolicy.Default });
        _connection.On("Frame", [typeof(Frame)], args =>
        {
            Mirror.Apply((Frame)args[0]!);
            Changed?.Invoke();
            return Task.CompletedTask;
        });
        _connection.Reconnecting += _ => { _status = "connection lost: reconnecting…"; Changed?.Invoke(); return Task.CompletedTask; };
        _connection.Reconnected += async _ =>
        {
            try
            {
                Joined = await _connection.InvokeAsync<JoinResult>("Join", [_name, _user, _code]);
                _status = "reconnected";
            }
            catch (HubInvocationException e) { _status = $"rejoin failed: {ServerErrors.Reason(e.ServerError)}"; }
            Changed?.Invoke();
        };
        _connection.Closed += e => { _status = $"disconnected{(e != null ? ": " + e.Message : "")}"; Changed?.Invoke(); return Task.CompletedTask; };
    }

    /// <summary>Connects and joins; failures throw <see cref="CommandFailedException"/> with one clear line.</summary>
    public static async Task<RemoteSession> ConnectAsync(string baseUrl, string session, string user, string? code, CancellationToken cancellation)
    {
        var s = new RemoteSession(baseUrl, session, user, code);
        try
        {
            await s._connection.StartAsync(cancellation);
        }
        catch (Exception e) when (e is HubConnectFailedException or HttpRequestException or System.Net.WebSockets.WebSocketException or HubConnectionLostException or TimeoutException or OperationCanceledException or IOException)
        {
            await s._connection.DisposeAsync();
            throw new CommandFailedException($"cannot reach {baseUrl}: {ServerErrors.Innermost(e).Message}");
        }
        try
        {
            s.Joined = await s._connection.InvokeAsync<JoinResult>("Join", [session, user, code], cancellation);
            s._status = "connected";
            return s;
        }
        catch (HubInvocationException e)
        {
            await s._connection.DisposeAsync();
            throw new CommandFailedException(ServerErrors.Reason(e.ServerError));
        }
    }

    public Task KeyAsync(char key) =>
        Call(() => _connection.InvokeAsync("Key", [key switch { '\n' or '\r' => "Enter", '\x1b' => "Esc", '\x7f' => "Backspace", _ => key.ToString() }]));

    public Task TypeAsync(string keys) => Call(() => _connection.InvokeAsync("Type", [keys]));

    public async Task<string> CommandAsync(string command)
    {
        string result = "";
        await Call(async () => result = await _connection.InvokeAsync<string>("Command", [command]));
        return result;
    }

    public Task ViewMemoryAsync(int pid) => Call(() => _connection.InvokeAsync("ViewMemory", [pid]));

    public Task WatchAsync(int[] pids) => Call(() => _connection.InvokeAsync("Watch", [pids]));

    /// <summary>Runs a hub call; a refusal or a lost connection becomes a <see cref="CommandFailedException"/> with the reason.</summary>
    private static async Task Call(Func<Task> call)
    {
        try { await call(); }
        catch (HubInvocationException e) { throw new CommandFailedException(ServerErrors.Reason(e.ServerError)); }
        catch (HubConnectionLostException e) { throw new CommandFailedException(e.Message); }
    }

    public async ValueTask DisposeAsync() => await _connection.DisposeAsync();
}
