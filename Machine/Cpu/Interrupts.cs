namespace Lab.Machine.Cpu;

/// <summary>Where an event comes from: it decides the gate DPL check and the EXT bit of error codes.</summary>
internal enum EventSource : byte
{
    /// <summary>An exception raised by an instruction (or by the delivery of an earlier event).</summary>
    Exception,
    /// <summary>A hardware interrupt from the PIC.</summary>
    External,
    /// <summary><c>int n</c> / <c>int3</c>: the gate's DPL must allow the current privilege.</summary>
    Software,
}

/// <summary>
/// Interrupt and exception delivery through the guest IDT (system mode): 64-bit interrupt and trap
/// gates, the gate DPL check for software interrupts, error codes, the TSS stack switch on a privilege
/// change (rsp0..2) and IST stacks, the 16-byte aligned frame (ss, rsp, rflags, cs, rip, error),
/// IF cleared by interrupt gates. A fault during delivery is delivered in its place, or becomes a
/// double fault (#DF) by the architectural rules; a fault while delivering #DF is a triple fault.
/// The machine calls <see cref="DeliverEvent"/> from its one trap landing site.
/// </summary>
public sealed unsafe partial class Cpu
{
    private const ulong TF = 1UL << 8, NT = 1UL << 14, RF = 1UL << 16, VM = 1UL << 17;

    /// <summary>Exception vectors that push an error code.</summary>
    internal static bool PushesErrorCode(byte vector) => vector is 8 or 10 or 11 or 12 or 13 or 14 or 17 or 21;

    /// <summary>#DE, #TS, #NP, #SS, #GP: two of these in a row make a double fault.</summary>
    private static bool IsContributory(byte vector) => vector is 0 or 10 or 11 or 12 or 13;

    /// <summary>
    /// Delivers one event through the IDT, and the faults its delivery raises. <paramref name="returnRip"/>
    /// is the address the frame holds (the next instruction for int n and interrupts, the faulting one
    /// for faults); <paramref name="faultRip"/> is the one a fault during delivery reports (for int n,
    /// the int instruction itself). <paramref name="nested"/> sees each such fault before it is
    /// delivered. Returns false on a triple fault (the CPU state is then that of the last attempt).
    /// </summary>
    internal bool DeliverEvent(byte vector, EventSource source, bool hasError, ulong error,
        ulong returnRip, ulong faultRip, Action<Trap>? nested)
    {
        bool doubleFault = false;
        while (true)
        {
            _trapKind = TrapKind.None;
            if (TryDeliver(vector, source, hasError, error, returnRip)) return true;
            Trap fault = TakeRecordedTrap(faultRip);
            nested?.Invoke(fault);
            if (doubleFault) return false;
            bool firstContributory = source == EventSource.Exception && IsContributory(vector);
            bool firstPageFault = source == EventSource.Exception && vector == 14;
            if ((firstContributory && IsContributory(fault.Vector))
                || (firstPageFault && (fault.Vector == 14 || IsContributory(fault.Vector))))
            {
                doubleFault = true;
                vector = 8;
                error = 0;
                hasError = true;
                nested?.Invoke(new Trap { Kind = TrapKind.DoubleFault, Vector = 8, InstructionAddress = new VirtAddr(faultRip) });
            }
            else
            {
                vector = fault.Vector;
                error = fault.ErrorCode;
                hasError = PushesErrorCode(vector);
            }
            source = EventSource.Exception;
            returnRip = faultRip;
        }
    }

    /// <summary>One delivery attempt. False after recording the fault it raised; nothing is committed then.</summary>
    private bool TryDeliver(byte vector, EventSource source, bool hasError, ulong error, ulong returnRip)
    {
        ulong ext = source == EventSource.Software ? 0UL : 1UL;
        ulong idtError = ((ulong)vector << 3) | 2 | ext;

        // The gate: a present 64-bit interrupt (0xE) or trap (0xF) gate within the IDT's limit.
        if ((ulong)vector * 16 + 15 > _idtLimit) return GeneralProtection(idtError);
        ulong gateAt = _idtBase + (ulong)vector * 16;
        if (!SystemRead(gateAt, 8, out ulong low) || !SystemRead(gateAt + 8, 8, out ulong high)) return false;
        int type = (int)(low >> 40) & 0x1F;           // includes the S bit, which must be 0
        if (type != 0xE && type != 0xF) return GeneralProtection(idtError);
        int gateDpl = (int)(low >> 45) & 3;
        if (source == EventSource.Software && gateDpl < _cpl) return GeneralProtection(idtError);
        if ((low & (1UL << 47)) == 0) return NotPresent(idtError);
        ushort selector = (ushort)(low >> 16);
        ulong target = (low & 0xFFFF) | ((low >> 32) & 0xFFFF_0000) | (high << 32);
        int ist = (int)(low >> 32) & 7;

        // The handler's code segment: 64-bit code at a privilege no lower than the current one.
        if ((selector & 0xFFFC) == 0) return GeneralProtection(ext);
        ulong selectorError = (ulong)(uint)(selector & 0xFFFC) | ext;
        if (!ReadDescriptor(selector, ext, out ulong d)) return false;
        var code = SegmentCache.FromDescriptor(selector, d);
        if (!code.IsCode || code.Dpl > _cpl || !code.IsLong) return GeneralProtection(selectorError);
        if (!code.Present) return NotPresent(selectorError);
        int newCpl = code.IsConforming ? _cpl : code.Dpl;

        // The stack: an IST stack if the gate names one, the TSS stack of the new level on a privilege
        // change, else the current stack; aligned down to 16 bytes.
        ulong rsp = _regs[4];
        if (ist != 0) { if (!ReadTssStack(36 + 8 * (ist - 1), ext, out rsp)) return false; }
        else if (newCpl < _cpl) { if (!ReadTssStack(4 + 8 * newCpl, ext, out rsp)) return false; }
        rsp &= ~0xFUL;
        ulong top = rsp - (hasError ? 48UL : 40UL);
        if (!IsCanonical(rsp - 1) || !IsCanonical(top)) return StackSegmentFault(ext);
        if (!MarkAccessed(selector, d)) return false;

        // The frame, written with the handler's privilege.
        int oldCpl = _cpl;
        ulong oldFlags = RFlags;
        SetCpl(newCpl);
        bool pushed = Write64(rsp - 8, _segs[Ss].Selector)
            && Write64(rsp - 16, _regs[4])
            && Write64(rsp - 24, oldFlags)
            && Write64(rsp - 32, _segs[Cs].Selector)
            && Write64(rsp - 40, returnRip)
            && (!hasError || Write64(rsp - 48, error));
        if (!pushed)
        {
            SetCpl(oldCpl);
            return false;
        }

        code.Selector = (ushort)((selector & 0xFFFC) | newCpl);
        _segs[Cs] = code;
        if (newCpl != oldCpl) _segs[Ss] = new SegmentCache { Selector = (ushort)newCpl };   // null SS, RPL = new CPL
        _regs[4] = top;
        RFlags = oldFlags & ~(TF | NT | RF | VM | ((type & 0xF) == 0xE ? IF : 0));
        _rip = target;
        _halted = false;
        _stiShadow = false;
        return true;
    }

    /// <summary>Reads a stack pointer from the TSS (rsp0-2 at 4, IST1-7 at 36); #TS when the TSS cannot hold it.</summary>
    private bool ReadTssStack(int offset, ulong ext, out ulong rsp)
    {
        rsp = 0;
        if ((_tr.Selector & 0xFFFC) == 0 || (ulong)offset + 7 > _tr.Limit)
            return InvalidTss((ulong)(uint)(_tr.Selector & 0xFFFC) | ext);
        return SystemRead(_tr.Base + (ulong)offset, 8, out rsp);
    }
}
