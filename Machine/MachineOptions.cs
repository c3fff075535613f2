namespace Lab.Machine;

/// <summary>How the machine runs guest code.</summary>
public enum MachineMode : byte
{
    /// <summary>
    /// High-level emulated kernel (the default): guest code runs at CPL 3 only; every trap (syscall,
    /// int n, fault, timer, hlt) goes to the owner's <see cref="ITrapHandler"/>, a kernel written in C#.
    /// </summary>
    UserHle = 0,
    /// <summary>
    /// A small x86-64 PC: the guest kernel runs at CPL 0 and the CPU delivers interrupts, exceptions
    /// and system calls through the guest's own IDT/TSS/syscall MSRs; devices sit on a port bus
    /// (PIC, PIT, keyboard controller, CGA cursor, parallel port, PCI power management). The owner
    /// only observes (<see cref="IGuestEventObserver"/>) and sees halts, power-off and resets.
    /// </summary>
    System = 1,
}

/// <summary>How a machine is built. Immutable once the machine exists.</summary>
public sealed record MachineOptions
{
    /// <summary>Physical RAM in bytes (a multiple of 4096). WeensyOS uses 2 MiB.</summary>
    public ulong MemorySize { get; init; } = 2 * 1024 * 1024;

    /// <summary>Instructions between timer interrupts; 0 disables the timer (user-mode HLE only:
    /// in system mode the guest programs the PIT).</summary>
    public ulong TimerInterval { get; init; }

    /// <summary>User-mode HLE (default) or system mode.</summary>
    public MachineMode Mode { get; init; } = MachineMode.UserHle;

    /// <summary>
    /// System mode: how many units of the deterministic instruction-count clock make one second of
    /// guest time. The devices (the 1.193182 MHz PIT, the ACPI PM timer) run on this clock, so a
    /// 100 Hz timer fires every InstructionsPerSecond/100 instructions whatever the host's speed.
    /// </summary>
    public ulong InstructionsPerSecond { get; init; } = 100_000_000;
}
