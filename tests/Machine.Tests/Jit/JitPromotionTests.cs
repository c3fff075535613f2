using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Two compiles per hot region (MachineOptions.JitPromoteAfter): quick code first (RyuJIT's MinOpts),
/// optimised again on a worker thread once it has retired its credit, and replaced between runs
/// of compiled code when that is ready. Which code runs, and when the swap lands, must change nothing
/// the guest sees.
/// </summary>
public class JitPromotionTests
{
    /// <summary>
    /// A loop over an array: a data-dependent choice among three functions on the next page (direct
    /// calls: regions of two pages, exits onto each other's blocks), a store back, and a count in r15.
    /// </summary>
    private static void Program(Assembler a)
    {
        Label top = a.CreateLabel(), second = a.CreateLabel(), called = a.CreateLabel();
        Label f0 = a.CreateLabel(), f1 = a.CreateLabel(), f2 = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rbx + rsi * 8]);
        a.imul(rax, rax, 0x3779B1);
        a.add(rax, rsi);
        a.mov(ecx, eax);
        a.shr(ecx, 7);
        a.and(ecx, 3);
        a.jne(second);
        a.call(f0);
        a.jmp(called);
        a.Label(ref second);
        a.cmp(ecx, 2);
        a.jae(called);
        a.call(f1);
        a.Label(ref called);
        a.test(al, 4);
        a.je(top);   // a second way round the loop, past no store
        a.call(f2);
        a.mov(__qword_ptr[rbx + rsi * 8], rax);
        a.inc(esi);
        a.and(esi, 511);
        a.dec(r15);
        a.jne(top);
        a.int3();
        a.db(Enumerable.Repeat((byte)0xCC, 4096).ToArray());
        a.Label(ref f0);
        a.rol(rax, 13);
        a.xor(r9, rax);
        a.ret();
        a.Label(ref f1);
        a.lea(r10, __qword_ptr[r10 + rax * 2 + 1]);
        a.sub(rax, r10);
        a.ret();
        a.Label(ref f2);
        a.add(r11, rax);
        a.bswap(rax);
        a.inc(rsi);
        a.ret();
    }

    private static CpuFixture Start(CpuFixture f)
    {
        var a = new Assembler(64);
        Program(a);
        f.LoadBytes(CpuFixture.Assembled(a));
        f[MReg.Rbx] = CpuFixture.DataBase;
        f[MReg.R15] = 1UL << 40;   // the loop outlasts every run here
        for (ulong k = 0; k < 512; k++) f.Machine.Memory.WriteU64(CpuFixture.DataPhys + k * 8, k * 0x9E3779B97F4A7C15);
        return f;
    }

    private const ulong Total = 3_000_000;

    /// <summary>Runs to <paramref name="total"/> instructions in slices of an odd size, so runs stop inside compiled loops, before, during and after the second compiles.</summary>
    private static void RunInSlices(CpuFixture f, ulong total)
    {
        while (f.Cpu.InstructionsRetired < total) f.Machine.Run(Math.Min(9_973, total - f.Cpu.InstructionsRetired));
    }

    private static bool IsQuick(Cpu.JitCode code) => ((Cpu.JitRegion)code.Target!).Quick;

    /// <summary>
    /// Quick code whose credit runs out is optimised again in the background and replaced when that is
    /// ready, whenever that is: the machine runs in slices until some has been replaced and none is
    /// pending, and ends where the interpreter ends after as many instructions. With promotion off no
    /// code is quick; with a credit too large to spend all code stays quick; both agree too.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(30)]
    [InlineData(1_000_000_000)]
    public void QuickAndPromotedCodeLeaveTheInterpretersState(int promoteAfter)
    {
        using var jit = Start(new CpuFixture(ExecutionTier.Jit, jitThreshold: 2, jitPromoteAfter: promoteAfter));
        RunInSlices(jit, Total);
        if (promoteAfter is > 0 and < 1_000_000_000)
        {
            jit.RunWhile(() => jit.Cpu.JitRegionsPromoted == 0 || jit.Cpu.JitReplacementsPending != 0);
            Assert.True(jit.Cpu.JitRegionsPromoted > 0, $"no quick code was replaced: {jit.Cpu.InstructionsRetired} retired, {jit.Cpu.JitReplacementsPending} pending, {jit.Cpu.JitBlocksCompiled} compiled, rip {jit.Cpu.Rip:x}");
            Assert.Equal(0, jit.Cpu.JitReplacementsPending);
            jit.Machine.Run(100_000);   // and the optimised code runs
        }
        using var interp = Start(new CpuFixture(ExecutionTier.Interp));
        interp.Machine.Run(jit.Cpu.InstructionsRetired);
        jit.AssertSameStateAs(interp);

        Cpu.JitCode[] live = [.. jit.Cpu.CompiledCode()];
        Assert.NotEmpty(live);
        Assert.True(jit.Cpu.JitEntries > 0);
        if (promoteAfter == 0) Assert.DoesNotContain(live, IsQuick);
        else if (promoteAfter == 1_000_000_000)
        {
            Assert.Equal(0, jit.Cpu.JitRegionsPromoted);
            Assert.All(live, c => Assert.True(IsQuick(c)));
        }
        else Assert.Contains(live, c => !IsQuick(c));
    }

    /// <summary>
    /// A write into the page of quick code drops it, its credit with it: the region compiles again
    /// (quick) when hot, and the results are the interpreter's.
    /// </summary>
    [Fact]
    public void QuickCodeDroppedByAWriteToItsPageCompilesAgain()
    {
        using var interp = Start(new CpuFixture(ExecutionTier.Interp));
        using var jit = Start(new CpuFixture(ExecutionTier.Jit, jitThreshold: 2, jitPromoteAfter: 1_000_000_000));
        using var unwritten = Start(new CpuFixture(ExecutionTier.Jit, jitThreshold: 2, jitPromoteAfter: 1_000_000_000));
        unwritten.Machine.Run(Total);
        foreach (var f in new[] { interp, jit })
        {
            f.Machine.Run(200_000);
            // An int3 of the padding after the loop becomes an int3 again: a write to the code page
            // that changes nothing but the compiled code's validity.
            f.Machine.Memory.WriteU8(CpuFixture.CodePhys + 0x100, 0xCC);
            f.Machine.Run(Total - f.Cpu.InstructionsRetired);
        }
        jit.AssertSameStateAs(interp);
        unwritten.AssertSameStateAs(interp);
        Assert.True(jit.Cpu.JitBlocksCompiled > unwritten.Cpu.JitBlocksCompiled, "the write dropped no compiled code");
        Assert.Equal(0, jit.Cpu.JitRegionsPromoted);
        Assert.All(jit.Cpu.CompiledCode(), c => Assert.True(IsQuick(c)));
    }
}
