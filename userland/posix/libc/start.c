#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <errno.h>
#include <signal.h>

char **environ;
extern const char *__progname;
int main(int argc, char **argv, char **envp);

static void (*atexit_fns[32])(void);
static int atexit_count;

int atexit(void (*fn)(void))
{
    if (atexit_count >= 32) return -1;
    atexit_fns[atexit_count++] = fn;
    return 0;
}

void exit(int status)
{
    while (atexit_count > 0) atexit_fns[--atexit_count]();
    _exit(status);
}

void abort(void)
{
    raise(6);
    _exit(134);
}

void __libc_start(int argc, char **argv, char **envp)
{
    environ = envp;
    if (argc > 0 && argv[0]) {
        const char *slash = strrchr(argv[0], '/');
        __progname = slash ? slash + 1 : argv[0];
    }
    exit(main(argc, argv, envp));
}

char *getenv(const char *name)
{
    size_t n = strlen(name);
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return 0;
}

void __assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "%s:%d: %s: Assertion `%s' failed.\n", file, line, func, expr);
    abort();
}

int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }

int execvp(const char *file, char *const argv[])
{
    if (strchr(file, '/')) return execve(file, argv, environ);
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/bin";
    char buf[512];
    int saved = ENOENT;
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len + strlen(file) + 2 < sizeof buf) {
            memcpy(buf, path, len);
            buf[len] = '/';
            strcpy(buf + len + 1, file);
            execve(buf, argv, environ);
            if (errno != ENOENT) saved = errno;
        }
        if (!colon) break;
        path = colon + 1;
    }
    errno = saved;
    return -1;
}
