using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Code that runs over a page boundary: a block whose last instruction reaches into the next page is
/// valid only while both pages map as when it was decoded, so compiled code links an exit to it only
/// when its region checks that page too (Cpu.LinkExit, Cpu.TakePages).
/// </summary>
public class JitPageCrossingTests
{
    private const ulong Base = 0x500000;
    private static readonly PhysAddr Phys = new(0x380000);
    /// <summary>Where M, a mov rax, imm64, starts: its last four bytes (the immediate's upper half) lie on the next page.</summary>
    private const ulong Straddling = Base + 0xFFA;

    /// <summary>
    /// A loop in two regions: T (61 instructions) jumps to M, a mov rax, imm64 that runs over into the
    /// second page, where N (553 instructions) adds rax to r10 and loops back to T. M and N fill a
    /// region: T is not in it. When <paramref name="patch"/>, every eighth pass writes ecx into the
    /// immediate's upper half (on the second page).
    /// </summary>
    private static CpuFixture Start(ExecutionTier tier, bool patch, ulong passes)
    {
        var f = new CpuFixture(tier, jitThreshold: 3, jitPromoteAfter: 0);
        f.Tables.Map(new VirtAddr(Base), Phys, 0x2000, PteFlags.User | PteFlags.Writable);
        var t = new Assembler(64);
        for (int k = 0; k < 60; k++) t.add(r8, k + 1);
        t.jmp(Straddling);
        f.Machine.Memory.Write(Phys, CpuFixture.Assembled(t, Base));
        var m = new Assembler(64);
        Label skip = m.CreateLabel();
        m.mov(rax, 0x1122334455667788);         // 0xFFA..0x1003: a block of its own, on both pages
        m.add(r10, rax);
        for (int k = 0; k < 550; k++) m.add(r9, k % 100 + 1);
        if (patch)
        {
            m.test(ecx, 7);
            m.jne(skip);
            m.mov(__dword_ptr[Straddling + 6], ecx);
            m.Label(ref skip);
        }
        m.dec(rcx);
        m.jne(Base);
        m.int3();
        f.Machine.Memory.Write(Phys + (Straddling - Base), CpuFixture.Assembled(m, Straddling));
        f.Cpu.Rip = Base;
        f[MReg.Rcx] = passes;
        return f;
    }

    /// <summary>
    /// T's region checks the second page as it starts, so its exit to M is linked: once both regions
    /// are compiled, 2,000 passes (1.2 million instructions) enter compiled code a few times (each pass
    /// went through the dispatcher before: 2,000 entries), and the state is the interpreter's.
    /// </summary>
    [Fact]
    public void AnExitToABlockRunningOverAPageBoundaryIsLinked()
    {
        using var jit = Start(ExecutionTier.Jit, patch: false, passes: 2_100);
        jit.Machine.Run(100 * 615);
        long entries = jit.Cpu.JitEntries;
        jit.RunToEnd();
        Assert.True(jit.Cpu.JitEntries - entries < 50, $"{jit.Cpu.JitEntries - entries} entries into compiled code");

        using var interp = Start(ExecutionTier.Interp, patch: false, passes: 2_100);
        interp.RunToEnd();
        jit.AssertSameStateAs(interp);
        Assert.Equal(unchecked(2_100UL * 0x1122334455667788), interp[MReg.R10]);
    }

    /// <summary>
    /// The loop rewrites the part of M's instruction on the second page every eighth pass: each pass
    /// after that adds the new immediate on both tiers, linked exit or not.
    /// </summary>
    [Theory]
    [InlineData(ExecutionTier.Interp)]
    [InlineData(ExecutionTier.Jit)]
    public void AWriteToTheSecondPageOfALinkedBlockIsSeen(ExecutionTier tier)
    {
        using var f = Start(tier, patch: true, passes: 200);
        f.RunToEnd();
        ulong expected = 0, imm = 0x1122334455667788;
        for (ulong c = 200; c >= 1; c--)
        {
            expected += imm;
            if ((c & 7) == 0) imm = (imm & 0xFFFF_FFFF) | (c << 32);
        }
        Assert.Equal(expected, f[MReg.R10]);
        if (tier == ExecutionTier.Jit) Assert.True(f.Cpu.CodeInvalidations >= 20, $"{f.Cpu.CodeInvalidations} code invalidations");
    }
}
