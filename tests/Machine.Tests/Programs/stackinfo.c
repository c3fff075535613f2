/* Reports what the initial process stack holds (argc, argv, envp, auxv) in a form that is the
   same natively and in the Machine: argv[0] and the environment are left out, they differ. */
#include "rt.h"

volatile u64 entry_rsp_mod16 __attribute__((used));
__asm__(".text\n.globl stack_start\nstack_start:\n    mov %rsp, %rax\n    and $15, %eax\n    mov %rax, entry_rsp_mod16(%rip)\n    jmp _start\n");

int main(int argc, char **argv)
{
    out_str("argc="); out_u64((u64)argc); out_nl();
    for (int i = 1; i < argc; i++) { out_str("argv["); out_u64((u64)i); out_str("]="); out_str(argv[i]); out_nl(); }
    out_str("argv[argc]="); out_str(argv[argc] ? "non-null" : "null"); out_nl();
    char **envp = argv + argc + 1;
    while (*envp) envp++;
    u64 *auxv = (u64 *)(envp + 1);
    u64 pagesz = 0, random = 0, n = 0;
    for (; auxv[0] != 0; auxv += 2, n++) {
        if (auxv[0] == 6) pagesz = auxv[1];
        if (auxv[0] == 25) random = auxv[1];
    }
    out_str("AT_PAGESZ="); out_u64(pagesz); out_nl();
    out_str("AT_RANDOM="); out_str(random ? "present" : "missing"); out_nl();
    if (random) {
        /* the 16 bytes are readable; fold them so the output does not depend on their value */
        const u8 *r = (const u8 *)random;
        u64 fold = 0;
        for (int i = 0; i < 16; i++) fold += r[i];
        volatile u64 sink = fold;
        (void)sink;
        out_str("AT_RANDOM readable\n");
    }
    out_str("rsp%16 at entry="); out_u64(entry_rsp_mod16); out_nl();
    return argc;
}
