using System.Buffers;
using Lab.Shared.MsgPack;
using Lab.Shared.Protocol;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace Lab.Shared.Tests;

/// <summary>An IInvocationBinder backed by dictionaries, shaped like the server's HubConnectionBinder.</summary>
internal sealed class TestBinder : IInvocationBinder
{
    public Dictionary<string, Type[]> Methods { get; } = new(StringComparer.OrdinalIgnoreCase);
    public Dictionary<string, Type> Returns { get; } = new();
    public Dictionary<string, Type> Streams { get; } = new();

    public IReadOnlyList<Type> GetParameterTypes(string methodName) =>
        Methods.TryGetValue(methodName, out var types) ? types : throw new HubException("Method does not exist.");

    public Type GetReturnType(string invocationId) => Returns[invocationId];

    public Type GetStreamItemType(string streamId) => Streams[streamId];
}

public class HubProtocolTests
{
    private readonly MsgPackHubProtocol _protocol = new();
    private readonly TestBinder _binder = new();

    private string Framed(HubMessage message) => Hex.Of(_protocol.GetMessageBytes(message).Span);

    private static string Frame(string bodyHex)
    {
        var body = Hex.Bytes(bodyHex);
        var prefix = new byte[5];
        int n = LengthPrefix.Write(prefix, body.Length);
        return Hex.Of(prefix.AsSpan(0, n)) + Hex.Of(body);
    }

    private List<HubMessage> ParseAll(string hex)
    {
        var input = new ReadOnlySequence<byte>(Hex.Bytes(hex));
        var messages = new List<HubMessage>();
        while (_protocol.TryParseMessage(ref input, _binder, out var message))
            messages.Add(message);
        Assert.True(input.IsEmpty, $"{input.Length} bytes left unparsed");
        return messages;
    }

    private HubMessage ParseOne(string hex) => Assert.Single(ParseAll(hex));

    [Fact]
    public void Identity()
    {
        Assert.Equal("messagepack", _protocol.Name);
        Assert.Equal(2, _protocol.Version);
        Assert.Equal(TransferFormat.Binary, _protocol.TransferFormat);
        Assert.True(_protocol.IsVersionSupported(1));
        Assert.True(_protocol.IsVersionSupported(2));
        Assert.False(_protocol.IsVersionSupported(3));
    }

    // ---- spec vectors (PROTOCOL-NOTES §2.14, "From the spec") ----

    [Fact]
    public void Spec_vectors_are_written_byte_for_byte()
    {
        const string method = "a6 6d 65 74 68 6f 64";
        Assert.Equal(Frame("96 01 80 a3 78 79 7a " + method + " 91 2a 90"), Framed(new InvocationMessage("xyz", "method", [42])));
        Assert.Equal(Frame("96 01 80 c0 " + method + " 91 2a 90"), Framed(new InvocationMessage("method", [42])));
        Assert.Equal(Frame("96 01 82 a1 78 a1 79 a1 7a a1 7a a3 78 79 7a " + method + " 91 2a 90"),
            Framed(new InvocationMessage("xyz", "method", [42]) { Headers = new Dictionary<string, string> { ["x"] = "y", ["z"] = "z" } }));
        Assert.Equal(Frame("94 02 80 a3 78 79 7a 2a"), Framed(new StreamItemMessage("xyz", 42)));
        Assert.Equal(Frame("95 03 80 a3 78 79 7a 01 a5 45 72 72 6f 72"), Framed(CompletionMessage.WithError("xyz", "Error")));
        Assert.Equal(Frame("94 03 80 a3 78 79 7a 02"), Framed(CompletionMessage.Empty("xyz")));
        Assert.Equal(Frame("95 03 80 a3 78 79 7a 03 2a"), Framed(CompletionMessage.WithResult("xyz", 42)));
        Assert.Equal(Frame("93 05 80 a3 78 79 7a"), Framed(new CancelInvocationMessage("xyz")));
        Assert.Equal(Frame("91 06"), Framed(PingMessage.Instance));
        Assert.Equal(Frame("93 07 a3 78 79 7a c3"), Framed(new CloseMessage("xyz", allowReconnect: true)));
        // The spec shows Ack/Sequence ids as uint8 (cc 24, cc 13); like MessagePack-CSharp we write the
        // smallest form, and Spec_vectors_parse reads the spec's bytes.
        Assert.Equal(Frame("92 08 24"), Framed(new AckMessage(36)));
        Assert.Equal(Frame("92 09 13"), Framed(new SequenceMessage(19)));
        Assert.Equal(Hex.Norm("05 92 08 cd 01 2c"), Framed(new AckMessage(300))); // as the JS client writes it
    }

    [Fact]
    public void Spec_vectors_parse()
    {
        _binder.Methods["method"] = [typeof(int)];
        _binder.Returns["xyz"] = typeof(int);
        _binder.Streams["xyz"] = typeof(int);

        var invocation = Assert.IsType<InvocationMessage>(ParseOne(Frame("96 01 82 a1 78 a1 79 a1 7a a1 7a a3 78 79 7a a6 6d 65 74 68 6f 64 91 2a 90")));
        Assert.Equal(("xyz", "method", 42), (invocation.InvocationId, invocation.Target, (int)invocation.Arguments[0]!));
        Assert.Equal("y", invocation.Headers!["x"]);
        Assert.Null(invocation.StreamIds); // empty StreamIds become null, as in the official reader

        Assert.Equal(42, Assert.IsType<StreamItemMessage>(ParseOne(Frame("94 02 80 a3 78 79 7a 2a"))).Item);
        Assert.Equal("Error", Assert.IsType<CompletionMessage>(ParseOne(Frame("95 03 80 a3 78 79 7a 01 a5 45 72 72 6f 72"))).Error);
        Assert.False(Assert.IsType<CompletionMessage>(ParseOne(Frame("94 03 80 a3 78 79 7a 02"))).HasResult);
        Assert.Equal(42, Assert.IsType<CompletionMessage>(ParseOne(Frame("95 03 80 a3 78 79 7a 03 2a"))).Result);
        Assert.Equal("xyz", Assert.IsType<CancelInvocationMessage>(ParseOne(Frame("93 05 80 a3 78 79 7a"))).InvocationId);
        var close2 = Assert.IsType<CloseMessage>(ParseOne(Frame("92 07 a3 78 79 7a")));
        Assert.Equal(("xyz", false), (close2.Error, close2.AllowReconnect));
        var close3 = Assert.IsType<CloseMessage>(ParseOne(Frame("93 07 a3 78 79 7a c3")));
        Assert.Equal(("xyz", true), (close3.Error, close3.AllowReconnect));
        Assert.Equal(36, Assert.IsType<AckMessage>(ParseOne(Frame("92 08 cc 24"))).SequenceId);
        Assert.Equal(19, Assert.IsType<SequenceMessage>(ParseOne(Frame("92 09 cc 13"))).SequenceId);
    }

    // ---- what @microsoft/signalr-protocol-msgpack 10.0.11 produced (PROTOCOL-NOTES §2.14) ----

    [Fact]
    public void JS_send_with_five_ints_in_unsigned_and_signed_forms()
    {
        _binder.Methods["M"] = [typeof(byte), typeof(sbyte), typeof(short), typeof(int), typeof(long)];
        var m = Assert.IsType<InvocationMessage>(ParseOne("1a 95 01 80 c0 a1 4d 95 2a ff cd 01 2c ce 00 01 11 70 cf 00 00 00 02 00 00 00 00"));
        Assert.Null(m.InvocationId);
        Assert.Equal(new object[] { (byte)42, (sbyte)-1, (short)300, 70000, 8589934592L }, m.Arguments);
    }

    [Fact]
    public void JS_invoke_without_stream_ids_has_five_elements()
    {
        _binder.Methods["M"] = [typeof(double), typeof(string), typeof(bool), typeof(string)];
        var m = Assert.IsType<InvocationMessage>(ParseOne("16 95 01 80 a1 30 a1 4d 94 cb 3f f8 00 00 00 00 00 00 a2 68 69 c3 c0"));
        Assert.Equal("0", m.InvocationId);
        Assert.Equal(new object?[] { 1.5, "hi", true, null }, m.Arguments);
        Assert.Null(m.StreamIds);
    }

    [Fact]
    public void JS_invoke_with_stream_ids()
    {
        _binder.Methods["M"] = [];
        var m = Assert.IsType<InvocationMessage>(ParseOne("0b 96 01 80 a1 31 a1 4d 90 91 a1 32"));
        Assert.Equal("1", m.InvocationId);
        Assert.Empty(m.Arguments);
        Assert.Equal(["2"], m.StreamIds!);
    }

    [Fact]
    public void JS_binary_date_object_and_array_arguments()
    {
        _binder.Methods["M"] = [typeof(byte[]), typeof(DateTime), typeof(Dictionary<string, object>), typeof(List<int>)];
        var m = Assert.IsType<InvocationMessage>(ParseOne(
            "26 95 01 80 c0 a1 4d 94 c4 03 01 02 03 d7 ff 01 31 2d 00 65 92 00 80 82 a4 4e 61 6d 65 a1 78 a3 41 67 65 03 92 01 02"));
        Assert.Equal(new byte[] { 1, 2, 3 }, m.Arguments[0]);
        Assert.Equal(new DateTime(2024, 1, 1, 0, 0, 0, 5, DateTimeKind.Utc), m.Arguments[1]);
        var obj = Assert.IsType<Dictionary<string, object>>(m.Arguments[2]);
        Assert.Equal(("x", 3L), (obj["Name"], obj["Age"]));
        Assert.Equal([1, 2], Assert.IsType<List<int>>(m.Arguments[3]));
    }

    [Fact]
    public void JS_undefined_argument_is_nil()
    {
        _binder.Methods["M"] = [typeof(int?)];
        Assert.Equal(new object?[] { null }, Assert.IsType<InvocationMessage>(ParseOne("08 95 01 80 c0 a1 4d 91 c0")).Arguments);
    }

    [Fact]
    public void JS_stream_invocation_item_completion_cancel_ping_close_ack_sequence()
    {
        _binder.Methods["S"] = [typeof(int)];
        _binder.Streams["2"] = typeof(int);
        _binder.Returns["9"] = typeof(int);
        var messages = ParseAll(
            "09 95 04 80 a1 33 a1 53 91 0a" + "06 94 02 80 a1 32 07" + "06 94 03 80 a1 32 02" + "07 95 03 80 a1 39 03 05"
            + "0a 95 03 80 a1 39 01 a3 62 61 64" + "05 93 05 80 a1 33" + "02 91 06" + "03 92 07 c0" + "05 92 08 cd 01 2c" + "03 92 09 01");
        Assert.Equal(10, messages.Count);
        var stream = Assert.IsType<StreamInvocationMessage>(messages[0]);
        Assert.Equal(("3", "S", 10), (stream.InvocationId, stream.Target, (int)stream.Arguments[0]!));
        Assert.Equal(("2", (object?)7), (((StreamItemMessage)messages[1]).InvocationId, ((StreamItemMessage)messages[1]).Item));
        Assert.False(((CompletionMessage)messages[2]).HasResult);
        Assert.Equal(5, ((CompletionMessage)messages[3]).Result);
        Assert.Equal("bad", ((CompletionMessage)messages[4]).Error);
        Assert.Equal("3", ((CancelInvocationMessage)messages[5]).InvocationId);
        Assert.Same(PingMessage.Instance, messages[6]);
        Assert.Same(CloseMessage.Empty, messages[7]);
        Assert.Equal(300, ((AckMessage)messages[8]).SequenceId);
        Assert.Equal(1, ((SequenceMessage)messages[9]).SequenceId);
    }

    [Fact]
    public void Server_sent_frames_match_what_the_JS_client_was_shown()
    {
        Assert.Equal(Hex.Norm("02 91 06"), Framed(PingMessage.Instance));
        Assert.Equal(Hex.Norm("04 93 07 c0 c2"), Framed(CloseMessage.Empty));
        Assert.Equal(Hex.Norm("04 93 07 c0 c2"), Framed(new CloseMessage("")));
        Assert.Equal(Hex.Norm("06 94 03 80 a1 30 02"), Framed(CompletionMessage.Empty("0")));
        Assert.Equal(Hex.Norm("0f 96 01 80 c0 a4 52 65 63 76 92 2a a2 68 69 90"), Framed(new InvocationMessage("Recv", [42, "hi"])));
        Assert.Equal(Hex.Norm("0f 96 01 80 c0 a4 52 65 63 76 92 2a a2 68 69 90"), Framed(new InvocationMessage("", "Recv", [42, "hi"])));
        Assert.Equal(Hex.Norm("07 95 03 80 a1 30 03 c0"), Framed(CompletionMessage.WithResult("0", null)));
    }

    [Fact]
    public void Two_messages_in_one_buffer()
    {
        var messages = ParseAll("02 91 06 04 93 07 c0 c3");
        Assert.Same(PingMessage.Instance, messages[0]);
        var close = Assert.IsType<CloseMessage>(messages[1]);
        Assert.Equal((null, true), (close.Error, close.AllowReconnect));
    }

    // ---- framing ----

    [Fact]
    public void WriteMessage_and_GetMessageBytes_agree()
    {
        var message = new InvocationMessage("7", "Add", [1, 2], ["s"]);
        var buffer = new ArrayBufferWriter<byte>();
        _protocol.WriteMessage(message, buffer);
        Assert.Equal(Framed(message), Hex.Of(buffer.WrittenSpan));
    }

    [Theory]
    [InlineData(0, "00")]
    [InlineData(53, "35")]
    [InlineData(127, "7f")]
    [InlineData(128, "80 01")]
    [InlineData(5248, "80 29")]
    [InlineData(16383, "ff 7f")]
    [InlineData(16384, "80 80 01")]
    [InlineData(int.MaxValue, "ff ff ff ff 07")]
    public void Length_prefix_vectors(int length, string hex)
    {
        var buffer = new byte[5];
        Assert.Equal(Hex.Norm(hex), Hex.Of(buffer.AsSpan(0, LengthPrefix.Write(buffer, length))));
        Assert.True(LengthPrefix.TryRead(new ReadOnlySequence<byte>(Hex.Bytes(hex)), out int prefix, out int body));
        Assert.Equal((hex.Replace(" ", "").Length / 2, length), (prefix, body));
    }

    [Fact]
    public void Large_body_gets_a_two_byte_prefix_and_parses()
    {
        _binder.Methods["Blob"] = [typeof(byte[])];
        var blob = Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray();
        var bytes = _protocol.GetMessageBytes(new InvocationMessage("Blob", [blob])).ToArray();
        Assert.True(bytes[0] >= 0x80 && bytes[1] < 0x80);
        var input = new ReadOnlySequence<byte>(bytes);
        Assert.True(_protocol.TryParseMessage(ref input, _binder, out var message));
        Assert.Equal(blob, ((InvocationMessage)message).Arguments[0]);
    }

    [Fact]
    public void Incomplete_input_returns_false_without_consuming_at_every_split()
    {
        _binder.Methods["Add"] = [typeof(int), typeof(int)];
        var bytes = _protocol.GetMessageBytes(new InvocationMessage("7", "Add", [1, 2])).ToArray();
        for (int length = 0; length < bytes.Length; length++)
        {
            var input = new ReadOnlySequence<byte>(bytes, 0, length);
            Assert.False(_protocol.TryParseMessage(ref input, _binder, out _));
            Assert.Equal(length, input.Length);
        }
        Assert.False(ParseAllRaw("05 91 06", out var rest)); // the notes' truncated frame
        Assert.Equal(3, rest);
    }

    private bool ParseAllRaw(string hex, out long rest)
    {
        var input = new ReadOnlySequence<byte>(Hex.Bytes(hex));
        bool parsed = _protocol.TryParseMessage(ref input, _binder, out _);
        rest = input.Length;
        return parsed;
    }

    [Fact]
    public void Frames_split_across_many_segments_parse()
    {
        _binder.Methods["Add"] = [typeof(int), typeof(string)];
        var one = _protocol.GetMessageBytes(new InvocationMessage("7", "Add", [1, new string('x', 200)])).ToArray();
        var bytes = one.Concat(one).Concat(Hex.Bytes("02 91 06")).ToArray();
        var input = Segments.Split(bytes, 1);
        var messages = new List<HubMessage>();
        while (_protocol.TryParseMessage(ref input, _binder, out var message))
            messages.Add(message);
        Assert.Equal(3, messages.Count);
        Assert.Equal(new string('x', 200), ((InvocationMessage)messages[1]).Arguments[1]);
        Assert.True(input.IsEmpty);
    }

    [Fact]
    public void Unknown_message_types_are_skipped()
    {
        Assert.Same(PingMessage.Instance, ParseOne(Frame("92 63 01") + "02 91 06"));
        Assert.Empty(ParseAll(Frame("91 0a"))); // consumed, nothing returned
    }

    [Fact]
    public void A_prefix_over_2GB_is_invalid_data()
    {
        Assert.Throws<InvalidDataException>(() => ParseAllRaw("ff ff ff ff 08", out _));
        Assert.Throws<InvalidDataException>(() => ParseAllRaw("ff ff ff ff 80 01", out _));
    }

    [Fact]
    public void A_frame_over_the_limit_fails_before_its_body_arrives()
    {
        var small = new MsgPackHubProtocol(new MsgPackSerializer(limits: MsgPackLimits.Default with { MaxMessageBytes = 100 }));
        var input = new ReadOnlySequence<byte>(Hex.Bytes("65")); // declares 101 bytes, none present
        var ex = Assert.Throws<InvalidDataException>(() => small.TryParseMessage(ref input, _binder, out _));
        Assert.Contains("101", ex.Message);
        var ok = new ReadOnlySequence<byte>(Hex.Bytes("64")); // 100 bytes: wait for them
        Assert.False(small.TryParseMessage(ref ok, _binder, out _));
    }

    // ---- malformed frames ----

    [Theory]
    [InlineData("2a")] // not an array
    [InlineData("90")] // empty array
    [InlineData("91 a1 78")] // type id not an integer
    [InlineData("91 c1")] // invalid code
    [InlineData("93 01 80 c0")] // Invocation too short
    [InlineData("95 01 80 c0 2a 90")] // target not a string
    [InlineData("95 04 80 c0 a1 4d 90")] // StreamInvocation without id
    [InlineData("95 04 80 a0 a1 4d 90")] // StreamInvocation with empty id
    [InlineData("94 02 80 c0 01")] // StreamItem without id
    [InlineData("94 03 80 c0 02")] // Completion without id
    [InlineData("94 03 80 a1 30 07")] // invalid result kind
    [InlineData("94 03 80 a1 30 01")] // error kind without the error
    [InlineData("93 05 80 c0")] // Cancel without id
    [InlineData("95 01 81 a0 a1 79 c0 a1 4d 90")] // empty header key
    [InlineData("95 01 81 a1 78 c0 c0 a1 4d 90")] // nil header value
    [InlineData("95 01 2a c0 a1 4d 90")] // headers not a map
    [InlineData("91 07")] // Close too short
    [InlineData("93 07 c0 2a")] // allowReconnect not a bool
    [InlineData("92 08 a1 78")] // Ack id not an integer
    [InlineData("96 01 80 c0 a1 4d 90 91 c0")] // null stream id
    [InlineData("dd ff ff ff ff")] // 4 G elements declared
    public void Malformed_bodies_throw_InvalidDataException(string body)
    {
        _binder.Methods["M"] = [];
        var ex = Assert.Throws<InvalidDataException>(() => ParseAll(Frame(body)));
        Assert.False(string.IsNullOrEmpty(ex.Message));
    }

    [Fact]
    public void Random_frames_only_ever_raise_InvalidDataException()
    {
        _binder.Methods["M"] = [typeof(int), typeof(string)];
        _binder.Returns["0"] = typeof(int);
        _binder.Streams["0"] = typeof(string);
        var random = new Random(99);
        var samples = new[]
        {
            "96 01 81 a1 78 a1 79 a1 30 a1 4d 92 2a a1 78 91 a1 31", "94 02 80 a1 30 a1 78", "95 03 80 a1 30 03 2a",
            "95 03 80 a1 30 01 a1 65", "93 07 a1 65 c3", "92 08 cd 01 2c", "95 04 80 a1 30 a1 4d 92 01 a0",
        };
        for (int i = 0; i < 20_000; i++)
        {
            var body = Hex.Bytes(samples[random.Next(samples.Length)]);
            for (int flips = random.Next(1, 3); flips > 0; flips--)
                body[random.Next(body.Length)] = (byte)random.Next(256);
            try
            {
                ParseAll(Frame(Hex.Of(body)));
            }
            catch (InvalidDataException)
            {
            }
        }
    }

    // ---- binding ----

    [Fact]
    public void Unknown_method_wrong_count_and_wrong_type_are_binding_failures()
    {
        _binder.Methods["Add"] = [typeof(int), typeof(int)];
        var unknown = Assert.IsType<InvocationBindingFailureMessage>(ParseOne(Frame("95 01 80 a1 31 a4 4e 6f 70 65 90")));
        Assert.Equal(("1", "Nope"), (unknown.InvocationId, unknown.Target));
        Assert.IsType<HubException>(unknown.BindingFailure.SourceException);

        var count = Assert.IsType<InvocationBindingFailureMessage>(ParseOne(Frame("95 01 80 a1 32 a3 41 64 64 91 01")));
        Assert.Contains("Invocation provides 1 argument(s) but target expects 2.", count.BindingFailure.SourceException.Message);

        var type = Assert.IsType<InvocationBindingFailureMessage>(ParseOne(Frame("95 01 80 a1 33 a3 61 64 64 92 01 a1 78")));
        Assert.IsType<MsgPackException>(type.BindingFailure.SourceException); // and the target matched case-insensitively

        // A binding failure still consumes its frame; the next message parses.
        Assert.Equal(2, ParseAll(Frame("95 01 80 c0 a4 4e 6f 70 65 90") + "02 91 06").Count);
    }

    [Fact]
    public void Stream_item_and_result_binding_failures()
    {
        _binder.Streams["s"] = typeof(int);
        var item = Assert.IsType<StreamBindingFailureMessage>(ParseOne(Frame("94 02 80 a1 73 a1 78")));
        Assert.Equal("s", item.Id);
        Assert.IsType<StreamBindingFailureMessage>(ParseOne(Frame("94 02 80 a1 75 01"))); // unknown stream

        _binder.Returns["r"] = typeof(int);
        var result = Assert.IsType<CompletionMessage>(ParseOne(Frame("95 03 80 a1 72 03 a1 78")));
        Assert.False(result.HasResult);
        Assert.StartsWith("Error trying to deserialize result to Int32.", result.Error);

        // A result for an invocation nobody waits for is skipped, not an error.
        var orphan = Assert.IsType<CompletionMessage>(ParseOne(Frame("95 03 80 a1 71 03 92 01 02")));
        Assert.True(orphan.HasResult);
        Assert.Null(orphan.Result);
    }

    [Fact]
    public void RawResult_keeps_and_forwards_bytes_unchanged()
    {
        _binder.Returns["r"] = typeof(RawResult);
        var completion = Assert.IsType<CompletionMessage>(ParseOne(Frame("95 03 80 a1 72 03 92 cd 01 2c a1 78")));
        var raw = Assert.IsType<RawResult>(completion.Result);
        Assert.Equal("92cd012ca178", Hex.Of(raw.RawSerializedData.ToArray()));
        Assert.Equal(Frame("96 01 80 c0 a1 4d 91 92 cd 01 2c a1 78 90"), Framed(new InvocationMessage("M", [raw])));
        Assert.Equal(Frame("95 03 80 a1 30 03 92 cd 01 2c a1 78"), Framed(CompletionMessage.WithResult("0", raw)));

        _binder.Methods["Fwd"] = [typeof(RawResult)];
        var invocation = Assert.IsType<InvocationMessage>(ParseOne(Frame("95 01 80 c0 a3 46 77 64 91 d9 03 61 62 63")));
        Assert.Equal("d903616263", Hex.Of(((RawResult)invocation.Arguments[0]!).RawSerializedData.ToArray()));
    }

    [Fact]
    public void Empty_invocation_id_means_non_blocking()
    {
        _binder.Methods["M"] = [];
        Assert.Null(Assert.IsType<InvocationMessage>(ParseOne(Frame("95 01 80 a0 a1 4d 90"))).InvocationId);
    }

    [Fact]
    public void Trailing_elements_are_ignored_for_forward_compatibility()
    {
        _binder.Methods["M"] = [];
        Assert.IsType<InvocationMessage>(ParseOne(Frame("97 01 80 c0 a1 4d 90 90 c3")));
        Assert.Same(PingMessage.Instance, ParseOne(Frame("92 06 c3")));
        Assert.IsType<CancelInvocationMessage>(ParseOne(Frame("94 05 80 a1 30 01")));
    }

    [Fact]
    public void Every_message_type_round_trips()
    {
        _binder.Methods["Go"] = [typeof(int[]), typeof(string), typeof(byte[])];
        _binder.Returns["c"] = typeof(List<string>);
        _binder.Streams["i"] = typeof(double?);
        var headers = new Dictionary<string, string> { ["traceparent"] = "00-abc-01" };
        HubMessage[] messages =
        [
            new InvocationMessage("1", "Go", [new[] { 1, 2 }, "x", new byte[] { 9 }], ["s1", "s2"]) { Headers = headers },
            new StreamInvocationMessage("2", "Go", [new[] { 3 }, null, null]),
            new StreamItemMessage("i", 2.5),
            new StreamItemMessage("i", null),
            CompletionMessage.WithResult("c", new List<string> { "a" }),
            CompletionMessage.WithError("c", "boom"),
            CompletionMessage.Empty("c"),
            new CancelInvocationMessage("2"),
            PingMessage.Instance,
            new CloseMessage("bye", allowReconnect: true),
            CloseMessage.Empty,
            new AckMessage(long.MaxValue),
            new SequenceMessage(1),
        ];
        var all = string.Concat(messages.Select(Framed));
        var parsed = ParseAll(all);
        Assert.Equal(messages.Length, parsed.Count);
        for (int i = 0; i < messages.Length; i++)
        {
            Assert.Equal(messages[i].GetType(), parsed[i].GetType());
            Assert.Equal(Framed(messages[i]), Framed(parsed[i])); // same bytes when written again
        }
        Assert.Equal("00-abc-01", ((InvocationMessage)parsed[0]).Headers!["traceparent"]);
        Assert.Null(((StreamInvocationMessage)parsed[1]).Headers);
    }

    [Fact]
    public void Unsupported_outgoing_types_are_our_bug()
    {
        Assert.Throws<InvalidDataException>(() => _protocol.GetMessageBytes(new InvocationBindingFailureMessage("1", "M", null!)));
        Assert.Throws<NotSupportedException>(() => _protocol.GetMessageBytes(new InvocationMessage("M", [new System.Text.StringBuilder()])));
    }
}

/// <summary>Builds multi-segment sequences, as a Pipe hands them to the protocol.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Split(byte[] bytes, int size)
    {
        var first = new Segments(bytes.AsMemory(0, Math.Min(size, bytes.Length)), 0);
        var last = first;
        for (int offset = size; offset < bytes.Length; offset += size)
        {
            var next = new Segments(bytes.AsMemory(offset, Math.Min(size, bytes.Length - offset)), offset);
            last.Next = next;
            last = next;
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
