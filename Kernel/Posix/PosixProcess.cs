using Lab.Kernel.Common;
using Lab.Machine;

namespace Lab.Kernel.Posix;

/// <summary>A POSIX process's state. Blocked processes re-execute their system call when woken.</summary>
public enum PState : byte { Runnable, Blocked, Zombie }

/// <summary>
/// One POSIX process (Linux's task_struct, much reduced): pid and parent, the saved user registers
/// (<see cref="UserContext"/>), the address space (<see cref="Root"/>, the page-table root, plus the
/// program's segments and break), the descriptor table, what wait4 reports once it is a zombie, and
/// the counters of process tracking.
/// </summary>
public sealed partial class PProcess : UserContext
{
    public PProcess() => FpState = NewFpState();

    public int Pid;
    public int Parent;
    public PState State;
    /// <summary>The page-table root (what CR3 holds while it runs); default once it is a zombie.</summary>
    public PhysAddr Root;
    /// <summary>The program it runs: the last path component of its executable.</summary>
    public string Name = "";
    internal readonly OpenFile?[] Fds = new OpenFile?[PosixKernel.MaxFds];
    /// <summary>The current directory (absolute, normalised): relative paths start here. Inherited
    /// by fork, kept by execve.</summary>
    internal string Cwd = "/";
    /// <summary>FD_CLOEXEC per descriptor: execve closes those descriptors.</summary>
    internal readonly bool[] CloseOnExec = new bool[PosixKernel.MaxFds];
    /// <summary>set_tid_address / CLONE_CHILD_CLEARTID's address and set_robust_list's head: recorded
    /// only. Linux zeroes the tid and wakes a futex at exit for the other threads; a process here has
    /// one thread, so nobody could be waiting.</summary>
    internal ulong ClearChildTid, RobustList;
    /// <summary>rt_sigprocmask's blocked set, and rt_sigaction's actions (null until the first one).</summary>
    internal ulong SigMask;
    internal SigAction[]? SigActions;
    /// <summary>Signals sent and not yet delivered (one of each standard signal, as Linux), and what
    /// each one's siginfo says (null until the first).</summary>
    internal ulong SigPending;
    internal SigInfo[]? PendingInfo;
    /// <summary>rt_sigsuspend: the mask to put back once a handler has run (valid while Suspended).</summary>
    internal ulong SuspendMask;
    internal bool Suspended;
    /// <summary>rt_sigtimedwait: the set it waits for (0 = not waiting).</summary>
    internal ulong WaitSet;
    /// <summary>sigaltstack: base, size, flags (SS_DISABLE when none).</summary>
    internal ulong AltStackSp, AltStackSize;
    internal int AltStackFlags = PosixKernel.SS_DISABLE;
    /// <summary>Process group and session (setpgid, setsid); inherited by fork, kept by execve.</summary>
    public int Pgid, Sid;
    /// <summary>execve ran since fork (setpgid on such a child fails with EACCES).</summary>
    internal bool Execed;
    /// <summary>Stopped by SIGSTOP/SIGTSTP/...: not scheduled until SIGCONT (or SIGKILL).</summary>
    public bool Stopped;
    /// <summary>A stop or continue the parent's wait4 (WUNTRACED / WCONTINUED) has not reported:
    /// its wait status, 0 when none.</summary>
    internal int StateReport;
    /// <summary>ITIMER_REAL (alarm, setitimer): machine time of the next SIGALRM (0 = off) and the
    /// reload interval, in nanoseconds of machine time.</summary>
    internal ulong AlarmAt, AlarmInterval;
    /// <summary>Blocked reading the console (woken by input, not by other events).</summary>
    internal bool TtyWait;
    /// <summary>The heap: from BrkStart (the end of the highest segment) up to Brk.</summary>
    internal ulong BrkStart, Brk;
    /// <summary>The ELF segments as mapped (shared by fork, replaced by execve); for the track report.</summary>
    internal List<(ulong Start, ulong End, bool Writable)> Segments = new();
    /// <summary>The wait4 status word (sys/wait.h) and the exit code, once a zombie.</summary>
    public int WaitStatus;
    public int ExitCode;
    /// <summary>The process blocked in a system call and will execute the same `syscall` again.</summary>
    internal bool Restarting;
    /// <summary>nanosleep: the machine time at which it wakes (0 = not sleeping).</summary>
    internal ulong WakeAt;
    // process tracking (track_self, track_wait)
    internal bool Tracked, TrackArmed;
    internal long[]? Counts;
    internal ulong BytesRead, BytesWritten;
    internal byte[]? TrackRecord;
}

/// <summary>One signal's action as rt_sigaction records it (struct kernel_sigaction: handler, flags,
/// restorer, mask).</summary>
public readonly record struct SigAction(ulong Handler, ulong Flags, ulong Restorer, ulong Mask);

/// <summary>What a pending signal's siginfo_t says: who sent it and why (si_code), and for SIGCHLD
/// the child's status, for a fault the address.</summary>
public readonly record struct SigInfo(int Code, int Pid, int Status, ulong Addr);

/// <summary>A record of a user fault that killed a process (WeensyOS reports these on the console).</summary>
public readonly record struct PosixFault(int Pid, string Name, int Signal, string Description);

/// <summary>
/// The faults that killed processes: the last <see cref="Capacity"/> of them, oldest first, and how
/// many there were in all. Bounded, because a session runs for weeks and a fork bomb of faulting
/// children would otherwise grow it (and every snapshot) without end.
/// </summary>
public sealed class FaultLog : IReadOnlyList<PosixFault>
{
    public const int Capacity = 64;

    private readonly PosixFault[] _ring = new PosixFault[Capacity];
    /// <summary>Index of the oldest kept fault.</summary>
    private int _first;
    private int _count;

    /// <summary>Faults kept (at most <see cref="Capacity"/>).</summary>
    public int Count => _count;
    /// <summary>Every fault since boot, including those no longer kept.</summary>
    public long Total { get; private set; }

    /// <summary>The <paramref name="i"/>-th kept fault, 0 the oldest.</summary>
    public PosixFault this[int i] =>
        (uint)i < (uint)_count ? _ring[(_first + i) % Capacity] : throw new ArgumentOutOfRangeException(nameof(i));

    internal void Add(PosixFault fault)
    {
        if (_count < Capacity) _ring[(_first + _count++) % Capacity] = fault;
        else { _ring[_first] = fault; _first = (_first + 1) % Capacity; }
        Total++;
    }

    /// <summary>Replaces the log (snapshot restore): the last <see cref="Capacity"/> of
    /// <paramref name="faults"/> are kept; <paramref name="total"/> counts those not kept too.</summary>
    internal void Restore(IReadOnlyList<PosixFault> faults, long total)
    {
        if (total < faults.Count) throw new ArgumentException("fewer faults in all than kept", nameof(total));
        Array.Clear(_ring);
        _first = _count = 0;
        for (int i = Math.Max(0, faults.Count - Capacity); i < faults.Count; i++) Add(faults[i]);
        Total = total;
    }

    public IEnumerator<PosixFault> GetEnumerator()
    {
        for (int i = 0; i < _count; i++) yield return this[i];
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
