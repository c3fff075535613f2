using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using Lab.Shared.Wire;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.Options;

namespace Lab.Server.Tests;

/// <summary>
/// A raw WebSocket client that speaks the hub protocol byte by byte, so tests can send what no real
/// client would: SignalR's own MessagePack protocol (with Lab's options) frames the well-formed parts.
/// </summary>
internal sealed class RawHub : IAsyncDisposable
{
    public static readonly MessagePackHubProtocol Protocol =
        new(Options.Create(new MessagePackHubProtocolOptions { SerializerOptions = LabMessagePack.Options }));

    private readonly ClientWebSocket _socket = new();
    private ReadOnlySequence<byte> _pending = ReadOnlySequence<byte>.Empty;

    /// <summary>Connects and completes the messagepack handshake.</summary>
    public static async Task<RawHub> ConnectAsync(string url)
    {
        var hub = new RawHub();
        await hub._socket.ConnectAsync(new Uri(url.Replace("http", "ws") + LabHubRoute.Path), CancellationToken.None);
        await hub._socket.SendAsync(Encoding.UTF8.GetBytes("{\"protocol\":\"messagepack\",\"version\":1}\u001e"), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[1024];
        var r = await hub._socket.ReceiveAsync(buffer, Guard());
        Assert.Equal("{}\u001e", Encoding.UTF8.GetString(buffer, 0, r.Count));
        return hub;
    }

    private static CancellationToken Guard() => new CancellationTokenSource(TimeSpan.FromMinutes(1)).Token;   // a failure guard, not a speed limit

    public Task SendAsync(byte[] bytes) => _socket.SendAsync(bytes, WebSocketMessageType.Binary, true, CancellationToken.None);

    public Task InvokeAsync(string id, string method, params object?[] args) =>
        SendAsync(Protocol.GetMessageBytes(new InvocationMessage(id, method, args)).ToArray());

    /// <summary>A hub frame around a hand-made MessagePack body: the varint length, then the body.</summary>
    public static byte[] Frame(byte[] body)
    {
        var prefix = new List<byte>();
        for (uint n = (uint)body.Length; ; n >>= 7)
        {
            if (n < 0x80) { prefix.Add((byte)n); break; }
            prefix.Add((byte)(n | 0x80));
        }
        return [.. prefix, .. body];
    }

    /// <summary>Reads until the server completes invocation <paramref name="id"/> (returns it) or closes the connection (returns null).</summary>
    public async Task<CompletionMessage?> CompletionOrCloseAsync(string id)
    {
        var buffer = new byte[64 * 1024];
        var token = Guard();
        while (true)
        {
            while (Protocol.TryParseMessage(ref _pending, Binder.Instance, out var message))
            {
                if (message is CompletionMessage c && c.InvocationId == id) return c;
                if (message is CloseMessage) return null;
            }
            WebSocketReceiveResult r;
            try { r = await _socket.ReceiveAsync(buffer, token); }
            catch (WebSocketException) { return null; }
            if (r.MessageType == WebSocketMessageType.Close) return null;
            _pending = new ReadOnlySequence<byte>([.. _pending.ToArray(), .. buffer.AsSpan(0, r.Count).ToArray()]);
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>What the server may send a raw client: frames, and completions of any type.</summary>
    private sealed class Binder : IInvocationBinder
    {
        public static readonly Binder Instance = new();
        public Type GetReturnType(string invocationId) => typeof(object);
        public IReadOnlyList<Type> GetParameterTypes(string methodName) => [typeof(Frame)];
        public Type GetStreamItemType(string streamId) => typeof(object);
    }
}

/// <summary>
/// Hostile bytes against a real server: malformed, oversized, deeply nested and mistyped messages get
/// an error or close only the connection that sent them; the server and other clients carry on.
/// </summary>
public class HostileInputTests
{
    private static async Task StillServes(TestClient good)
    {
        long frames = good.Mirror.FramesApplied;
        await good.WaitForAsync(m => m.FramesApplied > frames, "more frames for the good client");
        Assert.Contains(await good.Hub.ListSessions(), s => s.Name == "demo");
    }

    [Fact]
    public async Task Malformed_and_oversized_frames_close_only_that_connection()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var good = await TestClient.ConnectAsync(server.Url);
        await good.JoinAsync("demo", "good");

        // Garbage after the handshake: 0xC1 is the one code MessagePack never uses.
        await using (var raw = await RawHub.ConnectAsync(server.Url))
        {
            await raw.SendAsync(RawHub.Frame([0xC1, 0xC1, 0xC1, 0xC1, 0xC1]));
            Assert.Null(await raw.CompletionOrCloseAsync("never"));
        }
        // A frame far over the 32 KiB limit.
        await using (var raw = await RawHub.ConnectAsync(server.Url))
        {
            await raw.SendAsync(RawHub.Frame(new byte[100_000]));
            Assert.Null(await raw.CompletionOrCloseAsync("never"));
        }
        // A length prefix that claims 2 GB, then more than 32 KiB of it: the server buffers no more than its limit.
        await using (var raw = await RawHub.ConnectAsync(server.Url))
        {
            await raw.SendAsync([0xFF, 0xFF, 0xFF, 0xFF, 0x07, .. new byte[40 * 1024]]);
            Assert.Null(await raw.CompletionOrCloseAsync("never"));
        }
        await StillServes(good);
    }

    [Fact]
    public async Task Deep_nesting_and_huge_declared_sizes_are_refused_without_harm()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var good = await TestClient.ConnectAsync(server.Url);
        await good.JoinAsync("demo", "good");

        // [1, {}, "1", "Watch", [ARG]]: an invocation of Watch with a hand-made argument.
        static byte[] Watch(byte[] argument) =>
            RawHub.Frame([0x95, 0x01, 0x80, 0xA1, (byte)'1', 0xA5, .. "Watch"u8, 0x91, .. argument]);

        // 30,000 nested arrays (a stack-depth attack) as the argument, and as an extra argument the
        // hub must skip: both fit the 32 KiB limit.
        byte[] nested = [.. Enumerable.Repeat((byte)0x91, 30_000), 0x01];
        await using (var raw = await RawHub.ConnectAsync(server.Url))
        {
            await raw.SendAsync(Watch(nested));
            var answer = await raw.CompletionOrCloseAsync("1");
            Assert.True(answer == null || answer.Error != null, "a 30,000-deep argument was accepted");
        }
        await using (var raw = await RawHub.ConnectAsync(server.Url))
        {
            await raw.SendAsync(RawHub.Frame([0x95, 0x01, 0x80, 0xA1, (byte)'1', 0xA5, .. "Watch"u8, 0x92, 0x90, .. nested]));
            var answer = await raw.CompletionOrCloseAsync("1");
            Assert.True(answer == null || answer.Error != null, "an extra 30,000-deep argument was accepted");
        }
        // An array that claims 2^31 - 1 elements in a few bytes: refused, nothing allocated for it.
        await using (var raw = await RawHub.ConnectAsync(server.Url))
        {
            await raw.SendAsync(Watch([0xDD, 0x7F, 0xFF, 0xFF, 0xFF, 0x01, 0x02]));
            var answer = await raw.CompletionOrCloseAsync("1");
            Assert.True(answer == null || answer.Error != null, "a 2-billion-element array was accepted");
        }
        // Session options whose unknown trailing element is deeply nested (a newer client's extra field is skipped, this is not).
        await using (var raw = await RawHub.ConnectAsync(server.Url))
        {
            byte[] options = [0x97, 0xA1, (byte)'x', 0xA0, 0xA0, 0xA0, 0xC2, 0x00, .. nested];
            await raw.SendAsync(RawHub.Frame([0x95, 0x01, 0x80, 0xA1, (byte)'1', 0xAD, .. "CreateSession"u8, 0x91, .. options]));
            var answer = await raw.CompletionOrCloseAsync("1");
            Assert.True(answer == null || answer.Error != null, "deeply nested session options were accepted");
        }
        Assert.DoesNotContain(await good.Hub.ListSessions(), s => s.Name == "x");
        await StillServes(good);
    }

    [Fact]
    public async Task Mistyped_and_missing_arguments_get_an_error_and_the_connection_stays_usable()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var raw = await RawHub.ConnectAsync(server.Url);

        // Join with numbers where strings belong.
        await raw.InvokeAsync("1", nameof(ILabHub.Join), 1, 2, 3);
        var wrongTypes = await raw.CompletionOrCloseAsync("1");
        Assert.NotNull(wrongTypes);
        Assert.True(wrongTypes!.Error != null, "Join with numbers for strings succeeded");
        Assert.Contains("Join", wrongTypes.Error);
        // Too few arguments, and a method that does not exist.
        await raw.InvokeAsync("2", nameof(ILabHub.Join), "demo");
        var tooFew = await raw.CompletionOrCloseAsync("2");
        Assert.True(tooFew!.Error != null, "Join with one argument succeeded");
        await raw.InvokeAsync("3", "NoSuchMethod");
        Assert.Contains("Method does not exist", (await raw.CompletionOrCloseAsync("3"))!.Error);
        // Session options with every string nil: a clear refusal, not a crash.
        await raw.SendAsync(RawHub.Frame([0x95, 0x01, 0x80, 0xA1, (byte)'4', 0xAD, .. "CreateSession"u8, 0x91, 0x96, 0xC0, 0xC0, 0xC0, 0xC0, 0xC2, 0x00]));
        var nils = await raw.CompletionOrCloseAsync("4");
        Assert.NotNull(nils);
        Assert.NotNull(nils!.Error);
        Assert.Contains("a session needs a name", nils.Error);
        // A nil options object.
        await raw.InvokeAsync("5", nameof(ILabHub.CreateSession), [null]);
        Assert.Contains("CreateSession needs its options", (await raw.CompletionOrCloseAsync("5"))!.Error);

        // The same connection still works.
        await raw.InvokeAsync("6", nameof(ILabHub.Join), "demo", "raw", null);
        var joined = await raw.CompletionOrCloseAsync("6");
        Assert.NotNull(joined);
        Assert.Null(joined!.Error);
    }
}
