/* p-cowtest (test program): parent and child write the same data page after fork; each must
 * see only its own writes. Results go to row 24: "P:ok" at column 0 (parent) and "C:ok" at
 * column 10 (child), or ":BAD" on failure. */
#include "weensyos.h"

static volatile int shared_words[1024] __attribute__((aligned(4096))) = { 7 };

void process_main(void) {
    pid_t child = sys_fork();
    int mine = child == 0 ? 2000 : 1000;
    for (int i = 0; i < 1024; ++i) {
        shared_words[i] = mine + i;
        if (i % 256 == 0) {
            sys_yield();            /* let the other process write in between */
        }
    }
    int ok = child >= 0;
    for (int i = 0; i < 1024; ++i) {
        if (shared_words[i] != mine + i) {
            ok = 0;
        }
    }
    console_puts(child == 0 ? CPOS(24, 10) : CPOS(24, 0), 0x0F00,
                 child == 0 ? (ok ? "C:ok" : "C:BAD") : (ok ? "P:ok" : "P:BAD"));
    while (1) {
        sys_yield();
    }
}
