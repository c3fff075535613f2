/* p-privileged: a process that tries one instruction only the kernel may execute, chosen by its
 * pid (1 cli, 2 hlt, 3 mov to cr3, 4 in from a port, 5 out to a port). A kernel that isolates
 * itself gets a general-protection fault for each; if the instruction ever completes, the process
 * says so with sys_panic. Used by the tests of Lab's own C kernel. */
#include "weensyos.h"

void process_main(void) {
    switch (sys_getpid()) {
    case 1: asm volatile("cli"); break;
    case 2: asm volatile("hlt"); break;
    case 3: asm volatile("movq %0, %%cr3" : : "r"(0x1000UL)); break;
    case 4: { unsigned char v; asm volatile("inb $0x60, %0" : "=a"(v)); break; }
    case 5: asm volatile("outb %0, $0x80" : : "a"((unsigned char) 1)); break;
    default: break;
    }
    sys_panic("a privileged instruction completed in user mode");
}
