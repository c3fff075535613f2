/* libc-internal: the raw `syscall` instruction. */
#ifndef _LIBC_SYS_H
#define _LIBC_SYS_H
#include <posix_syscalls.h>
#include <errno.h>

/* Linux's numbers for calls a program may make before the kernel's table has a row for them (the
 * generated header names only the table's rows). Lab answers -ENOSYS for a call it lacks, exactly
 * as an older Linux would, so a wrapper here fails cleanly instead of not compiling. */
#ifndef SYS_poll
#define SYS_poll 7
#endif
#ifndef SYS_rt_sigreturn
#define SYS_rt_sigreturn 15
#endif
#ifndef SYS_select
#define SYS_select 23
#endif
#ifndef SYS_pause
#define SYS_pause 34
#endif
#ifndef SYS_getitimer
#define SYS_getitimer 36
#endif
#ifndef SYS_alarm
#define SYS_alarm 37
#endif
#ifndef SYS_setitimer
#define SYS_setitimer 38
#endif
#ifndef SYS_fsync
#define SYS_fsync 74
#endif
#ifndef SYS_fdatasync
#define SYS_fdatasync 75
#endif
#ifndef SYS_truncate
#define SYS_truncate 76
#endif
#ifndef SYS_ftruncate
#define SYS_ftruncate 77
#endif
#ifndef SYS_rename
#define SYS_rename 82
#endif
#ifndef SYS_link
#define SYS_link 86
#endif
#ifndef SYS_symlink
#define SYS_symlink 88
#endif
#ifndef SYS_chmod
#define SYS_chmod 90
#endif
#ifndef SYS_fchmod
#define SYS_fchmod 91
#endif
#ifndef SYS_umask
#define SYS_umask 95
#endif
#ifndef SYS_setpgid
#define SYS_setpgid 109
#endif
#ifndef SYS_getpgrp
#define SYS_getpgrp 111
#endif
#ifndef SYS_setsid
#define SYS_setsid 112
#endif
#ifndef SYS_getpgid
#define SYS_getpgid 121
#endif
#ifndef SYS_getsid
#define SYS_getsid 124
#endif
#ifndef SYS_rt_sigpending
#define SYS_rt_sigpending 127
#endif
#ifndef SYS_rt_sigsuspend
#define SYS_rt_sigsuspend 130
#endif
#ifndef SYS_sigaltstack
#define SYS_sigaltstack 131
#endif
#ifndef SYS_tgkill
#define SYS_tgkill 234
#endif

static inline long __sc6(long n, long a, long b, long c, long d, long e, long f)
{
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}
#define __sc0(n) __sc6(n, 0, 0, 0, 0, 0, 0)
#define __sc1(n, a) __sc6(n, (long)(a), 0, 0, 0, 0, 0)
#define __sc2(n, a, b) __sc6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define __sc3(n, a, b, c) __sc6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define __sc4(n, a, b, c, d) __sc6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

static inline long __ret(long r)
{
    if (r < 0 && r > -4096) { errno = (int)-r; return -1; }
    return r;
}
#endif
