using Lab.Server;
using Lab.Server.Sessions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Lab.Server.Tests;

/// <summary>
/// A real Lab server (Kestrel on a free loopback port) with its own data directory: a new one under
/// the temp directory, deleted when the fixture is disposed, unless the test passes one (a restart
/// test reuses it across fixtures, and deletes nothing).
/// </summary>
public sealed class LabServerFixture : IAsyncDisposable
{
    public WebApplication App { get; }
    public string Url { get; private set; } = "";
    public string DataDirectory { get; }
    public SessionManager Sessions => App.Services.GetRequiredService<SessionManager>();
    /// <summary>Everything the server logged.</summary>
    public TestLog Log { get; }

    /// <summary>Whether the fixture chose <see cref="DataDirectory"/>, and so deletes it when disposed.</summary>
    private readonly bool _ownsDataDirectory;

    private LabServerFixture(WebApplication app, string dataDirectory, bool ownsDataDirectory, TestLog log)
    {
        App = app;
        DataDirectory = dataDirectory;
        _ownsDataDirectory = ownsDataDirectory;
        Log = log;
    }

    /// <param name="waitForRestore">Return only once saved sessions are restored and the demo exists
    /// (the server listens before that); false for tests of the restoring phase itself.</param>
    /// <param name="arguments">More of the server's command line (e.g. --demo-key KEY).</param>
    public static async Task<LabServerFixture> StartAsync(string? dataDirectory = null, int port = 0, Action<LabServerOptions>? configure = null, bool waitForRestore = true,
        string[]? arguments = null)
    {
        bool owns = dataDirectory == null;
        dataDirectory ??= Path.Combine(Path.GetTempPath(), "lab-server-test-" + Guid.NewGuid().ToString("N"));
        var log = new TestLog();
        var app = LabServerHost.Create(["--urls", $"http://127.0.0.1:{port}", "--data", dataDirectory, .. arguments ?? []], configure,
            logging: l => l.AddProvider(log));
        var fixture = new LabServerFixture(app, dataDirectory, owns, log);
        await app.StartAsync();
        fixture.Url = LabServerHost.BoundUrl(app);
        if (waitForRestore) await fixture.Sessions.Restored;
        return fixture;
    }

    public int Port => new Uri(Url).Port;

    /// <summary>Stops the server gracefully (sessions are saved), keeping the data directory.</summary>
    public async Task StopAsync() => await App.StopAsync();

    public async ValueTask DisposeAsync()
    {
        try { await App.StopAsync(); } catch (ObjectDisposedException) { }
        await App.DisposeAsync();
        if (_ownsDataDirectory && Directory.Exists(DataDirectory)) Directory.Delete(DataDirectory, recursive: true);
    }
}
