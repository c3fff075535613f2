using System.Buffers;

namespace Lab.Shared.Protocol;

/// <summary>
/// SignalR's binary framing (BinaryMessageFormatter/Parser): each message is preceded by its length as
/// an unsigned LEB128 varint of 1..5 bytes, 7 bits per byte, least significant group first, at most
/// 0x7FFFFFFF.
/// </summary>
public static class LengthPrefix
{
    public const int MaxLength = 5;

    /// <summary>
    /// Reads the prefix at the start of <paramref name="input"/>. False when the prefix itself is not
    /// complete yet; InvalidDataException when it encodes more than 2 GB (the official message).
    /// </summary>
    public static bool TryRead(in ReadOnlySequence<byte> input, out int prefixLength, out int bodyLength)
    {
        var first = input.FirstSpan;
        // Fast path: the whole prefix sits in the first segment (nearly always).
        var window = first.Length >= MaxLength || input.IsSingleSegment ? first : CopyHead(input, stackalloc byte[MaxLength]);
        uint length = 0;
        int count = 0;
        byte current;
        do
        {
            if (count == window.Length)
            {
                prefixLength = bodyLength = 0;
                return false;
            }
            current = window[count];
            length |= (uint)(current & 0x7f) << (count * 7);
            count++;
        }
        while (count < MaxLength && (current & 0x80) != 0);

        if (count == MaxLength && current > 7)
            throw new InvalidDataException("Messages over 2GB in size are not supported.");
        prefixLength = count;
        bodyLength = (int)length;
        return true;
    }

    /// <summary>Writes the prefix for <paramref name="length"/> into <paramref name="destination"/> (≥ 5 bytes); returns its size.</summary>
    public static int Write(Span<byte> destination, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        uint rest = (uint)length;
        int count = 0;
        do
        {
            byte current = (byte)(rest & 0x7f);
            rest >>= 7;
            if (rest != 0)
                current |= 0x80;
            destination[count++] = current;
        }
        while (rest != 0);
        return count;
    }

    private static ReadOnlySpan<byte> CopyHead(in ReadOnlySequence<byte> input, Span<byte> buffer)
    {
        var head = input.Slice(0, Math.Min(input.Length, buffer.Length));
        head.CopyTo(buffer);
        return buffer[..(int)head.Length];
    }
}
