namespace Lab.Kernel.Guest.Gdb;

/// <summary>Why the target stopped, as a gdb stop reply says it.</summary>
public enum GdbStopKind
{
    /// <summary>A breakpoint or a finished single step (SIGTRAP).</summary>
    Trap,
    /// <summary>gdb's Ctrl-C (SIGINT).</summary>
    Interrupted,
    /// <summary>The machine powered off: the "process" exited (W).</summary>
    Exited,
    /// <summary>The CPU shut down (a triple fault): the "process" was killed (X, SIGSEGV).</summary>
    Terminated,
}

/// <summary>
/// What the gdb stub debugs: one CPU with its registers (in the order of <see cref="TargetXml"/>),
/// memory as that CPU addresses it, address breakpoints, stepping and running. The stub speaks the
/// protocol; an implementation (<see cref="GuestGdbTarget"/>) knows the machine.
/// </summary>
public interface IGdbTarget
{
    /// <summary>The target description gdb reads with qXfer:features:read:target.xml.</summary>
    string TargetXml { get; }

    /// <summary>Number of registers (those of <see cref="TargetXml"/>, numbered in its order).</summary>
    int RegisterCount { get; }

    /// <summary>Register <paramref name="number"/>'s value in target byte order; null when there is no such register.</summary>
    byte[]? ReadRegister(int number);

    /// <summary>Sets register <paramref name="number"/>; false when there is none, the size is wrong, or it cannot be set to that.</summary>
    bool WriteRegister(int number, ReadOnlySpan<byte> value);

    /// <summary>Reads virtual memory as the CPU translates it now; false when any byte is unmapped.</summary>
    bool ReadMemory(ulong address, Span<byte> destination);

    /// <summary>Writes virtual memory as the CPU translates it now; false (writing nothing) when any byte is unmapped.</summary>
    bool WriteMemory(ulong address, ReadOnlySpan<byte> source);

    bool AddBreakpoint(ulong address);
    bool RemoveBreakpoint(ulong address);

    /// <summary>Executes one instruction.</summary>
    GdbStop Step();

    /// <summary>Runs until a breakpoint, the machine stops, or <paramref name="interruptRequested"/> (polled often) says so.</summary>
    GdbStop Continue(Func<bool> interruptRequested);

    /// <summary>Why the target is stopped now (asked by '?').</summary>
    GdbStop CurrentStop { get; }
}

/// <summary>A stop: its kind and, for <see cref="GdbStopKind.Exited"/>, the exit code.</summary>
public readonly record struct GdbStop(GdbStopKind Kind, int Code = 0);
