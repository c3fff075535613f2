namespace Lab.Shared.MsgPack;

// Formatters for generic shapes. They receive their element formatters when the serializer builds
// them, so reading and writing never look anything up. Every container read counts one nesting level.

internal sealed class NullableFormatter<T>(MsgPackFormatter<T> inner) : MsgPackFormatter<T?>
    where T : struct
{
    public override void Write(MsgPackWriter writer, T? value)
    {
        if (value.HasValue)
            inner.Write(writer, value.GetValueOrDefault());
        else
            writer.WriteNil();
    }

    public override T? Read(ref MsgPackReader reader) => reader.TryReadNil() ? null : inner.Read(ref reader);
}

/// <summary>T[] (other than byte[], which is bin) is an array; nil for null.</summary>
internal sealed class ArrayFormatter<T>(MsgPackFormatter<T> element) : MsgPackFormatter<T[]?>
{
    public override void Write(MsgPackWriter writer, T[]? value)
    {
        if (value is null)
        {
            writer.WriteNil();
            return;
        }
        writer.WriteArrayHeader(value.Length);
        foreach (var item in value)
            element.Write(writer, item);
    }

    public override T[]? Read(ref MsgPackReader reader)
    {
        if (reader.TryReadNil())
            return null;
        // Safe to allocate: the reader has checked the count against its limits and the bytes left.
        var items = new T[reader.ReadArrayHeader()];
        reader.EnterContainer();
        for (int i = 0; i < items.Length; i++)
            items[i] = element.Read(ref reader);
        reader.ExitContainer();
        return items;
    }
}

/// <summary>
/// List&lt;T&gt; and the read-only collection interfaces a method may declare (IList, IReadOnlyList,
/// ICollection, IReadOnlyCollection, IEnumerable); all read into a List&lt;T&gt;.
/// </summary>
internal sealed class ListFormatter<TCollection, T>(MsgPackFormatter<T> element) : MsgPackFormatter<TCollection?>
    where TCollection : class, IEnumerable<T>
{
    public override void Write(MsgPackWriter writer, TCollection? value)
    {
        if (value is null)
        {
            writer.WriteNil();
            return;
        }
        // The header needs the count up front; a lazy sequence is materialised once.
        var items = value as IReadOnlyCollection<T> ?? value.ToList();
        writer.WriteArrayHeader(items.Count);
        foreach (var item in items)
            element.Write(writer, item);
    }

    public override TCollection? Read(ref MsgPackReader reader)
    {
        if (reader.TryReadNil())
            return null;
        int count = reader.ReadArrayHeader();
        var items = new List<T>(count);
        reader.EnterContainer();
        for (int i = 0; i < count; i++)
            items.Add(element.Read(ref reader));
        reader.ExitContainer();
        return (TCollection)(object)items;
    }
}

/// <summary>Dictionary&lt;K,V&gt; and its interfaces are maps; duplicate keys are rejected, as in MessagePack-CSharp.</summary>
internal sealed class DictionaryFormatter<TDictionary, TKey, TValue>(MsgPackFormatter<TKey> key, MsgPackFormatter<TValue> value)
    : MsgPackFormatter<TDictionary?>
    where TDictionary : class, IEnumerable<KeyValuePair<TKey, TValue>>
    where TKey : notnull
{
    public override void Write(MsgPackWriter writer, TDictionary? map)
    {
        if (map is null)
        {
            writer.WriteNil();
            return;
        }
        var entries = map as IReadOnlyCollection<KeyValuePair<TKey, TValue>> ?? map.ToList();
        writer.WriteMapHeader(entries.Count);
        foreach (var (k, v) in entries)
        {
            key.Write(writer, k);
            value.Write(writer, v);
        }
    }

    public override TDictionary? Read(ref MsgPackReader reader)
    {
        if (reader.TryReadNil())
            return null;
        int count = reader.ReadMapHeader();
        var map = new Dictionary<TKey, TValue>(count);
        reader.EnterContainer();
        for (int i = 0; i < count; i++)
        {
            int keyStart = reader.Position;
            var k = key.Read(ref reader)
                ?? throw new MsgPackException(MsgPackErrorKind.InvalidValue, keyStart, "a nil map key cannot be represented");
            if (!map.TryAdd(k, value.Read(ref reader)))
                throw new MsgPackException(MsgPackErrorKind.InvalidValue, keyStart, $"duplicate map key {k}");
        }
        reader.ExitContainer();
        return (TDictionary)(object)map;
    }
}

/// <summary>Adapts an <see cref="IMsgPackSerializable{TSelf}"/> type; null reference values travel as nil.</summary>
internal sealed class SerializableFormatter<T> : MsgPackFormatter<T>
    where T : IMsgPackSerializable<T>
{
    public override void Write(MsgPackWriter writer, T value)
    {
        if (value is null)
            writer.WriteNil();
        else
            value.WriteTo(writer);
    }

    public override T Read(ref MsgPackReader reader)
    {
        if (!typeof(T).IsValueType && reader.TryReadNil())
            return default!;
        // Counted here so that recursive wire types are depth-limited without each one remembering to.
        reader.EnterContainer();
        var value = T.ReadFrom(ref reader);
        reader.ExitContainer();
        return value;
    }
}
