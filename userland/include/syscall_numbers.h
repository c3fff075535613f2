/* WeensyOS's system-call numbers, shared by its user programs and the kernel.
 *
 * THE single list: Kernel/Weensy/SyscallNumbers.cs holds the same constants and the test
 * Kernel.Tests/SyscallNumbersTests checks, name by name, that the two agree. (The POSIX
 * userland's numbers are generated from the POSIX kernel's table: userland/posix/Makefile.)
 *
 * `syscall` ABI (Linux x86-64): number in %rax, arguments in %rdi %rsi %rdx %r10 %r8 %r9,
 * result in %rax (negative errno on failure). Linux's own numbers for POSIX calls; calls Linux
 * does not have use private numbers from 1000 up.
 *
 * WeensyOS ABI: `int $N` with the argument in %rdi and the result in %rax (INT_SYS_*).
 */
#ifndef LAB_SYSCALL_NUMBERS_H
#define LAB_SYSCALL_NUMBERS_H

#define SYS_sched_yield     24
#define SYS_getpid          39
#define SYS_fork            57
#define SYS_exit            60
#define SYS_exit_group      231
#define SYS_page_alloc      1000
#define SYS_panic           1001

#define INT_SYS_PANIC       48
#define INT_SYS_GETPID      49
#define INT_SYS_YIELD       50
#define INT_SYS_PAGE_ALLOC  51
#define INT_SYS_FORK        52
#define INT_SYS_EXIT        53

#endif
