using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static Lab.Machine.Tests.Jit.AccessWindowTests;
using static Lab.Machine.Tests.Jit.StridedLoopTests;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Counted passes of loops of several blocks (RegionCompiler.Strides.cs): an if/else in the body, a
/// search with a bound and a match, steps that differ between the ways round. The pass count must hold
/// for every way round the loop: each strided register stepped alike on all of them, the budget
/// covering the longest, and an access only some passes make keeping its test. As in
/// <see cref="StridedLoopTests"/>, the loops cross into a page mapped far away or not at all, and both
/// tiers must leave exactly the same state.
/// </summary>
public class LoopOfBlocksTests
{
    /// <summary>The runs before a block compiles: by then every way round has run, so the region holds the whole loop.</summary>
    private const int WaysRun = 40;

    /// <summary>
    /// cnt's sum of negatives and positives: the head loads a[i] and branches on its sign, each branch
    /// adds it to its own total, steps both pointers by 8 and goes back (two edges back to the head).
    /// The negative branch also stores the value through rdi (an access only some passes make: it keeps
    /// its test). The loads walk from the first data page through the second into the third; the
    /// stores from the third page into the fourth (after the loop compiles: the first sweep's 128th pass).
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void AnIfElseInTheBodyAgreesWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        var positive = a.CreateLabel();
        var done = a.CreateLabel();
        a.Label(ref outer);
        a.mov(rsi, rbx);
        a.lea(rdi, __[rbx + 0x2C00]);
        a.lea(rcx, __[rbx + 0x2800]);
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rsi]);
        a.test(rax, rax);
        a.jns(positive);
        a.add(r8, rax);
        a.mov(__qword_ptr[rdi], rax);
        a.add(rsi, 8);
        a.add(rdi, 8);
        a.cmp(rsi, rcx);
        a.jne(top);
        a.jmp(done);
        a.Label(ref positive);
        a.add(r9, rax);
        a.add(rsi, 8);
        a.add(rdi, 8);
        a.cmp(rsi, rcx);
        a.jne(top);
        a.Label(ref done);
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        AssertAgreesWithCountedPasses(a, layout, seed: 61, farPage: 1, f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R11] = 8;
        }, jitThreshold: WaysRun);
    }

    /// <summary>
    /// A search with a bound: the head steps rsi and leaves at the bound, the next block compares
    /// memory with the key and goes back when it differs (the access is in the block that goes back, so
    /// every pass makes it). Keys come from the third page, some past the bound (not found), and the
    /// last search has no bound and a key found nowhere: it runs into the fault.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void ASearchWithABoundAgreesWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        var notFound = a.CreateLabel();
        var next = a.CreateLabel();
        a.Label(ref outer);
        a.lea(rsi, __[rbx - 8]);
        a.lea(rcx, __[rbx + 0x2100]);
        a.mov(rax, __qword_ptr[rbx + r11 * 8 + 0x2000]);   // found before the bound for r11 < 32, else not
        a.Label(ref top);
        a.add(rsi, 8);
        a.cmp(rsi, rcx);
        a.je(notFound);
        a.cmp(__qword_ptr[rsi], rax);
        a.jne(top);
        a.sub(rsi, rbx);
        a.add(r10, rsi);
        a.jmp(next);
        a.Label(ref notFound);
        a.inc(r12);
        a.Label(ref next);
        a.dec(r11);
        a.jnz(outer);
        a.mov(rax, r13);                                   // a key found nowhere, no bound: the search runs to the fault
        a.mov(rsi, rbx);
        a.mov(rcx, 1);
        a.jmp(top);
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed: 67, farPage: 1, _ => OtherPage(68), f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R11] = 40;
            f[MReg.R13] = 0x0123_4567_89AB_CDEF;
        }, jitThreshold: WaysRun, promoteAfter: 0);
        Assert.Equal(outcomes[0], outcomes[1]);
        Assert.Contains("PageFault", outcomes[0]);
    }

    /// <summary>
    /// A pointer stepped up 16 bytes on one way round and down 8 on the other (by the sign of the
    /// value it loads): its access has no stride of one pass and must keep its test in every pass. Each
    /// sweep makes 12 passes over values of both signs in the first data page (so both ways run before
    /// the loop compiles); the last sweep starts elsewhere and goes on until it faults: upwards over
    /// positive values from near the top of the third data page (into the unmapped fourth, or on to
    /// the end of the data), or downwards over negative values from near the bottom of the fifth (into
    /// the unmapped fourth). A count that took the up step would let the fast copy read below its
    /// window's start on the way down, one that took the down step past its end on the way up, where
    /// the interpreter faults. The counted access is the store through rdi, stepped alike.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent, true)]
    [InlineData(Layout.SecondPageFar, true)]
    [InlineData(Layout.FourthPageUnmapped, true)]
    [InlineData(Layout.FourthPageUnmapped, false)]
    public void StepsThatDifferBetweenTheWaysRoundAgreeWithTheInterpreter(Layout layout, bool up)
    {
        int start = up ? 0x2F00 : 0x4100;
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var sweep = a.CreateLabel();
        var top = a.CreateLabel();
        var positive = a.CreateLabel();
        var done = a.CreateLabel();
        a.Label(ref outer);
        a.mov(ecx, 12);
        a.Label(ref sweep);
        a.lea(rsi, __[rbx + r12]);
        a.lea(rdi, __[rbx + 0x5000]);
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rsi]);
        a.mov(__qword_ptr[rdi], rax);
        a.add(rdi, 8);
        a.test(rax, rax);
        a.jns(positive);
        a.sub(rsi, 8);
        a.dec(ecx);
        a.jnz(top);
        a.jmp(done);
        a.Label(ref positive);
        a.add(rsi, 16);
        a.dec(ecx);
        a.jnz(top);
        a.Label(ref done);
        a.add(r10, rsi);
        a.dec(r11);
        a.jnz(outer);
        a.mov(ecx, 0x7FFF_FFFF);                          // the last sweep runs on into the fault
        a.mov(r12, start);
        a.jmp(sweep);
        long counted = 0;
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed: 71, farPage: 1, _ => OtherPage(72), f =>
        {
            // The values the walk meets first all of one sign: up over positive, down over negative.
            var values = new byte[0x100];
            for (int k = 0; k < values.Length; k += 8)
            {
                new Random(k).NextBytes(values.AsSpan(k, 8));
                values[k + 7] = (byte)(up ? values[k + 7] & 0x7F : values[k + 7] | 0x80);
            }
            f.Machine.Memory.Write(CpuFixture.DataPhys + (ulong)(up ? start : start - 0x100), values);
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R11] = 8;
            f[MReg.R12] = 0x800;
        }, jitThreshold: WaysRun, inspect: f => counted = f.Cpu.JitCountedLoops, promoteAfter: 0);
        Assert.Equal(outcomes[0], outcomes[1]);
        Assert.Contains("PageFault", outcomes[0]);
        Assert.True(counted > 0, "the loop compiled with counted passes (its store)");
    }

    /// <summary>
    /// Two ways round of different lengths (4 and 10 instructions after the head's 4) run in slices of
    /// the budget from 1 to 400 instructions: the count must allow for the longer way on every pass,
    /// or a slice would end late.
    /// </summary>
    [Fact]
    public void BudgetsOfEverySizeStopALoopOfBlocksExactly()
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        var shortWay = a.CreateLabel();
        var done = a.CreateLabel();
        a.Label(ref outer);
        a.mov(rsi, rbx);
        a.xor(edx, edx);
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rsi]);
        a.mov(__qword_ptr[rbx + rdx * 8 + 0x4000], rax);
        a.test(rax, rax);
        a.jns(shortWay);
        a.add(r8, rax);
        a.xor(r8, r9);
        a.add(r9, 3);
        a.rol(r8, 7);
        a.sub(r10, r8);
        a.add(r12, r10);
        a.add(rsi, 8);
        a.inc(rdx);
        a.cmp(rdx, 1000);
        a.jne(top);
        a.jmp(done);
        a.Label(ref shortWay);
        a.add(rsi, 8);
        a.inc(rdx);
        a.cmp(rdx, 1000);
        a.jne(top);
        a.Label(ref done);
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        AssertSlicesAgree(a, f =>
        {
            var data = new byte[0x2000];
            new Random(73).NextBytes(data);   // signs both ways
            f.Machine.Memory.Write(CpuFixture.DataPhys, data);
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R11] = 30;
        }, jitThreshold: WaysRun);
    }
}
