using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Lab.Shared.MsgPack;

/// <summary>
/// Writes MessagePack into an <see cref="IBufferWriter{T}"/>, always choosing the smallest encoding
/// (the same choices as MessagePack-CSharp and @msgpack/msgpack: non-negative integers use the unsigned
/// family, floats keep their width). Each call reserves, fills and commits its own bytes, so there is
/// no flush step to forget and the struct can be copied freely. Allocation-free.
/// </summary>
public readonly struct MsgPackWriter
{
    private readonly IBufferWriter<byte> _output;

    public MsgPackWriter(IBufferWriter<byte> output) =>
        _output = output ?? throw new ArgumentNullException(nameof(output));

    public void WriteNil() => WriteCode(MsgPackCode.Nil);

    public void Write(bool value) => WriteCode(value ? MsgPackCode.True : MsgPackCode.False);

    public void Write(sbyte value) => Write((long)value);
    public void Write(short value) => Write((long)value);
    public void Write(int value) => Write((long)value);
    public void Write(byte value) => Write((ulong)value);
    public void Write(ushort value) => Write((ulong)value);
    public void Write(uint value) => Write((ulong)value);

    public void Write(long value)
    {
        if (value >= 0)
        {
            Write((ulong)value);
            return;
        }
        if (value >= -32)
        {
            WriteCode(unchecked((byte)value)); // negative fixint is the value's own low byte
        }
        else if (value >= sbyte.MinValue)
        {
            var span = _output.GetSpan(2);
            span[0] = MsgPackCode.Int8;
            span[1] = unchecked((byte)value);
            _output.Advance(2);
        }
        else if (value >= short.MinValue)
        {
            var span = _output.GetSpan(3);
            span[0] = MsgPackCode.Int16;
            BinaryPrimitives.WriteInt16BigEndian(span[1..], (short)value);
            _output.Advance(3);
        }
        else if (value >= int.MinValue)
        {
            var span = _output.GetSpan(5);
            span[0] = MsgPackCode.Int32;
            BinaryPrimitives.WriteInt32BigEndian(span[1..], (int)value);
            _output.Advance(5);
        }
        else
        {
            var span = _output.GetSpan(9);
            span[0] = MsgPackCode.Int64;
            BinaryPrimitives.WriteInt64BigEndian(span[1..], value);
            _output.Advance(9);
        }
    }

    public void Write(ulong value)
    {
        if (value <= MsgPackCode.MaxPositiveFixInt)
        {
            WriteCode((byte)value);
        }
        else if (value <= byte.MaxValue)
        {
            var span = _output.GetSpan(2);
            span[0] = MsgPackCode.UInt8;
            span[1] = (byte)value;
            _output.Advance(2);
        }
        else if (value <= ushort.MaxValue)
        {
            var span = _output.GetSpan(3);
            span[0] = MsgPackCode.UInt16;
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)value);
            _output.Advance(3);
        }
        else if (value <= uint.MaxValue)
        {
            var span = _output.GetSpan(5);
            span[0] = MsgPackCode.UInt32;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)value);
            _output.Advance(5);
        }
        else
        {
            var span = _output.GetSpan(9);
            span[0] = MsgPackCode.UInt64;
            BinaryPrimitives.WriteUInt64BigEndian(span[1..], value);
            _output.Advance(9);
        }
    }

    /// <summary>Always float 32: a float is never widened.</summary>
    public void Write(float value)
    {
        var span = _output.GetSpan(5);
        span[0] = MsgPackCode.Float32;
        BinaryPrimitives.WriteSingleBigEndian(span[1..], value);
        _output.Advance(5);
    }

    /// <summary>Always float 64: shrinking a double to float 32 would lose precision.</summary>
    public void Write(double value)
    {
        var span = _output.GetSpan(9);
        span[0] = MsgPackCode.Float64;
        BinaryPrimitives.WriteDoubleBigEndian(span[1..], value);
        _output.Advance(9);
    }

    /// <summary>Writes a string as UTF-8 (nil for null). Lone surrogates become U+FFFD, as in JS's TextEncoder.</summary>
    public void WriteString(string? value)
    {
        if (value is null)
            WriteNil();
        else
            WriteString(value.AsSpan());
    }

    public void WriteString(ReadOnlySpan<char> value)
    {
        int byteCount = Encoding.UTF8.GetByteCount(value);
        int headerLength = StringHeaderLength(byteCount);
        // One reservation for header and body: the header's size depends only on the byte count.
        var span = _output.GetSpan(headerLength + byteCount);
        WriteStringHeader(span, byteCount);
        int written = Encoding.UTF8.GetBytes(value, span[headerLength..]);
        _output.Advance(headerLength + written);
    }

    /// <summary>Writes bytes that are already UTF-8 as a str value.</summary>
    public void WriteStringUtf8(ReadOnlySpan<byte> utf8)
    {
        WriteStringHeader(utf8.Length);
        WriteRaw(utf8);
    }

    /// <summary>The header of a str value; the caller writes exactly <paramref name="byteLength"/> UTF-8 bytes next.</summary>
    public void WriteStringHeader(int byteLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLength);
        int headerLength = StringHeaderLength(byteLength);
        WriteStringHeader(_output.GetSpan(headerLength), byteLength);
        _output.Advance(headerLength);
    }

    /// <summary>Writes a bin value (nil for null).</summary>
    public void WriteBinary(byte[]? value)
    {
        if (value is null)
            WriteNil();
        else
            WriteBinary(value.AsSpan());
    }

    public void WriteBinary(ReadOnlySpan<byte> value)
    {
        WriteBinaryHeader(value.Length);
        WriteRaw(value);
    }

    /// <summary>The header of a bin value; the caller writes exactly <paramref name="length"/> bytes next.</summary>
    public void WriteBinaryHeader(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length <= byte.MaxValue)
        {
            var span = _output.GetSpan(2);
            span[0] = MsgPackCode.Bin8;
            span[1] = (byte)length;
            _output.Advance(2);
        }
        else if (length <= ushort.MaxValue)
        {
            WriteCodeAndUInt16(MsgPackCode.Bin16, (ushort)length);
        }
        else
        {
            WriteCodeAndUInt32(MsgPackCode.Bin32, (uint)length);
        }
    }

    /// <summary>An array header; the caller writes exactly <paramref name="count"/> values next.</summary>
    public void WriteArrayHeader(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count <= 15)
            WriteCode((byte)(MsgPackCode.MinFixArray | count));
        else if (count <= ushort.MaxValue)
            WriteCodeAndUInt16(MsgPackCode.Array16, (ushort)count);
        else
            WriteCodeAndUInt32(MsgPackCode.Array32, (uint)count);
    }

    /// <summary>A map header; the caller writes exactly <paramref name="count"/> key/value pairs next.</summary>
    public void WriteMapHeader(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count <= 15)
            WriteCode((byte)(MsgPackCode.MinFixMap | count));
        else if (count <= ushort.MaxValue)
            WriteCodeAndUInt16(MsgPackCode.Map16, (ushort)count);
        else
            WriteCodeAndUInt32(MsgPackCode.Map32, (uint)count);
    }

    /// <summary>An ext header (fixext when the length allows); the caller writes exactly <paramref name="length"/> bytes next.</summary>
    public void WriteExtHeader(sbyte type, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        byte fixCode = length switch
        {
            1 => MsgPackCode.FixExt1,
            2 => MsgPackCode.FixExt2,
            4 => MsgPackCode.FixExt4,
            8 => MsgPackCode.FixExt8,
            16 => MsgPackCode.FixExt16,
            _ => 0,
        };
        if (fixCode != 0)
        {
            var span = _output.GetSpan(2);
            span[0] = fixCode;
            span[1] = unchecked((byte)type);
            _output.Advance(2);
        }
        else if (length <= byte.MaxValue)
        {
            var span = _output.GetSpan(3);
            span[0] = MsgPackCode.Ext8;
            span[1] = (byte)length;
            span[2] = unchecked((byte)type);
            _output.Advance(3);
        }
        else if (length <= ushort.MaxValue)
        {
            var span = _output.GetSpan(4);
            span[0] = MsgPackCode.Ext16;
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)length);
            span[3] = unchecked((byte)type);
            _output.Advance(4);
        }
        else
        {
            var span = _output.GetSpan(6);
            span[0] = MsgPackCode.Ext32;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)length);
            span[5] = unchecked((byte)type);
            _output.Advance(6);
        }
    }

    public void WriteExt(sbyte type, ReadOnlySpan<byte> data)
    {
        WriteExtHeader(type, data.Length);
        WriteRaw(data);
    }

    /// <summary>Writes a timestamp in its smallest form: 32-bit, 64-bit, else 96-bit (negative seconds, or past 2514).</summary>
    public void Write(MsgPackTimestamp value)
    {
        if ((value.Seconds >> 34) == 0)
        {
            ulong data64 = ((ulong)value.Nanoseconds << 34) | (ulong)value.Seconds;
            if ((data64 & 0xFFFF_FFFF_0000_0000UL) == 0)
            {
                var span = _output.GetSpan(6);
                span[0] = MsgPackCode.FixExt4;
                span[1] = unchecked((byte)MsgPackCode.TimestampExtType);
                BinaryPrimitives.WriteUInt32BigEndian(span[2..], (uint)data64);
                _output.Advance(6);
            }
            else
            {
                var span = _output.GetSpan(10);
                span[0] = MsgPackCode.FixExt8;
                span[1] = unchecked((byte)MsgPackCode.TimestampExtType);
                BinaryPrimitives.WriteUInt64BigEndian(span[2..], data64);
                _output.Advance(10);
            }
        }
        else
        {
            var span = _output.GetSpan(15);
            span[0] = MsgPackCode.Ext8;
            span[1] = 12;
            span[2] = unchecked((byte)MsgPackCode.TimestampExtType);
            BinaryPrimitives.WriteUInt32BigEndian(span[3..], value.Nanoseconds);
            BinaryPrimitives.WriteInt64BigEndian(span[7..], value.Seconds);
            _output.Advance(15);
        }
    }

    /// <summary>Writes a DateTime as a timestamp (Local converted to UTC, Unspecified taken as UTC).</summary>
    public void Write(DateTime value) => Write(MsgPackTimestamp.FromDateTime(value));

    /// <summary>Copies bytes that already are MessagePack (or the body announced by a header) unchanged.</summary>
    public void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
            return;
        bytes.CopyTo(_output.GetSpan(bytes.Length));
        _output.Advance(bytes.Length);
    }

    public void WriteRaw(in ReadOnlySequence<byte> bytes)
    {
        foreach (var segment in bytes)
            WriteRaw(segment.Span);
    }

    private void WriteCode(byte code)
    {
        _output.GetSpan(1)[0] = code;
        _output.Advance(1);
    }

    private void WriteCodeAndUInt16(byte code, ushort value)
    {
        var span = _output.GetSpan(3);
        span[0] = code;
        BinaryPrimitives.WriteUInt16BigEndian(span[1..], value);
        _output.Advance(3);
    }

    private void WriteCodeAndUInt32(byte code, uint value)
    {
        var span = _output.GetSpan(5);
        span[0] = code;
        BinaryPrimitives.WriteUInt32BigEndian(span[1..], value);
        _output.Advance(5);
    }

    private static int StringHeaderLength(int byteLength) => byteLength switch
    {
        <= 31 => 1,
        <= byte.MaxValue => 2,
        <= ushort.MaxValue => 3,
        _ => 5,
    };

    private static void WriteStringHeader(Span<byte> span, int byteLength)
    {
        if (byteLength <= 31)
        {
            span[0] = (byte)(MsgPackCode.MinFixStr | byteLength);
        }
        else if (byteLength <= byte.MaxValue)
        {
            span[0] = MsgPackCode.Str8;
            span[1] = (byte)byteLength;
        }
        else if (byteLength <= ushort.MaxValue)
        {
            span[0] = MsgPackCode.Str16;
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)byteLength);
        }
        else
        {
            span[0] = MsgPackCode.Str32;
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)byteLength);
        }
    }
}
