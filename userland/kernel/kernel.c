// Lab's WeensyOS kernel: the core. Boot, process setup, the trap handler and system calls, the
// scheduler, physical page allocation, fork and exit. Written for this project from the behaviour
// described in shared/WEENSYOS.md; the plumbing is in k-*.c.
//
// Lab steps (LAB_STEP, chosen at build time; each includes the ones before it):
//   0  the handout: one identity-mapped table shared by everyone, everything user-accessible
//   1  kernel isolation: memory below PROC_START_ADDR is kernel-only, except the console
//   2  isolated address spaces: each process has its own page table
//   3  virtual page allocation: process pages are any free physical pages (lowest first)
//   4  overlapping address spaces: every stack is at virtual MEMSIZE_VIRTUAL - PAGESIZE
//   5  fork, copying every user page
//   6  read-only segments are shared by fork (reference counted), not copied
//   7  exit frees everything
#include "kernel.h"

proc processes[NPROC];          // processes[0] is never used
proc* current;
unsigned ticks;                 // timer interrupts so far (survives a soft reboot)
pageinfo_t pageinfo[NPAGES];

static void process_setup(int pid, int program);
static void schedule(void) __attribute__((noreturn));
static void run(proc* p) __attribute__((noreturn));
static void pageinfo_init(void);

// kernel(command)
//    Start: hardware, page info, the console, the timer, then the first processes. `command` comes
//    from a soft reboot ("allocator", "fork", "forkexit", "privileged"); a cold boot passes NULL.
void kernel(const char* command) {
    hardware_init();
    pageinfo_init();
    console_clear();
    timer_init(HZ);

    memset(processes, 0, sizeof(processes));
    for (int i = 0; i < NPROC; i++) {
        processes[i].pid = i;
        processes[i].state = P_FREE;
    }
    current = &processes[0];            // until the first process runs
    if (FORCE_FORK || (command && strcmp(command, "fork") == 0)) {
        process_setup(1, 4);
    } else if (command && strcmp(command, "forkexit") == 0) {
        process_setup(1, 5);
    } else if (command && strcmp(command, "privileged") == 0) {
        for (int pid = 1; pid <= 5; pid++) process_setup(pid, 6);
    } else {
        for (int pid = 1; pid <= 4; pid++) process_setup(pid, pid - 1);
    }
    run(&processes[1]);
}

// ---- physical pages ------------------------------------------------------------------------

int physical_memory_isreserved(uintptr_t pa) {
    return pa == 0 || (pa >= 0xA0000 && pa < 0x100000);
}

// pageinfo_init: page 0 and the I/O hole are reserved, the kernel image and stack are the kernel's.
static void pageinfo_init(void) {
    extern char end[];
    for (uintptr_t pa = 0; pa < MEMSIZE_PHYSICAL; pa += PAGESIZE) {
        int owner = PO_FREE;
        if (physical_memory_isreserved(pa)) owner = PO_RESERVED;
        else if ((pa >= KERNEL_START_ADDR && pa < (uintptr_t) end) || pa == KERNEL_STACK_TOP - PAGESIZE)
            owner = PO_KERNEL;
        pageinfo[PAGENUMBER(pa)].owner = owner;
        pageinfo[PAGENUMBER(pa)].refcount = owner != PO_FREE;
    }
}

// assign_physical_page(addr, owner): gives the free page at addr to owner. 0, or -1 if it is not a free page.
int assign_physical_page(uintptr_t addr, int8_t owner) {
    if (addr % PAGESIZE != 0 || addr >= MEMSIZE_PHYSICAL || pageinfo[PAGENUMBER(addr)].refcount != 0)
        return -1;
    pageinfo[PAGENUMBER(addr)].refcount = 1;
    pageinfo[PAGENUMBER(addr)].owner = owner;
    return 0;
}

// page_alloc_any(owner): the lowest free page, zeroed and given to owner; 0 when memory is full.
uintptr_t page_alloc_any(int8_t owner) {
    for (int pn = 0; pn < (int) NPAGES; pn++) {
        if (pageinfo[pn].refcount == 0) {
            assign_physical_page(PAGEADDRESS(pn), owner);
            memset((void*) PAGEADDRESS(pn), 0, PAGESIZE);
            return PAGEADDRESS(pn);
        }
    }
    return 0;
}

// Page tables for a process come from its own pages (step 2 on).
static int8_t table_owner;
static pagetable* alloc_table(void) {
    return (pagetable*) page_alloc_any(table_owner);
}

// release_page(pn, pid): pid stops using page pn. The last user frees it; if pid owned a page that
// others still map, the page passes to one of them.
static void release_page(int pn, int pid) {
    if (--pageinfo[pn].refcount == 0) {
        pageinfo[pn].owner = PO_FREE;
        return;
    }
    if (pageinfo[pn].owner != pid) return;
    for (int q = 1; q < NPROC; q++) {
        if (q == pid || processes[q].state == P_FREE || processes[q].pt == kernel_pagetable) continue;
        for (uintptr_t va = PROC_START_ADDR; va < MEMSIZE_VIRTUAL; va += PAGESIZE) {
            if (vm_lookup(processes[q].pt, va).pn == pn) {
                pageinfo[pn].owner = q;
                return;
            }
        }
    }
}

// ---- processes -----------------------------------------------------------------------------

// new_pagetable(pid): a fresh table for pid (its pages owned by pid) with the kernel's mappings
// below PROC_START_ADDR, same permissions. NULL when memory runs out.
static __attribute__((unused)) pagetable* new_pagetable(int pid) {
    table_owner = pid;
    pagetable* pt = alloc_table();
    if (!pt) return NULL;
    for (uintptr_t va = 0; va < PROC_START_ADDR; va += PAGESIZE) {
        vamapping m = vm_lookup(kernel_pagetable, va);
        if (m.pn >= 0 && vm_map(pt, va, PAGEADDRESS(m.pn), PAGESIZE, m.perm, alloc_table) < 0) return NULL;
    }
    return pt;
}

// free_process(p): releases every user page p maps and every page-table page of p's own table,
// and frees its slot (exit, and a fork that failed half way).
static __attribute__((unused)) void free_process(proc* p) {
    if (p->pt && p->pt != kernel_pagetable) {
        for (uintptr_t va = PROC_START_ADDR; va < MEMSIZE_VIRTUAL; va += PAGESIZE) {
            vamapping m = vm_lookup(p->pt, va);
            if (m.pn >= 0 && (m.perm & PTE_U)) release_page(m.pn, p->pid);
        }
        // The table pages: walk levels 0-2 and free every table they point to, then the top.
        pagetable* l0 = p->pt;
        for (int i = 0; i < 512; i++) {
            if (!(l0->entry[i] & PTE_P)) continue;
            pagetable* l1 = (pagetable*) PTE_ADDR(l0->entry[i]);
            for (int j = 0; j < 512; j++) {
                if (!(l1->entry[j] & PTE_P)) continue;
                pagetable* l2 = (pagetable*) PTE_ADDR(l1->entry[j]);
                for (int k = 0; k < 512; k++)
                    if (l2->entry[k] & PTE_P) release_page(PAGENUMBER(PTE_ADDR(l2->entry[k])), p->pid);
                release_page(PAGENUMBER(l2), p->pid);
            }
            release_page(PAGENUMBER(l1), p->pid);
        }
        release_page(PAGENUMBER(l0), p->pid);
    }
    p->pt = NULL;
    p->state = P_FREE;
}

// process_setup(pid, program): loads `program` as process pid with a one-page stack and makes it runnable.
static void process_setup(int pid, int program) {
    proc* p = &processes[pid];
    memset(&p->r, 0, sizeof(p->r));
    p->r.cs = 0x10 | 3;                 // user code
    p->r.ss = p->r.fs = p->r.gs = 0x20 | 3;
    p->r.rflags = FL_IF;
#if LAB_STEP >= 2
    p->pt = new_pagetable(pid);
    assert(p->pt);
#else
    p->pt = kernel_pagetable;
    pageinfo[PAGENUMBER(kernel_pagetable)].refcount++;
#endif
    table_owner = pid;
    int r = program_load(p, program, alloc_table);
    assert(r >= 0);

#if LAB_STEP >= 4
    uintptr_t stack = MEMSIZE_VIRTUAL - PAGESIZE;
#else
    uintptr_t stack = PROC_START_ADDR + PROC_SIZE * pid - PAGESIZE;
#endif
#if LAB_STEP >= 3
    uintptr_t stack_pa = page_alloc_any(pid);
    assert(stack_pa);
#else
    uintptr_t stack_pa = stack;
    r = assign_physical_page(stack_pa, pid);
    assert(r >= 0);
#endif
    r = vm_map(p->pt, stack, stack_pa, PAGESIZE, PTE_P | PTE_W | PTE_U, alloc_table);
    assert(r >= 0);
    p->r.rsp = stack + PAGESIZE;
    p->state = P_RUNNABLE;
}

// ---- system calls --------------------------------------------------------------------------

// sys_page_alloc(addr): a fresh page at addr for the current process. 0, or -1.
static int sys_page_alloc(uintptr_t addr) {
#if LAB_STEP >= 3
    if (addr % PAGESIZE != 0 || addr < PROC_START_ADDR || addr >= MEMSIZE_VIRTUAL) return -1;
    if (vm_lookup(current->pt, addr).pn >= 0) return -1;
    uintptr_t pa = page_alloc_any(current->pid);
    if (!pa) return -1;
    table_owner = current->pid;
    if (vm_map(current->pt, addr, pa, PAGESIZE, PTE_P | PTE_W | PTE_U, alloc_table) < 0) {
        release_page(PAGENUMBER(pa), current->pid);
        return -1;
    }
    return 0;
#else
    int r = assign_physical_page(addr, current->pid);
    table_owner = current->pid;
    if (r >= 0) r = vm_map(current->pt, addr, addr, PAGESIZE, PTE_P | PTE_W | PTE_U, alloc_table);
    return r;
#endif
}

#if LAB_STEP >= 5
// sys_fork(): a copy of the current process in the lowest free slot. The child's writable pages
// are copies; from step 6 its read-only pages are the parent's, shared. Child pid, or -1 (nothing
// is left behind on failure).
static int sys_fork(void) {
    int pid = 1;
    while (pid < NPROC && processes[pid].state != P_FREE) pid++;
    if (pid == NPROC) return -1;
    proc* child = &processes[pid];
    child->pt = new_pagetable(pid);
    if (!child->pt) { free_process(child); return -1; }
    table_owner = pid;
    for (uintptr_t va = PROC_START_ADDR; va < MEMSIZE_VIRTUAL; va += PAGESIZE) {
        vamapping m = vm_lookup(current->pt, va);
        if (m.pn < 0 || !(m.perm & PTE_U)) continue;
        uintptr_t pa;
# if LAB_STEP >= 6
        if (!(m.perm & PTE_W)) {
            pa = PAGEADDRESS(m.pn);
            pageinfo[m.pn].refcount++;
        } else
# endif
        {
            pa = page_alloc_any(pid);
            if (!pa) { free_process(child); return -1; }
            memcpy((void*) pa, (void*) PAGEADDRESS(m.pn), PAGESIZE);
        }
        if (vm_map(child->pt, va, pa, PAGESIZE, m.perm, alloc_table) < 0) {
            release_page(PAGENUMBER(pa), pid);
            free_process(child);
            return -1;
        }
    }
    child->r = current->r;
    child->r.rax = 0;
    child->state = P_RUNNABLE;
    return pid;
}
#endif

// ---- traps ---------------------------------------------------------------------------------

// exception(r)
//    Every interrupt, exception and system call lands here (from k-entry.S) with the interrupted
//    registers in *r, interrupts off, on the kernel stack. Save them in the current process,
//    switch to the kernel's table, update the displays (not for a kernel page fault), do the
//    grading hooks, poll the keyboard, handle the event, and resume a process.
void exception(regs* r) {
    current->r = *r;
    set_pagetable(kernel_pagetable);
    console_show_cursor(cursorpos);
    int user = (r->cs & 3) == 3;
    if (r->intno != INT_PF || (r->err & PFERR_USER)) {
        check_virtual_memory();
        memshow_physical();
        memshow_virtual_animate();
        if (TICK_LIMIT) {
            if (ticks == TICK_LIMIT) poweroff();
            if (r->intno == INT_TIMER && ticks % HZ == 0) {
                memdump_physical();
                memdump_virtual_all();
            }
        }
    }
    check_keyboard();

    switch (r->intno) {
    case INT_SYS_PANIC:
        panic(NULL);
    case INT_SYS_GETPID:
        current->r.rax = current->pid;
        break;
    case INT_SYS_YIELD:
        schedule();
    case INT_SYS_PAGE_ALLOC:
        current->r.rax = sys_page_alloc(current->r.rdi);
        break;
#if LAB_STEP >= 5
    case INT_SYS_FORK:
        current->r.rax = sys_fork();
        break;
#endif
#if LAB_STEP >= 7
    case INT_SYS_EXIT:
        free_process(current);
        schedule();
#endif
    case INT_TIMER:
        ++ticks;
        timer_eoi();
        schedule();
    case INT_PF: {
        uintptr_t addr = rcr2();
        const char* operation = r->err & PFERR_WRITE ? "write" : "read";
        const char* problem = r->err & PFERR_PRESENT ? "protection problem" : "missing page";
        if (!(r->err & PFERR_USER))
            panic("Kernel page fault for %p (%s %s, rip=%p)!\n", addr, operation, problem, r->rip);
        console_printf(CPOS(24, 0), 0x0C00, "Process %d page fault for %p (%s %s, rip=%p)!\n",
                       current->pid, addr, operation, problem, r->rip);
        log_printf("Process %d page fault for %p (%s %s, rip=%p)!\n", current->pid, addr, operation, problem, r->rip);
        current->state = P_BROKEN;
        break;
    }
    case INT_GP:
        if (!user) panic("Kernel general protection fault (err=%d, rip=%p)!\n", (int) r->err, r->rip);
        console_printf(CPOS(24, 0), 0x0C00, "Process %d general protection fault (rip=%p)!\n", current->pid, r->rip);
        log_printf("Process %d general protection fault (rip=%p)!\n", current->pid, r->rip);
        current->state = P_BROKEN;
        break;
    default:
        panic("Unexpected exception %d!\n", (int) r->intno);
    }

    if (current->state == P_RUNNABLE) run(current);
    schedule();
}

// schedule(): round robin from the slot after the current one (the current process last). With
// nothing runnable, spin polling the keyboard (no screen updates, no ticks: interrupts are off).
static void schedule(void) {
    int pid = current->pid;
    for (;;) {
        pid = (pid + 1) % NPROC;
        if (processes[pid].state == P_RUNNABLE) run(&processes[pid]);
        check_keyboard();
    }
}

// run(p): make p current and return to it in user mode.
static void run(proc* p) {
    assert(p->state == P_RUNNABLE);
    current = p;
    set_pagetable(p->pt);
    exception_return(&p->r);
}
