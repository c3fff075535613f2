using System.Buffers.Binary;
using static Lab.Kernel.Posix.Errno;
using static Lab.Kernel.Posix.Signals;

namespace Lab.Kernel.Posix;

// Job control and timers: process groups and sessions (setpgid, getpgid, getpgrp, setsid, getsid),
// stopping and continuing (SIGSTOP/SIGTSTP/SIGCONT, reported to the parent by SIGCHLD and wait4's
// WUNTRACED/WCONTINUED), SIGCHLD at a child's exit, and ITIMER_REAL (alarm, setitimer, getitimer)
// on the machine clock, so timers fire at the same instruction in every run.
public sealed partial class PosixKernel
{
    // =========================================================================================
    // stop, continue, and telling the parent

    /// <summary>do_signal_stop: <paramref name="p"/> stops (it is not scheduled until SIGCONT); its
    /// parent gets SIGCHLD (CLD_STOPPED) and its wait4 with WUNTRACED reports it.</summary>
    private void Stop(PProcess p, int sig)
    {
        p.Stopped = true;
        p.StateReport = WaitStatus.Stopped(sig);
        NotifyParent(p, CLD_STOPPED, sig);
        if (_cur == p) _cur = null;
        WakeAll();
    }

    /// <summary>SIGCONT's side effect at sending: a stopped process goes on (a blocked call it sat
    /// in runs again); the parent gets SIGCHLD (CLD_CONTINUED) and wait4 with WCONTINUED reports it.</summary>
    private void Continue(PProcess p)
    {
        if (!p.Stopped) return;
        p.Stopped = false;
        p.StateReport = WaitStatus.Continued;
        NotifyParent(p, CLD_CONTINUED, SIGCONT);
        WakeAll();
    }

    /// <summary>do_notify_parent(_cldstop): SIGCHLD to <paramref name="child"/>'s parent, unless that
    /// is init or (for a stop or continue) it asked not to with SA_NOCLDSTOP.</summary>
    private void NotifyParent(PProcess child, int code, int status)
    {
        if (child.Parent == 1 || !_byPid.TryGetValue(child.Parent, out var parent)) return;
        if (code is CLD_STOPPED or CLD_CONTINUED && (ActionOf(parent, SIGCHLD).Flags & SA_NOCLDSTOP) != 0) return;
        SendSignal(parent, SIGCHLD, new SigInfo(code, child.Pid, status, 0));
    }

    /// <summary>
    /// A child has just become a zombie: its parent gets SIGCHLD (CLD_EXITED with the exit code, or
    /// CLD_KILLED with the signal). False when the parent ignores SIGCHLD (SIG_IGN or SA_NOCLDWAIT):
    /// then nobody will wait for it and it is reaped at once, as Linux does.
    /// </summary>
    private bool TellParentOfExit(PProcess p)
    {
        if (p.Parent == 1 || !_byPid.TryGetValue(p.Parent, out var parent) || parent.State == PState.Zombie) return false;
        bool killed = (p.WaitStatus & 0x7f) != 0;
        NotifyParent(p, killed ? CLD_KILLED : CLD_EXITED, killed ? p.WaitStatus & 0x7f : p.ExitCode);
        var act = ActionOf(parent, SIGCHLD);
        return act.Handler != SIG_IGN && (act.Flags & SA_NOCLDWAIT) == 0;
    }

    /// <summary>True when wait4's <paramref name="pid"/> argument selects child <paramref name="c"/>
    /// of <paramref name="p"/>: that pid (&gt; 0), any child (-1), one in the caller's group (0), or
    /// one in group -pid.</summary>
    private static bool WaitSelects(PProcess p, PProcess c, int pid) =>
        pid > 0 ? c.Pid == pid : pid == -1 || c.Pgid == (pid == 0 ? p.Pgid : -pid);

    // =========================================================================================
    // process groups and sessions

    /// <summary>
    /// setpgid(pid, pgid): moves process <paramref name="pid"/> (0: the caller), which must be the
    /// caller or a child of it that has not exec'd, into process group <paramref name="pgid"/> (0:
    /// its own pid, a new group), which must exist in the same session unless it is new.
    /// Linux: setpgid(2). Fails: -EINVAL (pgid &lt; 0), -ESRCH (not the caller or its child), -EACCES
    /// (the child has exec'd), -EPERM (a session leader, another session, no such group there).
    /// </summary>
    private long Setpgid(PProcess p, int pid, int pgid)
    {
        if (pgid < 0) return -EINVAL;
        if (pid < 0) return -ESRCH;
        var t = pid == 0 ? p : _byPid.GetValueOrDefault(pid);
        if (t is null || t.State == PState.Zombie || (t != p && t.Parent != p.Pid)) return -ESRCH;
        if (t != p && t.Execed) return -EACCES;
        if (t.Sid == t.Pid || t.Sid != p.Sid) return -EPERM;
        if (pgid == 0) pgid = t.Pid;
        // a group lives while any member does, zombies included (Linux detaches a process from its group only when it is reaped)
        if (pgid != t.Pid && !_procs.Any(q => q.Pgid == pgid && q.Sid == p.Sid)) return -EPERM;
        t.Pgid = pgid;
        return 0;
    }

    /// <summary>getpgid(pid): the process group of <paramref name="pid"/> (0: the caller). Linux:
    /// getpgid(2). Fails: -ESRCH.</summary>
    private long Getpgid(PProcess p, int pid)
    {
        var t = pid == 0 ? p : _byPid.GetValueOrDefault(pid);
        return t is null || pid < 0 ? -ESRCH : t.Pgid;
    }

    /// <summary>getsid(pid): the session of <paramref name="pid"/> (0: the caller). Linux: getsid(2).
    /// Fails: -ESRCH.</summary>
    private long Getsid(PProcess p, int pid)
    {
        var t = pid == 0 ? p : _byPid.GetValueOrDefault(pid);
        return t is null || pid < 0 ? -ESRCH : t.Sid;
    }

    /// <summary>setsid(): the caller leads a new session and a new process group, both its pid, with
    /// no controlling terminal. Linux: setsid(2). Fails: -EPERM (it already leads a process group).</summary>
    private long Setsid(PProcess p)
    {
        if (_procs.Any(q => q.Pgid == p.Pid)) return -EPERM;   // zombies still hold their group
        p.Pgid = p.Sid = p.Pid;
        return p.Pid;
    }

    // =========================================================================================
    // ITIMER_REAL: alarm, setitimer, getitimer

    private const int ITIMER_REAL = 0;

    /// <summary>Sends SIGALRM to every process whose ITIMER_REAL has expired by <paramref name="now"/>,
    /// reloading periodic timers. Called by the scheduler (every timer interrupt).</summary>
    private void FireTimers(ulong now)
    {
        foreach (var q in _procs)
        {
            if (q.AlarmAt == 0 || now < q.AlarmAt || q.State == PState.Zombie) continue;
            q.AlarmAt = q.AlarmInterval == 0 ? 0 : Math.Max(q.AlarmAt + q.AlarmInterval, now + 1);
            SendSignal(q, SIGALRM, new SigInfo(SI_KERNEL, 0, 0, 0));
        }
    }

    /// <summary>The time left on <paramref name="p"/>'s ITIMER_REAL, in ns (0: off).</summary>
    private ulong AlarmLeft(PProcess p) => p.AlarmAt == 0 ? 0 : Math.Max(p.AlarmAt - Math.Min(p.AlarmAt, _m.Clock), 1);

    /// <summary>alarm(seconds): SIGALRM after that many seconds of machine time (0: cancels); returns
    /// the seconds the previous alarm had left (rounded, at least 1 when one was set). Linux:
    /// alarm(2). Never fails.</summary>
    private long Alarm(PProcess p, uint seconds)
    {
        ulong left = AlarmLeft(p);
        long old = left == 0 ? 0 : Math.Max(1, (long)((left + 500_000_000) / 1_000_000_000));
        p.AlarmAt = seconds == 0 ? 0 : _m.Clock + seconds * 1_000_000_000UL;
        p.AlarmInterval = 0;
        return old;
    }

    /// <summary>Writes struct itimerval (interval, value: two struct timeval) for the timer's state.</summary>
    private bool WriteItimer(PProcess p, UserPtr at)
    {
        Span<byte> b = stackalloc byte[32];
        ulong left = AlarmLeft(p);
        BinaryPrimitives.WriteUInt64LittleEndian(b, p.AlarmInterval / 1_000_000_000);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], p.AlarmInterval % 1_000_000_000 / 1000);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], left / 1_000_000_000);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], left == 0 ? 0 : Math.Max(left % 1_000_000_000 / 1000, left < 1000 ? 1UL : 0));
        return CopyOut(p, at, b);
    }

    /// <summary>getitimer(which, value): ITIMER_REAL's interval and time left. Linux: getitimer(2).
    /// Fails: -EINVAL (ITIMER_VIRTUAL, ITIMER_PROF: not kept), -EFAULT.</summary>
    private long Getitimer(PProcess p, int which, UserPtr value)
    {
        if (which != ITIMER_REAL) return -EINVAL;
        return WriteItimer(p, value) ? 0 : -EFAULT;
    }

    /// <summary>
    /// setitimer(which, new, old): ITIMER_REAL's old setting into *old (unless NULL), then SIGALRM
    /// after new's it_value (0: off), every it_interval after that. Microseconds of machine time.
    /// Linux: setitimer(2). Fails: -EINVAL (another timer, microseconds beyond 999,999 or negative
    /// times), -EFAULT.
    /// </summary>
    private long Setitimer(PProcess p, int which, UserPtr value, UserPtr old)
    {
        if (which != ITIMER_REAL) return -EINVAL;
        Span<byte> b = stackalloc byte[32];
        if (!value.IsNull && !CopyIn(p, value, b)) return -EFAULT;
        if (value.IsNull) b.Clear();
        long isec = BinaryPrimitives.ReadInt64LittleEndian(b), iusec = BinaryPrimitives.ReadInt64LittleEndian(b[8..]);
        long vsec = BinaryPrimitives.ReadInt64LittleEndian(b[16..]), vusec = BinaryPrimitives.ReadInt64LittleEndian(b[24..]);
        if (isec < 0 || vsec < 0 || iusec is < 0 or > 999_999 || vusec is < 0 or > 999_999) return -EINVAL;
        if (!old.IsNull && !WriteItimer(p, old)) return -EFAULT;
        static ulong Ns(long sec, long usec) => (ulong)Math.Min(sec, 100_000_000L) * 1_000_000_000UL + (ulong)usec * 1000;
        ulong v = Ns(vsec, vusec);
        p.AlarmAt = v == 0 ? 0 : _m.Clock + v;
        p.AlarmInterval = v == 0 ? 0 : Ns(isec, iusec);
        return 0;
    }

    // =========================================================================================
    // snapshots: a process's signal and job state (snapshot version 5 on)

    private static void SaveSignalState(BinaryWriter w, PProcess p)
    {
        w.Write(p.SigPending);
        for (int i = 0; i < MaxSignal; i++)
        {
            if ((p.SigPending & (1UL << i)) == 0) continue;
            var info = p.PendingInfo![i];
            w.Write(info.Code); w.Write(info.Pid); w.Write(info.Status); w.Write(info.Addr);
        }
        w.Write(p.SuspendMask); w.Write(p.Suspended); w.Write(p.WaitSet);
        w.Write(p.AltStackSp); w.Write(p.AltStackSize); w.Write(p.AltStackFlags);
        w.Write(p.Pgid); w.Write(p.Sid); w.Write(p.Execed); w.Write(p.Stopped); w.Write(p.StateReport);
        w.Write(p.AlarmAt); w.Write(p.AlarmInterval); w.Write(p.TtyWait);
        w.Write(p.FpState!);
    }

    private static void LoadSignalState(BinaryReader r, PProcess p)
    {
        p.SigPending = r.ReadUInt64();
        if (p.SigPending != 0) p.PendingInfo = new SigInfo[MaxSignal];
        for (int i = 0; i < MaxSignal; i++)
            if ((p.SigPending & (1UL << i)) != 0) p.PendingInfo![i] = new SigInfo(r.ReadInt32(), r.ReadInt32(), r.ReadInt32(), r.ReadUInt64());
        p.SuspendMask = r.ReadUInt64(); p.Suspended = r.ReadBoolean(); p.WaitSet = r.ReadUInt64();
        p.AltStackSp = r.ReadUInt64(); p.AltStackSize = r.ReadUInt64(); p.AltStackFlags = r.ReadInt32();
        p.Pgid = r.ReadInt32(); p.Sid = r.ReadInt32(); p.Execed = r.ReadBoolean(); p.Stopped = r.ReadBoolean(); p.StateReport = r.ReadInt32();
        p.AlarmAt = r.ReadUInt64(); p.AlarmInterval = r.ReadUInt64(); p.TtyWait = r.ReadBoolean();
        if (r.Read(p.FpState!) != p.FpState!.Length) throw new EndOfStreamException();
        if (p.AltStackFlags is not (0 or SS_DISABLE) || p.Pgid < 1 || p.Sid < 1 || p.Pgid >= MaxPid || p.Sid >= MaxPid)
            throw new InvalidDataException($"pid {p.Pid}: bad signal or job state");
    }

    /// <summary>A process restored from a snapshot older than version 5: its own group and session
    /// are its parent's, as if it had been forked without job control.</summary>
    private static void DefaultJobState(IReadOnlyList<PProcess> procs)
    {
        var byPid = procs.ToDictionary(q => q.Pid);
        foreach (var q in procs)
        {
            var top = q;
            for (int hops = 0; top.Parent != 1 && byPid.TryGetValue(top.Parent, out var up) && hops < procs.Count; hops++) top = up;
            q.Pgid = q.Sid = top.Pid;
        }
    }
}
