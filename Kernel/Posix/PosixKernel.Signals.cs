using Lab.Machine;
using static Lab.Kernel.Posix.Errno;
using static Lab.Kernel.Posix.Signals;

namespace Lab.Kernel.Posix;

// The signals family. There are no handlers yet (rt_sigaction is ENOSYS): a signal ends its target
// as its default action would, with the wait status saying which signal. This is where signal
// delivery, handlers, masks and rt_sigaction go.
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
}
