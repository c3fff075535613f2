using System.Text;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// The JIT tier against the interpreter: the same program and initial state on both tiers (the JIT
/// compiling every block on its first run) must end with identical registers, RFLAGS, rip, memory,
/// trap and retired-instruction count. Random straight-line blocks and loops of the ops gcc -O2 emits;
/// a fault in the middle of a compiled block; instruction budgets that end a run inside a compiled loop.
/// </summary>
public partial class JitDifferentialTests
{
    /// <summary>Everything a run leaves that the tiers must agree on.</summary>
    private sealed record Outcome(string Trap, ulong Rip, ulong[] Regs, ulong Flags, ulong Retired, byte[] Data, byte[] Stack, UInt128[] Xmm)
    {
        public long Compiled;
        public long Entries;
        /// <summary>Regions cut to fit RyuJIT's size limit (Cpu.JitRegionsCut).</summary>
        public long Cut;
        /// <summary>Registers compiled regions kept in the register file (Cpu.JitRegistersInFile).</summary>
        public long InFile;
        /// <summary>cmovs compiled as branches (Cpu.JitCmovBranches).</summary>
        public long CmovBranches;
        /// <summary>Branch-free cmovs compiled without temporaries (Cpu.JitCmovXors).</summary>
        public long CmovXors;

        /// <summary>Null when equal, else what differs.</summary>
        public string? Diff(Outcome o)
        {
            var sb = new StringBuilder();
            if (Trap != o.Trap) sb.AppendLine($"  trap: interp {Trap}, jit {o.Trap}");
            if (Rip != o.Rip) sb.AppendLine($"  rip: interp 0x{Rip:x}, jit 0x{o.Rip:x}");
            for (int r = 0; r < 16; r++)
                if (Regs[r] != o.Regs[r]) sb.AppendLine($"  {(MReg)r}: interp 0x{Regs[r]:x16}, jit 0x{o.Regs[r]:x16}");
            for (int r = 0; r < 16; r++)
                if (Xmm[r] != o.Xmm[r]) sb.AppendLine($"  xmm{r}: interp 0x{Xmm[r]:x32}, jit 0x{o.Xmm[r]:x32}");
            if (Flags != o.Flags) sb.AppendLine($"  rflags: interp 0x{Flags:x}, jit 0x{o.Flags:x}");
            if (Retired != o.Retired) sb.AppendLine($"  retired: interp {Retired}, jit {o.Retired}");
            for (int i = 0; i < Data.Length; i++)
                if (Data[i] != o.Data[i]) { sb.AppendLine($"  data+0x{i:x}: interp {Data[i]:x2}, jit {o.Data[i]:x2} (first difference)"); break; }
            for (int i = 0; i < Stack.Length; i++)
                if (Stack[i] != o.Stack[i]) { sb.AppendLine($"  stack+0x{i:x}: interp {Stack[i]:x2}, jit {o.Stack[i]:x2} (first difference)"); break; }
            return sb.Length == 0 ? null : sb.ToString();
        }
    }

    /// <summary>A program and its initial state.</summary>
    private sealed record Program(byte[] Code, ulong[] Regs, ulong Flags, byte[] Data, string Text);

    private static Outcome Capture(CpuFixture f, string trap)
    {
        var regs = new ulong[16];
        f.Cpu.GetRegisters(regs);
        return new Outcome(trap, f.Cpu.Rip, regs, f.Cpu.RFlags, f.Cpu.InstructionsRetired,
            f.Machine.Memory.View(CpuFixture.DataPhys, (int)CpuFixture.DataSize).ToArray(),
            f.Machine.Memory.View(CpuFixture.StackPhys, 0x10000).ToArray(),
            Enumerable.Range(0, 16).Select(f.Cpu.GetXmm).ToArray())
        { Compiled = f.Cpu.JitBlocksCompiled, Entries = f.Cpu.JitEntries, Cut = f.Cpu.JitRegionsCut, InFile = f.Cpu.JitRegistersInFile, CmovBranches = f.Cpu.JitCmovBranches, CmovXors = f.Cpu.JitCmovXors };
    }

    private static CpuFixture Prepare(ExecutionTier tier, Program p, int jitThreshold = 1, int? promoteAfter = null)
    {
        var f = new CpuFixture(tier, jitThreshold, jitPromoteAfter: promoteAfter);
        f.LoadBytes(p.Code);
        f.Machine.Memory.Write(CpuFixture.DataPhys, p.Data);
        f.Cpu.SetRegisters(p.Regs);
        f.Cpu.RFlags = p.Flags;
        return f;
    }

    /// <summary>Runs to the first trap (or the budget) and captures the outcome; quick code is promoted as <paramref name="promoteAfter"/> says (null: the environment's default).</summary>
    private static Outcome RunOnce(ExecutionTier tier, Program p, int jitThreshold = 1, int? promoteAfter = null)
    {
        using var f = Prepare(tier, p, jitThreshold, promoteAfter);
        var r = f.Machine.Run(1_000_000);
        string trap = r.Exit == RunExit.Trap ? $"{r.Trap.Kind} at 0x{r.Trap.InstructionAddress.Value:x} addr 0x{r.Trap.FaultAddress.Value:x}" : r.Exit.ToString();
        return Capture(f, trap);
    }

    /// <summary>
    /// A random program: <c>body; (dec ecx; jnz body;) jmp end; end: int3</c>, the body one block of
    /// 1..56 random instructions; with <paramref name="fault"/> a load from an unmapped page sits at a
    /// random place in the body; with <paramref name="split"/> a jmp to the next instruction cuts the
    /// body into two blocks (compiled code then chains from one to the other directly).
    /// </summary>
    private static Program MakeProgram(int seed, bool loop, bool fault, bool split = false)
    {
        var gen = new RandomBlocks(seed);
        var g = gen.G;
        var a = new Assembler(64);
        var top = a.CreateLabel();
        var end = a.CreateLabel();
        a.Label(ref top);
        int count = g.Next(1, 57);
        int faultAt = fault ? g.Next(count) : -1;
        int splitAt = split ? g.Next(count) : -1;
        for (int i = 0; i < count; i++)
        {
            if (i == faultAt) a.mov(rdx, __qword_ptr[rbx + 0x40000]);   // 0x640800: unmapped
            if (i == splitAt)
            {
                var next = a.CreateLabel();
                a.jmp(next);
                a.Label(ref next);
            }
            foreach (var ins in gen.NextGroup()) a.AddInstruction(ins);
        }
        if (loop) { a.dec(ecx); a.jne(top); }
        a.jmp(end);
        a.Label(ref end);
        a.int3();
        return WithRandomState(CpuFixture.Assembled(a), g, rcx: () => loop ? (ulong)g.Next(1, 6) : 0);
    }

    /// <summary>
    /// A program of <paramref name="code"/> with random registers (some small), flags and data page:
    /// rcx = what <paramref name="rcx"/> gives (the loop count; asked after the other registers are
    /// drawn), rbx in the middle of the data page, rsp on the stack.
    /// </summary>
    private static Program WithRandomState(byte[] code, Random g, Func<ulong> rcx)
    {
        var regs = new ulong[16];
        for (int r = 0; r < 16; r++) regs[r] = g.Next(4) == 0 ? (ulong)g.Next(-3, 3) : (ulong)g.NextInt64() ^ ((ulong)g.Next(2) << 63);
        regs[1] = rcx();
        regs[3] = CpuFixture.DataBase + 0x800;
        regs[4] = CpuFixture.StackTop - 0x100;
        ulong flags = ((ulong)g.NextInt64() & 0x8D5) | 0x202;
        var data = new byte[0x1000];
        g.NextBytes(data);
        return new Program(code, regs, flags, data, Disassemble(code));
    }

    private static string Disassemble(byte[] code)
    {
        var d = Iced.Intel.Decoder.Create(64, new ByteArrayCodeReader(code));
        d.IP = CpuFixture.CodeBase;
        var sb = new StringBuilder();
        var fmt = new GasFormatter();
        var output = new StringOutput();
        while (d.IP < CpuFixture.CodeBase + (ulong)code.Length)
        {
            d.Decode(out var ins);
            fmt.Format(ins, output);
            sb.AppendLine($"    {ins.IP:x}: {output.ToStringAndReset()}");
        }
        return sb.ToString();
    }

    [Theory]
    [InlineData("straight", 0)]
    [InlineData("loop", 1000)]
    [InlineData("fault", 2000)]
    [InlineData("fault-loop", 3000)]
    [InlineData("split-loop", 4000)]
    [InlineData("fault-split-loop", 6000)]
    public void RandomProgramsMatchTheInterpreter(string kind, int seedBase)
    {
        const int programs = 150;
        bool loop = kind.Contains("loop"), fault = kind.StartsWith("fault"), split = kind.Contains("split");
        var failures = new List<string>();
        long compiled = 0, entries = 0;
        for (int i = 0; i < programs; i++)
        {
            var p = MakeProgram(seedBase + i, loop, fault, split);
            var interp = RunOnce(ExecutionTier.Interp, p);
            var jit = RunOnce(ExecutionTier.Jit, p);
            compiled += jit.Compiled;
            entries += jit.Entries;
            Assert.Equal(0, interp.Compiled);
            string? diff = interp.Diff(jit);
            if (diff != null && failures.Count < 5) failures.Add($"program {seedBase + i}:\n{p.Text}{diff}");
            if (fault) Assert.StartsWith("PageFault", interp.Trap);
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        Assert.True(compiled >= programs * 9 / 10 && entries >= programs * 9 / 10, $"the JIT ran too little: {compiled} blocks compiled, {entries} entries");
    }

    /// <summary>
    /// A loop whose load faults on its 17th iteration (rbx walks off the 16 data pages): the fault
    /// leaves from inside the compiled loop with the interpreter's rip, registers, flags and count.
    /// </summary>
    [Fact]
    public void FaultInsideACompiledLoopIsPrecise()
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.add(rax, 3);            // 0
        a.imul(rdx, rax, 7);      // 1
        a.mov(r8, __qword_ptr[rbx]);   // 2: faults when rbx = DataBase + 0x10000
        a.add(rbx, 0x1000);       // 3
        a.cmp(rax, rdx);          // 4
        a.setb(sil);              // 5
        a.sub(rdi, 1);            // 6
        a.jne(top);               // 7
        a.int3();
        var regs = new ulong[16];
        regs[3] = CpuFixture.DataBase;
        regs[4] = CpuFixture.StackTop;
        regs[7] = 100;
        var p = new Program(CpuFixture.Assembled(a), regs, 0x202, new byte[16], "");

        var interp = RunOnce(ExecutionTier.Interp, p);
        var jit = RunOnce(ExecutionTier.Jit, p);
        Assert.Null(interp.Diff(jit));
        Assert.Equal(16UL * 8 + 2, jit.Retired);
        Assert.Equal(CpuFixture.DataBase + 0x10000, jit.Regs[3]);
        Assert.StartsWith("PageFault", jit.Trap);
        Assert.Equal(1, jit.Compiled);
    }

    /// <summary>
    /// Runs of random lengths (1..40 instructions) through a compiled loop: after every run rip, the
    /// registers, flags and count match the interpreter's (a compiled block is only entered when the
    /// budget covers it, and a compiled loop stops iterating when it does not).
    /// </summary>
    [Fact]
    public void BudgetsEndRunsAtExactCounts()
    {
        for (int seed = 0; seed < 20; seed++)
        {
            var p = MakeProgram(5000 + seed, loop: true, fault: false, split: seed % 2 == 1);
            p.Regs[1] = 50;
            AssertBudgetedRunsAgree(p, $"program {5000 + seed}", new Random(seed), steps: 200, maxBudget: 40, jitThreshold: 1);
        }
    }

    /// <summary>
    /// Runs of random lengths through nested loops compiled from the inner loop's head (it is hot first),
    /// as Dijkstra's minimum search: the region enters the outer loop in its middle, whose budget check
    /// then moves from a block of the inner loop to a block of the outer one alone
    /// (RegionCompiler.MoveCheckPointsOutward). Every run ends at the interpreter's count and state.
    /// </summary>
    [Fact]
    public void BudgetsEndRunsInNestedLoopsCompiledFromTheInnerOne()
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), inner = a.CreateLabel(), skip = a.CreateLabel();
        a.Label(ref top);
        a.mov(edx, 12);
        a.xor(esi, esi);
        a.Label(ref inner);
        a.movzx(r9d, __byte_ptr[r14 + rsi]);
        a.test(r9d, r9d);
        a.jne(skip);
        a.cmp(r8, rsi);                                  // a data-dependent select, as the minimum search's
        a.cmovg(r8, rsi);
        a.Label(ref skip);
        a.add(esi, 1);
        a.cmp(esi, edx);
        a.jl(inner);
        a.add(r8, 1);
        a.dec(ecx);
        a.jne(top);
        a.int3();
        var data = new byte[16];
        for (int k = 0; k < data.Length; k++) data[k] = (byte)(k % 3 == 0 ? 1 : 0);
        var regs = new ulong[16];
        regs[1] = 200;                                   // rcx: outer passes
        regs[4] = CpuFixture.StackTop;
        regs[14] = CpuFixture.DataBase;
        var p = new Program(CpuFixture.Assembled(a), regs, 0x202, data, "nested loops\n");
        for (int seed = 0; seed < 5; seed++)
            AssertBudgetedRunsAgree(p, $"seed {seed}", new Random(seed), steps: 300, maxBudget: 60, jitThreshold: 40);
    }

    /// <summary>
    /// Runs <paramref name="p"/> on both tiers in the same random budgets (1..maxBudget) until it stops
    /// for another reason: after every run the exit, rip, registers, flags, count and memory agree, and
    /// compiled code ran.
    /// </summary>
    private static void AssertBudgetedRunsAgree(Program p, string name, Random rng, int steps, int maxBudget, int jitThreshold)
    {
        using var fi = Prepare(ExecutionTier.Interp, p);
        using var fj = Prepare(ExecutionTier.Jit, p, jitThreshold);
        for (int step = 0; step < steps; step++)
        {
            ulong budget = (ulong)rng.Next(1, maxBudget + 1);
            var ri = fi.Machine.Run(budget);
            var rj = fj.Machine.Run(budget);
            Assert.Equal(ri.Exit, rj.Exit);
            string? diff = Capture(fi, ri.Exit.ToString()).Diff(Capture(fj, rj.Exit.ToString()));
            Assert.True(diff == null, $"{name}, step {step} (budget {budget}):\n{p.Text}{diff}");
            if (ri.Exit != RunExit.BudgetExhausted) break;
        }
        Assert.True(fj.Cpu.JitEntries > 0, "no compiled code ran");
    }

    /// <summary>Timer interrupts (every 7 instructions) arrive at the same counts, rips and register states on both tiers.</summary>
    [Fact]
    public void TimerInterruptsArriveAtExactCounts()
    {
        var p = MakeProgram(7000, loop: true, fault: false, split: true);
        p.Regs[1] = 40;
        List<string> Ticks(ExecutionTier tier)
        {
            using var f = Prepare(tier, p);
            var log = new List<string>();
            f.Machine.TimerInterval = 7;
            f.Machine.ResetTimer();
            f.Machine.TrapHandler = new Recorder(log);
            f.Machine.Run(100_000);
            return log;
        }
        var interp = Ticks(ExecutionTier.Interp);
        var jit = Ticks(ExecutionTier.Jit);
        Assert.True(interp.Count > 10);
        Assert.Equal(interp, jit);
    }

    /// <summary>Logs each timer trap with the state it interrupted; stops at any other trap.</summary>
    private sealed class Recorder(List<string> log) : ITrapHandler
    {
        public void OnTrap(X64Machine m, in Trap trap)
        {
            var regs = new ulong[16];
            m.Cpu.GetRegisters(regs);
            log.Add($"{trap.Kind} clock {m.Clock} retired {m.InstructionsRetired} rip 0x{m.Cpu.Rip:x} flags 0x{m.Cpu.RFlags:x} regs {string.Join(",", regs.Select(r => r.ToString("x")))}");
            if (trap.Kind != TrapKind.Timer) m.Stop();
        }
    }
}
