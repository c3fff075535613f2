using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Quick code counts its blocks' runs (JitRegion.BlockRuns), and the region's optimised compile keeps
/// in the register file the registers those runs show to be cold (RegionCompiler.ColdByRuns): a
/// harness's registers used once per pass of an outer loop whose inner loop does the work and crowds
/// the host's registers, one loop level out, where the loop depths alone keep them in locals.
/// </summary>
public class JitRunCountTests
{
    /// <summary>
    /// An outer loop (counted in r12) that uses r13 and r14 once a pass around an inner loop of 16
    /// passes over twelve registers (rax, rcx, rdx, rsi, rdi, rbx, rbp, r8..r11, r15): these crowd
    /// the host's, and r12..r14 would stay live through the inner loop in locals.
    /// </summary>
    private static CpuFixture Start(CpuFixture f)
    {
        var a = new Assembler(64);
        Label outer = a.CreateLabel(), inner = a.CreateLabel();
        a.Label(ref outer);
        a.add(r13, r12);
        a.mov(__qword_ptr[rsi + 0x800], r13);
        a.lea(r14, __[r14 + r13 * 2 + 1]);
        a.mov(ecx, 16);
        a.Label(ref inner);
        a.mov(eax, ecx);
        a.and(eax, 31);
        a.mov(edx, __dword_ptr[rsi + rax * 4]);
        a.lea(edi, __[rdx + rcx * 2]);
        a.imul(r9d, edi, 7);
        a.add(r10, r9);
        a.xor(r11, r10);
        a.rol(r11, 3);
        a.add(r8, r11);
        a.xor(rbx, r8);
        a.add(rbp, rbx);
        a.ror(r15, 1);
        a.add(r15, rbp);
        a.mov(__dword_ptr[rsi + rax * 4], r11d);
        a.dec(ecx);
        a.jne(inner);
        a.dec(r12);
        a.jne(outer);
        a.int3();
        f.LoadBytes(CpuFixture.Assembled(a));
        f[MReg.Rsi] = CpuFixture.DataBase + 0x400;
        f[MReg.R12] = 1UL << 40;   // the loop outlasts every run here
        return f;
    }

    /// <summary>
    /// With quick code (its runs counted) the promoted region keeps the outer loop's registers in the
    /// file; without (promotion off: no count, the loop depths decide) it keeps none. Either way the
    /// state is the interpreter's after as many instructions.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    public void RegistersTheCountShowsColdLiveInTheFile(int promoteAfter)
    {
        using var jit = Start(new CpuFixture(ExecutionTier.Jit, jitThreshold: 2, jitPromoteAfter: promoteAfter));
        jit.Machine.Run(2_000_000);
        if (promoteAfter > 0)
        {
            jit.RunWhile(() => jit.Cpu.JitRegionsPromoted == 0 || jit.Cpu.JitReplacementsPending != 0);
            Assert.True(jit.Cpu.JitRegionsPromoted > 0, $"no quick code was replaced: {jit.Cpu.InstructionsRetired} retired");
            Assert.Equal(0, jit.Cpu.JitReplacementsPending);
            Assert.True(jit.Cpu.JitRegistersInFile > 0, "the promoted code kept no register in the file");
            jit.Machine.Run(100_000);   // and the optimised code runs
        }
        else Assert.Equal(0, jit.Cpu.JitRegistersInFile);
        using var interp = Start(new CpuFixture(ExecutionTier.Interp));
        interp.Machine.Run(jit.Cpu.InstructionsRetired);
        jit.AssertSameStateAs(interp);
    }
}
