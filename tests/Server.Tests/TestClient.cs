using Lab.Shared.Client;
using Lab.Shared.Wire;

namespace Lab.Server.Tests;

/// <summary>A real client: our .NET hub connection over a WebSocket, mirroring the session from its frames.</summary>
public sealed class TestClient : IAsyncDisposable
{
    public LabHubConnection Connection { get; }
    public SessionMirror Mirror { get; } = new();
    public JoinResult? Joined { get; private set; }
    private readonly SemaphoreSlim _frameArrived = new(0);

    private TestClient(string url)
    {
        Connection = new LabHubConnection(url + "/hubs/lab");
        Connection.On("Frame", [typeof(Frame)], args =>
        {
            Mirror.Apply((Frame)args[0]!);
            _frameArrived.Release();
            return Task.CompletedTask;
        });
    }

    public static async Task<TestClient> ConnectAsync(string url)
    {
        var c = new TestClient(url);
        await c.Connection.StartAsync();
        return c;
    }

    public async Task<JoinResult> JoinAsync(string session, string name, string? code = null)
    {
        Joined = await Connection.InvokeAsync<JoinResult>("Join", [session, name, code]);
        return Joined;
    }

    public Task KeyAsync(string key) => Connection.InvokeAsync("Key", [key]);
    public Task<string> CommandAsync(string command) => Connection.InvokeAsync<string>("Command", [command]);

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

    public async ValueTask DisposeAsync() => await Connection.DisposeAsync();
}
