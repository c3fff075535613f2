namespace Lab.Server.Hubs;

/// <summary>
/// A token bucket: <see cref="TryTake"/> succeeds while tokens remain; tokens refill at a fixed rate
/// up to a burst size. Used per connection for keys and commands.
/// </summary>
public sealed class RateLimiter
{
    private readonly double _perSecond;
    private readonly double _burst;
    private readonly Func<DateTime> _now;
    private double _tokens;
    private DateTime _last;

    public RateLimiter(double perSecond, double burst, Func<DateTime>? now = null)
    {
        _perSecond = perSecond;
        _burst = burst;
        _now = now ?? (() => DateTime.UtcNow);
        _tokens = burst;
        _last = _now();
    }

    /// <summary>How long since the last attempt (an idle entry can be forgotten).</summary>
    public TimeSpan IdleFor { get { lock (this) return _now() - _last; } }

    /// <summary>Consecutive refusals; a client that keeps flooding is disconnected.</summary>
    public int Refusals { get; private set; }

    public bool TryTake()
    {
        lock (this)
        {
            var now = _now();
            _tokens = Math.Min(_burst, _tokens + (now - _last).TotalSeconds * _perSecond);
            _last = now;
            if (_tokens >= 1)
            {
                _tokens -= 1;
                Refusals = 0;
                return true;
            }
            Refusals++;
            return false;
        }
    }
}
