namespace Lab.Shared.Client;

/// <summary>What a reconnect policy knows when it picks the next delay.</summary>
/// <param name="PreviousRetryCount">Failed reconnect attempts so far in this outage (0 before the first).</param>
/// <param name="ElapsedTime">Time since the connection was lost.</param>
/// <param name="RetryReason">Why the connection was lost, or why the last attempt failed.</param>
public readonly record struct LabRetryContext(int PreviousRetryCount, TimeSpan ElapsedTime, Exception? RetryReason);

/// <summary>Chooses the delay before each reconnect attempt; null stops reconnecting and closes the connection.</summary>
public interface ILabReconnectPolicy
{
    TimeSpan? NextRetryDelay(LabRetryContext context);
}

/// <summary>A fixed list of delays, one per attempt; immutable, so one instance may serve many connections.</summary>
public sealed class LabReconnectPolicy : ILabReconnectPolicy
{
    private readonly TimeSpan[] _delays;
    private readonly TimeSpan? _maxElapsed;
    private readonly bool _repeatLast;

    /// <param name="delays">The delay before attempt 1, 2, …</param>
    /// <param name="repeatLast">Keep retrying with the last delay once the list is used up.</param>
    /// <param name="maxElapsed">Give up when the outage has lasted this long (only meaningful with repeatLast).</param>
    public LabReconnectPolicy(IEnumerable<TimeSpan> delays, bool repeatLast = false, TimeSpan? maxElapsed = null)
    {
        _delays = delays.ToArray();
        if (_delays.Length == 0)
            throw new ArgumentException("At least one delay is required.", nameof(delays));
        if (_delays.Any(d => d < TimeSpan.Zero))
            throw new ArgumentOutOfRangeException(nameof(delays), "Delays must not be negative.");
        _repeatLast = repeatLast;
        _maxElapsed = maxElapsed;
    }

    /// <summary>The official client's default: 0, 2, 10 and 30 seconds, then give up.</summary>
    public static LabReconnectPolicy Default { get; } =
        new([TimeSpan.Zero, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30)]);

    public TimeSpan? NextRetryDelay(LabRetryContext context)
    {
        if (_maxElapsed is { } max && context.ElapsedTime >= max)
            return null;
        if (context.PreviousRetryCount < _delays.Length)
            return _delays[context.PreviousRetryCount];
        return _repeatLast ? _delays[^1] : null;
    }
}
