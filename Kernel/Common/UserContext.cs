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
    /// <summary>The floating-point and vector state (x87, MXCSR, XMM0-15) as an FXSAVE image, the
    /// layout of Linux's fpstate, for a kernel whose programs use them (the POSIX profile: C libraries
    /// copy and format with SSE, long double runs on the x87, so each process keeps its own and a
    /// signal frame carries it); null where the kernel leaves them alone (WeensyOS). Not part of
    /// <see cref="SaveFrom"/>/<see cref="LoadInto"/> (every trap): the kernel switches it only when
    /// another process gets the CPU.</summary>
    internal byte[]? FpState;

    /// <summary>A fresh <see cref="FpState"/>: FNINIT's x87 (control word 0x37f, every register
    /// empty) and the default MXCSR (0x1f80, all exceptions masked), as a new Linux process has.</summary>
    internal static byte[] NewFpState()
    {
        var image = new byte[Machine.Cpu.Cpu.FxStateSize];
        ResetFpState(image);
        return image;
    }

    private static void ResetFpState(byte[] image)
    {
        Array.Clear(image);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(image, 0x37f);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(24), 0x1f80);
    }

    internal const ulong InitialRFlags = 0x202;

    /// <summary>The trap entry: copies the CPU's user registers in.</summary>
    internal void SaveFrom(Machine.Cpu.Cpu cpu)
    {
        cpu.GetRegisters(Regs);
        Rip = cpu.Rip;
        RFlags = cpu.RFlags;
        FsBase = cpu.FsBase;
        GsBase = cpu.GsBase;
    }

    /// <summary>The return to user mode: loads the registers into the CPU.</summary>
    internal void LoadInto(Machine.Cpu.Cpu cpu)
    {
        cpu.SetRegisters(Regs);
        cpu.Rip = Rip;
        cpu.RFlags = RFlags;
        cpu.FsBase = FsBase;
        cpu.GsBase = GsBase;
    }

    /// <summary>fork: the child starts with the parent's registers.</summary>
    internal void CopyRegistersFrom(UserContext other)
    {
        other.Regs.CopyTo(Regs, 0);
        Rip = other.Rip;
        RFlags = other.RFlags;
        FsBase = other.FsBase;
        GsBase = other.GsBase;
        if (FpState is not null && other.FpState is not null) other.FpState.CopyTo(FpState, 0);
    }

    /// <summary>Cleared registers, interrupts enabled (process_init, and execve's fresh start).</summary>
    internal void ClearRegisters()
    {
        Array.Clear(Regs);
        Rip = 0;
        RFlags = InitialRFlags;
        FsBase = GsBase = 0;
        if (FpState is not null) ResetFpState(FpState);
    }
}
