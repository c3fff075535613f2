/* Workloads of `bench processes` (also safe natively):
 *   s-procs forkexit N        N times: fork, the child exits, the parent waits
 *   s-procs exec N            execs itself N times in a chain (pure exec cost)
 *   s-procs fork MIB N        touches MIB MiB of heap, then N times fork+exit+wait
 *   s-procs spawn N           N times: fork, the child execs this program with "true", the parent waits
 *   s-procs true              exits 0 at once (what spawn's children run) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

static void forks(long n)
{
    for (long i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0) { printf("fork failed at %ld\n", i); exit(1); }
        if (p == 0) _exit(0);
        if (waitpid(p, 0, 0) != p) { printf("waitpid failed\n"); exit(1); }
    }
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "forkexit") == 0) { forks(atol(argv[2])); return 0; }
    if (argc >= 2 && strcmp(argv[1], "true") == 0) return 0;
    if (argc >= 3 && strcmp(argv[1], "spawn") == 0) {
        long n = atol(argv[2]);
        for (long i = 0; i < n; i++) {
            pid_t p = fork();
            if (p < 0) { printf("fork failed at %ld\n", i); return 1; }
            if (p == 0) {
                char *args[] = { argv[0], "true", 0 };
                execv(argv[0], args);
                _exit(127);
            }
            int st = 0;
            if (waitpid(p, &st, 0) != p || st != 0) { printf("spawn %ld: status %d\n", i, st); return 1; }
        }
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
        long n = atol(argv[2]);
        if (n <= 0) return 0;
        char num[32];
        snprintf(num, sizeof num, "%ld", n - 1);
        char *args[] = { argv[0], "exec", num, 0 };
        execv(argv[0], args);
        printf("execv failed\n");
        return 1;
    }
    if (argc >= 4 && strcmp(argv[1], "fork") == 0) {
        long bytes = atol(argv[2]) << 20;
        char *mem = sbrk(bytes);
        if (mem == (char *)-1) { printf("sbrk failed\n"); return 1; }
        for (long i = 0; i < bytes; i += 4096) mem[i] = (char)i;
        forks(atol(argv[3]));
        return 0;
    }
    fprintf(stderr, "usage: s-procs forkexit N | exec N | fork MIB N | spawn N | true\n");
    return 2;
}
