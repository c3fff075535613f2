using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using Lab.Machine.Tests.Differential;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Regions: several hot blocks of one page compiled into one method, with registers and flags kept in
/// locals across them. Random programs whose loop runs through a call and its return, a forward
/// branch, and an indirect jump to one of two targets, all in one region once they are hot; optionally
/// a load that faults on one iteration in the middle of the region. Both tiers must agree exactly,
/// at the end and after every one of many short budgets.
/// </summary>
public partial class JitDifferentialTests
{
    /// <summary>
    /// The program: <c>top: A; call f; B; [fault check;] [jcc over C;] C; lea/cmov/jmp rax to t0 or t1 (by rcx's low
    /// bit); t0: D0; jmp join; t1: D1; join: dec ecx; jne top; jmp end; f: F; ret; end: int3</c>, with
    /// A..F random ops. With <paramref name="fault"/> the code after B loads from an unmapped page when rcx
    /// reaches a chosen count.
    /// </summary>
    private static Program MakeRegionProgram(int seed, bool fault)
    {
        var gen = new RandomBlocks(seed);
        var g = gen.G;
        var a = new Assembler(64);
        Label top = a.CreateLabel(), f = a.CreateLabel(), end = a.CreateLabel(), t0 = a.CreateLabel(), t1 = a.CreateLabel(),
            join = a.CreateLabel(), skip = a.CreateLabel(), noFault = a.CreateLabel();
        void Ops(RandomBlocks from, int max) { for (int i = g.Next(1, max); i > 0; i--) foreach (var ins in from.NextGroup()) a.AddInstruction(ins); }
        int iterations = g.Next(3, 9);
        a.Label(ref top);
        Ops(gen, 12);
        a.call(f);
        Ops(gen, 12);
        if (fault)
        {
            a.cmp(ecx, g.Next(1, iterations + 1));
            a.jne(noFault);
            a.mov(rdx, __qword_ptr[rbx + 0x40000]);   // unmapped
            a.Label(ref noFault);
        }
        if (g.Next(2) == 0) { a.cmp(rcx, g.Next(0, iterations)); a.jbe(skip); }
        Ops(gen, 8);
        a.Label(ref skip);
        a.lea(rax, __[t0]);
        a.lea(rdx, __[t1]);
        a.test(cl, 1);
        a.cmovne(rax, rdx);
        a.jmp(rax);
        a.Label(ref t0);
        Ops(gen, 8);
        a.jmp(join);
        a.Label(ref t1);
        Ops(gen, 8);
        a.Label(ref join);
        a.dec(ecx);
        a.jne(top);
        a.jmp(end);
        a.Label(ref f);
        var inner = new RandomBlocks(seed + 1_000_000);
        Ops(inner, 12);
        foreach (var pop in inner.PopAll()) a.AddInstruction(pop);
        a.ret();
        a.Label(ref end);
        a.int3();
        return WithRandomState(CpuFixture.Assembled(a), g, rcx: () => (ulong)iterations);
    }

    /// <summary>
    /// Random region programs (threshold 2: the first pass interprets and records every block, later
    /// entries compile regions of them) end in the same state on both tiers, faults included, and
    /// most of their instructions run in regions of several blocks.
    /// </summary>
    [Theory]
    [InlineData("region", 10_000)]
    [InlineData("region-fault", 20_000)]
    public void RandomRegionsMatchTheInterpreter(string kind, int seedBase)
    {
        const int programs = 150;
        bool fault = kind.EndsWith("fault");
        var failures = new List<string>();
        long compiled = 0, compiledOps = 0;
        for (int i = 0; i < programs; i++)
        {
            var p = MakeRegionProgram(seedBase + i, fault);
            var interp = RunOnce(ExecutionTier.Interp, p);
            using var fj = Prepare(ExecutionTier.Jit, p, jitThreshold: 2);
            var r = fj.Machine.Run(1_000_000);
            var jit = Capture(fj, r.Exit == RunExit.Trap ? $"{r.Trap.Kind} at 0x{r.Trap.InstructionAddress.Value:x} addr 0x{r.Trap.FaultAddress.Value:x}" : r.Exit.ToString());
            compiled += fj.Cpu.JitBlocksCompiled;
            compiledOps += fj.Cpu.JitInstructionsCompiled;
            string? diff = interp.Diff(jit);
            if (diff != null && failures.Count < 5) failures.Add($"program {seedBase + i}:\n{p.Text}{diff}");
            Assert.StartsWith(fault ? "PageFault" : "Breakpoint", interp.Trap);
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        // Regions, not single blocks: compiled code covers several blocks' worth of instructions per compilation.
        Assert.True(compiled > 0 && compiledOps > compiled * 12, $"{compiled} regions compiled with {compiledOps} instructions");
    }

    /// <summary>Short random budgets through region programs: after every run the two tiers agree (a region stops at a block whose whole the budget cannot cover).</summary>
    [Fact]
    public void BudgetsEndRegionRunsAtExactCounts()
    {
        for (int seed = 0; seed < 20; seed++)
        {
            var p = MakeRegionProgram(30_000 + seed, fault: seed % 3 == 0);
            p.Regs[1] = 40;
            AssertBudgetedRunsAgree(p, $"program {30_000 + seed}", new Random(seed), steps: 300, maxBudget: 59, jitThreshold: 2);
        }
    }

    /// <summary>
    /// Shifts and rotates by CL, compiled natively: every operation, size and a spread of counts (0 keeps
    /// the flags a compare set before it; counts at and past the operand width) match the interpreter's
    /// result, CF, OF and the flags a following setc and jcc read.
    /// </summary>
    [Fact]
    public void ShiftsByClMatchTheInterpreter()
    {
        var rng = new Random(11);
        var failures = new List<string>();
        foreach (string m in new[] { "Shl", "Shr", "Sar", "Sal", "Rol", "Ror" })
            foreach (int size in new[] { 1, 2, 4, 8 })
                foreach (int count in new[] { 0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 255 })
                {
                    var a = new Assembler(64);
                    var skip = a.CreateLabel();
                    a.cmp(rax, rsi);
                    a.AddInstruction(Instruction.Create(CaseBuilder.C($"{m}_rm{size * 8}_CL"), CaseBuilder.Reg(8, size), Iced.Intel.Register.CL));
                    a.setc(dl);
                    a.jo(skip);
                    a.inc(rdi);
                    a.Label(ref skip);
                    a.int3();
                    var regs = new ulong[16];
                    for (int r = 0; r < 16; r++) regs[r] = (ulong)rng.NextInt64() ^ ((ulong)rng.Next(2) << 63);
                    regs[1] = (ulong)count | 0x100;   // only CL counts
                    regs[4] = CpuFixture.StackTop - 0x100;
                    var p = new Program(CpuFixture.Assembled(a), regs, 0x202, new byte[0x1000], $"{m} r8 ({size} bytes), cl = {count}\n");
                    string? diff = RunOnce(ExecutionTier.Interp, p).Diff(RunOnce(ExecutionTier.Jit, p));
                    if (diff != null) failures.Add(p.Text + diff);
                }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(5)));
    }

    /// <summary>
    /// Shifts and rotates of 32- and 64-bit registers by an immediate whose flags nothing reads (an add
    /// sets them again at once), compiled straight into the register (a 32-bit shr or sar is one host
    /// shift of the 32-bit value since stop 37): every operation and count, on operands of both signs,
    /// leaves the interpreter's registers.
    /// </summary>
    [Fact]
    public void ShiftsByAnImmediateWhoseFlagsNothingReadsMatchTheInterpreter()
    {
        var rng = new Random(37);
        var failures = new List<string>();
        foreach (string m in new[] { "Shl", "Shr", "Sar", "Rol", "Ror" })
            foreach (int size in new[] { 4, 8 })
                foreach (int count in new[] { 0, 1, 2, 7, 16, 31, 32, 63 })
                {
                    var a = new Assembler(64);
                    for (int r = 8; r < 12; r++)
                    {
                        a.AddInstruction(Instruction.Create(CaseBuilder.C($"{m}_rm{size * 8}_imm8"), CaseBuilder.Reg(r, size), count));
                        a.AddInstruction(Instruction.Create(Code.Add_rm64_r64, Iced.Intel.Register.RDI, CaseBuilder.Reg(r, 8)));
                    }
                    a.int3();
                    var regs = new ulong[16];
                    for (int r = 0; r < 16; r++) regs[r] = (ulong)rng.NextInt64() ^ ((ulong)rng.Next(2) << 63) ^ ((ulong)rng.Next(2) << 31);
                    regs[4] = CpuFixture.StackTop - 0x100;
                    var p = new Program(CpuFixture.Assembled(a), regs, 0x202, new byte[0x1000], $"{m} r ({size} bytes), {count}\n");
                    string? diff = RunOnce(ExecutionTier.Interp, p).Diff(RunOnce(ExecutionTier.Jit, p));
                    if (diff != null) failures.Add(p.Text + diff);
                }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(5)));
    }

    /// <summary>
    /// Flags across a block cut by its length (64 instructions, as an unrolled hash's rounds are cut):
    /// the block ends with a flag setter (a rotate, whose flags keep the status before it; an add; an
    /// and), and the next block reads those flags first (setc, seto, adc, jcc), faults on an unmapped
    /// page before anything sets them (the trap's flags are the setter's), or sets them again at once
    /// (the setter then computes nothing). In each case the loop's state, flags included, is the
    /// interpreter's after it ran compiled.
    /// </summary>
    [Theory]
    [InlineData("rol", "read"), InlineData("rol", "fault"), InlineData("rol", "overwrite")]
    [InlineData("add", "read"), InlineData("add", "fault"), InlineData("add", "overwrite")]
    [InlineData("and", "read"), InlineData("and", "fault"), InlineData("and", "overwrite")]
    public void FlagsAcrossABlockCutByItsLengthMatchTheInterpreter(string setter, string next)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), skip = a.CreateLabel();
        a.Label(ref top);
        a.cmp(esi, edi);                                 // flags a rotate keeps (ZF, SF, PF)
        for (int k = 0; k < 31; k++)
        {
            a.add(eax, ebx);
            a.rol(ebx, (byte)(k % 13 + 1));
        }
        switch (setter)                                  // the 64th instruction: the block ends here
        {
            case "rol": a.rol(eax, 7); break;
            case "add": a.add(eax, edx); break;
            default: a.and(eax, edx); break;
        }
        switch (next)
        {
            case "read":
                a.setc(r8b);
                a.seto(r9b);
                a.sete(r10b);
                a.adc(r11d, 0);
                a.js(skip);
                a.inc(r12d);
                break;
            case "fault":
                a.mov(r9, __qword_ptr[r14]);             // r14 is unmapped on the third-last pass
                break;
            default:
                a.xor(r8d, eax);
                break;
        }
        a.Label(ref skip);
        a.add(edx, unchecked((int)0x9E3779B9));
        var regs = new ulong[16];
        regs[0] = 0x0123_4567_89AB_CDEF; regs[2] = 0xF0F0_1234_5678_9ABC; regs[3] = 0x1357_9BDF;
        regs[6] = 7; regs[7] = 7;
        var interp = LoopUntilR14Faults(a, top, regs);
        if (next == "fault") Assert.StartsWith("PageFault", interp.Trap);
    }

    /// <summary>
    /// Closes the loop at <paramref name="top"/> for 40 passes; on the third-last, r14 (the data page)
    /// becomes <paramref name="faultAt"/> (an unmapped page by default; a read-only one faults only a
    /// write), so an access at [r14] in the body faults there. Runs it on both tiers (compiling after
    /// two runs) and asserts the same outcome, with the loop compiled; returns the interpreter's.
    /// </summary>
    private static Outcome LoopUntilR14Faults(Assembler a, Label top, ulong[] regs, ulong faultAt = CpuFixture.DataBase + 0x40000)
    {
        a.cmp(ecx, 4);
        a.cmove(r14, r15);
        a.dec(ecx);
        a.jne(top);
        a.int3();
        regs[14] = CpuFixture.DataBase;
        regs[15] = faultAt;
        regs[1] = 40;                                    // rcx: passes
        regs[4] = CpuFixture.StackTop;
        var p = new Program(CpuFixture.Assembled(a), regs, 0x202, new byte[16], "");
        var interp = RunOnce(ExecutionTier.Interp, p);
        var jit = RunOnce(ExecutionTier.Jit, p, 2);
        Assert.Null(interp.Diff(jit));
        Assert.True(jit.Compiled > 0, "the loop was not compiled");
        return interp;
    }

    /// <summary>
    /// A block whose one predecessor in the region ends with a flag setter and a jcc (sglib's
    /// <c>cmp; js; jne</c>: the jne begins a block of its own) reads that setter's flags first, with
    /// every condition, and with setc and adc: compiled as compares of the setter's operands
    /// (PlanKnownSetters), the outcome must be the interpreter's for subtractions, additions, logic ops,
    /// inc and shifts of both sizes, on operands that hit the signed, unsigned and zero edge cases.
    /// </summary>
    [Theory]
    [InlineData("cmp32"), InlineData("cmp64"), InlineData("sub32"), InlineData("add32"), InlineData("add64")]
    [InlineData("and32"), InlineData("test64"), InlineData("inc32"), InlineData("dec64"), InlineData("shl32"), InlineData("sar64")]
    [InlineData("cmp8"), InlineData("test16"), InlineData("sub8imm"), InlineData("add16imm"), InlineData("sub32imm")]
    public void ASetterThenAJccAcrossBlocksMatchesTheInterpreter(string setter)
    {
        var failures = new List<string>();
        for (int cc = 0; cc < 16; cc++)
        {
            var a = new Assembler(64);
            Label top = a.CreateLabel(), first = a.CreateLabel(), second = a.CreateLabel(), next = a.CreateLabel();
            a.Label(ref top);
            a.mov(rax, __qword_ptr[r14]);                // operands from a table: edge cases in turn
            a.mov(rbx, __qword_ptr[r14 + 8]);
            a.add(r14, 16);
            switch (setter)
            {
                case "cmp32": a.cmp(eax, ebx); break;
                case "cmp64": a.cmp(rax, rbx); break;
                case "sub32": a.sub(eax, ebx); break;
                case "add32": a.add(eax, ebx); break;
                case "add64": a.add(rax, rbx); break;
                case "and32": a.and(eax, ebx); break;
                case "test64": a.test(rax, rbx); break;
                case "inc32": a.inc(eax); break;
                case "dec64": a.dec(rax); break;
                case "shl32": a.shl(eax, 1); break;
                case "cmp8": a.cmp(al, bl); break;
                case "test16": a.test(ax, bx); break;
                case "sub8imm": a.sub(al, 0x81); break;
                case "add16imm": a.add(ax, 0x7FFF); break;
                case "sub32imm": a.sub(eax, 1); break;
                default: a.sar(rax, 3); break;
            }
            a.AddInstruction(Instruction.CreateBranch(CaseBuilder.C($"J{Cc[(cc + 1) % 16]}_rel32_64"), first.Id));   // ends the block
            a.AddInstruction(Instruction.CreateBranch(CaseBuilder.C($"J{Cc[cc]}_rel32_64"), second.Id));           // begins the next one
            a.inc(r8);
            a.jmp(next);
            a.Label(ref first);
            a.inc(r9);
            a.jmp(next);
            a.Label(ref second);
            a.setc(r10b);
            a.adc(r11, 0);
            a.Label(ref next);
            a.dec(ecx);
            a.jne(top);
            a.int3();
            ulong[] edges = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ulong.MaxValue, 5, 0xFFFF_FFFE];
            var data = new byte[16 * edges.Length * edges.Length];
            int k = 0;
            foreach (ulong x in edges)
                foreach (ulong y in edges)
                {
                    BitConverter.TryWriteBytes(data.AsSpan(k), x);
                    BitConverter.TryWriteBytes(data.AsSpan(k + 8), y);
                    k += 16;
                }
            var regs = new ulong[16];
            regs[1] = (ulong)(edges.Length * edges.Length);   // rcx: one pass per pair
            regs[4] = CpuFixture.StackTop;
            regs[14] = CpuFixture.DataBase;
            var p = new Program(CpuFixture.Assembled(a), regs, 0x202, data, $"{setter}, then j{Cc[(cc + 1) % 16]} and j{Cc[cc]}\n");
            var jit = RunOnce(ExecutionTier.Jit, p, 2);
            string? diff = RunOnce(ExecutionTier.Interp, p).Diff(jit);
            if (diff != null) failures.Add(p.Text + diff);
            else if (jit.Compiled == 0) failures.Add(p.Text + "the loop was not compiled");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(5)));
    }

    private static readonly string[] Cc = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];

    /// <summary>
    /// A shift by an immediate, or an add or sub of one, whose flags only a fault could see (the load
    /// after it faults on an unmapped page on the third-last pass; the xor after the load sets the
    /// flags again): compiled code keeps the shift's operand and computes CF and OF only on the way out
    /// (FlagUse.AuxAtExit), and recovers the add's or sub's first operand from the register's new value
    /// (FlagUse.StateAtExit). The trap's flags, CF and OF included, are the interpreter's, for shl, shr
    /// and sar of 32- and 64-bit registers by counts whose last bit out and sign differ, and for add and
    /// sub of immediates that carry, borrow and overflow on some passes.
    /// </summary>
    [Theory]
    [InlineData("shl", 4, 1), InlineData("shl", 4, 7), InlineData("shl", 4, 31), InlineData("shl", 8, 1), InlineData("shl", 8, 63)]
    [InlineData("shr", 4, 1), InlineData("shr", 4, 8), InlineData("shr", 4, 31), InlineData("shr", 8, 1), InlineData("shr", 8, 63)]
    [InlineData("sar", 4, 1), InlineData("sar", 4, 9), InlineData("sar", 8, 1), InlineData("sar", 8, 62)]
    [InlineData("add", 4, 1), InlineData("add", 4, 0x7FFF_FFFF), InlineData("add", 8, -1), InlineData("add", 8, 0x4000_0000)]
    [InlineData("sub", 4, 1), InlineData("sub", 4, -0x8000_0000), InlineData("sub", 8, 0x7FFF_FFFF), InlineData("sub", 8, -3)]
    [InlineData("add", 1, 0x7F), InlineData("sub", 1, 1), InlineData("add", 2, -1), InlineData("sub", 2, 0x4000)]
    public void AnImmediateSettersFlagsSeenOnlyByAFaultMatchTheInterpreter(string shift, int size, int count)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel();
        a.Label(ref top);
        a.imul(rax, rax, 0x2545F491);                     // a new operand each pass, both signs
        a.add(rax, rdx);
        a.mov(rbx, rax);
        switch (shift)
        {
            case "shl": if (size == 8) a.shl(rbx, (byte)count); else a.shl(ebx, (byte)count); break;
            case "shr": if (size == 8) a.shr(rbx, (byte)count); else a.shr(ebx, (byte)count); break;
            case "sar": if (size == 8) a.sar(rbx, (byte)count); else a.sar(ebx, (byte)count); break;
            case "add":
                if (size == 8) a.add(rbx, count); else if (size == 4) a.add(ebx, count);
                else if (size == 2) a.add(bx, (short)count); else a.add(bl, (sbyte)count);
                break;
            default:
                if (size == 8) a.sub(rbx, count); else if (size == 4) a.sub(ebx, count);
                else if (size == 2) a.sub(bx, (short)count); else a.sub(bl, (sbyte)count);
                break;
        }
        a.mov(r9, __qword_ptr[r14]);                      // r14 is unmapped on the third-last pass
        a.xor(r8, rbx);
        a.add(r8, r9);
        var regs = new ulong[16];
        regs[0] = 0x8123_4567_89AB_CDEF; regs[2] = 0x7F0F_1234_5678_9ABC;
        Assert.StartsWith("PageFault", LoopUntilR14Faults(a, top, regs).Trap);
    }

    /// <summary>
    /// A compiled loop that reads 8 bytes across the boundary of pages 0x1FFFF000 and 0x20000000, then
    /// touches the second page (so the TLB holds both when the next round's crossing read comes), must
    /// get the bytes of both pages, as the interpreter does. Compiled code checks one page per access
    /// (the page of its last byte against the tag in its first byte's slot): exact because no slot can
    /// hold the page after its own (Cpu.TlbIndex gives adjacent pages different slots, and the TLB fill
    /// keeps a page whose slot is its predecessor's off the fast path).
    /// </summary>
    [Fact]
    public void AccessesAcrossAPageBoundaryReadBothPages()
    {
        const ulong low = 0x1FFFF000, high = 0x20000000;
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rdi + 0xFFC]);   // 4 bytes of the low page, 4 of the high one
        a.add(rdx, rax);
        a.mov(rax, __qword_ptr[rsi]);           // high page: in the TLB for the next round's crossing read
        a.add(rdx, rax);
        a.dec(ecx);
        a.jne(top);
        a.int3();
        var regs = new ulong[16];
        regs[1] = 300;
        regs[4] = CpuFixture.StackTop - 0x100;
        regs[6] = high;
        regs[7] = low;
        var p = new Program(CpuFixture.Assembled(a), regs, 0x202, new byte[0x1000], "");
        var outcomes = new List<ulong>();
        foreach (var (tier, threshold) in new[] { (ExecutionTier.Interp, 1), (ExecutionTier.Jit, 2) })
        {
            using var f = Prepare(tier, p, threshold);
            f.Tables.Map(new VirtAddr(low), new PhysAddr(0x390000), 0x1000, PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);
            f.Tables.Map(new VirtAddr(high), new PhysAddr(0x3A0000), 0x1000, PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);
            var bytes = new byte[0x1000];
            new Random(3).NextBytes(bytes);
            f.Machine.Memory.Write(new PhysAddr(0x390000), bytes);
            new Random(4).NextBytes(bytes);
            f.Machine.Memory.Write(new PhysAddr(0x3A0000), bytes);
            var r = f.Machine.Run(1_000_000);
            Assert.Equal(RunExit.Trap, r.Exit);
            outcomes.Add(f[Lab.Machine.Register.Rdx]);
            if (tier == ExecutionTier.Jit) Assert.True(f.Cpu.JitEntries > 0, "no compiled code ran");
        }
        Assert.Equal(outcomes[0], outcomes[1]);
    }

    /// <summary>
    /// A stop from another thread ends a run inside a compiled loop that never leaves on its own
    /// (compiled loops test no stop request; the dispatcher does between slices of the budget).
    /// </summary>
    [Fact]
    public void StopFromAnotherThreadEndsACompiledEndlessLoop()
    {
        using var f = new CpuFixture(ExecutionTier.Jit, jitThreshold: 1);
        f.Load(a => { var l = a.CreateLabel(); a.Label(ref l); a.inc(rax); a.add(rdx, rax); a.jmp(l); });
        var stopper = new Thread(() =>
        {
            // Once compiled code has run (entries are counted on the running thread), ask for a stop.
            while (f.Cpu.JitEntries == 0) Thread.Yield();
            f.Machine.Stop();
        });
        stopper.Start();
        var r = f.Machine.Run(ulong.MaxValue);
        stopper.Join();
        Assert.Equal(RunExit.Stopped, r.Exit);
        Assert.True(f.Cpu.JitEntries > 0);
        Assert.Equal(f.Machine.InstructionsRetired / 3, f[Lab.Machine.Register.Rax]);   // whole iterations only
    }

    /// <summary>
    /// A loop that calls a function in the next page: the function joins the loop's region (a region
    /// spans up to four pages, each checked as the code starts), so calls and returns stay in the one
    /// method: one region, entered a handful of times rather than once per return. Before regions
    /// spanned pages the call left the loop's region at every iteration and the return came back
    /// through the dispatcher (2 regions and a third from the return site, entries per iteration).
    /// Both tiers end the same.
    /// </summary>
    [Theory]
    [InlineData(100)]
    [InlineData(1000)]
    public void ACallToAFunctionInTheNextPageStaysInTheLoopsRegion(int iterations)
    {
        var p = LoopCallingTheNextPage(iterations, a => a.imul(rax, rax, 5));
        var interp = RunOnce(ExecutionTier.Interp, p);
        var jit = RunOnce(ExecutionTier.Jit, p, jitThreshold: 20);
        Assert.Null(interp.Diff(jit));
        Assert.Equal((ulong)iterations * 7 + 1, jit.Retired);
        Assert.Equal(1, jit.Compiled);
        Assert.True(jit.Entries < 10, $"{jit.Entries} entries into compiled code");
    }

    /// <summary>
    /// A loop calls a function that stays interpreted (rdtsc has no compiled form), so every call
    /// leaves the loop's region and every return comes back through the dispatcher, at the return
    /// site. The region has that block as a second entry into its method: the return goes straight
    /// into compiled code there, and nothing compiles the loop again from the return site (which,
    /// before regions had such entries, the interpreter ran until it was 16 times hotter than the
    /// threshold and compiled the loop's blocks once more). Both tiers end the same, rdtsc included.
    /// </summary>
    [Fact]
    public void AReturnFromOutsideTheRegionEntersItAtTheReturnSite()
    {
        var p = LoopCallingTheNextPage(200, a => a.rdtsc());
        var interp = RunOnce(ExecutionTier.Interp, p);
        var jit = RunOnce(ExecutionTier.Jit, p, jitThreshold: 3);
        Assert.Null(interp.Diff(jit));
        Assert.Equal(200UL * 7 + 1, jit.Retired);
        Assert.Equal(1, jit.Compiled);
        Assert.True(jit.Entries > 190, $"{jit.Entries} entries into compiled code");
    }

    /// <summary>
    /// A hot loop whose first successor (a branch never taken in the loop) leads to a call through a
    /// register that reached 64 different one-shot stubs earlier: taken breadth first, those stubs
    /// filled the region's 64 blocks before the loop's own callee, so every call left the region.
    /// Blocks that ran often come first now (Cpu.CollectRegion): the callee joins the loop's region and
    /// the loop runs in one method, with a handful of entries. Both tiers end the same.
    /// </summary>
    [Fact]
    public void AHotCalleeJoinsTheRegionBeforeBlocksThatRanOnce()
    {
        var a = new Assembler(64);
        Label warm = a.CreateLabel(), top = a.CreateLabel(), f = a.CreateLabel(), f2 = a.CreateLabel(), stubs = a.CreateLabel();
        a.xor(esi, esi);
        a.Label(ref warm);            // call stub number rsi (each: inc esi; ret), 64 of them once each
        a.lea(rdx, __[stubs]);
        a.mov(rax, rsi);
        a.shl(rax, 4);
        a.add(rdx, rax);
        a.call(rdx);
        a.cmp(esi, 64);
        a.jb(warm);
        a.Label(ref top);             // the hot loop
        a.cmp(ecx, -1);
        a.je(warm);                   // never taken here
        a.call(f);
        a.dec(ecx);
        a.jne(top);
        a.int3();
        a.Label(ref f);               // the hot callee: two blocks
        a.add(rax, 3);
        a.jmp(f2);
        a.Label(ref f2);
        a.imul(rax, rax, 5);
        a.ret();
        a.Label(ref stubs);
        for (int i = 0; i < 64; i++) a.db([0xFF, 0xC6, 0xC3, .. Enumerable.Repeat((byte)0xCC, 13)]);   // inc esi; ret; int3 padding
        var jit = RunOnBothTiersAlike(a, rcx: 500, jitThreshold: 100);
        Assert.True(jit.Entries < 20, $"{jit.Entries} entries into compiled code");
    }

    /// <summary>Runs the assembled program (rcx = <paramref name="rcx"/>, a stack) on both tiers, asserts they end alike, and returns the JIT's outcome.</summary>
    private static Outcome RunOnBothTiersAlike(Assembler a, ulong rcx, int jitThreshold)
    {
        var regs = new ulong[16];
        regs[1] = rcx;
        regs[4] = CpuFixture.StackTop;
        return RunOnBothTiersAlike(a, regs, jitThreshold);
    }

    /// <summary>Runs the assembled program from registers <paramref name="regs"/> on both tiers, asserts they end alike, and returns the JIT's outcome.</summary>
    private static Outcome RunOnBothTiersAlike(Assembler a, ulong[] regs, int jitThreshold)
    {
        var p = new Program(CpuFixture.Assembled(a), regs, 0x202, new byte[16], "");
        var interp = RunOnce(ExecutionTier.Interp, p);
        var jit = RunOnce(ExecutionTier.Jit, p, jitThreshold);
        Assert.Null(interp.Diff(jit));
        return jit;
    }

    /// <summary>
    /// An unrolled loop of table lookups (as a table cipher's rounds are: 700 instructions, 140 loads
    /// from a 1 KiB table at DataBase and 140 adds into it) is more IL than RyuJIT optimises (over
    /// 20,000 instructions or 8,000 references to locals, and it then compiles with MinOpts: an unrolled
    /// cipher ran 4 times slower). The region is cut below the limits (RegionCompiler.MaxILInstructions)
    /// and its rest compiled as another region; both tiers end the same.
    /// </summary>
    [Fact]
    public void ARegionTooLargeForRyuJitIsCutAndStaysExact()
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel();
        a.Label(ref top);
        for (int k = 0; k < 140; k++)
        {
            a.movzx(esi, dl);
            a.mov(eax, __dword_ptr[rbx + rsi * 4]);
            a.xor(edx, eax);
            a.rol(edx, (byte)(k % 31 + 1));
            a.add(__dword_ptr[rbx + rsi * 4], edx);   // a read-modify-write whose flags a fault would observe
        }
        a.dec(ecx);
        a.jne(top);
        a.int3();
        var regs = new ulong[16];
        regs[1] = 300;                          // rcx: iterations
        regs[2] = 0x12345678;                   // rdx
        regs[3] = CpuFixture.DataBase;          // rbx: the table
        regs[4] = CpuFixture.StackTop;
        var table = new byte[1024];
        new Random(15).NextBytes(table);
        var p = new Program(CpuFixture.Assembled(a), regs, 0x202, table, "");
        var interp = RunOnce(ExecutionTier.Interp, p);
        var jit = RunOnce(ExecutionTier.Jit, p, 20);
        Assert.Null(interp.Diff(jit));
        Assert.True(jit.Cut > 0, $"no region was cut ({jit.Compiled} compiled)");
        Assert.True(jit.Compiled >= 2, $"{jit.Compiled} regions compiled: the loop's rest was not compiled");
    }

    /// <summary>
    /// A loop calls a function longer than a region (80 blocks), so the loop's region holds only the
    /// function's first part: each call leaves it, the function's second part runs in a region of its
    /// own, and its ret comes back through the dispatcher to the loop's return site. That return site
    /// is an entry of the loop's region (RegionCompiler.FindEntries), so the loop's code goes on there;
    /// before, the return site ran interpreted until it was hot enough to root a copy of the loop's
    /// region (CoreMark compiled its main loop five times so). Both tiers end the same.
    /// </summary>
    [Fact]
    public void TheReturnSiteOfACalleeThatLeavesTheRegionIsAnEntry()
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), f = a.CreateLabel();
        a.Label(ref top);
        a.call(f);
        a.add(rdx, rax);              // the return site
        a.dec(ecx);
        a.jne(top);
        a.int3();
        a.Label(ref f);
        for (int i = 0; i < Lab.Machine.Cpu.RegionCompiler.RegionBlocks + 16; i++)
        {
            Label next = a.CreateLabel();
            a.add(rax, i + 1);
            a.jmp(next);
            a.Label(ref next);
        }
        a.ret();
        var jit = RunOnBothTiersAlike(a, rcx: 3000, jitThreshold: 100);
        Assert.True(jit.Compiled <= 2, $"{jit.Compiled} regions compiled: the loop's region was compiled again from its return site");
    }

    /// <summary>
    /// A ret searches only the return sites of the calls to its own function (RegionCompiler.PlanReturnSites):
    /// <c>top: call f; s1: add rdx, rax; call g; s2: add rsi, rdx; call f; s3: dec ecx; jne top; int3</c>,
    /// where f's ret comes back to s1 or s3, and g's to s2 or, on odd passes (it rewrites its return
    /// address), to s3: the site of a call to f, not among g's. That return leaves the region and the
    /// code goes on at s3 all the same; both tiers end alike, counts and registers.
    /// </summary>
    [Fact]
    public void AReturnToAnotherFunctionsCallSiteStaysExact()
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), f = a.CreateLabel(), g = a.CreateLabel(), s3 = a.CreateLabel(), plain = a.CreateLabel();
        a.Label(ref top);
        a.call(f);
        a.add(rdx, rax);              // s1
        a.call(g);
        a.add(rsi, rdx);              // s2
        a.call(f);
        a.Label(ref s3);
        a.dec(ecx);
        a.jne(top);
        a.int3();
        a.Label(ref f);
        a.add(rax, 5);
        a.ret();
        a.Label(ref g);
        a.add(rax, 7);
        a.test(cl, 1);
        a.je(plain);
        a.lea(r8, __[s3]);
        a.mov(__qword_ptr[rsp], r8);  // return to s3, skipping s2 and the second call to f
        a.Label(ref plain);
        a.ret();
        var jit = RunOnBothTiersAlike(a, rcx: 3000, jitThreshold: 50);
        Assert.True(jit.Compiled >= 1, "nothing was compiled");
    }

    /// <summary>
    /// <c>top: add rax, 3; call far; add rdx, rax; dec ecx; jne top; int3</c>, with <c>far: callee; ret</c>
    /// on the next page (one instruction of <paramref name="callee"/>: 7 per iteration), rcx = <paramref name="iterations"/>.
    /// </summary>
    private static Program LoopCallingTheNextPage(int iterations, Action<Assembler> callee)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), far = a.CreateLabel();
        a.Label(ref top);
        a.add(rax, 3);
        a.call(far);
        a.add(rdx, rax);          // the return site
        a.dec(ecx);
        a.jne(top);
        a.int3();
        a.db(Enumerable.Repeat((byte)0xCC, 4096).ToArray());   // far lies in the next page
        a.Label(ref far);
        callee(a);
        a.ret();
        var regs = new ulong[16];
        regs[1] = (ulong)iterations;
        regs[4] = CpuFixture.StackTop;
        return new Program(CpuFixture.Assembled(a), regs, 0x202, new byte[16], "");
    }
}
