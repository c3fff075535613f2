using Lab.Shared.Wire;
using Lab.TuiClient.Net;

namespace Lab.Server.Tests;

/// <summary>A real client: the official SignalR .NET client (through the TUI's LabClient) over a WebSocket, mirroring the session from its frames.</summary>
public sealed class TestClient : IAsyncDisposable
{
    /// <summary>The hub, typed: every hub method by its contract name.</summary>
    public LabClient Hub { get; }
    public SessionMirror Mirror { get; } = new();
    public JoinResult? Joined { get; private set; }
    private readonly SemaphoreSlim _frameArrived = new(0);

    private TestClient(string url)
    {
        Hub = new LabClient(url, reconnect: false);
        Hub.OnFrame(frame =>
        {
            Mirror.Apply(frame);
            _frameArrived.Release();
        });
        Hub.OnRemoved(by => RemovedBy.TrySetResult(by));
    }

    /// <summary>Completes with the instructor's name when the server says this client was removed (client method Removed).</summary>
    public TaskCompletionSource<string> RemovedBy { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<TestClient> ConnectAsync(string url)
    {
        var c = new TestClient(url);
        await c.Hub.StartAsync();
        return c;
    }

    public async Task<JoinResult> JoinAsync(string session, string name, string? code = null)
    {
        Joined = await Hub.Join(session, name, code);
        return Joined;
    }

    public Task KeyAsync(string key) => Hub.Key(key);
    public Task<string> CommandAsync(string command) => Hub.Command(command);

    /// <summary>Waits until <paramref name="condition"/> holds for the mirror (checked after each frame).</summary>
    public async Task WaitForAsync(Func<SessionMirror, bool> condition, string what, int timeoutSeconds = 60)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(timeoutSeconds);
        while (!condition(Mirror))
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"timed out waiting for {what} (tick {Mirror.Tick}, {Mirror.FramesApplied} frames); the screen shows:\n"
                + string.Join("\n", Mirror.ScreenText().Select(l => l.TrimEnd())).TrimEnd());
            await _frameArrived.WaitAsync(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
        }
    }

    public async ValueTask DisposeAsync() => await Hub.DisposeAsync();
}
