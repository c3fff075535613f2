using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using Lab.Shared.MsgPack;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace Lab.Shared.Protocol;

/// <summary>
/// SignalR's "messagepack" hub protocol, byte-compatible with Microsoft.AspNetCore.SignalR.Protocols.MessagePack
/// so the official JS client connects unchanged. Each message is a varint length prefix and one
/// MessagePack array (PROTOCOL-NOTES §2). A singleton shared by all connections: it holds only
/// immutable state and the serializer's thread-safe cache.
/// </summary>
public sealed class MsgPackHubProtocol : IHubProtocol
{
    public const string ProtocolName = "messagepack";

    /// <summary>Version 2 adds Ack/Sequence (stateful reconnect); the JS client usually asks for 1.</summary>
    public const int ProtocolVersion = 2;

    private readonly MsgPackSerializer _serializer;

    public MsgPackHubProtocol()
        : this(new MsgPackSerializer())
    {
    }

    public MsgPackHubProtocol(MsgPackSerializer serializer) =>
        _serializer = serializer ?? throw new ArgumentNullException(nameof(serializer));

    public string Name => ProtocolName;

    public int Version => ProtocolVersion;

    public TransferFormat TransferFormat => TransferFormat.Binary;

    public MsgPackSerializer Serializer => _serializer;

    public bool IsVersionSupported(int version) => version <= ProtocolVersion;

    /// <summary>
    /// Parses the next complete frame. Returns false, leaving <paramref name="input"/> at the first
    /// incomplete frame, when more data is needed (SignalR then applies MaximumReceiveMessageSize).
    /// Frames of unknown message types are consumed and skipped here rather than reported as false,
    /// which could stall the server's read loop. Malformed input throws InvalidDataException, which
    /// the server turns into a Close with an error; nothing else escapes.
    /// </summary>
    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [NotNullWhen(true)] out HubMessage? message)
    {
        while (LengthPrefix.TryRead(input, out int prefixLength, out int bodyLength))
        {
            // Checked before waiting for the body, so a hostile prefix cannot make us buffer 2 GB.
            if (bodyLength > _serializer.Limits.MaxMessageBytes)
                throw new InvalidDataException(
                    $"The message size of {bodyLength} bytes exceeds the protocol limit of {_serializer.Limits.MaxMessageBytes} bytes.");
            long frameLength = (long)prefixLength + bodyLength;
            if (input.Length < frameLength)
                break;

            var body = input.Slice(prefixLength, bodyLength);
            message = ReadBody(body, binder);
            input = input.Slice(frameLength);
            if (message is not null)
                return true;
        }
        message = null;
        return false;
    }

    public void WriteMessage(HubMessage message, IBufferWriter<byte> output)
    {
        using var body = Serialize(message);
        Span<byte> prefix = stackalloc byte[LengthPrefix.MaxLength];
        output.Write(prefix[..LengthPrefix.Write(prefix, body.WrittenCount)]);
        output.Write(body.WrittenSpan);
    }

    /// <summary>The framed bytes (prefix and body) in a new array: SignalR caches these per broadcast.</summary>
    public ReadOnlyMemory<byte> GetMessageBytes(HubMessage message)
    {
        using var body = Serialize(message);
        Span<byte> prefix = stackalloc byte[LengthPrefix.MaxLength];
        int prefixLength = LengthPrefix.Write(prefix, body.WrittenCount);
        var framed = new byte[prefixLength + body.WrittenCount];
        prefix[..prefixLength].CopyTo(framed);
        body.WrittenSpan.CopyTo(framed.AsSpan(prefixLength));
        return framed;
    }

    private HubMessage? ReadBody(in ReadOnlySequence<byte> body, IInvocationBinder binder)
    {
        using var bytes = new ContiguousBytes(body);
        try
        {
            return HubMessageReader.Read(bytes.Span, binder, _serializer);
        }
        catch (MsgPackException ex)
        {
            // The codec's own error type stops here; SignalR expects InvalidDataException for bad frames.
            throw new InvalidDataException($"Invalid MessagePack hub message: {ex.Message}", ex);
        }
    }

    private PooledBufferWriter Serialize(HubMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var body = new PooledBufferWriter();
        try
        {
            HubMessageWriter.Write(message, new MsgPackWriter(body), _serializer);
            return body;
        }
        catch
        {
            body.Dispose();
            throw;
        }
    }
}
