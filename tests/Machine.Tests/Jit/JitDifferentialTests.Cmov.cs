using Iced.Intel;
using Lab.Machine.Cpu;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// cmovs compiled as a branch around a move (RegionCompiler.CmovAsBranch): those whose condition the
/// interpreter saw rarely flip, and those whose result becomes an address. Taken or not, each must
/// leave what the interpreter leaves: a 32-bit destination zero-extended either way, a 16-bit one
/// merged, a memory source read (and faulting) whatever the condition.
/// </summary>
public partial class JitDifferentialTests
{
    /// <summary>
    /// A loop of 300 passes, compiled after 64 (the interpreter profiles the cmovs first): a 32-bit
    /// cmov taken once (pass 100), a 16-bit one taken at the last pass, a 64-bit one from memory taken
    /// in the last four, and a heap's pick of the larger of two neighbours that indexes the next load.
    /// With <paramref name="fault"/>, the memory cmov's source is unmapped at pass 7 from the end,
    /// where its condition is false.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CmovsCompiledAsBranchesStayExact(bool fault)
    {
        var jit = CmovLoopOnBothTiers(fault, 50, a =>
        {
            a.mov(rdx, -1L);                          // upper half set: zero-extended taken or not
            a.cmp(ecx, 100);
            a.cmove(edx, ecx);
            a.add(r8, rdx);
            a.mov(r9, 0x1111_2222_3333_4444);
            a.cmp(ecx, 2);
            a.cmovb(r9w, cx);                         // a 16-bit merge
            a.add(r8, r9);
            a.mov(rdi, rsi);
            a.cmp(ecx, 7);
            a.cmove(rdi, r10);                        // the memory source's base: unmapped at pass 7 with a fault
            a.cmp(ecx, 5);
            a.cmovl(r11, __qword_ptr[rdi + rax * 8]); // read, and faulting, whatever the condition
            a.add(r12, r11);
            a.mov(r13d, eax);
            a.lea(r14d, __[rax + 1]);
            a.and(r14d, 63);
            a.mov(r15d, __dword_ptr[rsi + r13 * 4 + 0x200]);
            a.cmp(r15d, __dword_ptr[rsi + r14 * 4 + 0x200]);
            a.cmovl(r13d, r14d);                      // the larger neighbour's index
            a.movsxd(rbx, r13d);
            a.mov(edi, __dword_ptr[rsi + rbx * 4 + 0x200]);
            a.add(rbp, rdi);
        });
        Assert.True(jit.CmovBranches >= 4, $"{jit.CmovBranches} cmovs compiled as branches");
    }

    /// <summary>
    /// Branch-free cmovs in a loop of fourteen registers (RegionCompiler.EmitCmovXor): conditions that
    /// flip every pass or at random, a 32-bit destination zero-extended taken or not, a 16-bit one
    /// merged, 64- and 32-bit memory sources read whatever the condition, and with
    /// <paramref name="fault"/> the 64-bit one's source unmapped at pass 9 from the end.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CmovsWithoutTemporariesInACrowdedLoopStayExact(bool fault)
    {
        var jit = CmovLoopOnBothTiers(fault, 54, a =>
        {
            a.mov(edx, __dword_ptr[rsi + rax * 4]);   // random data
            a.mov(r9, -1L);                           // upper half set: zero-extended taken or not
            a.test(ecx, 1);
            a.cmovne(r9d, edx);                       // every other pass
            a.add(r8, r9);
            a.mov(r11, 0x1111_2222_3333_4444);
            a.cmp(edx, __dword_ptr[rsi + rax * 4 + 4]);
            a.cmovl(r11w, cx);                        // a 16-bit merge, at random
            a.xor(r12, r11);
            a.mov(rdi, rsi);
            a.cmp(ecx, 9);
            a.cmove(rdi, r10);                        // the memory source's base: unmapped at pass 9 with a fault
            a.test(edx, 4);
            a.cmovne(r13, __qword_ptr[rdi + rax * 8]);   // read, and faulting, whatever the condition
            a.add(r14, r13);
            a.test(edx, 0x100);
            a.cmove(r15d, __dword_ptr[rsi + rax * 4 + 0x100]);
            a.add(rbx, r15);
            a.rol(rbp, 7);
            a.xor(rbp, rbx);
        }, r15: 0xAAAA_BBBB_CCCC_DDDD);
        Assert.True(jit.CmovXors >= 4, $"{jit.CmovXors} cmovs compiled without temporaries, {jit.CmovBranches} as branches");
    }

    /// <summary>
    /// A loop of 300 passes around <paramref name="body"/> (ecx counts down; eax = ecx &amp; 63; rsi the
    /// data page of bytes from <paramref name="seed"/>; r10 its address, or with <paramref name="fault"/>
    /// an unmapped one), run on both tiers, the JIT compiling after 64 passes (the interpreter profiles
    /// the cmovs first) and optimised at once: both must end alike, at the page fault or the final int3.
    /// Returns the JIT's outcome.
    /// </summary>
    private static Outcome CmovLoopOnBothTiers(bool fault, int seed, Action<Assembler> body, ulong r15 = 0)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel();
        a.mov(ecx, 300);
        a.mov(r10, fault ? 0x640000UL : CpuFixture.DataBase);
        a.Label(ref top);
        a.mov(eax, ecx);
        a.and(eax, 63);
        body(a);
        a.dec(ecx);
        a.jne(top);
        a.int3();
        var regs = new ulong[16];
        regs[4] = CpuFixture.StackTop;
        regs[6] = CpuFixture.DataBase;            // rsi
        regs[15] = r15;
        var data = new byte[0x1000];
        new Random(seed).NextBytes(data);
        var p = new Program(CpuFixture.Assembled(a), regs, 0x202, data, "");
        var interp = RunOnce(ExecutionTier.Interp, p);
        var jit = RunOnce(ExecutionTier.Jit, p, jitThreshold: 64, promoteAfter: 0);
        Assert.Null(interp.Diff(jit));
        Assert.Equal(fault ? "PageFault" : "Breakpoint", interp.Trap.Split(' ')[0]);
        return jit;
    }
}
