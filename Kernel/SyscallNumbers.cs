namespace Lab.Kernel;

/// <summary>
/// System-call numbers: the C# half of the one list (userland/include/syscall_numbers.h is the C
/// half; a test checks that both agree name by name). Linux x86-64 numbers for POSIX calls,
/// private numbers from 1000 up, and WeensyOS's own <c>int $N</c> vectors.
/// </summary>
public static class SyscallNumbers
{
    public const int SYS_read = 0;
    public const int SYS_write = 1;
    public const int SYS_open = 2;
    public const int SYS_close = 3;
    public const int SYS_stat = 4;
    public const int SYS_fstat = 5;
    public const int SYS_lseek = 8;
    public const int SYS_brk = 12;
    public const int SYS_rt_sigaction = 13;
    public const int SYS_pipe = 22;
    public const int SYS_sched_yield = 24;
    public const int SYS_dup = 32;
    public const int SYS_dup2 = 33;
    public const int SYS_nanosleep = 35;
    public const int SYS_getpid = 39;
    public const int SYS_fork = 57;
    public const int SYS_execve = 59;
    public const int SYS_exit = 60;
    public const int SYS_wait4 = 61;
    public const int SYS_kill = 62;
    public const int SYS_unlink = 87;
    public const int SYS_getppid = 110;
    public const int SYS_getdents64 = 217;
    public const int SYS_clock_gettime = 228;
    public const int SYS_exit_group = 231;
    public const int SYS_page_alloc = 1000;
    public const int SYS_panic = 1001;
    public const int SYS_track_self = 1002;
    public const int SYS_track_wait = 1003;

    public const int INT_SYS_PANIC = 48;
    public const int INT_SYS_GETPID = 49;
    public const int INT_SYS_YIELD = 50;
    public const int INT_SYS_PAGE_ALLOC = 51;
    public const int INT_SYS_FORK = 52;
    public const int INT_SYS_EXIT = 53;

    /// <summary>Linux's ENOSYS: an unknown system-call number returns -ENOSYS.</summary>
    public const int ENOSYS = 38;
}
