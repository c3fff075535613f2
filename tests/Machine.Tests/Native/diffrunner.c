/*
 * diffrunner: executes batches of small x86-64 instruction sequences natively, for the Machine's
 * differential tests (tests/Machine.Tests/Differential).
 *
 * Usage: diffrunner INPUT OUTPUT
 *
 * For each case: the code bytes go to a fixed RWX page at CODE_ADDR (the rest of the page is int3),
 * the data area at DATA_ADDR is zeroed and the case's initial bytes are copied in, then all 16 GPRs
 * (rsp too, which may point into the data area), RFLAGS (popfq) and XMM0-15 are loaded and the code
 * runs until it traps: normally the final int3 (SIGTRAP), or a fault (#DE SIGFPE, #UD SIGILL,
 * #GP/#PF SIGSEGV). The GS base is DATA_ADDR, so gs: operands address the data area. The signal handler runs on an alternate stack, copies the state out of the
 * ucontext and siglongjmps back, so one process runs thousands of cases.
 *
 * Input (little-endian): "DIFI", u32 count, then per case:
 *   u64 gpr[16] (rax..r15 encoding order), u64 rflags, u8 xmm[16][16],
 *   u32 code_len, u32 data_off, u32 data_len, code bytes, data bytes.
 * Output: "DIFO", u32 count, then per case:
 *   u32 signo, u32 trapno, u64 err, u64 cr2, u64 gpr[16], u64 rip, u64 rflags, u8 xmm[16][16],
 *   u32 range_count, then per range of changed data bytes: u32 offset, u32 length, bytes.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/prctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* Above the first GiB, where Linux randomises a non-PIE program's heap (it once took 0x20000000), below 2 GiB for disp32. */
#define CODE_ADDR 0x50000000UL
#define CODE_SIZE 0x1000UL
#define DATA_ADDR 0x60000000UL
#define DATA_SIZE 0x2000UL

/* Only status flags and DF may be set by a case: TF or AC would change what the code does. */
#define FLAGS_ALLOWED 0xCD5UL

struct guest_in {
    uint64_t gpr[16];
    uint64_t rflags;
    uint8_t xmm[16][16];
};

struct guest_in g_in;                   /* read by enter_guest (RIP-relative) */
uint64_t g_code_addr = CODE_ADDR;

static struct {
    uint32_t signo, trapno;
    uint64_t err, cr2;
    uint64_t gpr[16];
    uint64_t rip, rflags;
    uint8_t xmm[16][16];
} g_out;

static sigjmp_buf g_env;
static uint8_t g_data_init[DATA_SIZE];

void enter_guest(void);

/* Loads the guest state and jumps to the code. Never returns: the code ends in a trap. Everything
 * is addressed RIP-relative through globals, so no register is needed once rsp is replaced. popfq
 * comes first (it still uses the host stack); the movs after it do not change flags.
 * cpuid first: the case's code was just written, and if this thread moved to another CPU since,
 * that CPU may still hold the old bytes decoded (cross-modifying code needs a serializing
 * instruction on the executing CPU; a return to user mode through sysret is none). Without it, one
 * case in some thousands ran the previous case's bytes (pop rsp; int3 trapped #UD at the int3). */
__asm__(
    ".text\n"
    ".globl enter_guest\n"
    "enter_guest:\n"
    "  xorl %eax, %eax\n"
    "  cpuid\n"
    "  movdqu g_in+136+0*16(%rip), %xmm0\n"
    "  movdqu g_in+136+1*16(%rip), %xmm1\n"
    "  movdqu g_in+136+2*16(%rip), %xmm2\n"
    "  movdqu g_in+136+3*16(%rip), %xmm3\n"
    "  movdqu g_in+136+4*16(%rip), %xmm4\n"
    "  movdqu g_in+136+5*16(%rip), %xmm5\n"
    "  movdqu g_in+136+6*16(%rip), %xmm6\n"
    "  movdqu g_in+136+7*16(%rip), %xmm7\n"
    "  movdqu g_in+136+8*16(%rip), %xmm8\n"
    "  movdqu g_in+136+9*16(%rip), %xmm9\n"
    "  movdqu g_in+136+10*16(%rip), %xmm10\n"
    "  movdqu g_in+136+11*16(%rip), %xmm11\n"
    "  movdqu g_in+136+12*16(%rip), %xmm12\n"
    "  movdqu g_in+136+13*16(%rip), %xmm13\n"
    "  movdqu g_in+136+14*16(%rip), %xmm14\n"
    "  movdqu g_in+136+15*16(%rip), %xmm15\n"
    "  pushq g_in+128(%rip)\n"
    "  popfq\n"
    "  movq g_in+0*8(%rip), %rax\n"
    "  movq g_in+1*8(%rip), %rcx\n"
    "  movq g_in+2*8(%rip), %rdx\n"
    "  movq g_in+3*8(%rip), %rbx\n"
    "  movq g_in+5*8(%rip), %rbp\n"
    "  movq g_in+6*8(%rip), %rsi\n"
    "  movq g_in+7*8(%rip), %rdi\n"
    "  movq g_in+8*8(%rip), %r8\n"
    "  movq g_in+9*8(%rip), %r9\n"
    "  movq g_in+10*8(%rip), %r10\n"
    "  movq g_in+11*8(%rip), %r11\n"
    "  movq g_in+12*8(%rip), %r12\n"
    "  movq g_in+13*8(%rip), %r13\n"
    "  movq g_in+14*8(%rip), %r14\n"
    "  movq g_in+15*8(%rip), %r15\n"
    "  movq g_in+4*8(%rip), %rsp\n"
    "  jmp *g_code_addr(%rip)\n");

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
    (void)si;
    /* A case that popped AC must not make the handler's own unaligned accesses fault. */
    __asm__ volatile("pushfq; andq $~0x40000, (%%rsp); popfq" ::: "memory", "cc");
    ucontext_t *uc = ctx;
    greg_t *g = uc->uc_mcontext.gregs;
    static const int order[16] = {
        REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
        REG_R8, REG_R9, REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
    };
    g_out.signo = (uint32_t)sig;
    g_out.trapno = (uint32_t)g[REG_TRAPNO];
    g_out.err = (uint64_t)g[REG_ERR];
    g_out.cr2 = (uint64_t)g[REG_CR2];
    for (int i = 0; i < 16; i++) g_out.gpr[i] = (uint64_t)g[order[i]];
    g_out.rip = (uint64_t)g[REG_RIP];
    g_out.rflags = (uint64_t)g[REG_EFL];
    if (uc->uc_mcontext.fpregs)
        memcpy(g_out.xmm, uc->uc_mcontext.fpregs->_xmm, sizeof g_out.xmm);
    else
        memset(g_out.xmm, 0, sizeof g_out.xmm);
    siglongjmp(g_env, 1);
}

static void die(const char *msg)
{
    fprintf(stderr, "diffrunner: %s\n", msg);
    exit(2);
}

static void read_exact(FILE *f, void *p, size_t n)
{
    if (n && fread(p, 1, n, f) != n) die("truncated input");
}

static void write_all(FILE *f, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, f) != n) die("write failed");
}

int main(int argc, char **argv)
{
    if (argc != 3) die("usage: diffrunner INPUT OUTPUT");
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (!in || !out) die("cannot open input or output");
    static char outbuf[1 << 20];
    setvbuf(out, outbuf, _IOFBF, sizeof outbuf);

    uint8_t *code = mmap((void *)CODE_ADDR, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    uint8_t *data = mmap((void *)DATA_ADDR, DATA_SIZE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (code != (uint8_t *)CODE_ADDR || data != (uint8_t *)DATA_ADDR) die("cannot map the fixed code/data areas");

    /* GS-relative operands address the data area (glibc uses only FS, so GS is free). */
    if (syscall(SYS_arch_prctl, ARCH_SET_GS, DATA_ADDR) != 0) die("arch_prctl(ARCH_SET_GS)");

    stack_t ss = { .ss_sp = malloc(1 << 16), .ss_size = 1 << 16, .ss_flags = 0 };
    if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0) die("sigaltstack");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_trap;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    int sigs[] = { SIGTRAP, SIGFPE, SIGSEGV, SIGILL, SIGBUS };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0) die("sigaction");

    char magic[4];
    uint32_t count;
    read_exact(in, magic, 4);
    read_exact(in, &count, 4);
    if (memcmp(magic, "DIFI", 4) != 0) die("bad input magic");
    write_all(out, "DIFO", 4);
    write_all(out, &count, 4);

    for (uint32_t c = 0; c < count; c++) {
        struct guest_in gi;
        uint32_t hdr[3];
        read_exact(in, &gi, sizeof gi);
        read_exact(in, hdr, sizeof hdr);
        uint32_t code_len = hdr[0], data_off = hdr[1], data_len = hdr[2];
        if (code_len > CODE_SIZE || data_off > DATA_SIZE || data_len > DATA_SIZE - data_off) die("case too large");
        memset(code, 0xCC, CODE_SIZE);
        read_exact(in, code, code_len);
        memset(g_data_init, 0, DATA_SIZE);
        read_exact(in, g_data_init + data_off, data_len);
        memcpy(data, g_data_init, DATA_SIZE);
        gi.rflags = (gi.rflags & FLAGS_ALLOWED) | 2;
        g_in = gi;
        memset(&g_out, 0, sizeof g_out);
        if (getenv("DIFFRUNNER_TRACE")) { fprintf(stderr, "case %u\n", c); fflush(stderr); }

        if (sigsetjmp(g_env, 1) == 0) enter_guest();
        /* siglongjmp does not restore RFLAGS: make sure AC (alignment checks) and DF are clear again. */
        __asm__ volatile("pushfq; andq $~0x40400, (%%rsp); popfq" ::: "memory", "cc");

        write_all(out, &g_out, sizeof g_out);
        /* Changed data bytes as ranges: the caller rebuilds the final image from its initial one. */
        uint32_t nranges = 0;
        for (uint32_t i = 0; i < DATA_SIZE;) {
            if (data[i] == g_data_init[i]) { i++; continue; }
            uint32_t j = i;
            while (j < DATA_SIZE && data[j] != g_data_init[j]) j++;
            nranges++;
            i = j;
        }
        write_all(out, &nranges, 4);
        for (uint32_t i = 0; i < DATA_SIZE;) {
            if (data[i] == g_data_init[i]) { i++; continue; }
            uint32_t j = i;
            while (j < DATA_SIZE && data[j] != g_data_init[j]) j++;
            uint32_t r[2] = { i, j - i };
            write_all(out, r, sizeof r);
            write_all(out, data + i, j - i);
            i = j;
        }
    }
    if (fclose(out) != 0) die("write failed");
    return 0;
}
