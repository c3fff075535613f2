using System.Security.Cryptography;

namespace Lab.Kernel.Common;

/// <summary>A write-only stream that passes everything on to <paramref name="inner"/> (left open)
/// and keeps the SHA-256 of it, so a snapshot is hashed as it is written.</summary>
public sealed class HashingStream(Stream inner) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private byte[]? _final;

    /// <summary>The hash of everything written (also after disposal: a BufferedStream on top
    /// disposes this stream when it is disposed).</summary>
    public byte[] Hash() => _final ?? _hash.GetCurrentHash();

    /// <summary>The SHA-256 of the next <paramref name="length"/> bytes of <paramref name="input"/>,
    /// read in chunks (EndOfStreamException when it is shorter).</summary>
    public static byte[] HashOf(Stream input, long length)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            while (length > 0)
            {
                int n = input.Read(chunk, 0, (int)Math.Min(chunk.Length, length));
                if (n == 0) throw new EndOfStreamException("snapshot truncated");
                hash.AppendData(chunk, 0, n);
                length -= n;
            }
        }
        finally { System.Buffers.ArrayPool<byte>.Shared.Return(chunk); }
        return hash.GetCurrentHash();
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        inner.Write(buffer);
        _hash.AppendData(buffer);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void WriteByte(byte value) => Write([value]);
    public override void Flush() => inner.Flush();
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && _final is null)
        {
            _final = _hash.GetHashAndReset();
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }
}
