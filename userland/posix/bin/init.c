/* init [-v] [PROGRAM [ARGS...]]: runs PROGRAM (default: /bin/sh -i) and reaps every child,
 * including orphans handed to it. As pid 1 the default shell is restarted when it exits and init
 * never exits. Otherwise (e.g. natively on Linux, where it makes itself a child subreaper so
 * orphans come to it) init waits until all descendants are reaped and exits with PROGRAM's status.
 * -v reports each reaped orphan on stderr: "init: reaped orphan PID status N". */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>
#include <time.h>
#include <sys/wait.h>
#include <lab.h>

/* Linux only (prctl is not in Lab's syscall list; there it fails harmlessly with ENOSYS). */
#define LINUX_SYS_prctl 157
#define LINUX_PR_SET_CHILD_SUBREAPER 36

static pid_t spawn(char **argv)
{
    pid_t p = fork();
    if (p < 0) { perror("init: fork"); return -1; }
    if (p == 0) {
        execvp(argv[0], argv);
        fprintf(stderr, "init: %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return p;
}

static int code(int st) { return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st); }

int main(int argc, char **argv)
{
    int verbose = 0, i = 1;
    if (i < argc && strcmp(argv[i], "-v") == 0) { verbose = 1; i++; }
    static char *default_argv[] = { "/bin/sh", "-i", 0 };
    char **prog = i < argc ? argv + i : default_argv;
    int is_pid1 = getpid() == 1;
    if (!is_pid1) lab_syscall(LINUX_SYS_prctl, LINUX_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0, 0);

    pid_t main_pid = spawn(prog);
    int main_status = main_pid < 0 ? 127 : -1;
    for (;;) {
        int st;
        pid_t p = wait(&st);
        if (p < 0) {
            if (errno == EINTR) continue;
            if (!is_pid1) break;
            /* pid 1 with nothing left to reap: idle politely */
            struct timespec ts = { 1, 0 };
            nanosleep(&ts, 0);
            continue;
        }
        if (p == main_pid) {
            main_status = code(st);
            if (is_pid1) {
                if (prog == default_argv) main_pid = spawn(prog);
                else fprintf(stderr, "init: %s exited with status %d\n", prog[0], main_status);
            }
        } else if (verbose) {
            fprintf(stderr, "init: reaped orphan %d status %d\n", p, code(st));
        }
    }
    return main_status < 0 ? 0 : main_status;
}
