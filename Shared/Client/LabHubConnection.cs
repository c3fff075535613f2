using System.Globalization;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using Lab.Shared.Protocol;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lab.Shared.Client;

public enum LabHubConnectionState
{
    Disconnected,
    Connecting,
    Connected,
    Reconnecting,
}

/// <summary>
/// A .NET client connection to a SignalR hub speaking our "messagepack" protocol over a ClientWebSocket,
/// the counterpart of Microsoft.AspNetCore.SignalR.Client.HubConnection (which is not available here).
/// It negotiates (or skips negotiation), opens the WebSocket, does the JSON handshake, and then offers
/// invocations with results, fire-and-forget sends, client-method handlers, server-to-client streams,
/// keep-alive pings with a server timeout, and automatic reconnect when a
/// <see cref="LabHubConnectionOptions.ReconnectPolicy"/> is set. Thread-safe; all state is per instance.
/// </summary>
/// <remarks>
/// Calls made while the connection is reconnecting fail with <see cref="HubConnectionLostException"/>, as do
/// calls pending when it drops; calls made before StartAsync (or after it closed) throw InvalidOperationException.
/// Client-method handlers run one at a time, in arrival order, off the receive loop. Closed is raised after the
/// state became Disconnected; StopAsync does not wait for Closed handlers, so they may call StartAsync again.
/// </remarks>
public sealed class LabHubConnection : IAsyncDisposable
{
    private const int MaxNegotiateRedirects = 100;
    private const string WebSocketsTransport = "WebSockets";

    private readonly Uri _url;
    private readonly LabHubConnectionOptions _options;
    private readonly MsgPackHubProtocol _protocol;
    private readonly HandlerRegistry _handlers = new();
    private readonly ILogger _logger;
    private readonly Lazy<HttpClient> _http;
    private readonly SemaphoreSlim _lifecycleLock = new(1, 1);
    private readonly object _gate = new();

    private LabHubConnectionState _state;
    private HubSocketSession? _session;
    private Lifetime? _lifetime;
    private Lifetime? _starting;
    private long _nextInvocationId;
    private bool _disposed;

    /// <param name="url">The hub's http(s) URL, e.g. http://host:5000/hub (ws(s) is accepted too).</param>
    public LabHubConnection(Uri url, LabHubConnectionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https" or "ws" or "wss"))
            throw new ArgumentException("The hub URL must be an absolute http, https, ws or wss URL.", nameof(url));
        _url = url;
        _options = options ?? new LabHubConnectionOptions();
        _options.Validate();
        _protocol = _options.Protocol ?? new MsgPackHubProtocol();
        _logger = (_options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<LabHubConnection>();
        _http = new Lazy<HttpClient>(CreateHttpClient);
    }

    public LabHubConnection(string url, LabHubConnectionOptions? options = null)
        : this(new Uri(url, UriKind.Absolute), options)
    {
    }

    /// <summary>Raised when the connection was lost and reconnecting starts, with the reason.</summary>
    public event Func<Exception?, Task>? Reconnecting;

    /// <summary>Raised after a successful reconnect, with the new connection id (null when negotiation is skipped).</summary>
    public event Func<string?, Task>? Reconnected;

    /// <summary>Raised when the connection closed for good: stopped (null), closed by the server, or reconnecting gave up.</summary>
    public event Func<Exception?, Task>? Closed;

    public LabHubConnectionState State
    {
        get
        {
            lock (_gate)
                return _state;
        }
    }

    /// <summary>The negotiated connection id (the server's Context.ConnectionId); null with SkipNegotiation or when not connected.</summary>
    public string? ConnectionId => Volatile.Read(ref _session)?.ConnectionId;

    public Uri Url => _url;

    // ---- lifecycle -----------------------------------------------------------------------------------------

    /// <summary>Connects; throws <see cref="HubConnectFailedException"/> when negotiate, the WebSocket or the handshake fails.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _lifecycleLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            lock (_gate)
            {
                if (_state != LabHubConnectionState.Disconnected)
                    throw new InvalidOperationException($"The connection can only be started when it is Disconnected (it is {_state}).");
                _state = LabHubConnectionState.Connecting;
            }

            var lifetime = new Lifetime();
            lock (_gate)
                _starting = lifetime;
            HubSocketSession session;
            try
            {
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.Stopping.Token);
                session = await ConnectSessionAsync(linked.Token).ConfigureAwait(false);
            }
            catch
            {
                lock (_gate)
                {
                    _starting = null;
                    _state = LabHubConnectionState.Disconnected;
                }
                throw;
            }

            lock (_gate)
            {
                _starting = null;
                _lifetime = lifetime;
                _session = session;
                _state = LabHubConnectionState.Connected;
            }
            _ = WatchSessionAsync(session, lifetime);
        }
        finally
        {
            _lifecycleLock.Release();
        }
    }

    /// <summary>
    /// Stops the connection (or an ongoing reconnect): sends Close, closes the WebSocket, fails pending calls.
    /// Safe to call in any state and more than once. A StartAsync in progress is cancelled (it throws
    /// OperationCanceledException).
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
            _starting?.Stopping.Cancel();
        await _lifecycleLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Lifetime? lifetime;
            HubSocketSession? session;
            lock (_gate)
            {
                lifetime = _lifetime;
                session = _session;
            }
            if (lifetime is null)
                return;
            lifetime.Stopping.Cancel();
            if (session is not null)
                await session.StopAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
            await lifetime.Finished.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                if (_lifetime == lifetime)
                    _lifetime = null;
            }
        }
        finally
        {
            _lifecycleLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
            return;
        await StopAsync().ConfigureAwait(false);
        _disposed = true;
        if (_http.IsValueCreated)
            _http.Value.Dispose();
    }

    /// <summary>One Start..Stop span: the stop signal, the reconnect loop and whether Closed has been raised.</summary>
    private sealed class Lifetime
    {
        public CancellationTokenSource Stopping { get; } = new();

        public TaskCompletionSource Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int ClosedRaised;
    }

    private async Task WatchSessionAsync(HubSocketSession session, Lifetime lifetime)
    {
        var end = await session.Ended.ConfigureAwait(false);
        bool reconnect;
        lock (_gate)
        {
            if (_session != session)
                return;
            _session = null;
            reconnect = end.AllowReconnect && _options.ReconnectPolicy is not null && !lifetime.Stopping.IsCancellationRequested;
            _state = reconnect ? LabHubConnectionState.Reconnecting : LabHubConnectionState.Disconnected;
        }
        if (reconnect)
        {
            _logger.LogInformation(end.Error, "Connection lost; reconnecting.");
            await ReconnectAsync(lifetime, end.Error).ConfigureAwait(false);
        }
        else
        {
            await CloseAsync(lifetime, end.Error).ConfigureAwait(false);
        }
    }

    private async Task ReconnectAsync(Lifetime lifetime, Exception? reason)
    {
        var policy = _options.ReconnectPolicy!;
        var time = _options.TimeProvider;
        await RaiseAsync(Reconnecting, reason, nameof(Reconnecting)).ConfigureAwait(false);

        long started = time.GetTimestamp();
        int attempts = 0;
        var lastError = reason;
        while (!lifetime.Stopping.IsCancellationRequested)
        {
            var delay = policy.NextRetryDelay(new LabRetryContext(attempts, time.GetElapsedTime(started), lastError));
            if (delay is null)
            {
                _logger.LogInformation("Giving up reconnecting after {Attempts} attempt(s).", attempts);
                await CloseAsync(lifetime, lastError ?? reason).ConfigureAwait(false);
                return;
            }

            HubSocketSession session;
            try
            {
                if (delay.Value > TimeSpan.Zero)
                    await Task.Delay(delay.Value, time, lifetime.Stopping.Token).ConfigureAwait(false);
                session = await ConnectSessionAsync(lifetime.Stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (lifetime.Stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                attempts++;
                lastError = ex;
                _logger.LogDebug(ex, "Reconnect attempt {Attempt} failed.", attempts);
                continue;
            }

            bool stopped;
            lock (_gate)
            {
                stopped = lifetime.Stopping.IsCancellationRequested;
                if (!stopped)
                {
                    _session = session;
                    _state = LabHubConnectionState.Connected;
                }
            }
            if (stopped)
            {
                await session.StopAsync().ConfigureAwait(false);
                break;
            }
            await RaiseAsync(Reconnected, session.ConnectionId, nameof(Reconnected)).ConfigureAwait(false);
            _ = WatchSessionAsync(session, lifetime);
            return;
        }

        await CloseAsync(lifetime, null).ConfigureAwait(false);
    }

    private async Task CloseAsync(Lifetime lifetime, Exception? error)
    {
        lock (_gate)
        {
            if (_lifetime == lifetime && _session is null)
                _state = LabHubConnectionState.Disconnected;
        }
        if (Interlocked.Exchange(ref lifetime.ClosedRaised, 1) != 0)
            return;
        lifetime.Finished.TrySetResult();
        await RaiseAsync(Closed, error, nameof(Closed)).ConfigureAwait(false);
    }

    private async Task RaiseAsync<T>(Func<T, Task>? handlers, T argument, string name)
    {
        if (handlers is null)
            return;
        foreach (var handler in handlers.GetInvocationList().Cast<Func<T, Task>>())
        {
            try
            {
                await handler(argument).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "A {Event} event handler threw.", name);
            }
        }
    }

    // ---- connecting ----------------------------------------------------------------------------------------

    private async Task<HubSocketSession> ConnectSessionAsync(CancellationToken cancellationToken)
    {
        string? accessToken = _options.AccessTokenProvider is { } provider
            ? await provider(cancellationToken).ConfigureAwait(false)
            : null;

        Uri url = _url;
        string? connectionToken = null;
        string? connectionId = null;
        if (!_options.SkipNegotiation)
            (url, connectionToken, connectionId, accessToken) = await NegotiateAsync(accessToken, cancellationToken).ConfigureAwait(false);

        var webSocketUri = WebSocketUri(url, connectionToken);
        return await HubSocketSession.ConnectAsync(webSocketUri, connectionId, accessToken, _protocol, _handlers, _options, _logger, cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>POST {hub}/negotiate?negotiateVersion=1, following redirects (PROTOCOL-NOTES §3.1).</summary>
    private async Task<(Uri Url, string ConnectionToken, string? ConnectionId, string? AccessToken)> NegotiateAsync(
        string? accessToken, CancellationToken cancellationToken)
    {
        var url = _url;
        for (int redirect = 0; redirect <= MaxNegotiateRedirects; redirect++)
        {
            var negotiateUri = NegotiateUri(url);
            NegotiationResponse response;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, negotiateUri) { Content = new ByteArrayContent([]) };
                foreach (var (name, value) in _options.Headers)
                    request.Headers.TryAddWithoutValidation(name, value);
                if (accessToken is not null)
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
                using var httpResponse = await _http.Value.SendAsync(request, cancellationToken).ConfigureAwait(false);
                if (!httpResponse.IsSuccessStatusCode)
                    throw new HubConnectFailedException(
                        $"Negotiate at {negotiateUri.GetLeftPart(UriPartial.Path)} failed: {(int)httpResponse.StatusCode} {httpResponse.ReasonPhrase}.");
                var body = await httpResponse.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
                response = NegotiateProtocol.ParseResponse(body);
            }
            catch (HttpRequestException ex)
            {
                throw new HubConnectFailedException($"Negotiate at {negotiateUri.GetLeftPart(UriPartial.Path)} failed: {ex.Message}", ex);
            }
            catch (Exception ex) when (ex is InvalidDataException or InvalidOperationException or System.Text.Json.JsonException or FormatException)
            {
                throw new HubConnectFailedException($"The server sent an invalid negotiate response: {ex.Message}", ex);
            }

            if (response.Error is { } error)
                throw new HubConnectFailedException($"The server rejected negotiation: {error}", serverError: error);
            if (response.Url is { } redirectUrl)
            {
                url = new Uri(redirectUrl, UriKind.Absolute);
                accessToken = response.AccessToken ?? accessToken;
                continue;
            }

            var webSockets = response.AvailableTransports?.FirstOrDefault(t => string.Equals(t.Transport, WebSocketsTransport, StringComparison.OrdinalIgnoreCase));
            if (webSockets is null)
                throw new HubConnectFailedException("The server does not offer the WebSockets transport, the only one this client supports.");
            if (webSockets.TransferFormats is { } formats && !formats.Contains("Binary", StringComparer.OrdinalIgnoreCase))
                throw new HubConnectFailedException("The server's WebSockets transport does not support the Binary transfer format.");

            // Version 0 servers have no token: the connection id doubles as the transport id.
            var token = response.Version >= 1 ? response.ConnectionToken : response.ConnectionId;
            if (string.IsNullOrEmpty(token))
                throw new HubConnectFailedException("The negotiate response carries no connection token.");
            return (url, token, response.ConnectionId, accessToken);
        }
        throw new HubConnectFailedException($"Negotiate redirected more than {MaxNegotiateRedirects} times.");
    }

    private static Uri NegotiateUri(Uri url)
    {
        var builder = new UriBuilder(url);
        builder.Scheme = builder.Scheme switch { "ws" => "http", "wss" => "https", var s => s };
        builder.Path = builder.Path.TrimEnd('/') + "/negotiate";
        builder.Query = AppendQuery(builder.Query, "negotiateVersion=1");
        return builder.Uri;
    }

    private static Uri WebSocketUri(Uri url, string? connectionToken)
    {
        var builder = new UriBuilder(url);
        builder.Scheme = builder.Scheme switch { "http" => "ws", "https" => "wss", var s => s };
        if (builder.Uri.IsDefaultPort)
            builder.Port = -1;
        if (connectionToken is not null)
            builder.Query = AppendQuery(builder.Query, "id=" + Uri.EscapeDataString(connectionToken));
        return builder.Uri;
    }

    private static string AppendQuery(string query, string parameter)
    {
        var existing = query.TrimStart('?');
        return existing.Length == 0 ? parameter : existing + "&" + parameter;
    }

    private HttpClient CreateHttpClient()
    {
        var handler = _options.HttpMessageHandlerFactory?.Invoke() ?? new SocketsHttpHandler();
        return new HttpClient(handler, disposeHandler: true)
        {
            Timeout = TimeSpan.FromSeconds(100),
            // The negotiate response is a small JSON document; a hostile server must not make us buffer more.
            MaxResponseContentBufferSize = 1024 * 1024,
        };
    }

    // ---- calls ---------------------------------------------------------------------------------------------

    /// <summary>Invokes a hub method and waits for its result; a hub error throws <see cref="HubInvocationException"/>.</summary>
    public async Task<T> InvokeAsync<T>(string method, object?[] args, CancellationToken cancellationToken = default)
    {
        var result = await InvokeCoreAsync(method, typeof(T), args, cancellationToken).ConfigureAwait(false);
        return result is null ? default! : (T)result;
    }

    /// <summary>Invokes a hub method and waits for it to finish; any result is discarded.</summary>
    public Task InvokeAsync(string method, object?[] args, CancellationToken cancellationToken = default) =>
        InvokeCoreAsync(method, typeof(object), args, cancellationToken);

    /// <summary>Invokes a hub method; the result is deserialized to <paramref name="returnType"/>.</summary>
    public Task<object?> InvokeCoreAsync(string method, Type returnType, object?[] args, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        ArgumentNullException.ThrowIfNull(returnType);
        var session = ActiveSession(method);
        return session.InvokeAsync(NextInvocationId(), method, args ?? [], returnType, cancellationToken);
    }

    /// <summary>
    /// Sends a non-blocking invocation: completes once the message is written to the socket. The server sends
    /// no reply, so hub errors are not reported.
    /// </summary>
    public Task SendAsync(string method, object?[] args, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        var session = ActiveSession(method);
        return session.SendAsync(new Microsoft.AspNetCore.SignalR.Protocol.InvocationMessage(method, args ?? []), cancellationToken);
    }

    /// <summary>
    /// Streams a hub method that returns IAsyncEnumerable&lt;T&gt; or ChannelReader&lt;T&gt;. The invocation starts
    /// when enumeration starts. Disposing the enumerator early (break) or cancelling sends CancelInvocation.
    /// A hub error ends the enumeration with <see cref="HubInvocationException"/>, a dropped connection with
    /// <see cref="HubConnectionLostException"/>.
    /// </summary>
    public IAsyncEnumerable<T> StreamAsync<T>(string method, object?[] args, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(method);
        return StreamCoreAsync<T>(method, args ?? [], cancellationToken);
    }

    private async IAsyncEnumerable<T> StreamCoreAsync<T>(string method, object?[] args, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var session = ActiveSession(method);
        var invocationId = NextInvocationId();
        var stream = await session.StartStreamAsync(invocationId, method, args, typeof(T), cancellationToken).ConfigureAwait(false);
        try
        {
            while (await stream.Items.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (stream.Items.TryRead(out var item))
                    yield return item is null ? default! : (T)item;
            }
            if (stream.Error is { } error)
                throw error;
        }
        finally
        {
            await session.EndStreamAsync(invocationId, stream).ConfigureAwait(false);
        }
    }

    private HubSocketSession ActiveSession(string method)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        HubSocketSession? session;
        LabHubConnectionState state;
        lock (_gate)
        {
            session = _session;
            state = _state;
        }
        if (session is not null && session.IsActive)
            return session;
        if (state is LabHubConnectionState.Reconnecting or LabHubConnectionState.Connected)
            throw new HubConnectionLostException($"Cannot call '{method}': the connection is {(state == LabHubConnectionState.Reconnecting ? "reconnecting" : "being lost")}.");
        throw new InvalidOperationException($"Cannot call '{method}': the connection is not active ({state}). Call StartAsync first.");
    }

    private string NextInvocationId() =>
        Interlocked.Increment(ref _nextInvocationId).ToString(CultureInfo.InvariantCulture);

    // ---- client methods ------------------------------------------------------------------------------------

    /// <summary>
    /// Registers a handler for client method <paramref name="method"/> (matched case-insensitively). The
    /// arguments are deserialized to <paramref name="parameterTypes"/>; every handler of one method must use the
    /// same types. Dispose the result to unregister.
    /// </summary>
    public IDisposable On(string method, Type[] parameterTypes, Func<object?[], Task> handler) =>
        _handlers.Add(method, parameterTypes, handler);

    public IDisposable On(string method, Action handler) =>
        On(method, [], _ => { handler(); return Task.CompletedTask; });

    public IDisposable On<T1>(string method, Action<T1> handler) =>
        On(method, [typeof(T1)], a => { handler(Arg<T1>(a[0])); return Task.CompletedTask; });

    public IDisposable On<T1, T2>(string method, Action<T1, T2> handler) =>
        On(method, [typeof(T1), typeof(T2)], a => { handler(Arg<T1>(a[0]), Arg<T2>(a[1])); return Task.CompletedTask; });

    public IDisposable On<T1, T2, T3>(string method, Action<T1, T2, T3> handler) =>
        On(method, [typeof(T1), typeof(T2), typeof(T3)], a => { handler(Arg<T1>(a[0]), Arg<T2>(a[1]), Arg<T3>(a[2])); return Task.CompletedTask; });

    public IDisposable On(string method, Func<Task> handler) =>
        On(method, [], _ => handler());

    public IDisposable On<T1>(string method, Func<T1, Task> handler) =>
        On(method, [typeof(T1)], a => handler(Arg<T1>(a[0])));

    public IDisposable On<T1, T2>(string method, Func<T1, T2, Task> handler) =>
        On(method, [typeof(T1), typeof(T2)], a => handler(Arg<T1>(a[0]), Arg<T2>(a[1])));

    public IDisposable On<T1, T2, T3>(string method, Func<T1, T2, T3, Task> handler) =>
        On(method, [typeof(T1), typeof(T2), typeof(T3)], a => handler(Arg<T1>(a[0]), Arg<T2>(a[1]), Arg<T3>(a[2])));

    /// <summary>Removes every handler of <paramref name="method"/>.</summary>
    public void Remove(string method) => _handlers.RemoveAll(method);

    private static T Arg<T>(object? value) => value is null ? default! : (T)value;
}
