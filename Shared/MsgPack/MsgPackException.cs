namespace Lab.Shared.MsgPack;

/// <summary>What was wrong with MessagePack input.</summary>
public enum MsgPackErrorKind
{
    /// <summary>The input ended in the middle of a value.</summary>
    Truncated,
    /// <summary>A format byte that the spec does not define (0xc1).</summary>
    InvalidCode,
    /// <summary>A well-formed value of another type than the one asked for.</summary>
    TypeMismatch,
    /// <summary>A number that does not fit the target type.</summary>
    Overflow,
    /// <summary>A size, count or nesting depth beyond the configured <see cref="MsgPackLimits"/>.</summary>
    LimitExceeded,
    /// <summary>A value of the right type whose content is invalid (e.g. timestamp nanoseconds ≥ 10^9).</summary>
    InvalidValue,
}

/// <summary>
/// The one exception the codec throws for bad input. It is thrown only at the codec boundary: the hub
/// protocol catches it and turns it into what SignalR expects (a binding failure or InvalidDataException),
/// so untrusted bytes can never raise anything else from inside the codec.
/// </summary>
public sealed class MsgPackException : Exception
{
    public MsgPackException(MsgPackErrorKind kind, int offset, string message)
        : base($"MessagePack: {message} (at byte offset {offset}).")
    {
        Kind = kind;
        Offset = offset;
    }

    public MsgPackErrorKind Kind { get; }

    /// <summary>Offset in the reader's input where the offending value starts.</summary>
    public int Offset { get; }
}
