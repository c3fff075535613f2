using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// How big a region's optimised code is (Cpu.Promote): quick code takes up to RegionCompiler.RegionBlocks
/// hot blocks; when it left its region often, the optimised code takes up to MaxRegionBlocks, but only
/// if the blocks past the usual limit close a loop. A loop a little longer than the usual limit then
/// runs inside one region; a chain too long for any region keeps regions of the usual size, which
/// leave at each other's entries.
/// </summary>
public class JitRegionSizeTests
{
    private const int Usual = Lab.Machine.Cpu.RegionCompiler.RegionBlocks;

    /// <summary>
    /// A loop of <paramref name="tests"/> blocks of two instructions (a test of edx, never true, and a
    /// jne to a body on the next page that never runs), after a block that loads, mixes and stores an
    /// array element, and counts down r15.
    /// </summary>
    private static CpuFixture Start(CpuFixture f, int tests)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), back = a.CreateLabel();
        var bodies = new Label[tests];
        for (int k = 0; k < tests; k++) bodies[k] = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rbx + rsi * 8]);
        a.imul(rax, rax, 0x3779B1);
        a.add(r9, rax);
        a.mov(__qword_ptr[rbx + rsi * 8], r9);
        a.inc(esi);
        a.and(esi, 511);
        a.xor(edx, edx);
        for (int k = 0; k < tests; k++)
        {
            a.test(edx, 1 << (k % 29));
            a.jne(bodies[k]);
        }
        a.Label(ref back);
        a.dec(r15);
        a.jne(top);
        a.int3();
        a.db(Enumerable.Repeat((byte)0xCC, 4096).ToArray());
        for (int k = 0; k < tests; k++)
        {
            a.Label(ref bodies[k]);
            a.xor(r10, rax);
            a.jmp(back);
        }
        f.LoadBytes(CpuFixture.Assembled(a));
        f[MReg.Rbx] = CpuFixture.DataBase;
        f[MReg.R15] = 1UL << 40;   // the loop outlasts every run here
        for (ulong k = 0; k < 512; k++) f.Machine.Memory.WriteU64(CpuFixture.DataPhys + k * 8, k * 0x9E3779B97F4A7C15);
        return f;
    }

    private static Cpu.JitRegion[] Live(CpuFixture f) => [.. f.Cpu.CompiledCode().Select(c => (Cpu.JitRegion)c.Target!)];

    /// <summary>Runs in slices until every region's code is optimised and no replacement is pending (the cap only stops a broken build from looping forever).</summary>
    private static void RunUntilOptimised(CpuFixture f)
    {
        for (int slice = 0; slice < 1_000_000; slice++)
        {
            f.Machine.Run(9_973);
            if (f.Cpu.JitRegionsPromoted > 0 && f.Cpu.JitReplacementsPending == 0 && Live(f).All(r => !r.Quick)) return;
        }
        Assert.Fail($"quick code was never all replaced: {f.Cpu.JitRegionsPromoted} promoted, {f.Cpu.JitReplacementsPending} pending");
    }

    /// <summary>
    /// A loop of Usual + 16 blocks: its quick code leaves every 150 instructions or so, the optimised
    /// code holds the whole loop, so a run of it passes between regions seldom (not once or more a time
    /// round, as regions of the usual size do), and the state is the interpreter's.
    /// </summary>
    [Fact]
    public void ALoopAlittleLongerThanARegionRunsInOneRegionOnceOptimised()
    {
        const int tests = Usual + 16;
        using var jit = Start(new CpuFixture(ExecutionTier.Jit, jitThreshold: 2, jitPromoteAfter: 30), tests);
        RunUntilOptimised(jit);
        Assert.Contains(Live(jit), r => r.Blocks.Length > Usual);
        // Over a thousand times round the loop. A run starts wherever the last one stopped, maybe in
        // other code that passes to the loop's region, and the dispatcher may enter such code again
        // after a return to it, so not none: regions of the usual size pass once or more a time round.
        long passes = jit.Cpu.JitPasses;
        ulong left = jit[MReg.R15];
        jit.Machine.Run(200_000);
        ulong rounds = left - jit[MReg.R15];
        Assert.True(rounds > 1_000, $"{rounds} times round");
        Assert.True((ulong)(jit.Cpu.JitPasses - passes) * 10 < rounds, $"{jit.Cpu.JitPasses - passes} passes in {rounds} times round the loop");

        using var interp = Start(new CpuFixture(ExecutionTier.Interp), tests);
        interp.Machine.Run(jit.Cpu.InstructionsRetired);
        jit.AssertSameStateAs(interp);
    }

    /// <summary>
    /// A loop longer than any region may be (MaxRegionBlocks + 40 blocks): its quick code leaves as
    /// often, but a bigger region would only copy the start of the next one, so every region keeps the
    /// usual size, and the state is the interpreter's.
    /// </summary>
    [Fact]
    public void AChainLongerThanAnyRegionKeepsRegionsOfTheUsualSize()
    {
        const int tests = Lab.Machine.Cpu.RegionCompiler.MaxRegionBlocks + 40;
        using var jit = Start(new CpuFixture(ExecutionTier.Jit, jitThreshold: 2, jitPromoteAfter: 30), tests);
        RunUntilOptimised(jit);
        jit.Machine.Run(200_000);
        Assert.All(Live(jit), r => Assert.True(r.Blocks.Length <= Usual, $"a region of {r.Blocks.Length} blocks at {r.Blocks[0].Va:x}"));

        using var interp = Start(new CpuFixture(ExecutionTier.Interp), tests);
        interp.Machine.Run(jit.Cpu.InstructionsRetired);
        jit.AssertSameStateAs(interp);
    }
}
