using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Compiled accesses go through windows (runs of TLB entries with one addend). A window only copies
/// what the TLB holds, so the JIT must see exactly what the interpreter sees: a stale translation the
/// kernel has not invalidated yet, the new one once it has, and page-crossing accesses whether or not
/// the two pages lie next to each other in physical memory.
/// </summary>
public class AccessWindowTests
{
    /// <summary>Sums the 2,048 quadwords of the four data pages at DataBase over and over (rcx iterations, rsi the index).</summary>
    private static byte[] SumLoop()
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rbx + rsi * 8]);
        a.add(rdx, rax);
        a.inc(esi);
        a.and(esi, 0x7FF);
        a.dec(rcx);
        a.jne(top);
        a.int3();
        return CpuFixture.Assembled(a);
    }

    private static CpuFixture Start(ExecutionTier tier)
    {
        var f = new CpuFixture(tier, jitThreshold: 1);
        f.LoadBytes(SumLoop());
        for (ulong i = 0; i < 2048; i++) f.WriteData64(i * 8, i + 1);
        f[MReg.Rbx] = CpuFixture.DataBase;
        f[MReg.Rcx] = 1_000_000;
        return f;
    }

    private static void RunFor(CpuFixture f, ulong instructions) =>
        Assert.Equal(RunExit.BudgetExhausted, f.Machine.Run(instructions).Exit);

    /// <summary>
    /// The kernel remaps the third data page to another frame (other values) between runs, first
    /// without telling the CPU: both tiers go on reading the old frame through the translation the
    /// TLB still holds, and agree at every step. After invlpg both read the new frame.
    /// </summary>
    [Fact]
    public void StaleAndFreshTranslationsAgreeAcrossTiers()
    {
        using var interp = Start(ExecutionTier.Interp);
        using var jit = Start(ExecutionTier.Jit);
        var other = new PhysAddr(0x300000);
        ulong third = CpuFixture.DataBase + 0x2000;
        var seen = new List<ulong>();
        foreach (var f in new[] { interp, jit })
        {
            RunFor(f, 20_000);                            // every page read, the windows built
            for (ulong i = 0; i < 512; i++) f.Machine.Memory.WriteU64(other + i * 8, 1_000_000 + i);
            f.Tables.MapPage(new VirtAddr(third), other, PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);
            ulong before = f[MReg.Rdx];
            RunFor(f, 20_000);                            // stale: the old frame still
            ulong stale = f[MReg.Rdx] - before;
            f.Cpu.InvalidatePage(new VirtAddr(third));
            before = f[MReg.Rdx];
            RunFor(f, 20_000);                            // fresh: the new frame
            ulong fresh = f[MReg.Rdx] - before;
            seen.AddRange([stale, fresh, f.Cpu.InstructionsRetired, f[MReg.Rsi]]);
        }
        Assert.Equal(seen.Take(4), seen.Skip(4));
        // 20,000 instructions are 3,333 reads, so each run passes the third page: the stale run sums
        // old values (at most 2,048 each), the fresh run 512 new ones (over a million each) among them.
        Assert.True(seen[0] < 100_000_000, $"the stale run read the new frame: {seen[0]}");
        Assert.True(seen[1] > 500_000_000, $"the fresh run did not read the new frame: {seen[1]}");
        Assert.True(jit.Cpu.WindowsBuilt > 0 && jit.Cpu.WindowsEmptied > 0,
            $"windows built {jit.Cpu.WindowsBuilt}, emptied {jit.Cpu.WindowsEmptied}");
    }

    /// <summary>
    /// Two loads over the same four pages, half the array apart (rsi and rdi), summed into rdx and
    /// r8: the second site's window takes the run the first one found, with no scan of the TLB. The
    /// kernel then remaps the third page and invalidates it: exactly the windows over that page are
    /// emptied, the page's other users included, and both sites read the new frame, as the
    /// interpreter does.
    /// </summary>
    [Fact]
    public void TwoSitesOverOneArrayShareARunAndBothSeeTheRemap()
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rbx + rsi * 8]);
        a.add(rdx, rax);
        a.mov(rax, __qword_ptr[rbx + rdi * 8]);
        a.add(r8, rax);
        a.inc(esi);
        a.and(esi, 0x7FF);
        a.inc(edi);
        a.and(edi, 0x7FF);
        a.dec(rcx);
        a.jne(top);
        a.int3();
        byte[] code = CpuFixture.Assembled(a);
        var other = new PhysAddr(0x300000);
        ulong third = CpuFixture.DataBase + 0x2000;
        var seen = new List<ulong>();
        long emptiedByInvlpg = 0, shared = 0, invalidations = 0;
        foreach (var tier in new[] { ExecutionTier.Interp, ExecutionTier.Jit })
        {
            // One compile of the loop (no quick code promoted meanwhile): the windows counted are its two.
            using var f = new CpuFixture(tier, jitThreshold: 1, jitPromoteAfter: 0);
            f.LoadBytes(code);
            for (ulong i = 0; i < 2048; i++) f.WriteData64(i * 8, i + 1);
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.Rdi] = 1024;
            f[MReg.Rcx] = 1_000_000;
            RunFor(f, 40_000);                            // every page read by both sites, the windows built
            for (ulong i = 0; i < 512; i++) f.Machine.Memory.WriteU64(other + i * 8, 1_000_000 + i);
            f.Tables.MapPage(new VirtAddr(third), other, PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);
            long emptiedBefore = f.Cpu.WindowsEmptied, invalidationsBefore = f.Cpu.WindowInvalidations;
            f.Cpu.InvalidatePage(new VirtAddr(third));
            emptiedByInvlpg = f.Cpu.WindowsEmptied - emptiedBefore;
            invalidations = f.Cpu.WindowInvalidations - invalidationsBefore;
            ulong rdx = f[MReg.Rdx], r8 = f[MReg.R8];
            RunFor(f, 40_000);                            // 4,000 iterations: each site passes the third page
            seen.AddRange([f[MReg.Rdx] - rdx, f[MReg.R8] - r8, f.Cpu.InstructionsRetired, f[MReg.Rsi], f[MReg.Rdi]]);
            shared = f.Cpu.WindowsShared;
        }
        Assert.Equal(seen.Take(5), seen.Skip(5));
        Assert.True(seen[0] > 500_000_000 && seen[1] > 500_000_000, $"a site did not read the new frame: {seen[0]}, {seen[1]}");
        Assert.Equal(2, emptiedByInvlpg);
        Assert.Equal(0, invalidations);
        Assert.True(shared > 0, "the second site scanned the TLB for a run the first site's window held");
    }

    /// <summary>
    /// A compiled loop whose 8-byte load and store straddle a page boundary on every iteration. With
    /// both pages next to each other in physical memory the window covers the access and compiled
    /// code makes it itself; with the second page elsewhere it never takes a fast path and compiled
    /// code hands each such instruction to the interpreter. Either way the loop finishes with the
    /// interpreter's state and count.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AccessesAcrossPagesInACompiledLoopMakeProgress(bool adjacentFrames)
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rbx + 0xFFC]);     // rbx = a page start: bytes 0xFFC..0x1003
        a.add(rax, rcx);
        a.mov(__qword_ptr[rbx + 0xFFC], rax);
        a.add(rdx, rax);
        a.dec(ecx);
        a.jne(top);
        a.int3();
        var (results, entries) = RunOnTwoPages(CpuFixture.Assembled(a), adjacentFrames, seed: 7, iterations: 5000, _ => CpuFixture.DataPhys + 0xFF8);
        Assert.Equal(results.Take(4), results.Skip(4));
        if (adjacentFrames) Assert.True(entries < 100, $"compiled code was entered {entries} times: the crossing access left it");
        else Assert.True(entries > 1000, $"compiled code ran {entries} times");
    }

    /// <summary>
    /// Runs <paramref name="code"/> on both tiers (the JIT compiling at the second run) over two pages
    /// (<see cref="OnTwoPages"/>) with rcx = <paramref name="iterations"/>, up to its int3. Returns rdx,
    /// rax, the count and the word at <paramref name="word"/> (given the second page's frame) of each
    /// tier, and the JIT's entries into compiled code.
    /// </summary>
    private static (List<ulong> Results, long Entries) RunOnTwoPages(byte[] code, bool adjacentFrames, int seed, ulong iterations, Func<PhysAddr, PhysAddr> word)
    {
        var results = new List<ulong>();
        long entries = 0;
        foreach (var tier in new[] { ExecutionTier.Interp, ExecutionTier.Jit })
        {
            using var f = new CpuFixture(tier, jitThreshold: 2);
            PhysAddr second = OnTwoPages(f, code, adjacentFrames, seed);
            f[MReg.Rcx] = iterations;
            var trap = f.Run(1_000_000);
            Assert.Equal(TrapKind.Breakpoint, trap.Kind);
            results.AddRange([f[MReg.Rdx], f[MReg.Rax], f.Cpu.InstructionsRetired, f.Machine.Memory.ReadU64(word(second))]);
            entries = f.Cpu.JitEntries;
        }
        return (results, entries);
    }

    /// <summary>
    /// Runs the guest (an endless loop) in slices until it has retired a million instructions,
    /// <paramref name="ready"/> holds and no region compiled on the worker waits to be installed (the
    /// code under test is installed while the guest runs, so the test waits for that, not for a time),
    /// then <paramref name="instructions"/> more. Returns the entries into compiled code during those.
    /// </summary>
    private static long EntriesOnceInstalled(CpuFixture jit, ulong instructions, Func<bool> ready)
    {
        // The cap only stops a broken build from looping forever.
        for (int slice = 0; slice < 100_000 && (jit.Cpu.InstructionsRetired < 1_000_000 || !ready() || jit.Cpu.JitReplacementsPending != 0); slice++)
            jit.Machine.Run(9_973);
        long entries = jit.Cpu.JitEntries;
        Assert.Equal(RunExit.BudgetExhausted, jit.Machine.Run(instructions).Exit);
        return jit.Cpu.JitEntries - entries;
    }

    /// <summary>
    /// Loads <paramref name="code"/> and two pages of random data, the second adjacent to the first or
    /// mapped far away (a copy of the same bytes); rbx = the first page. Returns the second page's frame.
    /// </summary>
    private static PhysAddr OnTwoPages(CpuFixture f, byte[] code, bool adjacentFrames, int seed)
    {
        f.LoadBytes(code);
        var data = new byte[0x2000];
        new Random(seed).NextBytes(data);
        f.Machine.Memory.Write(CpuFixture.DataPhys, data);
        PhysAddr second = CpuFixture.DataPhys + 0x1000;
        if (!adjacentFrames)
        {
            second = new PhysAddr(0x300000);
            f.Machine.Memory.Write(second, data.AsSpan(0x1000));
            f.Tables.MapPage(new VirtAddr(CpuFixture.DataBase + 0x1000), second, PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);
        }
        f[MReg.Rbx] = CpuFixture.DataBase;
        return second;
    }

    /// <summary>
    /// A group of accesses through one register whose range crosses a page boundary (a stack frame
    /// across two pages), each access within one page: with the two frames adjacent the group's
    /// window holds the range; with the second elsewhere no window or TLB entry does, the check
    /// leaves for the interpreter, and after a few such exits the region is compiled again with a
    /// test at each member, whose accesses then take the TLB path each in compiled code. Either way
    /// the loop stays in compiled code (once that code is installed: the test waits for it while
    /// the guest runs, not for a time) and leaves the interpreter's state at the same count.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AGroupAcrossPagesThatLieApartStaysInCompiledCode(bool adjacentFrames)
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rbx + 0xFF8]);     // rbx = a page start: the group spans 0xFF0..0x1010
        a.add(rax, __qword_ptr[rbx + 0x1008]);
        a.mov(__qword_ptr[rbx + 0x1000], rax);
        a.mov(__qword_ptr[rbx + 0xFF0], rdx);      // (a write group's window needs both pages written)
        a.add(rdx, rax);
        a.dec(rcx);
        a.jne(top);
        a.int3();
        byte[] code = CpuFixture.Assembled(a);
        using var jit = new CpuFixture(ExecutionTier.Jit, jitThreshold: 2);
        OnTwoPages(jit, code, adjacentFrames, seed: 9);
        jit[MReg.Rcx] = 1UL << 40;
        long entries = EntriesOnceInstalled(jit, 1_200_000, () => adjacentFrames || jit.Cpu.JitRegionsRetested != 0);   // 200,000 passes
        Assert.True(entries < 1_000, $"compiled code was entered {entries} times in 200,000 passes: the group's check kept leaving it");
        Assert.Equal(adjacentFrames ? 0 : 1, jit.Cpu.JitRegionsRetested);
        using var interp = new CpuFixture(ExecutionTier.Interp);
        OnTwoPages(interp, code, adjacentFrames, seed: 9);
        interp[MReg.Rcx] = 1UL << 40;
        interp.Machine.Run(jit.Cpu.InstructionsRetired);
        jit.AssertSameStateAs(interp);
    }

    /// <summary>
    /// A loop copying from one array to another exactly the TLB's reach (its slots times a page)
    /// above it, as two arrays of that size side by side in a program's data: with a TLB indexed by
    /// the page number's low bits the two pages took one slot, each access evicted the other's
    /// translation, and every access left compiled code for the interpreter's page walk. The copy
    /// must agree with the interpreter and stay in compiled code.
    /// </summary>
    [Fact]
    public void ACopyBetweenArraysATlbReachApartStaysInCompiledCode()
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rbx + rsi * 8]);
        a.add(rax, rcx);
        a.mov(__qword_ptr[rdi + rsi * 8], rax);
        a.inc(esi);
        a.and(esi, 0x1FF);
        a.dec(rcx);
        a.jne(top);
        a.int3();
        byte[] code = CpuFixture.Assembled(a);
        var far = new PhysAddr(0x300000);
        var outcomes = new List<string>();
        long entries = 0;
        foreach (var tier in new[] { ExecutionTier.Interp, ExecutionTier.Jit })
        {
            using var f = new CpuFixture(tier, jitThreshold: 1);
            ulong reach = 1UL << (12 + f.Cpu.TlbBits);
            f.LoadBytes(code);
            for (ulong i = 0; i < 512; i++) f.WriteData64(i * 8, i * 0x9E3779B97F4A7C15);
            f.Tables.MapPage(new VirtAddr(CpuFixture.DataBase + reach), far, PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.Rdi] = CpuFixture.DataBase + reach;
            f[MReg.Rcx] = 20_000;
            var trap = f.Run(1_000_000);
            Assert.Equal(TrapKind.Breakpoint, trap.Kind);
            outcomes.Add($"rax {f[MReg.Rax]:x} rsi {f[MReg.Rsi]:x} retired {f.Cpu.InstructionsRetired} "
                + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(f.Machine.Memory.View(far, 0x1000).ToArray())));
            entries = f.Cpu.JitEntries;
        }
        Assert.Equal(outcomes[0], outcomes[1]);
        Assert.True(entries < 100, $"compiled code was entered {entries} times: the two arrays' accesses left it");
    }

    /// <summary>
    /// A copy from a read-only page (a program's .rodata) to a writable one through one base register:
    /// from 0x100 to 6 KiB on, where loads and stores make one group only within a page (a group over
    /// both would need a write window over the read-only page, which no window can be), and from the
    /// page's last bytes to just past it, one group within a page whose write window can never be
    /// built: its check must not leave for a rebuild at every pass, but go on leaving until its
    /// region is compiled again with a test at each member. Both must stay in compiled code and agree
    /// with the interpreter.
    /// </summary>
    [Theory]
    [InlineData(0x100, 0x1900, 0)]
    [InlineData(0xFF8, 0x1008, 1)]
    public void ACopyFromAReadOnlyTableStaysInCompiledCode(int from, int to, int retested)
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(eax, __dword_ptr[rbx + from]);
        a.add(eax, esi);
        a.mov(__dword_ptr[rbx + to], eax);
        a.inc(esi);
        a.dec(rcx);
        a.jne(top);
        a.int3();
        byte[] code = CpuFixture.Assembled(a);
        CpuFixture Start(ExecutionTier tier)
        {
            var f = new CpuFixture(tier, jitThreshold: 2);
            f.LoadBytes(code);
            for (ulong i = 0; i < 1024; i++) f.WriteData64(i * 8, i * 0x9E3779B97F4A7C15);
            f.Tables.MapPage(new VirtAddr(CpuFixture.DataBase), CpuFixture.DataPhys, PteFlags.User | PteFlags.NoExecute);
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.Rcx] = 1UL << 40;
            return f;
        }
        string Outcome(CpuFixture f) =>
            $"retired {f.Cpu.InstructionsRetired} rax {f[MReg.Rax]:x} rsi {f[MReg.Rsi]:x} rcx {f[MReg.Rcx]:x} flags 0x{f.Cpu.RFlags:x} "
            + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(f.Machine.Memory.View(CpuFixture.DataPhys, 0x3000).ToArray()));
        using var jit = Start(ExecutionTier.Jit);
        long entries = EntriesOnceInstalled(jit, 1_400_000, () => true);   // 200,000 passes
        Assert.True(entries < 1_000, $"compiled code was entered {entries} times in 200,000 passes: a check kept leaving it");
        Assert.Equal(retested, jit.Cpu.JitRegionsRetested);
        using var interp = Start(ExecutionTier.Interp);
        Assert.Equal(RunExit.BudgetExhausted, interp.Machine.Run(jit.Cpu.InstructionsRetired).Exit);
        Assert.Equal(Outcome(interp), Outcome(jit));
    }

    public enum Layout { Adjacent, SecondPageFar, FourthPageUnmapped }

    /// <summary>
    /// A loop of struct-style accesses (loads, a store and compares from one base register, then the
    /// base moves and a second group follows) walking 40 bytes an iteration through the data pages,
    /// so groups straddle page boundaries: with adjacent frames the group's window covers them; with
    /// the third page mapped far away the straddling groups miss and their members take the TLB path;
    /// with the fourth page unmapped a member in the middle of a group faults. The JIT, compiling on
    /// the first run, must leave exactly the interpreter's registers, flags, memory, count and trap.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void GroupedAccessesAgreeWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rbx]);
        a.mov(rdx, __qword_ptr[rbx + 16]);
        a.add(rax, rdx);
        a.mov(__qword_ptr[rbx + 8], rax);
        a.cmp(__dword_ptr[rbx + 24], 7);
        a.adc(rsi, 0);
        a.add(rbx, 40);
        a.mov(r8, __qword_ptr[rbx - 8]);
        a.add(r8, __qword_ptr[rbx - 16]);
        a.mov(__dword_ptr[rbx - 28], r8d);
        a.movzx(ecx, __byte_ptr[rbx - 3]);
        a.add(rdi, rcx);
        a.dec(r9);
        a.jne(top);
        a.int3();
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed: 11, farPage: 2, data => data.AsSpan(0x2000, 0x1000).ToArray(), f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase + 0x18;
            f[MReg.R9] = 1500;
        });
        AssertTiersAgree(layout, outcomes);
    }

    /// <summary>
    /// Groups carried from a block into the two blocks only it reaches (the two sides of an if) and on
    /// into the block where they join: the first block reads through rbx, rsp and r13 and bounds ecx by
    /// a byte; one side reads through rbx and rsp with rsp where the first block left it, bounds ecx
    /// by 15 and pushes, the other pushes, reads through both (the rsp member 8 bytes further from rsp)
    /// and pushes again. The join block looks up r13's table by ecx (as far as the larger bound, 255,
    /// reaches), reads through rbx, and reads the top of the stack, 8 or 16 bytes below the first
    /// block's rsp (its two sides moved rsp unlike: that group does not go on). rbx walks 40 bytes an
    /// iteration, so the carried range straddles pages; r13's table reaches from the first data page
    /// into the second. With the second page far away the first block's window tests fail for those
    /// and the members on either side and after take the TLB path; with the fourth page unmapped a
    /// member on one side faults after the test passed for none. The JIT must leave exactly the
    /// interpreter's registers, flags, memory, count and trap.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void GroupsCarriedThroughAnIfAgreeWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        var even = a.CreateLabel();
        var join = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rbx]);
        a.mov(r11, __qword_ptr[rsp]);
        a.mov(r10d, __dword_ptr[r13]);
        a.movzx(ecx, al);                     // at most 255
        a.test(al, 1);
        a.jz(even);
        a.mov(rdx, __qword_ptr[rbx + 24]);    // one side: rsp as the first block left it
        a.add(rdx, __qword_ptr[rsp]);
        a.mov(__qword_ptr[rbx + 8], rdx);
        a.and(ecx, 15);                       // at most 15 on this side
        a.push(rdx);                          // rsp 8 lower
        a.jmp(join);
        a.Label(ref even);
        a.push(rcx);                          // the other: rsp 8 lower first
        a.mov(rdx, __qword_ptr[rbx + 16]);
        a.add(rdx, __qword_ptr[rsp + 8]);     // the first block's [rsp]
        a.mov(__qword_ptr[rbx + 8], rdx);
        a.push(rax);                          // rsp 16 lower
        a.jmp(join);
        a.Label(ref join);                    // two predecessors, rsp unlike
        a.add(r10d, __dword_ptr[r13 + rcx * 4 + 4]);
        a.add(rdx, __qword_ptr[rbx + 32]);
        a.mov(rcx, __qword_ptr[rsp]);
        a.mov(rsp, r12);
        a.add(rsi, rcx);
        a.add(rsi, rdx);
        a.add(rdi, r11);
        a.add(rdi, r10);
        a.add(rbx, 40);
        a.dec(r9);
        a.jne(top);
        a.int3();
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed: 13, farPage: 1, data => data.AsSpan(0x2000, 0x1000).ToArray(), f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase + 0x10;
            f[MReg.R13] = CpuFixture.DataBase + 0xF00;
            f[MReg.Rsp] = f[MReg.R12] = CpuFixture.StackTop - 0x100;
            f[MReg.R9] = 1500;
        }, jitThreshold: 20);   // the loop's head compiles after every block has run: one region holds them all
        AssertTiersAgree(layout, outcomes);
    }

    /// <summary>
    /// Groups tested once before a loop's head instead of on every pass: a table looked up through
    /// rbx by a bounded index, a structure through r13 read, written and updated in place (the update
    /// ends no group), and a stack slot read between a push and a pop. The inner back edge keeps them
    /// all and skips the tests; every eighth pass a second back edge comes after a push that leaves
    /// rsp lower for good, and every sixteenth a third after r13 moved 24 bytes on: both must test
    /// again. r13 walks through the data pages, so the structure's range straddles pages: with the
    /// second page far away the head's test fails and the members take the TLB path; with the fourth
    /// page unmapped a member in the loop faults. The JIT must leave exactly the interpreter's
    /// registers, flags, memory, count and trap.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void GroupsTestedBeforeALoopAgreeWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(eax, r8d);
        a.and(eax, 255);
        a.mov(rax, __qword_ptr[rbx + rax * 8]);
        a.add(__qword_ptr[r13], rax);
        a.mov(__qword_ptr[r13 + 8], rax);
        a.push(rax);
        a.mov(rdx, __qword_ptr[rsp + 16]);
        a.pop(rcx);
        a.add(rdx, __qword_ptr[r13 + 16]);
        a.add(rsi, rdx);
        a.inc(r8);
        a.test(r8b, 7);
        a.jnz(top);                           // keeps every group
        a.push(rcx);                          // rsp 8 lower from now on
        a.test(r8b, 8);
        a.jnz(top);
        a.add(r13, 24);                       // the structure moves on
        a.dec(r9);
        a.jnz(top);
        a.int3();
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed: 17, farPage: 1, data => data.AsSpan(0x2000, 0x1000).ToArray(), f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase + 0x4C00;
            f[MReg.R13] = CpuFixture.DataBase + 0x10;
            f[MReg.Rsp] = CpuFixture.StackTop - 0x100;
            f[MReg.R9] = 700;
        }, jitThreshold: 20);   // the head compiles after the other blocks have run: one region holds them all
        AssertTiersAgree(layout, outcomes);
    }

    /// <summary>
    /// Table lookups as a T-table cipher or a CRC makes them: indexes bounded by a zero-extended byte
    /// (al and ah), a shift right by 24 and an and with 0xff (copied by a 32-bit mov), through a base
    /// register and at a constant address, loads and a store. Compiled, they share one window test
    /// per table group (their index's bound gives the range). The first table straddles the first two
    /// data pages; with the second page mapped far away (to other values) the group's range is not in
    /// one window and each lookup takes the TLB path; with the fourth page unmapped the stores into the last table,
    /// which straddles the third and fourth pages, fault at the first index that reaches it. Two lookups
    /// whose index went through an op the tracker does not know (lea) reach from the first page into
    /// the second: given a byte's bound they would share a window over the first page alone. Two loads
    /// and a store at constant addresses across the first two pages form a group of no register. The JIT
    /// must leave exactly the interpreter's registers, flags, memory, count and trap.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void BoundedIndexLookupsAgreeWithTheInterpreter(Layout layout)
    {
        const int StaticTable = (int)CpuFixture.DataBase + 0x1800;
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(eax, r10d);
        a.movzx(ecx, al);
        a.mov(ecx, __dword_ptr[rbx + rcx * 4]);             // T0: rbx + [0, 0x400), across pages 0 and 1
        a.mov(edx, r10d);
        a.shr(edx, 24);
        a.xor(ecx, __dword_ptr[rbx + rdx * 4 + 0x400]);     // T1
        a.movzx(edx, ah);
        a.xor(ecx, __dword_ptr[rdx * 4 + StaticTable]);     // a static table: no base register
        a.mov(edx, r10d);
        a.and(edx, 0xFF);
        a.mov(r11d, edx);
        a.mov(__dword_ptr[rbx + r11 * 4 + 0x2000], ecx);    // T2: across pages 2 and 3
        a.lea(edx, __dword_ptr[rdx + rdx * 2]);             // no known bound now: up to 765
        a.add(ecx, __dword_ptr[rdx * 4 + (int)CpuFixture.DataBase + 0x800]);   // reaches the second page
        a.xor(ecx, __dword_ptr[rdx * 4 + (int)CpuFixture.DataBase + 0x804]);
        a.mov(r8d, __dword_ptr[(int)CpuFixture.DataBase + 0xFFC]);   // constant addresses: one group across pages 0 and 1
        a.add(r8d, __dword_ptr[(int)CpuFixture.DataBase + 0x1004]);
        a.mov(__dword_ptr[(int)CpuFixture.DataBase + 0x1000], r8d);
        a.imul(r10d, r10d, 0x3B9ACA07);
        a.add(r10d, ecx);
        a.add(rsi, rcx);
        a.add(rdi, r8);
        a.dec(r9);
        a.jne(top);
        a.int3();
        // The far frame holds other values than the one it replaces: a lookup read through the wrong one shows.
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed: 5, farPage: 1, _ => RandomPage(6), f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase + 0xE00;
            f[MReg.R10] = 0x12345678;
            f[MReg.R9] = 3000;
        });
        AssertTiersAgree(layout, outcomes);
    }

    /// <summary>
    /// Lookups in static tables through a bounded base register and no index, as gcc emits them for
    /// byte offsets (<c>and $0xfc, %esi; mov SP(%rsi), %esi</c> in a DES round, <c>movzbl sbox(%rax)</c>):
    /// the register is both the lookup's base and its destination, a table straddles the first two
    /// data pages, a byte table sits in the second, a store goes through one into a table that
    /// straddles the third and fourth pages, a compare reads through one, and a lookup's index is a
    /// byte sign-extended (<c>movslq</c>, whose bound is the byte's). Compiled, the loads
    /// form one group of no register. With the second page far away no window holds the range; with
    /// the fourth page unmapped the store faults at the first offset that reaches it. The JIT must
    /// leave exactly the interpreter's registers, flags, memory, count and trap.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void BoundedBaseLookupsAgreeWithTheInterpreter(Layout layout)
    {
        int table = (int)CpuFixture.DataBase;
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(esi, r10d);
        a.and(esi, 0xFC);
        a.mov(esi, __dword_ptr[rsi + table + 0xF80]);      // across pages 0 and 1
        a.mov(edx, r10d);
        a.shr(edx, 8);
        a.and(edx, 0xFC);
        a.xor(esi, __dword_ptr[rdx + table + 0x1100]);
        a.mov(eax, r10d);
        a.shr(eax, 16);
        a.movzx(ecx, al);
        a.movzx(ecx, __byte_ptr[rcx + table + 0x1800]);    // a byte table
        a.add(esi, ecx);
        a.mov(edx, r10d);
        a.shr(edx, 24);
        a.mov(__byte_ptr[rdx + table + 0x2F80], sil);      // a store across pages 2 and 3
        a.movzx(eax, ah);
        a.cmp(esi, __dword_ptr[rax + table + 0x1C00]);
        a.mov(ecx, r10d);
        a.movzx(ecx, ch);
        a.movsxd(r11, ecx);                                 // sign-extended, still bounded by the byte
        a.sub(esi, __dword_ptr[rbx + r11 * 4]);             // rbx: across pages 0 and 1
        a.xor(esi, __dword_ptr[rbx + r11 * 4 + 0x40]);
        a.adc(rdi, rsi);
        a.imul(r10d, r10d, 0x3B9ACA07);
        a.add(r10d, esi);
        a.dec(r9);
        a.jne(top);
        a.int3();
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed: 29, farPage: 1, _ => RandomPage(8), f =>
        {
            f[MReg.R10] = 0x9ABCDEF1;
            f[MReg.Rbx] = CpuFixture.DataBase + 0xE00;
            f[MReg.R9] = 3000;
        }, jitThreshold: 20);   // the tables are in the TLB when the loop compiles
        AssertTiersAgree(layout, outcomes);
    }

    /// <summary>
    /// A DES round's eight lookups: each through a register bounded by <c>and $0xfc</c> as the
    /// lookup's base, into eight static tables of one page. Compiled, they test one window a pass
    /// (one group of no register), not one each: the loop builds a window or two, not eight.
    /// </summary>
    [Fact]
    public void ACiphersByteOffsetLookupsShareOneWindow()
    {
        int tables = (int)CpuFixture.DataBase + 0x1000;
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.xor(ecx, ecx);
        for (int t = 0; t < 8; t++)
        {
            a.mov(esi, r10d);
            if (t % 4 != 0) a.shr(esi, (byte)(8 * (t % 4)));
            a.and(esi, 0xFC);
            a.xor(ecx, __dword_ptr[rsi + tables + t * 0x100]);
        }
        a.imul(r10d, r10d, 0x3B9ACA07);
        a.add(r10d, ecx);
        a.dec(r9);
        a.jne(top);
        a.int3();
        long windows = 0;
        var results = new List<ulong>();
        foreach (var tier in new[] { ExecutionTier.Interp, ExecutionTier.Jit })
        {
            using var f = new CpuFixture(tier, jitThreshold: 20);
            f.LoadBytes(CpuFixture.Assembled(a));
            var data = new byte[CpuFixture.DataSize];
            new Random(31).NextBytes(data);
            f.Machine.Memory.Write(CpuFixture.DataPhys, data);
            f[MReg.R10] = 0x13579BDF;
            f[MReg.R9] = 20_000;
            Assert.Equal(TrapKind.Breakpoint, f.Run(10_000_000).Kind);
            results.Add(f[MReg.R10]);
            results.Add(f.Cpu.InstructionsRetired);
            windows = f.Cpu.WindowsBuilt;
        }
        Assert.Equal(results[0], results[2]);
        Assert.Equal(results[1], results[3]);
        Assert.True(windows <= 2, $"{windows} access windows built: the eight lookups did not share one");
    }

    /// <summary>
    /// imul's flags (CF = OF = the product overflowed) seen only by the exits of the loads after it,
    /// as a 2-D array's index is computed before the load: compiled code keeps the operands for the
    /// exits and multiplies once. Two- and three-operand imul of 16, 32 and 64 bits, overflowing on
    /// some passes and not on others, each followed by a load that walks the data pages: with the
    /// second page far away the loads miss their windows and leave, with the fourth unmapped the
    /// walk faults, and the trap must see the imul's flags. The JIT must leave exactly the
    /// interpreter's registers, flags, memory, count and trap.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent, 8)]
    [InlineData(Layout.SecondPageFar, 8)]
    [InlineData(Layout.FourthPageUnmapped, 8)]
    [InlineData(Layout.FourthPageUnmapped, 4)]
    [InlineData(Layout.FourthPageUnmapped, 2)]
    public void ImulFlagsSeenOnlyByExitsAgreeWithTheInterpreter(Layout layout, int size)
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(r11, rcx);
        switch (size)
        {
            case 8: a.imul(r11, r8); break;
            case 4: a.imul(r11d, r8d); break;
            default: a.imul(r11w, r8w); break;
        }
        a.mov(eax, __dword_ptr[rsi]);                 // the walk: misses, or faults in the fourth page
        a.add(rdi, r11);
        switch (size)
        {
            case 8: a.imul(r10, rax, 0x3B9ACA07); break;
            case 4: a.imul(r10d, eax, 0x3B9ACA07); break;
            default: a.imul(r10w, ax, 0x3B9A); break;
        }
        a.mov(edx, __dword_ptr[rsi + 4]);
        a.add(rdi, r10);
        a.add(rdi, rdx);
        a.add(rsi, 8);
        a.add(rcx, 0x1F3);                            // small products first, overflowing ones later
        a.imul(r8, r8, 3);
        a.dec(r9);
        a.jnz(top);
        a.int3();
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed: 37, farPage: 1, data => data.AsSpan(0x2000, 0x1000).ToArray(), f =>
        {
            f[MReg.Rsi] = CpuFixture.DataBase + 0x10;
            f[MReg.Rcx] = 7;
            f[MReg.R8] = 5;
            f[MReg.R9] = 1900;
        }, jitThreshold: 20);
        AssertTiersAgree(layout, outcomes);
    }

    /// <summary>
    /// A loop as matmult's inner one: its head loads through two pointers that walk the data pages
    /// (rsi by 8, rdi by 24) before its first setter, and its back edge closes with <c>cmp rsi, r11;
    /// jne</c>; the loop is entered after a <c>test</c> that leaves other flags, and an outer loop
    /// moves r11 on. The back edge leaves the cmp's state in its registers and the head's exits make
    /// it whole (PlanDeferredStates): with the second page far away the loads miss their windows and
    /// take the TLB path, with the fourth unmapped the first load faults after a back edge, and the
    /// trap must see the cmp's flags. The JIT must leave exactly the interpreter's registers, flags,
    /// memory, count and trap.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void ALoopHeadsExitsSeeItsBackEdgesFlags(Layout layout)
    {
        var a = new Assembler(64);
        Label outer = a.CreateLabel(), top = a.CreateLabel();
        a.Label(ref outer);
        a.lea(r11, __qword_ptr[rsi + 0x80]);   // 16 passes of the inner loop
        a.test(r9b, 3);                        // other flags into the head, some of the time
        a.jnz(top);
        a.add(rcx, 1);
        a.Label(ref top);
        a.mov(rdx, __qword_ptr[rsi]);
        a.imul(rdx, __qword_ptr[rdi]);
        a.add(rsi, 8);
        a.add(rdi, 24);
        a.add(rcx, rdx);
        a.mov(__qword_ptr[rbx], rcx);
        a.cmp(rsi, r11);
        a.jne(top);
        a.sub(rdi, 0x180);                     // rdi back to its start: only rsi walks on, into the fourth page
        a.dec(r9);
        a.jnz(outer);
        a.int3();
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed: 23, farPage: 1, data => data.AsSpan(0x2000, 0x1000).ToArray(), f =>
        {
            f[MReg.Rsi] = CpuFixture.DataBase + 0x10;
            f[MReg.Rdi] = CpuFixture.DataBase + 0x8;
            f[MReg.Rbx] = CpuFixture.DataBase + 0x7F8;
            f[MReg.R9] = 100;
        }, jitThreshold: 20);
        AssertTiersAgree(layout, outcomes);
    }

    /// <summary>
    /// Groups whose range covers several pages (up to four): two tables 6 KiB apart read through the
    /// same base and index registers, as a tree ensemble's node arrays are, with a store 12 KiB on
    /// through them too (a group of its own: over a page, a group is loads only), and globals at
    /// constant addresses 9 KiB apart, in a loop that also
    /// increments a counter in memory (another access, which ends no group tested before the loop's
    /// head). With adjacent frames one window holds each range; with the second page far away no
    /// window can, and the checks leave until the region tests at each member; with the fourth
    /// page unmapped the store faults at its first pass. The JIT must leave exactly the
    /// interpreter's registers, flags, memory, count and trap.
    /// </summary>
    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void GroupsOverSeveralPagesAgreeWithTheInterpreter(Layout layout)
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        var odd = a.CreateLabel();
        a.Label(ref top);
        a.movzx(eax, __byte_ptr[rbx + rsi + 0x100]);      // page 0
        a.movzx(edx, __byte_ptr[rbx + rsi + 0x1900]);     // page 1: 6 KiB on, the same registers
        a.add(eax, edx);
        a.mov(__byte_ptr[rbx + rsi + 0x3100], al);        // page 3
        a.add(rdi, rax);
        a.mov(ecx, __dword_ptr[(int)CpuFixture.DataBase + 0x40]);
        a.add(ecx, __dword_ptr[(int)CpuFixture.DataBase + 0x2440]);  // 9 KiB on: one group of no register
        a.add(__dword_ptr[rbx + rsi * 4 + 0x200], ecx);    // a counter updated in place
        a.test(esi, 1);
        a.jnz(odd);
        a.add(r10, rcx);
        a.Label(ref odd);
        a.inc(esi);
        a.and(esi, 0xFF);
        a.dec(r9);
        a.jnz(top);
        a.int3();
        var outcomes = OutcomesOnBothTiers(CpuFixture.Assembled(a), layout, seed: 23, farPage: 1, data => data.AsSpan(0x2000, 0x1000).ToArray(), f =>
        {
            f[MReg.Rbx] = CpuFixture.DataBase;
            f[MReg.R9] = 3000;
        });
        AssertTiersAgree(layout, outcomes);
    }

    /// <summary>A page of bytes from <paramref name="seed"/>: a far frame's contents unlike the frame it replaces.</summary>
    private static byte[] RandomPage(int seed)
    {
        var page = new byte[0x1000];
        new Random(seed).NextBytes(page);
        return page;
    }

    /// <summary>Both tiers left the same state, ending at the fault when the fourth page is unmapped and at the final int3 otherwise.</summary>
    internal static void AssertTiersAgree(Layout layout, List<string> outcomes)
    {
        Assert.Equal(outcomes[0], outcomes[1]);
        Assert.Contains(layout == Layout.FourthPageUnmapped ? "PageFault" : "Breakpoint", outcomes[0]);
    }

    /// <summary>
    /// Runs <paramref name="code"/> on both tiers (the JIT compiling a block on its <paramref name="jitThreshold"/>th run) over the data
    /// pages filled from <paramref name="seed"/>, after <paramref name="setup"/> sets the registers, up
    /// to the final int3 or a fault: with Layout.SecondPageFar data page <paramref name="farPage"/> is
    /// mapped to a distant frame holding <paramref name="farContent"/> (of the data), with
    /// Layout.FourthPageUnmapped the fourth data page is unmapped. <paramref name="inspect"/> sees each
    /// machine after its run; <paramref name="promoteAfter"/> is MachineOptions.JitPromoteAfter (null: the
    /// environment's). Returns each tier's outcome: the exit and trap, rip, flags, the count, the
    /// registers and a hash of the memory.
    /// </summary>
    internal static List<string> OutcomesOnBothTiers(byte[] code, Layout layout, int seed, int farPage, Func<byte[], byte[]> farContent, Action<CpuFixture> setup, int jitThreshold = 1, Action<CpuFixture>? inspect = null, int? promoteAfter = null)
    {
        var far = new PhysAddr(0x300000);
        var outcomes = new List<string>();
        foreach (var tier in new[] { ExecutionTier.Interp, ExecutionTier.Jit })
        {
            using var f = new CpuFixture(tier, jitThreshold, jitPromoteAfter: promoteAfter);
            f.LoadBytes(code);
            var data = new byte[CpuFixture.DataSize];
            new Random(seed).NextBytes(data);
            f.Machine.Memory.Write(CpuFixture.DataPhys, data);
            var flags = PteFlags.User | PteFlags.Writable | PteFlags.NoExecute;
            if (layout == Layout.SecondPageFar)
            {
                f.Machine.Memory.Write(far, farContent(data));
                f.Tables.MapPage(new VirtAddr(CpuFixture.DataBase + (ulong)farPage * 0x1000), far, flags);
            }
            if (layout == Layout.FourthPageUnmapped)
                f.Tables.MapPage(new VirtAddr(CpuFixture.DataBase + 0x3000), new PhysAddr(0), 0);
            setup(f);
            var r = f.Machine.Run(10_000_000);
            inspect?.Invoke(f);
            var regs = new ulong[16];
            f.Cpu.GetRegisters(regs);
            var memory = f.Machine.Memory.View(CpuFixture.DataPhys, (int)CpuFixture.DataSize).ToArray()
                .Concat(f.Machine.Memory.View(far, 0x1000).ToArray());
            outcomes.Add($"{r.Exit} {r.Trap.Kind} at 0x{r.Trap.InstructionAddress.Value:x} addr 0x{r.Trap.FaultAddress.Value:x}; "
                + $"rip 0x{f.Cpu.Rip:x} flags 0x{f.Cpu.RFlags:x} retired {f.Cpu.InstructionsRetired}; "
                + $"regs {string.Join(' ', regs.Select(v => v.ToString("x")))}; memory {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(memory.ToArray()))}");
        }
        return outcomes;
    }

    private const ulong HistogramVa = 16 << 20, HistogramBytes = 32 << 20;   // above the code, data and stack: no page shares a TLB slot with theirs
    private static readonly PhysAddr HistogramPhys = new(16 << 20);

    /// <summary>A machine of 64 MiB running <paramref name="count"/> random increments of quadwords in a 32 MiB array (xorshift64 in rdi), to the final int3.</summary>
    private static CpuFixture Histogram(ExecutionTier tier, ulong count)
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        // xorshift64 in rdi; rax = its low bits as an 8-byte aligned offset into the array.
        a.mov(rax, rdi); a.shl(rax, 13); a.xor(rdi, rax);
        a.mov(rax, rdi); a.shr(rax, 7); a.xor(rdi, rax);
        a.mov(rax, rdi); a.shl(rax, 17); a.xor(rdi, rax);
        a.mov(rax, rdi);
        a.and(eax, (int)(HistogramBytes - 8));
        a.add(__qword_ptr[rbx + rax], 1);
        a.dec(rcx);
        a.jne(top);
        a.int3();
        var f = new CpuFixture(tier, jitThreshold: 1, memorySize: 64 << 20);
        f.LoadBytes(CpuFixture.Assembled(a));
        f.Tables.Map(new VirtAddr(HistogramVa), HistogramPhys, HistogramBytes, PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);
        f[MReg.Rbx] = HistogramVa;
        f[MReg.Rdi] = 0x9E3779B97F4A7C15;
        f[MReg.Rcx] = count;
        return f;
    }

    /// <summary>The histogram's outcome: the generator's state, the instructions retired and a hash of the counts.</summary>
    private static string HistogramOutcome(CpuFixture f) =>
        $"rdi {f[MReg.Rdi]:x} retired {f.Cpu.InstructionsRetired} "
        + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(f.Machine.Memory.View(HistogramPhys, (int)HistogramBytes).ToArray()));

    /// <summary>
    /// A histogram over 32 MiB (random increments, as a hash table or a counting sort makes) in a
    /// machine with 64 MiB of RAM. The TLB has a slot for every page of RAM, so once every page has
    /// been touched the accesses stay in compiled code, through one window over the whole array. With
    /// a TLB of 16 MiB's reach every other access missed it and left compiled code for the
    /// interpreter's walk, and a window that kept dying while the TLB filled stayed a few MiB long
    /// for good. Both tiers must end with the same counts.
    /// </summary>
    [Fact]
    public void RandomAccessesOverMoreThanSixteenMiBStayInCompiledCode()
    {
        var outcomes = new List<string>();
        long entries = 0, windows = 0;
        ulong longestWindow = 0;
        foreach (var tier in new[] { ExecutionTier.Interp, ExecutionTier.Jit })
        {
            using var f = Histogram(tier, 1_000_000);
            Assert.Equal(TrapKind.Breakpoint, f.Run(20_000_000).Kind);
            outcomes.Add(HistogramOutcome(f));
            entries = f.Cpu.JitEntries;
            windows = f.Cpu.WindowsBuilt;
            longestWindow = f.Cpu.LongestWindowBytes();
        }
        Assert.Equal(outcomes[0], outcomes[1]);
        // Each of the 8,192 pages is walked once (its first access leaves compiled code); with a TLB
        // of 16 MiB's reach half the million accesses left it.
        Assert.True(entries < 20_000, $"compiled code was entered {entries} times ({windows} windows built): accesses left it after their page was in the TLB");
        Assert.True(longestWindow == HistogramBytes, $"the longest window holds {longestWindow >> 20} MiB ({windows} windows built): the access's window did not come to cover the array");
    }

    /// <summary>
    /// The TLB is part of a snapshot, and its size follows the RAM: a snapshot of the 64 MiB machine
    /// taken mid-run, restored into a machine of 8 MiB (which takes the snapshot's RAM and so its TLB
    /// size), finishes exactly as the original does.
    /// </summary>
    [Fact]
    public void ASnapshotRestoresTheTlbOfALargerMachine()
    {
        using var f = Histogram(ExecutionTier.Jit, 200_000);
        Assert.Equal(RunExit.BudgetExhausted, f.Machine.Run(1_234_567).Exit);
        byte[] snapshot = f.Machine.SaveState();
        using var g = new CpuFixture(ExecutionTier.Jit, jitThreshold: 1);
        g.Machine.RestoreState(snapshot);
        Assert.Equal(f.Cpu.TlbBits, g.Cpu.TlbBits);
        Assert.Equal(TrapKind.Breakpoint, f.Run(10_000_000).Kind);
        Assert.Equal(TrapKind.Breakpoint, g.Run(10_000_000).Kind);
        Assert.Equal(HistogramOutcome(f), HistogramOutcome(g));
    }
}
