using System.Buffers;

namespace Lab.Shared.MsgPack;

/// <summary>
/// Presents a <see cref="ReadOnlySequence{T}"/> as one span for <see cref="MsgPackReader"/>: a single
/// segment is used in place, several segments are copied once into a pooled array (returned on
/// Dispose). Reading from one span keeps the reader simple and fast; the copy is bounded because
/// callers check the length against their message limit first, and only happens when a frame
/// straddles pipe segments.
/// </summary>
public ref struct ContiguousBytes
{
    private byte[]? _rented;

    public ContiguousBytes(in ReadOnlySequence<byte> bytes)
    {
        if (bytes.IsSingleSegment)
        {
            Span = bytes.FirstSpan;
            return;
        }
        if (bytes.Length > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(bytes), bytes.Length, "Too large for one contiguous buffer.");
        int length = (int)bytes.Length;
        _rented = ArrayPool<byte>.Shared.Rent(length);
        bytes.CopyTo(_rented);
        Span = _rented.AsSpan(0, length);
    }

    public ReadOnlySpan<byte> Span { get; private set; }

    public void Dispose()
    {
        if (_rented is not null)
        {
            ArrayPool<byte>.Shared.Return(_rented);
            _rented = null;
            Span = default;
        }
    }
}
