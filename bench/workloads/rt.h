/* The freestanding runtime of the emulator benchmark's workloads: its own _start (which calls
   bench_start(sp) with the initial stack: argc, argv), raw write/exit syscalls, the mem* functions gcc
   may emit calls to, and a small output buffer written once at the end. No libc: the same binary runs
   natively, under qemu-user and in the Machine. */
#ifndef LAB_BENCH_RT_H
#define LAB_BENCH_RT_H
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t i64;

#define NOINLINE __attribute__((noinline))

/* ---------------------------------------------------------------- runtime */

__asm__(".text\n.globl _start\n.type _start, @function\n_start:\n"
        "    xor %ebp, %ebp\n    mov %rsp, %rdi\n    and $-16, %rsp\n    call bench_start\n    hlt\n");

static long sys_write(int fd, const void *buf, size_t n)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"((long)fd), "S"(buf), "d"(n) : "rcx", "r11", "memory");
    return r;
}

static _Noreturn void sys_exit(int code)
{
    for (;;) __asm__ volatile("syscall" : : "a"(231L), "D"((long)code) : "rcx", "r11", "memory");
}

/* gcc may emit calls to these; loop distribution must not turn them into calls to themselves. */
#define RT_MEM __attribute__((optimize("no-tree-loop-distribute-patterns")))
RT_MEM void *memcpy(void *d, const void *s, size_t n) { u8 *p = d; const u8 *q = s; while (n--) *p++ = *q++; return d; }
RT_MEM void *memset(void *d, int c, size_t n) { u8 *p = d; while (n--) *p++ = (u8)c; return d; }
RT_MEM void *memmove(void *d, const void *s, size_t n)
{
    u8 *p = d; const u8 *q = s;
    if (p < q) while (n--) *p++ = *q++;
    else if (p > q) { p += n; q += n; while (n--) *--p = *--q; }
    return d;
}
RT_MEM int memcmp(const void *a, const void *b, size_t n)
{
    const u8 *x = a, *y = b;
    for (; n; n--, x++, y++) if (*x != *y) return *x < *y ? -1 : 1;
    return 0;
}

static char out[1024];
static size_t out_len;
static void put_str(const char *s) { while (*s && out_len < sizeof out) out[out_len++] = *s++; }
static void put_u64(u64 v)
{
    char t[24]; int i = 0;
    do { t[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (i && out_len < sizeof out) out[out_len++] = t[--i];
}
static void put_hex(u64 v)
{
    for (int s = 60; s >= 0; s -= 4) if (out_len < sizeof out) out[out_len++] = "0123456789abcdef"[(v >> s) & 15];
}
static u64 parse_u64(const char *s) { u64 v = 0; while (*s >= '0' && *s <= '9') v = v * 10 + (u64)(*s++ - '0'); return v; }

#endif
