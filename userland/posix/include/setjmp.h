#ifndef _SETJMP_H
#define _SETJMP_H
#include <signal.h>
/* rbx rbp r12 r13 r14 r15 rsp rip, then (sigjmp_buf) whether the mask was saved and the mask. */
typedef struct { unsigned long __regs[8]; int __saved; sigset_t __mask; } jmp_buf[1];
typedef jmp_buf sigjmp_buf;
int setjmp(jmp_buf env) __attribute__((returns_twice));
void longjmp(jmp_buf env, int val) __attribute__((noreturn));
int _setjmp(jmp_buf env) __attribute__((returns_twice));
void _longjmp(jmp_buf env, int val) __attribute__((noreturn));
/* sigsetjmp is a macro so that the registers saved are the caller's (setjmp must not return twice
 * through a frame that has gone). */
int __sigsetjmp_save(sigjmp_buf env, int savemask);
#define sigsetjmp(env, savemask) (__sigsetjmp_save((env), (savemask)), setjmp(env))
void siglongjmp(sigjmp_buf env, int val) __attribute__((noreturn));
#endif
