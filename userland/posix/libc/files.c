/* File, directory, identity, process-group and terminal wrappers: each is one Linux system call
 * (errno on failure), except the few C library helpers built from them (remove, isatty,
 * tcgetattr/tcsetattr, opendir/readdir). */
#include "sys.h"
#include <unistd.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <termios.h>
#include <dirent.h>
#include <poll.h>

int access(const char *path, int mode) { return (int)__ret(__sc2(SYS_access, path, mode)); }
int mkdir(const char *path, mode_t mode) { return (int)__ret(__sc2(SYS_mkdir, path, mode)); }
int rmdir(const char *path) { return (int)__ret(__sc1(SYS_rmdir, path)); }
int chdir(const char *path) { return (int)__ret(__sc1(SYS_chdir, path)); }
int fchdir(int fd) { return (int)__ret(__sc1(SYS_fchdir, fd)); }
/* The kernel returns the length stored; the C call returns the buffer. */
char *getcwd(char *buf, size_t size) { return __ret(__sc2(SYS_getcwd, buf, size)) < 0 ? 0 : buf; }
int link(const char *from, const char *to) { return (int)__ret(__sc2(SYS_link, from, to)); }
int symlink(const char *target, const char *path) { return (int)__ret(__sc2(SYS_symlink, target, path)); }
ssize_t readlink(const char *path, char *buf, size_t size) { return __ret(__sc3(SYS_readlink, path, buf, size)); }
int rename(const char *from, const char *to) { return (int)__ret(__sc2(SYS_rename, from, to)); }
int truncate(const char *path, off_t length) { return (int)__ret(__sc2(SYS_truncate, path, length)); }
int ftruncate(int fd, off_t length) { return (int)__ret(__sc2(SYS_ftruncate, fd, length)); }
int fsync(int fd) { return (int)__ret(__sc1(SYS_fsync, fd)); }
int fdatasync(int fd) { return (int)__ret(__sc1(SYS_fdatasync, fd)); }
int lstat(const char *path, struct stat *st) { return (int)__ret(__sc2(SYS_lstat, path, st)); }
int chmod(const char *path, mode_t mode) { return (int)__ret(__sc2(SYS_chmod, path, mode)); }
int fchmod(int fd, mode_t mode) { return (int)__ret(__sc2(SYS_fchmod, fd, mode)); }
mode_t umask(mode_t mask) { return (mode_t)__sc1(SYS_umask, mask); }
int pipe2(int fds[2], int flags) { return (int)__ret(__sc2(SYS_pipe2, fds, flags)); }
int dup3(int fd, int fd2, int flags) { return (int)__ret(__sc3(SYS_dup3, fd, fd2, flags)); }
ssize_t pread(int fd, void *buf, size_t n, off_t off) { return __ret(__sc4(SYS_pread64, fd, buf, n, off)); }
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) { return __ret(__sc4(SYS_pwrite64, fd, buf, n, off)); }
int poll(struct pollfd *fds, nfds_t n, int timeout_ms) { return (int)__ret(__sc3(SYS_poll, fds, n, timeout_ms)); }

/* remove(3): a file, or else an empty directory. */
int remove(const char *path)
{
    long r = __sc1(SYS_unlink, path);
    if (r == -EISDIR) r = __sc1(SYS_rmdir, path);
    return (int)__ret(r);
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    return (int)__ret(__sc3(SYS_fcntl, fd, cmd, arg));
}
int ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return (int)__ret(__sc3(SYS_ioctl, fd, request, arg));
}
int tcgetattr(int fd, struct termios *t) { return ioctl(fd, TCGETS, t); }
int tcsetattr(int fd, int action, const struct termios *t)
{
    if (action < TCSANOW || action > TCSAFLUSH) { errno = EINVAL; return -1; }
    return ioctl(fd, TCSETS + action, t);
}
int isatty(int fd) { struct termios t; return tcgetattr(fd, &t) == 0; }
pid_t tcgetpgrp(int fd) { int pgrp; return ioctl(fd, TIOCGPGRP, &pgrp) < 0 ? -1 : pgrp; }
int tcsetpgrp(int fd, pid_t pgrp) { int p = pgrp; return ioctl(fd, TIOCSPGRP, &p); }

uid_t getuid(void) { return (uid_t)__sc0(SYS_getuid); }
uid_t geteuid(void) { return (uid_t)__sc0(SYS_geteuid); }
gid_t getgid(void) { return (gid_t)__sc0(SYS_getgid); }
gid_t getegid(void) { return (gid_t)__sc0(SYS_getegid); }
pid_t gettid(void) { return (pid_t)__sc0(SYS_gettid); }
int setpgid(pid_t pid, pid_t pgid) { return (int)__ret(__sc2(SYS_setpgid, pid, pgid)); }
pid_t getpgid(pid_t pid) { return (pid_t)__ret(__sc1(SYS_getpgid, pid)); }
pid_t getpgrp(void) { return (pid_t)__ret(__sc0(SYS_getpgrp)); }
pid_t setsid(void) { return (pid_t)__ret(__sc0(SYS_setsid)); }
pid_t getsid(pid_t pid) { return (pid_t)__ret(__sc1(SYS_getsid, pid)); }

int gettimeofday(struct timeval *tv, void *tz) { return (int)__ret(__sc2(SYS_gettimeofday, tv, tz)); }
int setitimer(int which, const struct itimerval *value, struct itimerval *old)
{
    return (int)__ret(__sc3(SYS_setitimer, which, value, old));
}
int getitimer(int which, struct itimerval *value) { return (int)__ret(__sc2(SYS_getitimer, which, value)); }

/* opendir/readdir over getdents64: a buffer of records, refilled when used up. */
struct __dir { int fd; long pos, len; char buf[2048]; struct dirent entry; };
DIR *fdopendir(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0) return 0;
    if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; return 0; }
    DIR *d = calloc(1, sizeof *d);
    if (!d) return 0;
    d->fd = fd;
    return d;
}
DIR *opendir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return 0;
    DIR *d = fdopendir(fd);
    if (!d) close(fd);
    return d;
}
struct dirent *readdir(DIR *d)
{
    if (d->pos >= d->len) {
        long n = getdents64(d->fd, d->buf, sizeof d->buf);
        if (n <= 0) return 0;          /* end of directory (errno untouched) or an error */
        d->pos = 0;
        d->len = n;
    }
    struct linux_dirent64 *r = (struct linux_dirent64 *)(d->buf + d->pos);
    d->pos += r->d_reclen;
    d->entry.d_ino = r->d_ino;
    d->entry.d_off = r->d_off;
    d->entry.d_reclen = sizeof d->entry;
    d->entry.d_type = r->d_type;
    strncpy(d->entry.d_name, r->d_name, sizeof d->entry.d_name - 1);
    d->entry.d_name[sizeof d->entry.d_name - 1] = 0;
    return &d->entry;
}
void rewinddir(DIR *d) { lseek(d->fd, 0, SEEK_SET); d->pos = d->len = 0; }
int dirfd(DIR *d) { return d->fd; }
int closedir(DIR *d) { int r = close(d->fd); free(d); return r; }
