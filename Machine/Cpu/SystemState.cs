namespace Lab.Machine.Cpu;

/// <summary>
/// A segment register's visible selector and the hidden part loaded from its descriptor.
/// <see cref="Attr"/> holds descriptor bits 40..55: type (0-3), S (4), DPL (5-6), P (7),
/// limit 19:16 (8-11), AVL (12), L (13), D/B (14), G (15).
/// </summary>
internal struct SegmentCache
{
    public ushort Selector;
    public ushort Attr;
    public uint Limit;
    public ulong Base;

    public readonly int Dpl => (Attr >> 5) & 3;
    public readonly bool Present => (Attr & 0x80) != 0;
    /// <summary>A code or data segment (S = 1), as opposed to a system descriptor (TSS, LDT, gate).</summary>
    public readonly bool IsCodeOrData => (Attr & 0x10) != 0;
    public readonly bool IsCode => IsCodeOrData && (Attr & 8) != 0;
    public readonly bool IsConforming => IsCode && (Attr & 4) != 0;
    public readonly bool IsReadableCode => IsCode && (Attr & 2) != 0;
    public readonly bool IsWritableData => IsCodeOrData && (Attr & 8) == 0 && (Attr & 2) != 0;
    public readonly bool IsLong => (Attr & 0x2000) != 0;
    /// <summary>System descriptor type (S = 0): 2 LDT, 9 available TSS, 11 busy TSS, 14 interrupt gate, 15 trap gate.</summary>
    public readonly int SystemType => Attr & 0xF;

    /// <summary>Decodes the low 8 bytes of a descriptor (the base's bits 63:32 of a system descriptor come separately).</summary>
    public static SegmentCache FromDescriptor(ushort selector, ulong d)
    {
        uint limit = (uint)(d & 0xFFFF) | (uint)((d >> 32) & 0xF0000);
        var s = new SegmentCache
        {
            Selector = selector,
            Attr = (ushort)(d >> 40),
            Base = ((d >> 16) & 0xFF_FFFF) | ((d >> 32) & 0xFF00_0000),
        };
        s.Limit = (s.Attr & 0x8000) != 0 ? (limit << 12) | 0xFFF : limit;
        return s;
    }

    /// <summary>The fixed hidden state syscall/sysret load: a flat 64-bit code or writable data segment.</summary>
    public static SegmentCache Flat(ushort selector, bool code, int dpl) => new()
    {
        Selector = selector,
        // P, DPL, S, type (code: execute/read, accessed; data: read/write, accessed), G, and L for code.
        Attr = (ushort)(0x80 | (dpl << 5) | 0x10 | (code ? 0xB : 0x3) | 0x8000 | (code ? 0x2000 : 0x4000)),
        Limit = 0xFFFF_FFFF,
    };
}

/// <summary>A descriptor-table register (GDTR, IDTR): linear base and limit.</summary>
public readonly record struct DescriptorTableRegister(ulong Base, ushort Limit);

/// <summary>
/// The state a boot loader leaves a long-mode kernel in (see <see cref="Cpu.EnterLongMode"/>): control
/// registers, the GDT it loaded and the code selector it jumped through, where it jumped and its stack.
/// </summary>
public readonly record struct LongModeEntry(
    ulong Cr0, ulong Cr3, ulong Cr4, ulong Efer,
    ulong GdtBase, ushort GdtLimit, ushort CodeSelector,
    ulong Rip, ulong Rsp, ulong RFlags);

/// <summary>
/// System-mode state: the current privilege level, segment registers, descriptor-table registers,
/// task register, control registers, the MSRs a 64-bit kernel uses, and the halt / interrupt-shadow
/// state. In HLE mode none of it changes: CPL stays 3 and the privileged instructions are never
/// decoded as such (they raise #GP, as they always did).
/// </summary>
public sealed unsafe partial class Cpu
{
    internal const ulong IF = 1UL << 9;
    internal const ulong IoplMask = 3UL << 12;
    internal const int Es = 0, Cs = 1, Ss = 2, Ds = 3, Fs = 4, Gs = 5;

    /// <summary>True for a system-mode CPU (fixed at creation).</summary>
    internal readonly bool SystemMode;

    private int _cpl = 3;
    private readonly SegmentCache[] _segs = new SegmentCache[6];
    private ulong _gdtBase, _idtBase;
    private ushort _gdtLimit, _idtLimit;
    private SegmentCache _ldtr, _tr;
    private ulong _cr0, _cr4, _efer, _cr8;
    private ulong _star, _lstar, _cstar, _fmask, _kernelGsBase, _apicBase, _tscAux, _pat;
    private bool _halted;
    private bool _stiShadow;

    /// <summary>Current privilege level: 0 kernel, 3 user (always 3 in HLE mode).</summary>
    public int Cpl => _cpl;

    /// <summary>RFLAGS.IF: maskable interrupts are recognised.</summary>
    public bool InterruptsEnabled => (_flagsOther & IF) != 0;

    /// <summary>RFLAGS.IOPL.</summary>
    internal int Iopl => (int)((_flagsOther >> 12) & 3);

    /// <summary>The CPU executed <c>hlt</c> and waits for an interrupt.</summary>
    public bool Halted { get => _halted; internal set => _halted = value; }

    /// <summary>The instruction after an <c>sti</c> that set IF runs before interrupts are recognised.</summary>
    internal bool InterruptShadow { get => _stiShadow; set => _stiShadow = value; }

    public ushort Selector(SegmentRegister r) => _segs[(int)r].Selector;
    public ulong Cr0 => _cr0;
    public ulong Cr4 => _cr4;
    public ulong Cr8 => _cr8;
    public ulong Efer => _efer;
    public DescriptorTableRegister Gdtr => new(_gdtBase, _gdtLimit);
    public DescriptorTableRegister Idtr => new(_idtBase, _idtLimit);
    public ushort TaskRegister => _tr.Selector;
    public ushort LdtRegister => _ldtr.Selector;
    /// <summary>IA32_KERNEL_GS_BASE (what swapgs exchanges with the GS base).</summary>
    public ulong KernelGsBase => _kernelGsBase;

    /// <summary>The reset state of a system-mode CPU: CPL 0, long mode off until a loader enters it.</summary>
    private void ResetSystemState()
    {
        Array.Clear(_segs);
        _gdtBase = _idtBase = 0;
        _gdtLimit = _idtLimit = 0xFFFF;
        _ldtr = default;
        _tr = default;
        _cr0 = (ulong)Cr0Flags.ET;
        _cr4 = 0;
        _efer = 0;
        _cr8 = 0;
        _star = _lstar = _cstar = _fmask = _kernelGsBase = _tscAux = 0;
        _apicBase = 0xFEE0_0900;             // base 0xFEE00000, enabled (bit 11), bootstrap processor (bit 8)
        _pat = 0x0007_0406_0007_0406;
        _halted = false;
        _stiShadow = false;
        FsBase = GsBase = 0;
        ApplyPagingControls();
        SetCpl(0);
    }

    /// <summary>A hardware reset: general registers, rip and flags cleared, system state at power-on, TLBs empty.</summary>
    internal void ResetForBoot()
    {
        for (int i = 0; i < 16; i++) _regs[i] = 0;
        _rip = 0;
        RFlags = 2;
        Cr2 = 0;
        _cr3 = 0;
        ResetSystemState();
        FlushTlb();
    }

    /// <summary>
    /// Puts the CPU in 64-bit long mode at CPL 0 as a boot loader leaves it: the control registers and
    /// EFER given, the GDT loaded, CS loaded from that GDT (it must be a present 64-bit code segment),
    /// SS/DS/ES/FS/GS null, no IDT (limit 0), no TSS or LDT, not halted. The GDT is read through the
    /// page tables at <see cref="LongModeEntry.Cr3"/>, so it must be mapped there.
    /// </summary>
    public void EnterLongMode(in LongModeEntry e)
    {
        if (!SystemMode) throw new InvalidOperationException("EnterLongMode needs a system-mode machine");
        var required = Cr0Flags.PE | Cr0Flags.PG;
        if (((Cr0Flags)e.Cr0 & required) != required || ((Cr4Flags)e.Cr4 & Cr4Flags.PAE) == 0 || ((EferFlags)e.Efer & EferFlags.LME) == 0)
            throw new ArgumentException("long mode needs CR0.PE|PG, CR4.PAE and EFER.LME", nameof(e));
        ResetSystemState();
        _cr0 = e.Cr0 | (ulong)Cr0Flags.ET;
        _cr4 = e.Cr4;
        _efer = e.Efer | (ulong)EferFlags.LMA;
        _cr3 = e.Cr3 & 0x000F_FFFF_FFFF_F000UL;
        _gdtBase = e.GdtBase;
        _gdtLimit = e.GdtLimit;
        _idtLimit = 0;
        ApplyPagingControls();
        FlushTlb();
        _trapKind = TrapKind.None;
        if (!ReadDescriptor(e.CodeSelector, 0, out ulong d))
            throw new InvalidOperationException($"boot GDT entry 0x{e.CodeSelector:x} cannot be read: {TakeRecordedTrap(e.Rip)}");
        var cs = SegmentCache.FromDescriptor(e.CodeSelector, d);
        if (!cs.IsCode || !cs.IsLong || !cs.Present)
            throw new InvalidOperationException($"boot GDT entry 0x{e.CodeSelector:x} is not a present 64-bit code segment");
        _segs[Cs] = cs;
        SetCpl(cs.Dpl);
        _rip = e.Rip;
        _regs[4] = e.Rsp;
        RFlags = e.RFlags;
    }

    /// <summary>Changes the privilege level: selects the TLB and the access checks of that level.</summary>
    private void SetCpl(int cpl)
    {
        _cpl = cpl;
        _userAccess = cpl == 3;
        SelectTlb(cpl == 3 ? _tlbUser : _tlbSupervisor);
    }

    /// <summary>Copies CR0.WP, CR4.SMEP and EFER.NXE into the page walk's switches.</summary>
    private void ApplyPagingControls()
    {
        _writeProtect = (_cr0 & (ulong)Cr0Flags.WP) != 0;
        _smep = (_cr4 & (ulong)Cr4Flags.SMEP) != 0;
        _noExecuteEnabled = (_efer & (ulong)EferFlags.NXE) != 0;
    }

    // ------------------------------------------------------------------------------------------
    // Implicit supervisor accesses (descriptor tables, the TSS, the interrupt frame of a CPL 0
    // handler): made with supervisor privilege whatever the CPL, as the hardware does.

    private readonly struct AccessMode(nint tlb, bool user)
    {
        public readonly nint Tlb = tlb;
        public readonly bool User = user;
    }

    private AccessMode BeginSupervisorAccess()
    {
        var saved = new AccessMode((nint)_tlb, _userAccess);
        SelectTlb(_tlbSupervisor);
        _userAccess = false;
        return saved;
    }

    private void EndAccess(AccessMode saved)
    {
        SelectTlb((TlbEntry*)saved.Tlb);
        _userAccess = saved.User;
    }

    private bool SystemRead(ulong linear, int size, out ulong v)
    {
        var saved = BeginSupervisorAccess();
        bool ok = Read(linear, size, out v);
        EndAccess(saved);
        return ok;
    }

    private bool SystemWrite(ulong linear, int size, ulong v)
    {
        var saved = BeginSupervisorAccess();
        bool ok = Write(linear, size, v);
        EndAccess(saved);
        return ok;
    }

    // ------------------------------------------------------------------------------------------
    // Faults raised by system instructions. All record a trap and return false, like every handler.

    private bool RecordFault(TrapKind kind, byte vector, ulong error)
    {
        _trapKind = kind;
        _trapVector = vector;
        _trapError = error;
        _trapAddr = 0;
        _trapRetires = false;
        return false;
    }

    private bool GeneralProtection(ulong error = 0) => RecordFault(TrapKind.GeneralProtection, 13, error);
    private bool NotPresent(ulong error) => RecordFault(TrapKind.SegmentNotPresent, 11, error);
    private bool StackSegmentFault(ulong error) => RecordFault(TrapKind.StackFault, 12, error);
    private bool InvalidTss(ulong error) => RecordFault(TrapKind.InvalidTss, 10, error);

    /// <summary>#GP(0) unless the CPU runs at CPL 0 (instructions only the kernel may execute).</summary>
    private bool RequireCpl0() => _cpl == 0 || GeneralProtection();

    private static bool IsCanonical(ulong a) => (ulong)((long)a << 16 >> 16) == a;

    // ------------------------------------------------------------------------------------------
    // Saving and restoring (part of the CPU snapshot).

    private void SaveSystem(BinaryWriter w)
    {
        w.Write(_cpl);
        foreach (var s in _segs) WriteSegment(w, s);
        WriteSegment(w, _ldtr);
        WriteSegment(w, _tr);
        w.Write(_gdtBase); w.Write(_gdtLimit);
        w.Write(_idtBase); w.Write(_idtLimit);
        w.Write(_cr0); w.Write(_cr4); w.Write(_efer); w.Write(_cr8);
        w.Write(_star); w.Write(_lstar); w.Write(_cstar); w.Write(_fmask);
        w.Write(_kernelGsBase); w.Write(_apicBase); w.Write(_tscAux); w.Write(_pat);
        w.Write(_halted);
        w.Write(_stiShadow);
    }

    private void LoadSystem(BinaryReader r)
    {
        int cpl = r.ReadInt32();
        if (cpl is < 0 or > 3) throw new InvalidDataException($"bad CPL {cpl} in snapshot");
        for (int i = 0; i < _segs.Length; i++) _segs[i] = ReadSegment(r);
        _ldtr = ReadSegment(r);
        _tr = ReadSegment(r);
        _gdtBase = r.ReadUInt64(); _gdtLimit = r.ReadUInt16();
        _idtBase = r.ReadUInt64(); _idtLimit = r.ReadUInt16();
        _cr0 = r.ReadUInt64(); _cr4 = r.ReadUInt64(); _efer = r.ReadUInt64(); _cr8 = r.ReadUInt64();
        _star = r.ReadUInt64(); _lstar = r.ReadUInt64(); _cstar = r.ReadUInt64(); _fmask = r.ReadUInt64();
        _kernelGsBase = r.ReadUInt64(); _apicBase = r.ReadUInt64(); _tscAux = r.ReadUInt64(); _pat = r.ReadUInt64();
        _halted = r.ReadBoolean();
        _stiShadow = r.ReadBoolean();
        ApplyPagingControls();
        SetCpl(cpl);
    }

    private static void WriteSegment(BinaryWriter w, in SegmentCache s)
    {
        w.Write(s.Selector); w.Write(s.Attr); w.Write(s.Limit); w.Write(s.Base);
    }

    private static SegmentCache ReadSegment(BinaryReader r) => new()
    {
        Selector = r.ReadUInt16(), Attr = r.ReadUInt16(), Limit = r.ReadUInt32(), Base = r.ReadUInt64(),
    };
}
