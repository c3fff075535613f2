#ifndef _SIGNAL_H
#define _SIGNAL_H
#include <sys/types.h>
/* Linux x86-64 signal numbers and the kernel's sigaction/siginfo layouts (asm/signal.h,
 * asm-generic/siginfo.h); Kernel/Posix/Linux.cs has the same numbers and a test compares them. */
#define SIGHUP 1
#define SIGINT 2
#define SIGQUIT 3
#define SIGILL 4
#define SIGTRAP 5
#define SIGABRT 6
#define SIGIOT 6
#define SIGBUS 7
#define SIGFPE 8
#define SIGKILL 9
#define SIGUSR1 10
#define SIGSEGV 11
#define SIGUSR2 12
#define SIGPIPE 13
#define SIGALRM 14
#define SIGTERM 15
#define SIGSTKFLT 16
#define SIGCHLD 17
#define SIGCONT 18
#define SIGSTOP 19
#define SIGTSTP 20
#define SIGTTIN 21
#define SIGTTOU 22
#define SIGURG 23
#define SIGXCPU 24
#define SIGXFSZ 25
#define SIGVTALRM 26
#define SIGPROF 27
#define SIGWINCH 28
#define SIGIO 29
#define SIGPOLL SIGIO
#define SIGPWR 30
#define SIGSYS 31
#define NSIG 65
#define _NSIG 65

typedef int sig_atomic_t;
/* One bit per signal 1..64 (bit sig-1): the kernel's own sigset, 8 bytes. */
typedef struct { unsigned long __bits; } sigset_t;

union sigval { int sival_int; void *sival_ptr; };
/* Linux's 128-byte siginfo: the fields a course program reads, at the kernel's offsets. */
typedef struct {
    int si_signo, si_errno, si_code;
    int __pad;
    union {
        struct { pid_t si_pid; uid_t si_uid; int si_status; } __kill;   /* kill, SIGCHLD */
        void *si_addr;                                                 /* SIGSEGV, SIGBUS, SIGFPE */
        struct { int si_tid, si_overrun; union sigval si_value; } __timer;
        char __pad_to_128[112];
    } __u;
} siginfo_t;
#define si_pid __u.__kill.si_pid
#define si_uid __u.__kill.si_uid
#define si_status __u.__kill.si_status
#define si_addr __u.si_addr
#define si_value __u.__timer.si_value

/* si_code values */
#define SI_USER 0
#define SI_KERNEL 0x80
#define SI_TKILL (-6)
#define CLD_EXITED 1
#define CLD_KILLED 2
#define CLD_DUMPED 3
#define CLD_TRAPPED 4
#define CLD_STOPPED 5
#define CLD_CONTINUED 6
#define SEGV_MAPERR 1
#define SEGV_ACCERR 2

typedef void (*sighandler_t)(int);
#define SIG_DFL ((sighandler_t)0)
#define SIG_IGN ((sighandler_t)1)
#define SIG_ERR ((sighandler_t)-1)

struct sigaction {
    union { sighandler_t sa_handler; void (*sa_sigaction)(int, siginfo_t *, void *); } __sa;
    unsigned long sa_flags;
    void (*sa_restorer)(void);
    sigset_t sa_mask;
};
#define sa_handler __sa.sa_handler
#define sa_sigaction __sa.sa_sigaction
#define SA_NOCLDSTOP 0x00000001
#define SA_NOCLDWAIT 0x00000002
#define SA_SIGINFO 0x00000004
#define SA_RESTORER 0x04000000
#define SA_ONSTACK 0x08000000
#define SA_RESTART 0x10000000
#define SA_NODEFER 0x40000000
#define SA_RESETHAND 0x80000000

#define SIG_BLOCK 0
#define SIG_UNBLOCK 1
#define SIG_SETMASK 2

typedef struct { void *ss_sp; int ss_flags; size_t ss_size; } stack_t;
#define SS_ONSTACK 1
#define SS_DISABLE 2
#define MINSIGSTKSZ 2048
#define SIGSTKSZ 8192

/* signal() installs a handler with BSD semantics (SA_RESTART), as glibc does. */
sighandler_t signal(int sig, sighandler_t handler);
int sigaction(int sig, const struct sigaction *act, struct sigaction *old);
int sigprocmask(int how, const sigset_t *set, sigset_t *old);
int sigpending(sigset_t *set);
int sigsuspend(const sigset_t *mask);
int sigaltstack(const stack_t *ss, stack_t *old);
int sigemptyset(sigset_t *set);
int sigfillset(sigset_t *set);
int sigaddset(sigset_t *set, int sig);
int sigdelset(sigset_t *set, int sig);
int sigismember(const sigset_t *set, int sig);
int kill(pid_t pid, int sig);
int killpg(pid_t pgrp, int sig);
int raise(int sig);
char *strsignal(int sig);
void psignal(int sig, const char *s);
#endif
