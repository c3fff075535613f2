/* Processes the ordinary way: fork and wait, exit statuses and signals, execv of this same program,
 * pipes between parent and child (pipe and pipe2), dup2 onto stdout, stdio buffers across fork, and a
 * child's adc/sbb to a page still shared copy-on-write. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/wait.h>

static void child_mode(int argc, char **argv)
{
    printf("exec'd child: argc=%d", argc);
    for (int i = 1; i < argc; i++) printf(" [%s]", argv[i]);
    printf(" env=%s\n", getenv("LAB_TEST") ? getenv("LAB_TEST") : "(none)");
    exit(argc);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0) child_mode(argc, argv);
    setvbuf(stdout, NULL, _IONBF, 0);

    /* fork and wait, exit codes */
    for (int i = 0; i < 3; i++)
    {
        pid_t pid = fork();
        if (pid == 0) _exit(10 + i);
        int st;
        pid_t w = waitpid(pid, &st, 0);
        printf("child %d: same=%d exited=%d code=%d\n", i, w == pid, WIFEXITED(st), WEXITSTATUS(st));
    }
    /* memory is copied: the child's writes stay its own */
    int *counter = malloc(sizeof *counter);
    *counter = 5;
    pid_t pid = fork();
    if (pid == 0) { *counter = 99; printf("in child counter=%d\n", *counter); exit(0); }
    wait(NULL);
    printf("in parent counter=%d\n", *counter);

    /* a read-modify-write in the child to a page it still shares with the parent: the write faults,
       the kernel copies the page, and the instruction runs again from the flags it started with (an
       adc or sbb that ran again after setting CF itself added the wrong carry) */
    static long shared[1024] __attribute__((aligned(4096)));
    shared[0] = 41;
    shared[512] = 43;
    pid = fork();
    if (pid == 0)
    {
        __asm__ volatile("stc\n\tadcq $0, %0" : "+m"(shared[0]) : : "cc");
        __asm__ volatile("stc\n\tsbbq $0, %0" : "+m"(shared[512]) : : "cc");
        printf("in child adc=%ld sbb=%ld\n", shared[0], shared[512]);
        exit(0);
    }
    wait(NULL);
    printf("in parent adc=%ld sbb=%ld\n", shared[0], shared[512]);

    /* a child killed by a signal */
    pid = fork();
    if (pid == 0) { volatile int *bad = (int *)16; *bad = 1; _exit(0); }
    int st;
    waitpid(pid, &st, 0);
    printf("signaled=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));
    errno = 0;
    pid = wait(&st);
    printf("wait none=%d errno=%s\n", (int)pid, strerror(errno));

    /* pipe: the child writes, the parent reads to end of file */
    int fds[2];
    pipe(fds);
    pid = fork();
    if (pid == 0)
    {
        close(fds[0]);
        for (int i = 0; i < 100; i++) dprintf(fds[1], "message %d\n", i);
        _exit(0);
    }
    close(fds[1]);
    char buf[4096];
    size_t total = 0;
    ssize_t n;
    int lines = 0;
    while ((n = read(fds[0], buf, sizeof buf)) > 0)
    {
        for (ssize_t k = 0; k < n; k++) if (buf[k] == '\n') lines++;
        total += (size_t)n;
    }
    close(fds[0]);
    waitpid(pid, NULL, 0);
    printf("pipe bytes=%zu lines=%d\n", total, lines);

    /* pipe2 + dup2 + exec: the exec'd child's stdout goes into the pipe */
    if (pipe2(fds, O_CLOEXEC) != 0) { perror("pipe2"); return 1; }
    pid = fork();
    if (pid == 0)
    {
        dup2(fds[1], 1);
        setenv("LAB_TEST", "inherited", 1);
        char *args[] = {argv[0], "--child", "one", "two words", NULL};
        execv(argv[0], args);
        perror("execv");
        _exit(127);
    }
    close(fds[1]);
    memset(buf, 0, sizeof buf);
    total = 0;
    while ((n = read(fds[0], buf + total, sizeof buf - 1 - total)) > 0) total += (size_t)n;
    waitpid(pid, &st, 0);
    printf("from exec: %s", buf);
    printf("exec status=%d\n", WEXITSTATUS(st));

    /* execve of a missing file fails and returns */
    pid = fork();
    if (pid == 0)
    {
        char *args[] = {"nope", NULL};
        execv("/nonexistent/program", args);
        printf("execv failed: %s\n", strerror(errno));
        _exit(42);
    }
    waitpid(pid, &st, 0);
    printf("failed exec status=%d\n", WEXITSTATUS(st));

    /* a pipeline of children, parent waits for all */
    int kids = 0;
    for (int i = 0; i < 5; i++) if (fork() == 0) _exit(i); else kids++;
    int sum = 0;
    while (kids-- > 0) { wait(&st); sum += WEXITSTATUS(st); }
    printf("sum of codes=%d\n", sum);
    /* stdio output buffered before fork is flushed by both */
    setvbuf(stdout, NULL, _IOFBF, 0);
    printf("buffered once ");
    pid = fork();
    if (pid == 0) { printf("child\n"); exit(0); }
    waitpid(pid, NULL, 0);
    printf("parent\n");
    return 0;
}
