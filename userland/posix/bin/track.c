/* track CMD [ARGS...]: runs CMD as a tracked process (track_self in the child before exec) and
 * prints the kernel's report after CMD's own output. On a kernel without the private calls
 * (e.g. natively on Linux: ENOSYS) it says so on stderr and still runs CMD, untracked. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>
#include <sys/wait.h>
#include <posix_syscalls.h>
#include <lab.h>

static const char *syscall_name(int n)
{
    switch (n) {
#define X(number, name) case number: return #name;
    LAB_SYSCALLS(X)
#undef X
    default: return 0;
    }
}

static struct track_metrics m;

static void report(void);

/* `track --demo-report` prints the report for a fixed sample record (checks the format without
 * a kernel that implements tracking). */
static int demo_report(void)
{
    memset(&m, 0, sizeof m);
    m.pid = 5;
    m.exit_code = 3;
    strcpy(m.name, "echo");
    m.counts[SYS_read] = 2;
    m.bytes_read = 123;
    m.counts[SYS_write] = 1;
    m.bytes_written = 12345678;
    m.counts[SYS_brk] = 4;
    m.counts[SYS_exit_group] = 1;
    m.counts[SYS_track_wait] = 1;
    m.text_pages = 2;
    m.data_pages = 1;
    m.heap_pages = 0;
    m.stack_pages = 1;
    m.pt_pages[0] = 1; m.pt_pages[1] = 1; m.pt_pages[2] = 1; m.pt_pages[3] = 2;
    report();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: track <cmd> [args...]\n"); return 1; }
    if (argc == 2 && strcmp(argv[1], "--demo-report") == 0) return demo_report();
    pid_t pid = fork();
    if (pid < 0) { perror("track: fork"); return 1; }
    if (pid == 0) {
        if (track_self() < 0) {
            if (errno == ENOSYS)
                fprintf(stderr, "track: track_self: %s (not running on Lab's kernel); running %s untracked\n",
                        strerror(errno), argv[1]);
            else
                fprintf(stderr, "track: track_self: %s\n", strerror(errno));
        }
        execvp(argv[1], argv + 1);
        fprintf(stderr, "track: %s: %s\n", argv[1], strerror(errno));
        _exit(127);
    }
    int r = track_wait(&m);
    if (r < 0) {
        int e = errno;
        int st = 0;
        waitpid(pid, &st, 0);
        fprintf(stderr, "track: track_wait: %s; no report\n", strerror(e));
        return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
    }
    report();
    return 0;
}

static void report(void)
{
    char name[TRACK_NAME_MAX + 1];
    memcpy(name, m.name, TRACK_NAME_MAX);
    name[TRACK_NAME_MAX] = 0;
    unsigned long total = 0;
    for (int i = 0; i < TRACK_NSYSCALLS; i++) total += m.counts[i];
    printf("=== track report ===\n");
    printf("PID: %d  Name: %s  Exit: %d\n", m.pid, name, m.exit_code);
    printf("\nSystem Calls (total: %lu)\n", total);
    for (int i = 0; i < TRACK_NSYSCALLS; i++) {
        if (!m.counts[i]) continue;
        char nbuf[16];
        const char *sn = syscall_name(i);
        if (!sn) { snprintf(nbuf, sizeof nbuf, "sys_%d", i); sn = nbuf; }
        if (i == SYS_read || i == SYS_write)
            printf("  %-10s%7lu      bytes: %8lu\n", sn, (unsigned long)m.counts[i],
                   (unsigned long)(i == SYS_read ? m.bytes_read : m.bytes_written));
        else
            printf("  %-10s%7lu\n", sn, (unsigned long)m.counts[i]);
    }
    unsigned long pages = m.text_pages + m.data_pages + m.heap_pages + m.stack_pages;
    printf("\nMemory (total: %lu bytes)\n", pages * 4096);
    printf("  TEXT  : %3lu pages\n", (unsigned long)m.text_pages);
    printf("  DATA  : %3lu pages\n", (unsigned long)m.data_pages);
    printf("  HEAP  : %3lu pages\n", (unsigned long)m.heap_pages);
    printf("  STACK : %3lu pages\n", (unsigned long)m.stack_pages);
    unsigned long pt = m.pt_pages[0] + m.pt_pages[1] + m.pt_pages[2] + m.pt_pages[3];
    printf("\nPage Tables (%lu pages, %lu bytes)\n", pt, pt * 4096);
    printf("  PML4: %lu\n  PDPT: %lu\n  PD: %lu\n  PT: %lu\n", (unsigned long)m.pt_pages[0],
           (unsigned long)m.pt_pages[1], (unsigned long)m.pt_pages[2], (unsigned long)m.pt_pages[3]);
}
