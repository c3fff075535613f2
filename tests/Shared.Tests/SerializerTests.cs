using Lab.Shared.MsgPack;

namespace Lab.Shared.Tests;

/// <summary>A wire type in the style planned for frames: a map with small integer keys; unknown keys are skipped.</summary>
public sealed record CellDiff(int Row, int Column, string Text, byte[]? Attributes) : IMsgPackSerializable<CellDiff>
{
    public void WriteTo(MsgPackWriter writer)
    {
        writer.WriteMapHeader(4);
        writer.Write(0);
        writer.Write(Row);
        writer.Write(1);
        writer.Write(Column);
        writer.Write(2);
        writer.WriteString(Text);
        writer.Write(3);
        writer.WriteBinary(Attributes);
    }

    public static CellDiff ReadFrom(ref MsgPackReader reader)
    {
        int row = 0, column = 0;
        string text = "";
        byte[]? attributes = null;
        for (int count = reader.ReadMapHeader(); count > 0; count--)
        {
            switch (reader.ReadInt32())
            {
                case 0: row = reader.ReadInt32(); break;
                case 1: column = reader.ReadInt32(); break;
                case 2: text = reader.ReadString() ?? ""; break;
                case 3: attributes = reader.ReadBinary(); break;
                default: reader.Skip(); break; // a field from a newer peer
            }
        }
        return new CellDiff(row, column, text, attributes);
    }
}

public enum Role
{
    Viewer,
    Driver,
    Instructor,
}

public class SerializerTests
{
    private readonly MsgPackSerializer _serializer = new();

    private string Bytes<T>(T value) => Hex.Of(_serializer.SerializeToArray(value));

    [Fact]
    public void Primitives_use_the_official_wire_forms()
    {
        Assert.Equal("c3", Bytes(true));
        Assert.Equal("cd012c", Bytes(300));
        Assert.Equal("d1ff38", Bytes(-200L));
        Assert.Equal("ccff", Bytes((byte)255));
        Assert.Equal("41", Bytes('A')); // char is its uint16 code unit, smallest form
        Assert.Equal("ca3fc00000", Bytes(1.5f));
        Assert.Equal("cb3ff8000000000000", Bytes(1.5));
        Assert.Equal("a26869", Bytes("hi"));
        Assert.Equal("c0", Bytes<string?>(null));
        Assert.Equal("c403010203", Bytes(new byte[] { 1, 2, 3 }));
        Assert.Equal("a6447269766572", Bytes(Role.Driver)); // enum by name
        Assert.Equal("a3312e35", Bytes(1.5m)); // decimal as string
        Assert.Equal("ff", Bytes(TimeSpan.FromTicks(-1))); // TimeSpan as int64 ticks
        Assert.Equal("d92430303030303030302d303030302d303030302d303030302d303030303030303030303030", Bytes(Guid.Empty));
        Assert.Equal("d7ff01312d0065920080", Bytes(new DateTime(2024, 1, 1, 0, 0, 0, 5, DateTimeKind.Utc)));
    }

    [Fact]
    public void Collections_and_nullable()
    {
        Assert.Equal("93010203", Bytes(new[] { 1, 2, 3 }));
        Assert.Equal("92a161a162", Bytes(new List<string> { "a", "b" }));
        Assert.Equal("9201c0", Bytes(new int?[] { 1, null }));
        Assert.Equal("c0", Bytes<int[]?>(null));
        Assert.Equal("c0", Bytes<int?>(null));
        Assert.Equal("05", Bytes<int?>(5));
        Assert.Equal("81a16101", Bytes(new Dictionary<string, int> { ["a"] = 1 }));
        Assert.Equal("92c40101c0", Bytes(new List<byte[]?> { new byte[] { 1 }, null }));

        Assert.Equal([1, 2, 3], _serializer.Deserialize<int[]>(Hex.Bytes("93 01 02 03")));
        Assert.Equal(["a", null], _serializer.Deserialize<List<string?>>(Hex.Bytes("92 a1 61 c0")));
        Assert.Equal([1L, 2L], _serializer.Deserialize<IReadOnlyList<long>>(Hex.Bytes("92 01 cb 40 00 00 00 00 00 00 00")));
        Assert.Equal([1, null], _serializer.Deserialize<int?[]>(Hex.Bytes("92 01 c0")));
        Assert.Null(_serializer.Deserialize<List<int>>(Hex.Bytes("c0")));
        Assert.Equal(2, _serializer.Deserialize<Dictionary<string, int>>(Hex.Bytes("82 a1 61 01 a1 62 02"))["b"]);
        Assert.Equal(MsgPackErrorKind.InvalidValue,
            Assert.Throws<MsgPackException>(() => _serializer.Deserialize<Dictionary<string, int>>(Hex.Bytes("82 a1 61 01 a1 61 02"))).Kind);
    }

    [Fact]
    public void Reads_are_generous_for_numbers_and_enums()
    {
        Assert.Equal(2.0f, _serializer.Deserialize<float>(Hex.Bytes("02"))); // JS sends 2.0 as 2
        Assert.Equal(1.5f, _serializer.Deserialize<float>(Hex.Bytes("cb 3f f8 00 00 00 00 00 00")));
        Assert.Equal(Role.Instructor, _serializer.Deserialize<Role>(Hex.Bytes("aa 49 6e 73 74 72 75 63 74 6f 72")));
        Assert.Equal(Role.Driver, _serializer.Deserialize<Role>(Hex.Bytes("01"))); // number accepted as a superset
        Assert.Equal(MsgPackErrorKind.InvalidValue, Assert.Throws<MsgPackException>(() => _serializer.Deserialize<Role>(Hex.Bytes("a6 64 72 69 76 65 72"))).Kind); // case-sensitive
        Assert.Equal('A', _serializer.Deserialize<char>(Hex.Bytes("41")));
        Assert.Equal(1.5m, _serializer.Deserialize<decimal>(Hex.Bytes("a3 31 2e 35")));
        Assert.Equal(TimeSpan.FromSeconds(1), _serializer.Deserialize<TimeSpan>(Hex.Bytes("ce 00 98 96 80")));
    }

    [Fact]
    public void Every_primitive_round_trips()
    {
        RoundTrip(sbyte.MinValue);
        RoundTrip(byte.MaxValue);
        RoundTrip(short.MinValue);
        RoundTrip(ushort.MaxValue);
        RoundTrip(int.MinValue);
        RoundTrip(uint.MaxValue);
        RoundTrip(long.MinValue);
        RoundTrip(ulong.MaxValue);
        RoundTrip(float.Epsilon);
        RoundTrip(double.MaxValue);
        RoundTrip('\uffff');
        RoundTrip("ünïcødé ☃ 😀");
        RoundTrip(Guid.NewGuid());
        RoundTrip(decimal.MinValue);
        RoundTrip(TimeSpan.MaxValue);
        RoundTrip(DateTime.MaxValue);
        RoundTrip(DateTime.MinValue);
        RoundTrip(new MsgPackTimestamp(long.MinValue, 999_999_999));
        RoundTrip(Role.Instructor);
    }

    private void RoundTrip<T>(T value) => Assert.Equal(value, _serializer.Deserialize<T>(_serializer.SerializeToArray(value)));

    [Fact]
    public void Serializable_types_plug_in_without_registration()
    {
        var diff = new CellDiff(3, 7, "A", [0x1f]);
        var bytes = _serializer.SerializeToArray(diff);
        Assert.Equal("840003010702a141" + "03c4011f", Hex.Of(bytes));
        var back = _serializer.Deserialize<CellDiff>(bytes);
        Assert.Equal((3, 7, "A"), (back.Row, back.Column, back.Text));
        Assert.Equal(diff.Attributes, back.Attributes);

        // A newer peer's extra field (key 9) is skipped; a null diff is nil; lists of them work.
        var newer = _serializer.Deserialize<CellDiff>(Hex.Bytes("82 00 05 09 92 01 02"));
        Assert.Equal(5, newer.Row);
        Assert.Equal("c0", Bytes<CellDiff?>(null));
        Assert.Null(_serializer.Deserialize<CellDiff?>(Hex.Bytes("c0")));
        Assert.Equal(2, _serializer.Deserialize<List<CellDiff>>(_serializer.SerializeToArray(new List<CellDiff> { diff, diff }))!.Count);
    }

    [Fact]
    public void Registered_formatters_take_precedence()
    {
        var custom = new MsgPackSerializer([new IntAsStringFormatter()]);
        Assert.Equal("a23432", Hex.Of(custom.SerializeToArray(42)));
        Assert.Equal("92a131a132", Hex.Of(custom.SerializeToArray(new[] { 1, 2 }))); // used for elements too
    }

    private sealed class IntAsStringFormatter : MsgPackFormatter<int>
    {
        public override void Write(MsgPackWriter writer, int value) => writer.WriteString(value.ToString());
        public override int Read(ref MsgPackReader reader) => int.Parse(reader.ReadString()!);
    }

    [Fact]
    public void Object_targets_read_plain_CLR_values()
    {
        var value = _serializer.Deserialize<object>(Hex.Bytes("89 a1 61 c0 a1 62 c3 a1 63 cc 80 a1 64 cf ff ff ff ff ff ff ff ff a1 65 ca 3f c0 00 00 a1 66 93 01 a1 78 c4 01 02 a1 67 d6 ff 00 00 00 00 a1 68 d4 05 07 a1 69 81 01 02"));
        var map = Assert.IsType<Dictionary<object, object?>>(value);
        Assert.Null(map["a"]);
        Assert.Equal(true, map["b"]);
        Assert.Equal(128L, map["c"]);
        Assert.Equal(ulong.MaxValue, map["d"]);
        Assert.Equal(1.5f, map["e"]);
        var array = Assert.IsType<object?[]>(map["f"]);
        Assert.Equal(1L, array[0]);
        Assert.Equal("x", array[1]);
        Assert.Equal(new byte[] { 2 }, array[2]);
        Assert.Equal(DateTime.UnixEpoch, map["g"]);
        Assert.Equal(MsgPackValue.Extension(5, [7]), map["h"]);
        Assert.Equal(2L, Assert.IsType<Dictionary<object, object?>>(map["i"])[1L]);
    }

    [Fact]
    public void Object_values_are_written_by_runtime_type()
    {
        Assert.Equal("93 01 a1 78 c0".Replace(" ", ""), Bytes<object>(new object?[] { 1, "x", null }));
        Assert.Throws<NotSupportedException>(() => _serializer.SerializeToArray<object>(new object()));
    }

    [Fact]
    public void Unsupported_types_fail_clearly()
    {
        var ex = Assert.Throws<NotSupportedException>(() => _serializer.GetFormatter(typeof(System.Text.StringBuilder)));
        Assert.Contains("IMsgPackSerializable", ex.Message);
        Assert.False(_serializer.TryGetFormatter(typeof(int[,]), out _));
        Assert.False(_serializer.TryGetFormatter(typeof(List<System.Text.StringBuilder>), out _));
    }

    [Fact]
    public void Collection_formatters_respect_the_depth_limit()
    {
        var shallow = new MsgPackSerializer(limits: MsgPackLimits.Default with { MaxDepth = 2 });
        Assert.Equal(1, shallow.Deserialize<int[][]>(Hex.Bytes("91 91 01"))![0][0]);
        Assert.Equal(MsgPackErrorKind.LimitExceeded,
            Assert.Throws<MsgPackException>(() => shallow.Deserialize<int[][][]>(Hex.Bytes("91 91 91 01"))).Kind);
    }
}
