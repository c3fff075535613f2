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
}

public readonly record struct RunResult(RunExit Exit, Trap Trap, ulong InstructionsExecuted);
