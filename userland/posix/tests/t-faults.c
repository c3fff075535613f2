/* Bad programs: each user fault kills only the faulting process with Linux's signal status;
 * an endless loop is preempted and can be killed; garbage syscalls do not hurt the kernel. */
#include "t.h"

static int run_faulting(void (*fn)(void))
{
    pid_t p = fork();
    CHECK(p >= 0);
    if (p == 0) { fn(); _exit(0); }
    return wait_for(p);
}

static void null_deref(void) { *(volatile int *)0 = 1; }
static void kernel_read(void) { (void)*(volatile long *)0xffff800000000000UL; }
static void write_text(void) { *(volatile char *)(void *)&write_text = 0; }
static void bad_opcode(void) { __asm__ volatile("ud2"); }
static void divide_zero(void) { volatile int z = 0; volatile int x = 5 / z; (void)x; }
static void privileged(void) { __asm__ volatile("hlt"); }
static void jump_void(void) { ((void (*)(void))0x7ff000000000UL)(); }
static void stack_smash(void) { __asm__ volatile("mov $0x10, %%rsp; push %%rax" ::: "memory"); }

static void expect_signal(const char *name, void (*fn)(void), int sig)
{
    int st = run_faulting(fn);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != sig) {
        fprintf(stderr, "FAIL %s: status 0x%x, want signal %d\n", name, st, sig);
        printf("FAIL %s\n", name);
        exit(1);
    }
    pass(name);
}

int main(void)
{
    expect_signal("fault-null-deref-sigsegv", null_deref, SIGSEGV);
    expect_signal("fault-kernel-address-sigsegv", kernel_read, SIGSEGV);
    expect_signal("fault-write-text-sigsegv", write_text, SIGSEGV);
    expect_signal("fault-invalid-opcode-sigill", bad_opcode, SIGILL);
    expect_signal("fault-divide-error-sigfpe", divide_zero, SIGFPE);
    expect_signal("fault-privileged-instruction-sigsegv", privileged, SIGSEGV);
    expect_signal("fault-jump-into-void-sigsegv", jump_void, SIGSEGV);
    expect_signal("fault-bad-stack-sigsegv", stack_smash, SIGSEGV);

    /* the parent is unaffected: it still forks and waits */
    pid_t p = fork();
    CHECK(p >= 0);
    if (p == 0) _exit(12);
    CHECK(exit_code_of(p) == 12);
    pass("fault-only-kills-the-faulting-process");

    /* an endless loop is preempted: the parent runs and kills it */
    int ready[2];
    CHECK(pipe(ready) == 0);
    p = fork();
    CHECK(p >= 0);
    if (p == 0) {
        write(ready[1], "r", 1);
        for (volatile unsigned long i = 0;; i++) {}
    }
    char c;
    CHECK(read(ready[0], &c, 1) == 1);
    for (int i = 0; i < 10; i++) sched_yield();
    CHECK(kill(p, SIGKILL) == 0);
    int st = wait_for(p);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    close(ready[0]); close(ready[1]);
    pass("fault-endless-loop-preempted");

    /* garbage arguments to every syscall (Lab only: on the host they could touch real files) */
    if (on_lab()) {
        p = fork();
        CHECK(p >= 0);
        if (p == 0) {
            static const long nums[] = { 0, 1, 2, 3, 4, 5, 8, 12, 13, 22, 24, 32, 33, 35, 39, 61, 87,
                                         110, 217, 228, 1000, 1003, 500, 999, 1002 + 100, -1 };
            static const long junk[] = { 0, 1, -1, 8, 0x7, 0xffff800000000000L, 0x7fffffffffffL,
                                         0x1001, (long)0x8000000000000000UL, 4096 * 3 + 1, 0xdeadbeefL };
            srandom(1234);
            for (int round = 0; round < 400; round++) {
                long n = nums[random() % (sizeof nums / sizeof nums[0])];
                long a[6];
                for (int i = 0; i < 6; i++) a[i] = junk[random() % (sizeof junk / sizeof junk[0])];
                if (n == 3 || n == 33) a[0] = a[1] = 100 + (a[0] & 7);  /* keep stdio alive */
                if (n == 1) a[0] = 100;
                if (n == 12) continue;
                lab_syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
            }
            _exit(0);
        }
        st = wait_for(p);
        CHECK(WIFEXITED(st) || WIFSIGNALED(st));
        p = fork();
        CHECK(p >= 0);
        if (p == 0) _exit(13);
        CHECK(exit_code_of(p) == 13);
        pass("fault-garbage-syscalls");
    } else {
        skip("fault-garbage-syscalls", "Lab kernel only");
    }
    return 0;
}
