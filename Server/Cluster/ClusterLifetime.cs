using System.Runtime.InteropServices;

namespace Lab.Server.Cluster;

/// <summary>
/// A cluster node's host lifetime: like the console lifetime, SIGTERM and Ctrl+C stop the server, but the
/// node hands its sessions over first (<see cref="ClusterNode.HandOverAsync"/>), while its connections are
/// still open; only then does the host stop (and SignalR close them). The console lifetime would stop the
/// application at once, closing every connection before the viewers could be told where their session went.
/// </summary>
public sealed class ClusterLifetime(IHostApplicationLifetime lifetime, IServiceProvider services, ILogger<ClusterLifetime> log) : IHostLifetime, IDisposable
{
    private readonly List<PosixSignalRegistration> _signals = [];
    private int _stopping;

    public Task WaitForStartAsync(CancellationToken cancellationToken)
    {
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGINT, PosixSignal.SIGQUIT })
            _signals.Add(PosixSignalRegistration.Create(signal, OnSignal));
        return Task.CompletedTask;
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true;   // the process does not end here: the host stops once the sessions are handed over
        if (Interlocked.Exchange(ref _stopping, 1) == 1) return;
        log.LogInformation("stopping: handing this node's sessions over first");
        _ = Task.Run(async () =>
        {
            try { await services.GetRequiredService<ClusterNode>().HandOverAsync(); }
            catch (Exception e) { log.LogError(e, "the handover failed; stopping anyway"); }
            lifetime.StopApplication();
        });
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
        foreach (var s in _signals) s.Dispose();
    }
}
