namespace Lab.Machine.Cpu;

/// <summary>
/// Segments as 64-bit kernels use them (system mode only): descriptor reads from the GDT/LDT,
/// loads of DS/ES/FS/GS/SS with the architectural checks, mov/push/pop of segment registers,
/// and the privilege-changing returns (iretq, lretq, far jmp, sysret). Only 64-bit code segments
/// are supported: a transfer to a compatibility-mode (L = 0) code segment raises #GP(selector).
/// Every handler here that changes CS, the CPL or IF asks Execute to leave (chained blocks and the
/// TLB in use depend on them).
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>
    /// Reads the 8-byte descriptor a selector names (GDT, or LDT when TI is set). False after
    /// recording #GP(selector | ext) when it lies beyond the table's limit, or #PF.
    /// </summary>
    private bool ReadDescriptor(ushort selector, ulong ext, out ulong descriptor)
    {
        descriptor = 0;
        ulong tableBase;
        uint limit;
        if ((selector & 4) != 0)
        {
            if ((_ldtr.Selector & 0xFFFC) == 0) return GeneralProtection((ulong)(uint)(selector & 0xFFFC) | ext);
            tableBase = _ldtr.Base;
            limit = _ldtr.Limit;
        }
        else
        {
            tableBase = _gdtBase;
            limit = _gdtLimit;
        }
        uint offset = (uint)(selector & ~7);
        if (offset + 7 > limit) return GeneralProtection((ulong)(uint)(selector & 0xFFFC) | ext);
        return SystemRead(tableBase + offset, 8, out descriptor);
    }

    /// <summary>Reads a 16-byte system descriptor (TSS, LDT) from the GDT; the base gets its bits 63:32.</summary>
    private bool ReadSystemDescriptor(ushort selector, out SegmentCache segment)
    {
        segment = default;
        uint offset = (uint)(selector & ~7);
        if ((selector & 4) != 0 || offset + 15 > _gdtLimit) return GeneralProtection((ulong)(selector & 0xFFFC));
        if (!SystemRead(_gdtBase + offset, 8, out ulong low)) return false;
        if (!SystemRead(_gdtBase + offset + 8, 8, out ulong high)) return false;
        segment = SegmentCache.FromDescriptor(selector, low);
        segment.Base |= (high & 0xFFFF_FFFF) << 32;
        return true;
    }

    /// <summary>Sets a descriptor's accessed bit in memory, as the CPU does when it loads one.</summary>
    private bool MarkAccessed(ushort selector, ulong descriptor)
    {
        if ((descriptor & (1UL << 40)) != 0) return true;
        ulong tableBase = (selector & 4) != 0 ? _ldtr.Base : _gdtBase;
        return SystemWrite(tableBase + (uint)(selector & ~7) + 5, 1, (descriptor >> 40) | 1);
    }

    /// <summary>
    /// Loads DS, ES, FS or GS (mov, pop). A null selector is always allowed (FS/GS base becomes 0);
    /// otherwise the descriptor must be data or readable code, with RPL and CPL at most its DPL unless
    /// it is conforming code; not present raises #NP. FS/GS take the descriptor's 32-bit base.
    /// </summary>
    private bool LoadDataSegment(int sreg, ushort selector)
    {
        if ((selector & 0xFFFC) == 0)
        {
            _segs[sreg] = new SegmentCache { Selector = selector };
            if (sreg == Fs) FsBase = 0; else if (sreg == Gs) GsBase = 0;
            return true;
        }
        if (!ReadDescriptor(selector, 0, out ulong d)) return false;
        var s = SegmentCache.FromDescriptor(selector, d);
        ulong err = (ulong)(selector & 0xFFFC);
        if (!s.IsCodeOrData || (s.IsCode && !s.IsReadableCode)) return GeneralProtection(err);
        if (!s.IsConforming && ((selector & 3) > s.Dpl || _cpl > s.Dpl)) return GeneralProtection(err);
        if (!s.Present) return NotPresent(err);
        if (!MarkAccessed(selector, d)) return false;
        _segs[sreg] = s;
        if (sreg == Fs) FsBase = s.Base; else if (sreg == Gs) GsBase = s.Base;
        return true;
    }

    /// <summary>
    /// Checks a stack segment for privilege level <paramref name="cpl"/> (mov ss, iretq, far return):
    /// null only below CPL 3 and with RPL = CPL; otherwise RPL = DPL = CPL and writable data, present
    /// (else #SS). On success <paramref name="segment"/> is what SS will hold.
    /// </summary>
    private bool CheckStackSegment(ushort selector, int cpl, out SegmentCache segment)
    {
        segment = new SegmentCache { Selector = selector };
        if ((selector & 0xFFFC) == 0)
            return (cpl < 3 && (selector & 3) == cpl) || GeneralProtection();
        ulong err = (ulong)(selector & 0xFFFC);
        if ((selector & 3) != cpl) return GeneralProtection(err);
        if (!ReadDescriptor(selector, 0, out ulong d)) return false;
        segment = SegmentCache.FromDescriptor(selector, d);
        if (!segment.IsWritableData || segment.Dpl != cpl) return GeneralProtection(err);
        if (!segment.Present) return StackSegmentFault(err);
        return MarkAccessed(selector, d);
    }

    /// <summary>
    /// Checks the code segment a return (iretq, far ret) goes to: RPL at least the CPL, DPL = RPL
    /// (at most RPL if conforming), present (#NP), 64-bit. The new CPL is the selector's RPL.
    /// </summary>
    private bool CheckReturnCodeSegment(ushort selector, out SegmentCache segment)
    {
        segment = default;
        if ((selector & 0xFFFC) == 0) return GeneralProtection();
        ulong err = (ulong)(selector & 0xFFFC);
        int rpl = selector & 3;
        if (rpl < _cpl) return GeneralProtection(err);
        if (!ReadDescriptor(selector, 0, out ulong d)) return false;
        segment = SegmentCache.FromDescriptor(selector, d);
        if (!segment.IsCode) return GeneralProtection(err);
        if (segment.IsConforming ? segment.Dpl > rpl : segment.Dpl != rpl) return GeneralProtection(err);
        if (!segment.Present) return NotPresent(err);
        if (!segment.IsLong) return GeneralProtection(err);   // compatibility mode: not supported
        return MarkAccessed(selector, d);
    }

    /// <summary>
    /// A return to an outer privilege level nulls every data segment register the new level could not
    /// have loaded (DPL below the new CPL, data or non-conforming code). The FS/GS bases are kept.
    /// </summary>
    private void NullInaccessibleDataSegments(int newCpl)
    {
        foreach (int sreg in (ReadOnlySpan<int>)[Es, Ds, Fs, Gs])
        {
            ref SegmentCache s = ref _segs[sreg];
            if ((s.Selector & 0xFFFC) != 0 && s.Dpl < newCpl && !s.IsConforming)
                s = new SegmentCache { Selector = 0 };
        }
    }

    /// <summary>
    /// RFLAGS as iretq / popf may change them from CPL <paramref name="cpl"/>: IOPL only at CPL 0, IF only
    /// when CPL &lt;= IOPL. VM, VIF, VIP stay 0 in 64-bit mode; TF is accepted but single-step is not emulated.
    /// </summary>
    private void LoadFlagsAtPrivilege(ulong value, int cpl, bool allowRf)
    {
        const ulong Always = FlagMath.StatusMask | (1UL << 8) | (1UL << 10) | (1UL << 14) | (1UL << 18) | (1UL << 21);
        ulong mask = Always | (allowRf ? 1UL << 16 : 0);
        if (cpl == 0) mask |= IoplMask;
        if (cpl <= Iopl) mask |= IF;
        RFlags = (RFlags & ~mask) | (value & mask);
    }

    // ------------------------------------------------------------------------------------------
    // Handlers.

    /// <summary>mov Sreg, r/m16 (Cond = segment register; CS cannot be loaded this way).</summary>
    private bool MovToSreg(ref Op op)
    {
        ulong v;
        if (op.Form == Form.RR) v = (ushort)_regs[op.R1];
        else if (!Read16(EA(ref op), out v)) return false;
        ushort selector = (ushort)v;
        if (op.Cond == Ss)
        {
            if (!CheckStackSegment(selector, _cpl, out var ss)) return false;
            _segs[Ss] = ss;
            return true;
        }
        return LoadDataSegment(op.Cond, selector);
    }

    /// <summary>mov r/m, Sreg: a register gets the selector zero-extended, memory gets 16 bits.</summary>
    private bool MovFromSreg(ref Op op)
    {
        ushort selector = _segs[op.Cond].Selector;
        if (op.Form == Form.RR)
        {
            SetReg(op.R0, op.Size, selector);
            return true;
        }
        return Write16(EA(ref op), selector);
    }

    /// <summary>push fs / push gs (Size 8, or 2 with 0x66): the selector, zero-extended.</summary>
    private bool PushSreg(ref Op op)
    {
        ulong sp = _regs[4] - op.Size;
        if (!Write(sp, op.Size, _segs[op.Cond].Selector)) return false;
        _regs[4] = sp;
        return true;
    }

    /// <summary>pop fs / pop gs: loads the popped selector; on a fault rsp is unchanged.</summary>
    private bool PopSreg(ref Op op)
    {
        ulong sp = _regs[4];
        if (!Read(sp, op.Size, out ulong v)) return false;
        if (!LoadDataSegment(op.Cond, (ushort)v)) return false;
        _regs[4] = sp + op.Size;
        return true;
    }

    /// <summary>
    /// iretq (Size 8; iretd with Size 4): pops rip, cs, rflags, rsp, ss. Returns to the same or an
    /// outer privilege level (never an inner one); RFLAGS follow the rules of the old CPL.
    /// </summary>
    private bool Iret(ref Op op)
    {
        int size = op.Size;
        ulong sp = _regs[4];
        if (!Read(sp, size, out ulong rip)) return false;
        if (!Read(sp + (ulong)size, size, out ulong cs)) return false;
        if (!Read(sp + 2 * (ulong)size, size, out ulong flags)) return false;
        if (!Read(sp + 3 * (ulong)size, size, out ulong rsp)) return false;
        if (!Read(sp + 4 * (ulong)size, size, out ulong ss)) return false;
        if (!CheckReturnCodeSegment((ushort)cs, out var code)) return false;
        int newCpl = (ushort)cs & 3;
        if (!CheckStackSegment((ushort)ss, newCpl, out var stack)) return false;
        if (!IsCanonical(rip)) return GeneralProtection();
        int oldCpl = _cpl;
        LoadFlagsAtPrivilege(flags, oldCpl, allowRf: true);
        _segs[Cs] = code;
        _segs[Ss] = stack;
        _regs[4] = rsp;
        _rip = rip;
        if (newCpl != oldCpl)
        {
            SetCpl(newCpl);
            NullInaccessibleDataSegments(newCpl);
        }
        RequestLeave();
        return true;
    }

    /// <summary>
    /// lretq (Size 8) / lret (Size 4), with an optional immediate (Imm) released from the stack: pops
    /// rip and cs; to an outer privilege level also rsp and ss (the immediate is released from both stacks).
    /// </summary>
    private bool Retf(ref Op op)
    {
        int size = op.Size;
        ulong sp = _regs[4];
        if (!Read(sp, size, out ulong rip)) return false;
        if (!Read(sp + (ulong)size, size, out ulong cs)) return false;
        if (!CheckReturnCodeSegment((ushort)cs, out var code)) return false;
        if (!IsCanonical(rip)) return GeneralProtection();
        int newCpl = (ushort)cs & 3;
        ulong after = sp + 2 * (ulong)size + op.Imm;
        if (newCpl == _cpl)
        {
            _segs[Cs] = code;
            _regs[4] = after;
            _rip = rip;
            RequestLeave();
            return true;
        }
        if (!Read(after, size, out ulong rsp)) return false;
        if (!Read(after + (ulong)size, size, out ulong ss)) return false;
        if (!CheckStackSegment((ushort)ss, newCpl, out var stack)) return false;
        _segs[Cs] = code;
        _segs[Ss] = stack;
        _regs[4] = rsp + op.Imm;
        _rip = rip;
        SetCpl(newCpl);
        NullInaccessibleDataSegments(newCpl);
        RequestLeave();
        return true;
    }

    /// <summary>
    /// jmp far m16:64 / m16:32 (Size = offset size): a jump to a code segment of the same privilege
    /// (conforming: DPL &lt;= CPL; otherwise RPL &lt;= CPL and DPL = CPL). Gates are not supported (#GP).
    /// </summary>
    private bool JmpFar(ref Op op)
    {
        ulong ea = EA(ref op);
        if (!Read(ea, op.Size, out ulong offset)) return false;
        if (!Read16(ea + op.Size, out ulong sel)) return false;
        ushort selector = (ushort)sel;
        if ((selector & 0xFFFC) == 0) return GeneralProtection();
        ulong err = (ulong)(selector & 0xFFFC);
        if (!ReadDescriptor(selector, 0, out ulong d)) return false;
        var code = SegmentCache.FromDescriptor(selector, d);
        if (!code.IsCode) return GeneralProtection(err);
        if (code.IsConforming ? code.Dpl > _cpl : ((selector & 3) > _cpl || code.Dpl != _cpl)) return GeneralProtection(err);
        if (!code.Present) return NotPresent(err);
        if (!code.IsLong) return GeneralProtection(err);
        if (!IsCanonical(offset)) return GeneralProtection();
        if (!MarkAccessed(selector, d)) return false;
        code.Selector = (ushort)((selector & 0xFFFC) | _cpl);
        _segs[Cs] = code;
        _rip = offset;
        RequestLeave();
        return true;
    }

    /// <summary>
    /// sysretq: back to CPL 3 at rcx with rflags from r11; CS = STAR[63:48] + 16, SS = STAR[63:48] + 8,
    /// both with RPL 3 and the fixed flat attributes (the GDT is not read). Needs EFER.SCE (else #UD)
    /// and CPL 0, and a canonical rcx (else #GP(0)). The 32-bit form (to compatibility mode) is not supported.
    /// </summary>
    private bool Sysret(ref Op op)
    {
        if ((_efer & (ulong)EferFlags.SCE) == 0) return InvalidOpcode();
        if (!RequireCpl0()) return false;
        if (op.Size != 8) return InvalidOpcode();
        ulong rip = _regs[1];
        if (!IsCanonical(rip)) return GeneralProtection();
        ushort baseSel = (ushort)(_star >> 48);
        _segs[Cs] = SegmentCache.Flat((ushort)((baseSel + 16) | 3), code: true, dpl: 3);
        _segs[Ss] = SegmentCache.Flat((ushort)((baseSel + 8) | 3), code: false, dpl: 3);
        RFlags = (_regs[11] & 0x3C_7FD7UL) | 2;
        _rip = rip;
        SetCpl(3);
        RequestLeave();
        return true;
    }

    /// <summary>
    /// The kernel side of syscall (the instruction already saved rip in rcx and rflags in r11):
    /// CS = STAR[47:32], SS = that + 8 (flat, DPL 0), RFLAGS &amp;= ~FMASK, CPL 0, rip = LSTAR.
    /// Called by the machine when it delivers the Syscall trap.
    /// </summary>
    internal void EnterSyscall()
    {
        ushort sel = (ushort)(_star >> 32);
        _segs[Cs] = SegmentCache.Flat((ushort)(sel & 0xFFFC), code: true, dpl: 0);
        _segs[Ss] = SegmentCache.Flat((ushort)((sel + 8) & 0xFFFC), code: false, dpl: 0);
        RFlags &= ~(_fmask | (1UL << 16));
        _rip = _lstar;
        _halted = false;
        SetCpl(0);
    }
}
