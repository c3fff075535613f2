using System.Text.Json.Nodes;
using Lab.Shared.MsgPack;

namespace Lab.Shared.Tests;

/// <summary>
/// Compares our codec with @msgpack/msgpack 2.8.0, the codec inside the official JS SignalR client,
/// in both directions. Node runs once for all cases (in the fixture).
/// </summary>
public sealed class JsCrossCheckFixture
{
    /// <summary>Values both encoders must write identically: (description, our value, the same value for JS).</summary>
    public static readonly (string Name, MsgPackValue Value, JsonObject Js)[] Agreeing = BuildAgreeing();

    /// <summary>Our bytes and what JS must decode them to (lossy for uint64, float32, ns-precision timestamps).</summary>
    public static readonly (string Hex, JsonObject Expected)[] DecodeOnly =
    [
        ("cf ff ff ff ff ff ff ff ff", Tag.Int("18446744073709551616")),
        ("d3 80 00 00 00 00 00 00 00", Tag.Int("-9223372036854775808")),
        ("ca 3d cc cc cd", Tag.F64(0.10000000149011612)),
        ("cd 00 05", Tag.Int(5)),
        ("d9 02 68 69", Tag.Str("hi")),
        ("c7 0c ff 00 0f 42 40 00 00 00 00 00 00 00 01", Tag.Date(1001)), // 1 s + 1 000 000 ns in timestamp96
        ("c7 0c ff 00 00 00 00 ff ff ff f1 88 6e 09 00", Tag.Date(-62135596800000)), // DateTime.MinValue
    ];

    /// <summary>What JS writes where it differs from a .NET writer, and the .NET value we must read from it.</summary>
    public static readonly (JsonObject Js, string ExpectedHex)[] JsSpecific =
    [
        (Tag.F64(2.0), "02"), // a whole double goes out as an int
        (Tag.F64(-0.0), "00"),
        (Tag.F64(9007199254740994.0), "cb 43 40 00 00 00 00 00 01"), // 2^53+2 stays a float
        (Tag.F64(-300.0), "d1 fe d4"),
    ];

    public JsCrossCheckFixture()
    {
        var request = new JsonObject
        {
            ["encode"] = new JsonArray(Agreeing.Select(c => (JsonNode)c.Js.DeepClone()).Concat(JsSpecific.Select(c => (JsonNode)c.Js.DeepClone())).ToArray()),
            ["decode"] = new JsonArray(Agreeing.Select(c => (JsonNode)Hex.Of(c.Value.Encode())).Concat(DecodeOnly.Select(c => (JsonNode)Hex.Norm(c.Hex))).ToArray()),
        };
        var response = JsMsgPack.Run(request);
        Encoded = response["encode"]!.AsArray().ToArray();
        Decoded = response["decode"]!.AsArray().ToArray();
    }

    public JsonNode?[] Encoded { get; }
    public JsonNode?[] Decoded { get; }

    private static (string, MsgPackValue, JsonObject)[] BuildAgreeing()
    {
        var cases = new List<(string, MsgPackValue, JsonObject)>();
        void Add(string name, MsgPackValue value, JsonObject js) => cases.Add((name, value, js));

        foreach (long n in new[] { 0L, 1, 127, 128, 255, 256, 300, 65535, 65536, 70000, 4294967295, 4294967296, 8589934592, 9007199254740991,
                     -1, -32, -33, -128, -129, -200, -32768, -32769, -2147483648, -2147483649, -9007199254740991 })
            Add($"int {n}", n, Tag.Int(n));
        foreach (double d in new[] { 1.5, 0.1, -2.5e300, double.PositiveInfinity, double.NegativeInfinity, double.Epsilon, 1e-310, 123456.789 })
            Add($"f64 {d}", d, Tag.F64(d));
        Add("f64 NaN", BitConverter.UInt64BitsToDouble(0x7ff8000000000000), Tag.F64(BitConverter.UInt64BitsToDouble(0x7ff8000000000000)));
        Add("nil", MsgPackValue.Nil, Tag.Nil());
        Add("true", true, Tag.Bool(true));
        Add("false", false, Tag.Bool(false));
        foreach (int length in new[] { 0, 1, 31, 32, 255, 256, 65535, 65536 })
        {
            var text = new string('s', length);
            Add($"str {length}", text, Tag.Str(text));
        }
        Add("str unicode", "héllo ☃ 😀 \u0000", Tag.Str("héllo ☃ 😀 \u0000"));
        foreach (int length in new[] { 0, 3, 255, 256, 65535, 65536 })
        {
            var bytes = Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray();
            Add($"bin {length}", bytes, Tag.Bin(bytes));
        }
        foreach (int count in new[] { 0, 1, 15, 16, 65535, 65536 })
            Add($"array {count}", MsgPackValue.Array(Enumerable.Range(0, count).Select(i => (MsgPackValue)(i % 100)).ToArray()),
                Tag.Arr(Enumerable.Range(0, count).Select(i => (JsonNode)Tag.Int(i % 100))));
        foreach (int count in new[] { 0, 2, 15, 16 })
            Add($"map {count}", MsgPackValue.Map(Enumerable.Range(0, count).Select(i => ((MsgPackValue)$"k{i}", (MsgPackValue)i)).ToArray()),
                Tag.Map(Enumerable.Range(0, count).Select(i => ($"k{i}", (JsonNode)Tag.Int(i)))));
        Add("object", MsgPackValue.Map(("Name", "x"), ("Age", 3)), Tag.Map([("Name", Tag.Str("x")), ("Age", Tag.Int(3))]));
        Add("nested", MsgPackValue.Map(("a", MsgPackValue.Array(MsgPackValue.Map(("b", new byte[] { 1 })), MsgPackValue.Nil, -1.25))),
            Tag.Map([("a", Tag.Arr([Tag.Map([("b", Tag.Bin([1]))]), Tag.Nil(), Tag.F64(-1.25)]))]));
        foreach (int length in new[] { 0, 1, 2, 3, 4, 8, 16, 17, 256 })
        {
            var data = Enumerable.Range(0, length).Select(i => (byte)i).ToArray();
            Add($"ext {length}", MsgPackValue.Extension(5, data), Tag.Ext(5, data));
        }
        Add("ext 127", MsgPackValue.Extension(127, [1, 2]), Tag.Ext(127, [1, 2]));
        foreach (var date in new[]
                 {
                     "2024-01-01T00:00:00.005Z", "2024-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2106-02-07T06:28:15Z",
                     "2106-02-07T06:28:16Z", "2500-01-01T00:00:00.999Z", "1969-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z",
                 })
        {
            var dt = DateTime.Parse(date, null, System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal);
            long ms = (dt.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMillisecond;
            Add($"date {date}", MsgPackValue.Timestamp(MsgPackTimestamp.FromDateTime(dt)), Tag.Date(ms));
        }
        return cases.ToArray();
    }
}

public class JsCrossCheckTests(JsCrossCheckFixture js) : IClassFixture<JsCrossCheckFixture>
{
    public static TheoryData<int> AgreeingCases() => [.. Enumerable.Range(0, JsCrossCheckFixture.Agreeing.Length)];

    public static TheoryData<int> DecodeOnlyCases() => [.. Enumerable.Range(0, JsCrossCheckFixture.DecodeOnly.Length)];

    public static TheoryData<int> JsSpecificCases() => [.. Enumerable.Range(0, JsCrossCheckFixture.JsSpecific.Length)];

    [Theory]
    [MemberData(nameof(AgreeingCases))]
    public void Both_encoders_write_the_same_bytes_and_read_each_other(int index)
    {
        var (name, value, _) = JsCrossCheckFixture.Agreeing[index];
        var ours = Hex.Of(value.Encode());

        // JS encoder == our encoder.
        var theirs = js.Encoded[index]!.GetValueKind() == System.Text.Json.JsonValueKind.String
            ? js.Encoded[index]!.GetValue<string>()
            : throw new Xunit.Sdk.XunitException($"{name}: JS failed to encode: {js.Encoded[index]}");
        Assert.True(ours == theirs, $"{name}: ours {Short(ours)} vs JS {Short(theirs)}");

        // JS reads our bytes back to the same value (its re-encoding is byte-identical).
        var decoded = js.Decoded[index]!.AsObject();
        Assert.True(decoded["reencoded"] is not null, $"{name}: JS failed to decode our bytes: {decoded}");
        Assert.Equal(ours, decoded["reencoded"]!.GetValue<string>());

        // We read JS's bytes back to the same value.
        Assert.Equal(value, MsgPackValue.Decode(Hex.Bytes(theirs)));
    }

    [Theory]
    [MemberData(nameof(DecodeOnlyCases))]
    public void JS_decodes_values_it_cannot_write(int index)
    {
        var (hex, expected) = JsCrossCheckFixture.DecodeOnly[index];
        var decoded = js.Decoded[JsCrossCheckFixture.Agreeing.Length + index]!.AsObject();
        Assert.True(decoded["value"] is not null, $"{hex}: JS failed: {decoded}");
        Assert.Equal(expected.ToJsonString(), decoded["value"]!.ToJsonString());
        MsgPackValue.Decode(Hex.Bytes(hex)); // and it is valid for us too
    }

    [Theory]
    [MemberData(nameof(JsSpecificCases))]
    public void What_JS_writes_for_doubles_and_how_we_read_it(int index)
    {
        var (tag, expectedHex) = JsCrossCheckFixture.JsSpecific[index];
        var theirs = js.Encoded[JsCrossCheckFixture.Agreeing.Length + index]!.GetValue<string>();
        Assert.Equal(Hex.Norm(expectedHex), theirs);
        double expected = BitConverter.UInt64BitsToDouble(Convert.ToUInt64(tag["v"]!.GetValue<string>(), 16));
        var reader = new MsgPackReader(Hex.Bytes(theirs));
        Assert.Equal(expected, reader.ReadDouble()); // any numeric form reads as double
        if (expected == Math.Floor(expected))
        {
            reader = new MsgPackReader(Hex.Bytes(theirs));
            Assert.Equal((long)expected, reader.ReadInt64()); // and whole values as integers, even from float 64
        }
    }

    private static string Short(string hex) => hex.Length > 80 ? hex[..80] + "…" : hex;
}
