using Microsoft.AspNetCore.SignalR;

namespace Lab.Server.Hubs;

/// <summary>
/// How hub failures reach the server log. A refusal (a <see cref="HubException"/>: a viewer's key, a
/// wrong code, a rate limit) is expected: it is one Information line without a stack trace, and a
/// connection that keeps being refused gets one line per <see cref="RefusalLog.Window"/> with the
/// count. Anything else is our bug and is logged as an error with its stack trace. (SignalR's own
/// dispatcher log, which reports every failure as an error with a stack trace, is filtered out in
/// <see cref="LabServerHost"/>.)
/// </summary>
public sealed class RefusalLogFilter : IHubFilter
{
    private readonly ConnectionTracker _connections;
    private readonly ILogger<RefusalLogFilter> _log;

    public RefusalLogFilter(ConnectionTracker connections, ILogger<RefusalLogFilter> log)
    {
        _connections = connections;
        _log = log;
    }

    public async ValueTask<object?> InvokeMethodAsync(HubInvocationContext context, Func<HubInvocationContext, ValueTask<object?>> next)
    {
        try
        {
            return await next(context);
        }
        catch (HubException e)
        {
            string id = context.Context.ConnectionId;
            if (_connections.Get(id).Refusals.ShouldLog(DateTime.UtcNow, out long suppressed))
                _log.LogInformation("refused {Method} from connection {Connection} ({Address}): {Reason}{Suppressed}", context.HubMethodName, id,
                    context.Context.GetHttpContext()?.Connection.RemoteIpAddress, e.Message,
                    suppressed > 0 ? $" ({suppressed} more refusals of this connection not logged)" : "");
            throw;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _log.LogError(e, "hub method {Method} failed for connection {Connection}", context.HubMethodName, context.Context.ConnectionId);
            throw;
        }
    }
}

/// <summary>Per connection: log a refusal when none was logged in the last <see cref="Window"/>, else count it.</summary>
public sealed class RefusalLog
{
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    private DateTime _loggedAt = DateTime.MinValue;
    private long _suppressed;

    public bool ShouldLog(DateTime now, out long suppressed)
    {
        lock (this)
        {
            suppressed = 0;
            if (now - _loggedAt < Window)
            {
                _suppressed++;
                return false;
            }
            _loggedAt = now;
            suppressed = _suppressed;
            _suppressed = 0;
            return true;
        }
    }
}
