#include "rt.h"

/* Entry: the System V initial stack has argc at (%rsp), argv after it. */
__asm__(
    ".text\n"
    ".globl _start\n"
    ".type _start, @function\n"
    "_start:\n"
    "    xor %ebp, %ebp\n"
    "    mov %rsp, %rdi\n"
    "    and $-16, %rsp\n"
    "    call rt_start\n"
    "    hlt\n");

int main(int argc, char **argv);
void rt_start(long *sp) __attribute__((used, noreturn));
void rt_start(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    int code = main(argc, argv);
    out_flush();
    sys_exit(code);
}

long sys_write(int fd, const void *buf, size_t n)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"((long)fd), "S"(buf), "d"(n) : "rcx", "r11", "memory");
    return r;
}

_Noreturn void sys_exit(int code)
{
    for (;;) __asm__ volatile("syscall" : : "a"(231L), "D"((long)code) : "rcx", "r11", "memory");
}

/* gcc turns these loops into calls to themselves unless loop-distribution is off. */
#define RT_MEM __attribute__((optimize("no-tree-loop-distribute-patterns")))

RT_MEM void *memcpy(void *dst, const void *src, size_t n)
{
    u8 *d = dst;
    const u8 *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

RT_MEM void *memmove(void *dst, const void *src, size_t n)
{
    u8 *d = dst;
    const u8 *s = src;
    if (d < s) while (n--) *d++ = *s++;
    else if (d > s) { d += n; s += n; while (n--) *--d = *--s; }
    return dst;
}

RT_MEM void *memset(void *dst, int c, size_t n)
{
    u8 *d = dst;
    while (n--) *d++ = (u8)c;
    return dst;
}

RT_MEM int memcmp(const void *a, const void *b, size_t n)
{
    const u8 *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x < *y ? -1 : 1;
    return 0;
}

RT_MEM size_t rt_strlen(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static char out_buf[4096];
static size_t out_len;

void out_flush(void)
{
    size_t off = 0;
    while (off < out_len) {
        long r = sys_write(1, out_buf + off, out_len - off);
        if (r <= 0) sys_exit(99);
        off += (size_t)r;
    }
    out_len = 0;
}

void out_char(char c)
{
    if (out_len == sizeof out_buf) out_flush();
    out_buf[out_len++] = c;
}

void out_mem(const char *s, size_t n)
{
    while (n--) out_char(*s++);
}

void out_str(const char *s)
{
    while (*s) out_char(*s++);
}

void out_u64(u64 v)
{
    char tmp[24];
    int i = 0;
    do { tmp[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (i) out_char(tmp[--i]);
}

void out_i64(i64 v)
{
    if (v < 0) { out_char('-'); out_u64(-(u64)v); }
    else out_u64((u64)v);
}

void out_hex(u64 v, int digits)
{
    char tmp[16];
    int i = 0;
    do { tmp[i++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    while (i < digits) tmp[i++] = '0';
    while (i) out_char(tmp[--i]);
}

void out_nl(void) { out_char('\n'); }

void out_kv_u64(const char *name, u64 v) { out_str(name); out_char('='); out_u64(v); out_nl(); }
void out_kv_hex(const char *name, u64 v) { out_str(name); out_str("=0x"); out_hex(v, 0); out_nl(); }
