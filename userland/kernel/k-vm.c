// Lab's WeensyOS kernel: x86-64 page tables. The kernel's own table, mapping and looking up
// addresses in any table, and switching tables. Written for this project.
#include "kernel.h"

// The kernel's page table: five pages in the kernel's bss. Level 0 → 1 → 2, whose entry 0 points
// at the leaf table for 0-2 MiB and entry 1 at an (empty) one for 2-4 MiB.
static pagetable kernel_tables[5];
pagetable* kernel_pagetable;

// kernel_pagetable_init
//    Builds the kernel's table: all of physical memory at its own address. In the handout (step 0)
//    everything is user-accessible; from step 1 (kernel isolation) memory below PROC_START_ADDR is
//    not, except the console page, which user programs write directly.
void kernel_pagetable_init(void) {
    kernel_pagetable = &kernel_tables[0];
    memset(kernel_tables, 0, sizeof(kernel_tables));
    kernel_tables[0].entry[0] = (uintptr_t) &kernel_tables[1] | PTE_P | PTE_W | PTE_U;
    kernel_tables[1].entry[0] = (uintptr_t) &kernel_tables[2] | PTE_P | PTE_W | PTE_U;
    kernel_tables[2].entry[0] = (uintptr_t) &kernel_tables[3] | PTE_P | PTE_W | PTE_U;
    kernel_tables[2].entry[1] = (uintptr_t) &kernel_tables[4] | PTE_P | PTE_W | PTE_U;
    vm_map(kernel_pagetable, 0, 0, MEMSIZE_PHYSICAL, PTE_P | PTE_W | PTE_U, NULL);
#if LAB_STEP >= 1
    vm_map(kernel_pagetable, 0, 0, PROC_START_ADDR, PTE_P | PTE_W, NULL);
    vm_map(kernel_pagetable, CONSOLE_ADDR, CONSOLE_ADDR, PAGESIZE, PTE_P | PTE_W | PTE_U, NULL);
#endif
    lcr3((uintptr_t) kernel_pagetable);
}

// leaf_table(pt, va, alloc)
//    The level-3 table that maps va, creating missing tables with `alloc` (zeroed, linked P|W|U so
//    the leaf decides the permissions). NULL when a table is missing and cannot be made.
static pagetable* leaf_table(pagetable* pt, uintptr_t va, table_allocator alloc) {
    for (int level = 0; level < 3; level++) {
        pte_t* e = &pt->entry[PTINDEX(va, level)];
        if (!(*e & PTE_P)) {
            if (!alloc) return NULL;
            pagetable* fresh = alloc();
            if (!fresh) return NULL;
            memset(fresh, 0, PAGESIZE);
            *e = (uintptr_t) fresh | PTE_P | PTE_W | PTE_U;
        }
        pt = (pagetable*) PTE_ADDR(*e);
    }
    return pt;
}

// vm_map(pt, va, pa, size, perm, alloc)
//    Maps [va, va+size) to [pa, pa+size) with `perm` in `pt` (without PTE_P: unmaps). Addresses and
//    size are page-aligned. Missing tables come from `alloc` (may be NULL: then they must exist).
//    Returns 0, or -1 if a table could not be allocated (mappings made so far stay).
int vm_map(pagetable* pt, uintptr_t va, uintptr_t pa, size_t size, int perm, table_allocator alloc) {
    assert(va % PAGESIZE == 0 && size % PAGESIZE == 0);
    assert(!(perm & PTE_P) || (pa % PAGESIZE == 0 && pa + size <= MEMSIZE_PHYSICAL));
    int active = rcr3() == (uintptr_t) pt;
    for (size_t off = 0; off < size; off += PAGESIZE) {
        pagetable* leaf = leaf_table(pt, va + off, (perm & PTE_P) ? alloc : NULL);
        if (!leaf) {
            if (perm & PTE_P) return -1;
            continue;                   // unmapping something that was never mapped
        }
        leaf->entry[PTINDEX(va + off, 3)] = (perm & PTE_P) ? (pa + off) | perm : 0;
        if (active) invlpg(va + off);
    }
    return 0;
}

// vm_lookup(pt, va)
//    Where va goes in pt: the physical page and address, and the permissions ANDed over all four
//    levels (WEENSYOS.md: effective permission). pn = -1 when unmapped.
vamapping vm_lookup(pagetable* pt, uintptr_t va) {
    vamapping m = { -1, (uintptr_t) -1, 0 };
    int perm = PTE_P | PTE_W | PTE_U;
    pte_t e = 0;
    for (int level = 0; level < 4; level++) {
        e = pt->entry[PTINDEX(va, level)];
        perm &= PTE_FLAGS(e);
        if (!(perm & PTE_P)) return m;
        pt = (pagetable*) PTE_ADDR(e);
    }
    m.pn = PAGENUMBER(PTE_ADDR(e));
    m.pa = PTE_ADDR(e) + PAGEOFFSET(va);
    m.perm = perm & (PTE_P | PTE_W | PTE_U);
    return m;
}

// set_pagetable(pt)
//    Loads pt into CR3, after checking it can run the kernel: the trap path and the kernel's table
//    are mapped at their own addresses in it, and pt itself is in the kernel's table.
void set_pagetable(pagetable* pt) {
    assert(PAGEOFFSET(pt) == 0);
    assert(vm_lookup(pt, (uintptr_t) exception_return).pa == (uintptr_t) exception_return);
    assert(vm_lookup(pt, (uintptr_t) kernel_pagetable).pa == (uintptr_t) kernel_pagetable);
    assert(vm_lookup(kernel_pagetable, (uintptr_t) pt).pa == (uintptr_t) pt);
    lcr3((uintptr_t) pt);
}
