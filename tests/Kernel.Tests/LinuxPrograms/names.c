/* Names and waiting: symlink/readlink/lstat, resolution through links (ELOOP, O_NOFOLLOW), hard
 * links and st_nlink, rename and renameat2's errors, ftruncate/truncate, utimensat, chmod, access,
 * fsync, /dev/null and /dev/zero, and poll/select over a pipe (data, end of file, no reader, a
 * timeout). Works in the directory given as argv[1] (a fresh empty one); prints only what is the
 * same on any Linux. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void say(const char *what, int r) { printf("%-28s %d %s\n", what, r, r < 0 ? strerror(errno) : ""); errno = 0; }

static void put(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    write(fd, text, strlen(text));
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc < 2 || chdir(argv[1]) != 0) { fprintf(stderr, "usage: names DIR\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    struct stat st;
    char buf[256];

    put("file", "hello\n");
    say("symlink", symlink("file", "link"));
    say("symlink exists", symlink("file", "link"));
    ssize_t n = readlink("link", buf, sizeof buf);
    printf("readlink %zd %.*s\n", n, (int)n, buf);
    say("readlink of a file", (int)readlink("file", buf, sizeof buf));
    lstat("link", &st); printf("lstat link: lnk=%d size=%lld\n", S_ISLNK(st.st_mode), (long long)st.st_size);
    stat("link", &st); printf("stat link: reg=%d size=%lld\n", S_ISREG(st.st_mode), (long long)st.st_size);
    say("open O_NOFOLLOW", open("link", O_RDONLY | O_NOFOLLOW));
    say("loop a->b", symlink("b", "a")); say("loop b->a", symlink("a", "b"));
    say("open loop", open("a", O_RDONLY));
    mkdir("d", 0755); symlink("d", "dlink"); put("d/inner", "x");
    say("stat through dir link", stat("dlink/inner", &st));
    say("stat file as dir", stat("file/x", &st));
    say("symlink dangling", symlink("nowhere", "dangle"));
    say("stat dangling", stat("dangle", &st));
    say("lstat dangling", lstat("dangle", &st));

    say("link", link("file", "hard"));
    stat("file", &st); printf("nlink after link %ld\n", (long)st.st_nlink);
    say("unlink one name", unlink("file"));
    stat("hard", &st); printf("nlink after unlink %ld size %lld\n", (long)st.st_nlink, (long long)st.st_size);
    say("link a directory", link("d", "d2"));

    put("r1", "one"); put("r2", "two");
    say("rename over file", rename("r1", "r2"));
    int fd = open("r2", O_RDONLY); n = read(fd, buf, sizeof buf); close(fd);
    printf("r2 holds %.*s\n", (int)n, buf);
    say("rename missing", rename("r1", "r3"));
    say("noreplace", (int)syscall(SYS_renameat2, AT_FDCWD, "r2", AT_FDCWD, "hard", 1));
    mkdir("e", 0755); mkdir("e/sub", 0755);
    say("dir into itself", rename("e", "e/sub/x"));
    say("file over dir", rename("r2", "e"));
    say("dir over file", rename("e", "r2"));
    say("dir over nonempty dir", rename("d", "e"));
    say("dir moves", rename("e", "f"));
    say("child moved with it", stat("f/sub", &st));

    fd = open("t", O_RDWR | O_CREAT, 0600);
    say("ftruncate grow", ftruncate(fd, 10000));
    fstat(fd, &st); printf("size %lld\n", (long long)st.st_size);
    say("ftruncate shrink", ftruncate(fd, 3));
    say("truncate path", truncate("t", 5));
    stat("t", &st); printf("size %lld mode %o\n", (long long)st.st_size, st.st_mode & 07777);
    say("fsync", fsync(fd)); say("fdatasync", fdatasync(fd));
    close(fd);
    mode_t old = umask(077);
    put("private", "p"); stat("private", &st); printf("private mode %o\n", st.st_mode & 07777);
    printf("umask back from %o\n", umask(old));
    say("chmod", chmod("t", 0751)); stat("t", &st); printf("mode %o\n", st.st_mode & 07777);
    struct timespec ts[2] = { { 1000, 5 }, { 2000, 7 } };
    say("utimensat", utimensat(AT_FDCWD, "t", ts, 0));
    stat("t", &st); printf("times %ld.%ld %ld.%ld\n", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec, (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    say("access", access("t", R_OK | W_OK));
    say("access missing", access("nope", F_OK));

    fd = open("/dev/null", O_RDWR);
    ssize_t wn = write(fd, "abc", 3), rn = read(fd, buf, 10);
    printf("null write %zd read %zd\n", wn, rn);
    fstat(fd, &st); printf("null chr=%d rdev=%d,%d\n", S_ISCHR(st.st_mode), (int)(st.st_rdev >> 8), (int)(st.st_rdev & 0xff));
    close(fd);
    fd = open("/dev/zero", O_RDONLY); memset(buf, 1, 8);
    n = read(fd, buf, 8);
    printf("zero read %zd %d%d\n", n, buf[0], buf[7]);
    close(fd);

    int p[2];
    pipe(p);
    struct pollfd pf[2] = { { p[0], POLLIN, 0 }, { p[1], POLLOUT, 0 } };
    int k = poll(pf, 2, 0);
    printf("poll empty: %d %x %x\n", k, pf[0].revents, pf[1].revents);
    write(p[1], "x", 1);
    k = poll(pf, 1, 100);
    printf("poll data: %d %x\n", k, pf[0].revents);
    fd_set r; FD_ZERO(&r); FD_SET(p[0], &r);
    struct timeval tv = { 1, 0 };
    k = select(p[0] + 1, &r, NULL, NULL, &tv);
    printf("select data: %d %d\n", k, FD_ISSET(p[0], &r));
    read(p[0], buf, 1);
    FD_ZERO(&r); FD_SET(p[0], &r); tv.tv_sec = 0; tv.tv_usec = 20000;
    k = select(p[0] + 1, &r, NULL, NULL, &tv);
    printf("select timeout: %d %d left %ld.%06ld\n", k, FD_ISSET(p[0], &r), (long)tv.tv_sec, (long)tv.tv_usec);
    printf("poll timeout: %d\n", poll(pf, 1, 30));
    close(p[1]);
    k = poll(pf, 1, -1);
    printf("poll eof: %d %x\n", k, pf[0].revents);
    pipe(p); close(p[0]);
    struct pollfd w = { p[1], POLLOUT, 0 };
    k = poll(&w, 1, -1);
    printf("poll no reader: %d %x\n", k, w.revents);
    struct pollfd bad = { 99, POLLIN, 0 };
    k = poll(&bad, 1, 0);
    printf("poll bad fd: %d %x\n", k, bad.revents);
    FD_ZERO(&r); FD_SET(99, &r); tv.tv_sec = 0;
    say("select bad fd", select(100, &r, NULL, NULL, &tv));
    /* a child writes later, and stays alive (its write end open) until the parent has polled */
    int hold[2];
    pipe(p); pipe(hold);
    if (fork() == 0) { close(p[0]); close(hold[1]); usleep(2000); write(p[1], "late", 4); read(hold[0], buf, 1); _exit(0); }
    close(p[1]); close(hold[0]);
    struct pollfd late = { p[0], POLLIN, 0 };
    k = poll(&late, 1, -1);
    printf("poll waits for a writer: %d %x\n", k, late.revents);
    close(hold[1]);
    wait(NULL);
    return 0;
}
