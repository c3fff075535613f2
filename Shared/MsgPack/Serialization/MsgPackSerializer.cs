using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace Lab.Shared.MsgPack;

/// <summary>
/// The registry that maps .NET types to formatters. It knows primitives, string, byte[] (bin), DateTime
/// (timestamp), TimeSpan, Guid, decimal, enums (by name), <see cref="MsgPackValue"/>, object, Nullable,
/// arrays, lists and dictionaries, and any type implementing <see cref="IMsgPackSerializable{TSelf}"/>;
/// extra formatters passed to the constructor take precedence. Immutable apart from a thread-safe cache
/// of built formatters, so one instance can serve every connection.
/// </summary>
public sealed class MsgPackSerializer
{
    private readonly Dictionary<Type, IMsgPackFormatter> _registered;
    private readonly ConcurrentDictionary<Type, IMsgPackFormatter?> _resolved = new();

    public MsgPackSerializer(IEnumerable<IMsgPackFormatter>? formatters = null, MsgPackLimits? limits = null)
    {
        Limits = limits ?? MsgPackLimits.Default;
        _registered = new Dictionary<Type, IMsgPackFormatter>();
        foreach (var formatter in BuiltIns())
            _registered[formatter.Type] = formatter;
        foreach (var formatter in formatters ?? [])
            _registered[formatter.Type] = formatter;
    }

    /// <summary>The limits applied by the Deserialize overloads that create their own reader.</summary>
    public MsgPackLimits Limits { get; }

    public bool TryGetFormatter(Type type, [NotNullWhen(true)] out IMsgPackFormatter? formatter)
    {
        ArgumentNullException.ThrowIfNull(type);
        formatter = _resolved.GetOrAdd(type, Create);
        return formatter is not null;
    }

    /// <summary>The formatter for <paramref name="type"/>; a missing one is a programming error, hence NotSupportedException.</summary>
    public IMsgPackFormatter GetFormatter(Type type) => TryGetFormatter(type, out var formatter)
        ? formatter
        : throw new NotSupportedException(
            $"No MessagePack formatter for {type}. Implement IMsgPackSerializable<{type.Name}> or pass a MsgPackFormatter<{type.Name}> to the MsgPackSerializer.");

    public MsgPackFormatter<T> GetFormatter<T>() => (MsgPackFormatter<T>)GetFormatter(typeof(T));

    /// <summary>Writes a value by its runtime type; null is nil.</summary>
    public void Serialize(MsgPackWriter writer, object? value)
    {
        if (value is null)
            writer.WriteNil();
        else
            GetFormatter(value.GetType()).WriteObject(writer, value);
    }

    public void Serialize<T>(MsgPackWriter writer, T value) => GetFormatter<T>().Write(writer, value);

    public byte[] SerializeToArray<T>(T value)
    {
        var buffer = new ArrayBufferWriter<byte>();
        Serialize(new MsgPackWriter(buffer), value);
        return buffer.WrittenSpan.ToArray();
    }

    public object? Deserialize(ref MsgPackReader reader, Type type) => GetFormatter(type).ReadObject(ref reader);

    public T Deserialize<T>(ref MsgPackReader reader) => GetFormatter<T>().Read(ref reader);

    /// <summary>Reads exactly one value of type T from <paramref name="bytes"/>; trailing bytes are an error.</summary>
    public T Deserialize<T>(ReadOnlySpan<byte> bytes)
    {
        var reader = new MsgPackReader(bytes, Limits);
        var value = Deserialize<T>(ref reader);
        if (!reader.End)
            throw new MsgPackException(MsgPackErrorKind.InvalidValue, reader.Position, $"{reader.Remaining} bytes follow the value");
        return value;
    }

    private IMsgPackFormatter? Create(Type type)
    {
        if (_registered.TryGetValue(type, out var registered))
            return registered;

        if (type.GetInterfaces().Any(i => i.IsGenericType
                && i.GetGenericTypeDefinition() == typeof(IMsgPackSerializable<>)
                && i.GetGenericArguments()[0] == type))
            return Build(typeof(SerializableFormatter<>), [type]);

        if (type.IsEnum)
            return Build(typeof(EnumFormatter<>), [type]);

        if (Nullable.GetUnderlyingType(type) is { } underlying)
            return Build(typeof(NullableFormatter<>), [underlying], underlying);

        if (type.IsArray)
        {
            var element = type.GetElementType()!;
            return type.GetArrayRank() == 1 ? Build(typeof(ArrayFormatter<>), [element], element) : null;
        }

        if (!type.IsGenericType)
            return null;
        var definition = type.GetGenericTypeDefinition();
        var arguments = type.GetGenericArguments();
        if (definition == typeof(List<>) || definition == typeof(IList<>) || definition == typeof(IReadOnlyList<>)
            || definition == typeof(ICollection<>) || definition == typeof(IReadOnlyCollection<>) || definition == typeof(IEnumerable<>))
            return Build(typeof(ListFormatter<,>), [type, arguments[0]], arguments[0]);
        if (definition == typeof(Dictionary<,>) || definition == typeof(IDictionary<,>) || definition == typeof(IReadOnlyDictionary<,>))
            return Build(typeof(DictionaryFormatter<,,>), [type, arguments[0], arguments[1]], arguments[0], arguments[1]);
        return null;
    }

    /// <summary>Instantiates a generic formatter, handing it the formatters of its element types.</summary>
    private IMsgPackFormatter? Build(Type definition, Type[] typeArguments, params Type[] elementTypes)
    {
        var elements = new object[elementTypes.Length];
        for (int i = 0; i < elementTypes.Length; i++)
        {
            if (!TryGetFormatter(elementTypes[i], out var element))
                return null;
            elements[i] = element;
        }
        return (IMsgPackFormatter)Activator.CreateInstance(definition.MakeGenericType(typeArguments), elements)!;
    }

    private IEnumerable<IMsgPackFormatter> BuiltIns() =>
    [
        new BooleanFormatter(), new SByteFormatter(), new ByteFormatter(), new Int16Formatter(), new UInt16Formatter(),
        new Int32Formatter(), new UInt32Formatter(), new Int64Formatter(), new UInt64Formatter(),
        new SingleFormatter(), new DoubleFormatter(), new CharFormatter(), new StringFormatter(), new ByteArrayFormatter(),
        new DateTimeFormatter(), new TimestampFormatter(), new TimeSpanFormatter(), new GuidFormatter(), new DecimalFormatter(),
        new MsgPackValueFormatter(), new ObjectFormatter(this),
    ];
}
