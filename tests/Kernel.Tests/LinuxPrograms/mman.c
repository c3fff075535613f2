/* mmap, munmap and mprotect: anonymous private memory, copy-on-write across fork, shared anonymous
 * memory between parent and child, PROT_NONE and unmapped pages fault (SIGSEGV), mprotect to
 * read-only faults on write and back to writable works. With an argument, it faults itself:
 * "none" touches a PROT_NONE page, "unmapped" a page after munmap, "readonly" writes a read-only one. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/wait.h>

static int child_status(void (*touch)(char *), char *p)
{
    pid_t pid = fork();
    if (pid == 0) { touch(p); _exit(0); }
    int st;
    waitpid(pid, &st, 0);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void reader(char *p) { volatile char c = *p; (void)c; }
static void writer(char *p) { *(volatile char *)p = 1; }

int main(int argc, char **argv)
{
    const size_t pg = 4096;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1)
    {
        char *p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p[0] = 1;
        if (strcmp(argv[1], "none") == 0) { mprotect(p, pg, PROT_NONE); printf("touching PROT_NONE\n"); reader(p); }
        if (strcmp(argv[1], "unmapped") == 0) { munmap(p + pg, pg); printf("touching unmapped\n"); reader(p + pg); }
        if (strcmp(argv[1], "readonly") == 0) { mprotect(p, pg, PROT_READ); printf("writing read-only\n"); writer(p); }
        printf("still alive\n");
        return 0;
    }

    /* anonymous private: zeroed, writable, as big as asked */
    size_t len = 64 * pg;
    char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int zero = 1;
    for (size_t i = 0; i < len; i++) if (a[i]) zero = 0;
    for (size_t i = 0; i < len; i++) a[i] = (char)(i % 251);
    long sum = 0;
    for (size_t i = 0; i < len; i++) sum += a[i];
    printf("mmap ok=%d aligned=%d zero=%d sum=%ld\n", a != MAP_FAILED, ((unsigned long)a & (pg - 1)) == 0, zero, sum);

    /* copy-on-write across fork */
    a[0] = 'P';
    pid_t pid = fork();
    if (pid == 0) { a[0] = 'C'; a[len - 1] = 'C'; printf("child sees %c\n", a[0]); _exit(0); }
    waitpid(pid, NULL, 0);
    printf("parent sees %c %d\n", a[0], a[len - 1]);

    /* shared anonymous: the child's writes are seen by the parent */
    int *shared = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) printf("shared mmap failed: %s\n", strerror(errno));
    else
    {
        shared[0] = 1;
        pid = fork();
        if (pid == 0) { shared[0] = 42; shared[1] = 7; _exit(0); }
        waitpid(pid, NULL, 0);
        printf("shared after child: %d %d\n", shared[0], shared[1]);
        munmap(shared, pg);
    }

    /* faults: PROT_NONE, unmapped, read-only */
    char *b = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    b[0] = b[pg] = b[2 * pg] = 5;
    printf("mprotect none=%d\n", mprotect(b, pg, PROT_NONE));
    printf("read PROT_NONE -> %d\n", child_status(reader, b));
    printf("mprotect read=%d\n", mprotect(b + pg, pg, PROT_READ));
    printf("read read-only -> %d, value %d\n", child_status(reader, b + pg), b[pg]);
    printf("write read-only -> %d\n", child_status(writer, b + pg));
    printf("mprotect rw=%d\n", mprotect(b, 2 * pg, PROT_READ | PROT_WRITE));
    printf("write after rw -> %d, kept %d %d\n", child_status(writer, b + pg), b[0], b[pg]);
    printf("munmap=%d\n", munmap(b + 2 * pg, pg));
    printf("read unmapped -> %d\n", child_status(reader, b + 2 * pg));
    printf("munmap rest=%d\n", munmap(b, 2 * pg));
    printf("read all unmapped -> %d\n", child_status(reader, b));

    /* fixed mappings and errors */
    char *hint = a + len + 16 * pg;
    char *fixed = mmap(hint, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    fixed[10] = 3;
    printf("fixed at hint=%d value=%d\n", fixed == hint, fixed[10]);
    errno = 0;
    void *bad = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("zero length=%s errno=%s\n", bad == MAP_FAILED ? "failed" : "mapped", strerror(errno));
    errno = 0;
    bad = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, -1, 0);
    printf("no fd=%s errno=%s\n", bad == MAP_FAILED ? "failed" : "mapped", strerror(errno));
    errno = 0;
    {
        int rr = munmap(a + 1, pg);
        printf("munmap misaligned=%d errno=%s\n", rr, strerror(errno));
    }
    errno = 0;
    {
        int rr = mprotect(a + 1, pg, PROT_READ);
        printf("mprotect misaligned=%d errno=%s\n", rr, strerror(errno));
    }
    printf("munmap unmapped range=%d\n", munmap(hint + 64 * pg, pg));
    munmap(fixed, pg);
    munmap(a, len);

    /* many mappings, freed in another order */
    char *maps[50];
    for (int i = 0; i < 50; i++) { maps[i] = mmap(NULL, (size_t)(i % 5 + 1) * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); maps[i][0] = (char)i; }
    int okm = 1;
    for (int i = 0; i < 50; i++) if (maps[i][0] != (char)i) okm = 0;
    for (int i = 0; i < 50; i += 2) munmap(maps[i], (size_t)(i % 5 + 1) * pg);
    for (int i = 1; i < 50; i += 2) if (maps[i][0] != (char)i) okm = 0;
    for (int i = 1; i < 50; i += 2) munmap(maps[i], (size_t)(i % 5 + 1) * pg);
    printf("many mappings ok=%d\n", okm);
    return 0;
}
