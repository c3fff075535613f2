using Lab.Server;
using Lab.Server.Sessions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Lab.Server.Tests;

/// <summary>A real Lab server (Kestrel on a free loopback port) with its own data directory.</summary>
public sealed class LabServerFixture : IAsyncDisposable
{
    public WebApplication App { get; }
    public string Url { get; private set; } = "";
    public string DataDirectory { get; }
    public SessionManager Sessions => App.Services.GetRequiredService<SessionManager>();

    private LabServerFixture(WebApplication app, string dataDirectory)
    {
        App = app;
        DataDirectory = dataDirectory;
    }

    public static async Task<LabServerFixture> StartAsync(string? dataDirectory = null, int port = 0, Action<LabServerOptions>? configure = null)
    {
        dataDirectory ??= Path.Combine(Path.GetTempPath(), "lab-server-test-" + Guid.NewGuid().ToString("N"));
        var app = LabServerHost.Create(["--urls", $"http://127.0.0.1:{port}", "--data", dataDirectory], configure);
        var fixture = new LabServerFixture(app, dataDirectory);
        await app.StartAsync();
        fixture.Url = LabServerHost.BoundUrl(app);
        return fixture;
    }

    public int Port => new Uri(Url).Port;

    /// <summary>Stops the server gracefully (sessions are saved), keeping the data directory.</summary>
    public async Task StopAsync() => await App.StopAsync();

    public async ValueTask DisposeAsync()
    {
        try { await App.StopAsync(); } catch (ObjectDisposedException) { }
        await App.DisposeAsync();
    }
}
