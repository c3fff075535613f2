/* Stress: a fork bomb. Every process forks forever (failed forks are retried after a yield). Kernel
 * only: natively it would take the host down, so on Linux it prints a SKIP line and exits 0.
 * The host stops it (PosixKernel.KillProgram) after a bounded number of instructions. */
#include "t.h"

int main(void)
{
    if (lab_on_linux_host()) { skip("fork-bomb", "Lab kernel only"); return 0; }
    printf("bomb started\n");
    fflush(stdout);
    for (;;) {
        if (fork() < 0) sched_yield();
    }
}
