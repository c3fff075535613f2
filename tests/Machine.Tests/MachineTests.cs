using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using R = Lab.Machine.Register;

namespace Lab.Machine.Tests;

/// <summary>Whole-machine properties: self-modifying code, the timer, determinism, snapshots.</summary>
public class MachineTests
{
    [Fact]
    public void SelfModifyingCodeTakesEffectAfterTheWrite()
    {
        using var f = new CpuFixture();
        // Make the code page writable for this test.
        f.Tables.Map(new VirtAddr(CpuFixture.CodeBase), CpuFixture.CodePhys, 0x1000, PteFlags.User | PteFlags.Writable);
        f.Cpu.FlushTlb();
        var a = new Assembler(64);
        var target = a.CreateLabel(); var again = a.CreateLabel();
        a.xor(ebx, ebx);
        a.Label(ref again);
        a.call(target);                       // first call returns 1, second returns 2 (patched)
        a.add(ebx, eax);
        a.cmp(ebx, 3);
        a.jne(again);
        a.int3();
        a.Label(ref target);
        a.mov(eax, 1);                        // b8 01 00 00 00: byte at +1 is the immediate
        a.lea(rdx, __[target]);               // RIP-relative address of our own code
        a.mov(__byte_ptr[rdx + 1], 2);        // patch the immediate
        a.ret();
        var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), CpuFixture.CodeBase);
        f.LoadBytes(ms.ToArray());
        f.RunToEnd();
        Assert.Equal(3UL, f[R.Rbx]);
        Assert.True(f.Cpu.CodeInvalidations > 0);
    }

    [Fact]
    public void LoadingNewCodeIntoAReusedPageRunsTheNewCode()
    {
        using var f = new CpuFixture();
        f.Load(a => a.mov(eax, 1));
        f.RunToEnd();
        Assert.Equal(1UL, f[R.Rax]);
        f.Load(a => a.mov(eax, 2));   // a kernel reloading a program through physical memory
        f.RunToEnd();
        Assert.Equal(2UL, f[R.Rax]);
    }

    [Fact]
    public void TimerFiresEveryNInstructionsExactly()
    {
        using var f = new CpuFixture();
        f.Machine.TimerInterval = 1000;
        f.Machine.ResetTimer();
        f.Load(a => { var l = a.CreateLabel(); a.mov(ecx, 10_000); a.Label(ref l); a.dec(ecx); a.jnz(l); });
        var at = new List<ulong>();
        Trap t;
        while ((t = f.Run()).Kind == TrapKind.Timer) at.Add(f.Machine.InstructionsRetired);
        Assert.Equal(TrapKind.Breakpoint, t.Kind);
        Assert.Equal(20, at.Count);   // 20002 instructions before the int3
        for (int i = 0; i < at.Count; i++) Assert.Equal((ulong)(i + 1) * 1000, at[i]);
    }

    private sealed class IdlingKernel : ITrapHandler
    {
        public int Timers;
        public void OnTrap(X64Machine machine, in Trap trap)
        {
            if (trap.Kind == TrapKind.Timer) { Timers++; machine.WaitForTimer(); }   // nothing runnable: idle
            else machine.Stop();
        }
    }

    [Fact]
    public void AKernelThatIdlesOnEveryTimerStillReturnsFromRun()
    {
        using var f = new CpuFixture();
        f.Load(a => { var l = a.CreateLabel(); a.Label(ref l); a.jmp(l); });
        var kernel = new IdlingKernel();
        f.Machine.TrapHandler = kernel;
        f.Machine.TimerInterval = 100;
        f.Machine.ResetTimer();
        var r = f.Machine.Run(10_000);
        Assert.Equal(RunExit.BudgetExhausted, r.Exit);
        Assert.InRange(kernel.Timers, 1, 101);
    }

    [Fact]
    public void StopBeforeRunEndsTheNextRunAtOnce()
    {
        using var f = new CpuFixture();
        f.Load(a => { var l = a.CreateLabel(); a.Label(ref l); a.jmp(l); });
        f.Machine.Stop();
        Assert.Equal(RunExit.Stopped, f.Machine.Run(1000).Exit);
        Assert.Equal(0UL, f.Machine.InstructionsRetired);
        Assert.Equal(RunExit.BudgetExhausted, f.Machine.Run(1000).Exit);
    }

    [Fact]
    public void BudgetStopsAtAnExactInstructionCount()
    {
        using var f = new CpuFixture();
        f.Load(a => { var l = a.CreateLabel(); a.mov(ecx, 100); a.Label(ref l); a.dec(ecx); a.jnz(l); });
        for (ulong i = 1; i <= 7; i++)
        {
            var r = f.Machine.Run(1);
            Assert.Equal(RunExit.BudgetExhausted, r.Exit);
            Assert.Equal(i, f.Machine.InstructionsRetired);
        }
        Assert.Equal(100UL - 3, f[R.Rcx]);
    }

    private static void LoadHashProgram(CpuFixture f)
    {
        // A loop that mixes registers, memory and flags: xorshift over a table, with a timer.
        f.Load(a =>
        {
            var l = a.CreateLabel();
            a.mov(rdi, CpuFixture.DataBase);
            a.mov(rax, 0x9E3779B97F4A7C15);
            a.mov(ecx, 200_000);
            a.Label(ref l);
            a.mov(rdx, rax); a.shl(rdx, 13); a.xor(rax, rdx);
            a.mov(rdx, rax); a.shr(rdx, 7); a.xor(rax, rdx);
            a.mov(rdx, rax); a.shl(rdx, 17); a.xor(rax, rdx);
            a.mov(ebx, eax); a.and(ebx, 0xFFF8);
            a.add(__qword_ptr[rdi + rbx], rax);
            a.adc(rsi, 0);
            a.dec(ecx); a.jnz(l);
        });
        f.Machine.TimerInterval = 977;
        f.Machine.ResetTimer();
    }

    private static (ulong[] Regs, ulong Rip, ulong Flags, ulong Count, byte[] Data) Capture(CpuFixture f)
    {
        var regs = new ulong[16];
        f.Cpu.GetRegisters(regs);
        var data = new byte[CpuFixture.DataSize];
        f.Machine.Memory.Read(CpuFixture.DataPhys, data);
        return (regs, f.Cpu.Rip, f.Cpu.RFlags, f.Machine.InstructionsRetired, data);
    }

    /// <summary>Runs n units, delivering timer traps by just continuing (counts them).</summary>
    private static int RunFor(CpuFixture f, ulong units)
    {
        int timers = 0;
        ulong end = f.Machine.Clock + units;
        while (f.Machine.Clock < end)
        {
            var r = f.Machine.Run(end - f.Machine.Clock);
            if (r.Exit == RunExit.Trap)
            {
                if (r.Trap.Kind == TrapKind.Timer) timers++;
                else break;
            }
        }
        return timers;
    }

    [Fact]
    public void SameInputsGiveTheSameRun()
    {
        using var f1 = new CpuFixture();
        using var f2 = new CpuFixture();
        LoadHashProgram(f1);
        LoadHashProgram(f2);
        RunFor(f1, 500_000);
        RunFor(f2, 500_000);
        var a = Capture(f1);
        var b = Capture(f2);
        Assert.Equal(a.Regs, b.Regs);
        Assert.Equal(a.Data, b.Data);
        Assert.Equal(a.Count, b.Count);
    }

    [Fact]
    public void ManyMachinesRunConcurrentlyWithoutSharingState()
    {
        using var reference = new CpuFixture();
        LoadHashProgram(reference);
        RunFor(reference, 300_000);
        var expected = Capture(reference);
        var results = new ulong[4][];
        Parallel.For(0, 4, i =>
        {
            using var f = new CpuFixture();
            LoadHashProgram(f);
            RunFor(f, 300_000);
            results[i] = Capture(f).Regs;
        });
        foreach (var r in results) Assert.Equal(expected.Regs, r);
    }

    [Fact]
    public void RestoredSnapshotContinuesExactlyAsTheOriginal()
    {
        using var f = new CpuFixture();
        LoadHashProgram(f);
        RunFor(f, 123_457);   // stop mid-loop, between timer interrupts
        byte[] snapshot = f.Machine.SaveState();
        int timersA = RunFor(f, 400_000);
        var original = Capture(f);

        // Restore into a fresh machine (different object, same options) and into the same one.
        using var g = new CpuFixture();
        g.Machine.RestoreState(snapshot);
        int timersB = RunFor(g, 400_000);
        var restored = Capture(g);
        Assert.Equal(original.Regs, restored.Regs);
        Assert.Equal(original.Rip, restored.Rip);
        Assert.Equal(original.Flags, restored.Flags);
        Assert.Equal(original.Count, restored.Count);
        Assert.Equal(original.Data, restored.Data);
        Assert.Equal(timersA, timersB);

        f.Machine.RestoreState(snapshot);
        RunFor(f, 400_000);
        Assert.Equal(original.Regs, Capture(f).Regs);
    }

    [Fact]
    public void CorruptSnapshotsAreRejectedWithAClearError()
    {
        using var m = new X64Machine();
        var e = Assert.Throws<InvalidDataException>(() => m.RestoreState(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }));
        Assert.Contains("snapshot", e.Message);
    }

    [Fact]
    public void CgaBufferIsReadFromPhysicalMemory()
    {
        using var m = new X64Machine();
        m.Memory.WriteU16(new PhysAddr(0xB8000 + 2 * (80 * 3 + 5)), 0x0C41);
        Assert.Equal(0x0C41, m.Cga[3, 5]);
        Assert.StartsWith("     A", m.Cga.ToTextLines()[3]);
    }
}
