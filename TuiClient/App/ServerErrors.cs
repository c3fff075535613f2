namespace Lab.TuiClient.App;

/// <summary>SignalR wraps a hub's refusal as "An unexpected error occurred invoking 'X' on the server. HubException: reason"; people need only the reason.</summary>
public static class ServerErrors
{
    public static string Reason(string serverError)
    {
        const string marker = "HubException: ";
        int i = serverError.IndexOf(marker, StringComparison.Ordinal);
        return i >= 0 ? serverError[(i + marker.Length)..] : serverError;
    }

    /// <summary>The innermost exception: the one that says what actually failed (connection refused, ...).</summary>
    public static Exception Innermost(Exception e)
    {
        while (e.InnerException != null) e = e.InnerException;
        return e;
    }
}
