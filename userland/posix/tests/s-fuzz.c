/* Stress: calls every system call the kernel implements (and some it doesn't) thousands of times
 * with garbage arguments: random numbers, kernel addresses, misaligned, unmapped and NULL pointers,
 * huge lengths. Calls that would legitimately end or block the caller are avoided (exit, execve
 * with valid arguments, kill of itself or its parent, blocking reads, wait for live children).
 * Kernel only (on Linux random arguments could damage the host's files): SKIP natively. */
#include "t.h"
#include <signal.h>

static unsigned long long rng = 0x9e3779b97f4a7c15ULL;
static unsigned long long next(void)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}

/* Garbage pointers into buf stay in its first 8 KiB; the kernel may legitimately write a struct past
 * that (a pointer near the end of buf), so the arena keeps a guard after it. */
static char arena[8192 * 4];
static long zero_time[2];                                     /* a zero timeval/timespec for select and ppoll */
static char *const buf = arena + 8192;
#define BUFSZ 8192

static long garbage(void)
{
    static const unsigned long long special[] = {
        0, 1, 2, 3, 7, 0xffffffffULL, 0x7fffffffULL, 0x80000000ULL, 0xffffffffffffffffULL,
        0xffff800000000000ULL, 0xffffffff80000000ULL, 0x40000, 0x1000, 0xfff, 0x800000000000ULL,
        0x7fffffffefffULL, 0x7ffffffffff8ULL, 0x00007fffffff0000ULL - 1, 0x10000, 0xdeadbeefULL,
        0x8000000000000000ULL, 0x7fffffffffffffffULL, 4096ULL << 30, 1ULL << 40,
    };
    switch (next() % 8) {
    case 0: return (long)special[next() % (sizeof special / sizeof special[0])];
    case 1: return (long)next();
    case 2: return (long)(next() % 64);
    case 3: return (long)(buf + next() % BUFSZ);                   /* valid, often misaligned */
    case 4: return (long)(buf + BUFSZ - 1 - next() % 16);          /* straddles the end */
    case 5: return (long)(next() & 0x7fffffffffffULL);                  /* random user address */
    case 6: return -(long)(next() % 200);
    default: return (long)(next() % 0x100000000ULL);
    }
}

int main(int argc, char **argv)
{
    if (lab_on_linux_host()) { skip("syscall-fuzz", "Lab kernel only"); return 0; }
    if (argc > 1) rng ^= (unsigned long long)atol(argv[1]) * 0x2545f4914f6cdd1dULL;   /* optional seed */
    static const int nrs[] = {
        0, 1, 2, 3, 4, 5, 8, 12, 22, 24, 32, 33, 35, 39, 57, 59, 61, 62, 87, 110, 217, 228, 1002, 1003,
        6, 9, 10, 11, 13, 14, 16, 17, 18, 19, 20, 21, 28, 56, 63, 72, 79, 83, 84, 89, 96, 97, 99, 102,
        104, 107, 108, 158, 186, 201, 218, 229, 230, 257, 258, 262, 263, 267, 269, 273, 292, 293, 302,
        318, 334, 439,
        34, 36, 37, 38, 109, 111, 112, 121, 124, 127, 128, 130, 131, 200, 234,
        7, 23, 25, 58, 74, 75, 76, 77, 82, 86, 88, 90, 91, 137, 138, 264, 265, 266, 268, 270, 271, 280, 316,
        100, 200, 333, 335, 500, 999, 1000, 1001, 1004, 1023, 1024, 4096, -1, 0x7fffffff,
    };
    const int nn = sizeof nrs / sizeof nrs[0];
    pid_t me = getpid(), parent = getppid();
    signal(SIGALRM, SIG_IGN);                                 /* setitimer/alarm with garbage: harmless */
    long calls = 0;
    for (int round = 0; round < 60000; round++) {
        long n = nrs[next() % nn];
        long a[6];
        for (int i = 0; i < 6; i++) a[i] = garbage();
        switch (n) {
        case 60: case 231: continue;                          /* exit */
        case 0: case 19:                                      /* read, readv: never from the console/pipes */
            if (a[0] >= 0 && a[0] < 128) a[0] = 1000 + (a[0] & 7);
            break;
        case 1: case 20:                                      /* write, writev: stdout clean, no full pipe */
            if (a[0] >= 0 && a[0] < 128) a[0] = 1000;
            break;
        case 3: case 33: case 292:                            /* close/dup2/dup3 onto std descriptors */
            if (a[0] >= 0 && a[0] < 3) a[0] = 500;
            if (n != 3 && a[1] >= 0 && a[1] < 3) a[1] = 501;
            break;
        case 35:                                              /* nanosleep: no long sleeps */
            a[0] = 0;
            break;
        case 230:                                             /* clock_nanosleep: likewise */
            a[2] = 0;
            break;
        case 25: {                                            /* mremap: only what the fuzzer mapped moves */
            unsigned long lo = (unsigned long)a[0];
            if (lo < 0x10000000000UL) lo |= 0x10000000000UL;
            else if (lo >= 0x7f0000000000UL && lo < 0x800000000000UL) lo -= 0x100000000000UL;
            a[0] = (long)lo;
            a[1] &= 0xfffffffffffL;
            a[2] &= 0xfffffffffffL;
            a[3] &= 1;                                        /* MREMAP_MAYMOVE at most: never MREMAP_FIXED */
            long r = lab_syscall(25, a[0], a[1], a[2], a[3], 0, 0);
            if (r > 0 && r < 0x800000000000L) lab_syscall(11, r, a[2], 0, 0, 0, 0);
            calls++;
            continue;
        }
        case 9: case 10: case 11: case 28: {                  /* mmap, mprotect, munmap, madvise: */
            /* never over this program's own image, heap or stack (that would be its own bug, not the
             * kernel's): low addresses move up past 1 TiB, the stack's top 1 TiB moves down, lengths stay
             * below 16 TiB; kernel-half addresses stay as they are. */
            unsigned long lo = (unsigned long)a[0];
            if (lo < 0x10000000000UL) lo |= 0x10000000000UL;
            else if (lo >= 0x7f0000000000UL && lo < 0x800000000000UL) lo -= 0x100000000000UL;
            a[0] = (long)lo;
            if ((unsigned long)a[1] > 0xfffffffffffUL) a[1] &= 0xfffffffffffL;
            if (n == 9) {                                     /* a mapping made is unmapped again */
                long r = lab_syscall(9, a[0], a[1], a[2], a[3], a[4], a[5]);
                if (r > 0 && r < 0x800000000000L) lab_syscall(11, r, a[1], 0, 0, 0, 0);
                calls++;
                continue;
            }
            break;
        }
        case 56: {                                            /* clone: as fork, the child exits at once */
            a[1] = 0;                                         /* on this stack, with this TLS, so it can */
            a[0] &= ~0x80000L;                                /* (no CLONE_SETTLS) */
            long r = lab_syscall(56, a[0], a[1], a[2], a[3], a[4], a[5]);
            if (r == 0) _exit(0);
            if (r > 0) lab_syscall(61, r, 0, 0, 0, 0, 0);
            calls++;
            continue;
        }
        case 7:                                               /* poll: never waits */
            a[2] = 0;
            break;
        case 23: case 270:                                    /* select, pselect6: a zero timeout */
            a[4] = (long)zero_time;
            break;
        case 271:                                             /* ppoll: likewise */
            a[2] = (long)zero_time;
            break;
        case 57: case 58: {                                   /* fork, vfork: the child exits at once */
            long r = lab_syscall(n, 0, 0, 0, 0, 0, 0);
            if (r == 0) _exit(0);
            if (r > 0) lab_syscall(61, r, 0, 0, 0, 0, 0);
            calls++;
            continue;
        }
        case 59:                                              /* execve: only invalid paths */
            if (next() % 2) a[0] = (long)"/no/such/file";
            else if (a[0] >= 0 && a[0] < 0x800000000000L && a[0] != 0 && next() % 2) a[0] = (long)(buf + 1);
            buf[1] = 'x'; buf[2] = 0;
            break;
        case 61:                                              /* wait4: never blocks (no live child) */
            a[2] |= 1;                                        /* WNOHANG (or EINVAL from other bits) */
            break;
        case 62: case 200:                                    /* kill, tkill: never itself or its parent */
            if ((int)a[0] == me || (int)a[0] == parent || (int)a[0] <= 0 || (int)a[0] == 1) a[0] = 34000 + (a[0] & 0xff);
            break;                                            /* (pid_t is an int: the kernel sees the low half) */
        case 234:                                             /* tgkill: likewise */
            if ((int)a[1] == me || (int)a[1] == parent || (int)a[1] <= 0 || (int)a[1] == 1) a[1] = 34000 + (a[1] & 0xff);
            break;
        case 13: {                                            /* rt_sigaction: only SIG_DFL or SIG_IGN */
            static struct { long handler, flags, restorer, mask; } act;   /* (a garbage handler would run) */
            act.handler = (long)(next() % 2); act.flags = (long)next(); act.restorer = (long)next(); act.mask = (long)next();
            if (a[1] >= 0 && a[1] < 0x800000000000L && a[1] != 0) a[1] = next() % 2 ? (long)&act : 0;
            if ((int)a[0] == 14 && a[1] == (long)&act) a[1] = 0;   /* SIGALRM stays ignored (timers below) */
            break;
        }
        case 34: case 130:                                    /* pause, sigsuspend: would wait forever */
            continue;
        case 128:                                             /* rt_sigtimedwait: never waits */
            a[2] = (long)&zero_time;
            break;
        }
        if (n == 12) {                                        /* brk: put the break back afterwards */
            long cur = lab_syscall(12, 0, 0, 0, 0, 0, 0);
            lab_syscall(12, a[0], a[1], a[2], a[3], a[4], a[5]);
            lab_syscall(12, cur, 0, 0, 0, 0, 0);
            calls++;
            continue;
        }
        lab_syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
        calls++;
        if (getpid() != me) { printf("FAIL pid changed\n"); return 1; }
    }
    /* still alive and well: the console and memory work */
    char *p = malloc(100000);
    if (!p) { printf("FAIL malloc\n"); return 1; }
    memset(p, 7, 100000);
    free(p);
    printf("fuzz: %ld calls\n", calls);
    pass("syscall-fuzz");
    return 0;
}
