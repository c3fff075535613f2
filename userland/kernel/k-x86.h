/* Lab's WeensyOS kernel: the x86-64 hardware as the kernel sees it. Written for this project;
 * the layouts are the architecture's (Intel SDM vol. 3), the names are ours. */
#ifndef LAB_K_X86_H
#define LAB_K_X86_H
#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>

#define PAGESIZE        4096UL
#define PAGEOFFBITS     12
#define PAGENUMBER(a)   ((int) ((uintptr_t) (a) >> PAGEOFFBITS))
#define PAGEADDRESS(pn) ((uintptr_t) (pn) << PAGEOFFBITS)
#define PAGEOFFSET(a)   ((uintptr_t) (a) & (PAGESIZE - 1))
#define ROUNDDOWN(a, n) ((a) - (a) % (n))
#define ROUNDUP(a, n)   ROUNDDOWN((a) + (n) - 1, (n))

/* Page-table entries. */
#define PTE_P   0x001UL         /* present */
#define PTE_W   0x002UL         /* writable */
#define PTE_U   0x004UL         /* user-accessible */
#define PTE_PS  0x080UL         /* large page */
#define PTE_ADDR(e)  ((uintptr_t) (e) & 0x000FFFFFFFFFF000UL)
#define PTE_FLAGS(e) ((uintptr_t) (e) & 0xFFFUL)
/* Index of va in the table at level 0 (top, PML4) .. 3 (leaf). */
#define PTINDEX(va, level) ((int) (((uintptr_t) (va) >> (PAGEOFFBITS + 9 * (3 - (level)))) & 511))

typedef uint64_t pte_t;
typedef struct __attribute__((aligned(PAGESIZE))) pagetable {
    pte_t entry[512];
} pagetable;

/* Page-fault error code bits. */
#define PFERR_PRESENT 0x1
#define PFERR_WRITE   0x2
#define PFERR_USER    0x4

/* RFLAGS and CR0 bits the kernel sets. */
#define FL_IF       0x200UL
#define FL_IOPL3    0x3000UL
#define CR0_WP      0x00010000UL

/* Exception vectors. */
#define INT_DE      0
#define INT_DF      8
#define INT_GP      13
#define INT_PF      14
#define INT_IRQ0    32          /* the PICs are programmed to start here */
#define INT_TIMER   INT_IRQ0
#define INT_SYS     48          /* 48..63: system calls (DPL 3 gates) */
#define INT_SYS_PANIC       48
#define INT_SYS_GETPID      49
#define INT_SYS_YIELD       50
#define INT_SYS_PAGE_ALLOC  51
#define INT_SYS_FORK        52
#define INT_SYS_EXIT        53

/* The register frame k-entry.S builds on the kernel stack at every trap: general registers,
 * fs and gs selectors, then vector and error code, then what the CPU pushed. */
typedef struct regs {
    uint64_t rax, rcx, rdx, rbx, rbp, rsi, rdi;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t fs, gs;
    uint64_t intno, err;
    uint64_t rip, cs, rflags, rsp, ss;
} regs;

/* Descriptor tables. */
typedef struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} tss64;

typedef struct gate64 {
    uint64_t low, high;
} gate64;

typedef struct __attribute__((packed, aligned(2))) table_register {
    uint16_t limit;
    uint64_t base;
} table_register;

/* Port I/O. */
static inline uint8_t inb(uint16_t port) { uint8_t v; asm volatile("inb %w1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; asm volatile("inl %w1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %w1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { asm volatile("outw %0, %w1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { asm volatile("outl %0, %w1" : : "a"(v), "Nd"(port)); }

/* Control registers. */
static inline uintptr_t rcr0(void) { uintptr_t v; asm volatile("movq %%cr0, %0" : "=r"(v)); return v; }
static inline void lcr0(uintptr_t v) { asm volatile("movq %0, %%cr0" : : "r"(v) : "memory"); }
static inline uintptr_t rcr2(void) { uintptr_t v; asm volatile("movq %%cr2, %0" : "=r"(v)); return v; }
static inline uintptr_t rcr3(void) { uintptr_t v; asm volatile("movq %%cr3, %0" : "=r"(v)); return v; }
static inline void lcr3(uintptr_t v) { asm volatile("movq %0, %%cr3" : : "r"(v) : "memory"); }
static inline void invlpg(uintptr_t va) { asm volatile("invlpg (%0)" : : "r"(va) : "memory"); }

#endif
