using Lab.Shared.MsgPack;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace Lab.Shared.Protocol;

/// <summary>
/// Encodes a HubMessage body exactly as the official server does (PROTOCOL-NOTES §2.4): Invocation and
/// StreamInvocation always with 6 elements, Completion with 4 or 5, Close always with 3.
/// </summary>
internal static class HubMessageWriter
{
    public static void Write(HubMessage message, MsgPackWriter writer, MsgPackSerializer serializer)
    {
        switch (message)
        {
            case InvocationMessage m:
                WriteInvocation(writer, serializer, HubMessageIds.Invocation, m, string.IsNullOrEmpty(m.InvocationId) ? null : m.InvocationId);
                break;
            case StreamInvocationMessage m:
                WriteInvocation(writer, serializer, HubMessageIds.StreamInvocation, m, m.InvocationId);
                break;
            case StreamItemMessage m:
                writer.WriteArrayHeader(4);
                writer.Write(HubMessageIds.StreamItem);
                WriteHeaders(writer, m.Headers);
                writer.WriteString(m.InvocationId);
                WriteValue(writer, serializer, m.Item);
                break;
            case CompletionMessage m:
                WriteCompletion(writer, serializer, m);
                break;
            case CancelInvocationMessage m:
                writer.WriteArrayHeader(3);
                writer.Write(HubMessageIds.CancelInvocation);
                WriteHeaders(writer, m.Headers);
                writer.WriteString(m.InvocationId);
                break;
            case PingMessage:
                writer.WriteArrayHeader(1);
                writer.Write(HubMessageIds.Ping);
                break;
            case CloseMessage m:
                writer.WriteArrayHeader(3);
                writer.Write(HubMessageIds.Close);
                writer.WriteString(string.IsNullOrEmpty(m.Error) ? null : m.Error);
                writer.Write(m.AllowReconnect);
                break;
            case AckMessage m:
                writer.WriteArrayHeader(2);
                writer.Write(HubMessageIds.Ack);
                writer.Write(m.SequenceId);
                break;
            case SequenceMessage m:
                writer.WriteArrayHeader(2);
                writer.Write(HubMessageIds.Sequence);
                writer.Write(m.SequenceId);
                break;
            default:
                throw new InvalidDataException($"Unexpected message type: {message.GetType().Name}");
        }
    }

    private static void WriteInvocation(MsgPackWriter writer, MsgPackSerializer serializer, int type, HubMethodInvocationMessage m, string? invocationId)
    {
        writer.WriteArrayHeader(6);
        writer.Write(type);
        WriteHeaders(writer, m.Headers);
        writer.WriteString(invocationId);
        writer.WriteString(m.Target);
        var arguments = m.Arguments ?? [];
        writer.WriteArrayHeader(arguments.Length);
        foreach (var argument in arguments)
            WriteValue(writer, serializer, argument);
        var streamIds = m.StreamIds ?? [];
        writer.WriteArrayHeader(streamIds.Length);
        foreach (var streamId in streamIds)
            writer.WriteString(streamId);
    }

    private static void WriteCompletion(MsgPackWriter writer, MsgPackSerializer serializer, CompletionMessage m)
    {
        int kind = m.Error is not null ? HubMessageIds.ErrorResult
            : m.HasResult ? HubMessageIds.NonVoidResult
            : HubMessageIds.VoidResult;
        writer.WriteArrayHeader(kind == HubMessageIds.VoidResult ? 4 : 5);
        writer.Write(HubMessageIds.Completion);
        WriteHeaders(writer, m.Headers);
        writer.WriteString(m.InvocationId);
        writer.Write(kind);
        if (kind == HubMessageIds.ErrorResult)
            writer.WriteString(m.Error);
        else if (kind == HubMessageIds.NonVoidResult)
            WriteValue(writer, serializer, m.Result);
    }

    private static void WriteHeaders(MsgPackWriter writer, IDictionary<string, string>? headers)
    {
        if (headers is null)
        {
            writer.WriteMapHeader(0);
            return;
        }
        writer.WriteMapHeader(headers.Count);
        foreach (var (key, value) in headers)
        {
            writer.WriteString(key);
            writer.WriteString(value);
        }
    }

    /// <summary>By runtime type; a RawResult is copied unchanged (it is already MessagePack).</summary>
    private static void WriteValue(MsgPackWriter writer, MsgPackSerializer serializer, object? value)
    {
        if (value is RawResult raw)
            writer.WriteRaw(raw.RawSerializedData);
        else
            serializer.Serialize(writer, value);
    }
}
