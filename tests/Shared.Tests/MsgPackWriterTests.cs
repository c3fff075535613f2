using Lab.Shared.MsgPack;

namespace Lab.Shared.Tests;

/// <summary>The writer picks the smallest form at every boundary (PROTOCOL-NOTES §1.3).</summary>
public class MsgPackWriterTests
{
    [Theory]
    [InlineData(0L, "00")]
    [InlineData(1L, "01")]
    [InlineData(127L, "7f")]
    [InlineData(128L, "cc 80")]
    [InlineData(255L, "cc ff")]
    [InlineData(256L, "cd 01 00")]
    [InlineData(300L, "cd 01 2c")]
    [InlineData(65535L, "cd ff ff")]
    [InlineData(65536L, "ce 00 01 00 00")]
    [InlineData(70000L, "ce 00 01 11 70")]
    [InlineData(4294967295L, "ce ff ff ff ff")]
    [InlineData(4294967296L, "cf 00 00 00 01 00 00 00 00")]
    [InlineData(8589934592L, "cf 00 00 00 02 00 00 00 00")]
    [InlineData(long.MaxValue, "cf 7f ff ff ff ff ff ff ff")]
    [InlineData(-1L, "ff")]
    [InlineData(-32L, "e0")]
    [InlineData(-33L, "d0 df")]
    [InlineData(-128L, "d0 80")]
    [InlineData(-129L, "d1 ff 7f")]
    [InlineData(-200L, "d1 ff 38")]
    [InlineData(-32768L, "d1 80 00")]
    [InlineData(-32769L, "d2 ff ff 7f ff")]
    [InlineData(-2147483648L, "d2 80 00 00 00")]
    [InlineData(-2147483649L, "d3 ff ff ff ff 7f ff ff ff")]
    [InlineData(long.MinValue, "d3 80 00 00 00 00 00 00 00")]
    public void Int64_uses_the_smallest_form(long value, string expected) =>
        Assert.Equal(Hex.Norm(expected), Hex.Written(w => w.Write(value)));

    [Fact]
    public void UInt64_max_is_uint64() =>
        Assert.Equal("cfffffffffffffffff", Hex.Written(w => w.Write(ulong.MaxValue)));

    [Fact]
    public void Narrow_integer_overloads_agree_with_Int64()
    {
        Assert.Equal("cc80", Hex.Written(w => w.Write((byte)128)));
        Assert.Equal("d080", Hex.Written(w => w.Write(sbyte.MinValue)));
        Assert.Equal("cdffff", Hex.Written(w => w.Write(ushort.MaxValue)));
        Assert.Equal("d18000", Hex.Written(w => w.Write(short.MinValue)));
        Assert.Equal("ceffffffff", Hex.Written(w => w.Write(uint.MaxValue)));
        Assert.Equal("ce7fffffff", Hex.Written(w => w.Write(int.MaxValue)));
    }

    [Fact]
    public void Floats_keep_their_width()
    {
        Assert.Equal("ca3fc00000", Hex.Written(w => w.Write(1.5f)));
        Assert.Equal("cb3ff8000000000000", Hex.Written(w => w.Write(1.5)));
        Assert.Equal("cb4000000000000000", Hex.Written(w => w.Write(2.0))); // never shrunk to an int
        Assert.Equal("cb8000000000000000", Hex.Written(w => w.Write(-0.0)));
        // NaN payloads pass through unchanged (.NET's double.NaN is the negative quiet NaN, JS's the positive one).
        Assert.Equal("cbfff8000000000000", Hex.Written(w => w.Write(double.NaN)));
        Assert.Equal("cb7ff8000000000000", Hex.Written(w => w.Write(BitConverter.UInt64BitsToDouble(0x7ff8000000000000))));
        Assert.Equal("cb4340000000000001", Hex.Written(w => w.Write(9007199254740994.0))); // 2^53+2, as JS sends it
    }

    [Theory]
    [InlineData(0, "a0")]
    [InlineData(31, "bf")]
    [InlineData(32, "d9 20")]
    [InlineData(255, "d9 ff")]
    [InlineData(256, "da 01 00")]
    [InlineData(65535, "da ff ff")]
    [InlineData(65536, "db 00 01 00 00")]
    public void String_header_at_each_boundary(int length, string header)
    {
        var hex = Hex.Written(w => w.WriteString(new string('a', length)));
        Assert.Equal(Hex.Norm(header) + string.Concat(Enumerable.Repeat("61", length)), hex);
    }

    [Fact]
    public void String_length_is_counted_in_UTF8_bytes()
    {
        Assert.Equal("a26869", Hex.Written(w => w.WriteString("hi")));
        // 11 × "é" (2 bytes each) = 22 bytes; 16 × "€" (3 bytes) = 48 bytes needs str8.
        Assert.StartsWith("b6", Hex.Written(w => w.WriteString(new string('é', 11))));
        Assert.StartsWith("d930", Hex.Written(w => w.WriteString(new string('€', 16))));
        Assert.Equal("a4f09f9880", Hex.Written(w => w.WriteString("😀")));
        Assert.Equal("c0", Hex.Written(w => w.WriteString((string?)null)));
        Assert.Equal("a3efbfbd", Hex.Written(w => w.WriteString("\ud800"))); // lone surrogate → U+FFFD, like TextEncoder
    }

    [Theory]
    [InlineData(0, "c4 00")]
    [InlineData(255, "c4 ff")]
    [InlineData(256, "c5 01 00")]
    [InlineData(65535, "c5 ff ff")]
    [InlineData(65536, "c6 00 01 00 00")]
    public void Binary_header_at_each_boundary(int length, string header) =>
        Assert.StartsWith(Hex.Norm(header), Hex.Written(w => w.WriteBinary(new byte[length])));

    [Fact]
    public void Binary_vectors()
    {
        Assert.Equal("c403010203", Hex.Written(w => w.WriteBinary(new byte[] { 1, 2, 3 })));
        Assert.Equal("c0", Hex.Written(w => w.WriteBinary((byte[]?)null)));
    }

    [Theory]
    [InlineData(0, "90", "80")]
    [InlineData(15, "9f", "8f")]
    [InlineData(16, "dc 00 10", "de 00 10")]
    [InlineData(65535, "dc ff ff", "de ff ff")]
    [InlineData(65536, "dd 00 01 00 00", "df 00 01 00 00")]
    public void Container_headers_at_each_boundary(int count, string array, string map)
    {
        Assert.Equal(Hex.Norm(array), Hex.Written(w => w.WriteArrayHeader(count)));
        Assert.Equal(Hex.Norm(map), Hex.Written(w => w.WriteMapHeader(count)));
    }

    [Theory]
    [InlineData(1, "d4 05")]
    [InlineData(2, "d5 05")]
    [InlineData(4, "d6 05")]
    [InlineData(8, "d7 05")]
    [InlineData(16, "d8 05")]
    [InlineData(0, "c7 00 05")]
    [InlineData(3, "c7 03 05")]
    [InlineData(17, "c7 11 05")]
    [InlineData(255, "c7 ff 05")]
    [InlineData(256, "c8 01 00 05")]
    [InlineData(65535, "c8 ff ff 05")]
    [InlineData(65536, "c9 00 01 00 00 05")]
    public void Ext_header_uses_fixext_when_it_can(int length, string header) =>
        Assert.Equal(Hex.Norm(header), Hex.Written(w => w.WriteExtHeader(5, length)));

    [Fact]
    public void Negative_ext_type_is_written_as_int8() =>
        Assert.Equal("d4 80 2a".Replace(" ", ""), Hex.Written(w => w.WriteExt(-128, new byte[] { 42 })));

    [Fact]
    public void Timestamp_forms()
    {
        // Notes §1.8: JS Date(2024-01-01T00:00:00.005Z) → timestamp64.
        var jsDate = new DateTime(2024, 1, 1, 0, 0, 0, 5, DateTimeKind.Utc);
        Assert.Equal("d7ff01312d0065920080", Hex.Written(w => w.Write(jsDate)));
        // Whole seconds within 32 bits → timestamp32.
        Assert.Equal("d6ff65920080", Hex.Written(w => w.Write(new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc))));
        Assert.Equal("d6ff00000000", Hex.Written(w => w.Write(DateTime.UnixEpoch)));
        Assert.Equal("d6ffffffffff", Hex.Written(w => w.Write(new MsgPackTimestamp(uint.MaxValue, 0))));
        // Past 32-bit seconds but within 34 bits → timestamp64.
        Assert.Equal("d7ff0000000100000000", Hex.Written(w => w.Write(new MsgPackTimestamp(1L << 32, 0))));
        Assert.Equal("d7ff00000003ffffffff", Hex.Written(w => w.Write(new MsgPackTimestamp((1L << 34) - 1, 0))));
        // Beyond 34 bits, or before 1970 → timestamp96.
        Assert.Equal("c70cff000000000000000400000000", Hex.Written(w => w.Write(new MsgPackTimestamp(1L << 34, 0))));
        Assert.Equal("c70cff00000000ffffffffffffffff", Hex.Written(w => w.Write(new MsgPackTimestamp(-1, 0))));
        // DateTime.MinValue: year 1 = −62135596800 s.
        Assert.Equal("c70cff00000000fffffff1886e0900", Hex.Written(w => w.Write(DateTime.MinValue)));
    }

    [Fact]
    public void Before_1970_with_ticks_floors_the_seconds()
    {
        var t = MsgPackTimestamp.FromDateTime(DateTime.UnixEpoch.AddTicks(-1));
        Assert.Equal(-1, t.Seconds);
        Assert.Equal(999_999_900u, t.Nanoseconds);
        Assert.True(t.TryToDateTime(out var back));
        Assert.Equal(DateTime.UnixEpoch.AddTicks(-1), back);
    }

    [Fact]
    public void Local_DateTime_is_written_as_UTC()
    {
        var utc = new DateTime(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc);
        Assert.Equal(Hex.Written(w => w.Write(utc)), Hex.Written(w => w.Write(utc.ToLocalTime())));
    }

    [Fact]
    public void Notes_vectors_for_JS_shaped_values()
    {
        // {Name:"x", Age:3} written the way JS writes it.
        Assert.Equal("82a44e616d65a178a341676503", Hex.Written(w =>
        {
            w.WriteMapHeader(2);
            w.WriteString("Name");
            w.WriteString("x");
            w.WriteString("Age");
            w.Write(3);
        }));
        Assert.Equal("c3", Hex.Written(w => w.Write(true)));
        Assert.Equal("c2", Hex.Written(w => w.Write(false)));
        Assert.Equal("c0", Hex.Written(w => w.WriteNil()));
    }
}
