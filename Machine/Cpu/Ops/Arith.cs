namespace Lab.Machine.Cpu;

/// <summary>Integer arithmetic and logic: add/or/adc/sbb/and/sub/xor/cmp/test, inc/dec, neg, not, cmpxchg, xadd.</summary>
public sealed unsafe partial class Cpu
{
    /// <summary>
    /// The generic ALU handler for every size and form; Cond holds the <see cref="AluOp"/>. The
    /// destination is written before the flags: a write that faults (a read-only or copy-on-write page)
    /// leaves them as they were, and the instruction runs again from the same state (adc and sbb read CF).
    /// </summary>
    private bool Alu(ref Op op)
    {
        int size = op.Size;
        if (!ReadDst(ref op, out ulong d, out ulong ea)) return false;
        if (!ReadSrc(ref op, size, out ulong s)) return false;
        ulong mask = FlagMath.Mask(size);
        ulong r, carry = 0;
        FlagOp kind;
        switch ((AluOp)op.Cond)
        {
            case AluOp.Add: r = (d + s) & mask; kind = FlagOp.Add; break;
            case AluOp.Or: r = d | s; kind = FlagOp.Logic; break;
            case AluOp.Adc: carry = CarryFlag() ? 1UL : 0UL; r = (d + s + carry) & mask; kind = FlagOp.Adc; break;
            case AluOp.Sbb: carry = CarryFlag() ? 1UL : 0UL; r = (d - s - carry) & mask; kind = FlagOp.Sbb; break;
            case AluOp.And: r = d & s; kind = FlagOp.Logic; break;
            case AluOp.Sub: r = (d - s) & mask; kind = FlagOp.Sub; break;
            case AluOp.Xor: r = d ^ s; kind = FlagOp.Logic; break;
            case AluOp.Cmp: SetFlags(FlagOp.Sub, size, d, s, (d - s) & mask); return true;
            default: SetFlags(FlagOp.Logic, size, 0, 0, d & s); return true;   // test
        }
        if (!WriteDst(ref op, ea, r)) return false;
        if (kind == FlagOp.Logic) SetFlags(FlagOp.Logic, size, 0, 0, r);
        else if (kind is FlagOp.Adc or FlagOp.Sbb) SetFlagsAux(kind, size, d, s, r, carry);
        else SetFlags(kind, size, d, s, r);
        return true;
    }

    /// <summary>inc / dec: CF keeps its old value.</summary>
    private bool IncDec(ref Op op, bool inc)
    {
        if (!ReadDst(ref op, out ulong d, out ulong ea)) return false;
        ulong r = (inc ? d + 1 : d - 1) & FlagMath.Mask(op.Size);
        if (!WriteDst(ref op, ea, r)) return false;
        ulong cf = CarryFlag() ? FlagMath.CF : 0;
        SetFlagsAux(inc ? FlagOp.Inc : FlagOp.Dec, op.Size, d, 1, r, cf);
        return true;
    }

    private bool Neg(ref Op op)
    {
        if (!ReadDst(ref op, out ulong d, out ulong ea)) return false;
        ulong r = (0 - d) & FlagMath.Mask(op.Size);
        if (!WriteDst(ref op, ea, r)) return false;
        SetFlags(FlagOp.Neg, op.Size, d, d, r);
        return true;
    }

    private bool Not(ref Op op)
    {
        if (!ReadDst(ref op, out ulong d, out ulong ea)) return false;
        return WriteDst(ref op, ea, ~d & FlagMath.Mask(op.Size));
    }

    /// <summary>cmpxchg: compare the accumulator with the destination; equal: dest = src, else accumulator = dest.</summary>
    private bool Cmpxchg(ref Op op)
    {
        int size = op.Size;
        if (!ReadDst(ref op, out ulong d, out ulong ea)) return false;
        ulong acc = GetReg(0, size);
        ulong s = GetReg(op.R1, size);
        if (acc == d)
        {
            if (!WriteDst(ref op, ea, s)) return false;
        }
        else
        {
            // The processor writes the destination back unchanged (memory: a locked write).
            if (op.Form != Form.RR && !WriteDst(ref op, ea, d)) return false;
            SetReg(0, size, d);
        }
        SetFlags(FlagOp.Sub, size, acc, d, (acc - d) & FlagMath.Mask(size));
        return true;
    }

    /// <summary>
    /// xadd: dest = dest + src, src = old dest. A memory destination is written before the register, so
    /// a write that faults (a read-only or copy-on-write page) leaves the register as it was and the
    /// instruction restarts with it: setting it first, a forked child's atomic add on a copy-on-write
    /// page added the old value to itself after the kernel copied the page. A register destination is
    /// written last, so <c>xadd rax, rax</c> leaves the sum.
    /// </summary>
    private bool Xadd(ref Op op)
    {
        int size = op.Size;
        if (!ReadDst(ref op, out ulong d, out ulong ea)) return false;
        ulong s = GetReg(op.R1, size);
        ulong r = (d + s) & FlagMath.Mask(size);
        if (op.Form == Form.RR) SetReg(op.R1, size, d);
        if (!WriteDst(ref op, ea, r)) return false;
        if (op.Form != Form.RR) SetReg(op.R1, size, d);
        SetFlags(FlagOp.Add, size, d, s, r);
        return true;
    }
}
