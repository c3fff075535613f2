/* Orphans keep running after their parent exits and can still write to the console and to
 * inherited files; their new parent (init, or the host's subreaper) reaps them. */
#include "t.h"

int main(void)
{
    const char *path = "t-orphan.tmp";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    pid_t me = getpid();
    pid_t mid = fork();
    CHECK(mid >= 0);
    if (mid == 0) {
        pid_t parent = getpid();
        pid_t c = fork();
        if (c < 0) _exit(1);
        if (c == 0) {
            /* wait until the parent is gone */
            for (int i = 0; i < 20000 && getppid() == parent; i++) short_sleep();
            if (getppid() == parent) _exit(2);
            char line[64];
            int n = snprintf(line, sizeof line, "orphan %s\n", getppid() != me ? "reparented" : "WRONG");
            write(fd, line, (size_t)n);
            printf("orphan writes to the console\n");
            _exit(0);
        }
        _exit(0);
    }
    CHECK(exit_code_of(mid) == 0);
    char buf[64] = { 0 };
    ssize_t n = 0;
    for (int i = 0; i < 20000; i++) {
        CHECK(lseek(fd, 0, SEEK_SET) == 0);
        n = read(fd, buf, sizeof buf - 1);
        CHECK(n >= 0);
        if (n > 0 && buf[n - 1] == '\n') break;
        short_sleep();
    }
    CHECK(n > 0 && strcmp(buf, "orphan reparented\n") == 0);
    close(fd);
    unlink(path);
    pass("orphan-keeps-running");
    return 0;
}
