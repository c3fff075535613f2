using System.Globalization;
using System.Text;

namespace Lab.Shared.MsgPack;

// Wire forms follow the official server's choices (PROTOCOL-NOTES §1.7) so JS code written against it
// keeps working; reads are as generous as the reader (any numeric form for any numeric type).

internal sealed class BooleanFormatter : MsgPackFormatter<bool>
{
    public override void Write(MsgPackWriter writer, bool value) => writer.Write(value);
    public override bool Read(ref MsgPackReader reader) => reader.ReadBoolean();
}

internal sealed class SByteFormatter : MsgPackFormatter<sbyte>
{
    public override void Write(MsgPackWriter writer, sbyte value) => writer.Write(value);
    public override sbyte Read(ref MsgPackReader reader) => reader.ReadSByte();
}

internal sealed class ByteFormatter : MsgPackFormatter<byte>
{
    public override void Write(MsgPackWriter writer, byte value) => writer.Write(value);
    public override byte Read(ref MsgPackReader reader) => reader.ReadByte();
}

internal sealed class Int16Formatter : MsgPackFormatter<short>
{
    public override void Write(MsgPackWriter writer, short value) => writer.Write(value);
    public override short Read(ref MsgPackReader reader) => reader.ReadInt16();
}

internal sealed class UInt16Formatter : MsgPackFormatter<ushort>
{
    public override void Write(MsgPackWriter writer, ushort value) => writer.Write(value);
    public override ushort Read(ref MsgPackReader reader) => reader.ReadUInt16();
}

internal sealed class Int32Formatter : MsgPackFormatter<int>
{
    public override void Write(MsgPackWriter writer, int value) => writer.Write(value);
    public override int Read(ref MsgPackReader reader) => reader.ReadInt32();
}

internal sealed class UInt32Formatter : MsgPackFormatter<uint>
{
    public override void Write(MsgPackWriter writer, uint value) => writer.Write(value);
    public override uint Read(ref MsgPackReader reader) => reader.ReadUInt32();
}

internal sealed class Int64Formatter : MsgPackFormatter<long>
{
    public override void Write(MsgPackWriter writer, long value) => writer.Write(value);
    public override long Read(ref MsgPackReader reader) => reader.ReadInt64();
}

internal sealed class UInt64Formatter : MsgPackFormatter<ulong>
{
    public override void Write(MsgPackWriter writer, ulong value) => writer.Write(value);
    public override ulong Read(ref MsgPackReader reader) => reader.ReadUInt64();
}

internal sealed class SingleFormatter : MsgPackFormatter<float>
{
    public override void Write(MsgPackWriter writer, float value) => writer.Write(value);
    public override float Read(ref MsgPackReader reader) => reader.ReadSingle();
}

internal sealed class DoubleFormatter : MsgPackFormatter<double>
{
    public override void Write(MsgPackWriter writer, double value) => writer.Write(value);
    public override double Read(ref MsgPackReader reader) => reader.ReadDouble();
}

/// <summary>char travels as its UTF-16 code unit (uint16), as in MessagePack-CSharp.</summary>
internal sealed class CharFormatter : MsgPackFormatter<char>
{
    public override void Write(MsgPackWriter writer, char value) => writer.Write((ushort)value);
    public override char Read(ref MsgPackReader reader) => (char)reader.ReadUInt16();
}

internal sealed class StringFormatter : MsgPackFormatter<string?>
{
    public override void Write(MsgPackWriter writer, string? value) => writer.WriteString(value);
    public override string? Read(ref MsgPackReader reader) => reader.ReadString();
}

/// <summary>byte[] is always bin (never an array of ints), nil for null.</summary>
internal sealed class ByteArrayFormatter : MsgPackFormatter<byte[]?>
{
    public override void Write(MsgPackWriter writer, byte[]? value) => writer.WriteBinary(value);
    public override byte[]? Read(ref MsgPackReader reader) => reader.ReadBinary();
}

/// <summary>DateTime is the timestamp extension, always read back as UTC (the wire has no Kind).</summary>
internal sealed class DateTimeFormatter : MsgPackFormatter<DateTime>
{
    public override void Write(MsgPackWriter writer, DateTime value) => writer.Write(value);
    public override DateTime Read(ref MsgPackReader reader) => reader.ReadDateTime();
}

internal sealed class TimestampFormatter : MsgPackFormatter<MsgPackTimestamp>
{
    public override void Write(MsgPackWriter writer, MsgPackTimestamp value) => writer.Write(value);
    public override MsgPackTimestamp Read(ref MsgPackReader reader) => reader.ReadTimestamp();
}

/// <summary>TimeSpan is its tick count (int64), as in MessagePack-CSharp.</summary>
internal sealed class TimeSpanFormatter : MsgPackFormatter<TimeSpan>
{
    public override void Write(MsgPackWriter writer, TimeSpan value) => writer.Write(value.Ticks);
    public override TimeSpan Read(ref MsgPackReader reader) => new(reader.ReadInt64());
}

/// <summary>Guid is its 36-character "D" string, as the official server writes it.</summary>
internal sealed class GuidFormatter : MsgPackFormatter<Guid>
{
    public override void Write(MsgPackWriter writer, Guid value)
    {
        Span<char> text = stackalloc char[36];
        value.TryFormat(text, out _, "D");
        writer.WriteString(text);
    }

    public override Guid Read(ref MsgPackReader reader)
    {
        int start = reader.Position;
        if (Guid.TryParse(Encoding.UTF8.GetString(reader.ReadStringBytes()), out var value))
            return value;
        throw new MsgPackException(MsgPackErrorKind.InvalidValue, start, "the string is not a Guid");
    }
}

/// <summary>decimal is an invariant-culture string, as the official server writes it; numbers are accepted too.</summary>
internal sealed class DecimalFormatter : MsgPackFormatter<decimal>
{
    public override void Write(MsgPackWriter writer, decimal value)
    {
        Span<char> text = stackalloc char[64];
        value.TryFormat(text, out int length, default, CultureInfo.InvariantCulture);
        writer.WriteString(text[..length]);
    }

    public override decimal Read(ref MsgPackReader reader)
    {
        int start = reader.Position;
        if (reader.PeekType() != MsgPackType.String)
        {
            double number = reader.ReadDouble();
            if (double.IsFinite(number) && Math.Abs(number) < (double)decimal.MaxValue)
                return (decimal)number;
            throw new MsgPackException(MsgPackErrorKind.Overflow, start, $"{number} does not fit Decimal");
        }
        var text = Encoding.UTF8.GetString(reader.ReadStringBytes());
        if (decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            return value;
        throw new MsgPackException(MsgPackErrorKind.InvalidValue, start, "the string is not a decimal number");
    }
}

internal sealed class MsgPackValueFormatter : MsgPackFormatter<MsgPackValue>
{
    public override void Write(MsgPackWriter writer, MsgPackValue value) => (value ?? MsgPackValue.Nil).Write(writer);
    public override MsgPackValue Read(ref MsgPackReader reader) => MsgPackValue.Read(ref reader);
}

/// <summary>
/// Enums travel as their name strings, as the official server writes them (dotnet/aspnetcore#28279);
/// reading also accepts the number, a superset the notes recommend.
/// </summary>
internal sealed class EnumFormatter<T> : MsgPackFormatter<T>
    where T : struct, Enum
{
    public override void Write(MsgPackWriter writer, T value) => writer.WriteString(value.ToString());

    public override T Read(ref MsgPackReader reader)
    {
        int start = reader.Position;
        if (reader.PeekType() == MsgPackType.String)
        {
            var name = Encoding.UTF8.GetString(reader.ReadStringBytes());
            if (Enum.TryParse<T>(name, ignoreCase: false, out var value))
                return value;
            throw new MsgPackException(MsgPackErrorKind.InvalidValue, start, $"'{name}' is not a member of {typeof(T).Name}");
        }
        return (T)Enum.ToObject(typeof(T), reader.ReadInt64());
    }
}

/// <summary>
/// For parameters declared as <c>object</c>: writes by the runtime type, reads into plain CLR values —
/// nil → null, integers → long (ulong above long.MaxValue), float 32/64 → float/double, str → string,
/// bin → byte[], array → object?[], map → Dictionary&lt;object, object?&gt; (duplicate or nil keys
/// rejected), timestamp → DateTime (MsgPackTimestamp outside its range), other ext → MsgPackValue.
/// Unlike the official server, integers are not narrowed to the smallest CLR type of their encoding.
/// </summary>
internal sealed class ObjectFormatter(MsgPackSerializer serializer) : MsgPackFormatter<object?>
{
    public override void Write(MsgPackWriter writer, object? value)
    {
        if (value is not null && value.GetType() == typeof(object))
            throw new NotSupportedException("A bare System.Object has no MessagePack form.");
        serializer.Serialize(writer, value);
    }

    public override object? Read(ref MsgPackReader reader)
    {
        switch (reader.PeekType())
        {
            case MsgPackType.Nil:
                reader.ReadNil();
                return null;
            case MsgPackType.Boolean:
                return reader.ReadBoolean();
            case MsgPackType.Integer:
                if (reader.PeekCode() == MsgPackCode.UInt64)
                {
                    ulong big = reader.ReadUInt64();
                    return big > long.MaxValue ? (object)big : (object)(long)big;
                }
                return reader.ReadInt64();
            case MsgPackType.Float:
                // Boxed separately: a conditional expression would widen the float to double.
                if (reader.PeekCode() == MsgPackCode.Float32)
                    return reader.ReadSingle();
                return reader.ReadDouble();
            case MsgPackType.String:
                return reader.ReadString();
            case MsgPackType.Binary:
                return reader.ReadBinary();
            case MsgPackType.Extension:
                var value = MsgPackValue.Read(ref reader);
                if (value.ExtensionType != MsgPackCode.TimestampExtType)
                    return value;
                var timestamp = value.AsTimestamp();
                return timestamp.TryToDateTime(out var dateTime) ? dateTime : timestamp;
            case MsgPackType.Array:
            {
                var items = new object?[reader.ReadArrayHeader()];
                reader.EnterContainer();
                for (int i = 0; i < items.Length; i++)
                    items[i] = Read(ref reader);
                reader.ExitContainer();
                return items;
            }
            default:
            {
                int count = reader.ReadMapHeader();
                var map = new Dictionary<object, object?>(count);
                reader.EnterContainer();
                for (int i = 0; i < count; i++)
                {
                    int keyStart = reader.Position;
                    var key = Read(ref reader)
                        ?? throw new MsgPackException(MsgPackErrorKind.InvalidValue, keyStart, "a nil map key cannot be represented");
                    if (!map.TryAdd(key, Read(ref reader)))
                        throw new MsgPackException(MsgPackErrorKind.InvalidValue, keyStart, $"duplicate map key {key}");
                }
                reader.ExitContainer();
                return map;
            }
        }
    }
}
