using Lab.Server;
using Lab.Server.Sessions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Lab.TuiClient.App;

/// <summary>
/// `tui local`: the real server runs inside this process on a loopback port, with one session that
/// you own as instructor, and the TUI connects to it like to any server. Local mode therefore has
/// exactly the server's behaviour (debugger, event log, commands) with no second implementation.
/// (A deliberate change from DESIGN.md, where TuiClient used Kernel/Machine directly for local mode.)
/// </summary>
public sealed class LocalServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _data;

    public string Url { get; }
    public string SessionName { get; }
    public string InstructorKey { get; }

    private LocalServer(WebApplication app, string data, string url, string session, string key)
    {
        _app = app;
        _data = data;
        Url = url;
        SessionName = session;
        InstructorKey = key;
    }

    /// <summary>Starts the in-process server with one session as <paramref name="settings"/> describe (name "local"),
    /// its machine on <paramref name="tier"/> (null: the default).</summary>
    public static async Task<LocalServer> StartAsync(SessionSettings settings, Lab.Machine.ExecutionTier? tier = null)
    {
        string data = Path.Combine(Path.GetTempPath(), "lab-local-" + Guid.NewGuid().ToString("N"));
        var app = LabServerHost.Create(["--urls", "http://127.0.0.1:0", "--data", data], o => { o.DemoSession = null; o.Tier = tier; }, quiet: true);
        await app.StartAsync();
        string url = LabServerHost.BoundUrl(app);
        // The user of `tui local` is its instructor: the key it connects with.
        string key = settings.InstructorKey ?? SessionSettings.NewSecret();
        settings = settings with { InstructorKey = key };
        var (_, error) = app.Services.GetRequiredService<SessionManager>().Create(settings with { Name = "local" });
        if (error != null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
            throw new CommandFailedException(error);
        }
        return new LocalServer(app, data, url, "local", key);
    }

    /// <summary>Starts the in-process server with one WeensyOS session running <paramref name="program"/> at <paramref name="step"/>.</summary>
    public static Task<LocalServer> StartAsync(string program, string step) =>
        StartAsync(new SessionSettings { Name = "local", Program = program, Step = step, InstructorKey = SessionSettings.NewSecret() });

    /// <summary>Connects the TUI's session source to the local session as its instructor.</summary>
    public Task<RemoteSession> ConnectAsync(CancellationToken cancellation) =>
        RemoteSession.ConnectAsync(Url, SessionName, Environment.UserName is { Length: > 0 } u ? u : "me", InstructorKey, cancellation);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
    }
}
