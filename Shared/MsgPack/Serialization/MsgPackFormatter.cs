namespace Lab.Shared.MsgPack;

/// <summary>
/// Converts one .NET type to and from MessagePack. The non-generic face lets the hub protocol bind
/// arguments whose type is only known at run time (the invocation binder hands out <see cref="System.Type"/>s);
/// formatters themselves are written against <see cref="MsgPackFormatter{T}"/>.
/// Formatters must be stateless or immutable: one instance serves every connection at once.
/// </summary>
public interface IMsgPackFormatter
{
    Type Type { get; }

    void WriteObject(MsgPackWriter writer, object? value);

    object? ReadObject(ref MsgPackReader reader);
}

/// <summary>Base class of typed formatters. Read methods report bad input only as <see cref="MsgPackException"/>.</summary>
public abstract class MsgPackFormatter<T> : IMsgPackFormatter
{
    public Type Type => typeof(T);

    public abstract void Write(MsgPackWriter writer, T value);

    public abstract T Read(ref MsgPackReader reader);

    void IMsgPackFormatter.WriteObject(MsgPackWriter writer, object? value) => Write(writer, (T)value!);

    object? IMsgPackFormatter.ReadObject(ref MsgPackReader reader) => Read(ref reader);
}

/// <summary>
/// The plug-in point for our own wire types (frames, diffs, snapshots): a type that implements this is
/// serializable by <see cref="MsgPackSerializer"/> without registration. Implementations choose their
/// own layout; the convention for frames is an array (or a map with small integer keys) so fields stay
/// compact and can be appended later (readers skip what they do not know). Reference types may be null:
/// the serializer writes and reads nil for them, so implementations never see null.
/// </summary>
public interface IMsgPackSerializable<TSelf>
    where TSelf : IMsgPackSerializable<TSelf>
{
    void WriteTo(MsgPackWriter writer);

    /// <summary>Reads one value; the serializer has already counted one nesting level for it.</summary>
    static abstract TSelf ReadFrom(ref MsgPackReader reader);
}
