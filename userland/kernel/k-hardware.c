// Lab's WeensyOS kernel: the PC hardware. Segments, the IDT and TSS, the interrupt controllers and
// timer, the keyboard, the CGA cursor, the parallel-port log, power-off and reboot, panics.
// Written for this project from the hardware's documented interfaces.
#include "kernel.h"

// ---- segments, IDT, TSS --------------------------------------------------------------------
//
// GDT: 0x08 kernel code, 0x10 user code, 0x18 kernel data, 0x20 user data, 0x28 the TSS (16 bytes).
#define SEL_KERN_CODE   0x08
#define SEL_APP_CODE    0x10
#define SEL_KERN_DATA   0x18
#define SEL_APP_DATA    0x20
#define SEL_TSS         0x28

#define SEG_P     (1UL << 47)
#define SEG_S     (1UL << 44)
#define SEG_CODE  (0xAUL << 40)         // execute/read
#define SEG_DATA  (0x2UL << 40)         // read/write
#define SEG_L     (1UL << 53)
#define SEG_DPL(d) ((uint64_t) (d) << 45)

static uint64_t gdt[7];
static tss64 tss;
static gate64 idt[256];
// The double-fault handler runs on its own stack (IST 1), so a kernel stack overflow still reports.
static uint8_t double_fault_stack[PAGESIZE] __attribute__((aligned(PAGESIZE)));

static void set_gate(int vector, int dpl, int ist) {
    uintptr_t handler = (uintptr_t) trap_stubs + vector * TRAP_STUB_SIZE;
    idt[vector].low = (handler & 0xFFFF) | ((uint64_t) SEL_KERN_CODE << 16) | ((uint64_t) ist << 32)
        | (0xEUL << 40) | SEG_DPL(dpl) | SEG_P | ((handler & 0xFFFF0000UL) << 32);
    idt[vector].high = handler >> 32;
}

static void segments_init(void) {
    gdt[0] = 0;
    gdt[SEL_KERN_CODE >> 3] = SEG_P | SEG_S | SEG_CODE | SEG_L | SEG_DPL(0);
    gdt[SEL_APP_CODE >> 3] = SEG_P | SEG_S | SEG_CODE | SEG_L | SEG_DPL(3);
    gdt[SEL_KERN_DATA >> 3] = SEG_P | SEG_S | SEG_DATA | SEG_DPL(0);
    gdt[SEL_APP_DATA >> 3] = SEG_P | SEG_S | SEG_DATA | SEG_DPL(3);
    uintptr_t base = (uintptr_t) &tss;
    uint64_t limit = sizeof(tss) - 1;
    gdt[SEL_TSS >> 3] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x9UL << 40) | SEG_P
        | ((limit & 0xF0000) << 32) | ((base & 0xFF000000UL) << 32);
    gdt[(SEL_TSS >> 3) + 1] = base >> 32;

    memset(&tss, 0, sizeof(tss));
    tss.rsp[0] = KERNEL_STACK_TOP;
    tss.ist[0] = (uintptr_t) double_fault_stack + PAGESIZE;
    tss.iomap_base = sizeof(tss);       // no I/O bitmap: user code may touch no port

    // Every vector has a stub; only the system calls may be raised from user mode.
    for (int v = 0; v < 256; v++) set_gate(v, v >= INT_SYS && v < INT_SYS + 16 ? 3 : 0, v == INT_DF ? 1 : 0);

    table_register gdtr = { sizeof(gdt) - 1, (uintptr_t) gdt };
    table_register idtr = { sizeof(idt) - 1, (uintptr_t) idt };
    asm volatile("lgdt %0" : : "m"(gdtr));
    // Reload CS with a far return, then the data segments, from the new GDT.
    asm volatile("pushq %0\n\t"
                 "leaq 1f(%%rip), %%rax\n\t"
                 "pushq %%rax\n\t"
                 "lretq\n"
                 "1:\n\t"
                 "movw %1, %%ax\n\t"
                 "movw %%ax, %%ss\n\t"
                 "movw %%ax, %%ds\n\t"
                 "movw %%ax, %%es\n\t"
                 "xorl %%eax, %%eax\n\t"
                 "movw %%ax, %%fs\n\t"
                 "movw %%ax, %%gs"
                 : : "i"(SEL_KERN_CODE), "i"(SEL_KERN_DATA) : "rax", "memory");
    asm volatile("ltr %w0" : : "r"((uint16_t) SEL_TSS));
    asm volatile("lidt %0" : : "m"(idtr));
    lcr0(rcr0() | CR0_WP | 0x22);       // write-protect, NE, MP
}

// ---- interrupt controllers and timer --------------------------------------------------------

#define PIC1 0x20
#define PIC2 0xA0
#define PIT_CH0 0x40
#define PIT_MODE 0x43

static uint16_t irq_enabled;            // bit n: IRQ n unmasked

static void pic_apply_mask(void) {
    outb(PIC1 + 1, ~irq_enabled & 0xFF);
    outb(PIC2 + 1, (~irq_enabled >> 8) & 0xFF);
}

// Both 8259As: edge-triggered and cascaded (slave on IRQ 2), vectors 32-47, x86 mode, normal EOI.
static void interrupt_init(void) {
    irq_enabled = 1 << 2;               // the cascade line
    outb(PIC1 + 1, 0xFF);
    outb(PIC2 + 1, 0xFF);
    outb(PIC1, 0x11);                   // ICW1: initialise, ICW4 follows
    outb(PIC1 + 1, INT_IRQ0);           // ICW2: vector base
    outb(PIC1 + 1, 1 << 2);             // ICW3: slave on IRQ 2
    outb(PIC1 + 1, 0x01);               // ICW4: 8086 mode
    outb(PIC2, 0x11);
    outb(PIC2 + 1, INT_IRQ0 + 8);
    outb(PIC2 + 1, 2);                  // ICW3: our cascade identity
    outb(PIC2 + 1, 0x01);
    outb(PIC1, 0x0A);                   // OCW3: reading the command port gives IRR
    outb(PIC2, 0x0A);
    pic_apply_mask();
}

// The PIT's channel 0 as a rate generator at `hz` interrupts a second (IRQ 0).
void timer_init(int hz) {
    if (hz > 0) {
        unsigned divisor = (1193182 + hz / 2) / hz;
        outb(PIT_MODE, 0x34);           // channel 0, LSB then MSB, mode 2
        outb(PIT_CH0, divisor & 0xFF);
        outb(PIT_CH0, divisor >> 8);
        irq_enabled |= 1 << 0;
    } else {
        irq_enabled &= ~1;
    }
    pic_apply_mask();
}

// End of interrupt for IRQ 0 (the master's in-service bit).
void timer_eoi(void) {
    outb(PIC1, 0x20);
}

void hardware_init(void) {
    segments_init();
    interrupt_init();
    kernel_pagetable_init();
}

// ---- the CGA cursor ------------------------------------------------------------------------

void console_show_cursor(int cpos) {
    if (cpos < 0 || cpos > CONSOLE_ROWS * CONSOLE_COLUMNS) cpos = 0;
    outb(0x3D4, 14);
    outb(0x3D5, cpos >> 8);
    outb(0x3D4, 15);
    outb(0x3D5, cpos & 0xFF);
}

// ---- the keyboard (polled; scan-code set 1) ------------------------------------------------

// Characters of each key, unshifted and shifted, by make code (0: none or a modifier).
static const char keys_plain[] =
    "\0\033" "1234567890-=" "\b\t" "qwertyuiop[]" "\n\0" "asdfghjkl;'`" "\0\\" "zxcvbnm,./" "\0*\0 ";
static const char keys_shift[] =
    "\0\033" "!@#$%^&*()_+" "\b\t" "QWERTYUIOP{}" "\n\0" "ASDFGHJKL:\"~" "\0|" "ZXCVBNM<>?" "\0*\0 ";
#define KEY_LCTRL  0x1D
#define KEY_LSHIFT 0x2A
#define KEY_RSHIFT 0x36
#define KEY_CAPS   0x3A

// -1: nothing typed; 0: a key that is not a character (modifier, release, prefix); else the character.
static int keyboard_readc(void) {
    static int shift, ctrl, caps, escaped;
    if ((inb(0x64) & 1) == 0) return -1;
    uint8_t code = inb(0x60);
    if (code == 0xE0) { escaped = 1; return 0; }
    int was_escaped = escaped;
    escaped = 0;
    int release = code & 0x80;
    code &= 0x7F;
    if (code == KEY_LSHIFT || code == KEY_RSHIFT) { shift = !release; return 0; }
    if (code == KEY_LCTRL) { ctrl = !release; return 0; }
    if (code == KEY_CAPS) { if (!release) caps = !caps; return 0; }
    if (release || was_escaped || code >= sizeof(keys_plain) - 1) return 0;
    int c = (unsigned char) keys_plain[code];
    if (c >= 'a' && c <= 'z') {
        if (ctrl) return c - 'a' + 1;
        if (shift != caps) return c - 'a' + 'A';
        return c;
    }
    if (ctrl) return 0;
    return shift ? (unsigned char) keys_shift[code] : c;
}

// Soft reboot into `command`: the kernel starts again from entry_from_boot with the multiboot
// convention (eax magic, ebx info with a command line). Memory is not reloaded. The temporary page
// table the boot loader used (0x8000-0xAFFF, one 2 MiB page) carries us through reinitialisation.
static void soft_reboot(const char* command) __attribute__((noreturn));
static void soft_reboot(const char* command) {
    pagetable* pt = (pagetable*) 0x8000;
    memset(pt, 0, 3 * PAGESIZE);
    pt[0].entry[0] = 0x9000 | PTE_P | PTE_W | PTE_U;
    pt[1].entry[0] = 0xA000 | PTE_P | PTE_W | PTE_U;
    pt[2].entry[0] = PTE_P | PTE_W | PTE_U | PTE_PS;
    lcr3((uintptr_t) pt);
    static uint32_t info[5];
    info[0] = 4;                        // flags: a command line is present
    info[4] = (uint32_t) (uintptr_t) command;
    asm volatile("movl $0x2BADB002, %%eax\n\t"
                 "jmp entry_from_boot" : : "b"(info) : "memory");
    __builtin_unreachable();
}

// Keys the kernel itself acts on: 'a' allocators, 'f' fork, 'e' forkexit, 'p' privileged (a soft
// reboot into that program), 'q' or Ctrl-C power off. Returns the key, or -1.
int check_keyboard(void) {
    int c = keyboard_readc();
    switch (c) {
    case 'a': soft_reboot("allocator");
    case 'f': soft_reboot("fork");
    case 'e': soft_reboot("forkexit");
    case 'p': soft_reboot("privileged");
    case 'q': case 3: poweroff();
    }
    return c;
}

// ---- the parallel port: the kernel's log ----------------------------------------------------

#define LPT_DATA    0x378
#define LPT_STATUS  0x379
#define LPT_CONTROL 0x37A
#define LPT_READY   0x80                // status: not busy
#define LPT_STROBE  0x01
#define LPT_INIT    0x04                // active low: 0 resets the printer
#define LPT_SELECT  0x08

static void log_putc(printer* p, unsigned char c, int color) {
    (void) p, (void) color;
    static int started;
    if (!started) {
        outb(LPT_CONTROL, 0);           // reset the printer once
        started = 1;
    }
    for (int i = 0; i < 10000 && (inb(LPT_STATUS) & LPT_READY) == 0; i++) { }
    outb(LPT_DATA, c);
    outb(LPT_CONTROL, LPT_SELECT | LPT_INIT | LPT_STROBE);
    outb(LPT_CONTROL, LPT_SELECT | LPT_INIT);
}

static void log_vprintf(const char* fmt, va_list ap) {
    printer p = { log_putc };
    printer_vprintf(&p, 0, fmt, ap);
}

void log_printf(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    log_vprintf(fmt, ap);
    va_end(ap);
}

// ---- power ---------------------------------------------------------------------------------

static uint32_t pci_config_read(uint32_t address) {
    outl(0xCF8, 0x80000000u | address);
    return inl(0xCFC);
}

// Power off: find the PIIX4 power-management function (8086:7113) on PCI bus 0, take its I/O base
// from config register 0x40, and set SLP_EN with sleep type 0 (soft off) in PM1_CNT.
void poweroff(void) {
    for (uint32_t dev = 0; dev < 32; dev++) {
        for (uint32_t fn = 0; fn < 8; fn++) {
            uint32_t address = (dev << 11) | (fn << 8);
            uint32_t id = pci_config_read(address);
            if (id == 0x71138086u) {
                uint16_t base = pci_config_read(address | 0x40) & 0xFFC0;
                outw(base + 4, 0x2000);
            }
            if (id == 0xFFFFFFFFu && fn == 0) break;
        }
    }
    console_printf(CPOS(24, 0), 0xC000, "Cannot power off!\n");
    for (;;) { }
}

// Reboot: the fast-reset bit of system control port A.
void reboot(void) {
    outb(0x92, 3);
    for (;;) { }
}

// ---- panics --------------------------------------------------------------------------------

// Stop for good: when graded (TICK_LIMIT) power off, else keep answering the keyboard.
static void fail(void) __attribute__((noreturn));
static void fail(void) {
    if (TICK_LIMIT) poweroff();
    for (;;) check_keyboard();
}

// "PANIC: <message>" on row 23 (and in the log); a NULL format prints just "PANIC".
void panic(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (fmt) {
        va_list copy;
        va_copy(copy, ap);
        log_printf("PANIC: ");
        log_vprintf(fmt, copy);
        va_end(copy);
        int cpos = console_printf(CPOS(23, 0), 0xC000, "PANIC: ");
        cpos = console_vprintf(cpos, 0xC000, fmt, ap);
        if (CCOL(cpos)) console_printf(cpos, 0xC000, "\n");
    } else {
        log_printf("PANIC\n");
        console_printf(CPOS(23, 0), 0xC000, "PANIC");
    }
    va_end(ap);
    fail();
}

void assert_fail(const char* file, int line, const char* msg) {
    panic("%s:%d: assertion '%s' failed\n", file, line, msg);
}
