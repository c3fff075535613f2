using Lab.Shared.Wire;

namespace Lab.TuiClient.App;

/// <summary>
/// Where the TUI's picture of a session comes from: a server (<see cref="RemoteSession"/>) or a machine
/// hosted in this process (`tui local` starts <see cref="LocalServer"/> and connects to it). Both keep a <see cref="SessionMirror"/> that the
/// panes draw, so the UI is the same either way.
/// </summary>
public interface ISessionSource : IAsyncDisposable
{
    string SessionName { get; }
    SessionMirror Mirror { get; }
    /// <summary>"connected", "reconnecting…", "reconnected", "disconnected: …", "removed from the session by NAME" or "local".</summary>
    string ConnectionStatus { get; }
    /// <summary>Raised (on any thread) after a frame was applied or the connection status changed.</summary>
    event Action? Changed;
    Task KeyAsync(char key);
    /// <summary>Types several keys at once (typing ahead or a paste): one request, in order.</summary>
    Task TypeAsync(string keys);
    /// <summary>Runs a session command; returns the confirmation or throws <see cref="CommandFailedException"/> with the reason.</summary>
    Task<string> CommandAsync(string command);
    /// <summary>Asks for the virtual memory map of a pid in the frames (0: none).</summary>
    Task ViewMemoryAsync(int pid);
    /// <summary>Asks for every system call (with arguments and results) of these pids in the event log.</summary>
    Task WatchAsync(int[] pids);
    /// <summary>The session and who this client is in it; for an instructor also the join code (private
    /// sessions) and the instructor key. Throws <see cref="CommandFailedException"/> with the reason.</summary>
    Task<SessionInfo> InfoAsync();
}

/// <summary>A command or key the session refused; the message says why (shown on the status line).</summary>
public sealed class CommandFailedException(string message) : Exception(message);
