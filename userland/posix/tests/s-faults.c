/* s-faults N: forks N children one after another; each writes through a null pointer and is killed
 * by SIGSEGV. The parent checks every wait status. For the kernel's bounded record of faults (a
 * session may see thousands of such deaths); also safe natively. */
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100;
    long killed = 0;
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0) { printf("fork failed at %ld\n", i); return 1; }
        if (p == 0) {
            volatile int *null = 0;
            *null = 1;
            _exit(0);                     /* not reached */
        }
        int st = 0;
        if (waitpid(p, &st, 0) != p) { printf("waitpid failed\n"); return 1; }
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) killed++;
    }
    printf("faults: %ld of %ld children killed by SIGSEGV\n", killed, n);
    if (killed != n) return 1;
    printf("PASS faults\n");
    return 0;
}
