namespace Lab.Machine;

/// <summary>Why the CPU stopped executing guest code and handed control to its owner.</summary>
public enum TrapKind : byte
{
    None = 0,
    /// <summary>The <c>syscall</c> instruction. Rip is the next instruction; rcx = that rip, r11 = rflags.</summary>
    Syscall,
    /// <summary><c>int n</c> (n in <see cref="Trap.Vector"/>). Rip is the next instruction.</summary>
    SoftwareInterrupt,
    /// <summary><c>int3</c> (#BP, vector 3). Rip is the next instruction.</summary>
    Breakpoint,
    /// <summary>#PF (vector 14). Rip is the faulting instruction; ErrorCode and FaultAddress (CR2) are set.</summary>
    PageFault,
    /// <summary>#GP (vector 13): privileged instruction, non-canonical address. Rip is the faulting instruction.</summary>
    GeneralProtection,
    /// <summary>#UD (vector 6): unsupported or invalid instruction; Detail names it. Rip is the faulting instruction.</summary>
    InvalidOpcode,
    /// <summary>#DE (vector 0): divide by zero or quotient overflow. Rip is the faulting instruction.</summary>
    DivideError,
    /// <summary>The instruction-count timer expired. Rip is the next instruction to execute.</summary>
    Timer,
    /// <summary><c>hlt</c>. Rip is the next instruction.</summary>
    Halt,
    /// <summary>#TS (vector 10, system mode): a bad TSS during a stack switch. ErrorCode is the selector.</summary>
    InvalidTss,
    /// <summary>#NP (vector 11, system mode): a segment or gate that is not present. ErrorCode is the selector.</summary>
    SegmentNotPresent,
    /// <summary>#SS (vector 12, system mode): a bad stack segment or non-canonical stack address.</summary>
    StackFault,
    /// <summary>#DF (vector 8, system mode): a fault while delivering a fault (reported, then delivered by the CPU).</summary>
    DoubleFault,
}

/// <summary>One trap as the CPU reports it. A value; copying it is cheap.</summary>
public readonly record struct Trap
{
    public TrapKind Kind { get; init; }
    /// <summary>Architectural vector: 0 #DE, 3 #BP, 6 #UD, 13 #GP, 14 #PF, n for int n, 32 timer.</summary>
    public byte Vector { get; init; }
    /// <summary>Error code for #PF (see <see cref="PageFaultError"/>) and #GP.</summary>
    public ulong ErrorCode { get; init; }
    /// <summary>For #PF: the faulting linear address (also in CR2).</summary>
    public VirtAddr FaultAddress { get; init; }
    /// <summary>The address of the instruction that trapped.</summary>
    public VirtAddr InstructionAddress { get; init; }
    /// <summary>For #UD: the decoded instruction text (or the raw bytes), so a user can be told what was not supported.</summary>
    public string? Detail { get; init; }

    public PageFaultError PageFaultError => (PageFaultError)ErrorCode;

    public override string ToString() => Kind switch
    {
        TrapKind.PageFault => $"#PF at {InstructionAddress} addr={FaultAddress} err={PageFaultError}",
        TrapKind.InvalidOpcode => $"#UD at {InstructionAddress}: {Detail}",
        TrapKind.SoftwareInterrupt => $"int {Vector} at {InstructionAddress}",
        _ => $"{Kind} at {InstructionAddress}",
    };
}

/// <summary>
/// The owner of a machine (a kernel, a test harness) receives every trap through this interface.
/// The handler may read and change registers, memory and CR3, call <see cref="X64Machine.Stop"/>,
/// and then returns; the CPU resumes at <c>Cpu.Rip</c>.
/// </summary>
public interface ITrapHandler
{
    void OnTrap(X64Machine machine, in Trap trap);
}

/// <summary>Why <see cref="X64Machine.Run"/> returned.</summary>
public enum RunExit : byte
{
    /// <summary>The instruction budget given to Run was used up.</summary>
    BudgetExhausted,
    /// <summary>The trap handler (or another thread's call) asked the machine to stop.</summary>
    Stopped,
    /// <summary>A trap occurred and no handler is installed; <see cref="RunResult.Trap"/> says which.</summary>
    Trap,
    /// <summary>The next instruction is at a debugger breakpoint (not executed yet; Cpu.Rip is there).</summary>
    Breakpoint,
    /// <summary>System mode: <c>hlt</c> with interrupts disabled; nothing but a reset can wake the CPU.</summary>
    Halted,
    /// <summary>System mode: the guest powered the machine off (ACPI sleep through the PIIX4 PM device).</summary>
    PowerOff,
    /// <summary>System mode: the guest asked for a reset (port 0x92, 0xCF9, the keyboard controller).</summary>
    Reset,
    /// <summary>System mode: a triple fault (a fault while delivering a double fault) shut the CPU down.</summary>
    Shutdown,
}

public readonly record struct RunResult(RunExit Exit, Trap Trap, ulong InstructionsExecuted);

/// <summary>What a system-mode machine reports at the IDT / syscall boundary.</summary>
public enum GuestEventKind : byte
{
    /// <summary>An exception (fault or trap) raised by an instruction, including nested ones during delivery.</summary>
    Exception,
    /// <summary>A hardware interrupt from the PIC (Vector is the IDT vector; Irq the line).</summary>
    Interrupt,
    /// <summary><c>int n</c> / <c>int3</c> executed by guest code.</summary>
    SoftwareInterrupt,
    /// <summary>The <c>syscall</c> instruction (rax holds the guest's call number).</summary>
    Syscall,
    /// <summary>A fault during double-fault delivery: the CPU shuts down.</summary>
    TripleFault,
    /// <summary>An I/O port nothing answers was used (reported once per port).</summary>
    UnansweredPort,
}

/// <summary>
/// One event at the IDT / syscall boundary of a system-mode machine. The observer is called
/// before the CPU delivers the event, so the machine's registers are still those of the
/// interrupted code (rip, rsp, CPL); <see cref="Rip"/> is the address the frame will hold.
/// </summary>
public readonly record struct GuestEvent
{
    public GuestEventKind Kind { get; init; }
    public byte Vector { get; init; }
    /// <summary>For <see cref="GuestEventKind.Interrupt"/>: the IRQ line (0 = PIT).</summary>
    public byte Irq { get; init; }
    public bool HasErrorCode { get; init; }
    public ulong ErrorCode { get; init; }
    /// <summary>For #PF: CR2.</summary>
    public VirtAddr FaultAddress { get; init; }
    /// <summary>The instruction address the event refers to (the return address for int n, syscall and interrupts;
    /// the in/out instruction for an unanswered port).</summary>
    public VirtAddr Rip { get; init; }
    /// <summary>Privilege level the event interrupted.</summary>
    public int Cpl { get; init; }
    /// <summary>For <see cref="GuestEventKind.UnansweredPort"/>: the port, and whether it was written.</summary>
    public ushort Port { get; init; }
    public bool PortWrite { get; init; }
    /// <summary>For #UD: the instruction the machine does not implement, if that is why.</summary>
    public string? Detail { get; init; }

    public override string ToString() => Kind switch
    {
        GuestEventKind.Interrupt => $"irq {Irq} (vector {Vector}) at {Rip} cpl {Cpl}",
        GuestEventKind.SoftwareInterrupt => $"int {Vector} at {Rip} cpl {Cpl}",
        GuestEventKind.Syscall => $"syscall at {Rip}",
        GuestEventKind.TripleFault => $"triple fault at {Rip}",
        GuestEventKind.UnansweredPort => $"unanswered port 0x{Port:x} ({(PortWrite ? "write" : "read")})",
        _ => $"exception {Vector}{(HasErrorCode ? $" err=0x{ErrorCode:x}" : "")} at {Rip} cpl {Cpl}"
            + (Vector == 14 ? $" addr={FaultAddress}" : "") + (Detail is null ? "" : $": {Detail}"),
    };
}

/// <summary>Observes a system-mode machine (the session event log, tests). Must not run guest code.</summary>
public interface IGuestEventObserver
{
    void OnGuestEvent(X64Machine machine, in GuestEvent e);
}
