# Lab's WeensyOS kernel: the user programs, embedded as ELF files (built by ../Makefile; the
# Makefile passes the flavour's directory with -Wa,-I). Program numbers index this table.
        .section .rodata
        .balign 8
        .globl program_images
program_images:
        .quad p0, p0_end, p1, p1_end, p2, p2_end, p3, p3_end, p4, p4_end, p5, p5_end, p6, p6_end

        .balign 16
p0:     .incbin "p-allocator.elf"
p0_end:
        .balign 16
p1:     .incbin "p-allocator2.elf"
p1_end:
        .balign 16
p2:     .incbin "p-allocator3.elf"
p2_end:
        .balign 16
p3:     .incbin "p-allocator4.elf"
p3_end:
        .balign 16
p4:     .incbin "p-fork.elf"
p4_end:
        .balign 16
p5:     .incbin "p-forkexit.elf"
p5_end:
        .balign 16
p6:     .incbin "p-privileged.elf"
p6_end:
