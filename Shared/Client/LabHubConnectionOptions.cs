using System.Net.WebSockets;
using Lab.Shared.Protocol;
using Microsoft.Extensions.Logging;

namespace Lab.Shared.Client;

/// <summary>
/// Settings of a <see cref="LabHubConnection"/>. Defaults follow the official .NET client
/// (PROTOCOL-NOTES §3.3): ping every 15 s, server timeout 30 s, handshake timeout 15 s.
/// The connection copies nothing out of this object after construction except by reading it, so
/// treat an options instance as frozen once handed over.
/// </summary>
public sealed class LabHubConnectionOptions
{
    /// <summary>Skip POST {hub}/negotiate and open the WebSocket directly (no connection token, no redirects).</summary>
    public bool SkipNegotiation { get; set; }

    /// <summary>How long to wait for the handshake response after the WebSocket opened.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>A Ping is sent when nothing else was sent for this long.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The server is considered gone when nothing at all was received for this long.</summary>
    public TimeSpan ServerTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long StopAsync waits for the server to acknowledge the WebSocket close before aborting.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Decides whether and when to reconnect after the connection dropped. Null (the default) means no
    /// automatic reconnect; <see cref="LabReconnectPolicy.Default"/> retries after 0, 2, 10 and 30 s.
    /// </summary>
    public ILabReconnectPolicy? ReconnectPolicy { get; set; }

    /// <summary>The hub protocol; a fresh <see cref="MsgPackHubProtocol"/> when null.</summary>
    public MsgPackHubProtocol? Protocol { get; set; }

    /// <summary>Supplies a bearer token for negotiate and the WebSocket request (called on every (re)connect).</summary>
    public Func<CancellationToken, ValueTask<string?>>? AccessTokenProvider { get; set; }

    /// <summary>Extra HTTP headers for negotiate and the WebSocket upgrade request.</summary>
    public IDictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Lets the caller tune each ClientWebSocket before it connects (proxy, certificates, buffer sizes).</summary>
    public Action<ClientWebSocketOptions>? ConfigureWebSocket { get; set; }

    /// <summary>The handler for the negotiate HttpClient; a SocketsHttpHandler when null. Owned by the connection.</summary>
    public Func<HttpMessageHandler>? HttpMessageHandlerFactory { get; set; }

    /// <summary>Size of each WebSocket receive; frames larger than this are assembled across receives.</summary>
    public int ReceiveBufferSize { get; set; } = 16 * 1024;

    /// <summary>
    /// Upper bound on bytes buffered for one incomplete hub message. The protocol's own
    /// MaxMessageBytes limit applies too; whichever is smaller wins.
    /// </summary>
    public int MaxIncomingMessageBytes { get; set; } = 16 * 1024 * 1024;

    public ILoggerFactory? LoggerFactory { get; set; }

    /// <summary>Clock for keep-alive, timeouts and reconnect delays.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        RequirePositive(HandshakeTimeout, nameof(HandshakeTimeout));
        RequirePositive(KeepAliveInterval, nameof(KeepAliveInterval));
        RequirePositive(ServerTimeout, nameof(ServerTimeout));
        RequirePositive(CloseTimeout, nameof(CloseTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReceiveBufferSize, 256, nameof(ReceiveBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxIncomingMessageBytes, 1024, nameof(MaxIncomingMessageBytes));
        ArgumentNullException.ThrowIfNull(TimeProvider);
    }

    private static void RequirePositive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(name, value, "Must be positive (or Timeout.InfiniteTimeSpan).");
    }
}
