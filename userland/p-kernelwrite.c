/* p-kernelwrite (test program): writes to the kernel image at 0x40000. From lab step 1 on this
 * is a protection fault: the kernel prints the row-24 message and parks the process. */
#include "weensyos.h"

void process_main(void) {
    volatile uint8_t* kernel = (volatile uint8_t*) 0x40000;
    *kernel = 0xCC;
    console_puts(CPOS(24, 0), 0x0A00, "kernel memory was writable\n");
    while (1) {
        sys_yield();
    }
}
