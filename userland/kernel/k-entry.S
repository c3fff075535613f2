# Lab's WeensyOS kernel: entry from the boot loader, the 256 trap stubs, and the return to a process.
# Written for this project.

        .text

# entry_from_boot: the boot loader (or a soft reboot) jumps here with interrupts off. Take the
# kernel stack, clear the flags, and call kernel(command): with the multiboot magic in eax and a
# command line (flag bit 2) in the info block ebx points at, command is that string, else NULL.
        .globl entry_from_boot
entry_from_boot:
        movq $0x80000, %rsp
        xorl %ebp, %ebp
        pushq $0
        popfq
        xorl %edi, %edi
        cmpl $0x2BADB002, %eax
        jne 1f
        testl $4, (%rbx)
        jz 1f
        movl 16(%rbx), %edi
1:      jmp kernel

# Trap stubs, one per vector, TRAP_STUB_SIZE (16) bytes apart so the IDT setup can compute their
# addresses. Each leaves the same frame: a zero error code when the CPU pushes none, then the vector.
        .balign 16
        .globl trap_stubs
trap_stubs:
        .set vector, 0
        .rept 256
        .balign 16
        .if (vector == 8) || ((vector >= 10) && (vector <= 14)) || (vector == 17) || (vector == 21)
        .else
        pushq $0
        .endif
        pushq $vector
        jmp trap_common
        .set vector, vector + 1
        .endr

# Save the rest of the registers as a `regs` (rax lowest) and hand it to exception(), which
# never returns here: it resumes a process through exception_return.
trap_common:
        pushq %gs
        pushq %fs
        pushq %r15
        pushq %r14
        pushq %r13
        pushq %r12
        pushq %r11
        pushq %r10
        pushq %r9
        pushq %r8
        pushq %rdi
        pushq %rsi
        pushq %rbp
        pushq %rbx
        pushq %rdx
        pushq %rcx
        pushq %rax
        movq %rsp, %rdi
        cld
        call exception
2:      hlt
        jmp 2b

# exception_return(regs* r): load every register from *r and iretq into it.
        .globl exception_return
exception_return:
        movq %rdi, %rsp
        popq %rax
        popq %rcx
        popq %rdx
        popq %rbx
        popq %rbp
        popq %rsi
        popq %rdi
        popq %r8
        popq %r9
        popq %r10
        popq %r11
        popq %r12
        popq %r13
        popq %r14
        popq %r15
        popq %fs
        popq %gs
        addq $16, %rsp          # vector and error code
        iretq
