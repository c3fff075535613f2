/* Several processes doing long double (x87) and double (SSE) arithmetic at once, long enough to be
   preempted many times in the middle of it: each must get exactly the result it gets alone, so the
   kernel keeps every process's floating-point registers apart across context switches. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

#include <string.h>

static void work(int id, char *out, size_t n)
{
    long double x = 1.0L + id / 7.0L;
    double y = 0.5 + id / 3.0;
    long double acc = 0;
    double dacc = 0;
    for (long i = 1; i <= 400000; i++) {
        /* values stay in registers across iterations: a switch that loses them shows */
        x = x * 1.0000001L + 1.0L / (long double)i;
        y = y * 0.9999999 + 1.0 / (double)(i + id);
        acc += x / (i + 3);
        dacc += y / (i + 5);
    }
    snprintf(out, n, "worker %d: %.18Lg %.15g\n", id, acc, dacc);
}

int main(void)
{
    int fds[4][2];
    char line[128];
    for (int id = 1; id <= 3; id++) {
        if (pipe(fds[id]) < 0) return 2;
        pid_t p = fork();
        if (p == 0) {
            work(id, line, sizeof line);
            write(fds[id][1], line, strlen(line));
            _exit(0);
        }
        close(fds[id][1]);
    }
    work(0, line, sizeof line);          /* runs while the children do theirs */
    fputs(line, stdout);
    for (int id = 1; id <= 3; id++) {     /* then their results, in a fixed order */
        ssize_t n = read(fds[id][0], line, sizeof line - 1);
        line[n > 0 ? n : 0] = 0;
        fputs(line, stdout);
    }
    int st, ok = 1;
    while (wait(&st) > 0) ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    return ok ? 0 : 1;
}
