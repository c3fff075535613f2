/* System-call numbers shared by the user programs and the kernel.
 *
 * THE single list: Kernel/SyscallNumbers.cs holds the same constants and the test
 * Kernel.Tests/SyscallNumbersTests checks, name by name, that the two agree.
 *
 * `syscall` ABI (Linux x86-64): number in %rax, arguments in %rdi %rsi %rdx %r10 %r8 %r9,
 * result in %rax (negative errno on failure). Linux's own numbers for POSIX calls; calls Linux
 * does not have use private numbers from 1000 up.
 *
 * WeensyOS ABI: `int $N` with the argument in %rdi and the result in %rax (INT_SYS_*).
 */
#ifndef LAB_SYSCALL_NUMBERS_H
#define LAB_SYSCALL_NUMBERS_H

#define SYS_read            0
#define SYS_write           1
#define SYS_open            2
#define SYS_close           3
#define SYS_stat            4
#define SYS_fstat           5
#define SYS_lseek           8
#define SYS_brk             12
#define SYS_rt_sigaction    13
#define SYS_pipe            22
#define SYS_sched_yield     24
#define SYS_dup             32
#define SYS_dup2            33
#define SYS_nanosleep       35
#define SYS_getpid          39
#define SYS_fork            57
#define SYS_execve          59
#define SYS_exit            60
#define SYS_wait4           61
#define SYS_kill            62
#define SYS_unlink          87
#define SYS_getppid         110
#define SYS_getdents64      217
#define SYS_clock_gettime   228
#define SYS_exit_group      231
#define SYS_page_alloc      1000
#define SYS_panic           1001
#define SYS_track_self      1002
#define SYS_track_wait      1003

#define INT_SYS_PANIC       48
#define INT_SYS_GETPID      49
#define INT_SYS_YIELD       50
#define INT_SYS_PAGE_ALLOC  51
#define INT_SYS_FORK        52
#define INT_SYS_EXIT        53

#endif
