namespace Lab.Kernel.Common;

public enum KernelEventKind : byte
{
    /// <summary>A system call finished: Name, Arg (rdi), Result when HasResult.</summary>
    Syscall,
    /// <summary>A write to a shared page was fixed up by copy-on-write: Arg is the address.</summary>
    CopyOnWrite,
    /// <summary>A user fault parked the process: Name is read/write, Arg the address, Result the rip.</summary>
    Fault,
    /// <summary>A fault killed a POSIX process: Name says how (e.g. "SIGSEGV (write)", "SIGKILL (out of
    /// memory)"), Arg is the fault address, Result the rip.</summary>
    Killed,
    /// <summary>track_wait collected a tracked child's report (POSIX): Pid is the collector, Name the
    /// child's program, Arg the child's pid, Result its exit code.</summary>
    Track,
    /// <summary>An exception a kernel built from C took (system mode, seen at the IDT): Name describes
    /// it, Arg is the fault address (page faults), Result the rip.</summary>
    Trap,
    /// <summary>A system call or hardware interrupt a kernel built from C took (system mode, seen at the
    /// IDT): Name is what it was ("int 52", "syscall 2", "irq 0"), Arg rdi, Result the rip it came from.
    /// Counted and summarised like system calls.</summary>
    GuestCall,
}

/// <summary>Something the kernel did, as reported to <see cref="Weensy.Core.WeensyKernel.Observer"/> and <see cref="Posix.PosixKernel.Observer"/>.</summary>
public readonly record struct KernelEvent(KernelEventKind Kind, int Pid, string Name, ulong Arg, long Result, bool HasResult, ulong Tick)
{
    public override string ToString() => Kind switch
    {
        KernelEventKind.Syscall => HasResult ? $"sys_{Name}(0x{Arg:x}) = {Result}" : $"sys_{Name}(0x{Arg:x})",
        KernelEventKind.CopyOnWrite => $"copy-on-write fault at 0x{Arg:x} fixed",
        KernelEventKind.Killed => $"killed by {Name} at 0x{Arg:x} (rip 0x{Result:x})",
        KernelEventKind.Track => $"collected the track report of pid {Arg} ({Name}, exit code {Result})",
        KernelEventKind.Trap => Name,
        KernelEventKind.GuestCall => $"{Name} from rip 0x{Result:x} (rdi 0x{Arg:x})",
        _ => $"{Name} fault at 0x{Arg:x} (rip 0x{Result:x}): process stopped",
    };
}
