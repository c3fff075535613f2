/* libc-internal: the raw `syscall` instruction. */
#ifndef _LIBC_SYS_H
#define _LIBC_SYS_H
#include <posix_syscalls.h>
#include <errno.h>

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
