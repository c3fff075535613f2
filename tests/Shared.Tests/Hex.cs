using System.Buffers;
using Lab.Shared.MsgPack;

namespace Lab.Shared.Tests;

/// <summary>Hex helpers so vectors can be written as in PROTOCOL-NOTES ("cd 01 2c").</summary>
internal static class Hex
{
    public static byte[] Bytes(string hex) => Convert.FromHexString(hex.Replace(" ", "").Replace("\n", ""));

    public static string Of(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    /// <summary>Hex of what <paramref name="write"/> produces, lower case without spaces.</summary>
    public static string Written(Action<MsgPackWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        write(new MsgPackWriter(buffer));
        return Of(buffer.WrittenSpan);
    }

    public static string Norm(string hex) => hex.Replace(" ", "").ToLowerInvariant();
}
