namespace Lab.Machine.Cpu;

/// <summary>The machine's I/O port space, as the CPU sees it (in/out). Sizes are 1, 2 or 4 bytes.</summary>
internal interface IPortIo
{
    uint ReadPort(ushort port, int size);
    void WritePort(ushort port, int size, uint value);
}

/// <summary>
/// Privileged and system instructions (system mode only; in HLE mode they decode to #GP as before):
/// cli/sti/hlt, popf with the IF/IOPL rules, in/out, mov to/from control registers, lgdt/lidt/sgdt/
/// sidt/lldt/ltr/sldt/str, invlpg, rdmsr/wrmsr, swapgs, clts/wbinvd/invd, syscall. Each raises #GP(0)
/// at a privilege that may not use it. Handlers after which the next block must be looked up afresh
/// (privilege, IF, paging or device changes) ask Execute to leave.
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>The port space (set by the machine in system mode).</summary>
    internal IPortIo? Ports;

    /// <summary>The address of the in/out instruction being executed (devices report it).</summary>
    internal ulong PortInstruction { get; private set; }

    /// <summary>cli: clears IF; needs CPL &lt;= IOPL.</summary>
    private bool Cli()
    {
        if (_cpl > Iopl) return GeneralProtection();
        _flagsOther &= ~IF;
        return true;
    }

    /// <summary>
    /// sti: sets IF; needs CPL &lt;= IOPL. When IF was clear, interrupts are recognised only after the
    /// next instruction (the sti shadow, so that <c>sti; hlt</c> cannot miss a wake-up).
    /// </summary>
    private bool Sti()
    {
        if (_cpl > Iopl) return GeneralProtection();
        if ((_flagsOther & IF) == 0)
        {
            _flagsOther |= IF;
            _stiShadow = true;
        }
        RequestLeave();
        return true;
    }

    /// <summary>hlt at CPL 0: the CPU stops until an interrupt (the machine idles its clock forward).</summary>
    private bool HaltSystem()
    {
        if (!RequireCpl0()) return false;
        _halted = true;
        RequestLeave();
        return true;
    }

    /// <summary>popf with the privilege rules (<see cref="LoadFlagsAtPrivilege"/>); setting IF lets pending interrupts in.</summary>
    private bool PopfSystem(ref Op op)
    {
        ulong sp = _regs[4];
        if (!Read(sp, op.Size, out ulong v)) return false;
        _regs[4] = sp + op.Size;
        if (op.Size == 2) v = (RFlags & ~0xFFFFUL) | v;
        bool wasEnabled = InterruptsEnabled;
        LoadFlagsAtPrivilege(v, _cpl, allowRf: false);
        if (!wasEnabled && InterruptsEnabled) RequestLeave();
        return true;
    }

    /// <summary>syscall in system mode: #UD unless EFER.SCE; then as in HLE mode (rcx, r11, trap), and the machine enters the kernel.</summary>
    private bool SyscallSystem(ref Op op)
    {
        if ((_efer & (ulong)EferFlags.SCE) == 0) return InvalidOpcode();
        return Syscall(ref op);
    }

    /// <summary>A privileged instruction the machine does not implement: #GP at CPL 3, else #UD naming it.</summary>
    private bool UnsupportedSystem() => RequireCpl0() && InvalidOpcode();

    // ------------------------------------------------------------------------------------------
    // I/O ports.

    /// <summary>
    /// in al/ax/eax, imm8|dx (Cond bit 0: port in dx). Needs CPL &lt;= IOPL or the TSS I/O permission
    /// bitmap's consent. A 32-bit read zero-extends into rax, narrower ones merge.
    /// </summary>
    private bool InPort(ref Op op)
    {
        ushort port = (op.Cond & 1) != 0 ? (ushort)_regs[2] : (ushort)op.Imm;
        if (_cpl > Iopl && !IoPermitted(port, op.Size)) return false;
        PortInstruction = op.Ip;
        uint v = Ports is null ? uint.MaxValue : Ports.ReadPort(port, op.Size);
        SetReg(0, op.Size, v);
        RequestLeave();
        return true;
    }

    /// <summary>out imm8|dx, al/ax/eax (Cond bit 0: port in dx); same permission rules as in.</summary>
    private bool OutPort(ref Op op)
    {
        ushort port = (op.Cond & 1) != 0 ? (ushort)_regs[2] : (ushort)op.Imm;
        if (_cpl > Iopl && !IoPermitted(port, op.Size)) return false;
        PortInstruction = op.Ip;
        Ports?.WritePort(port, op.Size, (uint)GetReg(0, op.Size));
        RequestLeave();
        return true;
    }

    /// <summary>
    /// The TSS I/O permission bitmap check for CPL &gt; IOPL: the 16-bit bitmap offset at TSS+0x66, then
    /// one bit per port; every bit of the accessed ports must be 0 and lie within the TSS limit.
    /// False after recording #GP(0) (or a #PF reading the TSS).
    /// </summary>
    private bool IoPermitted(ushort port, int size)
    {
        if ((_tr.Selector & 0xFFFC) == 0 || _tr.Limit < 0x67) return GeneralProtection();
        if (!SystemRead(_tr.Base + 0x66, 2, out ulong mapBase)) return false;
        ulong at = mapBase + (ulong)(port >> 3);
        if (at + 1 > _tr.Limit) return GeneralProtection();
        if (!SystemRead(_tr.Base + at, 2, out ulong bits)) return false;
        ulong mask = ((1UL << size) - 1) << (port & 7);
        return (bits & mask) == 0 || GeneralProtection();
    }

    // ------------------------------------------------------------------------------------------
    // Control registers.

    /// <summary>mov r64, crN (Cond = N, R0 = destination).</summary>
    private bool MovFromCr(ref Op op)
    {
        if (!RequireCpl0()) return false;
        ulong v;
        switch (op.Cond)
        {
            case 0: v = _cr0; break;
            case 2: v = Cr2; break;
            case 3: v = _cr3; break;
            case 4: v = _cr4; break;
            case 8: v = _cr8; break;
            default: return InvalidOpcode();
        }
        _regs[op.R0] = v;
        return true;
    }

    private const ulong Cr4Supported = 0x0000_0000_0035_0FFFUL;   // bits 0-11, 16 (FSGSBASE), 18 (OSXSAVE), 20-21 (SMEP/SMAP)

    /// <summary>
    /// mov crN, r64 (Cond = N, R1 = source). Long mode stays on: clearing CR0.PG/PE or CR4.PAE, or setting
    /// reserved bits, raises #GP(0). CR3 and any change of CR0/CR4 flush the TLBs.
    /// </summary>
    private bool MovToCr(ref Op op)
    {
        if (!RequireCpl0()) return false;
        ulong v = _regs[op.R1];
        switch (op.Cond)
        {
            case 0:
                if ((v >> 32) != 0 || (v & (ulong)Cr0Flags.PG) == 0 || (v & (ulong)Cr0Flags.PE) == 0) return GeneralProtection();
                if ((v & (ulong)Cr0Flags.NW) != 0 && (v & (ulong)Cr0Flags.CD) == 0) return GeneralProtection();
                v |= (ulong)Cr0Flags.ET;
                if (v != _cr0) { _cr0 = v; ApplyPagingControls(); FlushTlb(); }
                break;
            case 2:
                Cr2 = v;
                break;
            case 3:
                if ((v >> 52) != 0) return GeneralProtection();
                Cr3 = v;
                break;
            case 4:
                if ((v & ~Cr4Supported) != 0 || (v & (ulong)Cr4Flags.PAE) == 0) return GeneralProtection();
                if (v != _cr4) { _cr4 = v; ApplyPagingControls(); FlushTlb(); }
                break;
            case 8:
                if (v > 15) return GeneralProtection();
                _cr8 = v;
                break;
            default:
                return InvalidOpcode();
        }
        RequestLeave();
        return true;
    }

    /// <summary>clts: clears CR0.TS.</summary>
    private bool Clts()
    {
        if (!RequireCpl0()) return false;
        _cr0 &= ~(ulong)Cr0Flags.TS;
        return true;
    }

    /// <summary>wbinvd / invd: no caches to write back.</summary>
    private bool CacheControl() => RequireCpl0();

    /// <summary>invlpg m: drops the page's TLB entries (both privilege levels).</summary>
    private bool Invlpg(ref Op op)
    {
        if (!RequireCpl0()) return false;
        InvalidatePage(new VirtAddr(EA(ref op)));
        RequestLeave();
        return true;
    }

    // ------------------------------------------------------------------------------------------
    // Descriptor-table registers.

    /// <summary>lgdt / lidt m (Cond 0 GDT, 1 IDT): a 16-bit limit then a 64-bit base.</summary>
    private bool LoadTableRegister(ref Op op)
    {
        if (!RequireCpl0()) return false;
        ulong ea = EA(ref op);
        if (!Read16(ea, out ulong limit) || !Read64(ea + 2, out ulong tableBase)) return false;
        if (!IsCanonical(tableBase)) return GeneralProtection();
        if (op.Cond == 0) { _gdtBase = tableBase; _gdtLimit = (ushort)limit; }
        else { _idtBase = tableBase; _idtLimit = (ushort)limit; }
        return true;
    }

    /// <summary>sgdt / sidt m (Cond 0 GDT, 1 IDT): stores limit and base (any CPL: no UMIP).</summary>
    private bool StoreTableRegister(ref Op op)
    {
        ulong ea = EA(ref op);
        (ulong b, ushort l) = op.Cond == 0 ? (_gdtBase, _gdtLimit) : (_idtBase, _idtLimit);
        Span<byte> buf = stackalloc byte[10];
        BitConverter.TryWriteBytes(buf[..2], l);
        BitConverter.TryWriteBytes(buf[2..], b);
        return WriteBytes(ea, buf);
    }

    /// <summary>The 16-bit selector operand of lldt/ltr (register R0 or memory).</summary>
    private bool ReadSelectorOperand(ref Op op, out ushort selector)
    {
        selector = 0;
        ulong v;
        if (op.Form == Form.R) v = _regs[op.R0];
        else if (!Read16(EA(ref op), out v)) return false;
        selector = (ushort)v;
        return true;
    }

    /// <summary>lldt r/m16: a null selector disables the LDT; otherwise a present LDT descriptor in the GDT.</summary>
    private bool Lldt(ref Op op)
    {
        if (!RequireCpl0() || !ReadSelectorOperand(ref op, out ushort selector)) return false;
        if ((selector & 0xFFFC) == 0) { _ldtr = new SegmentCache { Selector = selector }; return true; }
        if ((selector & 4) != 0) return GeneralProtection((ulong)(selector & 0xFFFC));
        if (!ReadSystemDescriptor(selector, out var ldt)) return false;
        if (ldt.IsCodeOrData || ldt.SystemType != 2) return GeneralProtection((ulong)(selector & 0xFFFC));
        if (!ldt.Present) return NotPresent((ulong)(selector & 0xFFFC));
        _ldtr = ldt;
        return true;
    }

    /// <summary>ltr r/m16: loads an available 64-bit TSS from the GDT and marks it busy there.</summary>
    private bool Ltr(ref Op op)
    {
        if (!RequireCpl0() || !ReadSelectorOperand(ref op, out ushort selector)) return false;
        if ((selector & 0xFFFC) == 0) return GeneralProtection();
        if ((selector & 4) != 0) return GeneralProtection((ulong)(selector & 0xFFFC));
        if (!ReadSystemDescriptor(selector, out var tss)) return false;
        if (tss.IsCodeOrData || tss.SystemType != 9) return GeneralProtection((ulong)(selector & 0xFFFC));
        if (!tss.Present) return NotPresent((ulong)(selector & 0xFFFC));
        if (!SystemWrite(_gdtBase + (uint)(selector & ~7) + 5, 1, (ulong)(tss.Attr | 2) & 0xFF)) return false;
        tss.Attr |= 2;
        _tr = tss;
        return true;
    }

    /// <summary>sldt / str (Cond 0 LDTR, 1 TR): a register gets the selector zero-extended, memory 16 bits.</summary>
    private bool StoreSystemSelector(ref Op op)
    {
        ushort selector = op.Cond == 0 ? _ldtr.Selector : _tr.Selector;
        if (op.Form == Form.R) { SetReg(op.R0, op.Size, selector); return true; }
        return Write16(EA(ref op), selector);
    }

    // ------------------------------------------------------------------------------------------
    // Model-specific registers.

    /// <summary>rdmsr: edx:eax = MSR[ecx]; an MSR the machine does not have raises #GP(0).</summary>
    private bool Rdmsr()
    {
        if (!RequireCpl0()) return false;
        ulong v;
        switch ((uint)_regs[1])
        {
            case Msr.Efer: v = _efer; break;
            case Msr.Star: v = _star; break;
            case Msr.Lstar: v = _lstar; break;
            case Msr.Cstar: v = _cstar; break;
            case Msr.Fmask: v = _fmask; break;
            case Msr.FsBase: v = FsBase; break;
            case Msr.GsBase: v = GsBase; break;
            case Msr.KernelGsBase: v = _kernelGsBase; break;
            case Msr.TscAux: v = _tscAux; break;
            case Msr.ApicBase: v = _apicBase; break;
            case Msr.Pat: v = _pat; break;
            case Msr.Tsc: v = _retired + _extraTime; break;
            default: return GeneralProtection();
        }
        _regs[0] = (uint)v;
        _regs[2] = v >> 32;
        return true;
    }

    /// <summary>
    /// wrmsr: MSR[ecx] = edx:eax. EFER keeps LMA and LME set (long mode cannot be left); addresses must
    /// be canonical; unknown MSRs and reserved bits raise #GP(0).
    /// </summary>
    private bool Wrmsr()
    {
        if (!RequireCpl0()) return false;
        ulong v = ((ulong)(uint)_regs[2] << 32) | (uint)_regs[0];
        switch ((uint)_regs[1])
        {
            case Msr.Efer:
                {
                    const ulong writable = (ulong)(EferFlags.SCE | EferFlags.LME | EferFlags.NXE);
                    if ((v & ~(writable | (ulong)EferFlags.LMA)) != 0 || (v & (ulong)EferFlags.LME) == 0) return GeneralProtection();
                    ulong efer = (v & writable) | (ulong)EferFlags.LMA;
                    if (efer != _efer) { _efer = efer; ApplyPagingControls(); FlushTlb(); }
                    break;
                }
            case Msr.Star: _star = v; break;
            case Msr.Lstar:
            case Msr.Cstar:
            case Msr.FsBase:
            case Msr.GsBase:
            case Msr.KernelGsBase:
                if (!IsCanonical(v)) return GeneralProtection();
                switch ((uint)_regs[1])
                {
                    case Msr.Lstar: _lstar = v; break;
                    case Msr.Cstar: _cstar = v; break;
                    case Msr.FsBase: FsBase = v; break;
                    case Msr.GsBase: GsBase = v; break;
                    default: _kernelGsBase = v; break;
                }
                break;
            case Msr.Fmask: _fmask = v & 0xFFFF_FFFF; break;
            case Msr.TscAux: _tscAux = v & 0xFFFF_FFFF; break;
            case Msr.ApicBase: _apicBase = v & 0x000F_FFFF_FFFF_FD00UL; break;
            case Msr.Pat: _pat = v; break;
            default: return GeneralProtection();
        }
        RequestLeave();
        return true;
    }

    /// <summary>swapgs: exchanges the GS base with IA32_KERNEL_GS_BASE (CPL 0 only).</summary>
    private bool Swapgs()
    {
        if (!RequireCpl0()) return false;
        (GsBase, _kernelGsBase) = (_kernelGsBase, GsBase);
        return true;
    }
}
