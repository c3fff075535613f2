using System.Buffers.Binary;
using Lab.Machine;
using static Lab.Kernel.Posix.Errno;
using static Lab.Kernel.Posix.Signals;

namespace Lab.Kernel.Posix;

// The signals family, part one: sending. A signal is *generated* (kill, a fault, the tty, a timer,
// a child's exit) by SendSignal, which marks it pending in its target (Linux: send_signal); it is
// *delivered* on the target's way back to user mode (PosixKernel.SignalFrame.cs: DeliverSignals),
// where its default action happens or its handler is called on a frame on the user stack. The
// system calls here: kill, tkill, tgkill, rt_sigaction, rt_sigprocmask, rt_sigpending, pause,
// rt_sigsuspend, rt_sigtimedwait, sigaltstack.
public sealed partial class PosixKernel
{
    private const ulong SIG_DFL = 0, SIG_IGN = 1;
    // sa_flags (asm/signal.h)
    private const ulong SA_NOCLDSTOP = 1, SA_NOCLDWAIT = 2, SA_SIGINFO = 4, SA_ONSTACK = 0x0800_0000,
        SA_RESTORER = 0x0400_0000, SA_RESTART = 0x1000_0000, SA_NODEFER = 0x4000_0000, SA_RESETHAND = 0x8000_0000;
    // si_code values (asm-generic/siginfo.h)
    private const int SI_USER = 0, SI_KERNEL = 0x80, SI_TKILL = -6,
        CLD_EXITED = 1, CLD_KILLED = 2, CLD_STOPPED = 5, CLD_CONTINUED = 6, SEGV_MAPERR = 1, SEGV_ACCERR = 2;
    public const int SS_ONSTACK = 1, SS_DISABLE = 2;
    private const int MinSigStackSize = 2048;   // MINSIGSTKSZ
    /// <summary>Signals no handler or mask can catch: SIGKILL and SIGSTOP.</summary>
    private const ulong Uncatchable = (1UL << (SIGKILL - 1)) | (1UL << (SIGSTOP - 1));
    private const ulong StopSignals = (1UL << (SIGSTOP - 1)) | (1UL << (SIGTSTP - 1)) | (1UL << (SIGTTIN - 1)) | (1UL << (SIGTTOU - 1));

    private static SigAction ActionOf(PProcess p, int sig) => p.SigActions?[sig - 1] ?? default;

    /// <summary>Ends <paramref name="p"/> by signal <paramref name="sig"/>: wait status WTERMSIG = sig
    /// (no core dump bit: nothing dumps core here), exit code 128 + sig.</summary>
    private void TerminateBySignal(PProcess p, int sig) => Terminate(p, WaitStatus.Signaled(sig), 128 + sig);

    /// <summary>
    /// send_signal: makes <paramref name="sig"/> pending in <paramref name="t"/> with
    /// <paramref name="info"/>, or throws it away when <paramref name="t"/> ignores it and does not
    /// block it. SIGKILL ends the target at once; SIGCONT continues a stopped target (and cancels
    /// pending stop signals), a stop signal cancels a pending SIGCONT. A blocked target the signal can
    /// be delivered to is woken: its system call is interrupted or restarted at delivery.
    /// </summary>
    private void SendSignal(PProcess t, int sig, SigInfo info)
    {
        if (t.State == PState.Zombie || sig <= 0 || sig > MaxSignal) return;
        if (sig == SIGKILL) { TerminateBySignal(t, SIGKILL); return; }
        if (sig == SIGCONT) { t.SigPending &= ~StopSignals; Continue(t); }
        else if (Stops(sig)) t.SigPending &= ~Bit(SIGCONT);
        ulong bit = Bit(sig);
        if ((t.SigMask & bit) == 0 && (t.WaitSet & bit) == 0)
        {
            ulong h = ActionOf(t, sig).Handler;
            if (h == SIG_IGN || (h == SIG_DFL && IgnoredByDefault(sig))) return;   // sig_ignored
        }
        if ((t.SigPending & bit) == 0)
        {
            t.SigPending |= bit;
            (t.PendingInfo ??= new SigInfo[MaxSignal])[sig - 1] = info;
        }
        if (t.State == PState.Blocked && ((t.SigPending & ~t.SigMask) != 0 || (t.WaitSet & bit) != 0))
        {
            t.State = PState.Runnable;
            t.TtyWait = false;
        }
    }

    /// <summary>Sends <paramref name="sig"/> to every live process of group <paramref name="pgrp"/>;
    /// how many there were.</summary>
    private int SignalGroup(int pgrp, int sig, SigInfo info)
    {
        int n = 0;
        foreach (var q in _procs.Where(q => q.Pgid == pgrp && q.State != PState.Zombie).ToList()) { SendSignal(q, sig, info); n++; }
        return n;
    }

    /// <summary>
    /// kill(pid, sig): sends <paramref name="sig"/> (0: only checks the target exists) to process
    /// <paramref name="pid"/> &gt; 0, to the caller's process group (0), to every process but init
    /// and the caller (-1), or to process group -pid. Linux: kill(2).
    /// Fails: -EINVAL (a signal number out of 0..64), -EPERM (init, pid 1), -ESRCH (no such process
    /// or group).
    /// </summary>
    private long Kill(PProcess p, int pid, int sig)
    {
        if (sig < 0 || sig > MaxSignal) return -EINVAL;
        var info = new SigInfo(SI_USER, p.Pid, 0, 0);
        if (pid == 1) return sig == 0 ? 0 : -EPERM;
        if (pid > 0)
        {
            if (!_byPid.TryGetValue(pid, out var t)) return -ESRCH;
            SendSignal(t, sig, info);
            return 0;
        }
        if (pid == -1)
        {
            var all = _procs.Where(q => q != p && q.State != PState.Zombie).ToList();
            foreach (var q in all) SendSignal(q, sig, info);
            return 0;      // Linux: -ESRCH only when there was nobody; the caller itself always is
        }
        int group = pid == 0 ? p.Pgid : -pid;
        if (pid == int.MinValue) return -ESRCH;
        return SignalGroup(group, sig, info) > 0 ? 0 : -ESRCH;
    }

    /// <summary>tgkill(tgid, tid, sig), tkill(tid, sig): kill for one thread; a process is one thread
    /// here, so tid is a pid (and tgid, when given, the same). si_code is SI_TKILL (what raise sends).
    /// Linux: tgkill(2). Fails: -EINVAL (tid or tgid &lt;= 0, bad signal), -ESRCH, -EPERM (init).</summary>
    private long Tgkill(PProcess p, int tgid, int tid, int sig)
    {
        if (sig < 0 || sig > MaxSignal || tid <= 0 || tgid == 0 || tgid < -1) return -EINVAL;
        if (tgid > 0 && tgid != tid) return -ESRCH;
        if (tid == 1) return sig == 0 ? 0 : -EPERM;
        if (!_byPid.TryGetValue(tid, out var t) || t.State == PState.Zombie) return -ESRCH;
        SendSignal(t, sig, new SigInfo(SI_TKILL, p.Pid, 0, 0));
        return 0;
    }

    /// <summary>
    /// A fault the kernel does not resolve sends <paramref name="sig"/> (SIGSEGV, SIGILL, SIGFPE,
    /// SIGTRAP) at once: to the handler the program installed, when it has one and does not block
    /// the signal (the faulting instruction runs again when the handler returns, unless it
    /// siglongjmps away); otherwise the process ends (Linux's force_sig_fault), recorded in
    /// <see cref="Faults"/> and reported to the observer. SIGKILL (the kernel had no memory for a
    /// legal fault) always ends it.
    /// </summary>
    private void KillByFault(PProcess p, int sig, in Trap trap, bool outOfMemory = false)
    {
        var act = ActionOf(p, sig);
        if (!outOfMemory && sig != SIGKILL && act.Handler > SIG_IGN && (p.SigMask & Bit(sig)) == 0)
        {
            bool pf = trap.Kind == TrapKind.PageFault;
            int code = pf ? ((trap.PageFaultError & PageFaultError.Present) != 0 ? SEGV_ACCERR : SEGV_MAPERR) : sig == SIGTRAP ? SI_KERNEL : 1;
            var info = new SigInfo(code, 0, 0, pf ? trap.FaultAddress.Value : p.Rip);
            if (SetUpFrame(p, sig, info, act)) return;
        }
        Faults.Add(new PosixFault(p.Pid, p.Name, sig, outOfMemory ? "out of memory: " + trap : trap.ToString()));
        ReportFault(p, sig, trap, outOfMemory);
        TerminateBySignal(p, sig);
    }

    /// <summary>Host control: kills (SIGKILL) every live process running program NAME, as a session's
    /// "kill" button would. Call only between runs. Returns the number of processes killed.</summary>
    public int KillProgram(string name) => KillWhere(q => q.Name == name, SIGKILL);

    /// <summary>Host control: sends <paramref name="sig"/> to every live process matching
    /// <paramref name="match"/> (SIGKILL ends them at once; another signal is delivered as any
    /// other). Call only between runs. Returns the number of processes signalled.</summary>
    public int KillWhere(Func<PProcess, bool> match, int sig)
    {
        if (KernelError is not null) return 0;
        int n = 0;
        foreach (var q in _procs.Where(q => q.State != PState.Zombie && match(q)).ToList())
        {
            if (q.State == PState.Zombie) continue;      // may have been reaped by an earlier kill
            if (!_byPid.ContainsKey(q.Pid)) continue;
            SendSignal(q, sig, new SigInfo(SI_KERNEL, 0, 0, 0));
            n++;
        }
        if (_runNext is { } rn && (rn.State != PState.Runnable || !_byPid.ContainsKey(rn.Pid))) _runNext = null;
        if (_cur is { } cur && (cur.State == PState.Zombie || (cur.SigPending & ~cur.SigMask) != 0))
        {
            // the running process died or has a signal to take: let the scheduler deliver it
            cur.SaveFrom(_m.Cpu);
            _cur = null;
        }
        if (_cur is null)
        {
            // load another process (or idle) so the CPU never runs freed memory
            _m.Cpu.Cr3 = IdleRoot;
            if (_procs.Count > 0) Schedule();
        }
        return n;
    }

    /// <summary>
    /// rt_sigaction(sig, act, oact, sigsetsize): the old action (struct kernel_sigaction: handler,
    /// flags, restorer, mask) into *oact, then the new one from *act. Setting SIG_IGN (or SIG_DFL
    /// for a signal ignored by default) throws away that signal if pending. Linux: rt_sigaction(2).
    /// Fails: -EINVAL (sigsetsize not 8, sig out of 1..64, or SIGKILL/SIGSTOP with a new action),
    /// -EFAULT.
    /// </summary>
    private long RtSigaction(PProcess p, int sig, UserPtr act, UserPtr oact, ulong sigsetsize)
    {
        if (sigsetsize != 8 || sig < 1 || sig > MaxSignal) return -EINVAL;
        if (!act.IsNull && (sig == SIGKILL || sig == SIGSTOP)) return -EINVAL;
        Span<byte> a = stackalloc byte[32];
        SigAction next = default;
        if (!act.IsNull)
        {
            if (!CopyIn(p, act, a)) return -EFAULT;
            next = new SigAction(BinaryPrimitives.ReadUInt64LittleEndian(a), BinaryPrimitives.ReadUInt64LittleEndian(a[8..]),
                BinaryPrimitives.ReadUInt64LittleEndian(a[16..]), BinaryPrimitives.ReadUInt64LittleEndian(a[24..]) & ~Uncatchable);
        }
        var old = ActionOf(p, sig);
        if (!oact.IsNull)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(a, old.Handler);
            BinaryPrimitives.WriteUInt64LittleEndian(a[8..], old.Flags);
            BinaryPrimitives.WriteUInt64LittleEndian(a[16..], old.Restorer);
            BinaryPrimitives.WriteUInt64LittleEndian(a[24..], old.Mask);
            if (!CopyOut(p, oact, a)) return -EFAULT;
        }
        if (!act.IsNull)
        {
            (p.SigActions ??= new SigAction[MaxSignal])[sig - 1] = next;
            if (next.Handler == SIG_IGN || (next.Handler == SIG_DFL && IgnoredByDefault(sig))) p.SigPending &= ~Bit(sig);
        }
        return 0;
    }

    private const int SIG_BLOCK = 0, SIG_UNBLOCK = 1, SIG_SETMASK = 2;

    /// <summary>
    /// rt_sigprocmask(how, set, oldset, sigsetsize): the old blocked set into *oldset, then SIG_BLOCK
    /// adds *set, SIG_UNBLOCK removes it, SIG_SETMASK replaces it (SIGKILL and SIGSTOP never blocked).
    /// A pending signal it unblocks is delivered before the call returns. Linux: rt_sigprocmask(2).
    /// Fails: -EINVAL (sigsetsize not 8, unknown how with a set), -EFAULT (nothing changes).
    /// </summary>
    private long RtSigprocmask(PProcess p, int how, UserPtr set, UserPtr oldset, ulong sigsetsize)
    {
        if (sigsetsize != 8) return -EINVAL;
        ulong mask = 0;
        if (!set.IsNull)
        {
            if (how is not (SIG_BLOCK or SIG_UNBLOCK or SIG_SETMASK)) return -EINVAL;
            if (!ReadU64(p, set, out mask)) return -EFAULT;
        }
        if (!oldset.IsNull && !WriteU64(p, oldset, p.SigMask)) return -EFAULT;
        if (!set.IsNull)
            p.SigMask = (how switch { SIG_BLOCK => p.SigMask | mask, SIG_UNBLOCK => p.SigMask & ~mask, _ => mask }) & ~Uncatchable;
        return 0;
    }

    /// <summary>rt_sigpending(set, sigsetsize): the signals pending while blocked into *set. Linux:
    /// rt_sigpending(2). Fails: -EINVAL (sigsetsize above 8), -EFAULT.</summary>
    private long RtSigpending(PProcess p, UserPtr set, ulong sigsetsize)
    {
        if (sigsetsize > 8) return -EINVAL;
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, p.SigPending & p.SigMask);
        return CopyOut(p, set, b[..(int)sigsetsize]) ? 0 : -EFAULT;
    }

    /// <summary>pause(): sleeps until a signal's handler runs (then -EINTR) or one ends the process.
    /// Linux: pause(2).</summary>
    private long Pause(PProcess p)
    {
        Block(p);
        return 0;
    }

    /// <summary>
    /// rt_sigsuspend(mask, sigsetsize): replaces the blocked set with *mask and sleeps until a
    /// signal's handler runs; the handler runs with that mask, and the old one is back once it
    /// returns; the call returns -EINTR. Linux: rt_sigsuspend(2). Fails: -EINVAL (sigsetsize not 8),
    /// -EFAULT.
    /// </summary>
    private long RtSigsuspend(PProcess p, UserPtr mask, ulong sigsetsize)
    {
        if (!p.Suspended)
        {
            if (sigsetsize != 8) return -EINVAL;
            if (!ReadU64(p, mask, out ulong m)) return -EFAULT;
            p.SuspendMask = p.SigMask;
            p.SigMask = m & ~Uncatchable;
            p.Suspended = true;
        }
        Block(p);
        return 0;
    }

    /// <summary>
    /// rt_sigtimedwait(set, info, timeout, sigsetsize): takes a pending signal of *set (lowest
    /// first) without running its handler, its siginfo into *info unless NULL, and returns its
    /// number; waits for one until *timeout (NULL: forever) has passed on the machine clock.
    /// Linux: rt_sigtimedwait(2). Fails: -EINVAL (sigsetsize not 8, bad timeout), -EFAULT,
    /// -EAGAIN (the time passed), -EINTR (another signal's handler ran).
    /// </summary>
    private long RtSigtimedwait(PProcess p, UserPtr set, UserPtr info, UserPtr timeout, ulong sigsetsize)
    {
        if (sigsetsize != 8) return -EINVAL;
        if (!ReadU64(p, set, out ulong want)) return -EFAULT;
        want &= ~Uncatchable;
        ulong ready = p.SigPending & want;
        if (ready != 0)
        {
            int sig = System.Numerics.BitOperations.TrailingZeroCount(ready) + 1;
            if (!info.IsNull && !CopyOut(p, info, SigInfoBytes(sig, p.PendingInfo![sig - 1]))) return -EFAULT;
            p.SigPending &= ~Bit(sig);
            p.WaitSet = 0;
            p.WakeAt = 0;
            return sig;
        }
        if (p.WaitSet != 0)
        {
            // woken or rescheduled while waiting
            if (p.WakeAt != 0 && _m.Clock >= p.WakeAt) { p.WaitSet = 0; p.WakeAt = 0; return -EAGAIN; }
            Block(p);
            return 0;
        }
        ulong ns = ulong.MaxValue;
        if (!timeout.IsNull)
        {
            Span<byte> ts = stackalloc byte[16];
            if (!CopyIn(p, timeout, ts)) return -EFAULT;
            long sec = BinaryPrimitives.ReadInt64LittleEndian(ts), nsec = BinaryPrimitives.ReadInt64LittleEndian(ts[8..]);
            if (sec < 0 || nsec < 0 || nsec >= 1_000_000_000) return -EINVAL;
            ns = (ulong)Math.Min(sec, 1000L * 1000) * 1_000_000_000UL + (ulong)nsec;
            if (ns == 0) return -EAGAIN;
        }
        p.WaitSet = want == 0 ? Bit(MaxSignal) : want;   // (an empty set still waits: for the time, or a handler)
        p.WakeAt = ns == ulong.MaxValue ? 0 : _m.Clock + ns;
        Block(p);
        return 0;
    }

    /// <summary>True when <paramref name="sp"/> is on <paramref name="p"/>'s alternate signal stack.</summary>
    private static bool OnAltStack(PProcess p, ulong sp) =>
        p.AltStackFlags != SS_DISABLE && sp > p.AltStackSp && sp - p.AltStackSp <= p.AltStackSize;

    /// <summary>
    /// sigaltstack(ss, old): the alternate stack (stack_t: sp, flags, size) handlers with SA_ONSTACK
    /// run on: the old one into *old, then *ss (flags 0 to use it, SS_DISABLE to drop it;
    /// SS_AUTODISARM accepted). Linux: sigaltstack(2). Fails: -EFAULT, -EPERM (changing it while on
    /// it), -EINVAL (other flags), -ENOMEM (smaller than MINSIGSTKSZ).
    /// </summary>
    private long Sigaltstack(PProcess p, UserPtr ss, UserPtr old)
    {
        Span<byte> b = stackalloc byte[24];
        bool on = OnAltStack(p, p.Regs[(int)Register.Rsp]);
        ulong sp = 0, size = 0;
        int flags = 0;
        if (!ss.IsNull)
        {
            if (!CopyIn(p, ss, b)) return -EFAULT;
            sp = BinaryPrimitives.ReadUInt64LittleEndian(b);
            flags = BinaryPrimitives.ReadInt32LittleEndian(b[8..]);
            size = BinaryPrimitives.ReadUInt64LittleEndian(b[16..]);
            if (on) return -EPERM;
            int mode = flags & ~unchecked((int)0x8000_0000);    // SS_AUTODISARM
            if (mode is not (0 or SS_DISABLE or SS_ONSTACK)) return -EINVAL;
            if (mode != SS_DISABLE && size < MinSigStackSize) return -ENOMEM;
            flags = mode == SS_DISABLE ? SS_DISABLE : 0;
        }
        if (!old.IsNull)
        {
            b.Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(b, p.AltStackSp);
            BinaryPrimitives.WriteInt32LittleEndian(b[8..], on ? SS_ONSTACK : p.AltStackFlags);
            BinaryPrimitives.WriteUInt64LittleEndian(b[16..], p.AltStackSize);
            if (!CopyOut(p, old, b)) return -EFAULT;
        }
        if (!ss.IsNull)
        {
            p.AltStackFlags = flags;
            (p.AltStackSp, p.AltStackSize) = flags == SS_DISABLE ? (0UL, 0UL) : (sp, size);
        }
        return 0;
    }

    private bool WriteU64(PProcess p, UserPtr at, ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return CopyOut(p, at, b);
    }
}
