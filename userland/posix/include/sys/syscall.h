#ifndef _SYS_SYSCALL_H
#define _SYS_SYSCALL_H
/* SYS_* numbers (Linux's for POSIX calls, Lab's private ones from 1000 up) for syscall(2). */
#include <posix_syscalls.h>
long syscall(long n, ...);
#endif
