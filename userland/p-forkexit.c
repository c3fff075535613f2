/* p-forkexit: pid 1 forks forever; children allocate, fork and exit at random, so pids keep
 * appearing and disappearing. Ignores NO_SLOWDOWN. */
#include "weensyos.h"

extern uint8_t end[];

uint8_t* heap_top;
uint8_t* stack_bottom;

void process_main(void) {
    /* Phase 1 (unseeded rand): fork with probability 1/100 per turn. The child leaves. */
    while (1) {
        if (rand() % 100 == 0) {
            if (sys_fork() == 0) {
                break;
            }
        } else {
            sys_yield();
        }
    }

    /* Phase 2 (a child): allocate, fork or exit at random. */
    pid_t p = sys_getpid();
    srand(p);
    heap_top = ROUNDUP((uint8_t*) end, PAGESIZE);
    stack_bottom = ROUNDDOWN((uint8_t*) read_rsp() - 1, PAGESIZE);

    while (1) {
        int x = rand() % 800;
        if (x < 8 * p) {
            if (heap_top == stack_bottom || sys_page_alloc(heap_top) < 0) {
                break;
            }
            *heap_top = p;
            /* erase an out-of-memory style message on the last row */
            if (console[CPOS(24, 0)]) {
                console_puts(CPOS(24, 0), 0, "\n");
            }
            heap_top += PAGESIZE;
        } else if (x == 8 * p) {
            if (sys_fork() == 0) {
                p = sys_getpid();   /* the child keeps its parent's rand state */
            }
        } else if (x == 8 * p + 1) {
            sys_exit();
        } else {
            sys_yield();
        }
    }

    /* Phase 3 (out of memory): exit with probability 1/200 per turn. */
    while (1) {
        if (rand() % 200 == 0) {
            sys_exit();
        } else {
            sys_yield();
        }
    }
}
