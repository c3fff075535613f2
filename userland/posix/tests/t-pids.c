/* PIDs: monotonic, not reused while a zombie holds them, unknown pids do not exist, init is 1. */
#include "t.h"

int main(void)
{
    /* monotonic (tolerating one wrap on the host, whose pid_max may be small) */
    pid_t prev = getpid();
    int wraps = 0;
    for (int i = 0; i < 100; i++) {
        pid_t p = fork();
        CHECK(p >= 0);
        if (p == 0) _exit(0);
        if (p <= prev) { wraps++; CHECK(on_lab() ? 0 : wraps == 1); }
        prev = p;
        CHECK(exit_code_of(p) == 0);
    }
    pass("pids-monotonic");

    /* a zombie's pid stays taken: it still exists and is never handed out again */
    pid_t z = fork();
    CHECK(z >= 0);
    if (z == 0) _exit(3);
    for (int i = 0; i < 10; i++) sched_yield();
    CHECK(kill(z, 0) == 0);
    for (int i = 0; i < 300; i++) {
        pid_t p = fork();
        CHECK(p >= 0);
        if (p == 0) _exit(0);
        CHECK(p != z);
        CHECK(exit_code_of(p) == 0);
    }
    CHECK(kill(z, 0) == 0);
    CHECK(exit_code_of(z) == 3);
    CHECK_ERR(kill(z, 0), ESRCH);
    pass("pids-not-reused-while-zombie");

    /* a pid that was never handed out does not exist (Lab: 34000; the host's pid_max may be lower) */
    if (on_lab()) {
        CHECK_ERR(kill(34000, 0), ESRCH);
        pass("pids-34000-absent");
    } else {
        skip("pids-34000-absent", "host pids are shared with other processes");
    }
    CHECK_ERR(kill(0x3fffffff, 0), ESRCH);
    pass("pids-absurd-absent");

    if (on_lab()) {
        /* init is pid 1: an orphan's parent becomes 1 */
        int fds[2];
        CHECK(pipe(fds) == 0);
        pid_t mid = fork();
        CHECK(mid >= 0);
        if (mid == 0) {
            pid_t c = fork();
            if (c == 0) {
                pid_t pp = getppid();
                for (int i = 0; i < 100000 && pp == getppid(); i++) sched_yield();
                char r = getppid() == 1 ? 'y' : 'n';
                write(fds[1], &r, 1);
                _exit(0);
            }
            _exit(0);
        }
        close(fds[1]);
        CHECK(exit_code_of(mid) == 0);
        char r = 0;
        CHECK(read(fds[0], &r, 1) == 1 && r == 'y');
        pass("pids-init-is-1");
    } else {
        skip("pids-init-is-1", "Lab kernel only");
    }
    return 0;
}
