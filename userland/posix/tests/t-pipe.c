/* Pipes: data passes, reads block until data or until every writer is closed (then 0),
 * writes with no reader fail with EPIPE, large transfers. */
#include "t.h"

int main(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0 && fds[0] >= 0 && fds[1] >= 0 && fds[0] != fds[1]);
    CHECK(write(fds[1], "hello", 5) == 5);
    char buf[4096];
    CHECK(read(fds[0], buf, sizeof buf) == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK_ERR(write(fds[0], "x", 1), EBADF);
    pass("pipe-basic");

    /* the reader blocks until the child writes; then sees EOF once all writers are closed */
    pid_t p = fork();
    CHECK(p >= 0);
    if (p == 0) {
        close(fds[0]);
        for (int i = 0; i < 50; i++) sched_yield();
        short_sleep();
        write(fds[1], "late", 4);
        _exit(0);
    }
    close(fds[1]);
    CHECK(read(fds[0], buf, sizeof buf) == 4 && memcmp(buf, "late", 4) == 0);
    CHECK(read(fds[0], buf, sizeof buf) == 0);
    CHECK(exit_code_of(p) == 0);
    close(fds[0]);
    pass("pipe-blocks-then-eof");

    /* 200 KB through a pipe (the writer blocks when it is full) */
    CHECK(pipe(fds) == 0);
    p = fork();
    CHECK(p >= 0);
    enum { TOTAL = 200 * 1024 };
    if (p == 0) {
        close(fds[0]);
        static char out[TOTAL];
        for (int i = 0; i < TOTAL; i++) out[i] = (char)(i * 7);
        for (int off = 0; off < TOTAL;) {
            ssize_t n = write(fds[1], out + off, (size_t)(TOTAL - off));
            if (n <= 0) _exit(1);
            off += (int)n;
        }
        _exit(0);
    }
    close(fds[1]);
    long got = 0;
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof buf);
        CHECK(n >= 0);
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++) CHECK(buf[i] == (char)((got + i) * 7));
        got += n;
    }
    CHECK(got == TOTAL);
    CHECK(exit_code_of(p) == 0);
    close(fds[0]);
    pass("pipe-large-transfer");

    /* no reader: EPIPE (the host would also send SIGPIPE, so ignore it there) */
    signal(SIGPIPE, SIG_IGN);
    CHECK(pipe(fds) == 0);
    close(fds[0]);
    CHECK_ERR(write(fds[1], "x", 1), EPIPE);
    close(fds[1]);
    pass("pipe-epipe");

    /* dup'd write ends: EOF only after the last writer closes */
    CHECK(pipe(fds) == 0);
    int w2 = dup(fds[1]);
    CHECK(w2 >= 0);
    close(fds[1]);
    CHECK(write(w2, "z", 1) == 1);
    CHECK(read(fds[0], buf, sizeof buf) == 1);
    close(w2);
    CHECK(read(fds[0], buf, sizeof buf) == 0);
    close(fds[0]);
    pass("pipe-eof-after-last-writer");
    return 0;
}
