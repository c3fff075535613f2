using System.Threading.Channels;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace Lab.Shared.Client;

/// <summary>An invocation or server stream waiting for its Completion, keyed by invocation id in the session.</summary>
internal abstract class PendingCall(string method)
{
    public string Method { get; } = method;

    public abstract void Complete(CompletionMessage completion);

    public abstract void Fail(Exception error);
}

/// <summary>InvokeAsync: one Completion carries the result (typed by the binder) or the server's error.</summary>
internal sealed class PendingInvocation(string method, Type resultType) : PendingCall(method)
{
    private readonly TaskCompletionSource<object?> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Type ResultType { get; } = resultType;

    public Task<object?> Result => _result.Task;

    public override void Complete(CompletionMessage completion)
    {
        if (completion.Error is { } error)
            _result.TrySetException(new HubInvocationException(Method, error));
        else
            _result.TrySetResult(completion.HasResult ? completion.Result : null);
    }

    public override void Fail(Exception error) => _result.TrySetException(error);
}

/// <summary>
/// StreamAsync: items arrive as StreamItem messages and go into an unbounded channel (like the official
/// client: the receive loop must never wait for a slow consumer, or pings and completions would stall).
/// The terminal error, if any, is kept here rather than in the channel so the reader sees our exception type.
/// </summary>
internal sealed class PendingStream(string method, Type itemType) : PendingCall(method)
{
    private readonly Channel<object?> _items = Channel.CreateUnbounded<object?>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = false });
    private volatile Exception? _error;
    private volatile bool _completed;

    public Type ItemType { get; } = itemType;

    public ChannelReader<object?> Items => _items.Reader;

    /// <summary>Set once the server ended the stream (Completion) or the connection failed it.</summary>
    public bool IsCompleted => _completed;

    public Exception? Error => _error;

    public void Write(object? item) => _items.Writer.TryWrite(item);

    public override void Complete(CompletionMessage completion)
    {
        if (completion.Error is { } error)
            Fail(new HubInvocationException(Method, error));
        else
        {
            _completed = true;
            _items.Writer.TryComplete();
        }
    }

    public override void Fail(Exception error)
    {
        _error ??= error;
        _completed = true;
        _items.Writer.TryComplete();
    }
}
