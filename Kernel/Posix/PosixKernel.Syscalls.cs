using System.Collections.Frozen;
using System.Collections.Immutable;
using Lab.Machine;
using static Lab.Kernel.Posix.Errno;
using Family = Lab.Kernel.Posix.SyscallFamily;

namespace Lab.Kernel.Posix;

/// <summary>Which file of the kernel a system call's handler lives in (PosixKernel.FAMILY.cs).</summary>
public enum SyscallFamily { Process, Memory, Files, Pipes, Signals, Jobs, Time, Identity, Track }

/// <summary>
/// A system call's arguments as the `syscall` instruction leaves them (Linux x86-64 ABI): rdi, rsi,
/// rdx, r10, r8, r9 of the caller's saved registers. Raw 64-bit values; the table decodes each into
/// the handler's typed parameters (a <see cref="UserPtr"/> for a pointer, an int where Linux's
/// prototype has one).
/// </summary>
public readonly struct SyscallArgs(ulong[] regs)
{
    private static ReadOnlySpan<byte> Order => [(byte)Register.Rdi, (byte)Register.Rsi, (byte)Register.Rdx,
        (byte)Register.R10, (byte)Register.R8, (byte)Register.R9];

    /// <summary>Argument <paramref name="i"/> (0-5), all 64 bits.</summary>
    public ulong this[int i] => regs[Order[i]];
    /// <summary>Argument <paramref name="i"/> as a user pointer.</summary>
    public UserPtr Ptr(int i) => new(this[i]);
    /// <summary>Argument <paramref name="i"/> as C's int: its low 32 bits, signed.</summary>
    public int Int(int i) => (int)this[i];
    /// <summary>Argument <paramref name="i"/> as C's long (off_t).</summary>
    public long Long(int i) => (long)this[i];
}

/// <summary>Runs one system call for <paramref name="caller"/>; returns the value for rax (negative errno on failure).</summary>
public delegate long SyscallHandler(PosixKernel kernel, PProcess caller, SyscallArgs args);

/// <summary>One row of the system-call table. <paramref name="Handler"/> null: the number is known
/// (the libc uses it) but not implemented yet, and the call returns -ENOSYS. <paramref name="Returns"/>
/// false: the call never returns to its caller (exit), so observers see no result.</summary>
public sealed record PosixSyscall(int Number, string Name, SyscallFamily Family, SyscallHandler? Handler, bool Returns = true);

public sealed partial class PosixKernel
{
    /// <summary>
    /// THE list of system calls: number (Linux x86-64's, Lab's private calls from 1000 up), name,
    /// family, and how the raw arguments become the handler's. Everything else comes from it: the
    /// dispatch below, the names observers and the debugger use (`break syscall NAME`), and the C
    /// header the libc is built with (userland/build/posix/include/posix_syscalls.h, generated from
    /// the Row lines of this file by userland/posix/gen-syscalls.sh at build time; a test compares
    /// the two). Keep each row on one line. Adding a system call is one row here and one handler,
    /// with its contract comment, in its family's file.
    /// </summary>
    public static readonly ImmutableArray<PosixSyscall> Syscalls =
    [
        Row(0,    "read",          Family.Files,    static (k, p, a) => k.Read(p, a[0], a.Ptr(1), a[2])),
        Row(1,    "write",         Family.Files,    static (k, p, a) => k.Write(p, a[0], a.Ptr(1), a[2])),
        Row(2,    "open",          Family.Files,    static (k, p, a) => k.Open(p, a.Ptr(0), a[1], (uint)a[2])),
        Row(3,    "close",         Family.Files,    static (k, p, a) => k.Close(p, a[0])),
        Row(4,    "stat",          Family.Files,    static (k, p, a) => k.Stat(p, a.Ptr(0), a.Ptr(1))),
        Row(5,    "fstat",         Family.Files,    static (k, p, a) => k.Fstat(p, a[0], a.Ptr(1))),
        Row(6,    "lstat",         Family.Files,    static (k, p, a) => k.Stat(p, a.Ptr(0), a.Ptr(1), follow: false)),
        Row(7,    "poll",          Family.Files,    static (k, p, a) => k.Poll(p, a.Ptr(0), a[1], a.Int(2))),
        Row(8,    "lseek",         Family.Files,    static (k, p, a) => k.Lseek(p, a[0], a.Long(1), a[2])),
        Row(9,    "mmap",          Family.Memory,   static (k, p, a) => k.Mmap(p, a.Ptr(0), a[1], a.Int(2), a.Int(3), a.Int(4), a.Long(5))),
        Row(10,   "mprotect",      Family.Memory,   static (k, p, a) => k.Mprotect(p, a.Ptr(0), a[1], a.Int(2))),
        Row(11,   "munmap",        Family.Memory,   static (k, p, a) => k.Munmap(p, a.Ptr(0), a[1])),
        Row(12,   "brk",           Family.Memory,   static (k, p, a) => k.Brk(p, a.Ptr(0))),
        Row(13,   "rt_sigaction",  Family.Signals,  static (k, p, a) => k.RtSigaction(p, a.Int(0), a.Ptr(1), a.Ptr(2), a[3])),
        Row(14,   "rt_sigprocmask", Family.Signals, static (k, p, a) => k.RtSigprocmask(p, a.Int(0), a.Ptr(1), a.Ptr(2), a[3])),
        Row(15,   "rt_sigreturn",  Family.Signals,  static (k, p, a) => k.RtSigreturn(p)),
        Row(16,   "ioctl",         Family.Files,    static (k, p, a) => k.Ioctl(p, a[0], a[1], a.Ptr(2))),
        Row(17,   "pread64",       Family.Files,    static (k, p, a) => k.PreadPwrite(p, a[0], a.Ptr(1), a[2], a.Long(3), write: false)),
        Row(18,   "pwrite64",      Family.Files,    static (k, p, a) => k.PreadPwrite(p, a[0], a.Ptr(1), a[2], a.Long(3), write: true)),
        Row(19,   "readv",         Family.Files,    static (k, p, a) => k.ReadWriteV(p, a[0], a.Ptr(1), a[2], write: false)),
        Row(20,   "writev",        Family.Files,    static (k, p, a) => k.ReadWriteV(p, a[0], a.Ptr(1), a[2], write: true)),
        Row(21,   "access",        Family.Files,    static (k, p, a) => k.FaccessAt(p, AT_FDCWD, a.Ptr(0), a.Int(1), 0)),
        Row(22,   "pipe",          Family.Pipes,    static (k, p, a) => k.Pipe(p, a.Ptr(0))),
        Row(23,   "select",        Family.Files,    static (k, p, a) => k.Select(p, a.Int(0), a.Ptr(1), a.Ptr(2), a.Ptr(3), a.Ptr(4), timespec: false)),
        Row(24,   "sched_yield",   Family.Process,  static (k, p, a) => k.SchedYield(p)),
        Row(25,   "mremap",        Family.Memory,   static (k, p, a) => k.Mremap(p, a.Ptr(0), a[1], a[2], a.Int(3), a.Ptr(4))),
        Row(28,   "madvise",       Family.Memory,   static (k, p, a) => k.Madvise(p, a.Ptr(0), a[1], a.Int(2))),
        Row(32,   "dup",           Family.Files,    static (k, p, a) => k.Dup(p, a[0])),
        Row(33,   "dup2",          Family.Files,    static (k, p, a) => k.Dup2(p, a[0], a[1])),
        Row(34,   "pause",         Family.Signals,  static (k, p, a) => k.Pause(p)),
        Row(35,   "nanosleep",     Family.Time,     static (k, p, a) => k.Nanosleep(p, a.Ptr(0))),
        Row(36,   "getitimer",     Family.Jobs,     static (k, p, a) => k.Getitimer(p, a.Int(0), a.Ptr(1))),
        Row(37,   "alarm",         Family.Jobs,     static (k, p, a) => k.Alarm(p, (uint)a[0])),
        Row(38,   "setitimer",     Family.Jobs,     static (k, p, a) => k.Setitimer(p, a.Int(0), a.Ptr(1), a.Ptr(2))),
        Row(39,   "getpid",        Family.Process,  static (k, p, a) => k.GetPid(p)),
        Row(56,   "clone",         Family.Process,  static (k, p, a) => k.Clone(p, a[0], a.Ptr(1), a.Ptr(2), a.Ptr(3), a[4])),
        Row(57,   "fork",          Family.Process,  static (k, p, a) => k.Fork(p)),
        Row(58,   "vfork",         Family.Process,  static (k, p, a) => k.Fork(p)),      // as a copy-on-write fork (the parent does not wait for the exec)
        Row(59,   "execve",        Family.Process,  static (k, p, a) => k.Execve(p, a.Ptr(0), a.Ptr(1), a.Ptr(2))),
        Row(60,   "exit",          Family.Process,  static (k, p, a) => k.Exit(p, a.Int(0)), returns: false),
        Row(61,   "wait4",         Family.Process,  static (k, p, a) => k.Wait4(p, a.Int(0), a.Ptr(1), a[2])),
        Row(62,   "kill",          Family.Signals,  static (k, p, a) => k.Kill(p, a.Int(0), a.Int(1))),
        Row(63,   "uname",         Family.Identity, static (k, p, a) => k.Uname(p, a.Ptr(0))),
        Row(72,   "fcntl",         Family.Files,    static (k, p, a) => k.Fcntl(p, a[0], a.Int(1), a[2])),
        Row(74,   "fsync",         Family.Files,    static (k, p, a) => k.Fsync(p, a[0])),
        Row(75,   "fdatasync",     Family.Files,    static (k, p, a) => k.Fsync(p, a[0])),
        Row(76,   "truncate",      Family.Files,    static (k, p, a) => k.Truncate(p, a.Ptr(0), a.Long(1))),
        Row(77,   "ftruncate",     Family.Files,    static (k, p, a) => k.Ftruncate(p, a[0], a.Long(1))),
        Row(79,   "getcwd",        Family.Files,    static (k, p, a) => k.Getcwd(p, a.Ptr(0), a[1])),
        Row(80,   "chdir",         Family.Files,    static (k, p, a) => k.Chdir(p, a.Ptr(0))),
        Row(81,   "fchdir",        Family.Files,    static (k, p, a) => k.Fchdir(p, a[0])),
        Row(82,   "rename",        Family.Files,    static (k, p, a) => k.RenameAt2(p, AT_FDCWD, a.Ptr(0), AT_FDCWD, a.Ptr(1), 0)),
        Row(83,   "mkdir",         Family.Files,    static (k, p, a) => k.MkdirAt(p, AT_FDCWD, a.Ptr(0), (uint)a[1])),
        Row(84,   "rmdir",         Family.Files,    static (k, p, a) => k.UnlinkAt(p, AT_FDCWD, a.Ptr(0), AT_REMOVEDIR)),
        Row(86,   "link",          Family.Files,    static (k, p, a) => k.LinkAt(p, AT_FDCWD, a.Ptr(0), AT_FDCWD, a.Ptr(1), 0)),
        Row(87,   "unlink",        Family.Files,    static (k, p, a) => k.Unlink(p, a.Ptr(0))),
        Row(88,   "symlink",       Family.Files,    static (k, p, a) => k.SymlinkAt(p, a.Ptr(0), AT_FDCWD, a.Ptr(1))),
        Row(89,   "readlink",      Family.Files,    static (k, p, a) => k.ReadlinkAt(p, AT_FDCWD, a.Ptr(0), a.Ptr(1), a[2])),
        Row(90,   "chmod",         Family.Files,    static (k, p, a) => k.FchmodAt(p, AT_FDCWD, a.Ptr(0), (uint)a[1], 0)),
        Row(91,   "fchmod",        Family.Files,    static (k, p, a) => k.Fchmod(p, a[0], (uint)a[1])),
        Row(95,   "umask",         Family.Files,    static (k, p, a) => SetUmask(p, (uint)a[0])),
        Row(96,   "gettimeofday",  Family.Time,     static (k, p, a) => k.Gettimeofday(p, a.Ptr(0), a.Ptr(1))),
        Row(97,   "getrlimit",     Family.Identity, static (k, p, a) => k.Prlimit(p, 0, a.Int(0), default, a.Ptr(1))),
        Row(99,   "sysinfo",       Family.Identity, static (k, p, a) => k.Sysinfo(p, a.Ptr(0))),
        Row(102,  "getuid",        Family.Identity, static (k, p, a) => k.GetId(p, group: false)),
        Row(104,  "getgid",        Family.Identity, static (k, p, a) => k.GetId(p, group: true)),
        Row(107,  "geteuid",       Family.Identity, static (k, p, a) => k.GetId(p, group: false)),
        Row(108,  "getegid",       Family.Identity, static (k, p, a) => k.GetId(p, group: true)),
        Row(109,  "setpgid",       Family.Jobs,     static (k, p, a) => k.Setpgid(p, a.Int(0), a.Int(1))),
        Row(110,  "getppid",       Family.Process,  static (k, p, a) => k.GetPpid(p)),
        Row(111,  "getpgrp",       Family.Jobs,     static (k, p, a) => k.Getpgid(p, 0)),
        Row(112,  "setsid",        Family.Jobs,     static (k, p, a) => k.Setsid(p)),
        Row(121,  "getpgid",       Family.Jobs,     static (k, p, a) => k.Getpgid(p, a.Int(0))),
        Row(124,  "getsid",        Family.Jobs,     static (k, p, a) => k.Getsid(p, a.Int(0))),
        Row(127,  "rt_sigpending", Family.Signals,  static (k, p, a) => k.RtSigpending(p, a.Ptr(0), a[1])),
        Row(128,  "rt_sigtimedwait", Family.Signals, static (k, p, a) => k.RtSigtimedwait(p, a.Ptr(0), a.Ptr(1), a.Ptr(2), a[3])),
        Row(130,  "rt_sigsuspend", Family.Signals,  static (k, p, a) => k.RtSigsuspend(p, a.Ptr(0), a[1])),
        Row(131,  "sigaltstack",   Family.Signals,  static (k, p, a) => k.Sigaltstack(p, a.Ptr(0), a.Ptr(1))),
        Row(137,  "statfs",        Family.Files,    static (k, p, a) => k.Statfs(p, a.Ptr(0), a.Ptr(1))),
        Row(138,  "fstatfs",       Family.Files,    static (k, p, a) => k.Fstatfs(p, a[0], a.Ptr(1))),
        Row(158,  "arch_prctl",    Family.Process,  static (k, p, a) => k.ArchPrctl(p, a.Int(0), a[1])),
        Row(186,  "gettid",        Family.Process,  static (k, p, a) => k.GetTid(p)),
        Row(200,  "tkill",         Family.Signals,  static (k, p, a) => k.Tgkill(p, -1, a.Int(0), a.Int(1))),
        Row(201,  "time",          Family.Time,     static (k, p, a) => k.Time(p, a.Ptr(0))),
        Row(217,  "getdents64",    Family.Files,    static (k, p, a) => k.Getdents64(p, a[0], a.Ptr(1), a[2])),
        Row(218,  "set_tid_address", Family.Process, static (k, p, a) => k.SetTidAddress(p, a.Ptr(0))),
        Row(228,  "clock_gettime", Family.Time,     static (k, p, a) => k.ClockGettime(p, a.Ptr(1))),
        Row(229,  "clock_getres",  Family.Time,     static (k, p, a) => k.ClockGetres(p, a.Ptr(1))),
        Row(230,  "clock_nanosleep", Family.Time,   static (k, p, a) => k.ClockNanosleep(p, a.Int(1), a.Ptr(2))),
        Row(231,  "exit_group",    Family.Process,  static (k, p, a) => k.Exit(p, a.Int(0)), returns: false),
        Row(234,  "tgkill",        Family.Signals,  static (k, p, a) => k.Tgkill(p, a.Int(0), a.Int(1), a.Int(2))),
        Row(247,  "waitid",        Family.Process,  static (k, p, a) => k.Waitid(p, a.Int(0), a.Int(1), a.Ptr(2), a[3])),
        Row(257,  "openat",        Family.Files,    static (k, p, a) => k.OpenAt(p, a.Int(0), a.Ptr(1), a[2], (uint)a[3])),
        Row(258,  "mkdirat",       Family.Files,    static (k, p, a) => k.MkdirAt(p, a.Int(0), a.Ptr(1), (uint)a[2])),
        Row(262,  "newfstatat",    Family.Files,    static (k, p, a) => k.NewFstatAt(p, a.Int(0), a.Ptr(1), a.Ptr(2), a.Int(3))),
        Row(263,  "unlinkat",      Family.Files,    static (k, p, a) => k.UnlinkAt(p, a.Int(0), a.Ptr(1), a.Int(2))),
        Row(264,  "renameat",      Family.Files,    static (k, p, a) => k.RenameAt2(p, a.Int(0), a.Ptr(1), a.Int(2), a.Ptr(3), 0)),
        Row(265,  "linkat",        Family.Files,    static (k, p, a) => k.LinkAt(p, a.Int(0), a.Ptr(1), a.Int(2), a.Ptr(3), a.Int(4))),
        Row(266,  "symlinkat",     Family.Files,    static (k, p, a) => k.SymlinkAt(p, a.Ptr(0), a.Int(1), a.Ptr(2))),
        Row(267,  "readlinkat",    Family.Files,    static (k, p, a) => k.ReadlinkAt(p, a.Int(0), a.Ptr(1), a.Ptr(2), a[3])),
        Row(268,  "fchmodat",      Family.Files,    static (k, p, a) => k.FchmodAt(p, a.Int(0), a.Ptr(1), (uint)a[2], 0)),
        Row(269,  "faccessat",     Family.Files,    static (k, p, a) => k.FaccessAt(p, a.Int(0), a.Ptr(1), a.Int(2), 0)),
        Row(270,  "pselect6",      Family.Files,    static (k, p, a) => k.Select(p, a.Int(0), a.Ptr(1), a.Ptr(2), a.Ptr(3), a.Ptr(4), timespec: true)),
        Row(271,  "ppoll",         Family.Files,    static (k, p, a) => k.Ppoll(p, a.Ptr(0), a[1], a.Ptr(2))),
        Row(273,  "set_robust_list", Family.Process, static (k, p, a) => k.SetRobustList(p, a.Ptr(0), a[1])),
        Row(280,  "utimensat",     Family.Files,    static (k, p, a) => k.Utimensat(p, a.Int(0), a.Ptr(1), a.Ptr(2), a.Int(3))),
        Row(292,  "dup3",          Family.Files,    static (k, p, a) => k.Dup3(p, a[0], a[1], a[2])),
        Row(293,  "pipe2",         Family.Pipes,    static (k, p, a) => k.Pipe2(p, a.Ptr(0), a[1])),
        Row(302,  "prlimit64",     Family.Identity, static (k, p, a) => k.Prlimit(p, a.Int(0), a.Int(1), a.Ptr(2), a.Ptr(3))),
        Row(316,  "renameat2",     Family.Files,    static (k, p, a) => k.RenameAt2(p, a.Int(0), a.Ptr(1), a.Int(2), a.Ptr(3), (uint)a[4])),
        Row(318,  "getrandom",     Family.Identity, static (k, p, a) => k.GetRandom(p, a.Ptr(0), a[1], (uint)a[2])),
        Row(334,  "rseq",          Family.Process,  null),
        Row(439,  "faccessat2",    Family.Files,    static (k, p, a) => k.FaccessAt(p, a.Int(0), a.Ptr(1), a.Int(2), a.Int(3))),
        Row(1000, "page_alloc",    Family.Memory,   static (k, p, a) => k.PageAlloc(p, a.Ptr(0))),
        Row(1002, "track_self",    Family.Track,    static (k, p, a) => k.TrackSelf(p)),
        Row(1003, "track_wait",    Family.Track,    static (k, p, a) => k.TrackWait(p, a.Ptr(0))),
    ];

    private static PosixSyscall Row(int number, string name, SyscallFamily family, SyscallHandler? handler, bool returns = true) =>
        new(number, name, family, handler, returns);

    /// <summary>The table indexed by number (null where no call has that number), for the dispatch.</summary>
    private static readonly ImmutableArray<PosixSyscall?> ByNumber = IndexByNumber(Syscalls);

    private static readonly FrozenDictionary<string, PosixSyscall> ByName = Syscalls.ToFrozenDictionary(s => s.Name, StringComparer.Ordinal);

    private static ImmutableArray<PosixSyscall?> IndexByNumber(ImmutableArray<PosixSyscall> table)
    {
        var byNumber = new PosixSyscall?[table.Max(s => s.Number) + 1];
        foreach (var s in table)
        {
            if (byNumber[s.Number] is not null) throw new InvalidOperationException($"kernel bug: syscall number {s.Number} twice");
            byNumber[s.Number] = s;
        }
        return [.. byNumber];
    }

    /// <summary>Per-process call counts kept for track (lab.h's TRACK_NSYSCALLS): numbers 0..1023.</summary>
    public const int TrackedSyscalls = 1024;

    /// <summary>
    /// The `syscall` instruction: number in rax, arguments in rdi, rsi, rdx, r10 (r8, r9), result to
    /// rax. Looks the number up in <see cref="Syscalls"/> (unknown: -ENOSYS, as Linux). A handler that
    /// blocks (<see cref="Block"/>) leaves rax alone: the instruction runs again when the process
    /// wakes, and observers see the call once, when it completes.
    /// </summary>
    private void Syscall(PProcess p)
    {
        ulong nr = p.Regs[(int)Register.Rax];
        var args = new SyscallArgs(p.Regs);
        ulong firstArg = args[0];            // for the observer (execve replaces the registers)
        if (p.TrackArmed && !p.Restarting && nr < TrackedSyscalls) p.Counts![nr]++;
        p.Restarting = false;
        var call = nr < (ulong)ByNumber.Length ? ByNumber[(int)nr] : null;
        long r = call?.Handler is { } handler ? handler(this, p, args) : -ENOSYS;
        if (p.State == PState.Runnable && _byPid.ContainsKey(p.Pid) && !p.Restarting)
            p.Regs[(int)Register.Rax] = (ulong)r;
        if (!p.Restarting) Report(p, nr, call, firstArg, r);
    }

    /// <summary>The Linux name of a system call number this kernel knows ("syscall_N" otherwise).</summary>
    public static string SyscallName(ulong nr) =>
        nr < (ulong)ByNumber.Length && ByNumber[(int)nr] is { } s ? s.Name : $"syscall_{nr}";

    /// <summary>A system call number from its name, its number, or "syscall_N"; null when unknown.</summary>
    public static ulong? SyscallNumber(string text)
    {
        if (ulong.TryParse(text, out ulong n)) return n;
        if (ByName.TryGetValue(text, out var s)) return (ulong)s.Number;
        if (text.StartsWith("syscall_", StringComparison.Ordinal) && ulong.TryParse(text["syscall_".Length..], out n)
            && SyscallName(n) == text) return n;
        return null;
    }
}
