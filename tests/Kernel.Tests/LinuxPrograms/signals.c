/* Signals the ordinary way, one case per argument (so a difference names its case): handlers with
 * SA_SIGINFO, masks and pending signals, SA_RESETHAND/SA_NODEFER, SA_RESTART against EINTR, SIGCHLD,
 * SIGPIPE, alarm/setitimer, process groups and sessions, a SIGSEGV handler that siglongjmps out on an
 * alternate stack, stop/continue with waitpid, sigsuspend, sigtimedwait, default actions, and a
 * handler that edits its ucontext. Output has no pids or addresses: it is the same on any host. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <setjmp.h>
#include <errno.h>
#include <time.h>
#include <ucontext.h>
#include <sys/time.h>
#include <sys/wait.h>

static volatile sig_atomic_t hits, depth, maxdepth, last_sig, last_code, from_self, usr1_blocked_inside;
static volatile int order[8], norder;

static void on_info(int sig, siginfo_t *si, void *uc_)
{
    ucontext_t *uc = uc_;
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    hits++;
    last_sig = si->si_signo;
    last_code = si->si_code;
    from_self = si->si_pid == getpid();
    usr1_blocked_inside = sigismember(&now, SIGUSR1) && !sigismember(&uc->uc_sigmask, SIGUSR1);
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void plain(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void count(int sig) { (void)sig; hits++; }

static void case_info(void)
{
    install(SIGUSR1, on_info, 0);
    kill(getpid(), SIGUSR1);
    printf("kill: hits=%d signo=%d user=%d self=%d masked-inside=%d\n", hits, last_sig, last_code == SI_USER, from_self, usr1_blocked_inside);
    raise(SIGUSR1);
    printf("raise: hits=%d signo=%d tkill=%d self=%d\n", hits, last_sig, last_code == SI_TKILL, from_self);
}

static void case_mask(void)
{
    sigset_t set, pend;
    plain(SIGUSR1, count, 0);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR1);
    raise(SIGUSR1);                               /* a standard signal is pending once */
    sigpending(&pend);
    printf("blocked: hits=%d pending=%d\n", hits, sigismember(&pend, SIGUSR1));
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    printf("unblocked: hits=%d\n", hits);
    sigpending(&pend);
    printf("pending after=%d\n", sigismember(&pend, SIGUSR1));
    /* ignoring a blocked pending signal throws it away */
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    plain(SIGUSR2, count, 0);
    raise(SIGUSR2);
    signal(SIGUSR2, SIG_IGN);
    sigpending(&pend);
    printf("ignored pending=%d\n", sigismember(&pend, SIGUSR2));
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    printf("hits=%d\n", hits);
    /* SIGKILL and SIGSTOP cannot be caught or blocked */
    struct sigaction sa = { 0 };
    sa.sa_handler = count;
    int r = sigaction(SIGKILL, &sa, NULL);
    printf("catch SIGKILL: %d %s\n", r, strerror(errno));
    sigfillset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
    sigprocmask(SIG_SETMASK, NULL, &pend);
    printf("full mask: kill=%d stop=%d usr1=%d\n", sigismember(&pend, SIGKILL), sigismember(&pend, SIGSTOP), sigismember(&pend, SIGUSR1));
}

static void nested(int sig)
{
    order[norder++] = depth;
    depth++;
    if (depth > maxdepth) maxdepth = depth;
    if (hits++ == 0) raise(sig);                   /* again, from inside the handler */
    depth--;
}

static void case_flags(void)
{
    struct sigaction old;
    plain(SIGUSR1, count, SA_RESETHAND);
    raise(SIGUSR1);
    sigaction(SIGUSR1, NULL, &old);
    printf("resethand: hits=%d now-default=%d\n", hits, old.sa_handler == SIG_DFL);
    hits = 0; maxdepth = 0; norder = 0;
    plain(SIGUSR2, nested, 0);
    raise(SIGUSR2);
    printf("deferred: hits=%d maxdepth=%d order=%d,%d\n", hits, maxdepth, order[0], order[1]);
    hits = 0; maxdepth = 0; norder = 0;
    plain(SIGUSR2, nested, SA_NODEFER);
    raise(SIGUSR2);
    printf("nodefer: hits=%d maxdepth=%d order=%d,%d\n", hits, maxdepth, order[0], order[1]);
}

static void after(long ms)
{
    struct itimerval it = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };
    setitimer(ITIMER_REAL, &it, NULL);
}

static void case_restart(void)
{
    int fds[2];
    char c;
    pipe(fds);
    plain(SIGALRM, count, 0);
    after(20);
    ssize_t r = read(fds[0], &c, 1);
    printf("no SA_RESTART: read=%zd %s hits=%d\n", r, r < 0 ? strerror(errno) : "", hits);
    plain(SIGALRM, count, SA_RESTART);
    pid_t pid = fork();
    if (pid == 0) {
        struct timespec ts = { 0, 200 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        write(fds[1], "x", 1);
        _exit(0);
    }
    after(20);
    r = read(fds[0], &c, 1);
    printf("SA_RESTART: read=%zd char=%c hits=%d\n", r, r == 1 ? c : '?', hits);
    waitpid(pid, NULL, 0);
    /* nanosleep is never restarted: EINTR and the time left */
    after(20);
    struct timespec req = { 2, 0 }, rem = { 0, 0 };
    int n = nanosleep(&req, &rem);
    printf("nanosleep=%d %s rem-ok=%d hits=%d\n", n, strerror(errno), rem.tv_sec == 1 && rem.tv_nsec > 0, hits);
}

static volatile int reaped, codes;

static void reap(int sig)
{
    (void)sig;
    int st, saved = errno;
    while (waitpid(-1, &st, WNOHANG) > 0) { reaped++; codes += WEXITSTATUS(st); }
    errno = saved;
}

static void case_sigchld(void)
{
    sigset_t block, empty;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigemptyset(&empty);
    sigprocmask(SIG_BLOCK, &block, NULL);
    plain(SIGCHLD, reap, SA_RESTART);
    for (int i = 1; i <= 3; i++) if (fork() == 0) _exit(i * 10);
    while (reaped < 3) sigsuspend(&empty);
    printf("sigchld: reaped=%d codes=%d\n", reaped, codes);
    /* SIGCHLD ignored: children are reaped by the kernel, wait finds none */
    signal(SIGCHLD, SIG_IGN);
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    if (fork() == 0) _exit(1);
    int r = wait(NULL);
    printf("ignored: wait=%d %s\n", r, strerror(errno));
}

static void case_sigpipe(void)
{
    int fds[2], st;
    signal(SIGPIPE, SIG_DFL);                     /* (a test host may have left it ignored) */
    pipe(fds);
    close(fds[0]);
    pid_t pid = fork();
    if (pid == 0) { write(fds[1], "x", 1); _exit(0); }
    waitpid(pid, &st, 0);
    printf("default: signaled=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));
    signal(SIGPIPE, SIG_IGN);
    ssize_t r = write(fds[1], "x", 1);
    printf("ignored: write=%zd %s\n", r, strerror(errno));
    plain(SIGPIPE, count, 0);
    r = write(fds[1], "x", 1);
    printf("handled: write=%zd %s hits=%d\n", r, strerror(errno), hits);
}

static void case_alarm(void)
{
    plain(SIGALRM, count, 0);
    alarm(5);
    printf("alarm left=%u\n", alarm(0));
    alarm(1);
    int r = pause();
    printf("pause=%d %s hits=%d\n", r, strerror(errno), hits);
    /* a periodic timer, and float work it interrupts (the handler's XMM use must not leak) */
    hits = 0;
    struct itimerval it = { { 0, 1000 }, { 0, 1000 } }, cur;
    setitimer(ITIMER_REAL, &it, NULL);
    while (hits < 3) pause();
    volatile double sum = 0;
    for (int i = 0; i < 300000; i++) sum += i * 0.5;
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, NULL);
    getitimer(ITIMER_REAL, &cur);
    printf("periodic: at-least-3=%d sum=%lld off=%d\n", hits >= 3, (long long)sum, cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0);
}

static void case_groups(void)
{
    int st;
    pid_t a = fork();
    if (a == 0) { setpgid(0, 0); for (;;) pause(); }
    setpgid(a, a);
    pid_t b = fork();
    if (b == 0) { setpgid(0, a); for (;;) pause(); }
    setpgid(b, a);
    printf("groups: a-leads=%d b-in-a=%d mine-differs=%d same-session=%d\n",
           getpgid(a) == a, getpgid(b) == a, getpgrp() != a, getsid(a) == getsid(0));
    printf("kill group=%d\n", kill(-a, SIGTERM));
    waitpid(a, &st, 0);
    printf("a: sig=%d\n", WTERMSIG(st));
    waitpid(b, &st, 0);
    printf("b: sig=%d\n", WTERMSIG(st));
    int r = kill(-a, SIGTERM);
    printf("kill gone group=%d %s\n", r, strerror(errno));
    pid_t c = fork();
    if (c == 0) {
        pid_t s = setsid();
        printf("setsid: is-pid=%d sid=%d pgrp=%d\n", s == getpid(), getsid(0) == getpid(), getpgrp() == getpid());
        r = setsid();
        printf("setsid again=%d %s\n", r, strerror(errno));
        r = setpgid(0, 0);
        printf("setpgid of a leader=%d %s\n", r, strerror(errno));
        _exit(0);
    }
    waitpid(c, &st, 0);
    r = setpgid(1, 1);
    printf("setpgid of a stranger=%d %s\n", r, strerror(errno));
}

static sigjmp_buf env;
static char altstack[65536];
static volatile int on_alt;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    char here;
    on_alt = &here >= altstack && &here < altstack + sizeof altstack;
    printf("segv: signo=%d maperr=%d addr=%#lx\n", si->si_signo, si->si_code == SEGV_MAPERR, (unsigned long)si->si_addr);
    (void)sig;
    siglongjmp(env, 1);
}

static void case_segv(void)
{
    install(SIGSEGV, on_segv, 0);
    for (int round = 0; round < 2; round++) {
        if (sigsetjmp(env, 1) == 0) {
            volatile int *bad = (int *)0x10;
            *bad = 1;
            printf("not reached\n");
        }
        sigset_t now;
        sigprocmask(SIG_BLOCK, NULL, &now);
        printf("recovered %d: segv-blocked=%d on-alt=%d\n", round, sigismember(&now, SIGSEGV), on_alt);
        stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
        sigaltstack(&ss, NULL);
        install(SIGSEGV, on_segv, SA_ONSTACK);
    }
    stack_t old;
    sigaltstack(NULL, &old);
    printf("altstack: size=%zu flags=%d\n", old.ss_size, old.ss_flags);
}

static void case_stop(void)
{
    int st;
    pid_t pid = fork();
    if (pid == 0) for (;;) pause();
    kill(pid, SIGSTOP);
    waitpid(pid, &st, WUNTRACED);
    printf("stopped=%d sig=%d\n", WIFSTOPPED(st), WSTOPSIG(st));
    printf("nothing more: %d\n", waitpid(pid, &st, WNOHANG | WUNTRACED | WCONTINUED));
    kill(pid, SIGCONT);
    waitpid(pid, &st, WCONTINUED);
    printf("continued=%d\n", WIFCONTINUED(st));
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    printf("terminated=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));
    pid = fork();
    /* (not SIGTSTP: Linux drops it in an orphaned process group, which a test host may run us in) */
    if (pid == 0) { raise(SIGSTOP); printf("child went on\n"); fflush(stdout); _exit(7); }
    waitpid(pid, &st, WUNTRACED);
    printf("self-stop: stopped=%d sig=%d\n", WIFSTOPPED(st), WSTOPSIG(st));
    kill(pid, SIGCONT);
    waitpid(pid, &st, 0);
    printf("exited=%d code=%d\n", WIFEXITED(st), WEXITSTATUS(st));
}

static void case_suspend(void)
{
    sigset_t block, empty, now;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    install(SIGUSR1, on_info, 0);
    pid_t pid = fork();
    if (pid == 0) { kill(getppid(), SIGUSR1); _exit(0); }
    sigemptyset(&empty);
    int r = sigsuspend(&empty);
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("sigsuspend=%d %s hits=%d from-child=%d user=%d blocked-again=%d\n", r, strerror(errno), hits,
           !from_self, last_code == SI_USER, sigismember(&now, SIGUSR1));
    waitpid(pid, NULL, 0);
    /* sigtimedwait takes a blocked pending signal without its handler */
    raise(SIGUSR1);
    siginfo_t si;
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    int s = sigtimedwait(&block, &si, &ts);
    printf("sigtimedwait=%d code-tkill=%d hits=%d\n", s, si.si_code == SI_TKILL, hits);
    s = sigtimedwait(&block, &si, &ts);
    printf("sigtimedwait again=%d %s\n", s, strerror(errno));
}

static void case_defaults(void)
{
    int sigs[] = { SIGTERM, SIGUSR1, SIGHUP, SIGALRM, SIGQUIT, SIGABRT }, st;
    /* The default actions are compared: a host run started under nohup (or any parent ignoring a
       signal) inherits SIG_IGN across exec, which the emulated process, started fresh, does not. */
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        pid_t pid = fork();
        if (pid == 0) { raise(sigs[i]); _exit(0); }
        waitpid(pid, &st, 0);
        printf("%d: signaled=%d sig=%d\n", sigs[i], WIFSIGNALED(st), WTERMSIG(st));
    }
    raise(SIGCHLD);
    raise(SIGWINCH);
    raise(SIGURG);
    raise(SIGCONT);
    printf("ignored by default: still here\n");
    pid_t pid = fork();
    if (pid == 0) abort();
    waitpid(pid, &st, 0);
    printf("abort: sig=%d\n", WTERMSIG(st));
}

static void edit_mask(int sig, siginfo_t *si, void *uc_)
{
    (void)sig; (void)si;
    ucontext_t *uc = uc_;
    sigaddset(&uc->uc_sigmask, SIGUSR2);            /* takes effect when the handler returns */
    uc->uc_mcontext.gregs[REG_RBX] ^= 0;            /* (the registers are there, in Linux's order) */
    hits++;
}

static void case_ucontext(void)
{
    sigset_t now;
    install(SIGUSR1, edit_mask, 0);
    raise(SIGUSR1);
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("ucontext: hits=%d usr2-now-blocked=%d usr1-blocked=%d\n", hits, sigismember(&now, SIGUSR2), sigismember(&now, SIGUSR1));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    static const struct { const char *name; void (*run)(void); } cases[] = {
        { "info", case_info }, { "mask", case_mask }, { "flags", case_flags }, { "restart", case_restart },
        { "sigchld", case_sigchld }, { "sigpipe", case_sigpipe }, { "alarm", case_alarm }, { "groups", case_groups },
        { "segv", case_segv }, { "stop", case_stop }, { "suspend", case_suspend }, { "defaults", case_defaults },
        { "ucontext", case_ucontext },
    };
    for (int i = 1; i < argc; i++)
        for (unsigned k = 0; k < sizeof cases / sizeof cases[0]; k++)
            if (strcmp(argv[i], cases[k].name) == 0) { printf("== %s\n", argv[i]); hits = 0; cases[k].run(); }
    return 0;
}
