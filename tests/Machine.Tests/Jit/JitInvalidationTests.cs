using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Compiled code is a cache: a write to a page holding compiled code drops it (self-modifying code is
/// seen at the next block boundary, as the interpreter sees it), and snapshots neither contain nor
/// depend on it.
/// </summary>
public class JitInvalidationTests
{
    internal const ulong RwxBase = 0x500000;
    internal static readonly PhysAddr RwxPhys = new(0x380000);

    /// <summary>A machine with a user page at <see cref="RwxBase"/> that is writable and executable, holding the code (<paramref name="promoteAfter"/>: MachineOptions.JitPromoteAfter, null the environment's).</summary>
    internal static CpuFixture WithRwxCode(ExecutionTier tier, Action<Assembler> build, out AssemblerResult result, out Label[] labels, int labelCount, int jitThreshold = 1, int? promoteAfter = null)
    {
        var f = new CpuFixture(tier, jitThreshold, jitPromoteAfter: promoteAfter);
        f.Tables.Map(new VirtAddr(RwxBase), RwxPhys, 0x1000, PteFlags.User | PteFlags.Writable);
        var a = new Assembler(64);
        labels = new Label[labelCount];
        for (int i = 0; i < labelCount; i++) labels[i] = a.CreateLabel();
        build(a);
        var ms = new MemoryStream();
        result = a.Assemble(new StreamCodeWriter(ms), RwxBase, BlockEncoderOptions.ReturnNewInstructionOffsets);
        f.Machine.Memory.Write(RwxPhys, ms.ToArray());
        f.Cpu.Rip = RwxBase;
        return f;
    }

    /// <summary>
    /// A compiled function's immediate is patched after every call: each call sees the new code
    /// (10 + 11 + 12 + 13 + 14), on both tiers.
    /// </summary>
    [Theory]
    [InlineData(ExecutionTier.Interp)]
    [InlineData(ExecutionTier.Jit)]
    public void RewrittenCompiledFunctionIsSeen(ExecutionTier tier)
    {
        Label[] l = [];
        using var f = WithRwxCode(tier, a =>
        {
            a.mov(ecx, 5);
            a.Label(ref l[0]);
            a.call(l[1]);
            a.add(r8, rax);
            a.add(__dword_ptr[rsi], 1);     // rsi = F + 1: the imm32 of "mov eax, imm32"
            a.dec(ecx);
            a.jne(l[0]);
            a.int3();
            a.Label(ref l[1]);
            a.mov(eax, 10);
            a.ret();
        }, out var result, out l, 2);
        f[MReg.Rsi] = result.GetLabelRIP(l[1]) + 1;
        f.RunToEnd();
        Assert.Equal(60UL, f[MReg.R8]);
        if (tier == ExecutionTier.Jit)
        {
            Assert.True(f.Cpu.JitBlocksCompiled >= 5, $"{f.Cpu.JitBlocksCompiled} blocks compiled");
            Assert.True(f.Cpu.CodeInvalidations >= 5);
        }
    }

    /// <summary>
    /// A compiled loop stores into a second page through its write window (built while that page held
    /// no code); then it starts calling a function on that page, patching its immediate before each
    /// call. Decoding the function revokes the page's fast writes, and with them the window, so every
    /// later store invalidates the function and each call sees its new immediate (1 + 2 + ... + 49).
    /// </summary>
    [Theory]
    [InlineData(ExecutionTier.Interp)]
    [InlineData(ExecutionTier.Jit)]
    public void StoresThroughAWindowStopWhenThePageGetsCode(ExecutionTier tier)
    {
        Label[] l = [];
        using var f = WithRwxCode(tier, a =>
        {
            a.mov(ecx, 100);
            a.Label(ref l[0]);
            a.mov(__dword_ptr[rdi + 1], ecx);   // rdi = F: "mov eax, imm32; ret" on the next page
            a.cmp(ecx, 50);
            a.jae(l[1]);
            a.call(rdi);
            a.add(r8, rax);
            a.Label(ref l[1]);
            a.dec(ecx);
            a.jne(l[0]);
            a.int3();
        }, out _, out l, 2);
        ulong function = RwxBase + 0x1000;
        f.Tables.Map(new VirtAddr(function), RwxPhys + 0x1000, 0x1000, PteFlags.User | PteFlags.Writable);
        f.Machine.Memory.Write(RwxPhys + 0x1000, [0xB8, 0, 0, 0, 0, 0xC3]);
        f[MReg.Rdi] = function;
        f.RunToEnd();
        Assert.Equal(49UL * 50 / 2, f[MReg.R8]);
        if (tier == ExecutionTier.Jit) Assert.True(f.Cpu.CodeInvalidations >= 48, $"{f.Cpu.CodeInvalidations} code invalidations");
    }

    /// <summary>
    /// A compiled loop calls a function on the next page, which its region covers; every tenth
    /// iteration it patches the function's immediate. The write drops the region (its code no longer
    /// matches the page), the next calls see the new immediate, and the region compiles again: the
    /// sum is that of the values each call returned, on both tiers.
    /// </summary>
    [Theory]
    [InlineData(ExecutionTier.Interp)]
    [InlineData(ExecutionTier.Jit)]
    public void AWriteToAnotherPageOfARegionDropsIt(ExecutionTier tier)
    {
        Label[] l = [];
        using var f = WithRwxCode(tier, a =>
        {
            a.mov(ecx, 100);
            a.Label(ref l[0]);
            a.call(rdi);                        // rdi = F: "mov eax, imm32; ret" on the next page
            a.add(r8, rax);
            a.test(ecx, 7);
            a.jne(l[1]);
            a.mov(__dword_ptr[rdi + 1], ecx);   // every eighth iteration: F returns ecx from now on
            a.Label(ref l[1]);
            a.dec(ecx);
            a.jne(l[0]);
            a.int3();
        }, out _, out l, 2, jitThreshold: 3);   // F has run when the loop compiles, so its region takes it
        ulong function = RwxBase + 0x1000;
        f.Tables.Map(new VirtAddr(function), RwxPhys + 0x1000, 0x1000, PteFlags.User | PteFlags.Writable);
        f.Machine.Memory.Write(RwxPhys + 0x1000, [0xB8, 1, 0, 0, 0, 0xC3]);
        f[MReg.Rdi] = function;
        f.RunToEnd();
        // Iterations 100..97 return 1; then each run of eight returns the ecx that patched it.
        ulong expected = 0, value = 1;
        for (ulong c = 100; c >= 1; c--)
        {
            expected += value;
            if ((c & 7) == 0) value = c;
        }
        Assert.Equal(expected, f[MReg.R8]);
        if (tier == ExecutionTier.Jit) Assert.True(f.Cpu.CodeInvalidations >= 12, $"{f.Cpu.CodeInvalidations} code invalidations");
    }

    /// <summary>
    /// A region covers a function on another page; then the page table maps that virtual page to a
    /// different physical page holding another function (the kernel's job, with a TLB flush, between
    /// two runs). The region's start-up check finds the page no longer translating to the code it was
    /// compiled from, so the interpreter runs the new function: both tiers return the new value. The
    /// same when the kernel drops only that page's translation (invlpg): the check is skipped only
    /// while no translation changed since it last passed (Cpu._tlbGeneration).
    /// </summary>
    [Theory]
    [InlineData(ExecutionTier.Interp, false)]
    [InlineData(ExecutionTier.Jit, false)]
    [InlineData(ExecutionTier.Jit, true)]
    public void ARegionWhoseOtherPageIsRemappedRunsTheNewCode(ExecutionTier tier, bool invlpg)
    {
        Label[] l = [];
        using var f = WithRwxCode(tier, a =>
        {
            a.Label(ref l[0]);
            a.call(rdi);                        // rdi = F on the next page
            a.add(r8, rax);
            a.dec(ecx);
            a.jne(l[0]);
            a.int3();
        }, out _, out l, 1, jitThreshold: 3);
        ulong function = RwxBase + 0x1000;
        f.Tables.Map(new VirtAddr(function), RwxPhys + 0x1000, 0x1000, PteFlags.User);
        f.Machine.Memory.Write(RwxPhys + 0x1000, [0xB8, 1, 0, 0, 0, 0xC3]);
        f.Machine.Memory.Write(RwxPhys + 0x2000, [0xB8, 100, 0, 0, 0, 0xC3]);
        f[MReg.Rdi] = function;
        f[MReg.Rcx] = 50;
        ulong start = f.Cpu.Rip;
        f.RunToEnd();
        Assert.Equal(50UL, f[MReg.R8]);
        // One region took the loop and F: its calls and returns did not leave compiled code.
        if (tier == ExecutionTier.Jit) Assert.True(f.Cpu.JitEntries < 10, $"{f.Cpu.JitEntries} entries into compiled code");

        f.Tables.Map(new VirtAddr(function), RwxPhys + 0x2000, 0x1000, PteFlags.User);
        if (invlpg) f.Cpu.InvalidatePage(new VirtAddr(function));
        else f.Cpu.FlushTlb();
        f.Cpu.Rip = start;
        f[MReg.Rcx] = 50;
        f.RunToEnd();
        Assert.Equal(50UL + 50 * 100, f[MReg.R8]);
    }

    /// <summary>
    /// A compiled loop rewrites its own first instruction (add r8, 1 becomes add r8, 5): the current
    /// iteration finishes with the old code, the next one runs the new code (1 + 5 + 5 + 5).
    /// </summary>
    [Theory]
    [InlineData(ExecutionTier.Interp)]
    [InlineData(ExecutionTier.Jit)]
    public void LoopRewritingItselfSeesTheNewCodeNextIteration(ExecutionTier tier)
    {
        Label[] l = [];
        using var f = WithRwxCode(tier, a =>
        {
            a.Label(ref l[0]);
            a.add(r8, 1);                   // 49 83 C0 01: the immediate is the 4th byte
            a.mov(__byte_ptr[rsi], 5);
            a.dec(ecx);
            a.jne(l[0]);
            a.int3();
        }, out var result, out l, 1);
        f[MReg.Rsi] = result.GetLabelRIP(l[0]) + 3;
        f[MReg.Rcx] = 4;
        f.RunToEnd();
        Assert.Equal(16UL, f[MReg.R8]);
        Assert.Equal(4UL * 4 + 1, f.Cpu.InstructionsRetired);
    }

    /// <summary>
    /// A compiled byte fill (a self-loop: its store through rdi stepped by one, which the fast copy
    /// makes with no window test while its pass count keeps it in its window) runs from a page
    /// without code into the page of a function called, and compiled, before: it overwrites the
    /// function's first 256 bytes with nops, so the next call slides into the second function behind
    /// them (1, then 0x1234). The code page never takes a fast write, so no window holds it and the
    /// count stops at its edge; the stores into it go through the slow path, which drops the code.
    /// </summary>
    [Theory]
    [InlineData(ExecutionTier.Interp)]
    [InlineData(ExecutionTier.Jit)]
    public void AFillRunningIntoCompiledCodeIsSeenByTheNextCall(ExecutionTier tier)
    {
        ulong data = RwxBase + 0x1000, function = RwxBase + 0x2000;
        Label[] l = [];
        using var f = WithRwxCode(tier, a =>
        {
            a.mov(ecx, 3);
            a.Label(ref l[0]);
            a.call(function);                // the function compiles (threshold 1)
            a.dec(ecx);
            a.jnz(l[0]);
            a.add(r8, rax);
            a.lea(rdi, __[rbx + 0xE00]);       // the fill: 0x200 bytes on the data page, 0x100 on the function's
            a.mov(ecx, 0x300);
            a.mov(edx, 0x90);
            a.Label(ref l[1]);
            a.mov(__byte_ptr[rdi], dl);
            a.inc(rdi);
            a.dec(ecx);
            a.jnz(l[1]);
            a.call(function);
            a.add(r8, rax);
            a.int3();
        }, out _, out l, 2, promoteAfter: 0);
        f.Tables.Map(new VirtAddr(data), RwxPhys + 0x1000, 0x2000, PteFlags.User | PteFlags.Writable);
        f.Machine.Memory.Write(RwxPhys + 0x2000, [0xB8, 1, 0, 0, 0, 0xC3]);                 // mov eax, 1; ret
        f.Machine.Memory.Write(RwxPhys + 0x2100, [0xB8, 0x34, 0x12, 0, 0, 0xC3]);           // mov eax, 0x1234; ret
        f[MReg.Rbx] = data;
        f.RunToEnd();
        Assert.Equal(1UL + 0x1234, f[MReg.R8]);
        Assert.Equal(0x90, f.Machine.Memory.View(RwxPhys + 0x1E00, 1)[0]);
        if (tier == ExecutionTier.Jit)
        {
            Assert.True(f.Cpu.CodeInvalidations >= 1, $"{f.Cpu.CodeInvalidations} code invalidations");
            Assert.True(f.Cpu.JitCountedLoops > 0, "the fill compiled with counted passes");
        }
    }

    /// <summary>
    /// Snapshots taken at the same instruction count on both tiers are byte-identical, and a JIT
    /// machine's snapshot restored into an interpreter machine finishes like the JIT machine.
    /// </summary>
    [Fact]
    public void SnapshotsAreTheSameOnBothTiers()
    {
        Label[] l = [];
        Action<Assembler> program = a =>
        {
            a.Label(ref l[0]);
            a.add(rax, rdx);
            a.imul(rdx, rax, 13);
            a.mov(__qword_ptr[rbx], rdx);
            a.shr(rdx, 3);
            a.cmp(rax, 1000);
            a.adc(rdi, 0);
            a.inc(r9);
            a.dec(ecx);
            a.jne(l[0]);
            a.int3();
        };
        using var fi = WithRwxCode(ExecutionTier.Interp, program, out _, out l, 1);
        using var fj = WithRwxCode(ExecutionTier.Jit, program, out _, out l, 1);
        foreach (var f in new[] { fi, fj })
        {
            f[MReg.Rcx] = 1000; f[MReg.Rax] = 1; f[MReg.Rdx] = 3; f[MReg.Rbx] = CpuFixture.DataBase;
        }
        for (int k = 0; k < 5; k++)
        {
            fi.Machine.Run(777);
            fj.Machine.Run(777);
            Assert.Equal(fi.Machine.SaveState(), fj.Machine.SaveState());
        }
        byte[] mid = fj.Machine.SaveState();
        using var restored = new CpuFixture(ExecutionTier.Interp);
        restored.Machine.RestoreState(mid);
        fj.RunToEnd();
        restored.RunToEnd();
        Assert.Equal(fj.Machine.SaveState(), restored.Machine.SaveState());
        Assert.True(fj.Cpu.JitEntries > 0);
    }
}
