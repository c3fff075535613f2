using System.Buffers.Binary;
using static Lab.Kernel.Posix.Errno;

namespace Lab.Kernel.Posix;

// The time family. Time is the machine's: one retired instruction is one nanosecond (the clock the
// timer interrupt also counts), so a program sees the same times in every run.
public sealed partial class PosixKernel
{
    /// <summary>
    /// nanosleep(req, rem): blocks the caller for the struct timespec at <paramref name="req"/>
    /// (seconds capped at 1,000,000); a zero time yields the CPU. rem is not written (no signal can
    /// interrupt the sleep). Linux: nanosleep(2). Fails: -EFAULT, -EINVAL (negative, or tv_nsec beyond
    /// 999,999,999).
    /// </summary>
    private long Nanosleep(PProcess p, UserPtr req) => ClockNanosleep(p, 0, req);

    /// <summary>
    /// clock_nanosleep(clock, flags, req, rem): as nanosleep, or with TIMER_ABSTIME (flags 1) until
    /// the machine time *req (at once when it has passed); every clock is the machine's. rem is not
    /// written. Linux: clock_nanosleep(2). Fails: -EFAULT, -EINVAL (bad timespec, other flags).
    /// </summary>
    private long ClockNanosleep(PProcess p, int flags, UserPtr req)
    {
        if (p.WakeAt != 0)
        {
            // woken (or restarted by the scheduler) while sleeping: done once the time has come
            if (_m.Clock >= p.WakeAt) { p.WakeAt = 0; return 0; }
            Block(p);
            return 0;
        }
        if ((flags & ~1) != 0) return -EINVAL;
        Span<byte> ts = stackalloc byte[16];
        if (!CopyIn(p, req, ts)) return -EFAULT;
        long sec = BinaryPrimitives.ReadInt64LittleEndian(ts), nsec = BinaryPrimitives.ReadInt64LittleEndian(ts[8..]);
        if (sec < 0 || nsec < 0 || nsec >= 1_000_000_000) return -EINVAL;
        ulong ns = (ulong)Math.Min(sec, 1000L * 1000) * 1_000_000_000UL + (ulong)nsec;   // 1 instruction = 1 ns
        if (flags == 1) ns = ns > _m.Clock ? ns - _m.Clock : 0;                         // TIMER_ABSTIME
        if (ns == 0) return SchedYield(p);
        p.WakeAt = _m.Clock + ns;
        Block(p);
        return 0;
    }

    /// <summary>clock_gettime(clock, ts): the machine time since boot into the struct timespec at
    /// <paramref name="ts"/>, whatever the clock id. Linux: clock_gettime(2). Fails: -EFAULT.</summary>
    private long ClockGettime(PProcess p, UserPtr ts)
    {
        ulong ns = _m.Clock;
        Span<byte> t = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(t, (long)(ns / 1_000_000_000));
        BinaryPrimitives.WriteInt64LittleEndian(t[8..], (long)(ns % 1_000_000_000));
        return CopyOut(p, ts, t) ? 0 : -EFAULT;
    }

    /// <summary>clock_getres(clock, res): every clock counts nanoseconds (one per instruction); res
    /// may be NULL. Linux: clock_getres(2). Fails: -EFAULT.</summary>
    private long ClockGetres(PProcess p, UserPtr res)
    {
        if (res.IsNull) return 0;
        Span<byte> t = stackalloc byte[16];
        t.Clear();
        BinaryPrimitives.WriteInt64LittleEndian(t[8..], 1);
        return CopyOut(p, res, t) ? 0 : -EFAULT;
    }

    /// <summary>gettimeofday(tv, tz): the machine time as struct timeval (seconds, microseconds);
    /// tz, when not NULL, gets zeros (UTC). Linux: gettimeofday(2). Fails: -EFAULT.</summary>
    private long Gettimeofday(PProcess p, UserPtr tv, UserPtr tz)
    {
        ulong ns = _m.Clock;
        Span<byte> t = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(t, (long)(ns / 1_000_000_000));
        BinaryPrimitives.WriteInt64LittleEndian(t[8..], (long)(ns % 1_000_000_000 / 1000));
        if (!tv.IsNull && !CopyOut(p, tv, t)) return -EFAULT;
        t.Clear();
        if (!tz.IsNull && !CopyOut(p, tz, t[..8])) return -EFAULT;
        return 0;
    }

    /// <summary>time(t): machine seconds since boot, also stored at t unless NULL. Linux: time(2).
    /// Fails: -EFAULT.</summary>
    private long Time(PProcess p, UserPtr t)
    {
        long sec = (long)(_m.Clock / 1_000_000_000);
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, sec);
        if (!t.IsNull && !CopyOut(p, t, b)) return -EFAULT;
        return sec;
    }
}
