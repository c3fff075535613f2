namespace Lab.Server.Sessions;

/// <summary>
/// A version number that waiters can await: <see cref="Bump"/> increments it and wakes everyone
/// waiting for a newer version. Waiting costs nothing per change (no queue), so a slow waiter
/// simply sees the latest version when it comes back.
/// </summary>
public sealed class ChangeSignal
{
    private readonly object _lock = new();
    private long _version;
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public long Version => Interlocked.Read(ref _version);

    public void Bump()
    {
        TaskCompletionSource toRelease;
        lock (_lock)
        {
            _version++;
            toRelease = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        toRelease.TrySetResult();
    }

    /// <summary>Completes when the version is greater than <paramref name="seen"/>.</summary>
    public Task WaitAsync(long seen, CancellationToken cancellation)
    {
        Task wait;
        lock (_lock)
        {
            if (_version > seen) return Task.CompletedTask;
            wait = _next.Task;
        }
        return wait.WaitAsync(cancellation);
    }
}
