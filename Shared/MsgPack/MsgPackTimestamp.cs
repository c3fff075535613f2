namespace Lab.Shared.MsgPack;

/// <summary>
/// The MessagePack timestamp (extension type −1): seconds since the Unix epoch (UTC, may be negative)
/// and nanoseconds within that second. Kept separate from <see cref="DateTime"/> because timestamp96
/// reaches far beyond DateTime's years 1..9999.
/// </summary>
public readonly record struct MsgPackTimestamp
{
    private const long TicksPerSecond = TimeSpan.TicksPerSecond;
    private const uint NanosecondsPerTick = 100;
    public const uint NanosecondsPerSecond = 1_000_000_000;

    public MsgPackTimestamp(long seconds, uint nanoseconds)
    {
        if (nanoseconds >= NanosecondsPerSecond)
            throw new ArgumentOutOfRangeException(nameof(nanoseconds), nanoseconds, "Nanoseconds must be below 10^9.");
        Seconds = seconds;
        Nanoseconds = nanoseconds;
    }

    public long Seconds { get; }
    public uint Nanoseconds { get; }

    /// <summary>
    /// Converts a DateTime. Local times are converted to UTC first and Unspecified is taken as UTC,
    /// as the official server does: the wire carries no Kind.
    /// </summary>
    public static MsgPackTimestamp FromDateTime(DateTime value)
    {
        if (value.Kind == DateTimeKind.Local)
            value = value.ToUniversalTime();
        long ticks = value.Ticks - DateTime.UnixEpoch.Ticks;
        long seconds = Math.DivRem(ticks, TicksPerSecond, out long rest);
        if (rest < 0)
        {
            // Floor division: nanoseconds are always a non-negative offset into the second.
            seconds--;
            rest += TicksPerSecond;
        }
        return new MsgPackTimestamp(seconds, (uint)rest * NanosecondsPerTick);
    }

    /// <summary>True when the instant lies within DateTime's range (sub-tick nanoseconds are truncated).</summary>
    public bool TryToDateTime(out DateTime value)
    {
        const long MinSeconds = -62_135_596_800; // 0001-01-01T00:00:00Z
        const long MaxSeconds = 253_402_300_799; // 9999-12-31T23:59:59Z
        if (Seconds < MinSeconds || Seconds > MaxSeconds)
        {
            value = default;
            return false;
        }
        long ticks = DateTime.UnixEpoch.Ticks + Seconds * TicksPerSecond + Nanoseconds / NanosecondsPerTick;
        value = new DateTime(ticks, DateTimeKind.Utc);
        return true;
    }

    public override string ToString() =>
        TryToDateTime(out var dt) ? dt.ToString("O") : $"{Seconds}s+{Nanoseconds}ns";
}
