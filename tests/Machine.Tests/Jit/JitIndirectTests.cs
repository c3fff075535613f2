using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>Indirect calls whose targets compiled code learns after it was compiled (Cpu.NoteIndirectMiss).</summary>
public class JitIndirectTests
{
    /// <summary>
    /// A loop calls through a register: f1 only while r14 is 0, then f1 and f2 in turn (a sort handed
    /// one comparator, then another). The loop's code was compiled knowing f1 alone, so each call of f2
    /// left it, and its return came back through the dispatcher.
    /// </summary>
    private static byte[] Program()
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), call = a.CreateLabel(), f1 = a.CreateLabel(), f2 = a.CreateLabel();
        a.lea(r12, __[f1]);
        a.lea(r13, __[f2]);
        a.Label(ref top);
        a.mov(rax, r12);
        a.test(r14, r14);
        a.je(call);
        a.test(esi, 1);
        a.cmovne(rax, r13);
        a.Label(ref call);
        a.mov(rdi, r8);
        a.call(rax);
        a.add(r8, rax);
        a.inc(esi);
        a.dec(r15);
        a.jne(top);
        a.int3();
        a.Label(ref f1);
        a.lea(rax, __[rdi + 1]);
        a.ret();
        a.Label(ref f2);
        a.lea(rax, __[rdi * 2 + 3]);
        a.ret();
        return CpuFixture.Assembled(a);
    }

    private static CpuFixture Start(CpuFixture f)
    {
        f.LoadBytes(Program());
        f[MReg.R15] = 1UL << 40;   // the loop outlasts every run here
        return f;
    }

    /// <summary>
    /// Once the second target has made the code leave often enough, the loop's region is compiled
    /// again with it: after that code is installed, a million instructions of calls to both
    /// functions enter compiled code a handful of times (56,761 times without the second compile),
    /// and the state is the interpreter's.
    /// </summary>
    [Fact]
    public void ANewTargetOfAnIndirectCallJoinsTheRegion()
    {
        using var jit = Start(new CpuFixture(ExecutionTier.Jit, jitThreshold: 2, jitPromoteAfter: 0));   // no promotion: it would collect f2 too
        jit.Machine.Run(200_000);                      // compiled with f1 as the only target
        jit[MReg.R14] = 1;
        // When the compile starts depends only on the run; when it is installed, on the compile worker:
        // wait for the condition, not for a time (the caps only stop a broken build from looping forever).
        jit.RunWhile(() => jit.Cpu.JitIndirectRecompilesStarted == 0, retiredBelow: 50_000_000);
        Assert.True(jit.Cpu.JitIndirectRecompilesStarted > 0, $"the region was not compiled again: {jit.Cpu.InstructionsRetired} retired");
        jit.RunWhile(() => jit.Cpu.JitReplacementsPending != 0);
        Assert.Equal(0, jit.Cpu.JitReplacementsPending);

        long entries = jit.Cpu.JitEntries;
        jit.Machine.Run(1_000_003);
        Assert.True(jit.Cpu.JitEntries - entries < 100, $"{jit.Cpu.JitEntries - entries} entries into compiled code");

        using var interp = Start(new CpuFixture(ExecutionTier.Interp));
        interp.Machine.Run(200_000);
        interp[MReg.R14] = 1;
        interp.Machine.Run(jit.Cpu.InstructionsRetired - 200_000);
        jit.AssertSameStateAs(interp);
    }

    /// <summary>
    /// A loop calls through a table of five functions, one of them for a long phase, then the next
    /// (MiBench's bitcount times each of its counters so): each new target is one more compile of
    /// the loop's region, beyond the two such compiles a site with many targets gets.
    /// </summary>
    private static byte[] PhasedProgram()
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel();
        var f = new Label[5];
        for (int k = 0; k < f.Length; k++) f[k] = a.CreateLabel();
        a.sub(rsp, 64);
        for (int k = 0; k < f.Length; k++)
        {
            a.lea(rax, __[f[k]]);
            a.mov(__[rsp + 8 * k], rax);
        }
        a.Label(ref top);
        a.mov(rdi, r8);
        a.call(__qword_ptr[rsp + r14 * 8]);
        a.add(r8, rax);
        a.dec(r15);
        a.jne(top);
        a.int3();
        for (int k = 0; k < f.Length; k++)
        {
            a.Label(ref f[k]);
            a.lea(rax, __[rdi * 2 + (k + 1)]);
            a.ret();
        }
        return CpuFixture.Assembled(a);
    }

    /// <summary>
    /// After five phases, each calling one more of the table's functions, the loop's region holds all
    /// five: a million instructions of the last phase enter compiled code a handful of times (tens of
    /// thousands of times when the region stopped learning after two new targets), and the state is
    /// the interpreter's.
    /// </summary>
    [Fact]
    public void EachPhasesTargetOfAnIndirectCallJoinsTheRegion()
    {
        using var jit = new CpuFixture(ExecutionTier.Jit, jitThreshold: 2, jitPromoteAfter: 0);
        jit.LoadBytes(PhasedProgram());
        jit[MReg.R15] = 1UL << 40;
        jit.Machine.Run(200_000);                      // compiled with f0 as the only target
        var phaseEnds = new List<long>();
        for (ulong phase = 1; phase < 5; phase++)
        {
            phaseEnds.Add((long)jit.Cpu.InstructionsRetired);
            jit[MReg.R14] = phase;
            long started = jit.Cpu.JitIndirectRecompilesStarted;
            // Wait for the condition (the caps only stop a broken build from looping forever).
            jit.RunWhile(() => jit.Cpu.JitIndirectRecompilesStarted == started, retiredBelow: 50_000_000 * phase);
            Assert.True(jit.Cpu.JitIndirectRecompilesStarted > started, $"phase {phase}: the region was not compiled again");
            jit.RunWhile(() => jit.Cpu.JitReplacementsPending != 0);
            Assert.Equal(0, jit.Cpu.JitReplacementsPending);
        }
        long entries = jit.Cpu.JitEntries;
        jit.Machine.Run(1_000_003);
        Assert.True(jit.Cpu.JitEntries - entries < 100, $"{jit.Cpu.JitEntries - entries} entries into compiled code");

        using var interp = new CpuFixture(ExecutionTier.Interp);
        interp.LoadBytes(PhasedProgram());
        interp[MReg.R15] = 1UL << 40;
        long done = 0;
        for (int phase = 0; phase < 5; phase++)
        {
            long end = phase < 4 ? phaseEnds[phase] : (long)jit.Cpu.InstructionsRetired;
            interp[MReg.R14] = (ulong)phase;
            interp.Machine.Run((ulong)(end - done));
            done = end;
        }
        jit.AssertSameStateAs(interp);
    }
}
