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
public sealed class PProcess : UserContext
{
    public int Pid;
    public int Parent;
    public PState State;
    /// <summary>The page-table root (what CR3 holds while it runs); default once it is a zombie.</summary>
    public PhysAddr Root;
    /// <summary>The program it runs: the last path component of its executable.</summary>
    public string Name = "";
    internal readonly OpenFile?[] Fds = new OpenFile?[PosixKernel.MaxFds];
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

/// <summary>A record of a user fault that killed a process (WeensyOS reports these on the console).</summary>
public readonly record struct PosixFault(int Pid, string Name, int Signal, string Description);
