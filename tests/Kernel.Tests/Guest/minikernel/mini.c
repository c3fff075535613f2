// A minimal kernel for testing the guest boot path: it shows text on the CGA screen, moves the
// cursor, logs through the parallel port as WeensyOS's log_printf does, echoes typed keys (as
// scancodes) to the log until it sees 'q', then powers off through the PIIX4 found on the PCI bus.
#include <stdint.h>

// entry.S records this at 0x30000 (free memory below the stack) for the tests to read.
struct boot_state {
    uint64_t rsp, rflags;
    uint16_t cs, ss, ds, pad;
    uint32_t eax, pad2;
    uint64_t cr0, cr3, cr4, efer;
    uint16_t gdt_limit;
    uint64_t gdt_base __attribute__((packed));
};
static uint64_t zeroed[64];           // bss: the loader must zero it

static inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { asm volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { asm volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static void log_putc(char c) {
    while ((inb(0x379) & 0x80) == 0) { }
    outb(0x378, c);
    outb(0x37A, 0x0D);
    outb(0x37A, 0x0C);
}
static void log_puts(const char* s) { while (*s) log_putc(*s++); }
static void log_hex(uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; i--) log_putc("0123456789abcdef"[(v >> (4 * i)) & 15]);
}

static uint32_t pci_read(uint32_t addr) { outl(0xCF8, 0x80000000u | addr); return inl(0xCFC); }

static void poweroff(void) {
    for (uint32_t dev = 0; dev < (32u << 11); dev += 0x100) {
        if (pci_read(dev) == 0x71138086u) {
            uint16_t base = pci_read(dev | 0x40) & 0xFFC0;
            outw(base + 4, 0x2000);
        }
    }
    log_puts("no power-off device\n");
    for (;;) asm volatile("hlt");
}

void kernel_main(void) {
    volatile uint16_t* cga = (volatile uint16_t*) 0xB8000;
    const char* text = "MINI KERNEL";
    for (int i = 0; text[i]; i++) cga[80 + i] = 0x0F00 | (uint8_t) text[i];
    outb(0x3D4, 14); outb(0x3D5, 0);
    outb(0x3D4, 15); outb(0x3D5, 80 + 11);
    outb(0x37A, 0);
    uint64_t sum = 0;
    for (int i = 0; i < 64; i++) sum |= zeroed[i];
    log_puts("mini kernel up; bss ");
    log_puts(sum == 0 ? "zero" : "dirty");
    log_puts("\n");
    for (;;) {
        if ((inb(0x64) & 1) == 0) continue;
        uint8_t sc = inb(0x60);
        log_puts("key ");
        log_hex(sc, 2);
        log_puts("\n");
        if (sc == 0x10) break;          // 'q' pressed
    }
    poweroff();
}
