using System.Buffers;
using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Threading.Channels;
using Lab.Shared.Protocol;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging;

namespace Lab.Shared.Client;

/// <summary>How a session ended: the reason (null for an orderly close) and whether reconnecting makes sense.</summary>
internal readonly record struct SessionEnd(Exception? Error, bool AllowReconnect);

/// <summary>
/// One WebSocket connection to the hub, from handshake to close. A <see cref="LabHubConnection"/> owns at most
/// one live session and makes a new one on each reconnect; invocations pending on a session fail with it.
/// Three loops run per session: receive (parse frames, complete invocations, feed streams; never runs user
/// code), dispatch (client-method handlers, one at a time in arrival order) and keep-alive (pings and the
/// server timeout). Sends are serialized by a SemaphoreSlim because ClientWebSocket allows one send at a time.
/// The session is also the protocol's IInvocationBinder: handler parameter types, result types of pending
/// invocations and item types of pending streams.
/// </summary>
internal sealed class HubSocketSession : IInvocationBinder
{
    private const byte RecordSeparator = 0x1e;
    private const int MaxHandshakeResponseBytes = 64 * 1024;

    private readonly ClientWebSocket _socket;
    private readonly MsgPackHubProtocol _protocol;
    private readonly HandlerRegistry _handlers;
    private readonly LabHubConnectionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _abort = new();
    private readonly ConcurrentDictionary<string, PendingCall> _pending = new(StringComparer.Ordinal);
    private readonly Channel<HubMessage> _dispatch = Channel.CreateUnbounded<HubMessage>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly TaskCompletionSource<SessionEnd> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _maxBuffered;

    private byte[] _buffer;
    private int _start;
    private int _end;
    private long _lastSent;
    private long _lastReceived;
    private int _ending;
    private Task _receiveLoop = Task.CompletedTask;

    private HubSocketSession(ClientWebSocket socket, string? connectionId, MsgPackHubProtocol protocol, HandlerRegistry handlers,
        LabHubConnectionOptions options, ILogger logger)
    {
        _socket = socket;
        ConnectionId = connectionId;
        _protocol = protocol;
        _handlers = handlers;
        _options = options;
        _time = options.TimeProvider;
        _logger = logger;
        _maxBuffered = Math.Min(options.MaxIncomingMessageBytes, protocol.Serializer.Limits.MaxMessageBytes) + LengthPrefix.MaxLength;
        _buffer = new byte[options.ReceiveBufferSize];
        _lastSent = _lastReceived = _time.GetTimestamp();
    }

    /// <summary>The connectionId from negotiate (null with SkipNegotiation, where the server does not tell it).</summary>
    public string? ConnectionId { get; }

    /// <summary>Completes once the session is fully torn down, with the reason it ended.</summary>
    public Task<SessionEnd> Ended => _ended.Task;

    public bool IsActive => Volatile.Read(ref _ending) == 0;

    /// <summary>Opens the WebSocket and performs the handshake; the returned session is running.</summary>
    public static async Task<HubSocketSession> ConnectAsync(Uri webSocketUri, string? connectionId, string? accessToken,
        MsgPackHubProtocol protocol, HandlerRegistry handlers, LabHubConnectionOptions options, ILogger logger, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        foreach (var (name, value) in options.Headers)
            socket.Options.SetRequestHeader(name, value);
        if (accessToken is not null)
            socket.Options.SetRequestHeader("Authorization", "Bearer " + accessToken);
        options.ConfigureWebSocket?.Invoke(socket.Options);

        var session = new HubSocketSession(socket, connectionId, protocol, handlers, options, logger);
        try
        {
            try
            {
                await socket.ConnectAsync(webSocketUri, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is WebSocketException or HttpRequestException)
            {
                throw new HubConnectFailedException($"Could not open the WebSocket to {Redact(webSocketUri)}: {ex.Message}", ex);
            }
            await session.HandshakeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Abort();
            socket.Dispose();
            throw;
        }

        session.Start();
        return session;
    }

    // ---- IInvocationBinder -------------------------------------------------------------------------------

    public IReadOnlyList<Type> GetParameterTypes(string methodName) => _handlers.GetParameterTypes(methodName);

    public Type GetReturnType(string invocationId) =>
        _pending.TryGetValue(invocationId, out var call) && call is PendingInvocation invocation
            ? invocation.ResultType
            : throw new KeyNotFoundException($"No pending invocation with ID '{invocationId}'.");

    public Type GetStreamItemType(string streamId) =>
        _pending.TryGetValue(streamId, out var call) && call is PendingStream stream
            ? stream.ItemType
            : throw new KeyNotFoundException($"No pending stream with ID '{streamId}'.");

    // ---- calls ---------------------------------------------------------------------------------------------

    public async Task<object?> InvokeAsync(string invocationId, string method, object?[] args, Type resultType, CancellationToken cancellationToken)
    {
        var call = new PendingInvocation(method, resultType);
        Register(invocationId, call);
        try
        {
            await SendAsync(new InvocationMessage(invocationId, method, args), cancellationToken).ConfigureAwait(false);
            return await call.Result.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // The official server cannot cancel a non-streaming invocation, so cancelling only stops the wait.
            _pending.TryRemove(new KeyValuePair<string, PendingCall>(invocationId, call));
        }
    }

    /// <summary>Registers the stream and sends the StreamInvocation; the caller reads <see cref="PendingStream.Items"/>.</summary>
    public async Task<PendingStream> StartStreamAsync(string invocationId, string method, object?[] args, Type itemType, CancellationToken cancellationToken)
    {
        var stream = new PendingStream(method, itemType);
        Register(invocationId, stream);
        try
        {
            await SendAsync(new StreamInvocationMessage(invocationId, method, args), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _pending.TryRemove(new KeyValuePair<string, PendingCall>(invocationId, stream));
            throw;
        }
        return stream;
    }

    /// <summary>The consumer is done with a stream: forget it and, if the server is still producing, cancel it.</summary>
    public async ValueTask EndStreamAsync(string invocationId, PendingStream stream)
    {
        bool removed = _pending.TryRemove(new KeyValuePair<string, PendingCall>(invocationId, stream));
        if (!removed || stream.IsCompleted || !IsActive)
            return;
        stream.Fail(new OperationCanceledException("The stream was cancelled by the client."));
        try
        {
            await SendAsync(new CancelInvocationMessage(invocationId), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.LogDebug(ex, "Could not send CancelInvocation for stream {InvocationId}.", invocationId);
        }
    }

    private void Register(string invocationId, PendingCall call)
    {
        if (!IsActive)
            throw new HubConnectionLostException($"Cannot call '{call.Method}': the connection is closing.");
        if (!_pending.TryAdd(invocationId, call))
            throw new InvalidOperationException($"Invocation ID '{invocationId}' is already in use.");
        // Teardown may have swept the table between the check and the add; make sure nothing is left hanging.
        if (!IsActive && _pending.TryRemove(new KeyValuePair<string, PendingCall>(invocationId, call)))
            throw new HubConnectionLostException($"Cannot call '{call.Method}': the connection is closing.");
    }

    /// <summary>
    /// Serializes and sends one message as one binary WebSocket message. The caller's token only bounds the
    /// wait for the send lock: cancelling ClientWebSocket.SendAsync mid-message aborts the socket.
    /// A failed send ends the session (and with it every pending call).
    /// </summary>
    public async Task SendAsync(HubMessage message, CancellationToken cancellationToken)
    {
        var bytes = _protocol.GetMessageBytes(message);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _abort.Token);
        try
        {
            await _sendLock.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Lost("send");
        }
        try
        {
            if (!IsActive)
                throw Lost("send");
            await _socket.SendAsync(bytes, WebSocketMessageType.Binary, endOfMessage: true, _abort.Token).ConfigureAwait(false);
            Volatile.Write(ref _lastSent, _time.GetTimestamp());
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            End(new SessionEnd(ex is OperationCanceledException ? null : ex, AllowReconnect: true), graceful: false);
            throw Lost("send", ex);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    private HubConnectionLostException Lost(string what, Exception? inner = null) =>
        new($"Could not {what}: the connection to the server was lost.", inner ?? (_ended.Task.IsCompleted ? _ended.Task.Result.Error : null));

    // ---- handshake -----------------------------------------------------------------------------------------

    private async Task HandshakeAsync(CancellationToken cancellationToken)
    {
        var request = new ArrayBufferWriter<byte>();
        HandshakeProtocol.WriteRequestMessage(new HandshakeRequestMessage(_protocol.Name, 1), request);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (_options.HandshakeTimeout != Timeout.InfiniteTimeSpan)
            timeout.CancelAfter(_options.HandshakeTimeout);
        try
        {
            await _socket.SendAsync(request.WrittenMemory, WebSocketMessageType.Binary, endOfMessage: true, timeout.Token).ConfigureAwait(false);
            Volatile.Write(ref _lastSent, _time.GetTimestamp());
            while (true)
            {
                var result = await _socket.ReceiveAsync(FreeSpace(), timeout.Token).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                    throw new HubConnectFailedException($"The server closed the WebSocket during the handshake{CloseReason()}.");
                _end += result.Count;

                var buffered = new ReadOnlySequence<byte>(_buffer, _start, _end - _start);
                HandshakeResponseMessage response;
                bool complete;
                try
                {
                    complete = HandshakeProtocol.TryParseResponseMessage(ref buffered, out response!);
                }
                catch (Exception ex) when (ex is InvalidDataException or System.Text.Json.JsonException or FormatException)
                {
                    throw new HubConnectFailedException($"The server sent an invalid handshake response: {ex.Message}", ex);
                }
                if (!complete)
                {
                    if (_end - _start > MaxHandshakeResponseBytes)
                        throw new HubConnectFailedException($"The handshake response exceeded {MaxHandshakeResponseBytes} bytes without a record separator.");
                    continue;
                }
                _start = _end - (int)buffered.Length;
                if (response.Error is { } error)
                    throw new HubConnectFailedException($"The server rejected the handshake: {error}", serverError: error);
                Volatile.Write(ref _lastReceived, _time.GetTimestamp());
                return;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new HubConnectFailedException($"The server did not answer the handshake within {_options.HandshakeTimeout}.",
                new TimeoutException("Handshake timed out."));
        }
        catch (WebSocketException ex)
        {
            throw new HubConnectFailedException($"The WebSocket failed during the handshake: {ex.Message}", ex);
        }
    }

    // ---- loops ---------------------------------------------------------------------------------------------

    private void Start()
    {
        // Assigned before the loop runs, so a teardown started by the loop itself can await it.
        var receive = new Task<Task>(ReceiveLoopAsync);
        _receiveLoop = receive.Unwrap();
        receive.Start(TaskScheduler.Default);
        _ = Task.Run(DispatchLoopAsync);
        if (_options.KeepAliveInterval != Timeout.InfiniteTimeSpan || _options.ServerTimeout != Timeout.InfiniteTimeSpan)
            _ = Task.Run(KeepAliveLoopAsync);
    }

    private async Task ReceiveLoopAsync()
    {
        try
        {
            // Hub messages may already follow the handshake response in the same WebSocket message.
            ParseBuffered();
            while (true)
            {
                var result = await _socket.ReceiveAsync(FreeSpace(), _abort.Token).ConfigureAwait(false);
                Volatile.Write(ref _lastReceived, _time.GetTimestamp());
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    var reason = IsActive
                        ? new HubConnectionLostException($"The server closed the WebSocket without a Close message{CloseReason()}.")
                        : null;
                    End(new SessionEnd(reason, AllowReconnect: true), graceful: true);
                    return;
                }
                _end += result.Count;
                ParseBuffered();
            }
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            if (IsActive)
                _logger.LogDebug(ex, "The receive loop ended with an error.");
            // InvalidDataException = the server broke the protocol; reconnecting may still help (new server).
            End(new SessionEnd(ex, AllowReconnect: true), graceful: ex is InvalidDataException);
        }
    }

    /// <summary>Room for the next receive; compacts or grows the buffer, refusing to hold more than one maximal frame.</summary>
    private Memory<byte> FreeSpace()
    {
        int chunk = _options.ReceiveBufferSize;
        if (_buffer.Length - _end < chunk)
        {
            int buffered = _end - _start;
            if (buffered > _maxBuffered)
                throw new InvalidDataException($"An incoming message exceeded the limit of {_maxBuffered - LengthPrefix.MaxLength} bytes.");
            if (_buffer.Length - buffered < chunk)
                Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, buffered + chunk));
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, buffered);
            _start = 0;
            _end = buffered;
        }
        return _buffer.AsMemory(_end);
    }

    private void ParseBuffered()
    {
        var input = new ReadOnlySequence<byte>(_buffer, _start, _end - _start);
        try
        {
            while (IsActive && _protocol.TryParseMessage(ref input, this, out var message))
                Process(message);
            // Refuse an oversized frame as soon as its prefix is in, instead of buffering up to the limit.
            if (LengthPrefix.TryRead(input, out _, out int bodyLength) && bodyLength > _options.MaxIncomingMessageBytes)
                throw new InvalidDataException(
                    $"The server announced a {bodyLength}-byte message; the limit is {_options.MaxIncomingMessageBytes} bytes (MaxIncomingMessageBytes).");
        }
        finally
        {
            _start = _end - (int)input.Length;
            if (_start == _end)
                _start = _end = 0;
        }
    }

    private void Process(HubMessage message)
    {
        switch (message)
        {
            case CompletionMessage completion:
                if (_pending.TryRemove(completion.InvocationId!, out var call))
                    call.Complete(completion);
                else
                    _logger.LogDebug("Dropped a Completion for unknown invocation {InvocationId}.", completion.InvocationId);
                break;
            case StreamItemMessage item:
                if (_pending.TryGetValue(item.InvocationId!, out var target) && target is PendingStream stream)
                    stream.Write(item.Item);
                break;
            case StreamBindingFailureMessage failure:
                if (_pending.TryRemove(failure.Id, out var failed))
                    failed.Fail(new InvalidDataException(
                        $"Could not read an item of stream '{failed.Method}': {failure.BindingFailure.SourceException.Message}",
                        failure.BindingFailure.SourceException));
                break;
            case InvocationMessage or InvocationBindingFailureMessage:
                _dispatch.Writer.TryWrite(message);
                break;
            case CloseMessage close:
                Exception? error = close.Error is null ? null : new HubServerClosedException(close.Error, close.AllowReconnect);
                _logger.LogDebug("The server sent Close (error: {Error}, allowReconnect: {AllowReconnect}).", close.Error, close.AllowReconnect);
                End(new SessionEnd(error, close.AllowReconnect), graceful: true);
                break;
            default:
                // Ping only refreshes the receive timestamp; Ack/Sequence (stateful reconnect) are not negotiated;
                // StreamInvocation/CancelInvocation are never sent to a client.
                break;
        }
    }

    private async Task DispatchLoopAsync()
    {
        await foreach (var message in _dispatch.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            string? invocationId;
            if (message is InvocationBindingFailureMessage failure)
            {
                invocationId = failure.InvocationId;
                _logger.LogWarning(failure.BindingFailure.SourceException,
                    "Ignored a call of client method '{Target}': its arguments could not be bound.", failure.Target);
            }
            else
            {
                var invocation = (InvocationMessage)message;
                invocationId = invocation.InvocationId;
                if (_handlers.TryGet(invocation.Target, out var handlers))
                {
                    foreach (var registration in handlers.Handlers)
                    {
                        try
                        {
                            await registration.Handler(invocation.Arguments).ConfigureAwait(false);
                        }
                        catch (Exception ex)
                        {
                            _logger.LogError(ex, "A handler for client method '{Target}' threw.", invocation.Target);
                        }
                    }
                }
            }

            // The server asked for a client result; this client does not provide results (official wording).
            if (invocationId is not null && IsActive)
            {
                try
                {
                    await SendAsync(CompletionMessage.WithError(invocationId, "Client didn't provide a result."), CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    _logger.LogDebug(ex, "Could not answer client-result invocation {InvocationId}.", invocationId);
                }
            }
        }
    }

    private async Task KeepAliveLoopAsync()
    {
        var keepAlive = _options.KeepAliveInterval;
        var serverTimeout = _options.ServerTimeout;
        var minimumWait = TimeSpan.FromMilliseconds(5);
        var maximumWait = TimeSpan.FromHours(1); // Task.Delay rejects delays beyond ~49 days
        try
        {
            while (IsActive)
            {
                var now = _time.GetTimestamp();
                var sinceReceived = _time.GetElapsedTime(Volatile.Read(ref _lastReceived), now);
                if (serverTimeout != Timeout.InfiniteTimeSpan && sinceReceived >= serverTimeout)
                {
                    End(new SessionEnd(new TimeoutException(
                        $"Server timeout ({serverTimeout.TotalMilliseconds} ms) elapsed without receiving a message from the server."),
                        AllowReconnect: true), graceful: false);
                    return;
                }

                var wait = Timeout.InfiniteTimeSpan;
                if (keepAlive != Timeout.InfiniteTimeSpan)
                {
                    if (_time.GetElapsedTime(Volatile.Read(ref _lastSent), now) >= keepAlive)
                        await TrySendPingAsync().ConfigureAwait(false);
                    var untilPing = keepAlive - _time.GetElapsedTime(Volatile.Read(ref _lastSent));
                    wait = untilPing;
                }
                if (serverTimeout != Timeout.InfiniteTimeSpan)
                {
                    var untilTimeout = serverTimeout - _time.GetElapsedTime(Volatile.Read(ref _lastReceived));
                    wait = wait == Timeout.InfiniteTimeSpan || untilTimeout < wait ? untilTimeout : wait;
                }
                wait = wait < minimumWait ? minimumWait : wait > maximumWait ? maximumWait : wait;
                await Task.Delay(wait, _time, _abort.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
        }
    }

    /// <summary>A Ping is skipped when another send holds the lock: data is flowing, so no keep-alive is needed.</summary>
    private async Task TrySendPingAsync()
    {
        if (!_sendLock.Wait(0))
            return;
        _sendLock.Release();
        try
        {
            await SendAsync(PingMessage.Instance, CancellationToken.None).ConfigureAwait(false);
        }
        catch (HubConnectionLostException)
        {
        }
    }

    // ---- teardown ------------------------------------------------------------------------------------------

    /// <summary>The client stops: send Close, close the WebSocket and wait for the session to finish.</summary>
    public Task<SessionEnd> StopAsync()
    {
        End(new SessionEnd(null, AllowReconnect: false), graceful: true, sendClose: true);
        return Ended;
    }

    /// <summary>Ends the session once (later calls are ignored): fails pending calls now, tears down in the background.</summary>
    private void End(SessionEnd end, bool graceful, bool sendClose = false)
    {
        if (Interlocked.Exchange(ref _ending, 1) != 0)
            return;
        var lost = end.Error switch
        {
            HubServerClosedException closed => new HubConnectionLostException(closed.Message, closed),
            null when sendClose => new HubConnectionLostException("The connection was stopped before the call completed."),
            null => new HubConnectionLostException("The server closed the connection before the call completed."),
            var error => new HubConnectionLostException($"The connection to the server was lost: {error.Message}", error),
        };
        foreach (var (id, call) in _pending)
        {
            if (_pending.TryRemove(new KeyValuePair<string, PendingCall>(id, call)))
                call.Fail(lost);
        }
        _dispatch.Writer.TryComplete();
        _ = TeardownAsync(end, graceful, sendClose);
    }

    private async Task TeardownAsync(SessionEnd end, bool graceful, bool sendClose)
    {
        try
        {
            if (graceful)
                await CloseGracefullyAsync(sendClose).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.LogDebug(ex, "Graceful WebSocket close failed.");
        }
        finally
        {
            _abort.Cancel();
            _socket.Abort();
            try
            {
                await _receiveLoop.ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _logger.LogDebug(ex, "The receive loop faulted during teardown.");
            }
            _socket.Dispose();
            _ended.TrySetResult(end);
        }
    }

    private async Task CloseGracefullyAsync(bool sendClose)
    {
        using var timeout = new CancellationTokenSource(_options.CloseTimeout, _time);
        if (!await _sendLock.WaitAsync(_options.CloseTimeout).ConfigureAwait(false))
            return;
        try
        {
            if (sendClose && _socket.State == WebSocketState.Open)
            {
                var bytes = _protocol.GetMessageBytes(CloseMessage.Empty);
                await _socket.SendAsync(bytes, WebSocketMessageType.Binary, endOfMessage: true, timeout.Token).ConfigureAwait(false);
            }
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Release();
        }
        // Let the receive loop read the server's close frame so both sides finish the close handshake.
        await _receiveLoop.WaitAsync(timeout.Token).ConfigureAwait(false);
    }

    private string CloseReason() => _socket.CloseStatus is { } status
        ? $" ({(int)status} {status}{(string.IsNullOrEmpty(_socket.CloseStatusDescription) ? "" : ": " + _socket.CloseStatusDescription)})"
        : "";

    private static string Redact(Uri uri) => uri.GetLeftPart(UriPartial.Path);
}
