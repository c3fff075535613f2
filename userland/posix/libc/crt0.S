/* Process entry: the System V x86-64 initial stack holds argc, argv[], NULL, envp[], NULL, auxv. */
    .text
    .globl _start
    .type _start, @function
_start:
    xor %ebp, %ebp
    mov (%rsp), %rdi
    lea 8(%rsp), %rsi
    lea 16(%rsp,%rdi,8), %rdx
    and $-16, %rsp
    call __libc_start
    hlt
    .section .note.GNU-stack,"",@progbits
