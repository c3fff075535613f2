using Lab.Kernel.Common;
using Lab.Machine;
using static Lab.Kernel.Posix.Signals;

namespace Lab.Kernel.Posix;

/// <summary>
/// The POSIX profile kernel: Linux x86-64 system calls for userland/posix, processes with
/// copy-on-write fork, execve, wait4, pipes and an in-memory file system. Written in C# and run when
/// the CPU traps (high-level emulation, like <see cref="Weensy.Core.WeensyKernel"/>). Nothing a guest does may
/// throw out of <see cref="OnTrap"/>: errors at the user boundary are values (-errno).
///
/// This file is the core: the kernel's state, the trap handler, the scheduler and page faults. The rest of the class, one file per part:
///   PosixKernel.Syscalls.cs   THE system-call table (number, name, handler) and the dispatch
///   PosixKernel.Process.cs    process table; fork, clone, execve, exit, wait4, getpid, getppid, gettid,
///                             sched_yield, arch_prctl, set_tid_address, set_robust_list
///   PosixKernel.Exec.cs       building a program image: ELF segments, the System V stack and auxv
///   PosixKernel.Memory.cs     brk, mmap, munmap, mprotect, madvise, page_alloc; address spaces:
///                             copy-on-write, the zero page, shared leaf tables
///   PosixKernel.UserMemory.cs copying to and from user memory (user pointers checked page by page), paths
///   PosixKernel.Files.cs      read, write, readv, writev, pread64, pwrite64, open, close, stat, fstat,
///                             lseek, dup, dup2, dup3, fcntl, ioctl, unlink, getdents64
///   PosixKernel.Paths.cs      openat, newfstatat, mkdir(at), rmdir/unlinkat, access/faccessat,
///                             chdir, fchdir, getcwd
///   PosixKernel.Names.cs      path resolution through symbolic links; symlink(at), readlink(at), link(at),
///                             rename(at, at2), truncate, ftruncate, fsync, utimensat, chmod, statfs
///   PosixKernel.Proc.cs       /proc, made from the kernel's state on lookup
///   PosixKernel.Poll.cs       poll, ppoll, select, pselect6
///   PosixKernel.Pipes.cs      pipe, pipe2, and reading and writing pipes
///   PosixKernel.Signals.cs    sending signals: kill, tkill, tgkill, rt_sigaction, rt_sigprocmask,
///                             rt_sigpending, pause, rt_sigsuspend, rt_sigtimedwait, sigaltstack, faults
///   PosixKernel.SignalFrame.cs delivering them: default actions, handler frames, rt_sigreturn, EINTR
///   PosixKernel.Jobs.cs       process groups and sessions, stop/continue, SIGCHLD, alarm/itimers
///   PosixKernel.Tty.cs        the console as a terminal: termios, line discipline, job-control keys
///   PosixKernel.Time.cs       nanosleep, clock_nanosleep, clock_gettime, clock_getres, gettimeofday, time
///   PosixKernel.Identity.cs   uname, getuid and friends, getrandom, sysinfo, prlimit64/getrlimit
///   PosixKernel.Track.cs      Lab's process tracking (track_self, track_wait)
///   PosixKernel.Invariants.cs, PosixKernel.Host.cs, PosixKernel.Snapshot.cs: checks, host views, snapshots
/// Physical pages are <see cref="PageFrames"/>; page tables are only ever read or written through
/// <see cref="PageTables"/>, the walker both kernels share.
/// Constants crossing the user boundary (errno, signals, open flags) are Linux's, in Linux.cs.
/// </summary>
public sealed partial class PosixKernel : ITrapHandler
{
    public const int MaxFds = 128;
    public const int MaxProcs = 4096;
    public const int MaxPid = 4_194_304;
    /// <summary>User space is the lower half of the 48-bit address space.</summary>
    public const ulong UserLimit = 0x0000_8000_0000_0000UL;
    public const ulong StackTop = 0x0000_7FFF_FFFF_0000UL;
    /// <summary>The stack grows on demand down to StackTop - StackLimit (ulimit -s).</summary>
    public const ulong StackLimit = 8UL << 20;
    /// <summary>Bytes of argv and envp strings (and their pointers) execve accepts.</summary>
    public const int ArgMax = 256 * 1024;
    private const ulong Page = 4096;
    private const ulong IdleRoot = 0x1000;   // a reserved, always-zero page used as CR3 while idle

    private readonly X64Machine _m;
    /// <summary>The page-table walker: every read or change of a page table goes through it.</summary>
    private readonly PageTables _pt;
    /// <summary>Physical pages: refcounts and owners, the allocator.</summary>
    private readonly PageFrames _pages;
    /// <summary>Owner of the tables the walker allocates through <see cref="_allocTable"/> (set just
    /// before each walker call that may allocate; one cached delegate instead of a closure per call).</summary>
    private int _tableOwner;
    private readonly Func<PhysAddr?> _allocTable;
    private readonly Dictionary<int, PProcess> _byPid = new();
    /// <summary>Every process, live or zombie, in scheduling order.</summary>
    private readonly List<PProcess> _procs = new();
    /// <summary>Round-robin position: the index in <see cref="_procs"/> that ran last.</summary>
    private int _rr;
    private int _nextPid = 1;
    /// <summary>The process on the CPU (null while idle).</summary>
    private PProcess? _cur;
    /// <summary>A process to run next regardless of the round robin (fork's child).</summary>
    private PProcess? _runNext;

    public PosixFs Fs { get; }
    public ConsoleIo Console { get; }
    /// <summary>The faults that killed processes: the most recent ones, and a total.</summary>
    public FaultLog Faults { get; } = new();
    public int? MainPid { get; private set; }
    /// <summary>The wait status word of the main program once it has exited.</summary>
    public int? MainStatus { get; private set; }
    public bool AllExited => _procs.Count == 0;
    public int ProcessCount => _procs.Count;
    public string? KernelError { get; private set; }
    public bool IdleWaitingForInput { get; private set; }
    /// <summary>Fork shares writable pages copy-on-write (default); false copies every page at fork
    /// (the eager mode the processes benchmark compares against).</summary>
    public bool CopyOnWriteFork { get; set; } = true;

    public PosixKernel(X64Machine machine, PosixFs fs, ConsoleIo console)
    {
        _m = machine;
        Fs = fs;
        Console = console;
        _pt = new PageTables(machine, new ChangeCounter());
        _pages = new PageFrames(machine.Memory);
        _allocTable = () => _pages.Allocate(_tableOwner);
        _nextPid = 2;                             // pid 1 is init (inside the kernel: it reaps orphans)
    }

    // =========================================================================================
    // physical pages

    public int FreePages => _pages.Free;

    /// <summary>
    /// Pages a copy-on-write fork leaves free beyond the tables it allocates. Such a fork costs a
    /// few table pages, but right after it both processes fault on their stack and data (a leaf
    /// table and a page each); with less memory than this fork fails with ENOMEM instead of handing
    /// out an address space whose first write would kill a process for lack of memory.
    /// </summary>
    private const int ForkReserve = 32;

    /// <summary>Physical pages in the machine (the reserved first MiB included).</summary>
    public int PageCount => _pages.Count;
    /// <summary>References to physical page <paramref name="page"/> (0 = free).</summary>
    public int PageRefcount(int page) => _pages.Refcount(page);
    /// <summary>The pid that allocated page <paramref name="page"/>; -1 reserved, 0 free.</summary>
    public int PageOwner(int page) => _pages.Owner(page);

    // =========================================================================================
    // traps

    /// <summary>
    /// Every trap from user mode arrives here (the CPU's trap callback): save the registers, handle
    /// the trap, then run the chosen process. A kernel bug (an exception) must not take the host down:
    /// it is recorded in <see cref="KernelError"/> and the machine stops.
    /// </summary>
    public void OnTrap(X64Machine machine, in Trap trap)
    {
        try
        {
            Handle(in trap);
        }
        catch (Exception e)
        {
            KernelError ??= e.ToString();
            _cur = null;
            machine.Stop();
        }
    }

    private void Handle(in Trap trap)
    {
        if (KernelError is not null) { _m.Stop(); return; }
        var p = _cur;
        if (p is null)
        {
            Schedule();
            return;
        }
        p.SaveFrom(_m.Cpu);
        if (_m.Clock > p.RanAt) p.CpuNs += _m.Clock - p.RanAt;   // its CPU time (/proc/PID/stat)
        p.RanAt = _m.Clock;
        switch (trap.Kind)
        {
            case TrapKind.Timer:
                Schedule();
                return;
            case TrapKind.Syscall:
                Syscall(p);
                break;
            case TrapKind.PageFault:
                PageFault(p, trap);
                break;
            case TrapKind.InvalidOpcode:
                KillByFault(p, SIGILL, trap);
                break;
            case TrapKind.DivideError:
                KillByFault(p, SIGFPE, trap);
                break;
            case TrapKind.Breakpoint:
                KillByFault(p, SIGTRAP, trap);
                break;
            default:
                KillByFault(p, SIGSEGV, trap);
                break;
        }
        if (_runNext is { } next && next.State == PState.Runnable && _byPid.ContainsKey(next.Pid))
        {
            _runNext = null;
            _rr = _procs.IndexOf(next);
            RunProcess(next);
            return;
        }
        _runNext = null;
        // back to user mode: pending signals first (a handler frame, a stop, or the end)
        if (_cur == p && p.State == PState.Runnable && (p.SigPending == 0 || DeliverSignals(p))) RunProcess(p);
        else Schedule();
    }

    /// <summary>
    /// A page fault from user mode. Two are the kernel's to resolve: a touch just below the stack
    /// (within <see cref="StackLimit"/>) grows it, and a write to a copy-on-write page (or through a
    /// leaf table fork shares) gets a private copy. Anything else is the program's bug: SIGSEGV.
    /// </summary>
    private void PageFault(PProcess p, in Trap trap)
    {
        ulong va = trap.FaultAddress.Value;
        var err = trap.PageFaultError;
        bool legal = false;   // a fault the kernel resolves: stack growth or a write to a copy-on-write page
        if ((err & PageFaultError.User) != 0 && va < UserLimit)
        {
            var m = _pt.Lookup(p.Root, new VirtAddr(va & ~(Page - 1)));
            legal = m is null && InStack(va);
            if (legal && UserPage(p, va, write: false) is not null) return;
            if (m is { } mm && (err & PageFaultError.Write) != 0 && (err & PageFaultError.Present) != 0 && mm.User && !mm.Writable)
            {
                legal = (mm.Pte & (ulong)PteFlags.Writable) != 0 || mm.IsCow;   // writable once its page or table is copied
                if (MakeWritable(p, mm)) return;
            }
        }
        // A legal fault that still failed found no free page: the kernel's lack, not the program's
        // mistake. Kill it as Linux's out-of-memory killer does (SIGKILL), not with SIGSEGV.
        KillByFault(p, legal ? SIGKILL : SIGSEGV, trap, outOfMemory: legal);
    }

    // =========================================================================================
    // scheduling

    /// <summary>The process whose floating-point state (<see cref="UserContext.FpState"/>) is the one
    /// live in the CPU, its image being stale; null when every image is current. Lazy switching, as
    /// Linux does: a trap and the return to the same process cost nothing, only a switch to another
    /// process saves one image and loads the other.</summary>
    private PProcess? _fpOwner;

    /// <summary>Gives the CPU <paramref name="p"/>'s floating-point state, saving the previous owner's.</summary>
    private void SwitchFpState(PProcess p)
    {
        if (_fpOwner == p) return;
        if (_fpOwner?.FpState is { } previous) _m.Cpu.SaveFxState(previous);
        _m.Cpu.LoadFxState(p.FpState!);
        _fpOwner = p;
    }

    /// <summary>Brings the owner's image up to date, before an image is read (a signal frame, fork, a snapshot).</summary>
    private void FlushFpState()
    {
        if (_fpOwner?.FpState is { } image) _m.Cpu.SaveFxState(image);
    }

    /// <summary>After <paramref name="p"/>'s image was replaced (exec, rt_sigreturn): the CPU loads it
    /// when <paramref name="p"/> runs next.</summary>
    private void FpStateChanged(PProcess p)
    {
        if (_fpOwner == p) _fpOwner = null;
    }

    /// <summary>Puts <paramref name="p"/> on the CPU: its registers and its address space.</summary>
    private void RunProcess(PProcess p)
    {
        _cur = p;
        IdleWaitingForInput = false;
        p.LoadInto(_m.Cpu);
        SwitchFpState(p);
        p.RanAt = _m.Clock;
        if (_m.Cpu.Cr3 != p.Root.Value) _m.Cpu.Cr3 = p.Root.Value;
    }

    /// <summary>
    /// Round robin from the process after the last one run: the first runnable process runs (a
    /// sleeper whose time has come, a console reader once input arrived, or a blocked process with a
    /// signal to take becomes runnable; stopped processes wait for SIGCONT), after its pending
    /// signals are delivered. First the console's typed keys go through the line discipline and
    /// expired timers fire. With nothing to run, the CPU idles on an empty page table until the next
    /// timer interrupt.
    /// </summary>
    private void Schedule()
    {
        ulong now = _m.Clock;
        TtyPump();
        FireTimers(now);
        bool again = true;
        while (again)
        {
            again = false;
            bool input = TtyReadable();
            int n = _procs.Count;
            for (int k = 1; k <= n; k++)
            {
                int i = (_rr + k) % n;
                var q = _procs[i];
                if (q.Stopped) continue;
                if (q.State == PState.Blocked && q.WakeAt != 0 && now >= q.WakeAt) q.State = PState.Runnable;
                if (q.State == PState.Blocked && input && q.TtyWait) { q.State = PState.Runnable; q.TtyWait = false; }
                if (q.State == PState.Blocked && input && q.Polling) q.State = PState.Runnable;   // poll/select on the console
                if (q.State == PState.Blocked && (q.SigPending & ~q.SigMask) != 0) q.State = PState.Runnable;
                if (q.State != PState.Runnable) continue;
                q.TtyWait = false;                       // (whatever woke it, it no longer waits for a key)
                if (q.SigPending != 0 && !DeliverSignals(q)) { again = true; break; }   // it stopped or ended: look again
                _rr = i;
                RunProcess(q);
                return;
            }
        }
        // nothing to run: idle until the next timer interrupt
        _cur = null;
        // Only keyboard input can wake a blocked process now, unless one sleeps or has a timer set.
        IdleWaitingForInput = _procs.Any(q => q.State == PState.Blocked || q.Stopped)
            && !_procs.Any(q => (q.State == PState.Blocked && q.WakeAt != 0 && !q.Stopped) || q.AlarmAt != 0);
        _m.Cpu.Cr3 = IdleRoot;       // an empty page table: nothing user-visible is left mapped
        if (_procs.Count > 0 && _m.TimerInterval != 0) _m.WaitForTimer();
        _m.Stop();
    }

    /// <summary>
    /// Blocks <paramref name="p"/> in its current system call: it re-executes the `syscall`
    /// instruction when woken (so a blocking handler just returns, and runs again from the start).
    /// </summary>
    private void Block(PProcess p)
    {
        p.State = PState.Blocked;
        p.Rip -= 2;              // the length of `syscall`
        p.Restarting = true;
    }

    /// <summary>Undoes <see cref="Block"/>: a call that blocked part way (readv after some buffers)
    /// returns what it did instead of running again.</summary>
    private void Unblock(PProcess p)
    {
        p.State = PState.Runnable;
        p.Rip += 2;
        p.Restarting = false;
    }

    /// <summary>Wakes every process blocked on an event (data in a pipe, a child's exit); sleepers
    /// and console readers stay.</summary>
    private void WakeAll()
    {
        foreach (var q in _procs) if (q.State == PState.Blocked && ((q.WakeAt == 0 && !q.TtyWait) || q.Polling)) q.State = PState.Runnable;
    }
}
