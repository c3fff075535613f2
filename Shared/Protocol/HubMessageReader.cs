using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Text;
using Lab.Shared.MsgPack;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace Lab.Shared.Protocol;

/// <summary>
/// Decodes one message body (the bytes inside a frame) into a HubMessage, following the official
/// worker: structural problems throw <see cref="InvalidDataException"/> (or <see cref="MsgPackException"/>,
/// which the protocol wraps into one), while argument, stream-item and result binding failures become
/// the binding-failure messages the dispatcher answers with an error completion. Trailing array
/// elements are ignored so newer peers may append fields.
/// </summary>
internal static class HubMessageReader
{
    /// <summary>Null for a message type this protocol does not know (the spec says: ignore it).</summary>
    public static HubMessage? Read(ReadOnlySpan<byte> body, IInvocationBinder binder, MsgPackSerializer serializer)
    {
        var reader = new MsgPackReader(body, serializer.Limits);
        int count = reader.ReadArrayHeader();
        if (count == 0)
            throw new InvalidDataException("A hub message must be a non-empty array.");
        reader.EnterContainer();
        int type = reader.ReadInt32();
        return type switch
        {
            HubMessageIds.Invocation => ReadInvocation(ref reader, count, binder, serializer, streaming: false),
            HubMessageIds.StreamInvocation => ReadInvocation(ref reader, count, binder, serializer, streaming: true),
            HubMessageIds.StreamItem => ReadStreamItem(ref reader, count, binder, serializer),
            HubMessageIds.Completion => ReadCompletion(ref reader, count, binder, serializer),
            HubMessageIds.CancelInvocation => ReadCancelInvocation(ref reader, count),
            HubMessageIds.Ping => PingMessage.Instance,
            HubMessageIds.Close => ReadClose(ref reader, count),
            HubMessageIds.Ack => new AckMessage(ReadSequenceId(ref reader, count, "Ack")),
            HubMessageIds.Sequence => new SequenceMessage(ReadSequenceId(ref reader, count, "Sequence")),
            _ => null,
        };
    }

    private static HubMessage ReadInvocation(ref MsgPackReader reader, int count, IInvocationBinder binder, MsgPackSerializer serializer, bool streaming)
    {
        string kind = streaming ? "StreamInvocation" : "Invocation";
        RequireCount(count, 5, kind);
        var headers = ReadHeaders(ref reader);
        var invocationId = ReadInvocationId(ref reader);
        if (streaming && invocationId is null)
            throw new InvalidDataException("Null or empty invocation ID for StreamInvocation message.");
        var targetBytes = reader.ReadStringBytes();
        var target = binder.GetTarget(targetBytes) ?? Encoding.UTF8.GetString(targetBytes);

        object?[] arguments;
        try
        {
            arguments = ReadArguments(ref reader, binder.GetParameterTypes(target), serializer);
        }
        catch (Exception ex)
        {
            // Not a connection error: the dispatcher answers "Failed to invoke '<target>' ..." (PROTOCOL-NOTES §2.11).
            return new InvocationBindingFailureMessage(invocationId, target, ExceptionDispatchInfo.Capture(ex));
        }

        // The JS client leaves StreamIds out when it has no upload streams.
        var streamIds = count > 5 ? ReadStreamIds(ref reader) : null;
        HubMethodInvocationMessage message = streaming
            ? new StreamInvocationMessage(invocationId!, target, arguments, streamIds)
            : new InvocationMessage(invocationId, target, arguments, streamIds);
        message.Headers = headers;
        return message;
    }

    private static HubMessage ReadStreamItem(ref MsgPackReader reader, int count, IInvocationBinder binder, MsgPackSerializer serializer)
    {
        RequireCount(count, 4, "StreamItem");
        var headers = ReadHeaders(ref reader);
        var streamId = ReadRequiredId(ref reader, "StreamItem");
        object? item;
        try
        {
            item = ReadValue(ref reader, binder.GetStreamItemType(streamId), serializer);
        }
        catch (Exception ex)
        {
            return new StreamBindingFailureMessage(streamId, ExceptionDispatchInfo.Capture(ex));
        }
        return new StreamItemMessage(streamId, item) { Headers = headers };
    }

    private static HubMessage ReadCompletion(ref MsgPackReader reader, int count, IInvocationBinder binder, MsgPackSerializer serializer)
    {
        RequireCount(count, 4, "Completion");
        var headers = ReadHeaders(ref reader);
        var invocationId = ReadRequiredId(ref reader, "Completion");
        int resultKind = reader.ReadInt32();
        string? error = null;
        object? result = null;
        bool hasResult = false;
        switch (resultKind)
        {
            case HubMessageIds.ErrorResult:
                RequireCount(count, 5, "Completion");
                error = reader.ReadString();
                break;
            case HubMessageIds.VoidResult:
                break;
            case HubMessageIds.NonVoidResult:
                RequireCount(count, 5, "Completion");
                hasResult = true;
                var resultType = TryGetReturnType(binder, invocationId);
                if (resultType is null)
                {
                    // A result for an invocation nobody waits for: drop it (official ProtocolHelper.TryGetReturnType).
                    reader.Skip();
                    break;
                }
                try
                {
                    result = ReadValue(ref reader, resultType, serializer);
                }
                catch (Exception ex)
                {
                    error = $"Error trying to deserialize result to {resultType.Name}. {ex.Message}";
                    hasResult = false;
                }
                break;
            default:
                throw new InvalidDataException("Invalid invocation result kind.");
        }
        return new CompletionMessage(invocationId, error, result, hasResult) { Headers = headers };
    }

    private static HubMessage ReadCancelInvocation(ref MsgPackReader reader, int count)
    {
        RequireCount(count, 3, "CancelInvocation");
        var headers = ReadHeaders(ref reader);
        return new CancelInvocationMessage(ReadRequiredId(ref reader, "CancelInvocation")) { Headers = headers };
    }

    private static HubMessage ReadClose(ref MsgPackReader reader, int count)
    {
        // The official server writes 3 elements, the JS client 2 ([7, nil]); Close has no headers.
        RequireCount(count, 2, "Close");
        var error = reader.ReadString();
        bool allowReconnect = count > 2 && reader.ReadBoolean();
        return error is null && !allowReconnect ? CloseMessage.Empty : new CloseMessage(error, allowReconnect);
    }

    private static long ReadSequenceId(ref MsgPackReader reader, int count, string kind)
    {
        RequireCount(count, 2, kind);
        return reader.ReadInt64();
    }

    private static object?[] ReadArguments(ref MsgPackReader reader, IReadOnlyList<Type> parameterTypes, MsgPackSerializer serializer)
    {
        int count = reader.ReadArrayHeader();
        if (count != parameterTypes.Count)
            throw new InvalidDataException($"Invocation provides {count} argument(s) but target expects {parameterTypes.Count}.");
        if (count == 0)
            return [];
        var arguments = new object?[count];
        reader.EnterContainer();
        for (int i = 0; i < count; i++)
            arguments[i] = ReadValue(ref reader, parameterTypes[i], serializer);
        reader.ExitContainer();
        return arguments;
    }

    /// <summary>One argument, item or result; RawResult keeps the bytes for forwarding (scale-out).</summary>
    private static object? ReadValue(ref MsgPackReader reader, Type type, MsgPackSerializer serializer) =>
        type == typeof(RawResult)
            ? new RawResult(new ReadOnlySequence<byte>(reader.ReadRaw().ToArray()))
            : serializer.Deserialize(ref reader, type);

    private static Type? TryGetReturnType(IInvocationBinder binder, string invocationId)
    {
        try
        {
            return binder.GetReturnType(invocationId);
        }
        catch (Exception)
        {
            // The binder throws for an id it does not know; that is not a protocol error.
            return null;
        }
    }

    /// <summary>Headers at index 1; null (not empty) when there are none, as the official reader does.</summary>
    private static Dictionary<string, string>? ReadHeaders(ref MsgPackReader reader)
    {
        int count = reader.ReadMapHeader();
        if (count == 0)
            return null;
        var headers = new Dictionary<string, string>(count, StringComparer.Ordinal);
        reader.EnterContainer();
        for (int i = 0; i < count; i++)
        {
            var key = reader.ReadString();
            if (string.IsNullOrEmpty(key))
                throw new InvalidDataException("Null or empty key in header.");
            var value = reader.ReadString();
            if (string.IsNullOrEmpty(value))
                throw new InvalidDataException("Null or empty value in header.");
            headers[key] = value;
        }
        reader.ExitContainer();
        return headers;
    }

    /// <summary>An empty id means the same as nil: a non-blocking invocation.</summary>
    private static string? ReadInvocationId(ref MsgPackReader reader)
    {
        var id = reader.ReadString();
        return string.IsNullOrEmpty(id) ? null : id;
    }

    private static string ReadRequiredId(ref MsgPackReader reader, string kind) =>
        ReadInvocationId(ref reader) ?? throw new InvalidDataException($"Null or empty invocation ID for {kind} message.");

    private static string[]? ReadStreamIds(ref MsgPackReader reader)
    {
        int count = reader.ReadArrayHeader();
        if (count == 0)
            return null;
        var ids = new string[count];
        for (int i = 0; i < count; i++)
            ids[i] = reader.ReadString() ?? throw new InvalidDataException("Null stream ID.");
        return ids;
    }

    private static void RequireCount(int count, int minimum, string kind)
    {
        if (count < minimum)
            throw new InvalidDataException($"Invalid {kind} message: it has {count} elements, at least {minimum} are required.");
    }
}
