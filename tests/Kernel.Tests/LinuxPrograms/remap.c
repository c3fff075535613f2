/* mremap (grow in place, move, shrink, MREMAP_FIXED, errors), realloc of large blocks (glibc
   moves them with mremap) and waitid (exited, killed, stopped/continued, WNOHANG, WNOWAIT). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void fill(char *p, size_t n, char c) { for (size_t i = 0; i < n; i += 512) p[i] = c + (char)(i / 4096); }
static int check(const char *p, size_t n, char c) { for (size_t i = 0; i < n; i += 512) if (p[i] != (char)(c + (char)(i / 4096))) return 0; return 1; }

int main(void)
{
    size_t pg = 4096;
    setvbuf(stdout, 0, _IONBF, 0);
    char *a = mmap(0, 8 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fill(a, 4 * pg, 'a');
    munmap(a + 4 * pg, 4 * pg);                                   /* room after the first four pages */
    char *b = mremap(a, 4 * pg, 6 * pg, 0);
    printf("grow in place: %s, kept %d, new zero %d\n", b == a ? "same address" : "moved", check(b, 4 * pg, 'a'), b[5 * pg] == 0);
    b[5 * pg] = 'z';
    char *block = mmap(b + 6 * pg, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);   /* in the way */
    char *c = mremap(b, 6 * pg, 8 * pg, 0);
    printf("blocked without MAYMOVE: %s\n", c == MAP_FAILED && errno == ENOMEM ? "ENOMEM" : "?");
    c = mremap(b, 6 * pg, 16 * pg, MREMAP_MAYMOVE);
    printf("move: %s, kept %d, z %d, tail zero %d\n", c != b ? "moved" : "same", check(c, 4 * pg, 'a'), c[5 * pg] == 'z', c[15 * pg] == 0);
    c = mremap(c, 16 * pg, 2 * pg, 0);
    printf("shrink: kept %d\n", check(c, 2 * pg, 'a'));
    char *f = mremap(c, 2 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, block + 8 * pg);
    printf("fixed: %s, kept %d\n", f == block + 8 * pg ? "at the address" : "elsewhere", check(f, 2 * pg, 'a'));
    int e1 = mremap(f + 1, pg, pg, 0) == MAP_FAILED && errno == EINVAL;
    int e2 = mremap(f, pg, pg, MREMAP_FIXED, f) == MAP_FAILED && errno == EINVAL;
    int e3 = mremap((char *)0x10000000, pg, 2 * pg, MREMAP_MAYMOVE) == MAP_FAILED && errno == EFAULT;
    printf("errors: %d %d %d\n", e1, e2, e3);

    /* shared anonymous memory moved by mremap stays shared with a child (growing it is left out:
       Linux's grown part faults with SIGBUS, the shared object keeps its size) */
    int *sh = mmap(0, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sh[1024] = 41;
    char *spot = mmap(0, 2 * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int *moved = mremap(sh, 2 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, spot);
    pid_t k = fork();
    if (k == 0) { moved[0] = 42; moved[1024] += 2; _exit(0); }
    waitpid(k, 0, 0);
    printf("shared after mremap: %s %d %d\n", (char *)moved == spot ? "moved" : "?", moved[0], moved[1024]);

    /* realloc of large blocks (mmap'ed by malloc) */
    size_t n = 1 << 20;
    char *r = malloc(n);
    fill(r, n, 'r');
    for (int i = 0; i < 5; i++) { n *= 2; r = realloc(r, n); }
    printf("realloc to %zu MiB: kept %d\n", n >> 20, check(r, 1 << 20, 'r'));
    free(r);

    /* waitid */
    siginfo_t si;
    pid_t e = fork();
    if (e == 0) _exit(7);
    memset(&si, 0xff, sizeof si);
    int rc = waitid(P_PID, e, &si, WEXITED | WNOWAIT);
    printf("waitid WNOWAIT: %d code %d status %d pid ok %d\n", rc, si.si_code, si.si_status, si.si_pid == e);
    memset(&si, 0, sizeof si);
    rc = waitid(P_ALL, 0, &si, WEXITED);
    printf("waitid exited: %d code %d status %d signo %d pid ok %d\n", rc, si.si_code, si.si_status, si.si_signo, si.si_pid == e);
    pid_t s = fork();
    if (s == 0) { for (;;) pause(); }
    kill(s, SIGSTOP);
    waitid(P_PID, s, &si, WSTOPPED);
    printf("stopped: code %d status %d\n", si.si_code, si.si_status);
    kill(s, SIGCONT);
    waitid(P_PID, s, &si, WCONTINUED);
    printf("continued: code %d status %d\n", si.si_code, si.si_status);
    memset(&si, 0xff, sizeof si);
    rc = waitid(P_PID, s, &si, WEXITED | WNOHANG);
    printf("WNOHANG nothing: %d pid %d\n", rc, si.si_pid);
    kill(s, SIGKILL);
    waitid(P_PGID, 0, &si, WEXITED);
    printf("killed: code %d status %d\n", si.si_code, si.si_status);
    int echild = waitid(P_ALL, 0, &si, WEXITED) == -1 && errno == ECHILD;
    int einval = waitid(P_ALL, 0, &si, 0) == -1 && errno == EINVAL;
    printf("no children: %d %d\n", echild, einval);
    return 0;
}
