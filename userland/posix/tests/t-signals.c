/* Signals through this libc: sigaction handlers (plain and SA_SIGINFO), masks and pending
 * signals, sigsuspend, SA_RESETHAND, SIGCHLD, alarm+pause, a SIGSEGV handler leaving by
 * siglongjmp, process groups and kill of a group. Same output natively and on Lab. */
#include "t.h"
#include <setjmp.h>
#include <sys/time.h>

static volatile sig_atomic_t hits, last_sig, last_code, last_pid;

static void on_usr(int sig) { hits++; last_sig = sig; }
static void on_info(int sig, siginfo_t *si, void *uc) { hits++; last_sig = si->si_signo; last_code = si->si_code; last_pid = si->si_pid; (void)sig; (void)uc; }

static sigjmp_buf escape;
static void on_segv(int sig) { (void)sig; siglongjmp(escape, 7); }

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr;
    CHECK(sigaction(SIGUSR1, &sa, 0) == 0);
    CHECK(raise(SIGUSR1) == 0);
    CHECK(hits == 1 && last_sig == SIGUSR1);
    pass("signals-handler-runs-and-returns");

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_info;
    sa.sa_flags = SA_SIGINFO;
    CHECK(sigaction(SIGUSR2, &sa, 0) == 0);
    CHECK(kill(getpid(), SIGUSR2) == 0);
    CHECK(hits == 2 && last_sig == SIGUSR2 && last_code == SI_USER && last_pid == getpid());
    pass("signals-siginfo-names-the-sender");

    sigset_t block, old, pending;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    CHECK(sigprocmask(SIG_BLOCK, &block, &old) == 0);
    CHECK(!sigismember(&old, SIGUSR1));
    raise(SIGUSR1);
    CHECK(hits == 2);
    CHECK(sigpending(&pending) == 0 && sigismember(&pending, SIGUSR1) == 1);
    CHECK(sigprocmask(SIG_SETMASK, &old, 0) == 0);
    CHECK(hits == 3);
    CHECK(sigpending(&pending) == 0 && sigismember(&pending, SIGUSR1) == 0);
    pass("signals-blocked-stay-pending-until-unblocked");

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr;
    sa.sa_flags = SA_RESETHAND;
    CHECK(sigaction(SIGHUP, &sa, 0) == 0);
    raise(SIGHUP);
    struct sigaction now;
    CHECK(sigaction(SIGHUP, 0, &now) == 0 && now.sa_handler == SIG_DFL);
    pass("signals-sa-resethand");

    CHECK(signal(SIGCHLD, on_usr) != SIG_ERR);
    sigprocmask(SIG_BLOCK, &(sigset_t){ 1UL << (SIGCHLD - 1) }, &old);
    int before = hits;
    pid_t child = fork();
    if (child == 0) _exit(5);
    sigset_t wait_mask = old;
    sigdelset(&wait_mask, SIGCHLD);
    while (hits == before) sigsuspend(&wait_mask);
    CHECK(last_sig == SIGCHLD);
    int st = wait_for(child);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 5);
    sigprocmask(SIG_SETMASK, &old, 0);
    signal(SIGCHLD, SIG_DFL);
    pass("signals-sigchld-wakes-sigsuspend");

    CHECK(signal(SIGALRM, on_usr) != SIG_ERR);
    before = hits;
    alarm(1);
    CHECK_ERR(pause(), EINTR);
    CHECK(hits == before + 1 && last_sig == SIGALRM);
    struct itimerval it = { { 0, 0 }, { 0, 20000 } };
    CHECK(setitimer(ITIMER_REAL, &it, 0) == 0);
    CHECK_ERR(pause(), EINTR);
    CHECK(hits == before + 2);
    pass("signals-alarm-and-itimer-interrupt-pause");

    signal(SIGSEGV, on_segv);
    int jumped = sigsetjmp(escape, 1);
    if (jumped == 0) {
        volatile int *volatile wild = (volatile int *)8;
        *wild = 1;
        CHECK(!"the store to address 8 did not fault");
    }
    CHECK(jumped == 7);
    pass("signals-segv-handler-leaves-by-siglongjmp");

    CHECK(getpgrp() == getpgid(0));
    child = fork();
    if (child == 0) {
        CHECK(setpgid(0, 0) == 0);
        CHECK(getpgrp() == getpid());
        pause();
        _exit(0);
    }
    setpgid(child, child);                 /* both sides set it: no race with the kill below */
    CHECK(getpgid(child) == child);
    CHECK(killpg(child, SIGTERM) == 0);
    st = wait_for(child);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
    pass("signals-kill-a-process-group");

    child = fork();
    if (child == 0) {
        pid_t sid = setsid();
        CHECK(sid == getpid() && getsid(0) == sid && getpgrp() == sid);
        _exit(0);
    }
    st = wait_for(child);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    pass("signals-setsid-makes-a-new-session");
    printf("%s|%s\n", strsignal(SIGINT), strsignal(SIGSEGV));
    return 0;
}
