using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// A loop whose code is entered in the middle by the dispatcher: a chain of tests longer than a region
/// may be, whose taken sides lie on another page, outside the loop's regions when they compiled, and
/// jump back into the chain (the shape of generated state machines such as Embench's nsichneu). The
/// region holding a rejoin point is compiled again with it as an entry (Cpu.Reenter), instead of the
/// rejoin point rooting a region of its own that copies the rest of the chain.
/// </summary>
public class JitReentryTests
{
    /// <summary>More blocks than a region holds (RegionCompiler.MaxRegionBlocks), so no region holds the whole loop.</summary>
    private const int Tests = Lab.Machine.Cpu.RegionCompiler.MaxRegionBlocks + 10;
    /// <summary>The taken sides run only from this iteration (counted in r14) on: the loop compiles before they ever ran.</summary>
    private const int Late = 2_000;

    /// <summary>Assembles the loop; returns its code and the rejoin points' addresses.</summary>
    private static (byte[] Code, ulong[] Rejoins) Program()
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), go = a.CreateLabel();
        var bodies = new Label[Tests];
        var rejoins = new Label[Tests];
        for (int k = 0; k < Tests; k++) { bodies[k] = a.CreateLabel(); rejoins[k] = a.CreateLabel(); }
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rbx + rsi * 8]);
        a.imul(rax, rax, 0x3779B1);
        a.inc(esi);
        a.and(esi, 511);
        a.mov(edx, eax);
        a.inc(r14);
        a.cmp(r14, Late);
        a.jae(go);
        a.xor(edx, edx);
        a.Label(ref go);
        for (int k = 0; k < Tests; k++)
        {
            a.test(edx, 1 << (k % 29 + 3));
            a.jne(bodies[k]);
            a.Label(ref rejoins[k]);
            a.add(r9, rax);
            a.ror(r9, (byte)(k % 63 + 1));
        }
        a.mov(__qword_ptr[rbx + rsi * 8], r9);
        a.dec(r15);
        a.jne(top);
        a.int3();
        a.db(Enumerable.Repeat((byte)0xCC, 4096).ToArray());
        for (int k = 0; k < Tests; k++)
        {
            a.Label(ref bodies[k]);
            a.xor(r10, rax);
            a.rol(r10, (byte)(k % 59 + 5));
            a.add(r11, r10);
            a.jmp(rejoins[k]);
        }
        var code = new MemoryStream();
        var result = (AssemblerResult)a.Assemble(new StreamCodeWriter(code), CpuFixture.CodeBase, BlockEncoderOptions.ReturnNewInstructionOffsets);
        return (code.ToArray(), [.. rejoins.Select(l => result.GetLabelRIP(l))]);
    }

    private static CpuFixture Start(CpuFixture f, byte[] code)
    {
        f.LoadBytes(code);
        f[MReg.Rbx] = CpuFixture.DataBase;
        f[MReg.R15] = 1UL << 40;   // the loop outlasts every run here
        for (ulong k = 0; k < 512; k++) f.Machine.Memory.WriteU64(CpuFixture.DataPhys + k * 8, k * 0x9E3779B97F4A7C15);
        return f;
    }

    /// <summary>
    /// Rejoin points become entries of the loop's code, and the state is the interpreter's: the machine
    /// runs in slices of an odd size until the loop's code has been compiled again with its entries and
    /// installed, then a million instructions more.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(30)]
    public void RejoinPointsBecomeEntriesOfTheLoopsCode(int promoteAfter)
    {
        var (code, rejoins) = Program();
        using var jit = Start(new CpuFixture(ExecutionTier.Jit, jitThreshold: 2, jitPromoteAfter: promoteAfter), code);
        // When the compile starts depends only on the run: a few thousand iterations after the taken sides start.
        jit.RunWhile(() => jit.Cpu.JitReentriesStarted == 0, retiredBelow: 50_000_000);
        Assert.True(jit.Cpu.JitReentriesStarted > 0, $"no code is compiled again with entries: {jit.Cpu.InstructionsRetired} retired, {jit.Cpu.JitBlocksCompiled} regions");
        jit.RunWhile(() => jit.Cpu.JitRegionsReentered == 0 || jit.Cpu.JitReplacementsPending != 0);   // when it is installed depends on the compile worker
        Assert.True(jit.Cpu.JitRegionsReentered > 0, $"no code compiled again with entries was installed: {jit.Cpu.InstructionsRetired} retired");
        Assert.Equal(0, jit.Cpu.JitReplacementsPending);

        Cpu.JitRegion[] regions = [.. jit.Cpu.CompiledCode().Select(c => (Cpu.JitRegion)c.Target!)];
        Assert.Contains(regions, r => r.Entries.Any(e => rejoins.Contains(e.Block.Va)));

        jit.Machine.Run(1_000_003);   // and the new code runs
        using var interp = Start(new CpuFixture(ExecutionTier.Interp), code);
        interp.Machine.Run(jit.Cpu.InstructionsRetired);
        jit.AssertSameStateAs(interp);

        // A write to every page of the code (each byte rewritten unchanged) drops all of its code,
        // entries included; what compiles again still runs as the interpreter does.
        long compiled = jit.Cpu.JitBlocksCompiled;
        foreach (var f in new[] { jit, interp })
        {
            for (int page = 0; page * 4096 < code.Length; page++)
                f.Machine.Memory.WriteU8(CpuFixture.CodePhys + (ulong)page * 4096, code[page * 4096]);
            f.Machine.Run(1_000_003);
        }
        jit.AssertSameStateAs(interp);
        Assert.True(jit.Cpu.JitBlocksCompiled > compiled, "the writes dropped no compiled code");
    }
}
