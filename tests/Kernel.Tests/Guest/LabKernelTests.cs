using Lab.TestSupport;
using Lab.Kernel.Guest;
using Lab.Machine;

namespace Lab.Kernel.Tests.Guest;

/// <summary>
/// Lab's own C WeensyOS kernel (userland/kernel) booted as guest code at CPL 0 on the system-mode
/// machine: its screens, its grading log through our grading oracle, privilege faults caught by its
/// handler, timer interrupts through the PIC and IDT, determinism, soft reboots by key, snapshots.
/// </summary>
public class LabKernelTests
{
    /// <summary>Enough guest instructions per tick for the kernel's per-trap displays and some user progress.</summary>
    private const ulong GradingSpeed = 60_000_000;

    private static ushort Cell(GuestKernelMachine m, int row, int col) => m.Machine.Cga[row, col];

    [Theory]
    [InlineData("step0", 0xD0)]     // the handout: everything user-accessible, so kernel pages show reversed
    [InlineData("step1", 0x0D)]     // kernel isolation
    [InlineData("step7", 0x0D)]
    public void TheScreenShowsPhysicalAndVirtualMemory(string variant, int kernelPageAttribute)
    {
        using var m = LabKernel.Boot(variant);
        m.RunUntilTimerInterrupts(5);
        string[] text = m.ScreenText();
        Assert.Equal("PHYSICAL MEMORY", text[0].Substring(32, 15));
        for (int row = 0; row < 8; row++) Assert.Equal($"0x{row * 0x40000:X6} ", text[1 + row].Substring(3, 9));
        Assert.StartsWith("VIRTUAL ADDRESS SPACE FOR ", text[10][26..]);
        // Physical: page 0 reserved, the kernel from 0x40000, its stack page 0x7F000, the I/O hole reserved.
        Assert.Equal(0x0700 | 'R', Cell(m, 1, 12));
        Assert.Equal(0x0D00 | 'K', Cell(m, 2, 12));
        Assert.Equal(0x0D00 | 'K', Cell(m, 2, 12 + 63));
        Assert.Equal(0x0700 | 'R', Cell(m, 3, 12 + 32));
        // Virtual (row 11 = 0x000000): the kernel page at 0x40000, and the console page 0xB8000, always user-accessible.
        Assert.Equal(kernelPageAttribute << 8 | 'K', Cell(m, 12, 12));
        Assert.Equal(0x7000 | 'R', Cell(m, 13, 12 + 0x38));
        Assert.False(m.Stopped);
        Assert.Equal(0, m.CursorPosition);
    }

    [Fact]
    public void FromStep4EveryStackIsAtTheTopOfTheVirtualSpace()
    {
        using var m = LabKernel.Boot("step7");
        m.RunUntilTimerInterrupts(3);
        string[] text = m.ScreenText();
        int pid = text[10][52] - '0';
        Assert.InRange(pid, 1, 4);
        // 0x2FF000 is the last cell of row 22, reversed (user), in the process's colour.
        ushort stack = Cell(m, 22, 12 + 63);
        Assert.Equal((char)('0' + pid), (char)(stack & 0xFF));
        Assert.Equal(0, (stack >> 8) & 0x0F & 0x08);          // reverse video: the colour went to the background
    }

    public static TheoryData<string, int> AllocatorGrades => new()
    {
        { "grade-step0", 0 },
        { "grade-step2", 2 },
        { "grade-step3", 3 },
        { "grade-step7", 4 },
    };

    [Theory]
    [MemberData(nameof(AllocatorGrades))]
    public void TheGradingLogPassesExactlyTheStagesTheStepImplements(string variant, int stagesPassed)
    {
        using var m = LabKernel.Boot(variant, instructionsPerSecond: GradingSpeed);
        m.RunUntilStopped(5_000_000_000);
        Assert.True(m.PoweredOff, "the tick limit powers the machine off");
        Assert.Equal(1000UL, m.TimerInterrupts);
        var oracle = new GradingOracle(m.Log);
        Assert.Null(oracle.InvariantProblem());
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i * 100), oracle.Physical.Keys);
        Assert.All(oracle.Virtual.Values, procs => Assert.Equal([1, 2, 3, 4], procs.Select(p => p.Pid)));
        for (int stage = 1; stage <= 4; stage++)
        {
            var (passed, message) = oracle.Stage(stage);
            Assert.True(passed == (stage <= stagesPassed), $"{variant}: {message}");
        }
        Assert.DoesNotContain("PANIC", m.Log);
    }

    [Theory]
    [InlineData("gradefork-step5")]
    [InlineData("gradefork-step7")]
    public void TheForkGradingRunPassesStage5(string variant)
    {
        using var m = LabKernel.Boot(variant, instructionsPerSecond: GradingSpeed);
        m.RunUntilStopped(5_000_000_000);
        Assert.True(m.PoweredOff);
        var oracle = new GradingOracle(m.Log);
        Assert.Null(oracle.InvariantProblem());
        var (passed, message) = oracle.Stage(5);
        Assert.True(passed, message);
        Assert.Equal(4, oracle.Virtual[900].Count);         // 1 forks 2 and 3, then 2 forks 4
    }

    [Fact]
    public void BeforeStep5ForkPanicsAndTheGradedKernelPowersOff()
    {
        using var m = LabKernel.Boot("grade-step4");
        m.PressKey('f');
        m.RunUntilStopped(2_000_000_000);
        Assert.True(m.PoweredOff);
        Assert.Contains("PANIC: Unexpected exception 52!\n", m.Log);
        Assert.StartsWith("PANIC: Unexpected exception 52!", m.ScreenText()[23]);
    }

    [Fact]
    public void PrivilegedInstructionsInUserModeAreGeneralProtectionFaultsInTheKernelsHandler()
    {
        using var m = LabKernel.Boot("step7");
        var faults = new List<GuestEvent>();
        m.AddObserver(new Recorder(faults, e => e.Kind == GuestEventKind.Exception));
        m.RunUntilTimerInterrupts(1);
        m.PressKey('p');                                     // soft reboot into five p-privileged processes
        m.Run(50_000_000);                                   // then nothing is runnable: the kernel spins, interrupts off
        string log = m.Log;
        foreach (int pid in new[] { 1, 2, 3, 4, 5 })
            Assert.Contains($"Process {pid} general protection fault (rip=0x", log);
        Assert.DoesNotContain("PANIC", log);
        // cli, hlt, mov cr3, in, out: five #GP from CPL 3, error code 0, none reaching user mode again.
        var gps = faults.Where(e => e.Vector == 13).ToList();
        Assert.Equal(5, gps.Count);
        Assert.All(gps, e => { Assert.Equal(3, e.Cpl); Assert.Equal(0UL, e.ErrorCode); });
        Assert.Equal(5, gps.Select(e => e.Rip).Distinct().Count());
        Assert.Contains("general protection fault", m.ScreenText()[24]);
    }

    [Fact]
    public void TimerInterruptsReachTheKernelThroughThePicAndTheIdt()
    {
        using var m = LabKernel.Boot("step7");
        var irqs = new List<GuestEvent>();
        m.AddObserver(new Recorder(irqs, e => e.Kind == GuestEventKind.Interrupt));
        m.RunUntilTimerInterrupts(30);
        Assert.Equal(30, irqs.Count);
        Assert.All(irqs, e => { Assert.Equal(32, e.Vector); Assert.Equal(0, e.Irq); Assert.Equal(3, e.Cpl); });
        Assert.Equal(11932U, m.Machine.Board!.Pit.Divisor);            // 100 Hz
        Assert.Equal(0xFFFA, m.Machine.Board.Pic.Masks);               // only IRQ 0 and the cascade (IRQ 2) unmasked
    }

    [Fact]
    public void TwoRunsGiveByteIdenticalLogs()
    {
        string Run()
        {
            using var m = LabKernel.Boot("grade-step7", instructionsPerSecond: 30_000_000);
            m.RunUntilTimerInterrupts(302);                 // the 301st interrupt dumps tick 300
            return m.Log + $"\nclock {m.Machine.Clock}";
        }
        string a = Run(), b = Run();
        Assert.Contains("PM_DUMP 300 ", a);
        Assert.Equal(a, b);
    }

    [Fact]
    public void ASnapshotOfTheRunningKernelRestoresExactly()
    {
        using var m = LabKernel.Boot("step7");
        m.PressKey('e');                                     // forkexit: processes come and go
        m.RunUntilTimerInterrupts(40);
        byte[] snap = m.SaveState();
        m.RunUntilTimerInterrupts(m.TimerInterrupts + 60);
        ushort[] screen = new ushort[2000];
        m.Machine.Cga.CopyTo(screen);

        using var n = LabKernel.Boot("step7");
        n.RestoreState(snap);
        Assert.Equal(40UL, n.TimerInterrupts);
        n.RunUntilTimerInterrupts(n.TimerInterrupts + 60);
        ushort[] screen2 = new ushort[2000];
        n.Machine.Cga.CopyTo(screen2);
        Assert.Equal(screen, screen2);
        Assert.Equal(m.Machine.Clock, n.Machine.Clock);
        Assert.Equal(m.Log, n.Log);
        Assert.Equal(m.Machine.Cpu.Rip, n.Machine.Cpu.Rip);
    }

    [Fact]
    public void ForkexitRunsWithoutBreakingTheKernelsInvariants()
    {
        using var m = LabKernel.Boot("step7");
        m.PressKey('e');
        m.RunUntilTimerInterrupts(300);
        Assert.False(m.Stopped);
        Assert.DoesNotContain("PANIC", m.Log);
        Assert.DoesNotContain("PANIC", string.Join("", m.ScreenText()));
    }

    [Fact]
    public void QPowersTheMachineOff()
    {
        using var m = LabKernel.Boot("step7");
        m.RunUntilTimerInterrupts(2);
        m.PressKey('q');
        m.RunUntilStopped(100_000_000);
        Assert.True(m.PoweredOff);
    }

    private sealed class Recorder(List<GuestEvent> into, Func<GuestEvent, bool> which) : IGuestEventObserver
    {
        public void OnGuestEvent(X64Machine machine, in GuestEvent e)
        {
            if (which(e)) into.Add(e);
        }
    }
}
