/* Directories and names through this libc: mkdir/rmdir/chdir/getcwd, rename, link (hard links
 * and st_nlink), symlink/readlink/lstat, truncate/ftruncate, fsync, remove, opendir/readdir,
 * umask, access, isatty, fcntl's FD_CLOEXEC. Same output natively and on Lab. */
#include "t.h"
#include <sys/stat.h>
#include <dirent.h>
#include <sched.h>
#include <sys/ioctl.h>

static void put_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    CHECK(close(fd) == 0);
}

static int names_in(const char *dir, char *out, size_t n)
{
    DIR *d = opendir(dir);
    CHECK(d != 0);
    int count = 0;
    out[0] = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        count++;
        if (strlen(out) + strlen(e->d_name) + 2 < n) { strcat(out, e->d_name); strcat(out, " "); }
    }
    CHECK(closedir(d) == 0);
    return count;
}

int main(void)
{
    char cwd[256], here[256];
    CHECK(getcwd(here, sizeof here) == here);
    umask(022);
    rmdir("t-dirs.d/sub");
    unlink("t-dirs.d/a"); unlink("t-dirs.d/b"); unlink("t-dirs.d/c"); unlink("t-dirs.d/ln");
    rmdir("t-dirs.d");
    CHECK(mkdir("t-dirs.d", 0755) == 0);
    CHECK_ERR(mkdir("t-dirs.d", 0755), EEXIST);
    CHECK(mkdir("t-dirs.d/sub", 0700) == 0);
    struct stat st;
    CHECK(stat("t-dirs.d/sub", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    CHECK(chdir("t-dirs.d") == 0);
    CHECK(getcwd(cwd, sizeof cwd) == cwd);
    CHECK(strlen(cwd) >= 9 && !strcmp(cwd + strlen(cwd) - 9, "/t-dirs.d") && !strncmp(cwd, here, strlen(here)));
    CHECK(getcwd(cwd, 2) == 0 && errno == ERANGE);
    pass("dirs-mkdir-chdir-getcwd");

    put_file("a", "hello\n");
    CHECK(rename("a", "b") == 0);
    CHECK_ERR(stat("a", &st), ENOENT);
    CHECK(stat("b", &st) == 0 && st.st_size == 6);
    put_file("c", "other");
    CHECK(rename("c", "b") == 0);           /* replaces b */
    CHECK(stat("b", &st) == 0 && st.st_size == 5);
    CHECK_ERR(rename("nosuch", "x"), ENOENT);
    pass("dirs-rename");

    CHECK(link("b", "a") == 0);
    CHECK(stat("a", &st) == 0 && st.st_nlink == 2);
    CHECK(unlink("b") == 0);
    CHECK(stat("a", &st) == 0 && st.st_nlink == 1 && st.st_size == 5);
    CHECK_ERR(link("a", "a"), EEXIST);
    pass("dirs-hard-links");

    CHECK(symlink("a", "ln") == 0);
    char target[64];
    ssize_t n = readlink("ln", target, sizeof target);
    CHECK(n == 1 && target[0] == 'a');
    CHECK(lstat("ln", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(stat("ln", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 5);
    CHECK_ERR(readlink("a", target, sizeof target), EINVAL);
    CHECK(symlink("nowhere", "b") == 0);
    CHECK_ERR(open("b", O_RDONLY), ENOENT);
    CHECK(remove("b") == 0);
    pass("dirs-symlinks");

    CHECK(truncate("a", 2) == 0);
    CHECK(stat("a", &st) == 0 && st.st_size == 2);
    int fd = open("a", O_RDWR);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, 100) == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 100);
    CHECK(fsync(fd) == 0);
    CHECK(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
    CHECK(close(fd) == 0);
    pass("dirs-truncate-fsync-cloexec");

    char names[128];
    CHECK(names_in(".", names, sizeof names) == 3);
    CHECK(access("a", R_OK | W_OK) == 0);
    CHECK_ERR(access("nosuch", F_OK), ENOENT);
    CHECK_ERR(rmdir("."), EINVAL);
    CHECK(chdir("..") == 0);
    CHECK_ERR(rmdir("t-dirs.d"), ENOTEMPTY);
    CHECK(remove("t-dirs.d/sub") == 0);
    CHECK(remove("t-dirs.d/a") == 0);
    CHECK(remove("t-dirs.d/ln") == 0);
    CHECK(names_in("t-dirs.d", names, sizeof names) == 0);
    CHECK(rmdir("t-dirs.d") == 0);
    CHECK_ERR(chdir("t-dirs.d"), ENOENT);
    pass("dirs-readdir-remove-rmdir");

    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(!isatty(p[0]) && errno == ENOTTY);
    CHECK(sched_yield() == 0);
    printf("%s|%s|%s\n", strerror(ENOTEMPTY), strerror(ELOOP), strerror(EXDEV));
    return 0;
}
