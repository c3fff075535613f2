using Lab.Machine;

namespace Lab.Kernel.Common;

/// <summary>
/// A process's saved user registers (the trap frame of a C kernel): the general registers, rip,
/// rflags and the FS/GS bases. The same idea in both kernels, so both process types derive from it:
/// a trap saves the CPU into the current process, and running a process loads it back.
/// </summary>
public class UserContext
{
    /// <summary>rax..r15 in encoding order (index with <see cref="Register"/>).</summary>
    internal readonly ulong[] Regs = new ulong[16];
    internal ulong Rip;
    /// <summary>IF set (bit 1 always reads as 1): a process runs with interrupts enabled.</summary>
    internal ulong RFlags = InitialRFlags;
    internal ulong FsBase;
    internal ulong GsBase;
    /// <summary>The 16 XMM registers, for a kernel whose programs use SSE (the POSIX profile: C
    /// libraries copy and format with it, so each process keeps its own, and a signal handler's
    /// frame saves them); null where the kernel leaves them alone.</summary>
    internal UInt128[]? Xmm;

    internal const ulong InitialRFlags = 0x202;

    /// <summary>The trap entry: copies the CPU's user registers in.</summary>
    internal void SaveFrom(Machine.Cpu.Cpu cpu)
    {
        cpu.GetRegisters(Regs);
        Rip = cpu.Rip;
        RFlags = cpu.RFlags;
        FsBase = cpu.FsBase;
        GsBase = cpu.GsBase;
        if (Xmm is { } x) for (int i = 0; i < 16; i++) x[i] = cpu.GetXmm(i);
    }

    /// <summary>The return to user mode: loads the registers into the CPU.</summary>
    internal void LoadInto(Machine.Cpu.Cpu cpu)
    {
        cpu.SetRegisters(Regs);
        cpu.Rip = Rip;
        cpu.RFlags = RFlags;
        cpu.FsBase = FsBase;
        cpu.GsBase = GsBase;
        if (Xmm is { } x) for (int i = 0; i < 16; i++) cpu.SetXmm(i, x[i]);
    }

    /// <summary>fork: the child starts with the parent's registers.</summary>
    internal void CopyRegistersFrom(UserContext other)
    {
        other.Regs.CopyTo(Regs, 0);
        Rip = other.Rip;
        RFlags = other.RFlags;
        FsBase = other.FsBase;
        GsBase = other.GsBase;
        if (Xmm is not null && other.Xmm is not null) other.Xmm.CopyTo(Xmm, 0);
    }

    /// <summary>Cleared registers, interrupts enabled (process_init, and execve's fresh start).</summary>
    internal void ClearRegisters()
    {
        Array.Clear(Regs);
        Rip = 0;
        RFlags = InitialRFlags;
        FsBase = GsBase = 0;
        if (Xmm is not null) Array.Clear(Xmm);
    }
}
