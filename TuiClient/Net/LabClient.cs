using Lab.Shared.Wire;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Lab.TuiClient.Net;

/// <summary>
/// The .NET end of the hub: the official SignalR client (<see cref="HubConnection"/>) with the MessagePack
/// protocol and Lab's serializer options, over WebSockets only (the server offers nothing else), and a
/// typed face (<see cref="ILabHub"/>), so method names come from the contract and nowhere else. The TUI,
/// the tests and the benchmarks all connect through this class.
/// </summary>
public sealed class LabClient : ILabHub, IAsyncDisposable
{
    /// <summary>The SignalR connection: its State, and the Reconnecting, Reconnected and Closed events.</summary>
    public HubConnection Connection { get; }

    /// <param name="baseUrl">The server, e.g. http://localhost:5080 (the hub path is added).</param>
    /// <param name="reconnect">Reconnect by itself after a lost connection (<see cref="LabRetryPolicy"/>).</param>
    public LabClient(string baseUrl, bool reconnect = true)
    {
        var builder = new HubConnectionBuilder()
            .WithUrl(LabHubRoute.For(baseUrl), o => o.Transports = HttpTransportType.WebSockets)
            .AddMessagePackProtocol(o => o.SerializerOptions = LabMessagePack.Options);
        if (reconnect) builder.WithAutomaticReconnect(new LabRetryPolicy());
        Connection = builder.Build();
    }

    /// <summary>Connects (negotiate, WebSocket, handshake).</summary>
    public Task StartAsync(CancellationToken cancellation = default) => Connection.StartAsync(cancellation);

    /// <summary>Calls <paramref name="onFrame"/> for every frame, in order (SignalR runs client handlers one at a time).</summary>
    public IDisposable OnFrame(Action<Frame> onFrame) =>
        Connection.On<Frame>(nameof(ILabClient.Frame), onFrame);

    public Task<SessionSummary[]> ListSessions() =>
        Connection.InvokeAsync<SessionSummary[]>(nameof(ILabHub.ListSessions));

    public Task<CreateSessionResult> CreateSession(CreateSessionOptions options) =>
        Connection.InvokeAsync<CreateSessionResult>(nameof(ILabHub.CreateSession), options);

    public Task<SessionLocation> Locate(string session) =>
        Connection.InvokeAsync<SessionLocation>(nameof(ILabHub.Locate), session);

    /// <summary>Calls <paramref name="onMoved"/> with the base URL of the node the joined session moved to (a cluster).</summary>
    public IDisposable OnMoved(Action<string> onMoved) =>
        Connection.On<string>(nameof(ILabClient.Moved), onMoved);

    /// <summary>
    /// Connects to the node that runs <paramref name="session"/>: asks the first of <paramref name="servers"/> that
    /// answers where the session runs and follows it there (a cluster node names another node's URL), waiting
    /// while the session moves between nodes (<paramref name="waiting"/> hears why) until <paramref name="cancellation"/>.
    /// On a single server this is one connection and one Locate. Returns the connected client and the cluster's
    /// node URLs (for reconnecting elsewhere later). A refusal (no such session) is a HubException; when no server
    /// answers, the last connection failure is thrown.
    /// </summary>
    public static async Task<(LabClient Client, string Url, string[] Nodes)> ConnectToSessionAsync(IReadOnlyList<string> servers, string session,
        CancellationToken cancellation, Action<string>? waiting = null)
    {
        Exception? lastFailure = null;
        string? lastUrl = null;
        while (true)
        {
            foreach (string server in servers.Distinct())
            {
                string url = server;
                for (int hop = 0; hop < 4; hop++)
                {
                    var client = new LabClient(url, reconnect: false);
                    try
                    {
                        await client.StartAsync(cancellation);
                        var where = await client.Locate(session);
                        while (where.Waiting is { } why)
                        {
                            waiting?.Invoke(why);
                            await Task.Delay(TimeSpan.FromSeconds(1), cancellation);
                            where = await client.Locate(session);
                        }
                        if (where.Url is null) return (client, url, where.Nodes);
                        await client.DisposeAsync();
                        url = where.Url;
                    }
                    catch (Exception e) when (e is not HubException && !cancellation.IsCancellationRequested)
                    {
                        await client.DisposeAsync();
                        lastFailure = e;
                        lastUrl = url;
                        break;   // this server is gone: the next one
                    }
                    catch
                    {
                        await client.DisposeAsync();
                        throw;
                    }
                }
            }
            if (lastFailure is not null && servers.Distinct().Count() <= 1) throw lastFailure;
            waiting?.Invoke(lastFailure is null ? "the session keeps moving: trying again"
                : $"{lastUrl} does not answer ({lastFailure.GetBaseException().Message}): trying again");
            await Task.Delay(TimeSpan.FromSeconds(1), cancellation);
        }
    }

    public Task<JoinResult> Join(string session, string name, string? code) =>
        Connection.InvokeAsync<JoinResult>(nameof(ILabHub.Join), session, name, code);

    /// <summary><see cref="Join"/> that gives up when <paramref name="cancellation"/> fires.</summary>
    public Task<JoinResult> Join(string session, string name, string? code, CancellationToken cancellation) =>
        Connection.InvokeAsync<JoinResult>(nameof(ILabHub.Join), session, name, code, cancellation);

    public Task<JoinResult> Rejoin(string session, string name, string? code, string token) =>
        Connection.InvokeAsync<JoinResult>(nameof(ILabHub.Rejoin), session, name, code, token);

    public Task<SessionInfo> Info() => Connection.InvokeAsync<SessionInfo>(nameof(ILabHub.Info));

    /// <summary>Calls <paramref name="onRemoved"/> with the instructor's name when an instructor removes this client from its session.</summary>
    public IDisposable OnRemoved(Action<string> onRemoved) =>
        Connection.On<string>(nameof(ILabClient.Removed), onRemoved);

    public Task Leave() => Connection.InvokeAsync(nameof(ILabHub.Leave));

    public Task ViewMemory(int pid) => Connection.InvokeAsync(nameof(ILabHub.ViewMemory), pid);

    public Task Watch(int[] pids) => Connection.InvokeAsync(nameof(ILabHub.Watch), pids);

    public Task Key(string key) => Connection.InvokeAsync(nameof(ILabHub.Key), key);

    public Task Type(string text) => Connection.InvokeAsync(nameof(ILabHub.Type), text);

    public Task<string> Command(string command) => Connection.InvokeAsync<string>(nameof(ILabHub.Command), command);

    public Task<byte[]> ReadRegisters() => Connection.InvokeAsync<byte[]>(nameof(ILabHub.ReadRegisters));

    public Task<byte[]> ReadMemory(ulong address, int length) => Connection.InvokeAsync<byte[]>(nameof(ILabHub.ReadMemory), address, length);

    public Task<string> Upload(string name, int offset, byte[] chunk, int total) =>
        Connection.InvokeAsync<string>(nameof(ILabHub.Upload), name, offset, chunk, total);

    /// <summary>Sends a whole file with <see cref="Upload"/>, chunk by chunk; returns the server's last answer.</summary>
    public async Task<string> UploadFile(string name, byte[] bytes)
    {
        if (bytes.Length == 0) throw new ArgumentException($"{name} is empty");
        string answer = "";
        for (int offset = 0; offset < bytes.Length; offset += LabHubRoute.MaxChunkBytes)
            answer = await Upload(name, offset, bytes[offset..Math.Min(bytes.Length, offset + LabHubRoute.MaxChunkBytes)], bytes.Length);
        return answer;
    }

    public ValueTask DisposeAsync() => Connection.DisposeAsync();
}

/// <summary>
/// When to try again after a lost connection: at once, then after 1, 2, 5 and 10 s, then every 10 s
/// for ten minutes (a server restart or a laptop waking up should not need a person to reconnect);
/// after that the connection closes and the TUI says so.
/// </summary>
public sealed class LabRetryPolicy : IRetryPolicy
{
    private static readonly TimeSpan[] Delays =
        [TimeSpan.Zero, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10)];

    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromMinutes(10);

    public TimeSpan? NextRetryDelay(RetryContext context) =>
        context.ElapsedTime >= GiveUpAfter ? null
        : Delays[(int)Math.Min(context.PreviousRetryCount, Delays.Length - 1)];
}
