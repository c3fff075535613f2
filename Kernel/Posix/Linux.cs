namespace Lab.Kernel.Posix;

// Linux's numbers for what crosses the user boundary: the POSIX kernel speaks Linux's x86-64 ABI,
// so every program of userland/posix also runs natively on a Linux host (the oracle). The values
// are Linux's own (asm-generic/errno-base.h, asm-generic/signal.h, asm-generic/fcntl.h, ...);
// userland/posix/include has the same numbers for C, and a test compares the two name by name.
// Kernel code says `-EBADF`, `SIGKILL`, `O_CREAT` with `using static` of these classes.

/// <summary>Error numbers: a failing system call returns -E* in rax (the libc stores it in errno).</summary>
public static class Errno
{
    public const int EPERM = 1;           // Operation not permitted
    public const int ENOENT = 2;          // No such file or directory
    public const int ESRCH = 3;           // No such process
    public const int EINTR = 4;           // Interrupted system call
    public const int EIO = 5;             // I/O error
    public const int E2BIG = 7;           // Argument list too long
    public const int ENOEXEC = 8;         // Exec format error
    public const int EBADF = 9;           // Bad file number
    public const int ECHILD = 10;         // No child processes
    public const int EAGAIN = 11;         // Try again (fork: the process table is full)
    public const int ENOMEM = 12;         // Out of memory
    public const int EACCES = 13;         // Permission denied
    public const int EFAULT = 14;         // Bad address
    public const int EEXIST = 17;         // File exists
    public const int ENODEV = 19;         // No such device (mmap of something that cannot be mapped)
    public const int ENOTDIR = 20;        // Not a directory
    public const int EISDIR = 21;         // Is a directory
    public const int EBUSY = 16;          // Device or resource busy (rmdir of "/")
    public const int EINVAL = 22;         // Invalid argument
    public const int EMFILE = 24;         // Too many open files
    public const int ENOTTY = 25;         // Not a typewriter (ioctl on something that is not a terminal)
    public const int EFBIG = 27;          // File too large
    public const int ENOSPC = 28;         // No space left on device
    public const int ESPIPE = 29;         // Illegal seek
    public const int EPIPE = 32;          // Broken pipe
    public const int ERANGE = 34;         // Result too large (getcwd into a small buffer)
    public const int ENAMETOOLONG = 36;   // File name too long
    public const int ENOSYS = 38;         // Invalid system call number
    public const int ENOTEMPTY = 39;      // Directory not empty
    public const int ELOOP = 40;          // Too many symbolic links encountered
}

/// <summary>Signal numbers (x86-64, asm/signal.h) and the facts about them the kernel needs.</summary>
public static class Signals
{
    public const int SIGHUP = 1;
    public const int SIGINT = 2;     // Ctrl-C on the console
    public const int SIGQUIT = 3;    // Ctrl-\ on the console
    public const int SIGILL = 4;     // invalid opcode
    public const int SIGTRAP = 5;    // int3
    public const int SIGABRT = 6;
    public const int SIGBUS = 7;
    public const int SIGFPE = 8;     // divide error
    public const int SIGKILL = 9;    // kill -9, and the out-of-memory killer
    public const int SIGUSR1 = 10;
    public const int SIGSEGV = 11;   // a page fault the kernel cannot resolve (and any other fault)
    public const int SIGUSR2 = 12;
    public const int SIGPIPE = 13;   // a write to a pipe nobody reads
    public const int SIGALRM = 14;   // alarm, setitimer(ITIMER_REAL)
    public const int SIGTERM = 15;   // kill's default
    public const int SIGCHLD = 17;   // a child exited, stopped or continued
    public const int SIGCONT = 18;
    public const int SIGSTOP = 19;
    public const int SIGTSTP = 20;   // Ctrl-Z on the console
    public const int SIGTTIN = 21;
    public const int SIGTTOU = 22;
    public const int SIGURG = 23;
    public const int SIGWINCH = 28;

    /// <summary>Highest signal number kill(2) accepts (Linux's _NSIG - 1).</summary>
    public const int MaxSignal = 64;

    /// <summary>The bit of <paramref name="sig"/> in a sigset_t.</summary>
    public static ulong Bit(int sig) => 1UL << (sig - 1);

    /// <summary>Signals whose default action is to ignore them (signal(7)).</summary>
    public static bool IgnoredByDefault(int sig) => sig is SIGCHLD or SIGCONT or SIGURG or SIGWINCH;

    /// <summary>Signals whose default action stops the process.</summary>
    public static bool Stops(int sig) => sig is SIGSTOP or SIGTSTP or SIGTTIN or SIGTTOU;

    /// <summary>"SIGKILL", "SIGSEGV", ... by name for the standard signals; "signal N" otherwise.</summary>
    public static string Name(int sig) => sig switch
    {
        SIGHUP => "SIGHUP", SIGINT => "SIGINT", SIGQUIT => "SIGQUIT", SIGILL => "SIGILL", SIGTRAP => "SIGTRAP",
        SIGABRT => "SIGABRT", SIGBUS => "SIGBUS", SIGFPE => "SIGFPE", SIGKILL => "SIGKILL", SIGUSR1 => "SIGUSR1",
        SIGSEGV => "SIGSEGV", SIGUSR2 => "SIGUSR2", SIGPIPE => "SIGPIPE", SIGALRM => "SIGALRM", SIGTERM => "SIGTERM",
        SIGCHLD => "SIGCHLD", SIGCONT => "SIGCONT", SIGSTOP => "SIGSTOP", SIGTSTP => "SIGTSTP", SIGTTIN => "SIGTTIN",
        SIGTTOU => "SIGTTOU", SIGURG => "SIGURG", SIGWINCH => "SIGWINCH",
        _ => $"signal {sig}",
    };
}

/// <summary>The status word wait4 reports (sys/wait.h: WEXITSTATUS, WTERMSIG).</summary>
public static class WaitStatus
{
    /// <summary>The process called exit(code): WIFEXITED, WEXITSTATUS = code &amp; 0xff.</summary>
    public static int Exited(int code) => (code & 0xff) << 8;

    /// <summary>The process was ended by signal <paramref name="sig"/>: WIFSIGNALED, WTERMSIG = sig.</summary>
    public static int Signaled(int sig) => sig & 0x7f;

    /// <summary>Stopped by signal <paramref name="sig"/>: WIFSTOPPED, WSTOPSIG = sig.</summary>
    public static int Stopped(int sig) => (sig << 8) | 0x7f;

    /// <summary>Continued by SIGCONT: WIFCONTINUED.</summary>
    public const int Continued = 0xffff;

    /// <summary>What a shell reports for <paramref name="status"/>: the exit code, or 128 + signal.</summary>
    public static int ShellCode(int status) => (status & 0x7f) != 0 ? 128 + (status & 0x7f) : (status >> 8) & 0xff;
}

/// <summary>wait4's options (sys/wait.h, linux/wait.h).</summary>
[Flags]
public enum WaitOptions : ulong
{
    WNOHANG = 1,                 // return 0 at once when no child has exited
    WUNTRACED = 2,               // also children stopped by a signal
    WCONTINUED = 8,              // also children continued by SIGCONT
    __WALL = 0x4000_0000,        // any kind of child (all children are one kind here)
    __WCLONE = 0x8000_0000,      // clone children (none here)
}

/// <summary>open's flags (asm-generic/fcntl.h, octal in C).</summary>
[Flags]
public enum OpenFlags
{
    O_RDONLY = 0,
    O_WRONLY = 1,
    O_RDWR = 2,
    O_ACCMODE = 3,               // the access mode bits (O_RDONLY, O_WRONLY or O_RDWR)
    O_CREAT = 0x40,              // 0100: create the file if it does not exist
    O_EXCL = 0x80,               // 0200: with O_CREAT, fail with EEXIST if it does
    O_NOCTTY = 0x100,            // 0400 (no effect here)
    O_TRUNC = 0x200,             // 01000: empty a regular file opened for writing
    O_APPEND = 0x400,            // 02000: every write goes to the end
    O_NONBLOCK = 0x800,          // 04000 (accepted, no effect here)
    O_DSYNC = 0x1000,            // 010000 (no effect: nothing is cached)
    O_LARGEFILE = 0x8000,        // 0100000 (always the case on x86-64)
    O_DIRECTORY = 0x1_0000,      // 0200000: fail with ENOTDIR unless it is a directory
    O_NOFOLLOW = 0x2_0000,       // 0400000 (there are no links)
    O_CLOEXEC = 0x8_0000,        // 02000000 (accepted; execve keeps descriptors for now)
    O_SYNC = 0x10_1000,          // 04010000 (no effect)
}

/// <summary>The one user every process runs as (getuid and friends, AT_UID): /etc/passwd's student.</summary>
public static class Identity
{
    public const ulong Uid = 1000, Gid = 1000;
}

/// <summary>lseek's whence.</summary>
public static class Seek
{
    public const ulong SEEK_SET = 0, SEEK_CUR = 1, SEEK_END = 2;
}

/// <summary>st_mode file types and d_type values (sys/stat.h, dirent.h).</summary>
public static class StatMode
{
    public const uint S_IFIFO = 0x1000, S_IFCHR = 0x2000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000;
    public const byte DT_DIR = 4, DT_REG = 8;
}

/// <summary>Auxiliary-vector keys execve puts on the new stack (elf.h).</summary>
public static class AuxVector
{
    public const ulong AT_NULL = 0, AT_PHDR = 3, AT_PHENT = 4, AT_PHNUM = 5, AT_PAGESZ = 6, AT_ENTRY = 9,
        AT_UID = 11, AT_EUID = 12, AT_GID = 13, AT_EGID = 14, AT_PLATFORM = 15, AT_HWCAP = 16, AT_CLKTCK = 17,
        AT_SECURE = 23, AT_RANDOM = 25, AT_EXECFN = 31;
}
