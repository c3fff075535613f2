namespace Lab.Shared.MsgPack;

/// <summary>
/// Hard limits applied while reading untrusted input. Every length and count is checked against these
/// and against the bytes actually present before anything is allocated, so a header that claims 2^32
/// elements fails at once instead of allocating. Immutable; derive variants with <c>with { ... }</c>.
/// </summary>
public sealed record MsgPackLimits
{
    /// <summary>Defaults sized for hub traffic; the official server's UntrustedData mode allows depth 500.</summary>
    public static MsgPackLimits Default { get; } = new();

    /// <summary>Maximum nesting of arrays and maps (a top-level array is depth 1).</summary>
    public int MaxDepth { get; init; } = 100;

    /// <summary>Maximum UTF-8 length of one string.</summary>
    public int MaxStringBytes { get; init; } = 1 << 20;

    /// <summary>Maximum length of one bin value or ext payload.</summary>
    public int MaxBinaryBytes { get; init; } = 16 << 20;

    /// <summary>Maximum elements of one array, or key/value pairs of one map.</summary>
    public int MaxCollectionLength { get; init; } = 1 << 20;

    /// <summary>Maximum size of one whole message (a reader's input, or one hub frame body).</summary>
    public int MaxMessageBytes { get; init; } = 32 << 20;
}
