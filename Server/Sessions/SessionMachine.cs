using Lab.Kernel.Common;
using Lab.Machine;
using Lab.Shared.Wire;

namespace Lab.Server.Sessions;

/// <summary>
/// The machine a session runs, whatever its profile (WeensyOS or POSIX). The session loop, the
/// shared debugger and the snapshot builder talk only to this; each profile says how its kernel
/// answers. Every member is called on the session's loop thread.
/// </summary>
public abstract class SessionMachine : IDisposable
{
    /// <summary>The emulated CPU and memory (the debugger reads registers, memory and page tables here).</summary>
    public abstract X64Machine Machine { get; }

    /// <summary>Timer ticks since boot.</summary>
    public abstract ulong Ticks { get; }

    /// <summary>Instructions between timer ticks (the loop's unit of speed).</summary>
    public abstract ulong InstructionsPerTick { get; }

    /// <summary>Why nothing more will happen without a reboot (powered off, panic, failed invariant,
    /// every process gone); null while the machine can run.</summary>
    public abstract string? HaltReason { get; }

    public bool Halted => HaltReason != null;

    /// <summary>Why the kernel, though it still runs (keys and reboots work), makes no progress on
    /// its own (e.g. every process broke on a fault); null while it does.</summary>
    public virtual string? StallReason => null;

    /// <summary>True when every process waits for keyboard input: the loop sleeps until a key comes.</summary>
    public virtual bool WaitingForInput => false;

    /// <summary>Typed input the machine holds but its programs have not read yet (bytes).</summary>
    public virtual int PendingInput => 0;

    /// <summary>The pid on the CPU (0 when idle).</summary>
    public abstract int CurrentPid { get; }

    /// <summary>Receives system calls and faults as the kernel reports them.</summary>
    public abstract Action<KernelEvent>? Observer { set; }

    /// <summary>Runs at most <paramref name="budget"/> instructions (less at a halt, stop or breakpoint).</summary>
    public abstract RunResult Run(ulong budget);

    /// <summary>Places an uploaded file in the machine's file system (mkdir -p, charged to its quota);
    /// returns why not, or null. Only a POSIX machine has a file system to put files in.</summary>
    public virtual string? PlaceFile(string path, byte[] bytes) => "only POSIX sessions have a file system to upload into";

    /// <summary>The debugger's `step N`: N instructions of the program being debugged (a kernel built from C
    /// holds hardware interrupts off meanwhile, as QEMU does for gdb, so a step does not land in the timer handler).</summary>
    public virtual RunResult Step(ulong instructions) => Run(instructions);

    /// <summary>A key typed by a driver; returns what the event log says about it (null: nothing).</summary>
    public abstract string? PressKey(char key);

    /// <summary>The 80×25 text screen (CGA cells: character | attribute &lt;&lt; 8).</summary>
    public abstract void CopyScreen(Span<ushort> cells);

    /// <summary>True when <see cref="Pages"/> uses the wide form (<see cref="FrameCodec.WidePageSize"/> bytes a page).</summary>
    public abstract bool WidePages { get; }

    /// <summary>Physical pages for the memory view, plus the number of pages each pid owns.</summary>
    public abstract byte[] Pages(Dictionary<int, int> ownedByPid);

    /// <summary>Live processes for the process table (pid, parent, state, name; pages filled from <see cref="Pages"/>).</summary>
    public abstract ProcessRow[] Processes(IReadOnlyDictionary<int, int> ownedByPid);

    /// <summary>The virtual memory map of <paramref name="pid"/>; null when there is no such process.</summary>
    public abstract VirtualMap? VirtualMap(int pid);

    /// <summary>Lines for the debugger's `ps`.</summary>
    public abstract string[] ProcessListing();

    /// <summary>The kernel event name a `break syscall TEXT` waits for (throws ArgumentException with the choices).</summary>
    public abstract string SyscallBreakName(string text);

    /// <summary>True for the event that ends a process (a `break exit` stops there).</summary>
    public bool IsExit(in KernelEvent e) => e.Kind == KernelEventKind.Syscall && e.Name is "exit" or "exit_group";

    /// <summary>The machine as gdb sees it (registers in gdb's x86-64 order, memory through CR3); null when this
    /// profile offers no gdb (only kernels built from C do: Lab's own kernels are C# on the host).</summary>
    public virtual Lab.Kernel.Guest.Gdb.IGdbTarget? GdbTarget => null;

    /// <summary>Names code addresses for the debugger (<c>kernel_fork+12</c>); null when the kernel has no symbols.</summary>
    public virtual AddressSymbolizer? Symbolizer => null;

    /// <summary>The source line of a code address (<c>kernel.c:123</c>), when the kernel has line information.</summary>
    public virtual string? SourceLine(ulong address) => null;

    /// <summary>Resolves a place a person names for the debugger (a symbol, <c>sym+off</c>, <c>file:line</c>);
    /// false with <paramref name="error"/> null when this machine knows no names (the caller reads hex),
    /// or with the reason when it knows names but not this one.</summary>
    public virtual bool TryResolve(string text, out ulong address, out string? error)
    {
        (address, error) = (0, null);
        return false;
    }

    /// <summary>Checks the kernel's invariants (the loop calls this now and then); null when they hold.</summary>
    public abstract string? CheckInvariants();

    /// <summary>Writes the session's machine state to <paramref name="output"/> as it is made (a big
    /// machine is not built in memory first).</summary>
    public abstract void SaveState(Stream output);

    /// <summary>Restores a saved state from <paramref name="input"/>, a seekable stream holding it from
    /// its position to its end (throws InvalidDataException or EndOfStreamException on a bad one).</summary>
    public abstract void RestoreState(Stream input);

    public abstract void Dispose();

    /// <summary>Boots the machine a session's settings describe, its CPU on <paramref name="tier"/> (null: the default).</summary>
    public static SessionMachine Create(SessionSettings settings, ExecutionTier? tier = null) => settings.Profile switch
    {
        SessionSettings.PosixProfile => new PosixSessionMachine(settings, tier),
        SessionSettings.KernelProfile => new GuestSessionMachine(settings, tier),
        _ => new WeensySessionMachine(settings, tier),
    };
}
