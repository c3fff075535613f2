// Lab's WeensyOS kernel: the memory views drawn on the CGA screen at every trap, the PM_DUMP /
// VM_DUMP grading log, and the kernel's invariant checks (formats: WEENSYOS.md §3 and §7).
// Written for this project.
#include "kernel.h"

// The cell for a page owned by `owner` (refcount 0 counts as free): K kernel, R reserved, . free,
// 1-9 A-F processes in red, green, blue, yellow, white.
static uint16_t owner_cell(int owner) {
    static const uint8_t pid_colors[5] = { 0x0C, 0x0A, 0x09, 0x0E, 0x0F };
    if (owner == PO_KERNEL) return 'K' | 0x0D00;
    if (owner == PO_RESERVED) return 'R' | 0x0700;
    if (owner <= PO_FREE) return '.' | 0x0700;
    int ch = owner < 10 ? '0' + owner : 'A' + owner - 10;
    return ch | (uint16_t) pid_colors[(owner - 1) % 5] << 8;
}

static int effective_owner(int pn) {
    return pageinfo[pn].refcount == 0 ? PO_FREE : pageinfo[pn].owner;
}

// memshow_physical: row 0 title, rows 1-8 one cell per physical page, 64 per row; shared pages dimmed.
void memshow_physical(void) {
    console_printf(CPOS(0, 32), 0x0F00, "PHYSICAL MEMORY");
    for (int pn = 0; pn < (int) NPAGES; pn++) {
        if (pn % 64 == 0) console_printf(CPOS(1 + pn / 64, 3), 0x0F00, "0x%06X ", pn << 12);
        uint16_t cell = owner_cell(effective_owner(pn));
        if (pageinfo[pn].refcount > 1) cell &= 0x77FF;
        console[CPOS(1 + pn / 64, 12 + pn % 64)] = cell;
    }
}

// memshow_virtual(pt, name): row 10 title, rows 11-22 one cell per virtual page below
// MEMSIZE_VIRTUAL. Unmapped pages are blank; user-accessible ones in reverse video; shared dimmed.
static void memshow_virtual(pagetable* pt, const char* name) {
    console_printf(CPOS(10, 26), 0x0F00, "VIRTUAL ADDRESS SPACE FOR %s", name);
    for (uintptr_t va = 0; va < MEMSIZE_VIRTUAL; va += PAGESIZE) {
        int vn = PAGENUMBER(va);
        vamapping m = vm_lookup(pt, va);
        uint16_t cell = ' ';
        if (m.pn >= 0) {
            assert(m.pa < MEMSIZE_PHYSICAL);
            cell = owner_cell(effective_owner(m.pn));
            if (m.perm & PTE_U)
                cell = (cell & 0x00FF) | ((cell & 0x0F00) << 4) | ((cell & 0xF000) >> 4);
            if (pageinfo[m.pn].refcount > 1) cell &= 0x77FF;
        }
        if (vn % 64 == 0) console_printf(CPOS(11 + vn / 64, 3), 0x0F00, "0x%06X ", va);
        console[CPOS(11 + vn / 64, 12 + vn % 64)] = cell;
    }
}

// memshow_virtual_animate: shows a different process every half second (every trap until the first
// tick), skipping free slots. The statics survive soft reboots, as ticks does.
void memshow_virtual_animate(void) {
    static unsigned last_ticks;
    static int showing = 1;
    if (last_ticks == 0 || ticks - last_ticks >= HZ / 2) {
        last_ticks = ticks;
        showing++;
    }
    while (showing <= 2 * NPROC && processes[showing % NPROC].state == P_FREE) showing++;
    showing %= NPROC;
    if (processes[showing].state != P_FREE) {
        char name[4];
        snprintf(name, sizeof(name), "%d ", showing);
        memshow_virtual(processes[showing].pt, name);
    }
}

// ---- the grading log -----------------------------------------------------------------------

// "PM_DUMP <ticks> " then "<owner byte> <refcount> " for every physical page.
void memdump_physical(void) {
    log_printf("PM_DUMP %d ", ticks);
    for (int pn = 0; pn < (int) NPAGES; pn++)
        log_printf("%d %d ", (uint8_t) pageinfo[pn].owner, pageinfo[pn].refcount);
    log_printf("\n");
}

// "VM_DUMP <name> <ticks> " then "<owner byte> <refcount> <perm> " per virtual page ("0 0 0 " unmapped).
static void memdump_virtual(pagetable* pt, const char* name) {
    log_printf("VM_DUMP %s %d ", name, ticks);
    for (uintptr_t va = 0; va < MEMSIZE_VIRTUAL; va += PAGESIZE) {
        vamapping m = vm_lookup(pt, va);
        if (m.pn < 0) log_printf("0 0 0 ");
        else log_printf("%d %d %d ", (uint8_t) pageinfo[m.pn].owner, pageinfo[m.pn].refcount, m.perm);
    }
    log_printf("\n");
}

void memdump_virtual_all(void) {
    for (int pid = 1; pid < NPROC; pid++) {
        if (processes[pid].state == P_FREE) continue;
        char name[4];
        snprintf(name, sizeof(name), "%d ", pid);
        memdump_virtual(processes[pid].pt, name);
    }
}

// ---- invariants ----------------------------------------------------------------------------

// The kernel's image and stack are mapped at their own addresses in pt; data and the stack writably.
static void check_page_table_mappings(pagetable* pt) {
    extern char start_data[], end[];
    assert(PAGEOFFSET(pt) == 0);
    for (uintptr_t va = KERNEL_START_ADDR; va < (uintptr_t) end; va += PAGESIZE) {
        vamapping m = vm_lookup(pt, va);
        if (m.pa != va) {
            console_printf(CPOS(22, 0), 0xC000, "%p vs %p\n", va, m.pa);
            assert(m.pa == va);
        }
        if (va >= (uintptr_t) start_data) assert(m.perm & PTE_W);
    }
    uintptr_t stack = KERNEL_STACK_TOP - PAGESIZE;
    vamapping m = vm_lookup(pt, stack);
    assert(m.pa == stack && (m.perm & PTE_W));
}

// Every page-table page reachable from pt belongs to `owner`; the top one has `top_refcount`
// references, the others one.
static void check_table_pages(pagetable* pt, int level, int8_t owner, int top_refcount) {
    int pn = PAGENUMBER(pt);
    assert(pn < (int) NPAGES);
    assert(pageinfo[pn].owner == owner);
    assert(pageinfo[pn].refcount == (level == 0 ? top_refcount : 1));
    if (level == 3) return;
    for (int i = 0; i < 512; i++)
        if (pt->entry[i] & PTE_P) check_table_pages((pagetable*) PTE_ADDR(pt->entry[i]), level + 1, owner, top_refcount);
}

// check_virtual_memory: the kernel's invariants, at every trap (WEENSYOS.md §7).
void check_virtual_memory(void) {
    assert(processes[0].state == P_FREE);
    int sharing = 1;
    for (int pid = 1; pid < NPROC; pid++)
        if (processes[pid].state != P_FREE && processes[pid].pt == kernel_pagetable) sharing++;
    check_page_table_mappings(kernel_pagetable);
    check_table_pages(kernel_pagetable, 0, PO_KERNEL, sharing);
    for (int pid = 1; pid < NPROC; pid++) {
        proc* p = &processes[pid];
        if (p->state == P_FREE || p->pt == kernel_pagetable) continue;
        check_page_table_mappings(p->pt);
        check_table_pages(p->pt, 0, pid, 1);
    }
    for (int pn = 0; pn < (int) NPAGES; pn++)
        if (pageinfo[pn].refcount > 0 && pageinfo[pn].owner >= 0)
            assert(processes[pageinfo[pn].owner].state != P_FREE);
}
