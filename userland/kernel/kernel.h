/* Lab's WeensyOS kernel: constants, the process and page-info tables, and the functions the
 * files share. Written for this project from shared/WEENSYOS.md; the lab steps (LAB_STEP) and
 * grading switches (TICK_LIMIT, FORCE_FORK) are chosen at build time (see Makefile). */
#ifndef LAB_KERNEL_H
#define LAB_KERNEL_H
#include "k-x86.h"

#ifndef LAB_STEP
#define LAB_STEP 7              /* 0 handout .. 7 exit; see kernel.c */
#endif
#ifndef TICK_LIMIT
#define TICK_LIMIT 0            /* grading: power off after this many ticks, dumping every 100 */
#endif
#ifndef FORCE_FORK
#define FORCE_FORK 0            /* grading: boot into p-fork */
#endif

/* Memory layout (WEENSYOS.md §1). */
#define KERNEL_START_ADDR   0x40000UL
#define KERNEL_STACK_TOP    0x80000UL
#define PROC_START_ADDR     0x100000UL
#define PROC_SIZE           0x40000UL
#define MEMSIZE_PHYSICAL    0x200000UL
#define MEMSIZE_VIRTUAL     0x300000UL
#define NPAGES              (MEMSIZE_PHYSICAL / PAGESIZE)
#define CONSOLE_ADDR        0xB8000UL
#define HZ                  100

/* Console. */
#define CONSOLE_COLUMNS 80
#define CONSOLE_ROWS    25
#define CPOS(row, col)  ((row) * CONSOLE_COLUMNS + (col))
#define CROW(cpos)      ((cpos) / CONSOLE_COLUMNS)
#define CCOL(cpos)      ((cpos) % CONSOLE_COLUMNS)
extern volatile uint16_t console[CONSOLE_ROWS * CONSOLE_COLUMNS];
extern volatile int cursorpos;

/* Processes. */
#define NPROC 16
typedef enum procstate { P_FREE = 0, P_RUNNABLE, P_BLOCKED, P_BROKEN } procstate;
typedef struct proc {
    int pid;
    regs r;
    procstate state;
    pagetable* pt;
} proc;
extern proc processes[NPROC];
extern proc* current;
extern unsigned ticks;

/* Physical pages: owner and reference count (WEENSYOS.md §2). */
#define PO_FREE      0
#define PO_RESERVED  (-1)
#define PO_KERNEL    (-2)
typedef struct pageinfo_t {
    int8_t owner;
    int8_t refcount;
} pageinfo_t;
extern pageinfo_t pageinfo[NPAGES];

/* kernel.c */
void kernel(const char* command) __attribute__((noreturn));
void exception(regs* r) __attribute__((noreturn));
int physical_memory_isreserved(uintptr_t pa);
int assign_physical_page(uintptr_t addr, int8_t owner);
uintptr_t page_alloc_any(int8_t owner);

/* k-vm.c: page tables. */
extern pagetable* kernel_pagetable;
typedef struct vamapping {
    int pn;                     /* physical page number, -1 if unmapped */
    uintptr_t pa;               /* physical address, (uintptr_t) -1 if unmapped */
    int perm;                   /* P|W|U ANDed over the levels, 0 if unmapped */
} vamapping;
typedef pagetable* (*table_allocator)(void);
void kernel_pagetable_init(void);
int vm_map(pagetable* pt, uintptr_t va, uintptr_t pa, size_t size, int perm, table_allocator alloc);
vamapping vm_lookup(pagetable* pt, uintptr_t va);
void set_pagetable(pagetable* pt);

/* k-hardware.c */
void hardware_init(void);
void timer_init(int hz);
void timer_eoi(void);
int check_keyboard(void);
void poweroff(void) __attribute__((noreturn));
void reboot(void) __attribute__((noreturn));
void console_show_cursor(int cpos);
void log_printf(const char* fmt, ...);
void panic(const char* fmt, ...) __attribute__((noreturn));
void assert_fail(const char* file, int line, const char* msg) __attribute__((noreturn));
#define assert(x) do { if (!(x)) assert_fail(__FILE__, __LINE__, #x); } while (0)

/* k-console.c: printing and the small C library. */
typedef struct printer {
    void (*putc)(struct printer* p, unsigned char c, int color);
} printer;
void printer_vprintf(printer* p, int color, const char* fmt, va_list ap);
int console_printf(int cpos, int color, const char* fmt, ...);
int console_vprintf(int cpos, int color, const char* fmt, va_list ap);
void console_clear(void);
void* memset(void* s, int c, size_t n);
void* memcpy(void* dst, const void* src, size_t n);
int strcmp(const char* a, const char* b);
size_t strlen(const char* s);
int snprintf(char* buf, size_t size, const char* fmt, ...);

/* k-memshow.c: the memory views and the grading dumps. */
void memshow_physical(void);
void memshow_virtual_animate(void);
void memdump_physical(void);
void memdump_virtual_all(void);
void check_virtual_memory(void);

/* k-loader.c */
#define PROGRAM_COUNT 7
int program_load(proc* p, int program, table_allocator alloc);
uintptr_t program_entry(int program);

/* k-entry.S */
void exception_return(regs* r) __attribute__((noreturn));
void entry_from_boot(void) __attribute__((noreturn));
extern char trap_stubs[];       /* 256 stubs, TRAP_STUB_SIZE bytes each */
#define TRAP_STUB_SIZE 16

#endif
