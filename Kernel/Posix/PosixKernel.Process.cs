using System.Buffers.Binary;
using System.Text;
using Lab.Machine;
using static Lab.Kernel.Posix.Errno;

namespace Lab.Kernel.Posix;

// The process family: the process table, starting the first program, ending a process, and the
// system calls fork, clone (as fork), execve, exit/exit_group, wait4, getpid, getppid, gettid,
// sched_yield, and what a C library's start-up asks of its one thread: arch_prctl (the FS/GS base
// for thread-local storage), set_tid_address, set_robust_list, rseq.
public sealed partial class PosixKernel
{
    // =========================================================================================
    // the process table

    /// <summary>The next free pid, counting up from 2 and wrapping below <see cref="MaxPid"/> (Linux's
    /// pid_max); -1 when every pid is taken.</summary>
    private int NewPid()
    {
        for (int tries = 0; tries < MaxPid; tries++)
        {
            int pid = _nextPid++;
            if (_nextPid >= MaxPid) _nextPid = 2;
            if (pid >= 2 && !_byPid.ContainsKey(pid)) return pid;
        }
        return -1;
    }

    /// <summary>A new process with an empty address space (a zeroed root table), child of
    /// <paramref name="parent"/>; null when the table or memory is full.</summary>
    private PProcess? NewProcess(int parent)
    {
        if (_procs.Count >= MaxProcs) return null;
        int pid = NewPid();
        if (pid < 0) return null;
        var root = _pages.Allocate(pid);
        if (root is null) return null;
        var p = new PProcess { Pid = pid, Parent = parent, Root = root.Value };
        _byPid[pid] = p;
        _procs.Add(p);
        return p;
    }

    /// <summary>Takes <paramref name="p"/> out of the process table (it was reaped or never started).</summary>
    private void Remove(PProcess p)
    {
        _byPid.Remove(p.Pid);
        int i = _procs.IndexOf(p);
        _procs.RemoveAt(i);
        if (_rr > i) _rr--;
    }

    /// <summary>Starts the first program (its parent is init, pid 1), its descriptors 0-2 on the
    /// console. Returns null, or an error message for the host.</summary>
    public string? Spawn(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp)
    {
        var node = Fs.Lookup(path);
        if (node is null || node.IsDir) return $"{path}: not found";
        var p = NewProcess(1);
        if (p is null) return "out of memory";
        for (int fd = 0; fd < 3; fd++)
            p.Fds[fd] = new OpenFile { Kind = FileKind.Console, Readable = true, Writable = true, Refs = 1 };
        var args = argv.Select(a => Encoding.UTF8.GetBytes(a)).ToList();
        var envs = envp.Select(a => Encoding.UTF8.GetBytes(a)).ToList();
        long err = BuildImage(p, PosixFs.Normalize(path)!, node, args, envs);
        if (err != 0)
        {
            for (int fd = 0; fd < 3; fd++) p.Fds[fd] = null;
            _pages.Release(p.Root);
            Remove(p);
            return err == -ENOEXEC ? $"{path}: not an ELF64 x86-64 executable" : $"{path}: exec failed ({err})";
        }
        MainPid ??= p.Pid;
        p.Pgid = p.Sid = p.Pid;                 // a session leader, the console's foreground
        TtyAttach(p);
        if (_cur is null) RunProcess(p);
        return null;
    }

    /// <summary>
    /// do_exit: ends a process with wait status <paramref name="waitStatus"/>. Its descriptors are
    /// closed and its memory freed at once; a zombie stays for the parent's wait4, which gets SIGCHLD
    /// (a parent ignoring SIGCHLD has it reaped at once). Its children go to init (pid 1), which reaps
    /// zombies at once, as does a process whose parent is init; a stopped child left so gets SIGHUP
    /// and SIGCONT (Linux does so for a stopped process group orphaned).
    /// </summary>
    private void Terminate(PProcess p, int waitStatus, int exitCode)
    {
        if (p.State == PState.Zombie) return;
        if (p.Tracked) p.TrackRecord = MakeTrackRecord(p, exitCode);
        for (int fd = 0; fd < MaxFds; fd++) CloseFd(p, fd);
        FreeSpace(p.Root);
        p.Root = default;
        p.State = PState.Zombie;
        p.WaitStatus = waitStatus;
        p.ExitCode = exitCode;
        p.Stopped = false;
        p.SigPending = 0;
        p.AlarmAt = 0;
        if (p.Pid == MainPid) MainStatus = waitStatus;
        foreach (var c in _procs.Where(c => c.Parent == p.Pid).ToList())
        {
            c.Parent = 1;
            if (c.State == PState.Zombie) Remove(c);     // init reaps at once
            else if (c.Stopped) { SendSignal(c, Signals.SIGHUP, default); SendSignal(c, Signals.SIGCONT, default); }
        }
        if (!TellParentOfExit(p)) Remove(p);
        if (_cur == p) _cur = null;
        WakeAll();
    }

    // =========================================================================================
    // system calls

    /// <summary>getpid(): the caller's pid. Linux: getpid(2). Never fails.</summary>
    private long GetPid(PProcess p) => p.Pid;

    /// <summary>getppid(): the parent's pid (1 once the parent has exited). Linux: getppid(2). Never fails.</summary>
    private long GetPpid(PProcess p) => p.Parent;

    /// <summary>sched_yield(): gives the CPU to the next runnable process, returning 0 when the caller
    /// runs again. Linux: sched_yield(2). Never fails.</summary>
    private long SchedYield(PProcess p)
    {
        p.Regs[(int)Register.Rax] = 0;
        _cur = null;
        return 0;
    }

    /// <summary>exit(code), exit_group(code): ends the caller with status code &amp; 0xff (one thread
    /// per process, so both are the same). Linux: _exit(2), exit_group(2). Does not return.</summary>
    private long Exit(PProcess p, int code)
    {
        Terminate(p, WaitStatus.Exited(code), code & 0xff);
        return 0;
    }

    /// <summary>
    /// fork(): a new process with a copy of the caller's address space, registers and descriptors
    /// (the open files are shared, as after dup). The copy is copy-on-write: the child shares the
    /// parent's leaf page tables read-only (<see cref="ShareSpace"/>), so fork costs one pass over the
    /// upper-level tables whatever the size. Returns the child's pid to the parent and 0 to the child,
    /// which runs first. Linux: fork(2).
    /// Fails: -EAGAIN when the process table is full, -ENOMEM when memory is (or is nearly: a fork
    /// must leave <see cref="ForkReserve"/> pages for the first copy-on-write faults).
    /// </summary>
    private long Fork(PProcess p)
    {
        if (CopyOnWriteFork && _pages.Free < ForkReserve) return _procs.Count >= MaxProcs ? -EAGAIN : -ENOMEM;
        var c = NewProcess(p.Pid);
        if (c is null) return _procs.Count >= MaxProcs ? -EAGAIN : -ENOMEM;
        bool ok = CopyOnWriteFork ? ShareSpace(p, c) : CopySpace(p, c);
        if (!ok)
        {
            FreeSpace(c.Root);
            Remove(c);
            return -ENOMEM;
        }
        _m.Cpu.FlushTlb();
        FlushFpState();
        c.CopyRegistersFrom(p);
        c.Regs[(int)Register.Rax] = 0;
        c.Name = p.Name;
        c.InheritProcInfo(p);
        c.BrkStart = p.BrkStart; c.Brk = p.Brk;
        c.Segments = p.Segments;
        for (int i = 0; i < MaxFds; i++) if (p.Fds[i] is { } f) { f.Refs++; c.Fds[i] = f; c.CloseOnExec[i] = p.CloseOnExec[i]; }
        c.SigMask = p.SigMask;
        c.Cwd = p.Cwd;
        c.SigActions = p.SigActions?.ToArray();
        c.Pgid = p.Pgid; c.Sid = p.Sid;                       // same group and session; no pending signals, no timer
        (c.AltStackSp, c.AltStackSize, c.AltStackFlags) = (p.AltStackSp, p.AltStackSize, p.AltStackFlags);
        c.State = PState.Runnable;
        _runNext = c;               // the child runs first (it often execs or exits at once, freeing memory)
        return c.Pid;
    }

    /// <summary>
    /// execve(path, argv, envp): replaces the caller's program with the ELF file at
    /// <paramref name="path"/>, with argv and envp (NULL-terminated arrays of strings; envp may be
    /// NULL) on a fresh System V stack. Descriptors stay open. Does not return on success (the new
    /// program starts). Linux: execve(2).
    /// Fails, leaving the caller as it was: -EFAULT (a bad pointer, or argv NULL), -ENAMETOOLONG,
    /// -EINVAL (empty path), -E2BIG (strings beyond <see cref="ArgMax"/>), -ENOENT, -EACCES (a
    /// directory), -ENOEXEC (not a static x86-64 ELF this kernel can load), -ENOMEM.
    /// </summary>
    private long Execve(PProcess p, UserPtr pathPtr, UserPtr argv, UserPtr envp)
    {
        if (pathPtr.IsNull) return -EFAULT;
        var pb = ReadCString(p, pathPtr, 4096, out bool tooLong);
        if (tooLong) return -ENAMETOOLONG;
        if (pb is null) return -EFAULT;
        if (pb.Length == 0) return -EINVAL;
        if (argv.IsNull) return -EFAULT;
        var args = new List<byte[]>();
        var envs = new List<byte[]>();
        long total = 0;
        long e = ReadStringArray(p, argv, args, ref total);
        if (e != 0) return e;
        e = ReadStringArray(p, envp, envs, ref total);
        if (e != 0) return e;
        string path = Encoding.UTF8.GetString(pb);
        long found = Resolve(p, Under(p.Cwd, path), follow: true, out path, out var node);   // relative to the current directory; links followed
        if (found != 0) return found;
        if (node is null) return -ENOENT;
        if (node.IsDir || node.Rdev != 0 || node.ProcPath is not null) return -EACCES;
        long r = BuildImage(p, PosixFs.Normalize(path)!, node, args, envs);
        if (r != 0) return r;
        // the new program: close-on-exec descriptors close, handlers reset (ignored stays ignored)
        for (int fd = 0; fd < MaxFds; fd++) if (p.CloseOnExec[fd]) { CloseFd(p, fd); p.CloseOnExec[fd] = false; }
        if (p.SigActions is { } acts)
            for (int i = 0; i < acts.Length; i++) if (acts[i].Handler != SIG_IGN) acts[i] = default;
        p.ClearChildTid = p.RobustList = 0;
        p.Execed = true;
        (p.AltStackSp, p.AltStackSize, p.AltStackFlags) = (0, 0, SS_DISABLE);
        return 0;
    }

    /// <summary>Reads a NULL-terminated array of string pointers (argv, envp) into <paramref name="list"/>,
    /// adding their size to <paramref name="total"/>. 0, -EFAULT or -E2BIG. A NULL array is empty.</summary>
    private long ReadStringArray(PProcess p, UserPtr array, List<byte[]> list, ref long total)
    {
        if (array.IsNull) return 0;
        for (int i = 0; ; i++)
        {
            if (!ReadU64(p, array + (ulong)i * 8, out ulong s)) return -EFAULT;
            if (s == 0) return 0;
            var b = ReadCString(p, new UserPtr(s), ArgMax, out bool tooLong);
            if (tooLong) return -E2BIG;
            if (b is null) return -EFAULT;
            total += b.Length + 1 + 8;
            if (total > ArgMax) return -E2BIG;
            list.Add(b);
        }
    }

    /// <summary>
    /// wait4(pid, status, options, rusage): reaps a child that has exited (<paramref name="pid"/> &gt; 0:
    /// that one; -1: any; 0: any in the caller's process group; &lt; -1: any in group -pid), storing
    /// its wait status at <paramref name="status"/> unless NULL, and returns its pid. With WUNTRACED
    /// a child stopped since last asked is reported (WIFSTOPPED), with WCONTINUED one continued
    /// (WIFCONTINUED); those stay children. Blocks while there is nothing to report; with WNOHANG
    /// returns 0 instead. rusage is not filled in. Linux: wait4(2).
    /// Fails: -EINVAL (unknown options), -ECHILD (no such child), -EFAULT (status not writable: the
    /// child stays a zombie), -EINTR (a signal's handler ran; SA_RESTART waits again).
    /// </summary>
    private long Wait4(PProcess p, int pid, UserPtr status, ulong options)
    {
        const WaitOptions known = WaitOptions.WNOHANG | WaitOptions.WUNTRACED | WaitOptions.WCONTINUED
                                  | WaitOptions.__WALL | WaitOptions.__WCLONE;
        if ((options & ~(ulong)known) != 0) return -EINVAL;
        if (pid == int.MinValue) return -ECHILD;
        var (any, found) = FindWaitable(p, pid, options, static (c, options) => c.State == PState.Zombie
            || (c.StateReport == WaitStatus.Continued ? (options & (ulong)WaitOptions.WCONTINUED) != 0
                : c.StateReport != 0 && (options & (ulong)WaitOptions.WUNTRACED) != 0));
        if (!any) return -ECHILD;
        if (found is null)
        {
            if ((options & (ulong)WaitOptions.WNOHANG) != 0) return 0;
            Block(p);
            return 0;
        }
        bool zombie = found.State == PState.Zombie;
        if (!status.IsNull)
        {
            Span<byte> st = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(st, zombie ? found.WaitStatus : found.StateReport);
            if (!CopyOut(p, status, st)) return -EFAULT;
        }
        if (zombie) Remove(found);
        else found.StateReport = 0;
        return found.Pid;
    }

    /// <summary>wait4's and waitid's search: the first child of <paramref name="p"/> that <paramref name="select"/>
    /// picks (wait4's pid argument) and that has something to report under <paramref name="options"/>;
    /// Any: some child was picked at all (none: the caller answers -ECHILD).</summary>
    private (bool Any, PProcess? Found) FindWaitable(PProcess p, int select, ulong options, Func<PProcess, ulong, bool> reportable)
    {
        bool any = false;
        foreach (var c in _procs)
        {
            if (c.Parent != p.Pid || !WaitSelects(p, c, select)) continue;
            any = true;
            if (reportable(c, options)) return (true, c);
        }
        return (any, null);
    }

    private const int P_ALL = 0, P_PID = 1, P_PGID = 2;
    private const ulong WSTOPPED = 2, WEXITED = 4, WCONTINUEDx = 8, WNOWAIT = 0x0100_0000;

    /// <summary>
    /// waitid(idtype, id, infop, options, rusage): waits for a child's change of state, as wait4 does,
    /// and describes it in a siginfo_t at <paramref name="infop"/> (si_signo SIGCHLD, si_code
    /// CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_STOPPED or CLD_CONTINUED, si_pid, si_uid, si_status the
    /// exit code or signal). idtype P_ALL, P_PID (that child) or P_PGID (that group; 0: the caller's).
    /// options: WEXITED, WSTOPPED, WCONTINUED (at least one), WNOHANG (returns 0 with si_pid 0 when
    /// nothing is ready), WNOWAIT (leaves the child waitable). Returns 0. Linux: waitid(2).
    /// Fails: -EINVAL (unknown idtype or options, none of the three states), -ECHILD, -EFAULT, -EINTR.
    /// </summary>
    private long Waitid(PProcess p, int idtype, int id, UserPtr infop, ulong options)
    {
        const ulong known = WaitOptions_WNOHANG | WSTOPPED | WEXITED | WCONTINUEDx | WNOWAIT
                            | (ulong)WaitOptions.__WALL | (ulong)WaitOptions.__WCLONE;
        if ((options & ~known) != 0 || (options & (WSTOPPED | WEXITED | WCONTINUEDx)) == 0) return -EINVAL;
        int select = idtype switch
        {
            P_ALL => -1,
            P_PID when id > 0 => id,
            P_PGID when id >= 0 => -id,       // 0: the caller's group, as wait4(0)
            _ => int.MinValue,
        };
        if (select == int.MinValue) return -EINVAL;
        var (any, found) = FindWaitable(p, select, options, static (c, options) => c.State == PState.Zombie ? (options & WEXITED) != 0
            : c.StateReport == WaitStatus.Continued ? (options & WCONTINUEDx) != 0
            : c.StateReport != 0 && (options & WSTOPPED) != 0);
        if (!any) return -ECHILD;
        Span<byte> info = stackalloc byte[128];
        info.Clear();
        if (found is null)
        {
            if ((options & WaitOptions_WNOHANG) == 0) { Block(p); return 0; }
            return infop.IsNull || CopyOut(p, infop, info) ? 0 : -EFAULT;   // si_pid 0: nothing yet
        }
        bool zombie = found.State == PState.Zombie;
        int status = zombie ? found.WaitStatus : found.StateReport;
        (int Code, int Value) what = !zombie
            ? status == WaitStatus.Continued ? (6 /* CLD_CONTINUED */, Signals.SIGCONT) : (5 /* CLD_STOPPED */, (status >> 8) & 0xff)
            : (status & 0x7f) == 0 ? (1 /* CLD_EXITED */, (status >> 8) & 0xff)
            : ((status & 0x80) != 0 ? 3 /* CLD_DUMPED */ : 2 /* CLD_KILLED */, status & 0x7f);
        var (code, value) = what;
        SigInfoBytes(Signals.SIGCHLD, new SigInfo(code, found.Pid, value, 0)).CopyTo(info);
        if (!infop.IsNull && !CopyOut(p, infop, info)) return -EFAULT;
        if ((options & WNOWAIT) == 0)
        {
            if (zombie) Remove(found);
            else found.StateReport = 0;
        }
        return 0;
    }

    private const ulong WaitOptions_WNOHANG = (ulong)WaitOptions.WNOHANG;

    // Linux's clone flags (linux/sched.h) that matter to a fork.
    private const ulong CLONE_VM = 0x100, CLONE_FS = 0x200, CLONE_FILES = 0x400, CLONE_SIGHAND = 0x800,
        CLONE_VFORK = 0x4000, CLONE_THREAD = 0x10000, CLONE_SETTLS = 0x80000, CLONE_PARENT_SETTID = 0x100000,
        CLONE_CHILD_CLEARTID = 0x200000, CLONE_CHILD_SETTID = 0x1000000;

    /// <summary>
    /// clone(flags, stack, parent_tid, child_tid, tls): a new process, as fork (glibc's fork is
    /// clone(CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD, 0, ...)). CLONE_PARENT_SETTID writes the
    /// child's pid at <paramref name="parentTid"/> (in the parent), CLONE_CHILD_SETTID at
    /// <paramref name="childTid"/> in the child's copy, CLONE_CHILD_CLEARTID makes the child zero it
    /// at exit, CLONE_SETTLS sets the child's FS base, a non-zero <paramref name="stack"/> is the
    /// child's rsp. vfork (CLONE_VM|CLONE_VFORK, as posix_spawn uses it) runs as a copy-on-write fork
    /// whose parent goes on at once: the child's writes are not seen by the parent. The exit signal
    /// (low byte) is always SIGCHLD. Linux: clone(2).
    /// Fails: -ENOSYS (threads, which this kernel does not have: CLONE_THREAD, CLONE_SIGHAND,
    /// CLONE_FILES, CLONE_FS, or CLONE_VM without CLONE_VFORK; pthread_create then reports an error),
    /// then as fork.
    /// </summary>
    private long Clone(PProcess p, ulong flags, UserPtr stack, UserPtr parentTid, UserPtr childTid, ulong tls)
    {
        if ((flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_FILES | CLONE_FS)) != 0) return -ENOSYS;
        if ((flags & CLONE_VM) != 0 && (flags & CLONE_VFORK) == 0) return -ENOSYS;
        long pid = Fork(p);
        if (pid < 0) return pid;
        var c = _byPid[(int)pid];
        if (!stack.IsNull) c.Regs[(int)Register.Rsp] = stack.Value;
        if ((flags & CLONE_SETTLS) != 0) c.FsBase = tls;
        Span<byte> tid = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(tid, (int)pid);
        if ((flags & CLONE_PARENT_SETTID) != 0) CopyOut(p, parentTid, tid);
        if ((flags & CLONE_CHILD_SETTID) != 0) CopyOut(c, childTid, tid);
        if ((flags & CLONE_CHILD_CLEARTID) != 0) c.ClearChildTid = childTid.Value;
        return pid;
    }

    /// <summary>gettid(): the caller's thread id, its pid (one thread per process). Linux: gettid(2).</summary>
    private long GetTid(PProcess p) => p.Pid;

    private const int ARCH_SET_GS = 0x1001, ARCH_SET_FS = 0x1002, ARCH_GET_FS = 0x1003, ARCH_GET_GS = 0x1004;

    /// <summary>
    /// arch_prctl(code, addr): ARCH_SET_FS / ARCH_SET_GS set the FS or GS base (what fs:/gs: memory
    /// operands add: thread-local storage), ARCH_GET_FS / ARCH_GET_GS store it at
    /// <paramref name="addr"/>. Linux: arch_prctl(2).
    /// Fails: -EPERM (a base outside user space, as Linux), -EFAULT (GET to a bad pointer), -EINVAL
    /// (another code).
    /// </summary>
    private long ArchPrctl(PProcess p, int code, ulong addr)
    {
        switch (code)
        {
            case ARCH_SET_FS or ARCH_SET_GS:
                if (addr >= UserLimit) return -EPERM;
                if (code == ARCH_SET_FS) p.FsBase = addr; else p.GsBase = addr;
                return 0;
            case ARCH_GET_FS or ARCH_GET_GS:
                Span<byte> b = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(b, code == ARCH_GET_FS ? p.FsBase : p.GsBase);
                return CopyOut(p, new UserPtr(addr), b) ? 0 : -EFAULT;
            default:
                return -EINVAL;
        }
    }

    /// <summary>set_tid_address(tidptr): records the address zeroed at exit (CLONE_CHILD_CLEARTID's);
    /// returns the caller's tid. Linux: set_tid_address(2). Never fails.</summary>
    private long SetTidAddress(PProcess p, UserPtr tidptr)
    {
        p.ClearChildTid = tidptr.Value;
        return p.Pid;
    }

    /// <summary>set_robust_list(head, len): records the robust-futex list head (nothing walks it at
    /// exit: there is one thread). Linux: set_robust_list(2). Fails: -EINVAL (len is not 24, the size
    /// of struct robust_list_head).</summary>
    private long SetRobustList(PProcess p, UserPtr head, ulong len)
    {
        if (len != 24) return -EINVAL;
        p.RobustList = head.Value;
        return 0;
    }
}
