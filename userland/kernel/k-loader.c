// Lab's WeensyOS kernel: loading a user program from the ELF images embedded in the kernel.
// Written for this project.
#include "kernel.h"

// The ELF64 header and program header fields the loader reads.
typedef struct elf_header {
    uint32_t magic;
    uint8_t ident[12];
    uint16_t type, machine;
    uint32_t version;
    uint64_t entry, phoff, shoff;
    uint32_t flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
} elf_header;
typedef struct elf_program {
    uint32_t type, flags;
    uint64_t offset, va, pa, filesz, memsz, align;
} elf_program;
#define ELF_MAGIC   0x464C457FU
#define PT_LOAD     1
#define PF_W        2

extern const uint8_t* const program_images[PROGRAM_COUNT * 2];

static const elf_header* program_image(int program) {
    assert(program >= 0 && program < PROGRAM_COUNT);
    const elf_header* eh = (const elf_header*) program_images[2 * program];
    assert(eh->magic == ELF_MAGIC && eh->phentsize == sizeof(elf_program));
    return eh;
}

uintptr_t program_entry(int program) {
    return program_image(program)->entry;
}

// program_load(p, program, alloc)
//    Loads every PT_LOAD segment of `program` into p's address space: each page gets a physical
//    page (before step 3 the page at the same address, then any free one), mapped P|W|U (from step 6
//    read-only segments lose W so fork can share them), filled from the file, the rest zeroed.
//    Tables come from `alloc`. Returns 0, or -1 after printing why on row 22.
int program_load(proc* p, int program, table_allocator alloc) {
    const elf_header* eh = program_image(program);
    const elf_program* ph = (const elf_program*) ((const uint8_t*) eh + eh->phoff);
    for (int i = 0; i < eh->phnum; i++) {
        if (ph[i].type != PT_LOAD) continue;
        uintptr_t start = ROUNDDOWN(ph[i].va, PAGESIZE);
        uintptr_t end = ph[i].va + ph[i].memsz;
        int perm = PTE_P | PTE_U | PTE_W;
#if LAB_STEP >= 6
        if (!(ph[i].flags & PF_W)) perm = PTE_P | PTE_U;
#endif
        for (uintptr_t va = start; va < end; va += PAGESIZE) {
#if LAB_STEP >= 3
            uintptr_t pa = page_alloc_any(p->pid);
            if (!pa) {
                console_printf(CPOS(22, 0), 0xC000, "program_load(pid %d): out of memory at 0x%p\n", p->pid, va);
                return -1;
            }
#else
            uintptr_t pa = va;
            if (assign_physical_page(pa, p->pid) < 0) {
                console_printf(CPOS(22, 0), 0xC000, "program_load_segment(pid %d): can't assign address %p\n", p->pid, va);
                return -1;
            }
#endif
            if (vm_map(p->pt, va, pa, PAGESIZE, perm, alloc) < 0) return -1;
            // Copy through the kernel's identity mapping of physical memory (the page may be read-only for the user).
            memset((void*) pa, 0, PAGESIZE);
            uintptr_t from = va > ph[i].va ? va : ph[i].va;
            uintptr_t to = va + PAGESIZE < ph[i].va + ph[i].filesz ? va + PAGESIZE : ph[i].va + ph[i].filesz;
            if (to > from)
                memcpy((void*) (pa + (from - va)), (const uint8_t*) eh + ph[i].offset + (from - ph[i].va), to - from);
        }
    }
    p->r.rip = eh->entry;
    return 0;
}
