/* The user-side library of the WeensyOS programs: system calls, the console, rand/srand,
 * panic/assert. Written for this project from the behaviour in shared/WEENSYOS.md. */
#ifndef LAB_WEENSYOS_H
#define LAB_WEENSYOS_H
#include "syscall_numbers.h"

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;
typedef unsigned long uintptr_t;
typedef long intptr_t;
typedef unsigned long size_t;
typedef int pid_t;

#define PAGESIZE 4096UL
#define ROUNDDOWN(a, n) ((__typeof__(a)) ((uintptr_t) (a) - (uintptr_t) (a) % (n)))
#define ROUNDUP(a, n)   ROUNDDOWN((uintptr_t) (a) + (n) - 1, (n))

#ifndef NO_SLOWDOWN
#define NO_SLOWDOWN 0
#endif

/* The CGA console (80x25 cells of char | attribute << 8) and the shared cursor word;
 * their addresses come from link/shared.ld. */
#define CONSOLE_COLUMNS 80
#define CONSOLE_ROWS    25
#define CPOS(row, col)  ((row) * CONSOLE_COLUMNS + (col))
extern volatile uint16_t console[CONSOLE_ROWS * CONSOLE_COLUMNS];
extern volatile int cursorpos;

/* ---- system calls ------------------------------------------------------------------- */
#ifdef WEENSYOS_INT_ABI
/* WeensyOS's own convention: int $N, argument in %rdi, result in %rax. */
#define LAB_SYSCALL0(intno, nr) ({ long _r;                                    \
        asm volatile("int %1" : "=a" (_r) : "i" (intno) : "cc", "memory"); _r; })
#define LAB_SYSCALL1(intno, nr, a) ({ long _r;                                 \
        asm volatile("int %1" : "=a" (_r) : "i" (intno), "D" (a) : "cc", "memory"); _r; })
#else
/* Linux convention: syscall, number in %rax; the instruction clobbers %rcx and %r11. */
#define LAB_SYSCALL0(intno, nr) ({ long _r;                                    \
        asm volatile("syscall" : "=a" (_r) : "a" ((long) (nr))                  \
                     : "rcx", "r11", "cc", "memory"); _r; })
#define LAB_SYSCALL1(intno, nr, a) ({ long _r;                                 \
        asm volatile("syscall" : "=a" (_r) : "a" ((long) (nr)), "D" (a)        \
                     : "rcx", "r11", "cc", "memory"); _r; })
#endif

static inline pid_t sys_getpid(void) {
    return (int) LAB_SYSCALL0(INT_SYS_GETPID, SYS_getpid);
}
static inline void sys_yield(void) {
    (void) LAB_SYSCALL0(INT_SYS_YIELD, SYS_sched_yield);
}
/* Maps a fresh zeroed page at `addr`. Returns 0 or -1. */
static inline int sys_page_alloc(void* addr) {
    return (int) LAB_SYSCALL1(INT_SYS_PAGE_ALLOC, SYS_page_alloc, addr);
}
/* Child pid to the parent, 0 to the child, -1 on failure. */
static inline pid_t sys_fork(void) {
    return (int) LAB_SYSCALL0(INT_SYS_FORK, SYS_fork);
}
static inline void __attribute__((noreturn)) sys_exit(void) {
    (void) LAB_SYSCALL1(INT_SYS_EXIT, SYS_exit, 0L);
    while (1) { }                       /* spin if the kernel ever returns */
}
static inline void __attribute__((noreturn)) sys_panic(const char* msg) {
    (void) LAB_SYSCALL1(INT_SYS_PANIC, SYS_panic, msg);
    while (1) { }
}

static inline uintptr_t read_rsp(void) {
    uintptr_t rsp;
    asm volatile("movq %%rsp, %0" : "=r" (rsp));
    return rsp;
}

/* ---- library (lib/ulib.c) ----------------------------------------------------------- */
#define RAND_MAX 0x7FFFFFFF
int rand(void);
void srand(unsigned seed);

/* Writes `s` at console cell `pos` in attribute `color`; "\n" pads the rest of the row with
 * spaces. Returns the next cell. */
int console_puts(int pos, int color, const char* s);
void __attribute__((noreturn)) panic(const char* msg);
void __attribute__((noreturn)) assert_fail(const char* file, int line, const char* msg);
#define assert(x) do { if (!(x)) assert_fail(__FILE__, __LINE__, #x); } while (0)

#endif
