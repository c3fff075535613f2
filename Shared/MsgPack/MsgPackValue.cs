using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Lab.Shared.MsgPack;

/// <summary>
/// An immutable, self-describing MessagePack value, for tests, tools and <c>object</c>-typed data.
/// It models meaning, not encoding: 5 read from <c>cc 05</c> equals 5 read from <c>05</c>, and writing
/// always produces the smallest form. Floats keep their width (float 32 vs 64) and compare by bits,
/// so NaN equals NaN and −0.0 differs from 0.0. Ext values (timestamps included) compare by type and
/// payload bytes. Map entries keep their order; duplicate keys are kept as they came.
/// </summary>
public sealed class MsgPackValue : IEquatable<MsgPackValue>
{
    public static readonly MsgPackValue Nil = new(MsgPackType.Nil, 0, false, null, 0);
    public static readonly MsgPackValue True = new(MsgPackType.Boolean, 1, false, null, 0);
    public static readonly MsgPackValue False = new(MsgPackType.Boolean, 0, false, null, 0);

    // Integer: two's complement bits, _flag = the value is above long.MaxValue (read as ulong).
    // Float: IEEE bits of the double (or of the float, widened losslessly), _flag = float 32.
    private readonly ulong _bits;
    private readonly bool _flag;
    // string, byte[] (bin and ext payload), MsgPackValue[] or KeyValuePair<MsgPackValue, MsgPackValue>[].
    private readonly object? _ref;
    private readonly sbyte _extType;

    private MsgPackValue(MsgPackType type, ulong bits, bool flag, object? reference, sbyte extType)
    {
        Type = type;
        _bits = bits;
        _flag = flag;
        _ref = reference;
        _extType = extType;
    }

    public MsgPackType Type { get; }

    // ---- construction ----

    public static MsgPackValue Boolean(bool value) => value ? True : False;

    public static MsgPackValue Integer(long value) => new(MsgPackType.Integer, unchecked((ulong)value), false, null, 0);

    public static MsgPackValue Integer(ulong value) => new(MsgPackType.Integer, value, value > long.MaxValue, null, 0);

    public static MsgPackValue Float32(float value) => new(MsgPackType.Float, BitConverter.DoubleToUInt64Bits(value), true, null, 0);

    public static MsgPackValue Float64(double value) => new(MsgPackType.Float, BitConverter.DoubleToUInt64Bits(value), false, null, 0);

    public static MsgPackValue String(string value) => new(MsgPackType.String, 0, false, value ?? throw new ArgumentNullException(nameof(value)), 0);

    /// <summary>A bin value; the array is copied so the value stays immutable.</summary>
    public static MsgPackValue Binary(ReadOnlySpan<byte> value) => new(MsgPackType.Binary, 0, false, value.ToArray(), 0);

    public static MsgPackValue Array(params MsgPackValue[] items) =>
        new(MsgPackType.Array, 0, false, items.ToArray(), 0);

    public static MsgPackValue Map(params (MsgPackValue Key, MsgPackValue Value)[] entries) =>
        new(MsgPackType.Map, 0, false, entries.Select(e => KeyValuePair.Create(e.Key, e.Value)).ToArray(), 0);

    public static MsgPackValue Extension(sbyte type, ReadOnlySpan<byte> data) =>
        new(MsgPackType.Extension, 0, false, data.ToArray(), type);

    /// <summary>A timestamp ext value in its smallest encoding.</summary>
    public static MsgPackValue Timestamp(MsgPackTimestamp value)
    {
        var buffer = new ArrayBufferWriter<byte>(15);
        new MsgPackWriter(buffer).Write(value);
        var reader = new MsgPackReader(buffer.WrittenSpan);
        return Extension(MsgPackCode.TimestampExtType, reader.ReadExt(out _));
    }

    public static implicit operator MsgPackValue(bool value) => Boolean(value);
    public static implicit operator MsgPackValue(int value) => Integer(value);
    public static implicit operator MsgPackValue(long value) => Integer(value);
    public static implicit operator MsgPackValue(ulong value) => Integer(value);
    public static implicit operator MsgPackValue(double value) => Float64(value);
    public static implicit operator MsgPackValue(float value) => Float32(value);
    public static implicit operator MsgPackValue(string value) => String(value);
    public static implicit operator MsgPackValue(byte[] value) => Binary(value);

    // ---- access ----

    public bool IsNil => Type == MsgPackType.Nil;

    /// <summary>True for an integer above long.MaxValue (only <see cref="AsUInt64"/> can hold it).</summary>
    public bool IsLargeUnsigned => Type == MsgPackType.Integer && _flag;

    /// <summary>True for a float 32 (rather than float 64).</summary>
    public bool IsSingle => Type == MsgPackType.Float && _flag;

    public bool AsBoolean() => Expect(MsgPackType.Boolean)._bits != 0;

    public long AsInt64() => Expect(MsgPackType.Integer)._flag
        ? throw new InvalidOperationException($"{_bits} does not fit Int64.")
        : unchecked((long)_bits);

    public ulong AsUInt64() => Expect(MsgPackType.Integer)._flag || (long)_bits >= 0
        ? _bits
        : throw new InvalidOperationException($"{(long)_bits} does not fit UInt64.");

    public double AsDouble() => BitConverter.UInt64BitsToDouble(Expect(MsgPackType.Float)._bits);

    public string AsString() => (string)Expect(MsgPackType.String)._ref!;

    public ReadOnlyMemory<byte> AsBinary() => (byte[])Expect(MsgPackType.Binary)._ref!;

    public IReadOnlyList<MsgPackValue> AsArray() => (MsgPackValue[])Expect(MsgPackType.Array)._ref!;

    public IReadOnlyList<KeyValuePair<MsgPackValue, MsgPackValue>> AsMap() =>
        (KeyValuePair<MsgPackValue, MsgPackValue>[])Expect(MsgPackType.Map)._ref!;

    public sbyte ExtensionType => Expect(MsgPackType.Extension)._extType;

    public ReadOnlyMemory<byte> ExtensionData => (byte[])Expect(MsgPackType.Extension)._ref!;

    /// <summary>Decodes a timestamp ext value.</summary>
    public MsgPackTimestamp AsTimestamp()
    {
        var buffer = new ArrayBufferWriter<byte>(32);
        Expect(MsgPackType.Extension).Write(new MsgPackWriter(buffer));
        var reader = new MsgPackReader(buffer.WrittenSpan);
        return reader.ReadTimestamp();
    }

    /// <summary>Looks up a map entry by key (first match), or null.</summary>
    public MsgPackValue? this[MsgPackValue key] =>
        AsMap().FirstOrDefault(e => e.Key.Equals(key)).Value;

    private MsgPackValue Expect(MsgPackType type) => Type == type
        ? this
        : throw new InvalidOperationException($"The value is {Type}, not {type}.");

    // ---- codec ----

    /// <summary>Reads one value of any type (depth-limited by the reader's limits).</summary>
    public static MsgPackValue Read(ref MsgPackReader reader)
    {
        switch (reader.PeekType())
        {
            case MsgPackType.Nil:
                reader.ReadNil();
                return Nil;
            case MsgPackType.Boolean:
                return Boolean(reader.ReadBoolean());
            case MsgPackType.Integer:
                return reader.PeekCode() == MsgPackCode.UInt64 ? Integer(reader.ReadUInt64()) : Integer(reader.ReadInt64());
            case MsgPackType.Float:
                return reader.PeekCode() == MsgPackCode.Float32 ? Float32(reader.ReadSingle()) : Float64(reader.ReadDouble());
            case MsgPackType.String:
                return String(Encoding.UTF8.GetString(reader.ReadStringBytes()));
            case MsgPackType.Binary:
                return Binary(reader.ReadBinaryBytes());
            case MsgPackType.Extension:
                var data = reader.ReadExt(out sbyte type);
                return Extension(type, data);
            case MsgPackType.Array:
            {
                // The count is already checked against the bytes left, so this allocation is bounded.
                var items = new MsgPackValue[reader.ReadArrayHeader()];
                reader.EnterContainer();
                for (int i = 0; i < items.Length; i++)
                    items[i] = Read(ref reader);
                reader.ExitContainer();
                return new MsgPackValue(MsgPackType.Array, 0, false, items, 0);
            }
            default: // Map; PeekType has already rejected 0xc1
            {
                var entries = new KeyValuePair<MsgPackValue, MsgPackValue>[reader.ReadMapHeader()];
                reader.EnterContainer();
                for (int i = 0; i < entries.Length; i++)
                {
                    var key = Read(ref reader);
                    entries[i] = KeyValuePair.Create(key, Read(ref reader));
                }
                reader.ExitContainer();
                return new MsgPackValue(MsgPackType.Map, 0, false, entries, 0);
            }
        }
    }

    /// <summary>Reads exactly one value from <paramref name="bytes"/>; trailing bytes are an error.</summary>
    public static MsgPackValue Decode(ReadOnlySpan<byte> bytes, MsgPackLimits? limits = null)
    {
        var reader = new MsgPackReader(bytes, limits ?? MsgPackLimits.Default);
        var value = Read(ref reader);
        if (!reader.End)
            throw new MsgPackException(MsgPackErrorKind.InvalidValue, reader.Position, $"{reader.Remaining} bytes follow the value");
        return value;
    }

    public void Write(MsgPackWriter writer)
    {
        switch (Type)
        {
            case MsgPackType.Nil:
                writer.WriteNil();
                break;
            case MsgPackType.Boolean:
                writer.Write(_bits != 0);
                break;
            case MsgPackType.Integer:
                if (_flag)
                    writer.Write(_bits);
                else
                    writer.Write(unchecked((long)_bits));
                break;
            case MsgPackType.Float:
                if (_flag)
                    writer.Write((float)BitConverter.UInt64BitsToDouble(_bits));
                else
                    writer.Write(BitConverter.UInt64BitsToDouble(_bits));
                break;
            case MsgPackType.String:
                writer.WriteString((string)_ref!);
                break;
            case MsgPackType.Binary:
                writer.WriteBinary((byte[])_ref!);
                break;
            case MsgPackType.Extension:
                writer.WriteExt(_extType, (byte[])_ref!);
                break;
            case MsgPackType.Array:
                var items = (MsgPackValue[])_ref!;
                writer.WriteArrayHeader(items.Length);
                foreach (var item in items)
                    item.Write(writer);
                break;
            case MsgPackType.Map:
                var entries = (KeyValuePair<MsgPackValue, MsgPackValue>[])_ref!;
                writer.WriteMapHeader(entries.Length);
                foreach (var (key, value) in entries)
                {
                    key.Write(writer);
                    value.Write(writer);
                }
                break;
        }
    }

    public byte[] Encode()
    {
        var buffer = new ArrayBufferWriter<byte>();
        Write(new MsgPackWriter(buffer));
        return buffer.WrittenSpan.ToArray();
    }

    // ---- equality and display ----

    public bool Equals(MsgPackValue? other)
    {
        if (ReferenceEquals(this, other))
            return true;
        if (other is null || other.Type != Type || other._bits != _bits || other._flag != _flag || other._extType != _extType)
            return false;
        return (_ref, other._ref) switch
        {
            (null, null) => true,
            (string a, string b) => a == b,
            (byte[] a, byte[] b) => a.AsSpan().SequenceEqual(b),
            (MsgPackValue[] a, MsgPackValue[] b) => a.SequenceEqual(b),
            (KeyValuePair<MsgPackValue, MsgPackValue>[] a, KeyValuePair<MsgPackValue, MsgPackValue>[] b) => a.SequenceEqual(b),
            _ => false,
        };
    }

    public override bool Equals(object? obj) => Equals(obj as MsgPackValue);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Type);
        hash.Add(_bits);
        hash.Add(_flag);
        hash.Add(_extType);
        switch (_ref)
        {
            case string s:
                hash.Add(s);
                break;
            case byte[] b:
                hash.AddBytes(b);
                break;
            case MsgPackValue[] a:
                foreach (var item in a)
                    hash.Add(item);
                break;
            case KeyValuePair<MsgPackValue, MsgPackValue>[] m:
                foreach (var (key, value) in m)
                {
                    hash.Add(key);
                    hash.Add(value);
                }
                break;
        }
        return hash.ToHashCode();
    }

    /// <summary>A compact JSON-like rendering for test failure messages.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        Append(text);
        return text.ToString();
    }

    private void Append(StringBuilder text)
    {
        switch (Type)
        {
            case MsgPackType.Nil:
                text.Append("nil");
                break;
            case MsgPackType.Boolean:
                text.Append(_bits != 0 ? "true" : "false");
                break;
            case MsgPackType.Integer:
                text.Append(_flag ? _bits.ToString(CultureInfo.InvariantCulture) : unchecked((long)_bits).ToString(CultureInfo.InvariantCulture));
                break;
            case MsgPackType.Float:
                text.Append(BitConverter.UInt64BitsToDouble(_bits).ToString("R", CultureInfo.InvariantCulture)).Append(_flag ? "f" : "d");
                break;
            case MsgPackType.String:
                text.Append('"').Append((string)_ref!).Append('"');
                break;
            case MsgPackType.Binary:
                text.Append("bin(").Append(Convert.ToHexString((byte[])_ref!)).Append(')');
                break;
            case MsgPackType.Extension:
                text.Append("ext(").Append(_extType).Append(", ").Append(Convert.ToHexString((byte[])_ref!)).Append(')');
                break;
            case MsgPackType.Array:
                text.Append('[');
                var items = (MsgPackValue[])_ref!;
                for (int i = 0; i < items.Length; i++)
                {
                    if (i > 0)
                        text.Append(", ");
                    items[i].Append(text);
                }
                text.Append(']');
                break;
            case MsgPackType.Map:
                text.Append('{');
                var entries = (KeyValuePair<MsgPackValue, MsgPackValue>[])_ref!;
                for (int i = 0; i < entries.Length; i++)
                {
                    if (i > 0)
                        text.Append(", ");
                    entries[i].Key.Append(text);
                    text.Append(": ");
                    entries[i].Value.Append(text);
                }
                text.Append('}');
                break;
        }
    }
}
