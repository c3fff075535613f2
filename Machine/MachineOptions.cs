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

/// <summary>Which execution tier runs hot guest code.</summary>
public enum ExecutionTier : byte
{
    /// <summary>The interpreter only.</summary>
    Interp = 0,
    /// <summary>The interpreter, plus blocks run more than <see cref="MachineOptions.JitThreshold"/> times compiled to IL (Machine/Cpu/Jit).</summary>
    Jit = 1,
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

    /// <summary>
    /// The execution tier. Both give identical results (registers, flags, memory, instruction counts,
    /// traps); the JIT is faster on hot code. Default: Jit, or the LAB_TIER environment variable
    /// (interp|jit) when set, so a whole test run can be repeated on either tier.
    /// </summary>
    public ExecutionTier Tier { get; init; } = DefaultTier();

    /// <summary>
    /// Executions of a block before it is compiled (Jit tier). Default 1000, or LAB_JIT_THRESHOLD
    /// when set (tests use 1 to run nearly everything compiled).
    /// </summary>
    public int JitThreshold { get; init; } = DefaultJitThreshold();

    /// <summary>
    /// Most guest instructions the JIT keeps compiled (Jit tier): a compilation that would pass it first
    /// drops all compiled code (the garbage collector reclaims it) and hot code compiles again, as qemu
    /// flushes its full code buffer. Default 65,536 (about 10 MB of IL and machine code), or
    /// LAB_JIT_CODE_LIMIT when set.
    /// </summary>
    public int JitCodeLimit { get; init; } = DefaultJitCodeLimit();

    /// <summary>
    /// Whether RyuJIT compiles hot regions on a worker thread while the CPU goes on interpreting
    /// (Jit tier), as the JVM's and .NET's own tiered compilers do, instead of on the CPU's thread.
    /// Compiled code is exact, so only when it starts to run changes. Off by default: on a 2-core
    /// machine the interpreter then runs the hot code for longer, and blocks that get hot meanwhile
    /// compile regions of their own (CoreMark in `bench emulator`, stop 21: 54 regions and 1.7 s of
    /// RyuJIT time instead of 29 and 0.5 s; 1.8 to 2.8 times qemu-user's time against 1.7 to 2.6).
    /// LAB_JIT_BACKGROUND=1 turns it on.
    /// </summary>
    public bool JitBackgroundCompile { get; init; } = Environment.GetEnvironmentVariable("LAB_JIT_BACKGROUND") == "1";

    /// <summary>
    /// Two compiles per hot region (Jit tier, unless everything compiles in the background): a hot
    /// region is first compiled quickly on the CPU's thread (RyuJIT's MinOpts: about 2.5 times less
    /// compile time, code about 3 times slower); once its code has retired this many instructions per
    /// guest instruction it holds, RyuJIT optimises it again on a worker thread while the quick
    /// code goes on running, and the optimised code replaces it when ready. A program that runs
    /// briefly pays only the quick compiles (stop 27: Embench's nsichneu 0.64 → 0.37 s, picojpeg
    /// 0.91 → 0.66 s; CoreMark 4% slower, its quick code running while the worker catches up). 0
    /// compiles every region once, optimised, on the CPU's thread. Default 1,000, or LAB_JIT_PROMOTE.
    /// </summary>
    public int JitPromoteAfter { get; init; } = DefaultJitPromoteAfter();

    /// <summary>These options with <paramref name="tier"/> when one is given (null keeps the default).</summary>
    public MachineOptions WithTier(ExecutionTier? tier) => tier is { } t ? this with { Tier = t } : this;

    /// <summary>Parses a tier name as the CLI takes it (--tier interp|jit); null if unknown.</summary>
    public static ExecutionTier? ParseTier(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        "interp" or "interpreter" => ExecutionTier.Interp,
        "jit" => ExecutionTier.Jit,
        _ => null,
    };

    /// <summary>LAB_TIER if set and valid, else Jit.</summary>
    private static ExecutionTier DefaultTier() =>
        ParseTier(Environment.GetEnvironmentVariable("LAB_TIER")) ?? ExecutionTier.Jit;

    /// <summary>LAB_JIT_CODE_LIMIT if set to a positive integer, else 65,536.</summary>
    private static int DefaultJitCodeLimit() =>
        int.TryParse(Environment.GetEnvironmentVariable("LAB_JIT_CODE_LIMIT"), out int t) && t > 0 ? t : 65_536;

    /// <summary>LAB_JIT_PROMOTE if set to a non-negative integer, else 1,000.</summary>
    private static int DefaultJitPromoteAfter() =>
        int.TryParse(Environment.GetEnvironmentVariable("LAB_JIT_PROMOTE"), out int t) && t >= 0 ? t : 1_000;

    /// <summary>LAB_JIT_THRESHOLD if set to a positive integer, else 1000.</summary>
    private static int DefaultJitThreshold() =>
        int.TryParse(Environment.GetEnvironmentVariable("LAB_JIT_THRESHOLD"), out int t) && t > 0 ? t : 1000;
}
