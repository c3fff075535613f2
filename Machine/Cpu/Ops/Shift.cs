namespace Lab.Machine.Cpu;

/// <summary>
/// Shifts and rotates. Counts are masked to 5 bits (6 for 64-bit operands); a masked count of 0
/// changes no flag. OF is architecturally defined only for a count of 1 (we compute the same
/// formula for every count, as the differential tests mask it).
/// </summary>
public sealed unsafe partial class Cpu
{
    private bool Shift(ref Op op)
    {
        int size = op.Size, bits = size * 8;
        if (!ReadDst(ref op, out ulong d, out ulong ea)) return false;
        int count = (int)((op.Flags & OpFlags.HasImm) != 0 ? op.Imm : _regs[1]) & (size == 8 ? 63 : 31);
        ulong mask = FlagMath.Mask(size), sign = FlagMath.SignBit(size);
        if (count == 0) return ZeroCountShift(ref op);
        ulong r, cf, of;
        switch ((ShiftOp)op.Cond)
        {
            case ShiftOp.Shl:
            case ShiftOp.Sal:
                r = count >= 64 ? 0 : (d << count) & mask;
                cf = count > bits ? 0 : (d >> (bits - count)) & 1;
                of = ((r & sign) != 0 ? 1UL : 0UL) ^ cf;
                break;
            case ShiftOp.Shr:
                r = count >= 64 ? 0 : d >> count;
                cf = count > bits ? 0 : (d >> (count - 1)) & 1;
                of = (d & sign) != 0 ? 1UL : 0UL;
                break;
            case ShiftOp.Sar:
                {
                    long sd = FlagMath.SignExtend(d, size);
                    r = (ulong)(sd >> Math.Min(count, 63)) & mask;
                    cf = (ulong)(sd >> Math.Min(count - 1, 63)) & 1;
                    of = 0;
                    break;
                }
            default:
                return Rotate(ref op, d, ea, count);
        }
        if (!WriteDst(ref op, ea, r)) return false;
        SetFlagsAux(FlagOp.ResultAux, size, d, (ulong)count, r, (cf != 0 ? FlagMath.CF : 0) | (of != 0 ? FlagMath.OF : 0));
        return true;
    }

    /// <summary>A masked count of 0 changes nothing, except that a 32-bit register destination is still
    /// zero-extended (Form.R for shifts and rotates, Form.RR for shld/shrd).</summary>
    private bool ZeroCountShift(ref Op op)
    {
        if (op.Form is Form.R or Form.RR && op.Size == 4) _regs[op.R0] = (uint)_regs[op.R0];
        return true;
    }

    /// <summary>rol / ror / rcl / rcr: only CF and OF change.</summary>
    private bool Rotate(ref Op op, ulong d, ulong ea, int count)
    {
        int size = op.Size, bits = size * 8;
        ulong mask = FlagMath.Mask(size), sign = FlagMath.SignBit(size);
        ulong flags = StatusFlags();
        ulong cf = flags & FlagMath.CF;
        ulong r;
        switch ((ShiftOp)op.Cond)
        {
            case ShiftOp.Rol:
                {
                    int c = count % bits;
                    r = c == 0 ? d : ((d << c) | (d >> (bits - c))) & mask;
                    cf = r & 1;
                    ulong of = ((r & sign) != 0 ? 1UL : 0UL) ^ cf;
                    flags = (flags & ~(FlagMath.CF | FlagMath.OF)) | cf | (of != 0 ? FlagMath.OF : 0);
                    break;
                }
            case ShiftOp.Ror:
                {
                    int c = count % bits;
                    r = c == 0 ? d : ((d >> c) | (d << (bits - c))) & mask;
                    cf = (r & sign) != 0 ? 1UL : 0UL;
                    ulong second = (r & (sign >> 1)) != 0 ? 1UL : 0UL;
                    flags = (flags & ~(FlagMath.CF | FlagMath.OF)) | cf | ((cf ^ second) != 0 ? FlagMath.OF : 0);
                    break;
                }
            case ShiftOp.Rcl:
                {
                    int c = size == 1 ? count % 9 : size == 2 ? count % 17 : count;
                    r = d;
                    for (int i = 0; i < c; i++)
                    {
                        ulong top = (r & sign) != 0 ? 1UL : 0UL;
                        r = ((r << 1) | cf) & mask;
                        cf = top;
                    }
                    ulong of = ((r & sign) != 0 ? 1UL : 0UL) ^ cf;
                    flags = (flags & ~(FlagMath.CF | FlagMath.OF)) | cf | (of != 0 ? FlagMath.OF : 0);
                    break;
                }
            default: // Rcr
                {
                    int c = size == 1 ? count % 9 : size == 2 ? count % 17 : count;
                    ulong of = (((d & sign) != 0 ? 1UL : 0UL) ^ cf) != 0 ? FlagMath.OF : 0;
                    r = d;
                    for (int i = 0; i < c; i++)
                    {
                        ulong low = r & 1;
                        r = (r >> 1) | (cf != 0 ? sign : 0);
                        cf = low;
                    }
                    flags = (flags & ~(FlagMath.CF | FlagMath.OF)) | cf | of;
                    break;
                }
        }
        if (!WriteDst(ref op, ea, r)) return false;
        SetStatusFlags(flags);
        return true;
    }

    /// <summary>shld / shrd: shift dest, filling from src. Count from the immediate or CL.</summary>
    private bool DoubleShift(ref Op op, bool left)
    {
        int size = op.Size, bits = size * 8;
        if (!ReadDst(ref op, out ulong d, out ulong ea)) return false;
        ulong s = GetReg(op.R1, size);
        int count = (int)((op.Flags & OpFlags.HasImm) != 0 ? op.Imm : _regs[1]) & (size == 8 ? 63 : 31);
        if (count == 0) return ZeroCountShift(ref op);
        ulong mask = FlagMath.Mask(size), sign = FlagMath.SignBit(size);
        ulong r, cf;
        if (size == 8)
        {
            r = left ? (d << count) | (s >> (64 - count)) : (d >> count) | (s << (64 - count));
            cf = left ? (d >> (64 - count)) & 1 : (d >> (count - 1)) & 1;
        }
        else
        {
            // Work on the concatenation in 128 bits so 16-bit counts above 16 behave like hardware's.
            UInt128 wide = left ? ((UInt128)d << bits) | s : ((UInt128)s << bits) | d;
            if (left)
            {
                UInt128 shifted = wide << count;
                r = (ulong)(shifted >> bits) & mask;
                cf = (ulong)(wide >> (2 * bits - count)) & 1;
            }
            else
            {
                UInt128 shifted = wide >> count;
                r = (ulong)shifted & mask;
                cf = (ulong)(wide >> (count - 1)) & 1;
            }
        }
        r &= mask;
        ulong of = ((r ^ d) & sign) != 0 ? FlagMath.OF : 0;
        if (!WriteDst(ref op, ea, r)) return false;
        SetFlagsAux(FlagOp.ResultAux, size, d, s, r, cf | of);
        return true;
    }
}
