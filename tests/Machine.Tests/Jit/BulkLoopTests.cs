using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static Lab.Machine.Tests.Jit.AccessWindowTests;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Copy and fill loops (a freestanding memcpy, memmove, memset as gcc -O2 compiles them) run their
/// passes at once: one memmove or fill of host memory, the registers stepped, the instructions
/// charged (RegionCompiler.Bulk.cs). The passes' count comes from the exit test, so each shape of
/// test is here (cmp with a register or a constant then jne, sub then jne, sub 1 then jae, add -1
/// then jb, test then jne, cmp then jb, ja, jae, jbe with the counter either operand), each element size, both directions, over page boundaries into a page
/// mapped far away or not at all, copies onto their own source, budgets of every size and a fill
/// running into compiled code; both tiers must leave exactly the same state, and the JIT must have
/// run passes at once.
/// </summary>
public class BulkLoopTests
{
    public enum Shape { ForwardIndexCopy, BackwardIndexCopy, PointerFillOfAConstant, WordFillOfARegister, DwordCopyCountedDown, QwordCopyDownByAddOfMinusOne, WordCopyWithATest,
        QwordFillBelowAnEnd, ByteCopyWhileTheEndIsAbove, DwordCopyDownWhileAtLeast, WordFillUpToAtMost,
        XmmFillOfARegister, XmmCopyAligned }

    public static TheoryData<Shape, Layout> ShapesAndLayouts() => WithEveryLayout<Shape>();

    /// <summary>Every value of <typeparamref name="T"/> with every layout.</summary>
    private static TheoryData<T, Layout> WithEveryLayout<T>() where T : struct, Enum
    {
        var data = new TheoryData<T, Layout>();
        foreach (var shape in Enum.GetValues<T>())
            foreach (var layout in Enum.GetValues<Layout>()) data.Add(shape, layout);
        return data;
    }

    /// <summary>
    /// Runs the program on both tiers (AccessWindowTests' layouts, the data from <paramref name="seed"/>,
    /// every region optimised at once), rbx the data and r11 <paramref name="outerPasses"/>: each tier's
    /// outcome, and the passes the JIT ran at once.
    /// </summary>
    private static (List<string> Outcomes, long Bulk) OnBothTiers(Assembler a, Layout layout, int seed, ulong outerPasses)
    {
        long bulk = 0;
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed, farPage: 1, _ => StridedLoopTests.OtherPage(seed + 1), f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R11] = outerPasses;
        }, inspect: f => bulk = f.Cpu.JitBulkPasses, promoteAfter: 0);
        return (outcomes, bulk);
    }

    /// <summary>
    /// Each shape in an outer loop whose pass moves the source, the destination and the length: the
    /// source crosses from the first data page into the second (far away in one layout), the
    /// destination from the third into the fourth (unmapped in one layout: the store faults there).
    /// </summary>
    [Theory]
    [MemberData(nameof(ShapesAndLayouts))]
    public void CopyAndFillLoopsAgreeWithTheInterpreter(Shape shape, Layout layout)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.Label(ref outer);
        switch (shape)
        {
            case Shape.ForwardIndexCopy:       // the corpus runtime's memmove going up
                a.lea(rsi, __[rbx + r11 + 0x0C00]);
                a.lea(rax, __[rbx + r11 * 2 + 0x2A00]);
                a.lea(rdx, __[r11 * 8 + 0x700]);
                a.xor(ecx, ecx);
                a.Label(ref top);
                a.movzx(edi, __byte_ptr[rsi + rcx]);
                a.mov(__byte_ptr[rax + rcx], dil);
                a.add(rcx, 1);
                a.cmp(rdx, rcx);
                a.jne(top);
                a.add(r10, rdi);
                break;
            case Shape.BackwardIndexCopy:      // and going down: sub 1, jae
                a.lea(rsi, __[rbx + r11 + 0x0C00]);
                a.lea(rax, __[rbx + r11 * 2 + 0x2A00]);
                a.lea(rcx, __[r11 * 8 + 0x6FF]);
                a.Label(ref top);
                a.movzx(edx, __byte_ptr[rsi + rcx]);
                a.mov(__byte_ptr[rax + rcx], dl);
                a.sub(rcx, 1);
                a.jae(top);
                a.add(r10, rdx);
                break;
            case Shape.PointerFillOfAConstant:  // memset(p, 0xA5, n) through a pointer up to an end pointer
                a.lea(rdi, __[rbx + r11 + 0x2A00]);
                a.lea(rdx, __[rdi + r11 * 8 + 0x700]);
                a.Label(ref top);
                a.mov(__byte_ptr[rdi], 0xA5);
                a.add(rdi, 1);
                a.cmp(rdi, rdx);
                a.jne(top);
                break;
            case Shape.WordFillOfARegister:     // 16-bit elements, the bound a constant
                a.lea(rax, __[r11 * 4 + 0x1234]);
                a.lea(rdi, __[rbx + r11 * 2 + 0x2A00]);
                a.xor(ecx, ecx);
                a.Label(ref top);
                a.mov(__word_ptr[rdi + rcx * 2], ax);
                a.add(rcx, 1);
                a.cmp(rcx, 0x400);
                a.jne(top);
                break;
            case Shape.DwordCopyCountedDown:    // pointers stepped by 4, a count down to zero: sub, jne
                a.lea(rsi, __[rbx + r11 * 4 + 0x0C00]);
                a.lea(rdi, __[rbx + r11 * 4 + 0x2A00]);
                a.lea(rdx, __[r11 * 2 + 0x200]);
                a.Label(ref top);
                a.mov(eax, __dword_ptr[rsi]);
                a.mov(__dword_ptr[rdi], eax);
                a.add(rsi, 4);
                a.add(rdi, 4);
                a.sub(rdx, 1);
                a.jne(top);
                a.add(r10, rax);
                break;
            case Shape.QwordCopyDownByAddOfMinusOne:   // add -1 sets the carry unless the index was 0: jb
                a.lea(rsi, __[rbx + r11 * 8 + 0x0C00]);
                a.lea(rdi, __[rbx + r11 * 8 + 0x2A00]);
                a.lea(rcx, __[r11 + 0x17F]);
                a.Label(ref top);
                a.mov(r8, __qword_ptr[rsi + rcx * 8]);
                a.mov(__qword_ptr[rdi + rcx * 8], r8);
                a.add(rcx, -1);
                a.jb(top);
                a.add(r10, r8);
                break;
            case Shape.WordCopyWithATest:       // sub, then test of the count, then jne
                a.lea(rsi, __[rbx + r11 * 2 + 0x0C01]);
                a.lea(rdi, __[rbx + r11 * 4 + 0x2A03]);
                a.lea(rdx, __[r11 + 0x3F0]);
                a.Label(ref top);
                a.movzx(eax, __word_ptr[rsi]);
                a.mov(__word_ptr[rdi], ax);
                a.add(rsi, 2);
                a.lea(rdi, __[rdi + 2]);
                a.sub(rdx, 1);
                a.test(rdx, rdx);
                a.jne(top);
                a.add(r10, rax);
                break;
            case Shape.QwordFillBelowAnEnd:     // zeroing to an end pointer not a multiple of 8 away: jb
                a.lea(rax, __[rbx + r11 * 8 + 0x2A00]);
                a.lea(r8, __[rax + r11 + 0x7F3]);
                a.Label(ref top);
                a.mov(__qword_ptr[rax], 0);
                a.add(rax, 8);
                a.cmp(rax, r8);
                a.jb(top);
                break;
            case Shape.ByteCopyWhileTheEndIsAbove:   // the counter is cmp's second operand: ja
                a.lea(rdi, __[rbx + r11 + 0x0C00]);
                a.lea(rdx, __[rbx + r11 * 2 + 0x2A00]);
                a.lea(rsi, __[r11 * 8 + 0x700]);
                a.xor(eax, eax);
                a.Label(ref top);
                a.movzx(ecx, __byte_ptr[rdi + rax]);
                a.mov(__byte_ptr[rdx + rax], cl);
                a.add(rax, 1);
                a.cmp(rsi, rax);
                a.ja(top);
                a.add(r10, rcx);
                break;
            case Shape.DwordCopyDownWhileAtLeast:    // down to a constant: sub, cmp, jae
                a.lea(rsi, __[rbx + r11 * 4 + 0x0C00]);
                a.lea(rdi, __[rbx + r11 * 4 + 0x2A00]);
                a.lea(rcx, __[r11 + 0x1FF]);
                a.Label(ref top);
                a.mov(eax, __dword_ptr[rsi + rcx * 4]);
                a.mov(__dword_ptr[rdi + rcx * 4], eax);
                a.sub(rcx, 1);
                a.cmp(rcx, 5);
                a.jae(top);
                a.add(r10, rax);
                break;
            case Shape.XmmFillOfARegister:     // gcc's vectorised zeroing, here of 16 bytes loaded before
                a.movdqu(xmm0, __xmmword_ptr[rbx + r11 * 8 + 0x40]);
                a.lea(rax, __[rbx + r11 * 8 + 0x2A00]);
                a.lea(rdx, __[rax + 0x800]);
                a.Label(ref top);
                a.movups(__xmmword_ptr[rax], xmm0);
                a.add(rax, 16);
                a.cmp(rax, rdx);
                a.jne(top);
                break;
            case Shape.XmmCopyAligned:         // movdqa then movaps: every address a multiple of 16; xmm0 beside rax (both register 0)
                a.lea(rsi, __[rbx + r11 * 8 + 0x0C00]);
                a.and(rsi, -16);
                a.lea(rdi, __[rbx + r11 * 8 + 0x2A00]);
                a.and(rdi, -16);
                a.xor(eax, eax);
                a.Label(ref top);
                a.movdqa(xmm0, __xmmword_ptr[rsi + rax]);
                a.movaps(__xmmword_ptr[rdi + rax], xmm0);
                a.add(rax, 16);
                a.cmp(rax, 0x700);
                a.jne(top);
                break;
            case Shape.WordFillUpToAtMost:      // up to a constant, that last one included: jbe
                a.lea(rax, __[r11 * 8 + 0x4321]);
                a.lea(rdi, __[rbx + r11 * 2 + 0x2A00]);
                a.mov(rcx, r11);
                a.Label(ref top);
                a.mov(__word_ptr[rdi + rcx * 2], ax);
                a.add(rcx, 1);
                a.cmp(rcx, 0x3FF);
                a.jbe(top);
                break;
        }
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        var (outcomes, bulk) = OnBothTiers(a, layout, seed: 71 + (int)shape, outerPasses: 12);
        AssertTiersAgree(layout, outcomes);
        // Going down, the first store of the unmapped layout faults: no pass runs at all.
        if (layout != Layout.FourthPageUnmapped || shape is not (Shape.BackwardIndexCopy or Shape.QwordCopyDownByAddOfMinusOne or Shape.DwordCopyDownWhileAtLeast))
            Assert.True(bulk > 0, "no passes ran at once");
    }

    public enum StringShape { Strlen, SkipSpaces, CopyUpToTheNul, TrimZerosDown }

    public static TheoryData<StringShape, Layout> StringShapesAndLayouts() => WithEveryLayout<StringShape>();

    /// <summary>
    /// Loops whose exit test reads the loaded byte (strlen, a skip of spaces, strcpy's copy up to the
    /// NUL, a trim of trailing zeros going down): the passes before the byte that ends them run at once,
    /// found by one search of the host memory. A rep stosb fills 8 KiB from the first data page's middle
    /// into the third with the byte the loop goes round on; each outer pass plants the byte that ends
    /// it somewhere else (and the far page of one layout holds random bytes instead).
    /// </summary>
    [Theory]
    [MemberData(nameof(StringShapesAndLayouts))]
    public void LoopsLeavingOnALoadedByteAgreeWithTheInterpreter(StringShape shape, Layout layout)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.lea(rdi, __[rbx + 0x800]);
        a.mov(ecx, 0x2000);
        a.mov(eax, shape switch { StringShape.SkipSpaces => 0x20, StringShape.TrimZerosDown => 0x30, _ => 0x41 });
        a.rep.stosb();
        a.Label(ref outer);
        switch (shape)
        {
            case StringShape.Strlen:
                a.lea(rdi, __[rbx + r11 + 0x800]);
                a.mov(__byte_ptr[rdi + r11 * 8 + 0x500], 0);
                a.xor(eax, eax);
                a.Label(ref top);
                a.add(rax, 1);
                a.cmp(__byte_ptr[rdi + rax], 0);
                a.jne(top);
                a.add(r10, rax);
                break;
            case StringShape.SkipSpaces:
                a.lea(rdx, __[rbx + r11 + 0x7FF]);
                a.mov(__byte_ptr[rbx + r11 * 8 + 0xD00], 0x78);
                a.Label(ref top);
                a.movzx(eax, __byte_ptr[rdx + 1]);
                a.add(rdx, 1);
                a.cmp(al, 0x20);
                a.je(top);
                a.add(r10, rdx);
                break;
            case StringShape.CopyUpToTheNul:
                a.lea(rsi, __[rbx + r11 + 0x800]);
                a.mov(__byte_ptr[rsi + r11 * 8 + 0x700], 0);
                a.lea(rdi, __[rbx + r11 * 4 + 0x2A00]);
                a.xor(eax, eax);
                a.Label(ref top);
                a.movzx(edx, __byte_ptr[rsi + rax]);
                a.mov(__byte_ptr[rdi + rax], dl);
                a.add(rax, 1);
                a.test(dl, dl);
                a.jne(top);
                a.add(r10, rax);
                break;
            case StringShape.TrimZerosDown:
                a.lea(rax, __[rbx + r11 * 8 + 0x2000]);
                a.mov(__byte_ptr[rbx + r11 * 4 + 0x900], 0x31);
                a.Label(ref top);
                a.mov(r15, rax);
                a.sub(rax, 1);
                a.cmp(__byte_ptr[rax], 0x30);
                a.je(top);
                a.add(r10, r15);
                break;
        }
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        var (outcomes, bulk) = OnBothTiers(a, layout, seed: 101 + (int)shape, outerPasses: 12);
        Assert.Equal(outcomes[0], outcomes[1]);
        Assert.Contains(layout == Layout.FourthPageUnmapped && shape == StringShape.CopyUpToTheNul ? "PageFault" : "Breakpoint", outcomes[0]);
        Assert.True(bulk > 0, "no passes ran at once");
    }

    /// <summary>
    /// A byte copy onto its own buffer, the destination <paramref name="distance"/> bytes after the
    /// source (negative: before), going up or down: where a pass's store reaches a later pass's load
    /// (the destination just ahead of the source going up, just behind it going down) the loop
    /// repeats a pattern, which a memmove would not; elsewhere the passes may run at once.
    /// </summary>
    [Theory]
    [InlineData(1, true)]
    [InlineData(7, true)]
    [InlineData(0x500, true)]
    [InlineData(-1, true)]
    [InlineData(-0x300, true)]
    [InlineData(1, false)]
    [InlineData(-1, false)]
    [InlineData(-7, false)]
    [InlineData(0x300, false)]
    public void ACopyOntoItsOwnSourceAgreesWithTheInterpreter(int distance, bool up)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.Label(ref outer);
        a.lea(rsi, __[rbx + r11 * 4 + 0x1800]);
        a.lea(rax, __[rsi + distance]);
        if (up) a.xor(ecx, ecx);
        else a.mov(ecx, 0x5FF);
        a.Label(ref top);
        a.movzx(edi, __byte_ptr[rsi + rcx]);
        a.mov(__byte_ptr[rax + rcx], dil);
        if (up)
        {
            a.add(rcx, 1);
            a.cmp(rcx, 0x600);
            a.jne(top);
        }
        else
        {
            a.sub(rcx, 1);
            a.jae(top);
        }
        a.add(r10, rdi);
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        var (outcomes, bulk) = OnBothTiers(a, Layout.Adjacent, seed: 81, outerPasses: 10);
        AssertTiersAgree(Layout.Adjacent, outcomes);
        bool repeats = up ? distance is > 0 and < 0x600 : distance is < 0 and > -0x600;
        if (!repeats) Assert.True(bulk > 0, "no passes ran at once");
    }

    /// <summary>
    /// A fill whose pointer steps by 4 towards an end 2 bytes off its stride never meets it: every
    /// pass goes round again (none is the exit) until the store leaves the mapped data and faults.
    /// </summary>
    [Fact]
    public void AFillThatNeverMeetsItsBoundRunsToTheFault()
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.lea(rdi, __[rbx + 0x100]);
        a.lea(rdx, __[rbx + 0x202]);
        a.mov(eax, 0x01020304);
        a.Label(ref top);
        a.mov(__dword_ptr[rdi], eax);
        a.add(rdi, 4);
        a.cmp(rdi, rdx);
        a.jne(top);
        a.int3();
        var (outcomes, bulk) = OnBothTiers(a, Layout.Adjacent, seed: 91, outerPasses: 0);
        Assert.Equal(outcomes[0], outcomes[1]);
        Assert.Contains("PageFault", outcomes[0]);
        Assert.True(bulk > 0, "no passes ran at once");
    }

    /// <summary>
    /// The forward copy run in slices of the budget (1 to 400 instructions, as timer interrupts cut
    /// it): at the end of every slice both tiers have retired the same instructions and hold the same
    /// registers, so the passes run at once stop at the budget exactly as the passes would.
    /// </summary>
    [Fact]
    public void BudgetsOfEverySizeStopACopyExactly()
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.Label(ref outer);
        a.lea(rsi, __[rbx + r11 + 0x0C00]);
        a.lea(rax, __[rbx + r11 * 2 + 0x2A00]);
        a.mov(edx, 0x900);
        a.xor(ecx, ecx);
        a.Label(ref top);
        a.movzx(edi, __byte_ptr[rsi + rcx]);
        a.mov(__byte_ptr[rax + rcx], dil);
        a.add(rcx, 1);
        a.cmp(rdx, rcx);
        a.jne(top);
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        long bulk = 0;
        StridedLoopTests.AssertSlicesAgree(a, f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R11] = 8;
        }, inspectJit: f => bulk = f.Cpu.JitBulkPasses);
        Assert.True(bulk > 0, "no passes ran at once");
    }

    /// <summary>
    /// A fill of nops (add 1 to the pointer, sub 1 from the count, jne) runs from a data page into the
    /// page of a function called, and compiled, before: its first 256 bytes become nops and the next
    /// call slides into the second function behind them (1, then 0x1234). The passes on the data page
    /// run at once; the code page never takes a fast write, so no window holds it and the passes
    /// there store through the slow path, which drops the function's code.
    /// </summary>
    [Theory]
    [InlineData(ExecutionTier.Interp)]
    [InlineData(ExecutionTier.Jit)]
    public void AFillRunningIntoCompiledCodeIsSeenByTheNextCall(ExecutionTier tier)
    {
        ulong data = JitInvalidationTests.RwxBase + 0x1000, function = JitInvalidationTests.RwxBase + 0x2000;
        Label[] l = [];
        using var f = JitInvalidationTests.WithRwxCode(tier, a =>
        {
            a.mov(ecx, 3);
            a.Label(ref l[0]);
            a.call(function);
            a.dec(ecx);
            a.jnz(l[0]);
            a.add(r8, rax);
            a.lea(rdi, __[rbx + 0xE00]);       // 0x200 bytes on the data page, 0x100 on the function's
            a.mov(ecx, 0x300);
            a.mov(edx, 0x90);
            a.Label(ref l[1]);
            a.mov(__byte_ptr[rdi], dl);
            a.add(rdi, 1);
            a.sub(rcx, 1);
            a.jne(l[1]);
            a.call(function);
            a.add(r8, rax);
            a.int3();
        }, out _, out l, 2, promoteAfter: 0);
        f.Tables.Map(new VirtAddr(data), JitInvalidationTests.RwxPhys + 0x1000, 0x2000, PteFlags.User | PteFlags.Writable);
        f.Machine.Memory.Write(JitInvalidationTests.RwxPhys + 0x2000, [0xB8, 1, 0, 0, 0, 0xC3]);         // mov eax, 1; ret
        f.Machine.Memory.Write(JitInvalidationTests.RwxPhys + 0x2100, [0xB8, 0x34, 0x12, 0, 0, 0xC3]);   // mov eax, 0x1234; ret
        f[MReg.Rbx] = data;
        f.RunToEnd();
        Assert.Equal(1UL + 0x1234, f[MReg.R8]);
        Assert.Equal(0x90, f.Machine.Memory.View(JitInvalidationTests.RwxPhys + 0x1E00, 1)[0]);
        Assert.Equal(0x300UL, f[MReg.Rdi] - data - 0xE00);
        if (tier == ExecutionTier.Jit)
        {
            Assert.True(f.Cpu.CodeInvalidations >= 1, $"{f.Cpu.CodeInvalidations} code invalidations");
            Assert.True(f.Cpu.JitBulkPasses > 0, "no passes ran at once");
        }
    }

    /// <summary>
    /// An aligned XMM fill (movaps) run twenty times at multiples of 16, its passes run at once, and
    /// then, through the same code (an offset the outer block works out with setae), 8 off: that
    /// fill's first store raises #GP, on both tiers, and nothing of it runs at once (its windows are
    /// built, so only the alignment test stops the count).
    /// </summary>
    [Fact]
    public void AnAlignedFillOffItsAlignmentFaultsAtItsFirstStore()
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.movdqu(xmm2, __xmmword_ptr[rbx + 0x80]);
        a.Label(ref outer);
        a.lea(rax, __[rbx + 0x2A00]);
        a.cmp(r11, 20);
        a.setae(cl);
        a.movzx(ecx, cl);
        a.lea(rax, __[rax + rcx * 8]);  // 8 off a multiple of 16 from the twenty-first pass
        a.lea(rdx, __[rax + 0x400]);
        a.jmp(top);                     // into the loop through its head (its pass count), not a copy of its first pass
        a.int3();
        a.Label(ref top);
        a.movaps(__xmmword_ptr[rax], xmm2);
        a.add(rax, 16);
        a.cmp(rax, rdx);
        a.jne(top);
        a.add(r11, 1);
        a.jmp(outer);
        var (outcomes, bulk) = OnBothTiers(a, Layout.Adjacent, seed: 95, outerPasses: 0);
        Assert.Equal(outcomes[0], outcomes[1]);
        Assert.Contains("GeneralProtection", outcomes[0]);
        Assert.True(bulk > 0, "no passes ran at once");
    }
}
