using System.Buffers.Binary;
using Lab.Machine;
using static Lab.Kernel.Posix.Errno;
using static Lab.Kernel.Posix.Signals;

namespace Lab.Kernel.Posix;

// The signals family. Handlers and masks are recorded (rt_sigaction, rt_sigprocmask) so C libraries
// and programs that install them run, but nothing is delivered yet: a signal ends its target as its
// default action would, with the wait status saying which signal. This is where delivery goes.
public sealed partial class PosixKernel
{
    /// <summary>Ends <paramref name="p"/> by signal <paramref name="sig"/> (the default action of every
    /// signal this kernel sends): wait status WTERMSIG = sig, exit code 128 + sig.</summary>
    private void TerminateBySignal(PProcess p, int sig) => Terminate(p, WaitStatus.Signaled(sig), 128 + sig);

    /// <summary>
    /// kill(pid, sig): sends <paramref name="sig"/> to process <paramref name="pid"/>; 0 tests that
    /// it exists. SIGKILL and SIGTERM end it (a zombie already has). Linux: kill(2), for one positive
    /// pid only (no process groups).
    /// Fails: -EINVAL (a signal number out of range, another signal, or pid &lt;= 0), -EPERM (init,
    /// pid 1, cannot be signalled), -ESRCH (no such process).
    /// </summary>
    private long Kill(PProcess p, int pid, int sig)
    {
        if (sig < 0 || sig > MaxSignal) return -EINVAL;
        if (pid <= 0) return -EINVAL;
        if (pid == 1) return sig == 0 ? 0 : -EPERM;
        if (!_byPid.TryGetValue(pid, out var t)) return -ESRCH;
        if (sig != 0 && sig != SIGKILL && sig != SIGTERM) return -EINVAL;
        if (sig == 0 || t.State == PState.Zombie) return 0;
        TerminateBySignal(t, sig);
        return 0;
    }

    /// <summary>A fault the kernel does not resolve ends the process with <paramref name="sig"/>
    /// (SIGSEGV, SIGILL, SIGFPE, SIGTRAP; SIGKILL when the kernel had no memory for a legal fault),
    /// recorded in <see cref="Faults"/> and reported to the observer.</summary>
    private void KillByFault(PProcess p, int sig, in Trap trap, bool outOfMemory = false)
    {
        Faults.Add(new PosixFault(p.Pid, p.Name, sig, outOfMemory ? "out of memory: " + trap : trap.ToString()));
        ReportFault(p, sig, trap, outOfMemory);
        TerminateBySignal(p, sig);
    }

    /// <summary>Host control: kills (SIGKILL) every live process running program NAME, as a session's
    /// "kill" button would. Call only between runs. Returns the number of processes killed.</summary>
    public int KillProgram(string name) => KillWhere(q => q.Name == name, SIGKILL);

    /// <summary>Host control: ends every live process matching <paramref name="match"/> with signal
    /// <paramref name="sig"/>. Call only between runs. Returns the number of processes killed.</summary>
    public int KillWhere(Func<PProcess, bool> match, int sig)
    {
        if (KernelError is not null) return 0;
        int n = 0;
        foreach (var q in _procs.Where(q => q.State != PState.Zombie && match(q)).ToList())
        {
            if (q.State == PState.Zombie) continue;      // may have been reaped by an earlier kill
            if (!_byPid.ContainsKey(q.Pid)) continue;
            TerminateBySignal(q, sig);
            n++;
        }
        if (_runNext is { } rn && (rn.State != PState.Runnable || !_byPid.ContainsKey(rn.Pid))) _runNext = null;
        if (_cur is null)
        {
            // the running process died: load another one (or idle) so the CPU never runs freed memory
            _m.Cpu.Cr3 = IdleRoot;
            if (_procs.Count > 0) Schedule();
        }
        return n;
    }

    private const ulong SIG_IGN = 1;
    private const int SIGSTOP = 19;
    /// <summary>Signals no handler or mask can catch: SIGKILL and SIGSTOP.</summary>
    private const ulong Uncatchable = (1UL << (SIGKILL - 1)) | (1UL << (SIGSTOP - 1));

    /// <summary>
    /// rt_sigaction(sig, act, oact, sigsetsize): records the new action (struct kernel_sigaction:
    /// handler, flags, restorer, mask) and returns the old one in *oact. Recorded only: signals are not
    /// delivered to handlers yet (a later part). Linux: rt_sigaction(2).
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
        var old = p.SigActions?[sig - 1] ?? default;
        if (!oact.IsNull)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(a, old.Handler);
            BinaryPrimitives.WriteUInt64LittleEndian(a[8..], old.Flags);
            BinaryPrimitives.WriteUInt64LittleEndian(a[16..], old.Restorer);
            BinaryPrimitives.WriteUInt64LittleEndian(a[24..], old.Mask);
            if (!CopyOut(p, oact, a)) return -EFAULT;
        }
        if (!act.IsNull) (p.SigActions ??= new SigAction[MaxSignal])[sig - 1] = next;
        return 0;
    }

    private const int SIG_BLOCK = 0, SIG_UNBLOCK = 1, SIG_SETMASK = 2;

    /// <summary>
    /// rt_sigprocmask(how, set, oldset, sigsetsize): the old blocked set into *oldset, then SIG_BLOCK
    /// adds *set, SIG_UNBLOCK removes it, SIG_SETMASK replaces it (SIGKILL and SIGSTOP never blocked).
    /// Recorded only, as rt_sigaction. Linux: rt_sigprocmask(2).
    /// Fails: -EINVAL (sigsetsize not 8, unknown how with a set), -EFAULT (nothing changes).
    /// </summary>
    private long RtSigprocmask(PProcess p, int how, UserPtr set, UserPtr oldset, ulong sigsetsize)
    {
        if (sigsetsize != 8) return -EINVAL;
        ulong mask = 0;
        if (!set.IsNull)
        {
            if (how is not (SIG_BLOCK or SIG_UNBLOCK or SIG_SETMASK)) return -EINVAL;
            Span<byte> b = stackalloc byte[8];
            if (!CopyIn(p, set, b)) return -EFAULT;
            mask = BinaryPrimitives.ReadUInt64LittleEndian(b);
        }
        if (!oldset.IsNull)
        {
            Span<byte> o = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(o, p.SigMask);
            if (!CopyOut(p, oldset, o)) return -EFAULT;
        }
        if (!set.IsNull)
            p.SigMask = (how switch { SIG_BLOCK => p.SigMask | mask, SIG_UNBLOCK => p.SigMask & ~mask, _ => mask }) & ~Uncatchable;
        return 0;
    }
}
