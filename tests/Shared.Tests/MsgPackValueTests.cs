using Lab.Shared.MsgPack;

namespace Lab.Shared.Tests;

public class MsgPackValueTests
{
    public static TheoryData<string> MinimalEncodings() => new()
    {
        "c0", "c2", "c3", "00", "7f", "cc 80", "cd 01 00", "ce 00 01 00 00", "cf 00 00 00 01 00 00 00 00",
        "cf ff ff ff ff ff ff ff ff", "ff", "e0", "d0 df", "d1 ff 7f", "d2 ff ff 7f ff", "d3 80 00 00 00 00 00 00 00",
        "ca 3d cc cc cd", "cb 3f b9 99 99 99 99 99 9a", "cb 80 00 00 00 00 00 00 00", "cb 7f f8 00 00 00 00 00 01",
        "a0", "a2 68 69", "c4 00", "c4 03 01 02 03", "90", "92 01 a1 61", "80", "82 a1 61 01 a1 62 c0",
        "81 01 02", "81 92 01 02 c3", // non-string keys are fine in the model
        "d4 05 aa", "d6 ff 65 92 00 80", "d7 ff 01 31 2d 00 65 92 00 80", "c7 0c ff 00 00 00 00 ff ff ff f1 88 6e 09 00",
        "c7 03 7f 01 02 03", "c7 00 01",
    };

    [Theory]
    [MemberData(nameof(MinimalEncodings))]
    public void Minimal_encodings_round_trip_byte_for_byte(string hex)
    {
        var bytes = Hex.Bytes(hex);
        Assert.Equal(Hex.Norm(hex), Hex.Of(MsgPackValue.Decode(bytes).Encode()));
    }

    [Theory]
    [InlineData("cc 05", "05")]
    [InlineData("d3 00 00 00 00 00 00 00 05", "05")]
    [InlineData("d0 ff", "ff")]
    [InlineData("d1 00 80", "cc 80")]
    [InlineData("cf 00 00 00 00 00 00 00 80", "cc 80")]
    [InlineData("d9 02 68 69", "a2 68 69")]
    [InlineData("db 00 00 00 00", "a0")]
    [InlineData("c6 00 00 00 01 07", "c4 01 07")]
    [InlineData("dc 00 01 01", "91 01")]
    [InlineData("df 00 00 00 00", "80")]
    [InlineData("c7 01 05 aa", "d4 05 aa")]
    [InlineData("c9 00 00 00 10 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00", "d8 05 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00")]
    public void Non_minimal_encodings_are_read_and_rewritten_minimally(string input, string minimal)
    {
        var value = MsgPackValue.Decode(Hex.Bytes(input));
        Assert.Equal(Hex.Norm(minimal), Hex.Of(value.Encode()));
        Assert.Equal(MsgPackValue.Decode(Hex.Bytes(minimal)), value);
    }

    [Fact]
    public void Equality_is_by_meaning()
    {
        Assert.Equal(MsgPackValue.Integer(5L), MsgPackValue.Integer(5UL));
        Assert.NotEqual(MsgPackValue.Integer(-1L), MsgPackValue.Integer(ulong.MaxValue));
        Assert.NotEqual(MsgPackValue.Float32(1.5f), MsgPackValue.Float64(1.5));
        Assert.Equal(MsgPackValue.Float64(double.NaN), MsgPackValue.Float64(double.NaN));
        Assert.NotEqual(MsgPackValue.Float64(0.0), MsgPackValue.Float64(-0.0));
        Assert.NotEqual(MsgPackValue.Integer(2), MsgPackValue.Float64(2.0));
        Assert.Equal(MsgPackValue.Array(1, "a", MsgPackValue.Map(("k", true))), MsgPackValue.Array(1, "a", MsgPackValue.Map(("k", true))));
        Assert.Equal(MsgPackValue.Array(1, "a").GetHashCode(), MsgPackValue.Array(1, "a").GetHashCode());
        Assert.Equal(MsgPackValue.Binary(new byte[] { 1, 2 }), MsgPackValue.Binary(new byte[] { 1, 2 }));
    }

    [Fact]
    public void Accessors()
    {
        var value = MsgPackValue.Decode(Hex.Bytes("84 a1 61 cf ff ff ff ff ff ff ff ff a1 62 ca 3f c0 00 00 a1 63 d6 ff 00 00 00 01 a1 64 c4 01 09"));
        Assert.True(value["a"]!.IsLargeUnsigned);
        Assert.Equal(ulong.MaxValue, value["a"]!.AsUInt64());
        Assert.Throws<InvalidOperationException>(() => value["a"]!.AsInt64());
        Assert.True(value["b"]!.IsSingle);
        Assert.Equal(1.5, value["b"]!.AsDouble());
        Assert.Equal(new MsgPackTimestamp(1, 0), value["c"]!.AsTimestamp());
        Assert.Equal(new byte[] { 9 }, value["d"]!.AsBinary().ToArray());
        Assert.Null(value["zz"]);
        Assert.Throws<InvalidOperationException>(() => value.AsString());
        Assert.Equal("{\"a\": 18446744073709551615, \"b\": 1.5f, \"c\": ext(-1, 00000001), \"d\": bin(09)}", value.ToString());
    }

    [Fact]
    public void Random_values_round_trip()
    {
        var random = new Random(2024);
        for (int i = 0; i < 2_000; i++)
        {
            var value = RandomValue(random, depth: 0);
            var bytes = value.Encode();
            Assert.Equal(value, MsgPackValue.Decode(bytes));
        }
    }

    internal static MsgPackValue RandomValue(Random random, int depth)
    {
        int kind = random.Next(depth > 3 ? 9 : 11);
        return kind switch
        {
            0 => MsgPackValue.Nil,
            1 => random.Next(2) == 0,
            2 => random.NextInt64(long.MinValue, long.MaxValue) >> random.Next(64),
            3 => (ulong)random.NextInt64() << 1 | 1,
            4 => BitConverter.Int64BitsToDouble(random.NextInt64()),
            5 => (float)random.NextDouble(),
            6 => new string((char)random.Next(0x20, 0x3000), random.Next(0, 300)),
            7 => MsgPackValue.Binary(RandomBytes(random, random.Next(0, 300))),
            8 => random.Next(2) == 0
                ? MsgPackValue.Extension((sbyte)random.Next(0, 128), RandomBytes(random, random.Next(0, 40)))
                : MsgPackValue.Timestamp(new MsgPackTimestamp(random.NextInt64(-1L << 40, 1L << 40), (uint)random.Next(1_000_000_000))),
            9 => MsgPackValue.Array(Enumerable.Range(0, random.Next(0, 20)).Select(_ => RandomValue(random, depth + 1)).ToArray()),
            _ => MsgPackValue.Map(Enumerable.Range(0, random.Next(0, 20)).Select(_ => (RandomValue(random, depth + 1), RandomValue(random, depth + 1))).ToArray()),
        };
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
