namespace Lab.Kernel.Weensy;

/// <summary>
/// WeensyOS's system-call numbers: the C# half of its one list (userland/include/syscall_numbers.h
/// is the C half; a test checks that both agree name by name). The `syscall` ABI uses Linux x86-64's
/// numbers for the calls Linux has and private numbers from 1000 up; WeensyOS's own ABI uses the
/// <c>int $N</c> vectors. (The POSIX kernel's list is its own: Kernel/Posix/PosixKernel.Syscalls.cs.)
/// </summary>
public static class SyscallNumbers
{
    public const int SYS_sched_yield = 24;
    public const int SYS_getpid = 39;
    public const int SYS_fork = 57;
    public const int SYS_exit = 60;
    public const int SYS_exit_group = 231;
    public const int SYS_page_alloc = 1000;
    public const int SYS_panic = 1001;

    public const int INT_SYS_PANIC = 48;
    public const int INT_SYS_GETPID = 49;
    public const int INT_SYS_YIELD = 50;
    public const int INT_SYS_PAGE_ALLOC = 51;
    public const int INT_SYS_FORK = 52;
    public const int INT_SYS_EXIT = 53;

    /// <summary>Linux's ENOSYS: an unknown system-call number returns -ENOSYS.</summary>
    public const int ENOSYS = 38;
}
