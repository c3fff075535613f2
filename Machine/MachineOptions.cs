namespace Lab.Machine;

/// <summary>How a machine is built. Immutable once the machine exists.</summary>
public sealed record MachineOptions
{
    /// <summary>Physical RAM in bytes (a multiple of 4096). WeensyOS uses 2 MiB.</summary>
    public ulong MemorySize { get; init; } = 2 * 1024 * 1024;

    /// <summary>Instructions between timer interrupts; 0 disables the timer.</summary>
    public ulong TimerInterval { get; init; }
}
