using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// A region's exits linked to other regions' code (Cpu.LinkExit): after the dispatcher has run a
/// compiled block after an exit, the exit tail-calls it, while the block is valid and its page still
/// maps where it did.
/// </summary>
public class JitLinkTests
{
    private const ulong Base = 0x500000;
    private static readonly PhysAddr Phys = new(0x380000);

    /// <summary>
    /// A loop calls F from two sites; F (599 instructions, on the next page) is too big to share a
    /// region with the loop, whose region takes F's first blocks: the region of the rest of F returns
    /// to one of the two return sites (entries of the loop's region) in turn.
    /// </summary>
    private static CpuFixture CallsFromTwoSites(ExecutionTier tier, ulong passes)
    {
        var f = new CpuFixture(tier, jitThreshold: 3, jitPromoteAfter: 0);
        f.Tables.Map(new VirtAddr(Base), Phys, 0x2000, PteFlags.User);
        f.Machine.Memory.Write(Phys, Loop(r9));
        f.Machine.Memory.Write(Phys + 0x2000, Loop(r11));   // another loop, for AReturnLinkedToAPageMappedElsewhereRunsTheNewCode
        const ulong F = Base + 0x1000;
        var fn = new Assembler(64);
        fn.mov(rax, r8);
        for (int k = 0; k < 597; k++) fn.add(rax, k % 100 + 1);
        fn.ret();
        f.Machine.Memory.Write(Phys + 0x1000, CpuFixture.Assembled(fn, F));
        f.Cpu.Rip = Base;
        f[MReg.Rcx] = passes;
        f[MReg.R8] = 7;
        return f;
    }

    /// <summary>The loop of <see cref="CallsFromTwoSites"/> at Base, adding F's first result to <paramref name="sum"/>.</summary>
    private static byte[] Loop(AssemblerRegister64 sum)
    {
        var loop = new Assembler(64);
        Label top = loop.CreateLabel();
        loop.Label(ref top);
        loop.call(Base + 0x1000);
        loop.add(sum, rax);
        loop.call(Base + 0x1000);
        loop.sub(r10, rax);
        loop.dec(rcx);
        loop.jne(top);
        loop.int3();
        return CpuFixture.Assembled(loop, Base);
    }

    /// <summary>
    /// Runs until F's region has been compiled again with F's last block as an entry (Cpu.Reenter, on
    /// the compile worker): the test waits for that, not for a time (the cap only stops a broken build).
    /// </summary>
    private static void UntilFsLastBlockIsAnEntry(CpuFixture jit)
    {
        jit.Machine.Run(100 * 1_204);
        while ((jit.Cpu.JitReentriesStarted == 0 || jit.Cpu.JitReplacementsPending != 0) && jit.Cpu.InstructionsRetired < 100_000_000)
            jit.Machine.Run(9_973);
        Assert.True(jit.Cpu.JitReentriesStarted > 0 && jit.Cpu.JitReplacementsPending == 0, $"no reentry compiled: {jit.Cpu.InstructionsRetired} retired");
    }

    /// <summary>
    /// The loop's region exits into F's last block, which the region of F makes an entry when compiled
    /// again (<see cref="UntilFsLastBlockIsAnEntry"/>). From then on a million instructions enter
    /// compiled code a few times: F's return tail-calls the loop's code at whichever of its two sites
    /// it returns to (each return went through the dispatcher before: 1,660 entries), and the loop's
    /// exit into F's rest tail-calls that region: passes, not entries. The state is the interpreter's.
    /// </summary>
    [Fact]
    public void AReturnLeavingItsRegionTailCallsTheCallersCode()
    {
        using var jit = CallsFromTwoSites(ExecutionTier.Jit, 1UL << 40);
        UntilFsLastBlockIsAnEntry(jit);

        long entries = jit.Cpu.JitEntries, passes = jit.Cpu.JitPasses;
        jit.Machine.Run(1_000_003);
        Assert.True(jit.Cpu.JitEntries - entries < 50, $"{jit.Cpu.JitEntries - entries} entries into compiled code");
        // About 1,660 calls of F, each into the region of F's rest and back: two passes each (3,318), one without linked returns.
        Assert.True(jit.Cpu.JitPasses - passes > 2_500, $"{jit.Cpu.JitPasses - passes} passes between regions' code");

        using var interp = CallsFromTwoSites(ExecutionTier.Interp, 1UL << 40);
        interp.Machine.Run(jit.Cpu.InstructionsRetired);
        jit.AssertSameStateAs(interp);
    }

    /// <summary>
    /// Once F's returns are linked to the loop's code (on a page F's region does not check), the page
    /// table maps the loop's page to another physical page holding the same loop adding to r11, not r9,
    /// and invlpg drops that page's translation: a linked return finds the page no longer mapped where
    /// its block was and leaves for the dispatcher, which runs the new loop's code. The state is the
    /// interpreter's after the same run and remap.
    /// </summary>
    [Fact]
    public void AReturnLinkedToAPageMappedElsewhereRunsTheNewCode()
    {
        using var jit = CallsFromTwoSites(ExecutionTier.Jit, 1UL << 40);
        UntilFsLastBlockIsAnEntry(jit);
        jit.Machine.Run(200_003);
        ulong before = jit.Cpu.InstructionsRetired;
        Remap(jit);
        jit.Machine.Run(1_000_003);
        Assert.NotEqual(0UL, jit[MReg.R11]);

        using var interp = CallsFromTwoSites(ExecutionTier.Interp, 1UL << 40);
        interp.Machine.Run(before);
        Remap(interp);
        interp.Machine.Run(1_000_003);
        jit.AssertSameStateAs(interp);

        static void Remap(CpuFixture f)
        {
            f.Tables.Map(new VirtAddr(Base), Phys + 0x2000, 0x1000, PteFlags.User);
            f.Cpu.InvalidatePage(new VirtAddr(Base));
        }
    }
}
