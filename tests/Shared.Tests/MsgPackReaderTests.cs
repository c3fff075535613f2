using Lab.Shared.MsgPack;

namespace Lab.Shared.Tests;

/// <summary>Reading is generous: any valid encoding of a value is accepted for any fitting target (PROTOCOL-NOTES §1.4).</summary>
public class MsgPackReaderTests
{
    private delegate T ReadFunc<T>(ref MsgPackReader reader);

    private static T Read<T>(string hex, ReadFunc<T> read)
    {
        var bytes = Hex.Bytes(hex);
        var reader = new MsgPackReader(bytes);
        var value = read(ref reader);
        Assert.True(reader.End, "the reader must consume the whole value");
        return value;
    }

    private static MsgPackException Fails<T>(string hex, ReadFunc<T> read)
    {
        var bytes = Hex.Bytes(hex);
        try
        {
            var reader = new MsgPackReader(bytes);
            read(ref reader);
        }
        catch (MsgPackException ex)
        {
            return ex;
        }
        throw new Xunit.Sdk.XunitException($"reading {hex} should have failed");
    }

    // Every encoding of 5: fixint, all unsigned and signed widths, and whole floats.
    [Theory]
    [InlineData("05")]
    [InlineData("cc 05")]
    [InlineData("cd 00 05")]
    [InlineData("ce 00 00 00 05")]
    [InlineData("cf 00 00 00 00 00 00 00 05")]
    [InlineData("d0 05")]
    [InlineData("d1 00 05")]
    [InlineData("d2 00 00 00 05")]
    [InlineData("d3 00 00 00 00 00 00 00 05")]
    [InlineData("ca 40 a0 00 00")]
    [InlineData("cb 40 14 00 00 00 00 00 00")]
    public void Every_encoding_of_five_reads_as_every_integer_type(string hex)
    {
        Assert.Equal(5L, Read(hex, (ref MsgPackReader r) => r.ReadInt64()));
        Assert.Equal(5, Read(hex, (ref MsgPackReader r) => r.ReadInt32()));
        Assert.Equal((short)5, Read(hex, (ref MsgPackReader r) => r.ReadInt16()));
        Assert.Equal((sbyte)5, Read(hex, (ref MsgPackReader r) => r.ReadSByte()));
        Assert.Equal(5UL, Read(hex, (ref MsgPackReader r) => r.ReadUInt64()));
        Assert.Equal(5U, Read(hex, (ref MsgPackReader r) => r.ReadUInt32()));
        Assert.Equal((ushort)5, Read(hex, (ref MsgPackReader r) => r.ReadUInt16()));
        Assert.Equal((byte)5, Read(hex, (ref MsgPackReader r) => r.ReadByte()));
        Assert.Equal(5.0, Read(hex, (ref MsgPackReader r) => r.ReadDouble()));
        Assert.Equal(5.0f, Read(hex, (ref MsgPackReader r) => r.ReadSingle()));
    }

    [Theory]
    [InlineData("ff", -1L)]
    [InlineData("e0", -32L)]
    [InlineData("d0 80", -128L)]
    [InlineData("d1 80 00", -32768L)]
    [InlineData("d2 80 00 00 00", -2147483648L)]
    [InlineData("d3 80 00 00 00 00 00 00 00", long.MinValue)]
    [InlineData("cf 7f ff ff ff ff ff ff ff", long.MaxValue)]
    [InlineData("cb c3 e0 00 00 00 00 00 00", long.MinValue)] // -2^63 as float64 is exact
    [InlineData("cb 43 40 00 00 00 00 00 01", 9007199254740994L)] // JS's 2^53+2
    public void Signed_extremes(string hex, long expected) =>
        Assert.Equal(expected, Read(hex, (ref MsgPackReader r) => r.ReadInt64()));

    [Fact]
    public void Unsigned_extremes()
    {
        Assert.Equal(ulong.MaxValue, Read("cf ff ff ff ff ff ff ff ff", (ref MsgPackReader r) => r.ReadUInt64()));
        Assert.Equal(uint.MaxValue, Read("ce ff ff ff ff", (ref MsgPackReader r) => r.ReadUInt32()));
        Assert.Equal(9223372036854775808UL, Read("cb 43 e0 00 00 00 00 00 00", (ref MsgPackReader r) => r.ReadUInt64()));
        Assert.Equal(255, Read("d1 00 ff", (ref MsgPackReader r) => r.ReadByte())); // signed form, in range
    }

    [Theory]
    [InlineData("cc 80", "SByte")]
    [InlineData("d0 ff", "Byte")]
    [InlineData("cd 80 00", "Int16")]
    [InlineData("ce 80 00 00 00", "Int32")]
    [InlineData("cf 80 00 00 00 00 00 00 00", "Int64")]
    [InlineData("ff", "UInt64")]
    [InlineData("cb 43 e0 00 00 00 00 00 00", "Int64")] // 2^63
    [InlineData("cb 7f f0 00 00 00 00 00 00", "Int64")] // +Infinity
    [InlineData("cc ff", "SByte")]
    [InlineData("ce 00 01 00 00", "UInt16")]
    public void Out_of_range_integers_overflow(string hex, string target)
    {
        var ex = Fails(hex, (ref MsgPackReader r) => target switch
        {
            "SByte" => r.ReadSByte(),
            "Byte" => r.ReadByte(),
            "Int16" => r.ReadInt16(),
            "UInt16" => r.ReadUInt16(),
            "Int32" => r.ReadInt32(),
            "UInt64" => (long)r.ReadUInt64(),
            _ => r.ReadInt64(),
        });
        Assert.Equal(MsgPackErrorKind.Overflow, ex.Kind);
    }

    [Theory]
    [InlineData("cb 3f f8 00 00 00 00 00 00")] // 1.5
    [InlineData("cb 7f f8 00 00 00 00 00 00")] // NaN
    [InlineData("ca 3f c0 00 00")] // 1.5f
    public void Fractional_floats_are_not_integers(string hex)
    {
        Assert.Equal(MsgPackErrorKind.TypeMismatch, Fails(hex, (ref MsgPackReader r) => r.ReadInt64()).Kind);
        Assert.Equal(MsgPackErrorKind.TypeMismatch, Fails(hex, (ref MsgPackReader r) => r.ReadUInt64()).Kind);
    }

    [Fact]
    public void Floats_read_across_widths()
    {
        Assert.Equal(0.1f, Read("ca 3d cc cc cd", (ref MsgPackReader r) => r.ReadSingle()));
        Assert.Equal((double)0.1f, Read("ca 3d cc cc cd", (ref MsgPackReader r) => r.ReadDouble()));
        Assert.Equal(1.5f, Read("cb 3f f8 00 00 00 00 00 00", (ref MsgPackReader r) => r.ReadSingle())); // narrowed
        Assert.Equal(18446744073709551615.0, Read("cf ff ff ff ff ff ff ff ff", (ref MsgPackReader r) => r.ReadDouble()));
        Assert.Equal(-1.0, Read("ff", (ref MsgPackReader r) => r.ReadDouble()));
        Assert.True(double.IsNaN(Read("cb 7f f8 00 00 00 00 00 00", (ref MsgPackReader r) => r.ReadDouble())));
        Assert.True(float.IsPositiveInfinity(Read("cb 7f f0 00 00 00 00 00 00", (ref MsgPackReader r) => r.ReadSingle())));
        Assert.Equal(MsgPackErrorKind.Overflow, Fails("cb 7f ef ff ff ff ff ff ff", (ref MsgPackReader r) => r.ReadSingle()).Kind);
        var negZero = Read("cb 80 00 00 00 00 00 00 00", (ref MsgPackReader r) => r.ReadDouble());
        Assert.True(double.IsNegative(negZero) && negZero == 0);
    }

    [Theory]
    [InlineData("a2 68 69")]
    [InlineData("d9 02 68 69")]
    [InlineData("da 00 02 68 69")]
    [InlineData("db 00 00 00 02 68 69")]
    public void Every_string_form_is_accepted(string hex)
    {
        Assert.Equal("hi", Read(hex, (ref MsgPackReader r) => r.ReadString()));
        // Old-spec peers wrote binary as str: accepted for binary targets too.
        Assert.Equal("6869", Hex.Of(Read(hex, (ref MsgPackReader r) => r.ReadBinary())));
    }

    [Theory]
    [InlineData("c4 02 01 02")]
    [InlineData("c5 00 02 01 02")]
    [InlineData("c6 00 00 00 02 01 02")]
    public void Every_binary_form_is_accepted(string hex) =>
        Assert.Equal("0102", Hex.Of(Read(hex, (ref MsgPackReader r) => r.ReadBinary())));

    [Fact]
    public void Nil_reads_as_null_for_reference_targets()
    {
        Assert.Null(Read("c0", (ref MsgPackReader r) => r.ReadString()));
        Assert.Null(Read("c0", (ref MsgPackReader r) => r.ReadBinary()));
        Assert.Equal(MsgPackErrorKind.TypeMismatch, Fails("c0", (ref MsgPackReader r) => r.ReadInt32()).Kind);
    }

    [Fact]
    public void Invalid_UTF8_becomes_replacement_characters() =>
        Assert.Equal("a\uFFFDb", Read("a3 61 ff 62", (ref MsgPackReader r) => r.ReadString()));

    [Theory]
    [InlineData("93 01 02 03", 3)]
    [InlineData("dc 00 03 01 02 03", 3)]
    [InlineData("dd 00 00 00 03 01 02 03", 3)]
    [InlineData("90", 0)]
    public void Array_headers(string hex, int count) =>
        Assert.Equal(count, Read(hex, (ref MsgPackReader r) =>
        {
            int n = r.ReadArrayHeader();
            for (int i = 0; i < n; i++)
                r.Skip();
            return n;
        }));

    [Theory]
    [InlineData("81 01 02", 1)]
    [InlineData("de 00 01 01 02", 1)]
    [InlineData("df 00 00 00 01 01 02", 1)]
    public void Map_headers(string hex, int count) =>
        Assert.Equal(count, Read(hex, (ref MsgPackReader r) =>
        {
            int n = r.ReadMapHeader();
            for (int i = 0; i < 2 * n; i++)
                r.Skip();
            return n;
        }));

    [Theory]
    [InlineData("d4 07 aa", 1)]
    [InlineData("d5 07 aa aa", 2)]
    [InlineData("d6 07 aa aa aa aa", 4)]
    [InlineData("d7 07 aa aa aa aa aa aa aa aa", 8)]
    [InlineData("d8 07 aa aa aa aa aa aa aa aa aa aa aa aa aa aa aa aa", 16)]
    [InlineData("c7 03 07 aa aa aa", 3)]
    [InlineData("c8 00 03 07 aa aa aa", 3)]
    [InlineData("c9 00 00 00 03 07 aa aa aa", 3)]
    [InlineData("c7 00 07", 0)]
    public void Every_ext_form(string hex, int length)
    {
        var (type, data) = Read(hex, (ref MsgPackReader r) =>
        {
            var payload = r.ReadExt(out sbyte t);
            return (t, payload.ToArray());
        });
        Assert.Equal(7, type);
        Assert.Equal(length, data.Length);
        Assert.All(data, b => Assert.Equal(0xaa, b));
    }

    [Theory]
    [InlineData("d6 ff 65 92 00 80", 1704067200L, 0u)]
    [InlineData("d7 ff 01 31 2d 00 65 92 00 80", 1704067200L, 5_000_000u)]
    [InlineData("d7 ff 00 00 00 00 65 92 00 80", 1704067200L, 0u)] // non-minimal 64-bit form
    [InlineData("c7 0c ff 00 00 00 00 00 00 00 00 65 92 00 80", 1704067200L, 0u)] // non-minimal 96-bit form
    [InlineData("c7 0c ff 3b 9a c9 ff ff ff ff ff ff ff ff ff", -1L, 999_999_999u)]
    [InlineData("c7 0c ff 00 00 00 00 ff ff ff f1 88 6e 09 00", -62135596800L, 0u)]
    public void Timestamps_in_every_form(string hex, long seconds, uint nanoseconds) =>
        Assert.Equal(new MsgPackTimestamp(seconds, nanoseconds), Read(hex, (ref MsgPackReader r) => r.ReadTimestamp()));

    [Fact]
    public void Timestamp_to_DateTime_is_UTC()
    {
        var dt = Read("d7 ff 01 31 2d 00 65 92 00 80", (ref MsgPackReader r) => r.ReadDateTime());
        Assert.Equal(new DateTime(2024, 1, 1, 0, 0, 0, 5, DateTimeKind.Utc), dt);
        Assert.Equal(DateTimeKind.Utc, dt.Kind);
        Assert.Equal(DateTime.MinValue, Read("c7 0c ff 00 00 00 00 ff ff ff f1 88 6e 09 00", (ref MsgPackReader r) => r.ReadDateTime()));
    }

    [Theory]
    [InlineData("d6 fe 00 00 00 00", MsgPackErrorKind.TypeMismatch)] // another ext type
    [InlineData("d5 ff 00 00", MsgPackErrorKind.InvalidValue)] // wrong length
    [InlineData("d7 ff ee 6b 28 00 00 00 00 00", MsgPackErrorKind.InvalidValue)] // 10^9 ns in timestamp64
    [InlineData("c7 0c ff 3b 9a ca 00 00 00 00 00 00 00 00 00", MsgPackErrorKind.InvalidValue)] // 10^9 ns in timestamp96
    [InlineData("2a", MsgPackErrorKind.TypeMismatch)] // not an ext at all
    public void Bad_timestamps(string hex, MsgPackErrorKind kind) =>
        Assert.Equal(kind, Fails(hex, (ref MsgPackReader r) => r.ReadTimestamp()).Kind);

    [Fact]
    public void Timestamp_beyond_DateTime_reads_but_does_not_convert()
    {
        const string hex = "c7 0c ff 00 00 00 00 7f ff ff ff ff ff ff ff";
        Assert.Equal(long.MaxValue, Read(hex, (ref MsgPackReader r) => r.ReadTimestamp()).Seconds);
        Assert.Equal(MsgPackErrorKind.Overflow, Fails(hex, (ref MsgPackReader r) => r.ReadDateTime()).Kind);
    }

    [Fact]
    public void Skip_walks_nested_values_and_ReadRaw_returns_their_bytes()
    {
        var hex = "93 81 a1 61 92 c4 01 ff d6 ff 00 00 00 01 cb 00 00 00 00 00 00 00 00 c0" + " 2a";
        var bytes = Hex.Bytes(hex);
        var reader = new MsgPackReader(bytes);
        var raw = reader.ReadRaw();
        Assert.Equal(bytes.Length - 1, raw.Length);
        Assert.Equal(42, reader.ReadInt32());
        Assert.True(reader.End);
    }

    [Fact]
    public void Peek_reports_types_without_consuming()
    {
        var reader = new MsgPackReader(Hex.Bytes("d9 01 61"));
        Assert.Equal(MsgPackType.String, reader.PeekType());
        Assert.Equal(MsgPackCode.Str8, reader.PeekCode());
        Assert.Equal(0, reader.Position);
    }

    [Fact]
    public void Code_table_covers_every_byte()
    {
        for (int code = 0; code <= 0xff; code++)
        {
            var type = MsgPackCode.TypeOf((byte)code);
            Assert.Equal(code == 0xc1, type == MsgPackType.Invalid);
            Assert.False(string.IsNullOrEmpty(MsgPackCode.NameOf((byte)code)));
        }
    }
}
