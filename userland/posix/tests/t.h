/* Tiny test harness for the conformance programs: CHECK aborts the program with a FAIL line
 * (exit 1); pass() prints "PASS <name>"; skip() prints "SKIP <name> (<why>)" for rules that only
 * hold on Lab's kernel (Linux differs, see CONFORMANCE.md). */
#ifndef T_H
#define T_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
#include <sys/wait.h>
#include <signal.h>
#include <lab.h>

#define CHECK(cond) do { if (!(cond)) t_fail(__FILE__, __LINE__, #cond); } while (0)
#define CHECK_ERR(expr, e) do { errno = 0; long _r = (long)(expr); \
    if (_r != -1 || errno != (e)) t_fail_err(__FILE__, __LINE__, #expr, #e, _r); } while (0)

static __attribute__((unused)) void t_fail(const char *file, int line, const char *what)
{
    int e = errno;
    fprintf(stderr, "FAIL %s:%d: %s (errno %d: %s)\n", file, line, what, e, strerror(e));
    printf("FAIL %s:%d: %s\n", file, line, what);
    exit(1);
}
static __attribute__((unused)) void t_fail_err(const char *file, int line, const char *what, const char *want, long r)
{
    int e = errno;
    fprintf(stderr, "FAIL %s:%d: %s: want -1/%s, got %ld errno %d (%s)\n", file, line, what, want, r, e, strerror(e));
    printf("FAIL %s:%d: %s\n", file, line, what);
    exit(1);
}
static __attribute__((unused)) void pass(const char *name) { printf("PASS %s\n", name); }
static __attribute__((unused)) void skip(const char *name, const char *why) { printf("SKIP %s (%s)\n", name, why); }
static __attribute__((unused)) int on_lab(void) { return !lab_on_linux_host(); }

/* Waits for pid and returns its raw status word; fails the test if wait fails. */
static __attribute__((unused)) int wait_for(pid_t pid)
{
    int st = 0;
    pid_t r = waitpid(pid, &st, 0);
    if (r != pid) t_fail(__FILE__, __LINE__, "waitpid(pid) returns pid");
    return st;
}
/* Exit code of a child that must have exited normally. */
static __attribute__((unused)) int exit_code_of(pid_t pid)
{
    int st = wait_for(pid);
    if (!WIFEXITED(st)) t_fail(__FILE__, __LINE__, "child exited normally");
    return WEXITSTATUS(st);
}
static __attribute__((unused)) void short_sleep(void)
{
    struct timespec ts = { 0, 2 * 1000 * 1000 };
    nanosleep(&ts, 0);
}
#endif
