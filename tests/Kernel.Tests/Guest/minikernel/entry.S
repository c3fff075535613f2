# The mini kernel's entry: record the machine state the boot loader left, then run main on our own stack.
        .section .text.entry
        .globl entry
entry:
        movq %rsp, 0x30000 + 0
        pushfq
        popq 0x30000 + 8
        movw %cs, 0x30000 + 16
        movw %ss, 0x30000 + 18
        movw %ds, 0x30000 + 20
        movl %eax, 0x30000 + 24
        movq %cr0, %rax
        movq %rax, 0x30000 + 32
        movq %cr3, %rax
        movq %rax, 0x30000 + 40
        movq %cr4, %rax
        movq %rax, 0x30000 + 48
        movl $0xC0000080, %ecx
        rdmsr
        movl %eax, 0x30000 + 56
        sgdt 0x30000 + 64
        movq $0x80000, %rsp
        call kernel_main
1:      hlt
        jmp 1b
