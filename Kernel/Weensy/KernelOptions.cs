using Lab.Machine;
namespace Lab.Kernel.Weensy;

/// <summary>Lab steps as people write them: "0".."7" or "cow" (also "8"), any case. The one parser
/// the server, `tui run` and `tui local` share.</summary>
public static class LabSteps
{
    public static LabStep? Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "cow" or "8" => LabStep.CopyOnWrite,
        { Length: 1 } d when d[0] is >= '0' and <= '7' => (LabStep)(d[0] - '0'),
        _ => null,
    };

    public const string Choices = "0..7 or cow";

    /// <summary>The text <see cref="Parse"/> reads back: "0".."7" or "cow".</summary>
    public static string Name(LabStep step) => step == LabStep.CopyOnWrite ? "cow" : ((int)step).ToString();
}

/// <summary>The WeensyOS lab steps (WEENSYOS.md §10). Each includes every step before it.</summary>
public enum LabStep
{
    /// <summary>0: the handout. One shared identity-mapped table, everything user-accessible, no fork or exit.</summary>
    Handout = 0,
    /// <summary>1: kernel memory is not user-accessible (except the console page).</summary>
    KernelIsolation = 1,
    /// <summary>2: every process has its own page table.</summary>
    PerProcessPageTables = 2,
    /// <summary>3: process memory comes from any free physical page (lowest first).</summary>
    AnyFreePage = 3,
    /// <summary>4: overlapping address spaces; the stack is at virtual 0x2FF000.</summary>
    OverlappingAddressSpaces = 4,
    /// <summary>5: fork, copying every user page.</summary>
    ForkCopy = 5,
    /// <summary>6: read-only text segments are shared (refcounted), not copied.</summary>
    SharedText = 6,
    /// <summary>7: exit frees everything.</summary>
    Exit = 7,
    /// <summary>cow: fork shares every page copy-on-write.</summary>
    CopyOnWrite = 8,
}

/// <summary>Deliberate bugs a lab produces, for an instructor to show.</summary>
public enum LabBug
{
    None = 0,
    /// <summary>fork maps the parent's pages into the child without copying: shared writable pages.</summary>
    ForkNoCopy,
    /// <summary>fork's page-table pages are never freed: not when fork fails, not at exit.</summary>
    ForkLeaksPageTables,
}

/// <summary>Which user-program build the kernel loads (userland/build/&lt;flavour&gt;).</summary>
public enum ProgramFlavour
{
    /// <summary>As students see them: ALLOC_SLOWDOWN pacing, Linux <c>syscall</c> ABI.</summary>
    Standard,
    /// <summary>Built with NO_SLOWDOWN=1, for grading runs.</summary>
    NoSlowdown,
    /// <summary>Built against WeensyOS's <c>int $48..$53</c> convention.</summary>
    IntAbi,
}

/// <summary>When the host-side invariant checks (WEENSYOS.md §7 and DESIGN.md) run.</summary>
public enum InvariantChecks
{
    None,
    /// <summary>After every timer tick.</summary>
    EveryTick,
    /// <summary>After every trap (slow; for tests).</summary>
    EveryTrap,
}

/// <summary>How a WeensyOS kernel is configured. Immutable; part of a snapshot.</summary>
public sealed record KernelOptions
{
    public LabStep Step { get; init; } = LabStep.CopyOnWrite;
    public LabBug Bug { get; init; } = LabBug.None;

    /// <summary>
    /// The boot command: "allocator" (pids 1-4 run p-allocator..p-allocator4), "fork", "forkexit", or
    /// the name of any embedded program (run as pid 1, e.g. "kernelwrite", "cowtest").
    /// </summary>
    public string Boot { get; init; } = "allocator";

    public ProgramFlavour Flavour { get; init; } = ProgramFlavour.Standard;

    /// <summary>Guest instructions per timer tick (HZ = 100 ticks per simulated second).</summary>
    public ulong InstructionsPerTick { get; init; } = DefaultInstructionsPerTick;

    /// <summary>WeensyOS TICK_LIMIT: power off at the first trap after this many ticks (0 = never).
    /// A panic powers off at once when set.</summary>
    public ulong TickLimit { get; init; }

    public InvariantChecks Invariants { get; init; } = InvariantChecks.None;

    /// <summary>The execution tier of the machine's CPU; null: <see cref="MachineOptions.Tier"/>'s default (Jit, or LAB_TIER).</summary>
    public ExecutionTier? Tier { get; init; }

    /// <summary>The default tick length, chosen so the allocator fills memory in a few simulated seconds.</summary>
    public const ulong DefaultInstructionsPerTick = 2_000;

    public const int Hz = 100;
}
