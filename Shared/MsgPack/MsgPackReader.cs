using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace Lab.Shared.MsgPack;

/// <summary>The header of an ext value: its application type code and payload length.</summary>
public readonly record struct MsgPackExtHeader(sbyte Type, int Length);

/// <summary>
/// Reads MessagePack from a contiguous span of untrusted bytes (use <see cref="ContiguousBytes"/> for a
/// <see cref="System.Buffers.ReadOnlySequence{T}"/>). Reading is generous, as PROTOCOL-NOTES §1.4 asks:
/// integer targets take every integer form plus floats holding a whole number; float targets take every
/// numeric form; binary targets also take str. Everything else is strict: each problem throws a
/// <see cref="MsgPackException"/> naming the offset, and every declared length or count is checked
/// against <see cref="MsgPackLimits"/> and against the bytes actually left before the caller can
/// allocate for it. Allocation-free except where a method returns a new string or array.
/// </summary>
public ref struct MsgPackReader
{
    private readonly ReadOnlySpan<byte> _buffer;
    private readonly MsgPackLimits _limits;
    private int _position;
    private int _depth;

    public MsgPackReader(ReadOnlySpan<byte> buffer)
        : this(buffer, MsgPackLimits.Default)
    {
    }

    public MsgPackReader(ReadOnlySpan<byte> buffer, MsgPackLimits limits)
    {
        _limits = limits ?? throw new ArgumentNullException(nameof(limits));
        if (buffer.Length > limits.MaxMessageBytes)
            throw Fail(MsgPackErrorKind.LimitExceeded, 0, $"the input is {buffer.Length} bytes, above the limit of {limits.MaxMessageBytes}");
        _buffer = buffer;
    }

    public readonly MsgPackLimits Limits => _limits;

    /// <summary>Bytes consumed so far.</summary>
    public readonly int Position => _position;

    public readonly int Remaining => _buffer.Length - _position;

    public readonly bool End => _position >= _buffer.Length;

    /// <summary>How many containers the caller has entered with <see cref="EnterContainer"/>.</summary>
    public readonly int Depth => _depth;

    /// <summary>The next value's first byte, without consuming it.</summary>
    public readonly byte PeekCode()
    {
        if (_position >= _buffer.Length)
            throw Fail(MsgPackErrorKind.Truncated, _position, "the input ended where a value was expected");
        return _buffer[_position];
    }

    /// <summary>The next value's type family, without consuming it. Throws for the never-used code 0xc1.</summary>
    public readonly MsgPackType PeekType()
    {
        var type = MsgPackCode.TypeOf(PeekCode());
        if (type == MsgPackType.Invalid)
            throw Fail(MsgPackErrorKind.InvalidCode, _position, "byte 0xc1 is not a valid format code");
        return type;
    }

    /// <summary>
    /// Counts one more level of nesting. Every recursive reader (skip, the value model, collection
    /// formatters) calls this per container, so hostile nesting fails at <see cref="MsgPackLimits.MaxDepth"/>
    /// instead of exhausting the stack.
    /// </summary>
    public void EnterContainer()
    {
        if (++_depth > _limits.MaxDepth)
            throw Fail(MsgPackErrorKind.LimitExceeded, _position, $"nesting is deeper than the limit of {_limits.MaxDepth}");
    }

    public void ExitContainer() => _depth--;

    // ---- nil and bool ----

    /// <summary>Consumes a nil if one is next.</summary>
    public bool TryReadNil()
    {
        if (_position < _buffer.Length && _buffer[_position] == MsgPackCode.Nil)
        {
            _position++;
            return true;
        }
        return false;
    }

    public void ReadNil()
    {
        if (!TryReadNil())
            throw Mismatch("nil");
    }

    public bool ReadBoolean()
    {
        switch (PeekCode())
        {
            case MsgPackCode.False:
                _position++;
                return false;
            case MsgPackCode.True:
                _position++;
                return true;
            default:
                throw Mismatch("a boolean");
        }
    }

    // ---- integers ----

    public long ReadInt64() => ReadSigned("Int64");

    public int ReadInt32() => (int)ReadSigned("Int32", int.MinValue, int.MaxValue);

    public short ReadInt16() => (short)ReadSigned("Int16", short.MinValue, short.MaxValue);

    public sbyte ReadSByte() => (sbyte)ReadSigned("SByte", sbyte.MinValue, sbyte.MaxValue);

    public uint ReadUInt32() => (uint)ReadSigned("UInt32", 0, uint.MaxValue);

    public ushort ReadUInt16() => (ushort)ReadSigned("UInt16", 0, ushort.MaxValue);

    public byte ReadByte() => (byte)ReadSigned("Byte", 0, byte.MaxValue);

    public ulong ReadUInt64()
    {
        int start = _position;
        byte code = PeekCode();
        if (code == MsgPackCode.UInt64)
            return BinaryPrimitives.ReadUInt64BigEndian(Take(9, start)[1..]);
        if (code == MsgPackCode.Float32 || code == MsgPackCode.Float64)
        {
            double d = ReadFloatPayload(code, start);
            if (double.IsNaN(d) || Math.Floor(d) != d)
                throw Fail(MsgPackErrorKind.TypeMismatch, start, $"expected UInt64 but found the non-integral {MsgPackCode.NameOf(code)} {d}");
            if (d < 0 || d >= 18446744073709551616.0)
                throw Fail(MsgPackErrorKind.Overflow, start, $"{d} does not fit UInt64");
            return (ulong)d;
        }
        long value = ReadSigned("UInt64");
        if (value < 0)
            throw Fail(MsgPackErrorKind.Overflow, start, $"{value} does not fit UInt64");
        return (ulong)value;
    }

    private long ReadSigned(string target, long min, long max)
    {
        int start = _position;
        long value = ReadSigned(target);
        if (value < min || value > max)
            throw Fail(MsgPackErrorKind.Overflow, start, $"{value} does not fit {target}");
        return value;
    }

    private long ReadSigned(string target)
    {
        int start = _position;
        byte code = PeekCode();
        if (code <= MsgPackCode.MaxPositiveFixInt)
        {
            _position++;
            return code;
        }
        if (code >= MsgPackCode.MinNegativeFixInt)
        {
            _position++;
            return unchecked((sbyte)code);
        }
        switch (code)
        {
            case MsgPackCode.UInt8:
                return Take(2, start)[1];
            case MsgPackCode.UInt16:
                return BinaryPrimitives.ReadUInt16BigEndian(Take(3, start)[1..]);
            case MsgPackCode.UInt32:
                return BinaryPrimitives.ReadUInt32BigEndian(Take(5, start)[1..]);
            case MsgPackCode.UInt64:
                ulong big = BinaryPrimitives.ReadUInt64BigEndian(Take(9, start)[1..]);
                if (big > long.MaxValue)
                    throw Fail(MsgPackErrorKind.Overflow, start, $"{big} does not fit {target}");
                return (long)big;
            case MsgPackCode.Int8:
                return unchecked((sbyte)Take(2, start)[1]);
            case MsgPackCode.Int16:
                return BinaryPrimitives.ReadInt16BigEndian(Take(3, start)[1..]);
            case MsgPackCode.Int32:
                return BinaryPrimitives.ReadInt32BigEndian(Take(5, start)[1..]);
            case MsgPackCode.Int64:
                return BinaryPrimitives.ReadInt64BigEndian(Take(9, start)[1..]);
            case MsgPackCode.Float32:
            case MsgPackCode.Float64:
                // JS sends integers beyond 2^53 (and anything computed as a float) as float 64.
                double d = ReadFloatPayload(code, start);
                if (double.IsNaN(d) || Math.Floor(d) != d)
                    throw Fail(MsgPackErrorKind.TypeMismatch, start, $"expected {target} but found the non-integral {MsgPackCode.NameOf(code)} {d}");
                if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
                    throw Fail(MsgPackErrorKind.Overflow, start, $"{d} does not fit {target}");
                return (long)d;
            default:
                throw Mismatch($"an integer ({target})");
        }
    }

    // ---- floats ----

    /// <summary>Reads any numeric form as a double (JS sends 2.0 as the fixint 2).</summary>
    public double ReadDouble()
    {
        int start = _position;
        byte code = PeekCode();
        if (code == MsgPackCode.Float32 || code == MsgPackCode.Float64)
            return ReadFloatPayload(code, start);
        if (code == MsgPackCode.UInt64)
            return ReadUInt64();
        if (MsgPackCode.TypeOf(code) != MsgPackType.Integer)
            throw Mismatch("a number (Double)");
        return ReadSigned("Double");
    }

    /// <summary>Reads any numeric form as a float; a float 64 is narrowed unless it is finite and out of range.</summary>
    public float ReadSingle()
    {
        int start = _position;
        byte code = PeekCode();
        if (code == MsgPackCode.Float32)
            return BinaryPrimitives.ReadSingleBigEndian(Take(5, start)[1..]);
        double d = ReadDouble();
        float f = (float)d;
        if (float.IsInfinity(f) && double.IsFinite(d))
            throw Fail(MsgPackErrorKind.Overflow, start, $"{d} does not fit Single");
        return f;
    }

    private double ReadFloatPayload(byte code, int start) => code == MsgPackCode.Float32
        ? BinaryPrimitives.ReadSingleBigEndian(Take(5, start)[1..])
        : BinaryPrimitives.ReadDoubleBigEndian(Take(9, start)[1..]);

    // ---- strings and binary ----

    /// <summary>The UTF-8 bytes of a str value, as a slice of the input (no copy).</summary>
    public ReadOnlySpan<byte> ReadStringBytes()
    {
        int start = _position;
        byte code = PeekCode();
        int headerLength;
        uint length;
        if (code >= MsgPackCode.MinFixStr && code <= MsgPackCode.MaxFixStr)
        {
            headerLength = 1;
            length = (uint)(code & 0x1f);
        }
        else
        {
            headerLength = code switch
            {
                MsgPackCode.Str8 => 2,
                MsgPackCode.Str16 => 3,
                MsgPackCode.Str32 => 5,
                _ => throw Mismatch("a string"),
            };
            length = ReadLength(headerLength, start);
        }
        if (length > (uint)_limits.MaxStringBytes)
            throw Fail(MsgPackErrorKind.LimitExceeded, start, $"a string of {length} bytes is above the limit of {_limits.MaxStringBytes}");
        return Take(headerLength + (int)length, start)[headerLength..];
    }

    /// <summary>
    /// Reads a str value (nil gives null). Invalid UTF-8 becomes U+FFFD, as in MessagePack-CSharp and
    /// the JS client; the spec leaves the choice to implementations.
    /// </summary>
    public string? ReadString()
    {
        if (TryReadNil())
            return null;
        return Encoding.UTF8.GetString(ReadStringBytes());
    }

    /// <summary>
    /// The bytes of a bin value, as a slice of the input. A str is accepted too (old-spec peers wrote
    /// binary as raw str; MessagePack-CSharp accepts it the same way).
    /// </summary>
    public ReadOnlySpan<byte> ReadBinaryBytes()
    {
        int start = _position;
        byte code = PeekCode();
        int headerLength = code switch
        {
            MsgPackCode.Bin8 => 2,
            MsgPackCode.Bin16 => 3,
            MsgPackCode.Bin32 => 5,
            MsgPackCode.Str8 or MsgPackCode.Str16 or MsgPackCode.Str32 or (>= MsgPackCode.MinFixStr and <= MsgPackCode.MaxFixStr) => 0,
            _ => throw Mismatch("binary"),
        };
        if (headerLength == 0)
            return ReadStringBytes();
        uint length = ReadLength(headerLength, start);
        if (length > (uint)_limits.MaxBinaryBytes)
            throw Fail(MsgPackErrorKind.LimitExceeded, start, $"a binary of {length} bytes is above the limit of {_limits.MaxBinaryBytes}");
        return Take(headerLength + (int)length, start)[headerLength..];
    }

    /// <summary>Reads a bin value into a new array (nil gives null).</summary>
    public byte[]? ReadBinary()
    {
        if (TryReadNil())
            return null;
        return ReadBinaryBytes().ToArray();
    }

    // ---- containers ----

    /// <summary>
    /// Reads an array header. The count is at most <see cref="MsgPackLimits.MaxCollectionLength"/> and
    /// at most the bytes left (every element takes at least one), so it is safe to allocate for.
    /// </summary>
    public int ReadArrayHeader()
    {
        int start = _position;
        byte code = PeekCode();
        uint count;
        if (code >= MsgPackCode.MinFixArray && code <= MsgPackCode.MaxFixArray)
        {
            _position++;
            count = (uint)(code & 0x0f);
        }
        else if (code == MsgPackCode.Array16)
        {
            count = ReadLength(3, start);
            _position += 3;
        }
        else if (code == MsgPackCode.Array32)
        {
            count = ReadLength(5, start);
            _position += 5;
        }
        else
        {
            throw Mismatch("an array");
        }
        return CheckCount(count, 1, start, "an array of", "elements");
    }

    /// <summary>Reads a map header: the number of key/value pairs, checked like <see cref="ReadArrayHeader"/>.</summary>
    public int ReadMapHeader()
    {
        int start = _position;
        byte code = PeekCode();
        uint count;
        if (code >= MsgPackCode.MinFixMap && code <= MsgPackCode.MaxFixMap)
        {
            _position++;
            count = (uint)(code & 0x0f);
        }
        else if (code == MsgPackCode.Map16)
        {
            count = ReadLength(3, start);
            _position += 3;
        }
        else if (code == MsgPackCode.Map32)
        {
            count = ReadLength(5, start);
            _position += 5;
        }
        else
        {
            throw Mismatch("a map");
        }
        return CheckCount(count, 2, start, "a map of", "pairs");
    }

    private int CheckCount(uint count, int minBytesPerItem, int start, string what, string unit)
    {
        if (count > (uint)_limits.MaxCollectionLength)
            throw Fail(MsgPackErrorKind.LimitExceeded, start, $"{what} {count} {unit} is above the limit of {_limits.MaxCollectionLength}");
        if ((long)count * minBytesPerItem > Remaining)
            throw Fail(MsgPackErrorKind.Truncated, start, $"{what} {count} {unit} cannot fit in the {Remaining} bytes left");
        return (int)count;
    }

    // ---- extensions ----

    /// <summary>Reads an ext header; the payload (checked to be present) follows.</summary>
    public MsgPackExtHeader ReadExtHeader()
    {
        int start = _position;
        byte code = PeekCode();
        int headerLength;
        uint length;
        switch (code)
        {
            case MsgPackCode.FixExt1: headerLength = 2; length = 1; break;
            case MsgPackCode.FixExt2: headerLength = 2; length = 2; break;
            case MsgPackCode.FixExt4: headerLength = 2; length = 4; break;
            case MsgPackCode.FixExt8: headerLength = 2; length = 8; break;
            case MsgPackCode.FixExt16: headerLength = 2; length = 16; break;
            case MsgPackCode.Ext8: headerLength = 3; length = ReadLength(2, start); break;
            case MsgPackCode.Ext16: headerLength = 4; length = ReadLength(3, start); break;
            case MsgPackCode.Ext32: headerLength = 6; length = ReadLength(5, start); break;
            default: throw Mismatch("an extension");
        }
        if (length > (uint)_limits.MaxBinaryBytes)
            throw Fail(MsgPackErrorKind.LimitExceeded, start, $"an extension of {length} bytes is above the limit of {_limits.MaxBinaryBytes}");
        var header = Take(headerLength, start);
        if (length > (uint)Remaining)
        {
            _position = start;
            throw Fail(MsgPackErrorKind.Truncated, start, $"an extension of {length} bytes cannot fit in the {Remaining} bytes left");
        }
        return new MsgPackExtHeader(unchecked((sbyte)header[^1]), (int)length);
    }

    /// <summary>Reads a whole ext value; the payload is a slice of the input.</summary>
    public ReadOnlySpan<byte> ReadExt(out sbyte type)
    {
        var header = ReadExtHeader();
        type = header.Type;
        return Take(header.Length, _position);
    }

    /// <summary>Reads a timestamp (ext −1) in any of its three forms.</summary>
    public MsgPackTimestamp ReadTimestamp()
    {
        int start = _position;
        if (MsgPackCode.TypeOf(PeekCode()) != MsgPackType.Extension)
            throw Mismatch("a timestamp");
        var data = ReadExt(out sbyte type);
        if (type != MsgPackCode.TimestampExtType)
            throw Fail(MsgPackErrorKind.TypeMismatch, start, $"expected a timestamp but found extension type {type}");
        long seconds;
        uint nanoseconds;
        switch (data.Length)
        {
            case 4:
                seconds = BinaryPrimitives.ReadUInt32BigEndian(data);
                nanoseconds = 0;
                break;
            case 8:
                ulong data64 = BinaryPrimitives.ReadUInt64BigEndian(data);
                nanoseconds = (uint)(data64 >> 34);
                seconds = (long)(data64 & 0x3_FFFF_FFFFUL);
                break;
            case 12:
                nanoseconds = BinaryPrimitives.ReadUInt32BigEndian(data);
                seconds = BinaryPrimitives.ReadInt64BigEndian(data[4..]);
                break;
            default:
                throw Fail(MsgPackErrorKind.InvalidValue, start, $"a timestamp has 4, 8 or 12 bytes, not {data.Length}");
        }
        if (nanoseconds >= MsgPackTimestamp.NanosecondsPerSecond)
            throw Fail(MsgPackErrorKind.InvalidValue, start, $"timestamp nanoseconds {nanoseconds} are not below 10^9");
        return new MsgPackTimestamp(seconds, nanoseconds);
    }

    /// <summary>Reads a timestamp as a UTC DateTime; fails if it is outside years 1..9999.</summary>
    public DateTime ReadDateTime()
    {
        int start = _position;
        var timestamp = ReadTimestamp();
        if (!timestamp.TryToDateTime(out var value))
            throw Fail(MsgPackErrorKind.Overflow, start, $"timestamp {timestamp} is outside the range of DateTime");
        return value;
    }

    // ---- whole values ----

    /// <summary>Skips one value, walking nested containers (depth-limited).</summary>
    public void Skip()
    {
        int start = _position;
        byte code = PeekCode();
        switch (MsgPackCode.TypeOf(code))
        {
            case MsgPackType.Nil:
            case MsgPackType.Boolean:
                _position++;
                break;
            case MsgPackType.Integer:
            case MsgPackType.Float:
                Take(ScalarLength(code), start);
                break;
            case MsgPackType.String:
                ReadStringBytes();
                break;
            case MsgPackType.Binary:
                ReadBinaryBytes();
                break;
            case MsgPackType.Extension:
                ReadExt(out _);
                break;
            case MsgPackType.Array:
                SkipItems(ReadArrayHeader());
                break;
            case MsgPackType.Map:
                SkipItems(2L * ReadMapHeader());
                break;
            default:
                throw Fail(MsgPackErrorKind.InvalidCode, start, "byte 0xc1 is not a valid format code");
        }
    }

    private void SkipItems(long count)
    {
        EnterContainer();
        for (long i = 0; i < count; i++)
            Skip();
        ExitContainer();
    }

    /// <summary>The bytes of the next whole value, unchanged (e.g. for RawResult forwarding).</summary>
    public ReadOnlySpan<byte> ReadRaw()
    {
        int start = _position;
        Skip();
        return _buffer[start.._position];
    }

    /// <summary>The next <paramref name="count"/> bytes, e.g. an ext payload after <see cref="ReadExtHeader"/>.</summary>
    public ReadOnlySpan<byte> ReadRawBytes(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return Take(count, _position);
    }

    // ---- helpers ----

    private static int ScalarLength(byte code) => code switch
    {
        MsgPackCode.UInt8 or MsgPackCode.Int8 => 2,
        MsgPackCode.UInt16 or MsgPackCode.Int16 => 3,
        MsgPackCode.UInt32 or MsgPackCode.Int32 or MsgPackCode.Float32 => 5,
        MsgPackCode.UInt64 or MsgPackCode.Int64 or MsgPackCode.Float64 => 9,
        _ => 1, // fixints
    };

    /// <summary>Reads the big-endian length that follows a one-byte code, without consuming anything.</summary>
    private readonly uint ReadLength(int headerLength, int start)
    {
        if (Remaining < headerLength)
            throw Fail(MsgPackErrorKind.Truncated, start, $"the input ended inside a {MsgPackCode.NameOf(_buffer[start])} header");
        var span = _buffer.Slice(_position + 1, headerLength - 1);
        return headerLength switch
        {
            2 => span[0],
            3 => BinaryPrimitives.ReadUInt16BigEndian(span),
            _ => BinaryPrimitives.ReadUInt32BigEndian(span),
        };
    }

    /// <summary>Consumes <paramref name="count"/> bytes, or fails as truncated at <paramref name="start"/>.</summary>
    private ReadOnlySpan<byte> Take(int count, int start)
    {
        if ((uint)count > (uint)Remaining)
            throw Fail(MsgPackErrorKind.Truncated, start, $"the input ended inside a value: {count} bytes needed, {Remaining} left");
        var slice = _buffer.Slice(_position, count);
        _position += count;
        return slice;
    }

    private readonly MsgPackException Mismatch(string expected)
    {
        if (End)
            return Fail(MsgPackErrorKind.Truncated, _position, $"the input ended where {expected} was expected");
        byte code = _buffer[_position];
        if (code == MsgPackCode.NeverUsed)
            return Fail(MsgPackErrorKind.InvalidCode, _position, "byte 0xc1 is not a valid format code");
        return Fail(MsgPackErrorKind.TypeMismatch, _position, $"expected {expected} but found {MsgPackCode.NameOf(code)} (0x{code:x2})");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static MsgPackException Fail(MsgPackErrorKind kind, int offset, string message) => new(kind, offset, message);
}
