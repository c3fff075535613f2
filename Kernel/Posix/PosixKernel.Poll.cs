using System.Buffers.Binary;
using static Lab.Kernel.Posix.Errno;

namespace Lab.Kernel.Posix;

// The files family, fourth part: waiting for several descriptors at once, poll(2), ppoll and
// select(2), pselect6. A descriptor's readiness comes from its open file (a pipe's queue and its
// ends, the console's input); a caller with nothing ready blocks like a pipe reader (Block, and
// the `syscall` runs again when woken), woken by any event (WakeAll, console input) and by its
// timeout on the machine clock (one instruction is one nanosecond), which Polling and WakeAt keep
// across the restarts.
public sealed partial class PosixKernel
{
    private const short POLLIN = 0x1, POLLPRI = 0x2, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20,
        POLLRDNORM = 0x40, POLLWRNORM = 0x100;

    /// <summary>The poll bits descriptor <paramref name="fd"/> has now: a pipe's read end is
    /// readable with data and hung up (POLLHUP) with no writer left; its write end writable with
    /// room, and writable and in error (POLLERR) with no reader; the console readable once input is queued or
    /// closed; files, directories and devices always ready. A descriptor not open: POLLNVAL.</summary>
    private short Readiness(PProcess p, int fd)
    {
        var f = fd >= 0 ? Fd(p, (ulong)fd) : null;
        if (f is null) return POLLNVAL;
        const short readable = POLLIN | POLLRDNORM, writable = POLLOUT | POLLWRNORM;
        switch (f.Kind)
        {
            case FileKind.PipeRead:
                return (short)((f.Pipe!.Buffer.Count > 0 ? readable : 0) | (f.Pipe.Writers == 0 ? POLLHUP : 0));
            case FileKind.PipeWrite:
                return f.Pipe!.Readers == 0 ? (short)(POLLERR | writable) : f.Pipe.Buffer.Count < Posix.Pipe.Capacity ? writable : (short)0;
            case FileKind.Console:
                // readable when a read would not block: what the line discipline has made ready (a
                // whole line in canonical mode), or the end of input; keys still being edited are not
                if (f.Readable) TtyPump();
                return (short)((f.Readable && TtyReadable() ? readable : 0) | (f.Writable ? writable : 0));
            default:
                return readable | writable;
        }
    }

    /// <summary>
    /// The common end of poll and select: done (Polling cleared, true) when something is ready, the
    /// timeout is zero, or the deadline has passed; otherwise blocks the caller until an event or its
    /// deadline (<paramref name="timeoutNs"/> from the first call; negative waits for ever) and
    /// returns false (the call runs again when woken).
    /// </summary>
    private bool PollDone(PProcess p, int ready, long timeoutNs)
    {
        if (ready > 0 || timeoutNs == 0 || (p.Polling && p.WakeAt != 0 && _m.Clock >= p.WakeAt))
        {
            p.Polling = false;
            p.WakeAt = 0;
            return true;
        }
        if (!p.Polling)
        {
            p.Polling = true;
            p.WakeAt = timeoutNs < 0 ? 0 : _m.Clock + (ulong)timeoutNs;
        }
        Block(p);
        return false;
    }

    /// <summary>
    /// poll(fds, nfds, timeout): for each struct pollfd {fd, events, revents} at <paramref name="fds"/>
    /// sets revents to the requested events that hold now (POLLERR, POLLHUP and POLLNVAL always
    /// count; a negative fd is skipped); returns how many entries have revents. Nothing ready: waits
    /// up to <paramref name="timeoutMs"/> milliseconds of machine time (negative: for ever; 0: not at
    /// all) and returns 0 at the timeout. Linux: poll(2). Fails: -EINVAL (nfds beyond 4096), -EFAULT.
    /// </summary>
    private long Poll(PProcess p, UserPtr fds, ulong nfds, int timeoutMs) =>
        PollFds(p, fds, nfds, timeoutMs < 0 ? -1 : timeoutMs * 1_000_000L);

    /// <summary>ppoll(fds, nfds, tmo, sigmask): poll with a struct timespec timeout (NULL: for ever).
    /// The signal mask is not applied (signals are another part of the kernel). Linux: ppoll(2).
    /// Fails: as poll, and -EINVAL (a bad timespec).</summary>
    private long Ppoll(PProcess p, UserPtr fds, ulong nfds, UserPtr tmo)
    {
        long timeout = -1;
        if (!tmo.IsNull && !p.Polling)
        {
            long e = ReadTimeout(p, tmo, nanos: true, out timeout);
            if (e != 0) return e;
        }
        return PollFds(p, fds, nfds, timeout);
    }

    private long PollFds(PProcess p, UserPtr fds, ulong nfds, long timeoutNs)
    {
        if (nfds > 4096) return -EINVAL;
        var a = new byte[8 * (int)nfds];
        if (!CopyIn(p, fds, a)) return -EFAULT;
        int ready = 0;
        for (int i = 0; i < (int)nfds; i++)
        {
            int fd = BinaryPrimitives.ReadInt32LittleEndian(a.AsSpan(8 * i));
            short events = BinaryPrimitives.ReadInt16LittleEndian(a.AsSpan(8 * i + 4));
            short revents = fd < 0 ? (short)0 : (short)(Readiness(p, fd) & (events | POLLERR | POLLHUP | POLLNVAL));
            BinaryPrimitives.WriteInt16LittleEndian(a.AsSpan(8 * i + 6), revents);
            if (revents != 0) ready++;
        }
        if (!PollDone(p, ready, timeoutNs)) return 0;
        return CopyOut(p, fds, a) ? ready : -EFAULT;
    }

    /// <summary>A timeout argument: struct timespec (<paramref name="nanos"/>) or struct timeval, in
    /// nanoseconds. 0, -EFAULT, -EINVAL (negative or out of range).</summary>
    private long ReadTimeout(PProcess p, UserPtr ptr, bool nanos, out long ns)
    {
        ns = 0;
        Span<byte> t = stackalloc byte[16];
        if (!CopyIn(p, ptr, t)) return -EFAULT;
        long sec = BinaryPrimitives.ReadInt64LittleEndian(t), frac = BinaryPrimitives.ReadInt64LittleEndian(t[8..]);
        if (sec < 0 || frac < 0 || frac >= (nanos ? 1_000_000_000 : 1_000_000)) return -EINVAL;
        ns = Math.Min(sec, 1_000_000L) * 1_000_000_000 + (nanos ? frac : frac * 1000);
        return 0;
    }

    /// <summary>
    /// select(nfds, readfds, writefds, exceptfds, timeout) and pselect6: the descriptors below
    /// <paramref name="nfds"/> set in each fd_set (NULL: none) are kept when ready for reading
    /// (data, end of file, hang-up), writing (room, or an error: the write would fail at once), or
    /// an exceptional condition (never here); returns how many bits stay set. Nothing ready: waits
    /// up to the struct timeval (select) or timespec (pselect6) timeout, NULL for ever, and returns
    /// 0. Both write back the time left, as Linux's raw calls do. pselect6's signal mask is not applied.
    /// Linux: select(2). Fails: -EINVAL (nfds negative or beyond 1024, a bad timeout), -EBADF (a
    /// set descriptor not open), -EFAULT.
    /// </summary>
    private long Select(PProcess p, int nfds, UserPtr readfds, UserPtr writefds, UserPtr exceptfds, UserPtr timeout, bool timespec)
    {
        if (nfds < 0 || nfds > 1024) return -EINVAL;
        long timeoutNs = -1;
        if (!timeout.IsNull && !p.Polling)
        {
            long e = ReadTimeout(p, timeout, timespec, out timeoutNs);
            if (e != 0) return e;
        }
        int bytes = (nfds + 63) / 64 * 8;
        var sets = new byte[3][];
        UserPtr[] ptrs = [readfds, writefds, exceptfds];
        for (int k = 0; k < 3; k++)
        {
            sets[k] = new byte[bytes];
            if (!ptrs[k].IsNull && !CopyIn(p, ptrs[k], sets[k])) return -EFAULT;
        }
        var result = new byte[3][] { new byte[bytes], new byte[bytes], new byte[bytes] };
        int ready = 0;
        for (int fd = 0; fd < nfds; fd++)
        {
            int bit = 1 << (fd & 7);
            bool wanted = false;
            for (int k = 0; k < 3; k++) wanted |= (sets[k][fd >> 3] & bit) != 0;
            if (!wanted) continue;
            short r = Readiness(p, fd);
            if (r == POLLNVAL) { p.Polling = false; p.WakeAt = 0; return -EBADF; }
            bool[] hit = [(r & (POLLIN | POLLHUP | POLLERR)) != 0, (r & (POLLOUT | POLLERR)) != 0, (r & POLLPRI) != 0];
            for (int k = 0; k < 3; k++)
                if ((sets[k][fd >> 3] & bit) != 0 && hit[k]) { result[k][fd >> 3] |= (byte)bit; ready++; }
        }
        ulong deadline = p.WakeAt;
        if (!PollDone(p, ready, timeoutNs)) return 0;
        for (int k = 0; k < 3; k++)
            if (!ptrs[k].IsNull && !CopyOut(p, ptrs[k], result[k])) return -EFAULT;
        if (!timeout.IsNull)
        {
            // the time left (zero at the timeout; all of it when something was ready at once), as
            // both raw calls write it (glibc's select is pselect6 and reads it back)
            long left = deadline != 0 ? Math.Max(0, (long)(deadline - Math.Min(deadline, _m.Clock))) : Math.Max(0, timeoutNs);
            Span<byte> tv = stackalloc byte[16];
            BinaryPrimitives.WriteInt64LittleEndian(tv, left / 1_000_000_000);
            BinaryPrimitives.WriteInt64LittleEndian(tv[8..], timespec ? left % 1_000_000_000 : left % 1_000_000_000 / 1000);
            if (!CopyOut(p, timeout, tv)) return -EFAULT;
        }
        return ready;
    }
}
