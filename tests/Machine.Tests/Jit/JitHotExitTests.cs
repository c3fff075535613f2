using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// A loop whose callee takes a path from some iteration on that had never run when the loop's region
/// was compiled (malloc's free-list path once frees begin): the region left by that exit at every
/// iteration, through the target's own code and back. It is compiled again with the target as a
/// member once the exit has been taken Cpu.HotExitPasses times, at least once every 256 instructions
/// (Cpu.NoteHotExit); a loop that does much more work per call keeps the exit.
/// </summary>
public class JitHotExitTests
{
    /// <summary>The callee's late path runs from this iteration (counted in r14) on.</summary>
    private const int Late = 3_000;

    /// <summary>Assembles the loop and its callee, whose late path runs a loop of <paramref name="work"/> passes; returns the code and the late path's address.</summary>
    private static (byte[] Code, ulong LatePath) Program(int work = 0)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), callee = a.CreateLabel(), late = a.CreateLabel(), inner = a.CreateLabel();
        a.Label(ref top);
        a.inc(r14);
        a.call(callee);
        a.add(r9, rax);
        a.rol(r9, 7);
        a.dec(r15);
        a.jne(top);
        a.int3();
        a.Label(ref callee);
        a.mov(rax, __qword_ptr[rbx]);
        a.cmp(r14, Late);
        a.jae(late);
        a.imul(rax, r14, 0x3779B1);
        a.mov(__qword_ptr[rbx], rax);
        a.ret();
        a.Label(ref late);
        a.mov(ecx, work + 1);
        a.Label(ref inner);
        a.add(r10, rcx);
        a.dec(ecx);
        a.jne(inner);
        a.xor(rax, r14);
        a.add(__qword_ptr[rbx + 8], rax);
        a.ret();
        var code = new MemoryStream();
        var result = (AssemblerResult)a.Assemble(new StreamCodeWriter(code), CpuFixture.CodeBase, BlockEncoderOptions.ReturnNewInstructionOffsets);
        return (code.ToArray(), result.GetLabelRIP(late));
    }

    private static CpuFixture Start(CpuFixture f, byte[] code)
    {
        f.LoadBytes(code);
        f[MReg.Rbx] = CpuFixture.DataBase;
        f[MReg.R15] = 1UL << 40;   // the loop outlasts every run here
        return f;
    }

    /// <summary>
    /// The late path becomes a member of the loop's code, which then runs the loop without leaving it,
    /// and the state is the interpreter's.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    public void ALatePathTheCodeKeepsLeavingForJoinsItsRegion(int promoteAfter)
    {
        var (code, latePath) = Program();
        using var jit = Start(new CpuFixture(ExecutionTier.Jit, jitThreshold: 2, jitPromoteAfter: promoteAfter), code);
        // When the compile starts depends only on the run: HotExitPasses iterations after the late path starts.
        jit.RunWhile(() => jit.Cpu.JitHotExitRecompilesStarted == 0, retiredBelow: 50_000_000);
        Assert.True(jit.Cpu.JitHotExitRecompilesStarted > 0, $"no region is compiled again with its hot exit's target: {jit.Cpu.InstructionsRetired} retired, {jit.Cpu.JitBlocksCompiled} regions");
        jit.RunWhile(() => jit.Cpu.JitReplacementsPending != 0);   // when it is installed depends on the compile worker
        Assert.Equal(0, jit.Cpu.JitReplacementsPending);
        Cpu.JitRegion[] regions = [.. jit.Cpu.CompiledCode().Select(c => (Cpu.JitRegion)c.Target!)];
        Assert.Contains(regions, r => r.Blocks.Length > 1 && r.Blocks.Any(b => b.Va == latePath));

        // An iteration is 16 instructions: leaving for the late path's code and coming back was two passes each.
        long passes = jit.Cpu.JitPasses + jit.Cpu.JitEntries;
        jit.Machine.Run(1_100_000);
        long left = jit.Cpu.JitPasses + jit.Cpu.JitEntries - passes;
        Assert.True(left < 1_000, $"the loop's code left its region {left} times in 70,000 iterations");

        using var interp = Start(new CpuFixture(ExecutionTier.Interp), code);
        interp.Machine.Run(jit.Cpu.InstructionsRetired);
        jit.AssertSameStateAs(interp);
    }

    /// <summary>
    /// With a thousand instructions of work on the late path, its exit is taken once every thousand
    /// instructions: a pass there costs little against that work, and the region is not compiled again.
    /// </summary>
    [Fact]
    public void ALatePathTakenOncePerMuchWorkStaysAnExit()
    {
        var (code, _) = Program(work: 330);
        using var jit = Start(new CpuFixture(ExecutionTier.Jit, jitThreshold: 2, jitPromoteAfter: 0), code);
        // Three counts of HotExitPasses exits after the late path starts: the one that starts the clock and two more.
        ulong iterations = Late + 3 * Lab.Machine.Cpu.Cpu.HotExitPasses + 100;
        while (jit[MReg.R14] < iterations) jit.Machine.Run(1_000_003);
        Assert.Equal(0, jit.Cpu.JitHotExitRecompilesStarted);

        using var interp = Start(new CpuFixture(ExecutionTier.Interp), code);
        interp.Machine.Run(jit.Cpu.InstructionsRetired);
        jit.AssertSameStateAs(interp);
    }
}
