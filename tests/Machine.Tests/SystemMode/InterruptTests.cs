using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static Lab.Machine.Tests.SystemMode.SystemFixture;
using R = Lab.Machine.Register;

namespace Lab.Machine.Tests.SystemMode;

/// <summary>
/// System mode interrupts: the PIT on IRQ 0 through the 8259A pair into the IDT, at exact clock times;
/// cli/sti with the sti shadow; hlt idling to the next interrupt; nested faults, double and triple faults.
/// </summary>
public class InterruptTests
{
    /// <summary>Kernel code that programs the PICs (vectors 32-47, master auto-EOI off) and the PIT (mode 2, divisor).</summary>
    private static void InitPicAndPit(Assembler a, ushort divisor, bool autoEoi = false)
    {
        void Out(ushort port, int v) { a.mov(al, (byte)v); a.@out((byte)port, al); }
        Out(0x21, 0xFF); Out(0xA1, 0xFF);
        Out(0x20, 0x11); Out(0x21, 32); Out(0x21, 4); Out(0x21, autoEoi ? 3 : 1);
        Out(0xA0, 0x11); Out(0xA1, 40); Out(0xA1, 2); Out(0xA1, 1);
        Out(0x43, 0x34);
        Out(0x40, divisor & 0xFF); Out(0x40, divisor >> 8);
        Out(0x21, 0xFE);           // unmask IRQ 0 only
    }

    [Fact]
    public void TimerInterruptsArriveThroughThePicAtExactClockTimes()
    {
        // 10 clock units per PIT input tick: divisor 100 = an interrupt every 1000 units.
        using var f = new SystemFixture(instructionsPerSecond: 1_193_182 * 10);
        var handler = default(Label);
        var result = f.Kernel(a =>
        {
            handler = a.CreateLabel();
            InitPicAndPit(a, 100);
            a.sti();
            var idle = a.CreateLabel();
            a.Label(ref idle);
            a.cmp(__qword_ptr[(long)KernelData], 5);
            var done = a.CreateLabel();
            a.jae(done);
            a.hlt();
            a.jmp(idle);
            a.Label(ref done);
            a.cli();
            a.hlt();
            a.Label(ref handler);
            a.push(rax);
            a.inc(__qword_ptr[(long)KernelData]);
            a.mov(al, 0x20);
            a.@out(0x20, al);      // EOI
            a.pop(rax);
            a.iretq();
        });
        f.SetGate(32, result.GetLabelRIP(handler));
        var times = new List<ulong>();
        f.Machine.EventObserver = new ClockRecorder(times);
        f.RunToHalt();
        Assert.Equal(5UL, f.Kvar(0));
        Assert.Equal(5UL, f.Machine.InterruptsDelivered(0));
        // The PIT was loaded at some clock T; edges fall at T + 1000k exactly, and a halted CPU wakes on them.
        ulong t0 = times[0] - 1000;
        Assert.Equal(Enumerable.Range(1, 5).Select(k => t0 + 1000 * (ulong)k), times);
    }

    private sealed class ClockRecorder(List<ulong> times) : IGuestEventObserver
    {
        public void OnGuestEvent(X64Machine machine, in GuestEvent e)
        {
            if (e.Kind == GuestEventKind.Interrupt) times.Add(machine.Clock);
        }
    }

    [Fact]
    public void MaskedOrUnacknowledgedInterruptsWaitAndStiHasAShadow()
    {
        using var f = new SystemFixture(instructionsPerSecond: 1_193_182 * 10);
        var handler = default(Label);
        var hltAt = default(Label);
        var result = f.Kernel(a =>
        {
            handler = a.CreateLabel();
            hltAt = a.CreateLabel();
            InitPicAndPit(a, 10);
            // Spin with IF clear well past several timer periods: the request waits in IRR.
            a.mov(ecx, 2000);
            var spin = a.CreateLabel();
            a.Label(ref spin);
            a.dec(ecx);
            a.jnz(spin);
            a.sti();
            a.Label(ref hltAt);
            a.hlt();                // runs in the sti shadow, then the interrupt wakes it
            a.cli();
            a.hlt();
            a.Label(ref handler);
            a.mov(rax, __qword_ptr[rsp]);
            a.mov(__qword_ptr[(long)KernelData], rax);
            a.inc(__qword_ptr[(long)KernelData + 8]);
            a.iretq();              // no EOI: IRQ 0 stays in service, no second interrupt
        });
        f.SetGate(32, result.GetLabelRIP(handler));
        f.RunToHalt();
        Assert.Equal(result.GetLabelRIP(hltAt) + 1, f.Kvar(0));   // interrupted after the hlt, not before it
        Assert.Equal(1UL, f.Kvar(8));
    }

    [Fact]
    public void AHaltedCpuWithInterruptsOffStaysHalted()
    {
        using var f = new SystemFixture();
        f.Kernel(a => { InitPicAndPit(a, 10); a.hlt(); });
        var r = f.Machine.Run(1_000_000);
        Assert.Equal(RunExit.Halted, r.Exit);
        Assert.Equal(RunExit.Halted, f.Machine.Run(1_000_000).Exit);
        Assert.Equal(0UL, f.Machine.InterruptsDelivered(0));
    }

    [Fact]
    public void AHaltedCpuIdlesItsClockToTheNextInterrupt()
    {
        using var f = new SystemFixture(instructionsPerSecond: 1_193_182 * 10);
        var handler = default(Label);
        var result = f.Kernel(a =>
        {
            handler = a.CreateLabel();
            InitPicAndPit(a, 50000, autoEoi: true);     // every 500,000 units
            a.sti();
            var idle = a.CreateLabel();
            a.Label(ref idle);
            a.hlt();
            a.jmp(idle);
            a.Label(ref handler);
            a.inc(__qword_ptr[(long)KernelData]);
            a.iretq();
        });
        f.SetGate(32, result.GetLabelRIP(handler));
        var r = f.Machine.Run(5_000_000);
        Assert.Equal(RunExit.BudgetExhausted, r.Exit);
        Assert.InRange(f.Kvar(0), 9UL, 10UL);
        Assert.True(f.Machine.InstructionsRetired < 1000, $"retired {f.Machine.InstructionsRetired}: the CPU should have idled");
    }

    [Fact]
    public void AFaultWhileDeliveringAFaultIsADoubleFault()
    {
        using var f = new SystemFixture();
        f.SetGate(13, Stubs + 13 * 16, present: false);       // #GP's gate is missing: #NP while delivering #GP
        f.SetGate(8, Stubs + 8 * 16, ist: 1);
        f.Kernel(a => IretToUser(a));
        f.User(a => a.cli());
        f.RunToHalt();
        Assert.Equal(8UL, f.Rec(RecVector));
        Assert.Equal(0UL, f.Rec(RecError));
        Assert.Equal(UserCode, f.Rec(RecRip));
        Assert.Equal(IstStackTop - 7 * 8, f.Rec(RecHandlerRsp));
        Assert.Equal([13, 11, 8], f.Events.Where(e => e.Kind == GuestEventKind.Exception).Select(e => (int)e.Vector));
    }

    [Fact]
    public void AMissingKernelStackIsAPageFaultDuringDeliveryAndThenADoubleFault()
    {
        using var f = new SystemFixture();
        f.Machine.Memory.WriteU64(new PhysAddr(Tss + 4), 0x300000);   // rsp0 unmapped
        f.SetGate(8, Stubs + 8 * 16, ist: 1);
        f.Kernel(a => IretToUser(a));
        f.User(a => a.hlt());
        f.RunToHalt();
        Assert.Equal(8UL, f.Rec(RecVector));
        // #GP cannot push its frame (#PF, delivered in turn), #PF cannot either: two page faults make #DF.
        Assert.Equal([13, 14, 14, 8], f.Events.Where(e => e.Kind == GuestEventKind.Exception).Select(e => (int)e.Vector));
        Assert.Equal(0x300000UL - 8, f.Machine.Cpu.Cr2);
    }

    [Fact]
    public void AFaultWhileDeliveringADoubleFaultShutsTheMachineDown()
    {
        using var f = new SystemFixture();
        f.SetGate(13, 0, present: false);
        f.SetGate(8, 0, present: false);
        f.Kernel(a => IretToUser(a));
        f.User(a => a.cli());
        var r = f.Machine.Run(1_000_000);
        Assert.Equal(RunExit.Shutdown, r.Exit);
        Assert.True(f.Machine.ShutDown);
        Assert.Equal(GuestEventKind.TripleFault, f.Events[^1].Kind);
        Assert.Equal(RunExit.Shutdown, f.Machine.Run(1000).Exit);
        f.Machine.ResetSystem();
        Assert.Equal(RunExit.Reset, f.Machine.Run(1000).Exit);   // waits to be booted again
    }

    [Fact]
    public void ABenignExceptionWhoseGateFaultsIsDeliveredAsTheSecondFault()
    {
        using var f = new SystemFixture();
        f.SetGate(6, 0, present: false);                      // #UD has no gate: its #NP is delivered instead
        var at = default(Label);
        var result = f.Kernel(a => { at = a.CreateLabel(); a.Label(ref at); a.ud2(); });
        f.RunToHalt();
        Assert.Equal(11UL, f.Rec(RecVector));
        Assert.Equal((6UL << 3) | 2 | 1, f.Rec(RecError));    // IDT, external (an exception was being delivered)
        Assert.Equal(result.GetLabelRIP(at), f.Rec(RecRip));
    }
}
