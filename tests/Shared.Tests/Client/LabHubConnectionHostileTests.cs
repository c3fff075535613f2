using System.Net.WebSockets;
using System.Text;
using Lab.Shared.Client;
using Lab.Shared.Protocol;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Lab.Shared.Tests.Client;

/// <summary>
/// LabHubConnection against scripted WebSocket servers: framing edge cases (handshake and hub frames sharing a
/// message, frames split across messages), handshake errors and garbage, Close with an error, oversized frames
/// and bad negotiate responses. Every failure must surface as a clear exception, never a hang.
/// </summary>
public class LabHubConnectionHostileTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Guard = LabHubConnectionTests.Guard;
    private static readonly MsgPackHubProtocol Protocol = new();

    private LabHubConnectionOptions Options() => new()
    {
        SkipNegotiation = true,
        HandshakeTimeout = TimeSpan.FromSeconds(10),
        LoggerFactory = LoggerFactory.Create(b => b.AddProvider(new TestOutputLoggerProvider(output, "client")).SetMinimumLevel(LogLevel.Debug)),
    };

    private static byte[] Handshake(string json) => [.. Encoding.UTF8.GetBytes(json), 0x1e];

    private static byte[] Frame(HubMessage message) => Protocol.GetMessageBytes(message).ToArray();

    private static Task SendAsync(WebSocket socket, byte[] bytes, bool endOfMessage = true) =>
        socket.SendAsync(bytes, WebSocketMessageType.Binary, endOfMessage, CancellationToken.None);

    [Fact]
    public async Task Sends_the_messagepack_handshake_and_parses_frames_across_and_within_messages()
    {
        var handshakeSeen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await RawWebSocketServer.StartAsync(async socket =>
        {
            handshakeSeen.TrySetResult(await RawWebSocketServer.ReadHandshakeAsync(socket));

            // The handshake reply and the first hub message share one WebSocket message.
            await SendAsync(socket, [.. Handshake("{}"), .. Frame(new InvocationMessage("Note", ["a"]))]);
            // Two frames in one message, the second with a header map and an extra unknown message type before it.
            var unknownType = new byte[] { 0x03, 0x92, 0x63, 0x01 }; // [99, 1]: must be ignored
            await SendAsync(socket, [.. Frame(new InvocationMessage("Note", ["b"])), .. unknownType, .. Frame(new InvocationMessage("note", ["c"]))]);
            // One frame split over three WebSocket messages (prefix alone, then the body in two parts).
            var split = Frame(new InvocationMessage("Note", [new string('x', 300)]));
            await SendAsync(socket, split[..1]);
            await SendAsync(socket, split[1..100]);
            await SendAsync(socket, split[100..]);
            // A frame split across WebSocket frames of one message.
            var fragmented = Frame(new InvocationMessage("Note", ["d"]));
            await SendAsync(socket, fragmented[..3], endOfMessage: false);
            await SendAsync(socket, fragmented[3..]);
            await SendAsync(socket, Frame(PingMessage.Instance));
            await RawWebSocketServer.DrainUntilCloseAsync(socket);
        });

        await using var connection = new LabHubConnection(server.RawUrl, Options());
        var notes = new List<string>();
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.On<string>("Note", text =>
        {
            notes.Add(text);
            if (notes.Count == 5)
                done.TrySetResult();
        });
        await connection.StartAsync().WaitAsync(Guard);

        Assert.Equal("{\"protocol\":\"messagepack\",\"version\":1}", await handshakeSeen.Task.WaitAsync(Guard));
        await done.Task.WaitAsync(Guard);
        Assert.Equal(["a", "b", "c", new string('x', 300), "d"], notes);
        Assert.Equal(LabHubConnectionState.Connected, connection.State);
    }

    [Fact]
    public async Task Handshake_error_is_reported_with_the_server_text()
    {
        await using var server = await RawWebSocketServer.StartAsync(async socket =>
        {
            await RawWebSocketServer.ReadHandshakeAsync(socket);
            await SendAsync(socket, Handshake("{\"error\":\"go away\"}"));
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        });
        await using var connection = new LabHubConnection(server.RawUrl, Options());
        var error = await Assert.ThrowsAsync<HubConnectFailedException>(() => connection.StartAsync().WaitAsync(Guard));
        Assert.Equal("go away", error.ServerError);
        Assert.Contains("go away", error.Message);
        Assert.Equal(LabHubConnectionState.Disconnected, connection.State);
    }

    [Theory]
    [InlineData("not json at all")]
    [InlineData("{\"type\":6}")]
    [InlineData("[1,2,3]")]
    public async Task Garbage_handshake_response_fails_cleanly(string reply)
    {
        await using var server = await RawWebSocketServer.StartAsync(async socket =>
        {
            await RawWebSocketServer.ReadHandshakeAsync(socket);
            await SendAsync(socket, Handshake(reply));
            await RawWebSocketServer.DrainUntilCloseAsync(socket);
        });
        await using var connection = new LabHubConnection(server.RawUrl, Options());
        var error = await Assert.ThrowsAsync<HubConnectFailedException>(() => connection.StartAsync().WaitAsync(Guard));
        output.WriteLine(error.Message);
        Assert.Null(error.ServerError);
    }

    [Fact]
    public async Task Endless_handshake_response_without_separator_is_refused()
    {
        await using var server = await RawWebSocketServer.StartAsync(async socket =>
        {
            await RawWebSocketServer.ReadHandshakeAsync(socket);
            var junk = Encoding.UTF8.GetBytes(new string(' ', 8 * 1024));
            for (int i = 0; i < 20 && socket.State == WebSocketState.Open; i++)
                await SendAsync(socket, junk);
            await RawWebSocketServer.DrainUntilCloseAsync(socket);
        });
        await using var connection = new LabHubConnection(server.RawUrl, Options());
        var error = await Assert.ThrowsAsync<HubConnectFailedException>(() => connection.StartAsync().WaitAsync(Guard));
        Assert.Contains("record separator", error.Message);
    }

    [Fact]
    public async Task Silent_server_hits_the_handshake_timeout()
    {
        await using var server = await RawWebSocketServer.StartAsync(RawWebSocketServer.DrainUntilCloseAsync);
        var options = Options();
        options.HandshakeTimeout = TimeSpan.FromMilliseconds(300);
        await using var connection = new LabHubConnection(server.RawUrl, options);
        var error = await Assert.ThrowsAsync<HubConnectFailedException>(() => connection.StartAsync().WaitAsync(Guard));
        Assert.IsType<TimeoutException>(error.InnerException);
    }

    [Fact]
    public async Task Stop_cancels_a_start_that_waits_for_the_handshake()
    {
        await using var server = await RawWebSocketServer.StartAsync(RawWebSocketServer.DrainUntilCloseAsync);
        var options = Options();
        options.HandshakeTimeout = TimeSpan.FromMinutes(5);
        await using var connection = new LabHubConnection(server.RawUrl, options);
        var start = connection.StartAsync();
        using (var guard = new CancellationTokenSource(Guard))
        {
            while (connection.State != LabHubConnectionState.Connecting)
                await Task.Delay(10, guard.Token);
        }
        await Task.Delay(100);
        await connection.StopAsync().WaitAsync(Guard);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => start.WaitAsync(Guard));
        Assert.Equal(LabHubConnectionState.Disconnected, connection.State);
    }

    [Fact]
    public async Task Server_closing_the_socket_during_the_handshake_fails_start()
    {
        await using var server = await RawWebSocketServer.StartAsync(async socket =>
        {
            await RawWebSocketServer.ReadHandshakeAsync(socket);
            await socket.CloseAsync(WebSocketCloseStatus.PolicyViolation, "no thanks", CancellationToken.None);
        });
        await using var connection = new LabHubConnection(server.RawUrl, Options());
        var error = await Assert.ThrowsAsync<HubConnectFailedException>(() => connection.StartAsync().WaitAsync(Guard));
        Assert.Contains("no thanks", error.Message);
    }

    [Fact]
    public async Task Close_with_error_fails_pending_calls_with_the_server_text()
    {
        var invoked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await RawWebSocketServer.StartAsync(async socket =>
        {
            await RawWebSocketServer.ReadHandshakeAsync(socket);
            await SendAsync(socket, Handshake("{}"));
            var buffer = new byte[4096];
            await socket.ReceiveAsync(buffer, CancellationToken.None); // the client's invocation
            invoked.TrySetResult();
            await SendAsync(socket, Frame(new CloseMessage("server is on fire", allowReconnect: false)));
            await RawWebSocketServer.DrainUntilCloseAsync(socket);
        });

        var options = Options();
        options.ReconnectPolicy = LabReconnectPolicy.Default; // allowReconnect=false must win
        await using var connection = new LabHubConnection(server.RawUrl, options);
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool reconnecting = false;
        connection.Reconnecting += _ => { reconnecting = true; return Task.CompletedTask; };
        connection.Closed += e => { closed.TrySetResult(e); return Task.CompletedTask; };
        await connection.StartAsync().WaitAsync(Guard);

        var pending = connection.InvokeAsync<int>("Anything", []);
        await invoked.Task.WaitAsync(Guard);
        var lost = await Assert.ThrowsAsync<HubConnectionLostException>(() => pending.WaitAsync(Guard));
        Assert.Contains("server is on fire", lost.Message);

        var reason = Assert.IsType<HubServerClosedException>(await closed.Task.WaitAsync(Guard));
        Assert.Equal("server is on fire", reason.ServerError);
        Assert.False(reason.AllowReconnect);
        Assert.False(reconnecting);
        Assert.Equal(LabHubConnectionState.Disconnected, connection.State);
    }

    [Fact]
    public async Task Close_with_allowReconnect_triggers_a_reconnect()
    {
        int connections = 0;
        await using var server = await RawWebSocketServer.StartAsync(async socket =>
        {
            int n = Interlocked.Increment(ref connections);
            await RawWebSocketServer.ReadHandshakeAsync(socket);
            await SendAsync(socket, Handshake("{}"));
            if (n == 1)
                await SendAsync(socket, Frame(new CloseMessage(null, allowReconnect: true)));
            await RawWebSocketServer.DrainUntilCloseAsync(socket);
        });
        var options = Options();
        options.ReconnectPolicy = new LabReconnectPolicy([TimeSpan.Zero]);
        await using var connection = new LabHubConnection(server.RawUrl, options);
        var reconnecting = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Reconnecting += e => { reconnecting.TrySetResult(e); return Task.CompletedTask; };
        connection.Reconnected += _ => { reconnected.TrySetResult(); return Task.CompletedTask; };
        await connection.StartAsync().WaitAsync(Guard);

        Assert.Null(await reconnecting.Task.WaitAsync(Guard));
        await reconnected.Task.WaitAsync(Guard);
        Assert.Equal(2, Volatile.Read(ref connections));
        Assert.Equal(LabHubConnectionState.Connected, connection.State);
    }

    [Fact]
    public async Task Oversized_frame_ends_the_connection_instead_of_buffering()
    {
        await using var server = await RawWebSocketServer.StartAsync(async socket =>
        {
            await RawWebSocketServer.ReadHandshakeAsync(socket);
            // A length prefix announcing 8 MB (under the protocol's own limit), then body bytes.
            await SendAsync(socket, [.. Handshake("{}"), 0x80, 0x80, 0x80, 0x04, 0x95]);
            var chunk = new byte[64 * 1024];
            for (int i = 0; i < 512 && socket.State == WebSocketState.Open; i++)
                await SendAsync(socket, chunk);
            await RawWebSocketServer.DrainUntilCloseAsync(socket);
        });
        var options = Options();
        options.MaxIncomingMessageBytes = 1024 * 1024;
        await using var connection = new LabHubConnection(server.RawUrl, options);
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += e => { closed.TrySetResult(e); return Task.CompletedTask; };
        await connection.StartAsync().WaitAsync(Guard);

        var reason = Assert.IsType<InvalidDataException>(await closed.Task.WaitAsync(Guard));
        Assert.Contains("MaxIncomingMessageBytes", reason.Message);
    }

    [Fact]
    public async Task Malformed_hub_frame_ends_the_connection_with_InvalidDataException()
    {
        await using var server = await RawWebSocketServer.StartAsync(async socket =>
        {
            await RawWebSocketServer.ReadHandshakeAsync(socket);
            // A Completion with result kind 9, which the protocol rejects.
            await SendAsync(socket, [.. Handshake("{}"), 0x06, 0x94, 0x03, 0x80, 0xa1, 0x31, 0x09]);
            await RawWebSocketServer.DrainUntilCloseAsync(socket);
        });
        await using var connection = new LabHubConnection(server.RawUrl, Options());
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += e => { closed.TrySetResult(e); return Task.CompletedTask; };
        await connection.StartAsync().WaitAsync(Guard);

        var reason = Assert.IsType<InvalidDataException>(await closed.Task.WaitAsync(Guard));
        Assert.Contains("result kind", reason.Message);
    }

    [Theory]
    [InlineData("{\"error\":\"negotiation refused\"}", "negotiation refused")]
    [InlineData("{\"connectionId\":\"x\",\"connectionToken\":\"y\",\"negotiateVersion\":1,\"availableTransports\":[{\"transport\":\"LongPolling\",\"transferFormats\":[\"Text\",\"Binary\"]}]}", "WebSockets")]
    [InlineData("{\"ProtocolVersion\":\"1.5\"}", "invalid negotiate")]
    [InlineData("<html>", "invalid negotiate")]
    public async Task Bad_negotiate_responses_fail_clearly(string body, string expected)
    {
        await using var server = await RawWebSocketServer.StartAsync(RawWebSocketServer.DrainUntilCloseAsync, negotiateBody: body);
        var options = Options();
        options.SkipNegotiation = false;
        await using var connection = new LabHubConnection(server.BadNegotiateUrl, options);
        var error = await Assert.ThrowsAsync<HubConnectFailedException>(() => connection.StartAsync().WaitAsync(Guard));
        output.WriteLine(error.Message);
        Assert.Contains(expected, error.Message);
    }
}
