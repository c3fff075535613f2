using System.Runtime.Intrinsics;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace Lab.Machine.Cpu;

/// <summary>
/// SSE/SSE2 data movement and integer/logic instructions, executed with the host's SSE2 (the only
/// host this project targets is x86-64). Legacy-SSE memory operands must be 16-byte aligned except
/// for the unaligned moves; a misaligned one raises #GP(0) as on hardware.
/// </summary>
public sealed unsafe partial class Cpu
{
    private bool Read128(ulong ea, out V v)
    {
        v = default;
        if (!Read64(ea, out ulong lo) || !Read64(ea + 8, out ulong hi)) return false;
        v = Vector128.Create(lo, hi).AsByte();
        return true;
    }

    private bool Write128(ulong ea, V v)
    {
        if ((ea & 0xFFF) > 0xFF0)
        {
            Span<byte> bytes = stackalloc byte[16];
            v.CopyTo(bytes);
            return WriteBytes(ea, bytes);   // checks both pages before writing
        }
        var q = v.AsUInt64();
        return Write64(ea, q.GetElement(0)) && Write64(ea + 8, q.GetElement(1));
    }

    /// <summary>The 128-bit source operand: R1 or memory (alignment checked when Size2 = 1).</summary>
    private bool SseSource(ref Op op, out V v)
    {
        if (op.Form == Form.RR) { v = _xmm[op.R1]; return true; }
        ulong ea = EA(ref op);
        if (op.Size2 == 1 && (ea & 15) != 0) { v = default; return Misaligned(); }
        return Read128(ea, out v);
    }

    private bool Misaligned()
    {
        RecordGeneralProtection();
        _trapRetires = false;
        return false;
    }

    private bool SseMov(ref Op op)
    {
        if (op.Form == Form.MR)
        {
            ulong ea = EA(ref op);
            if (op.Size2 == 1 && (ea & 15) != 0) return Misaligned();
            return Write128(ea, _xmm[op.R1]);
        }
        if (!SseSource(ref op, out V v)) return false;
        _xmm[op.R0] = v;
        return true;
    }

    /// <summary>movq xmm, xmm/m64 (upper half zeroed) and movq xmm/m64, xmm.</summary>
    private bool SseMovq(ref Op op)
    {
        if (op.Form == Form.MR) return Write64(EA(ref op), SseMath.Low64(_xmm[op.R1]));
        ulong lo;
        if (op.Form == Form.RR) lo = SseMath.Low64(_xmm[op.R1]);
        else if (!Read64(EA(ref op), out lo)) return false;
        _xmm[op.R0] = SseMath.FromLow64(lo);
        return true;
    }

    private bool SseMovdToXmm(ref Op op)
    {
        ulong v;
        if (op.Form == Form.RR) v = GetReg(op.R1, op.Size);
        else if (!Read(EA(ref op), op.Size, out v)) return false;
        _xmm[op.R0] = SseMath.FromLow64(v);
        return true;
    }

    private bool SseMovdFromXmm(ref Op op)
    {
        ulong v = SseMath.Low64(_xmm[op.R1]);
        if (op.Size == 4) v = (uint)v;
        if (op.Form == Form.RR) { SetReg(op.R0, op.Size, v); return true; }
        return Write(EA(ref op), op.Size, v);
    }

    /// <summary>Half and scalar moves; Cond: 0/1 movlp load/store, 2/3 movhp load/store, 4 movlhps, 5 movhlps,
    /// 6/7/8 movss load/store/reg, 9/10/11 movsd load/store/reg.</summary>
    private bool SseMovLowHigh(ref Op op)
    {
        switch (op.Cond)
        {
            case 0:
            case 2:
                {
                    if (!Read64(EA(ref op), out ulong m)) return false;
                    _xmm[op.R0] = op.Cond == 0 ? SseMath.WithLow64(_xmm[op.R0], m) : SseMath.WithHigh64(_xmm[op.R0], m);
                    return true;
                }
            case 1:
            case 3:
                return Write64(EA(ref op), op.Cond == 1 ? SseMath.Low64(_xmm[op.R1]) : SseMath.High64(_xmm[op.R1]));
            case 4:
                _xmm[op.R0] = SseMath.WithHigh64(_xmm[op.R0], SseMath.Low64(_xmm[op.R1]));
                return true;
            case 5:
                _xmm[op.R0] = SseMath.WithLow64(_xmm[op.R0], SseMath.High64(_xmm[op.R1]));
                return true;
            case 6:
                {
                    if (!Read32(EA(ref op), out ulong m)) return false;
                    _xmm[op.R0] = SseMath.FromLow32((uint)m);
                    return true;
                }
            case 7:
                return Write32(EA(ref op), SseMath.Low32(_xmm[op.R1]));
            case 8:
                _xmm[op.R0] = SseMath.WithLow32(_xmm[op.R0], SseMath.Low32(_xmm[op.R1]));
                return true;
            case 9:
                {
                    if (!Read64(EA(ref op), out ulong m)) return false;
                    _xmm[op.R0] = SseMath.FromLow64(m);
                    return true;
                }
            case 10:
                return Write64(EA(ref op), SseMath.Low64(_xmm[op.R1]));
            default:
                _xmm[op.R0] = SseMath.WithLow64(_xmm[op.R0], SseMath.Low64(_xmm[op.R1]));
                return true;
        }
    }

    private bool SseBinary(ref Op op)
    {
        if (!SseSource(ref op, out V s)) return false;
        V d = _xmm[op.R0];
        _xmm[op.R0] = SseMath.Binary((SseOp)op.Cond, d, s);
        return true;
    }

    private bool SseShiftImm(ref Op op)
    {
        _xmm[op.R0] = SseMath.ShiftImm((SseOp)op.Cond, _xmm[op.R0], (byte)op.Imm);
        return true;
    }

    private bool SseShuffle(ref Op op)
    {
        if (!SseSource(ref op, out V s)) return false;
        _xmm[op.R0] = SseMath.Shuffle((SseOp)op.Cond, _xmm[op.R0], s, (byte)op.Imm);
        return true;
    }

    /// <summary>pmovmskb / movmskps / movmskpd (Cond 0/1/2): the sign bits into a general register.</summary>
    private bool Pmovmskb(ref Op op)
    {
        V s = _xmm[op.R1];
        ulong bits = op.Cond switch
        {
            0 => SseMath.Pmovmskb(s),
            1 => SseMath.Movmskps(s),
            _ => SseMath.Movmskpd(s),
        };
        SetReg(op.R0, op.Size == 8 ? 8 : 4, bits);
        return true;
    }

    private bool Pextrw(ref Op op)
    {
        SetReg(op.R0, 4, SseMath.Pextrw(_xmm[op.R1], (int)op.Imm));
        return true;
    }

    private bool Pinsrw(ref Op op)
    {
        ulong v;
        if (op.Form == Form.RR) v = GetReg(op.R1, 4);
        else if (!Read16(EA(ref op), out v)) return false;
        _xmm[op.R0] = SseMath.Pinsrw(_xmm[op.R0], v, (int)op.Imm);
        return true;
    }
}
