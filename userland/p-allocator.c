/* p-allocator: grows a heap one page at a time until memory (or the stack) runs out.
 * Process p allocates on about p% of its turns (ALLOC_SLOWDOWN), or on every turn when built
 * with NO_SLOWDOWN=1 (grading runs). Linked at 0x100000, 0x140000, 0x180000 and 0x1C0000. */
#include "weensyos.h"

#define ALLOC_SLOWDOWN 100

extern uint8_t end[];               /* first byte after bss (linker script) */

uint8_t* heap_top;
uint8_t* stack_bottom;

void process_main(void) {
    pid_t p = sys_getpid();
    srand(p);

    heap_top = ROUNDUP((uint8_t*) end, PAGESIZE);
    stack_bottom = ROUNDDOWN((uint8_t*) read_rsp() - 1, PAGESIZE);

    while (1) {
        if (NO_SLOWDOWN || rand() % ALLOC_SLOWDOWN < p) {
            if (heap_top == stack_bottom || sys_page_alloc(heap_top) < 0) {
                break;
            }
            *heap_top = p;          /* check we can write the new page */
            heap_top += PAGESIZE;
        }
        sys_yield();
    }

    /* out of memory: keep yielding forever */
    while (1) {
        sys_yield();
    }
}
