using Microsoft.AspNetCore.SignalR;

namespace Lab.Shared.Client;

/// <summary>
/// The server answered an invocation (or ended a stream) with an error Completion. <see cref="Exception.Message"/>
/// and <see cref="ServerError"/> hold the server's text unchanged, e.g. "An unexpected error occurred invoking 'X'
/// on the server. HubException: boom". Derives from <see cref="HubException"/> like the official client's error.
/// </summary>
public sealed class HubInvocationException : HubException
{
    public HubInvocationException(string method, string serverError)
        : base(serverError)
    {
        Method = method;
        ServerError = serverError;
    }

    /// <summary>The hub method that failed.</summary>
    public string Method { get; }

    /// <summary>The error text from the Completion message.</summary>
    public string ServerError { get; }
}

/// <summary>
/// The connection went away (dropped, timed out, closed by the server, or stopped) while an invocation or
/// stream was pending, or a call was made while no connection was active. The inner exception, if any, is
/// the reason the transport ended.
/// </summary>
public sealed class HubConnectionLostException : Exception
{
    public HubConnectionLostException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>The server sent a Close message carrying an error.</summary>
public sealed class HubServerClosedException : Exception
{
    public HubServerClosedException(string serverError, bool allowReconnect)
        : base($"The server closed the connection with the following error: {serverError}")
    {
        ServerError = serverError;
        AllowReconnect = allowReconnect;
    }

    public string ServerError { get; }

    public bool AllowReconnect { get; }
}

/// <summary>Connecting failed: negotiate, WebSocket upgrade or handshake (including a handshake error from the server).</summary>
public sealed class HubConnectFailedException : Exception
{
    public HubConnectFailedException(string message, Exception? innerException = null, string? serverError = null)
        : base(message, innerException)
    {
        ServerError = serverError;
    }

    /// <summary>The "error" text of a negotiate or handshake response, when the server sent one.</summary>
    public string? ServerError { get; }
}
