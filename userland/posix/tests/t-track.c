/* Process tracking: track_self/track_wait (Lab's private calls). On the host both fail with
 * ENOSYS, which is checked; the rest is Lab only. */
#include "t.h"
#include <posix_syscalls.h>

static struct track_metrics m;

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--tracked") == 0) {
        char b[4];
        write(1, "tracked\n", 8);
        (void)read(-1, b, 1);        /* counted, 0 bytes (fails) */
        getpid();
        exit(17);
    }
    if (!on_lab()) {
        CHECK_ERR(track_self(), ENOSYS);
        CHECK_ERR(track_wait(&m), ENOSYS);
        CHECK_ERR(page_alloc((void *)0x10000000), ENOSYS);
        pass("track-enosys-on-host");
        skip("track-report", "Lab kernel only");
        return 0;
    }
    CHECK_ERR(track_wait(&m), ECHILD);
    /* an untracked child does not satisfy track_wait */
    pid_t u = fork();
    CHECK(u >= 0);
    if (u == 0) _exit(0);
    CHECK_ERR(track_wait(&m), ECHILD);
    CHECK(exit_code_of(u) == 0);
    pass("track-wait-echild");

    pid_t p = fork();
    CHECK(p >= 0);
    if (p == 0) {
        for (int i = 0; i < 5; i++) getpid();   /* before exec: not counted */
        if (track_self() < 0) _exit(90);
        char *a[] = { argv[0], "--tracked", 0 };
        execve(argv[0], a, environ);
        _exit(91);
    }
    CHECK_ERR(track_wait((struct track_metrics *)8), EFAULT);
    CHECK(track_wait(&m) == p);
    CHECK(m.pid == p && m.exit_code == 17);
    CHECK(strncmp(m.name, "t-track", 7) == 0 || strstr(m.name, "t-track") != 0);
    CHECK(m.counts[SYS_write] == 1 && m.bytes_written == 8);
    CHECK(m.counts[SYS_read] == 1 && m.bytes_read == 0);
    CHECK(m.counts[SYS_getpid] == 1);
    CHECK(m.counts[SYS_exit_group] + m.counts[SYS_exit] >= 1);
    CHECK(m.text_pages >= 1 && m.stack_pages >= 1);
    CHECK(m.pt_pages[0] == 1 && m.pt_pages[1] >= 1 && m.pt_pages[2] >= 1 && m.pt_pages[3] >= 1);
    CHECK_ERR(waitpid(p, 0, 0), ECHILD);        /* track_wait reaped it */
    pass("track-report");

    /* page_alloc: a fresh zeroed writable page, replacing what was mapped; bad addresses refused */
    char *pg = (char *)0x10000000;
    CHECK(page_alloc(pg) == 0);
    CHECK(pg[0] == 0 && pg[4095] == 0);
    pg[0] = 'x'; pg[4095] = 'y';
    CHECK(page_alloc(pg) == 0);
    CHECK(pg[0] == 0 && pg[4095] == 0);            /* replaced by a new zeroed page */
    CHECK_ERR(page_alloc(pg + 1), EINVAL);
    CHECK_ERR(page_alloc((void *)0), EINVAL);
    CHECK_ERR(page_alloc((void *)0xffff800000000000UL), EINVAL);
    pid_t c = fork();                               /* the page is private after fork, like any other */
    CHECK(c >= 0);
    if (c == 0) { pg[1] = 'c'; _exit(pg[1] == 'c' ? 0 : 1); }
    CHECK(exit_code_of(c) == 0 && pg[1] == 0);
    pass("page-alloc");
    return 0;
}
