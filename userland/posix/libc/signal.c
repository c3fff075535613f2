/* Signals: sigaction with Linux's kernel layout and the rt_sigreturn trampoline, masks, sets,
 * setjmp/longjmp. A handler runs on the user stack in a frame the kernel builds; when it returns it
 * lands in __restore_rt, which asks the kernel (rt_sigreturn) to put back the interrupted state. */
#include "sys.h"
#include <signal.h>
#include <setjmp.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

/* The trampoline every handler returns to: it must not touch the stack (the kernel's frame is
 * there), so it is two instructions of assembly. */
void __restore_rt(void);
#define __STR(x) #x
#define __XSTR(x) __STR(x)
__asm__(".text\n.globl __restore_rt\n.type __restore_rt,@function\n"
        "__restore_rt:\n\tmov $" __XSTR(SYS_rt_sigreturn) ", %eax\n\tsyscall\n\thlt\n");

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    struct sigaction k;
    if (act) {
        k = *act;
        k.sa_flags |= SA_RESTORER;
        k.sa_restorer = __restore_rt;
        act = &k;
    }
    return (int)__ret(__sc4(SYS_rt_sigaction, sig, act, old, sizeof(sigset_t)));
}

sighandler_t signal(int sig, sighandler_t handler)
{
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    act.sa_flags = SA_RESTART;
    if (sigaction(sig, &act, &old) < 0) return SIG_ERR;
    return old.sa_handler;
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    return (int)__ret(__sc4(SYS_rt_sigprocmask, how, set, old, sizeof(sigset_t)));
}
int sigpending(sigset_t *set) { return (int)__ret(__sc2(SYS_rt_sigpending, set, sizeof(sigset_t))); }
int sigsuspend(const sigset_t *mask) { return (int)__ret(__sc2(SYS_rt_sigsuspend, mask, sizeof(sigset_t))); }
int sigaltstack(const stack_t *ss, stack_t *old) { return (int)__ret(__sc2(SYS_sigaltstack, ss, old)); }
int pause(void) { return (int)__ret(__sc0(SYS_pause)); }
unsigned alarm(unsigned seconds) { return (unsigned)__sc1(SYS_alarm, seconds); }

static int valid(int sig) { if (sig < 1 || sig >= NSIG) { errno = EINVAL; return 0; } return 1; }
int sigemptyset(sigset_t *set) { set->__bits = 0; return 0; }
int sigfillset(sigset_t *set) { set->__bits = ~0UL; return 0; }
int sigaddset(sigset_t *set, int sig) { if (!valid(sig)) return -1; set->__bits |= 1UL << (sig - 1); return 0; }
int sigdelset(sigset_t *set, int sig) { if (!valid(sig)) return -1; set->__bits &= ~(1UL << (sig - 1)); return 0; }
int sigismember(const sigset_t *set, int sig) { if (!valid(sig)) return -1; return (set->__bits >> (sig - 1)) & 1; }

int killpg(pid_t pgrp, int sig) { if (pgrp < 0) { errno = EINVAL; return -1; } return kill(-pgrp, sig); }

/* Linux's names, as glibc's strsignal prints them. */
static const char *const signames[32] = {
    [SIGHUP] = "Hangup", [SIGINT] = "Interrupt", [SIGQUIT] = "Quit", [SIGILL] = "Illegal instruction",
    [SIGTRAP] = "Trace/breakpoint trap", [SIGABRT] = "Aborted", [SIGBUS] = "Bus error",
    [SIGFPE] = "Floating point exception", [SIGKILL] = "Killed", [SIGUSR1] = "User defined signal 1",
    [SIGSEGV] = "Segmentation fault", [SIGUSR2] = "User defined signal 2", [SIGPIPE] = "Broken pipe",
    [SIGALRM] = "Alarm clock", [SIGTERM] = "Terminated", [SIGSTKFLT] = "Stack fault",
    [SIGCHLD] = "Child exited", [SIGCONT] = "Continued", [SIGSTOP] = "Stopped (signal)",
    [SIGTSTP] = "Stopped", [SIGTTIN] = "Stopped (tty input)", [SIGTTOU] = "Stopped (tty output)",
    [SIGURG] = "Urgent I/O condition", [SIGXCPU] = "CPU time limit exceeded",
    [SIGXFSZ] = "File size limit exceeded", [SIGVTALRM] = "Virtual timer expired",
    [SIGPROF] = "Profiling timer expired", [SIGWINCH] = "Window changed", [SIGIO] = "I/O possible",
    [SIGPWR] = "Power failure", [SIGSYS] = "Bad system call",
};
char *strsignal(int sig)
{
    static char buf[32];
    if (sig > 0 && sig < 32 && signames[sig]) return (char *)signames[sig];
    snprintf(buf, sizeof buf, "Unknown signal %d", sig);
    return buf;
}
void psignal(int sig, const char *s)
{
    if (s && *s) fprintf(stderr, "%s: %s\n", s, strsignal(sig));
    else fprintf(stderr, "%s\n", strsignal(sig));
}

/* setjmp/longjmp: the callee-saved registers, the stack pointer after return and the return
 * address. longjmp(env, 0) returns 1, as C requires. */
__asm__(".text\n"
        ".globl setjmp\n.type setjmp,@function\n.globl _setjmp\n.type _setjmp,@function\n"
        "setjmp:\n_setjmp:\n"
        "\tmov %rbx, 0(%rdi)\n\tmov %rbp, 8(%rdi)\n\tmov %r12, 16(%rdi)\n\tmov %r13, 24(%rdi)\n"
        "\tmov %r14, 32(%rdi)\n\tmov %r15, 40(%rdi)\n\tlea 8(%rsp), %rdx\n\tmov %rdx, 48(%rdi)\n"
        "\tmov (%rsp), %rdx\n\tmov %rdx, 56(%rdi)\n\txor %eax, %eax\n\tret\n"
        ".globl longjmp\n.type longjmp,@function\n.globl _longjmp\n.type _longjmp,@function\n"
        "longjmp:\n_longjmp:\n"
        "\tmov %esi, %eax\n\ttest %eax, %eax\n\tjnz 1f\n\tinc %eax\n1:\n"
        "\tmov 0(%rdi), %rbx\n\tmov 8(%rdi), %rbp\n\tmov 16(%rdi), %r12\n\tmov 24(%rdi), %r13\n"
        "\tmov 32(%rdi), %r14\n\tmov 40(%rdi), %r15\n\tmov 48(%rdi), %rsp\n\tjmp *56(%rdi)\n");

int __sigsetjmp_save(sigjmp_buf env, int savemask)
{
    env->__saved = savemask;
    if (savemask) sigprocmask(SIG_BLOCK, 0, &env->__mask);
    return 0;
}
void siglongjmp(sigjmp_buf env, int val)
{
    if (env->__saved) sigprocmask(SIG_SETMASK, &env->__mask, 0);
    longjmp(env, val);
}
