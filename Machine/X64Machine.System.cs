using Lab.Machine.Cpu;
using Lab.Machine.Devices;

namespace Lab.Machine;

/// <summary>
/// System mode: the machine as a small PC running a guest kernel at CPL 0. The run loop advances the
/// devices on the instruction-count clock, lets the PIC interrupt the CPU when IF allows (after the
/// sti shadow), idles a halted CPU to the next device event, and hands every trap the CPU records to
/// the CPU's own IDT / syscall delivery, telling <see cref="EventObserver"/> first. The host never
/// handles a trap; it sees power-off, reset, a triple fault and a CPU halted with interrupts off.
/// </summary>
public sealed partial class X64Machine : IDeviceClock
{
    /// <summary>The PC's devices (system mode only; null in HLE mode).</summary>
    public SystemBoard? Board { get; private set; }

    /// <summary>Sees every event at the IDT / syscall boundary (system mode).</summary>
    public IGuestEventObserver? EventObserver { get; set; }

    /// <summary>The guest powered the machine off; it stays off until <see cref="ResetSystem"/>.</summary>
    public bool PoweredOff { get; private set; }

    /// <summary>A triple fault shut the CPU down; it stays down until <see cref="ResetSystem"/>.</summary>
    public bool ShutDown { get; private set; }

    /// <summary>The machine was reset (or just built) and waits for <see cref="Boot"/>.</summary>
    public bool AwaitingBoot { get; private set; }

    private readonly ulong[] _irqCounts = new ulong[16];
    /// <summary>Set while <see cref="StepInstruction"/> runs: external interrupts wait.</summary>
    private bool _holdInterrupts;
    private Action<Trap>? _nestedFault;

    ulong IDeviceClock.Now => Clock;

    /// <summary>Hardware interrupts delivered on IRQ line <paramref name="irq"/> (0 = the PIT) since boot.</summary>
    public ulong InterruptsDelivered(int irq) => _irqCounts[irq & 15];

    private SystemBoard CreateBoard()
    {
        var board = new SystemBoard(this, Options.InstructionsPerSecond);
        board.Bus.Unanswered = (port, write) => Observe(new GuestEvent
        {
            Kind = GuestEventKind.UnansweredPort, Port = port, PortWrite = write,
            Rip = new VirtAddr(Cpu.PortInstruction), Cpl = Cpu.Cpl,
        });
        Cpu.Ports = board;
        AwaitingBoot = true;
        _nestedFault = trap => Observe(ExceptionEvent(in trap, trap.InstructionAddress.Value));
        return board;
    }

    private SystemBoard RequireBoard() =>
        Board ?? throw new InvalidOperationException("this needs a system-mode machine (MachineOptions.Mode = System)");

    /// <summary>
    /// Enters the guest kernel in the state a boot loader leaves it (see <see cref="Cpu.Cpu.EnterLongMode"/>);
    /// the caller has put the kernel and the loader's structures in memory.
    /// </summary>
    public void Boot(in LongModeEntry entry)
    {
        RequireBoard();
        Cpu.EnterLongMode(in entry);
        AwaitingBoot = false;
    }

    /// <summary>
    /// A hardware reset: the CPU and every device go back to their power-on state (memory and the
    /// parallel-port log are kept) and the machine waits for <see cref="Boot"/>, as a PC waits for its
    /// firmware to load a boot sector.
    /// </summary>
    public void ResetSystem()
    {
        SystemBoard board = RequireBoard();
        board.Reset();
        Cpu.ResetForBoot();
        PoweredOff = false;
        ShutDown = false;
        AwaitingBoot = true;
        Array.Clear(_irqCounts);
    }

    private void Observe(in GuestEvent e) => EventObserver?.OnGuestEvent(this, in e);

    /// <summary>
    /// A debugger's single step (system mode): executes one instruction with external interrupts held
    /// off, so the step lands on the next instruction rather than in an interrupt handler (as QEMU
    /// single-steps for gdb); a pending interrupt is taken by the next run. An exception the instruction
    /// raises is delivered as usual. A halted CPU stays halted (one unit of idle time passes).
    /// </summary>
    public RunResult StepInstruction()
    {
        RequireBoard();
        _holdInterrupts = true;
        try { return RunSystem(1); }
        finally { _holdInterrupts = false; }
    }

    private RunResult RunSystem(ulong budget)
    {
        ulong start = Clock;
        ulong end = start + budget < start ? ulong.MaxValue : start + budget;
        SystemBoard board = Board!;
        Cpu.SkipBreakpointAt(Cpu.Rip);
        while (true)
        {
            if (_stopRequested)
            {
                _stopRequested = false;
                Cpu.StopRequested = false;
                return new RunResult(RunExit.Stopped, default, Clock - start);
            }
            if (board.Request == PowerRequest.PowerOff) { board.ClearRequest(); PoweredOff = true; }
            if (PoweredOff) return new RunResult(RunExit.PowerOff, default, Clock - start);
            if (board.Request == PowerRequest.Reset) ResetSystem();
            if (AwaitingBoot) return new RunResult(RunExit.Reset, default, Clock - start);
            if (ShutDown) return new RunResult(RunExit.Shutdown, default, Clock - start);
            if (Clock >= end) return new RunResult(RunExit.BudgetExhausted, default, Clock - start);

            board.Pit.AdvanceTo(Clock);
            Trap trap;
            if (Cpu.InterruptShadow)
            {
                // The instruction after sti runs before any interrupt is recognised.
                Cpu.InterruptShadow = false;
                if (Cpu.Execute(1, out trap)) DeliverSystem(in trap);
                continue;
            }
            if (Cpu.InterruptsEnabled && board.Pic.InterruptPending && !_holdInterrupts)
            {
                byte vector = board.Pic.Acknowledge(out int irq);
                _irqCounts[irq]++;
                Cpu.Halted = false;
                Observe(new GuestEvent
                {
                    Kind = GuestEventKind.Interrupt, Vector = vector, Irq = (byte)irq,
                    Rip = new VirtAddr(Cpu.Rip), Cpl = Cpu.Cpl,
                });
                DeliverThroughIdt(vector, EventSource.External, false, 0, Cpu.Rip, Cpu.Rip);
                continue;
            }
            ulong nextEvent = board.Pit.NextEventAt;
            if (Cpu.Halted)
            {
                // hlt: nothing runs until an interrupt. With IF clear nothing ever will.
                if (!Cpu.InterruptsEnabled) return new RunResult(RunExit.Halted, default, Clock - start);
                ulong wake = Math.Min(nextEvent, end);
                if (wake > Clock) _idleTime += wake - Clock;
                continue;
            }

            ulong limit = end - Clock;
            if (nextEvent != ulong.MaxValue) limit = Math.Min(limit, Math.Max(1, nextEvent - Math.Min(nextEvent, Clock)));
            if (Cpu.Execute(limit, out trap))
            {
                DeliverSystem(in trap);
            }
            else if (Cpu.BreakpointHit)
            {
                Cpu.BreakpointHit = false;
                return new RunResult(RunExit.Breakpoint, default, Clock - start);
            }
        }
    }

    /// <summary>
    /// The system-mode landing site of every trap the CPU records: syscall enters the kernel through
    /// the syscall MSRs, everything else goes through the IDT (int n with the gate DPL check).
    /// </summary>
    private void DeliverSystem(in Trap trap)
    {
        switch (trap.Kind)
        {
            case TrapKind.Syscall:
                Observe(new GuestEvent { Kind = GuestEventKind.Syscall, Rip = new VirtAddr(Cpu.Rip), Cpl = Cpu.Cpl });
                Cpu.EnterSyscall();
                return;
            case TrapKind.SoftwareInterrupt:
            case TrapKind.Breakpoint:
                Observe(new GuestEvent
                {
                    Kind = GuestEventKind.SoftwareInterrupt, Vector = trap.Vector, Rip = new VirtAddr(Cpu.Rip), Cpl = Cpu.Cpl,
                });
                DeliverThroughIdt(trap.Vector, EventSource.Software, false, 0, Cpu.Rip, trap.InstructionAddress.Value);
                return;
            default:
                ulong rip = trap.InstructionAddress.Value;
                Observe(ExceptionEvent(in trap, rip));
                DeliverThroughIdt(trap.Vector, EventSource.Exception, Lab.Machine.Cpu.Cpu.PushesErrorCode(trap.Vector), trap.ErrorCode, rip, rip);
                return;
        }
    }

    private GuestEvent ExceptionEvent(in Trap trap, ulong rip) => new()
    {
        Kind = GuestEventKind.Exception,
        Vector = trap.Vector,
        HasErrorCode = Lab.Machine.Cpu.Cpu.PushesErrorCode(trap.Vector),
        ErrorCode = trap.ErrorCode,
        FaultAddress = trap.FaultAddress,
        Rip = new VirtAddr(rip),
        Cpl = Cpu.Cpl,
        Detail = trap.Detail,
    };

    private void DeliverThroughIdt(byte vector, EventSource source, bool hasError, ulong error, ulong returnRip, ulong faultRip)
    {
        if (Cpu.DeliverEvent(vector, source, hasError, error, returnRip, faultRip, _nestedFault)) return;
        ShutDown = true;
        Observe(new GuestEvent { Kind = GuestEventKind.TripleFault, Rip = new VirtAddr(faultRip), Cpl = Cpu.Cpl });
    }

    // ------------------------------------------------------------------------------------------
    // Snapshots (machine format 2): devices and power state after the CPU.

    private void SaveSystem(BinaryWriter w)
    {
        w.Write(Board is not null);
        if (Board is null) return;
        Board.Save(w);
        w.Write(PoweredOff);
        w.Write(ShutDown);
        w.Write(AwaitingBoot);
        foreach (ulong c in _irqCounts) w.Write(c);
    }

    private void LoadSystem(BinaryReader r)
    {
        bool system = r.ReadBoolean();
        if (system != (Board is not null))
            throw new InvalidDataException($"snapshot of a {(system ? "system-mode" : "user-mode")} machine cannot restore into a {(Board is not null ? "system-mode" : "user-mode")} one");
        if (Board is null) return;
        Board.Load(r);
        PoweredOff = r.ReadBoolean();
        ShutDown = r.ReadBoolean();
        AwaitingBoot = r.ReadBoolean();
        for (int i = 0; i < _irqCounts.Length; i++) _irqCounts[i] = r.ReadUInt64();
    }
}
