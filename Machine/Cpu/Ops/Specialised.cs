using System.Runtime.CompilerServices;

namespace Lab.Machine.Cpu;

/// <summary>
/// Specialised handlers for the hottest register forms (32/64-bit destinations, no segment or
/// address-size prefixes). Each does what the generic family handler does for that form, without
/// operand-form dispatch; the differential tests hold both to the same semantics.
/// </summary>
public sealed unsafe partial class Cpu
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Alu64(ref Op op, ulong d, ulong s)
    {
        ulong r;
        switch ((AluOp)op.Cond)
        {
            case AluOp.Add: r = d + s; SetFlags(FlagOp.Add, 8, d, s, r); break;
            case AluOp.Or: r = d | s; SetFlags(FlagOp.Logic, 8, 0, 0, r); break;
            case AluOp.Adc:
                {
                    ulong c = CarryFlag() ? 1UL : 0UL;
                    r = d + s + c; SetFlagsAux(FlagOp.Adc, 8, d, s, r, c); break;
                }
            case AluOp.Sbb:
                {
                    ulong c = CarryFlag() ? 1UL : 0UL;
                    r = d - s - c; SetFlagsAux(FlagOp.Sbb, 8, d, s, r, c); break;
                }
            case AluOp.And: r = d & s; SetFlags(FlagOp.Logic, 8, 0, 0, r); break;
            case AluOp.Sub: r = d - s; SetFlags(FlagOp.Sub, 8, d, s, r); break;
            case AluOp.Xor: r = d ^ s; SetFlags(FlagOp.Logic, 8, 0, 0, r); break;
            case AluOp.Cmp: SetFlags(FlagOp.Sub, 8, d, s, d - s); return;
            default: SetFlags(FlagOp.Logic, 8, 0, 0, d & s); return;
        }
        _regs[op.R0] = r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Alu32(ref Op op, ulong d, ulong s)
    {
        d = (uint)d; s = (uint)s;
        ulong r;
        switch ((AluOp)op.Cond)
        {
            case AluOp.Add: r = (uint)(d + s); SetFlags(FlagOp.Add, 4, d, s, r); break;
            case AluOp.Or: r = d | s; SetFlags(FlagOp.Logic, 4, 0, 0, r); break;
            case AluOp.Adc:
                {
                    ulong c = CarryFlag() ? 1UL : 0UL;
                    r = (uint)(d + s + c); SetFlagsAux(FlagOp.Adc, 4, d, s, r, c); break;
                }
            case AluOp.Sbb:
                {
                    ulong c = CarryFlag() ? 1UL : 0UL;
                    r = (uint)(d - s - c); SetFlagsAux(FlagOp.Sbb, 4, d, s, r, c); break;
                }
            case AluOp.And: r = d & s; SetFlags(FlagOp.Logic, 4, 0, 0, r); break;
            case AluOp.Sub: r = (uint)(d - s); SetFlags(FlagOp.Sub, 4, d, s, r); break;
            case AluOp.Xor: r = d ^ s; SetFlags(FlagOp.Logic, 4, 0, 0, r); break;
            case AluOp.Cmp: SetFlags(FlagOp.Sub, 4, d, s, (uint)(d - s)); return;
            default: SetFlags(FlagOp.Logic, 4, 0, 0, d & s); return;
        }
        _regs[op.R0] = r;
    }

    /// <summary>inc/dec of a 32/64-bit register (Cond 0 inc, 1 dec); CF is kept.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void IncDecReg(ref Op op, int size)
    {
        ulong d = size == 8 ? _regs[op.R0] : (uint)_regs[op.R0];
        ulong cf = CarryFlag() ? FlagMath.CF : 0;
        ulong r = op.Cond == 0 ? d + 1 : d - 1;
        if (size == 4) r = (uint)r;
        _regs[op.R0] = r;
        SetFlagsAux(op.Cond == 0 ? FlagOp.Inc : FlagOp.Dec, size, d, 1, r, cf);
    }

    /// <summary>shl/sal/shr/sar of a 32/64-bit register by a non-zero, already-masked immediate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ShiftRegImm(ref Op op, int size)
    {
        int count = (int)op.Imm, bits = size * 8;
        ulong d = size == 8 ? _regs[op.R0] : (uint)_regs[op.R0];
        ulong r, cf, of;
        switch ((ShiftOp)op.Cond)
        {
            case ShiftOp.Shr:
                r = d >> count;
                cf = (d >> (count - 1)) & 1;
                of = d >> (bits - 1);
                break;
            case ShiftOp.Sar:
                {
                    long sd = size == 8 ? (long)d : (int)d;
                    r = (ulong)(sd >> count);
                    if (size == 4) r = (uint)r;
                    cf = (ulong)(sd >> (count - 1)) & 1;
                    of = 0;
                    break;
                }
            default:
                r = d << count;
                if (size == 4) r = (uint)r;
                cf = (d >> (bits - count)) & 1;
                of = (r >> (bits - 1)) ^ cf;
                break;
        }
        _regs[op.R0] = r;
        SetFlagsAux(FlagOp.ResultAux, size, d, (ulong)count, r, (cf != 0 ? FlagMath.CF : 0) | (of != 0 ? FlagMath.OF : 0));
    }
}
