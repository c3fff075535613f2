using System.Buffers.Binary;
using Lab.Machine;
using Lab.Machine.Cpu;

namespace Lab.Kernel.Guest.Gdb;

/// <summary>
/// The glue between the gdb stub and a <see cref="GuestKernelMachine"/>: registers in the order of
/// <see cref="X64TargetDescription"/>, memory through the guest's page tables as the CPU walks them now
/// (without setting accessed/dirty bits, and whatever the privilege, as QEMU's debugger reads), the
/// machine's address breakpoints (nothing is written into guest memory), stepping one instruction and
/// running in slices so gdb's Ctrl-C is seen. The machine knows nothing of gdb.
/// A step holds external interrupts off (as QEMU steps for gdb), so `stepi`/`next` stay in the code
/// being stepped; the interrupt is taken when the kernel runs on.
/// </summary>
public sealed class GuestGdbTarget : IGdbTarget
{
    /// <summary>Machine time run between looks at the connection for Ctrl-C (a few milliseconds).</summary>
    public const ulong Slice = 2_000_000;

    private static readonly Register[] GeneralOrder =
    {
        Register.Rax, Register.Rbx, Register.Rcx, Register.Rdx, Register.Rsi, Register.Rdi, Register.Rbp, Register.Rsp,
        Register.R8, Register.R9, Register.R10, Register.R11, Register.R12, Register.R13, Register.R14, Register.R15,
    };

    private readonly GuestKernelMachine _guest;
    private X64Machine Machine => _guest.Machine;
    private Cpu Cpu => _guest.Machine.Cpu;

    public GuestGdbTarget(GuestKernelMachine guest)
    {
        _guest = guest;
        CurrentStop = new GdbStop(GdbStopKind.Trap);
    }

    public string TargetXml => X64TargetDescription.Xml;
    public int RegisterCount => X64TargetDescription.Registers.Count;
    public GdbStop CurrentStop { get; private set; }

    // ------------------------------------------------------------------------------------------
    // Registers.

    public byte[]? ReadRegister(int number)
    {
        if (number < 0 || number >= RegisterCount) return null;
        var bytes = new byte[X64TargetDescription.Registers[number].Size];
        switch (number)
        {
            case < 16: Put(bytes, Cpu[GeneralOrder[number]]); break;
            case X64TargetDescription.Rip: Put(bytes, Cpu.Rip); break;
            case X64TargetDescription.Eflags: Put(bytes, Cpu.RFlags); break;
            case >= X64TargetDescription.Cs and <= X64TargetDescription.Gs: Put(bytes, Cpu.Selector(SegmentOf(number))); break;
            case >= X64TargetDescription.St0 and < X64TargetDescription.Fctrl: break;   // no x87 state: zeros
            case X64TargetDescription.Fctrl: Put(bytes, 0x37F); break;                  // the power-on control word
            case X64TargetDescription.Fctrl + 2: Put(bytes, 0xFFFF); break;              // ftag: every register empty
            case > X64TargetDescription.Fctrl and < X64TargetDescription.Xmm0: break;
            case >= X64TargetDescription.Xmm0 and < X64TargetDescription.Mxcsr:
                BinaryPrimitives.WriteUInt128LittleEndian(bytes, Cpu.GetXmm(number - X64TargetDescription.Xmm0));
                break;
            case X64TargetDescription.Mxcsr: Put(bytes, 0x1F80); break;                 // the machine keeps the default
            case X64TargetDescription.FsBase: Put(bytes, Cpu.FsBase); break;
            case X64TargetDescription.GsBase: Put(bytes, Cpu.GsBase); break;
            case X64TargetDescription.KernelGsBase: Put(bytes, Cpu.KernelGsBase); break;
            case X64TargetDescription.Cr0: Put(bytes, Cpu.Cr0); break;
            case X64TargetDescription.Cr2: Put(bytes, Cpu.Cr2); break;
            case X64TargetDescription.Cr3: Put(bytes, Cpu.Cr3); break;
            case X64TargetDescription.Cr4: Put(bytes, Cpu.Cr4); break;
            case X64TargetDescription.Cr8: Put(bytes, Cpu.Cr8); break;
            case X64TargetDescription.Efer: Put(bytes, Cpu.Efer); break;
        }
        return bytes;
    }

    /// <summary>General registers, rip, rflags, the xmm registers and the fs/gs bases can be set; the
    /// rest (selectors, control registers, x87) only to their current value, since changing them
    /// behind the CPU's back would skip the checks the instructions that load them make.</summary>
    public bool WriteRegister(int number, ReadOnlySpan<byte> value)
    {
        if (number < 0 || number >= RegisterCount || value.Length != X64TargetDescription.Registers[number].Size) return false;
        ulong v = value.Length switch
        {
            8 => BinaryPrimitives.ReadUInt64LittleEndian(value),
            4 => BinaryPrimitives.ReadUInt32LittleEndian(value),
            _ => 0,
        };
        switch (number)
        {
            case < 16: Cpu[GeneralOrder[number]] = v; return true;
            case X64TargetDescription.Rip: Cpu.Rip = v; return true;
            case X64TargetDescription.Eflags: Cpu.RFlags = v; return true;
            case >= X64TargetDescription.Xmm0 and < X64TargetDescription.Mxcsr:
                Cpu.SetXmm(number - X64TargetDescription.Xmm0, BinaryPrimitives.ReadUInt128LittleEndian(value));
                return true;
            case X64TargetDescription.FsBase: Cpu.FsBase = v; return true;
            case X64TargetDescription.GsBase: Cpu.GsBase = v; return true;
            default: return value.SequenceEqual(ReadRegister(number));
        }
    }

    private static SegmentRegister SegmentOf(int number) => (number - X64TargetDescription.Cs) switch
    {
        0 => SegmentRegister.Cs, 1 => SegmentRegister.Ss, 2 => SegmentRegister.Ds,
        3 => SegmentRegister.Es, 4 => SegmentRegister.Fs, _ => SegmentRegister.Gs,
    };

    private static void Put(byte[] bytes, ulong v)
    {
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(v >> (8 * i));
    }

    // ------------------------------------------------------------------------------------------
    // Memory.

    public bool ReadMemory(ulong address, Span<byte> destination)
    {
        for (int done = 0; done < destination.Length;)
        {
            ulong va = address + (ulong)done;
            int chunk = (int)Math.Min((ulong)(destination.Length - done), VirtAddr.PageSize - (va & 0xFFF));
            if (Translate(va, chunk) is not PhysAddr pa) return false;
            Machine.Memory.Read(pa, destination.Slice(done, chunk));
            done += chunk;
        }
        return true;
    }

    public bool WriteMemory(ulong address, ReadOnlySpan<byte> source)
    {
        // Translate every page first, so a write that reaches an unmapped page changes nothing.
        var targets = new List<(PhysAddr, int, int)>();
        for (int done = 0; done < source.Length;)
        {
            ulong va = address + (ulong)done;
            int chunk = (int)Math.Min((ulong)(source.Length - done), VirtAddr.PageSize - (va & 0xFFF));
            if (Translate(va, chunk) is not PhysAddr pa) return false;
            targets.Add((pa, done, chunk));
            done += chunk;
        }
        foreach (var (pa, offset, length) in targets) Machine.Memory.Write(pa, source.Slice(offset, length));
        return true;
    }

    /// <summary>The physical address of <paramref name="va"/> (whose <paramref name="length"/> bytes stay in
    /// one page) by the page tables in CR3, or null when it is not canonical, not mapped, or beyond RAM.</summary>
    private PhysAddr? Translate(ulong va, int length)
    {
        var v = new VirtAddr(va);
        if (!v.IsCanonical) return null;
        var steps = Cpu.DescribeWalk(v);
        if (steps.Count == 0) return null;
        WalkStep leaf = steps[^1];
        if (!leaf.Present) return null;
        ulong pa;
        if (leaf.Level == 1) pa = leaf.Target.Value | (va & 0xFFF);
        else if (leaf.Level == 2 && (leaf.Entry & (ulong)PteFlags.PageSize) != 0) pa = (leaf.Entry & 0x000F_FFFF_FFE0_0000UL) | (va & 0x1F_FFFF);
        else if (leaf.Level == 3 && (leaf.Entry & (ulong)PteFlags.PageSize) != 0) pa = (leaf.Entry & 0x000F_FFFF_C000_0000UL) | (va & 0x3FFF_FFFF);
        else return null;
        if (pa + (ulong)length > Machine.Memory.Size) return null;
        return new PhysAddr(pa);
    }

    // ------------------------------------------------------------------------------------------
    // Breakpoints and running.

    public bool AddBreakpoint(ulong address) => Cpu.AddBreakpoint(new VirtAddr(address));
    public bool RemoveBreakpoint(ulong address) => Cpu.RemoveBreakpoint(new VirtAddr(address));

    public GdbStop Step()
    {
        if (EndedStop() is GdbStop ended) return CurrentStop = ended;
        _guest.Step();
        return CurrentStop = EndedStop() ?? new GdbStop(GdbStopKind.Trap);
    }

    public GdbStop Continue(Func<bool> interruptRequested)
    {
        if (EndedStop() is GdbStop ended) return CurrentStop = ended;
        bool first = true;
        while (true)
        {
            // Each Run executes an instruction at a breakpoint where it starts (to continue from one);
            // a slice that ended exactly on a breakpoint must stop there instead.
            if (!first && Cpu.Breakpoints.Contains(Cpu.Rip)) return CurrentStop = new GdbStop(GdbStopKind.Trap);
            first = false;
            RunResult r = _guest.Run(Slice);
            if (EndedStop() is GdbStop end) return CurrentStop = end;
            if (r.Exit == RunExit.Breakpoint || _guest.HaltedForGood) return CurrentStop = new GdbStop(GdbStopKind.Trap);
            if (interruptRequested()) return CurrentStop = new GdbStop(GdbStopKind.Interrupted);
        }
    }

    /// <summary>The stop that ends the debugged "process": power-off is an exit, a triple fault a kill.</summary>
    private GdbStop? EndedStop() =>
        _guest.PoweredOff ? new GdbStop(GdbStopKind.Exited)
        : _guest.ShutDown ? new GdbStop(GdbStopKind.Terminated)
        : null;
}
