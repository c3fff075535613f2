using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static Lab.Machine.Tests.Jit.AccessWindowTests;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// A self-loop (a block that branches back to its own start) whose accesses step through memory by
/// constants compiles twice: a checked copy and a fast copy whose strided accesses take no window
/// test, run for as many passes as a count made before them keeps every access in its window and
/// within the budget (RegionCompiler.Strides.cs). An access the count got wrong would read or write
/// host memory outside the guest's page: these loops walk up and down over page boundaries, into a
/// page mapped far away or not at all, leave on data, stop at budgets of every size and store into a
/// page holding compiled code, and both tiers must leave exactly the same state.
/// </summary>
public class StridedLoopTests
{
    /// <summary>
    /// Three strided accesses a pass (a load through rsi stepping 8, a load at rbx + rdx·8 + 8 with rdx
    /// stepping 1, a store through rdi stepping 24), inside an outer loop that sweeps again from the
    /// start: the first sweep fills the TLB and the windows, the later ones run the fast copy.
    /// The loads cross from the first data page into the second and from the second into the third
    /// (mapped far away, the counts stop at its edges); the store walks from the third page into the
    /// fourth (unmapped, the store faults at the first pass that reaches it).
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void StridedAccessesUpwardsAgreeWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.Label(ref outer);
        a.mov(rsi, rbx);
        a.lea(rdi, __[rbx + 0x2F08]);
        a.xor(edx, edx);
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rsi]);
        a.add(rax, __qword_ptr[rbx + rdx * 8 + 0x1008]);
        a.mov(__qword_ptr[rdi + 0x10], rax);
        a.add(rsi, 8);
        a.inc(rdx);
        a.add(rdi, 24);
        a.cmp(rdx, r9);
        a.jne(top);
        a.add(r10, rax);
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        AssertAgreesWithCountedPasses(a, layout, seed: 31, farPage: 1, f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R9] = 650;
            f[MReg.R11] = 12;
        });
    }

    /// <summary>
    /// The same walking down: a 4-byte load through rsi stepped by lea -4, a read-modify-write spelled
    /// as a load and a store through rdi stepped by sub 12, the count in rcx: from the fifth data page
    /// down through the fourth (mapped far away, or not at all: the first access below the fifth page
    /// faults) into the third.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void StridedAccessesDownwardsAgreeWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.Label(ref outer);
        a.lea(rsi, __[rbx + 0x4800]);
        a.lea(rdi, __[rbx + 0x4FF4]);
        a.mov(ecx, 700);
        a.Label(ref top);
        a.mov(eax, __dword_ptr[rsi - 4]);
        a.mov(edx, __dword_ptr[rdi]);
        a.add(edx, eax);
        a.mov(__dword_ptr[rdi], edx);
        a.lea(rsi, __[rsi - 4]);
        a.sub(rdi, 12);
        a.dec(rcx);
        a.jnz(top);
        a.add(r10, rdx);
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        AssertAgreesWithCountedPasses(a, layout, seed: 37, farPage: 3, f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R11] = 12;
        });
    }

    /// <summary>
    /// A product's inner loop with an imul from memory (a column walked 192 bytes a pass) and a
    /// read-modify-write accumulation (add to memory through rdi), both strided accesses of their own:
    /// the imul's load and the add's load, whose writable address its store reuses, skip their tests
    /// in the fast copy. The column crosses from the first data page into the far second and on; the
    /// accumulation walks from the third page into the fourth.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void ImulLoadsAndReadModifyWritesAgreeWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.Label(ref outer);
        a.lea(rsi, __[rbx + 0x4000]);
        a.lea(rdx, __[rbx + r11 * 4]);
        a.lea(rdi, __[rbx + 0x2E00]);
        a.mov(ecx, 100);
        a.Label(ref top);
        a.mov(eax, __dword_ptr[rsi]);
        a.imul(eax, __dword_ptr[rdx]);
        a.add(__dword_ptr[rdi], eax);
        a.add(rsi, 4);
        a.add(rdx, 192);
        a.add(rdi, 4);
        a.dec(ecx);
        a.jnz(top);
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        AssertAgreesWithCountedPasses(a, layout, seed: 59, farPage: 1, f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R11] = 12;
        });
    }

    /// <summary>
    /// Floyd-Warshall's inner loop as gcc -O2 compiles it, walking down: one row's element is read
    /// at r8 + r12 through a register rewritten every pass (<c>lea (%rdx,%rsi),%r8</c>, rdx stepped by
    /// -4, rsi and r12 the rows' distance: three registers), the other through a copy of rdx (mov), so
    /// their addresses are worked out from the registers at the block's start; a cmov keeps the minimum, stored back through rdx. The
    /// copy crosses from the third data page down into the far second; the lea's row from the fifth
    /// into the fourth (unmapped: the fault comes at the first pass that reaches it).
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void AddressesRecomputedEveryPassAgreeWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.Label(ref outer);
        a.lea(rdx, __[rbx + 0x2200]);
        a.mov(rsi, 0x1E00);
        a.mov(r12, 0x100);
        a.mov(ecx, 200);
        a.mov(r9d, 5);
        a.Label(ref top);
        a.lea(r8, __[rdx + rsi]);
        a.mov(eax, __dword_ptr[r8 + r12]);   // three registers: rdx + rsi + r12
        a.mov(r10, rdx);
        a.add(eax, r9d);
        a.mov(edi, __dword_ptr[r10 - 8]);   // the lowest address: it reaches each page's edge first
        a.cmp(eax, edi);
        a.cmovg(eax, edi);
        a.mov(__dword_ptr[rdx], eax);
        a.sub(rdx, 4);
        a.dec(ecx);
        a.jnz(top);
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        AssertAgreesWithCountedPasses(a, layout, seed: 61, farPage: 1, f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R11] = 12;
        });
    }

    /// <summary>
    /// A three-point stencil: the loads of a[i-1], a[i] and a[i+1] form one access group, whose check
    /// the fast copy makes with no test (the pass count tests the group's whole range), after the
    /// index's step (inc first: the range is worked out from the index as the block starts); the store
    /// of b[i] is a strided access of its own. The loads cross from the first data page into the far
    /// second and on into the third; the stores walk from the third into the fourth.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void AStencilsGroupAgreesWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.Label(ref outer);
        a.xor(edx, edx);
        a.Label(ref top);
        a.inc(rdx);
        a.mov(rax, __qword_ptr[rbx + rdx * 8 - 8]);
        a.add(rax, __qword_ptr[rbx + rdx * 8]);
        a.add(rax, __qword_ptr[rbx + rdx * 8 + 8]);
        a.mov(__qword_ptr[rdi + rdx * 8], rax);
        a.cmp(rdx, r9);
        a.jne(top);
        a.add(r10, rax);
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        AssertAgreesWithCountedPasses(a, layout, seed: 53, farPage: 1, f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase + 0x804;   // not 8-aligned: a range worked out 7 bytes off reaches past its window
            f[MReg.Rdi] = CpuFixture.DataBase + 0x2800;
            f[MReg.R9] = 1000;
            f[MReg.R11] = 12;
        });
    }

    /// <summary>
    /// A list's nodes built in place (bench/workloads/hard.c's list kernel as gcc -O2 compiles it): a
    /// store through rsi, rsi stepped by 16, a store through rsi - 8. The first store's group is tested
    /// before the loop's head, and the back edge, which moves rsi, does not keep it: every pass tests
    /// it again, so the fast copy (whose back edge skips the head's tests) takes its pointer itself.
    /// Once it did not, and stored every node's index through the first node's pointer.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void ALoopWhoseHeadTestsAGroupEveryPassAgreesWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.Label(ref outer);
        a.mov(rsi, rbx);
        a.xor(edi, edi);
        a.Label(ref top);
        a.mov(ecx, r8d);
        a.mov(__dword_ptr[rsi + 0xc], edi);
        a.add(edi, 1);
        a.add(rsi, 0x10);
        a.sub(r8d, 0x61c8864f);
        a.mov(__dword_ptr[rsi - 8], ecx);
        a.cmp(edi, 0x800);
        a.jne(top);
        a.dec(r12);
        a.jnz(outer);
        a.int3();
        AssertAgreesWithCountedPasses(a, layout, seed: 47, farPage: 1, f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R12] = 5;
        });
    }

    /// <summary>
    /// A byte copy (movzx from rsi, a byte store through rdi, both stepped by inc): with a stride of one
    /// byte the last pass a window holds ends on its last byte exactly, so a count one too high reads
    /// or writes the first byte past it. The source crosses from the first data page into the second,
    /// the destination from the third into the fourth.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void AByteCopyAgreesWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.Label(ref outer);
        a.lea(rsi, __[rbx + 0x0C00]);
        a.lea(rdi, __[rbx + r11 + 0x2A00]);
        a.mov(ecx, 0x800);
        a.Label(ref top);
        a.movzx(eax, __byte_ptr[rsi]);
        a.mov(__byte_ptr[rdi], al);
        a.inc(rsi);
        a.inc(rdi);
        a.dec(ecx);
        a.jnz(top);
        a.add(r10, rax);
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        AssertAgreesWithCountedPasses(a, layout, seed: 43, farPage: 1, f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R11] = 12;
        });
    }

    /// <summary>
    /// A search that leaves on data (cmp of memory with rax, jne back): its count of passes is only
    /// the most it may run, and the loop stops long before at the value planted in the third page,
    /// or with the fourth page unmapped, sweeps past a value that is not there into the fault. The key
    /// changes each outer pass, so each search ends somewhere else.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void ASearchLeavingOnDataAgreesWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.Label(ref outer);
        a.lea(rsi, __[rbx - 8]);
        a.mov(rax, __qword_ptr[rbx + r11 * 8 + 0x2400]);   // a key from the third page, 8 bytes further each pass
        a.Label(ref top);
        a.add(rsi, 8);
        a.cmp(__qword_ptr[rsi], rax);
        a.jne(top);
        a.sub(rsi, rbx);
        a.add(r10, rsi);
        a.dec(r11);
        a.jnz(outer);
        a.mov(rax, r12);                                   // a key found nowhere: the search runs to the fault
        a.mov(rsi, rbx);
        a.jmp(top);
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed: 41, farPage: 1, _ => OtherPage(42), f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R11] = 40;
            f[MReg.R12] = 0x0123_4567_89AB_CDEF;
        }, promoteAfter: 0);
        Assert.Equal(outcomes[0], outcomes[1]);
        Assert.Contains("PageFault", outcomes[0]);   // every layout ends in the search for the missing key
    }

    /// <summary>
    /// The upward loop run in slices of the budget (sizes from a seeded generator, 1 to 400
    /// instructions, as timer interrupts would cut it): at the end of every slice both tiers have
    /// retired the same instructions and hold the same registers. The fast copy's count must stop at
    /// the budget as the checked copy's check does.
    /// </summary>
    [Fact]
    public void BudgetsOfEverySizeStopTheCountedLoopExactly()
    {
        var a = new Assembler(64);
        var outer = a.CreateLabel();
        var top = a.CreateLabel();
        a.Label(ref outer);
        a.mov(rsi, rbx);
        a.xor(edx, edx);
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rsi]);
        a.add(__qword_ptr[rbx + rdx * 8 + 0x2000], rax);   // a read-modify-write: no strided access, tested both copies
        a.mov(__qword_ptr[rbx + rdx * 8 + 0x4000], rax);
        a.add(rsi, 8);
        a.inc(rdx);
        a.cmp(rdx, 1000);
        a.jne(top);
        a.dec(r11);
        a.jnz(outer);
        a.int3();
        AssertSlicesAgree(a, f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R11] = 30;
        });
    }

    /// <summary>
    /// Runs the loop program <paramref name="a"/> on both tiers in slices of the budget (sizes from a
    /// seeded generator, 1 to 400 instructions, as timer interrupts would cut it; every region
    /// optimised at once) and asserts that at the end of every slice both have retired the same
    /// instructions and hold the same registers, that the memory agrees at the end, and that the JIT
    /// compiled a loop with counted passes (<paramref name="inspectJit"/> sees the JIT's machine at the end).
    /// </summary>
    internal static void AssertSlicesAgree(Assembler a, Action<CpuFixture> setup, int jitThreshold = 1, Action<CpuFixture>? inspectJit = null)
    {
        byte[] code = CpuFixture.Assembled(a);
        var traces = new List<List<string>>();
        long counted = 0;
        foreach (var tier in new[] { ExecutionTier.Interp, ExecutionTier.Jit })
        {
            using var f = new CpuFixture(tier, jitThreshold, jitPromoteAfter: 0);
            f.LoadBytes(code);
            setup(f);
            var slices = new Random(5);
            var trace = new List<string>();
            var regs = new ulong[16];
            while (true)
            {
                var r = f.Machine.Run((ulong)slices.Next(1, 401));
                f.Cpu.GetRegisters(regs);
                trace.Add($"{r.Exit} rip 0x{f.Cpu.Rip:x} retired {f.Cpu.InstructionsRetired} regs {string.Join(' ', regs.Select(v => v.ToString("x")))}");
                if (r.Exit != RunExit.BudgetExhausted) break;
            }
            trace.Add(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(f.Machine.Memory.View(CpuFixture.DataPhys, (int)CpuFixture.DataSize).ToArray())));
            traces.Add(trace);
            if (tier == ExecutionTier.Jit) { counted = f.Cpu.JitCountedLoops; inspectJit?.Invoke(f); }
        }
        Assert.Equal(traces[0].Count, traces[1].Count);
        for (int k = 0; k < traces[0].Count; k++) Assert.Equal(traces[0][k], traces[1][k]);
        Assert.True(traces[0].Count > 100, $"{traces[0].Count} slices");
        Assert.True(counted > 0, "the inner loop compiled with counted passes");
    }

    /// <summary>
    /// Runs the loop program <paramref name="a"/> on both tiers (AccessWindowTests' layouts, the data from
    /// <paramref name="seed"/>, data page <paramref name="farPage"/> holding other values when mapped far
    /// away; every region optimised at once) and asserts they leave the same state, and that the JIT
    /// compiled a self-loop with counted passes.
    /// </summary>
    internal static void AssertAgreesWithCountedPasses(Assembler a, Layout layout, int seed, int farPage, Action<CpuFixture> setup, int jitThreshold = 1)
    {
        long counted = 0;
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed, farPage, _ => OtherPage(seed + 1), setup,
            jitThreshold, inspect: f => counted = f.Cpu.JitCountedLoops, promoteAfter: 0);
        AssertTiersAgree(layout, outcomes);
        Assert.True(counted > 0, "the inner loop compiled with counted passes");
    }

    /// <summary>A page of bytes from <paramref name="seed"/>: the far frame holds other values than the frame it replaces, so a load through the wrong one is seen.</summary>
    internal static byte[] OtherPage(int seed)
    {
        var page = new byte[0x1000];
        new Random(seed).NextBytes(page);
        return page;
    }
}
