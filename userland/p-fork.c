/* p-fork: forks twice (giving four processes), then runs the allocator loop. */
#include "weensyos.h"

#define ALLOC_SLOWDOWN 100

extern uint8_t end[];

uint8_t* heap_top;
uint8_t* stack_bottom;

void process_main(void) {
    pid_t x = sys_fork();
    assert(x >= 0);
    pid_t y = sys_fork();
    assert(y >= 0);

    /* pid 1 is the original parent: both results are children. Everyone else is a child of
     * at least one of the forks. */
    if (sys_getpid() == 1) {
        assert(x != 0 && y != 0 && x != y);
    } else {
        assert(x == 0 || y == 0);
    }

    pid_t p = sys_getpid();
    srand(p);

    heap_top = ROUNDUP((uint8_t*) end, PAGESIZE);
    stack_bottom = ROUNDDOWN((uint8_t*) read_rsp() - 1, PAGESIZE);

    while (1) {
        if (NO_SLOWDOWN || rand() % ALLOC_SLOWDOWN < p) {
            if (heap_top == stack_bottom || sys_page_alloc(heap_top) < 0) {
                break;
            }
            *heap_top = p;
            heap_top += PAGESIZE;
        }
        sys_yield();
    }

    while (1) {
        sys_yield();
    }
}
