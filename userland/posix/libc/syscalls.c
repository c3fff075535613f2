#include "sys.h"
#include <unistd.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <signal.h>
#include <time.h>
#include <dirent.h>
#include <lab.h>

int errno;

ssize_t read(int fd, void *buf, size_t n) { return __ret(__sc3(SYS_read, fd, buf, n)); }
ssize_t write(int fd, const void *buf, size_t n) { return __ret(__sc3(SYS_write, fd, buf, n)); }
int close(int fd) { return (int)__ret(__sc1(SYS_close, fd)); }
off_t lseek(int fd, off_t off, int whence) { return __ret(__sc3(SYS_lseek, fd, off, whence)); }
int pipe(int fds[2]) { return (int)__ret(__sc1(SYS_pipe, fds)); }
int dup(int fd) { return (int)__ret(__sc1(SYS_dup, fd)); }
int dup2(int fd, int fd2) { return (int)__ret(__sc2(SYS_dup2, fd, fd2)); }
pid_t getpid(void) { return (pid_t)__sc0(SYS_getpid); }
pid_t getppid(void) { return (pid_t)__sc0(SYS_getppid); }
pid_t fork(void) { return (pid_t)__ret(__sc0(SYS_fork)); }
int execve(const char *path, char *const argv[], char *const envp[])
{
    return (int)__ret(__sc3(SYS_execve, path, argv, envp));
}
void _exit(int status)
{
    for (;;) { __sc1(SYS_exit_group, status); __sc1(SYS_exit, status); }
}
void _Exit(int status) { _exit(status); }
int unlink(const char *path) { return (int)__ret(__sc1(SYS_unlink, path)); }
int sched_yield(void) { return (int)__ret(__sc0(SYS_sched_yield)); }
int kill(pid_t pid, int sig) { return (int)__ret(__sc2(SYS_kill, pid, sig)); }
int raise(int sig) { return kill(getpid(), sig); }
int stat(const char *path, struct stat *st) { return (int)__ret(__sc2(SYS_stat, path, st)); }
int fstat(int fd, struct stat *st) { return (int)__ret(__sc2(SYS_fstat, fd, st)); }
long getdents64(int fd, void *buf, size_t n) { return __ret(__sc3(SYS_getdents64, fd, buf, n)); }
int nanosleep(const struct timespec *req, struct timespec *rem)
{
    return (int)__ret(__sc2(SYS_nanosleep, req, rem));
}
int clock_gettime(clockid_t clk, struct timespec *ts) { return (int)__ret(__sc2(SYS_clock_gettime, clk, ts)); }
time_t time(time_t *t)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0) return -1;
    if (t) *t = ts.tv_sec;
    return ts.tv_sec;
}
unsigned sleep(unsigned seconds)
{
    struct timespec ts = { seconds, 0 };
    nanosleep(&ts, 0);
    return 0;
}
int usleep(unsigned long usec)
{
    struct timespec ts = { (time_t)(usec / 1000000), (long)(usec % 1000000) * 1000 };
    return nanosleep(&ts, 0);
}

int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & O_CREAT) ? va_arg(ap, mode_t) : 0;
    va_end(ap);
    return (int)__ret(__sc3(SYS_open, path, flags, mode));
}
int creat(const char *path, mode_t mode) { return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode); }

pid_t wait4(pid_t pid, int *status, int options, struct rusage *ru)
{
    return (pid_t)__ret(__sc4(SYS_wait4, pid, status, options, ru));
}
pid_t waitpid(pid_t pid, int *status, int options) { return wait4(pid, status, options, 0); }
pid_t wait(int *status) { return wait4(-1, status, 0, 0); }

/* brk: the kernel returns the new break (or the old one on failure). */
static char *cur_brk;
int brk(void *addr)
{
    char *r = (char *)__sc1(SYS_brk, addr);
    cur_brk = r;
    if (r != addr) { errno = ENOMEM; return -1; }
    return 0;
}
void *sbrk(long inc)
{
    if (!cur_brk) cur_brk = (char *)__sc1(SYS_brk, 0);
    char *old = cur_brk;
    if (inc == 0) return old;
    char *want = old + inc;
    char *r = (char *)__sc1(SYS_brk, want);
    if (r != want) { errno = ENOMEM; return (void *)-1; }
    cur_brk = r;
    return old;
}

long syscall(long n, ...)
{
    va_list ap;
    va_start(ap, n);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    return __ret(__sc6(n, a, b, c, d, e, f));
}
long lab_syscall(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
    return __sc6(n, a1, a2, a3, a4, a5, a6);
}

int page_alloc(void *addr) { return (int)__ret(__sc1(SYS_page_alloc, addr)); }
int track_self(void) { return (int)__ret(__sc0(SYS_track_self)); }
int track_wait(struct track_metrics *m) { return (int)__ret(__sc1(SYS_track_wait, m)); }
int lab_on_linux_host(void)
{
    static int cached = -1;
    if (cached < 0) cached = __sc1(SYS_track_wait, 0) == -ENOSYS;
    return cached;
}
