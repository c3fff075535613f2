using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using V = System.Runtime.Intrinsics.Vector128<byte>;

#pragma warning disable CA1857 // shift counts come from guest data, not constants

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
        if (op.Form == Form.MR) return Write64(EA(ref op), _xmm[op.R1].AsUInt64().GetElement(0));
        ulong lo;
        if (op.Form == Form.RR) lo = _xmm[op.R1].AsUInt64().GetElement(0);
        else if (!Read64(EA(ref op), out lo)) return false;
        _xmm[op.R0] = Vector128.Create(lo, 0UL).AsByte();
        return true;
    }

    private bool SseMovdToXmm(ref Op op)
    {
        ulong v;
        if (op.Form == Form.RR) v = GetReg(op.R1, op.Size);
        else if (!Read(EA(ref op), op.Size, out v)) return false;
        _xmm[op.R0] = Vector128.Create(v, 0UL).AsByte();
        return true;
    }

    private bool SseMovdFromXmm(ref Op op)
    {
        ulong v = _xmm[op.R1].AsUInt64().GetElement(0);
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
                    _xmm[op.R0] = _xmm[op.R0].AsUInt64().WithElement(op.Cond == 0 ? 0 : 1, m).AsByte();
                    return true;
                }
            case 1:
            case 3:
                return Write64(EA(ref op), _xmm[op.R1].AsUInt64().GetElement(op.Cond == 1 ? 0 : 1));
            case 4:
                _xmm[op.R0] = _xmm[op.R0].AsUInt64().WithElement(1, _xmm[op.R1].AsUInt64().GetElement(0)).AsByte();
                return true;
            case 5:
                _xmm[op.R0] = _xmm[op.R0].AsUInt64().WithElement(0, _xmm[op.R1].AsUInt64().GetElement(1)).AsByte();
                return true;
            case 6:
                {
                    if (!Read32(EA(ref op), out ulong m)) return false;
                    _xmm[op.R0] = Vector128.Create((uint)m, 0u, 0u, 0u).AsByte();
                    return true;
                }
            case 7:
                return Write32(EA(ref op), _xmm[op.R1].AsUInt32().GetElement(0));
            case 8:
                _xmm[op.R0] = _xmm[op.R0].AsUInt32().WithElement(0, _xmm[op.R1].AsUInt32().GetElement(0)).AsByte();
                return true;
            case 9:
                {
                    if (!Read64(EA(ref op), out ulong m)) return false;
                    _xmm[op.R0] = Vector128.Create(m, 0UL).AsByte();
                    return true;
                }
            case 10:
                return Write64(EA(ref op), _xmm[op.R1].AsUInt64().GetElement(0));
            default:
                _xmm[op.R0] = _xmm[op.R0].AsUInt64().WithElement(0, _xmm[op.R1].AsUInt64().GetElement(0)).AsByte();
                return true;
        }
    }

    private bool SseBinary(ref Op op)
    {
        if (!SseSource(ref op, out V s)) return false;
        V d = _xmm[op.R0];
        _xmm[op.R0] = Binary((SseOp)op.Cond, d, s);
        return true;
    }

    private static V Binary(SseOp sub, V d, V s)
    {
        switch (sub)
        {
            case SseOp.Pxor: return d ^ s;
            case SseOp.Pand: return d & s;
            case SseOp.Pandn: return ~d & s;
            case SseOp.Por: return d | s;
            case SseOp.Paddb: return d + s;
            case SseOp.Paddw: return (d.AsUInt16() + s.AsUInt16()).AsByte();
            case SseOp.Paddd: return (d.AsUInt32() + s.AsUInt32()).AsByte();
            case SseOp.Paddq: return (d.AsUInt64() + s.AsUInt64()).AsByte();
            case SseOp.Psubb: return d - s;
            case SseOp.Psubw: return (d.AsUInt16() - s.AsUInt16()).AsByte();
            case SseOp.Psubd: return (d.AsUInt32() - s.AsUInt32()).AsByte();
            case SseOp.Psubq: return (d.AsUInt64() - s.AsUInt64()).AsByte();
            case SseOp.Paddsb: return Sse2.AddSaturate(d.AsSByte(), s.AsSByte()).AsByte();
            case SseOp.Paddsw: return Sse2.AddSaturate(d.AsInt16(), s.AsInt16()).AsByte();
            case SseOp.Paddusb: return Sse2.AddSaturate(d, s);
            case SseOp.Paddusw: return Sse2.AddSaturate(d.AsUInt16(), s.AsUInt16()).AsByte();
            case SseOp.Psubsb: return Sse2.SubtractSaturate(d.AsSByte(), s.AsSByte()).AsByte();
            case SseOp.Psubsw: return Sse2.SubtractSaturate(d.AsInt16(), s.AsInt16()).AsByte();
            case SseOp.Psubusb: return Sse2.SubtractSaturate(d, s);
            case SseOp.Psubusw: return Sse2.SubtractSaturate(d.AsUInt16(), s.AsUInt16()).AsByte();
            case SseOp.Pcmpeqb: return Vector128.Equals(d, s);
            case SseOp.Pcmpeqw: return Vector128.Equals(d.AsUInt16(), s.AsUInt16()).AsByte();
            case SseOp.Pcmpeqd: return Vector128.Equals(d.AsUInt32(), s.AsUInt32()).AsByte();
            case SseOp.Pcmpgtb: return Vector128.GreaterThan(d.AsSByte(), s.AsSByte()).AsByte();
            case SseOp.Pcmpgtw: return Vector128.GreaterThan(d.AsInt16(), s.AsInt16()).AsByte();
            case SseOp.Pcmpgtd: return Vector128.GreaterThan(d.AsInt32(), s.AsInt32()).AsByte();
            case SseOp.Pminub: return Vector128.Min(d, s);
            case SseOp.Pmaxub: return Vector128.Max(d, s);
            case SseOp.Pminsw: return Vector128.Min(d.AsInt16(), s.AsInt16()).AsByte();
            case SseOp.Pmaxsw: return Vector128.Max(d.AsInt16(), s.AsInt16()).AsByte();
            case SseOp.Pavgb: return Sse2.Average(d, s);
            case SseOp.Pavgw: return Sse2.Average(d.AsUInt16(), s.AsUInt16()).AsByte();
            case SseOp.Pmullw: return (d.AsInt16() * s.AsInt16()).AsByte();
            case SseOp.Pmulhw: return Sse2.MultiplyHigh(d.AsInt16(), s.AsInt16()).AsByte();
            case SseOp.Pmulhuw: return Sse2.MultiplyHigh(d.AsUInt16(), s.AsUInt16()).AsByte();
            case SseOp.Pmuludq: return Sse2.Multiply(d.AsUInt32(), s.AsUInt32()).AsByte();
            case SseOp.Pmaddwd: return Sse2.MultiplyAddAdjacent(d.AsInt16(), s.AsInt16()).AsByte();
            case SseOp.Psadbw: return Sse2.SumAbsoluteDifferences(d, s).AsByte();
            case SseOp.Punpcklbw: return Sse2.UnpackLow(d, s);
            case SseOp.Punpcklwd: return Sse2.UnpackLow(d.AsUInt16(), s.AsUInt16()).AsByte();
            case SseOp.Punpckldq: return Sse2.UnpackLow(d.AsUInt32(), s.AsUInt32()).AsByte();
            case SseOp.Punpcklqdq: return Sse2.UnpackLow(d.AsUInt64(), s.AsUInt64()).AsByte();
            case SseOp.Punpckhbw: return Sse2.UnpackHigh(d, s);
            case SseOp.Punpckhwd: return Sse2.UnpackHigh(d.AsUInt16(), s.AsUInt16()).AsByte();
            case SseOp.Punpckhdq: return Sse2.UnpackHigh(d.AsUInt32(), s.AsUInt32()).AsByte();
            case SseOp.Punpckhqdq: return Sse2.UnpackHigh(d.AsUInt64(), s.AsUInt64()).AsByte();
            case SseOp.Packsswb: return Sse2.PackSignedSaturate(d.AsInt16(), s.AsInt16()).AsByte();
            case SseOp.Packssdw: return Sse2.PackSignedSaturate(d.AsInt32(), s.AsInt32()).AsByte();
            case SseOp.Packuswb: return Sse2.PackUnsignedSaturate(d.AsInt16(), s.AsInt16());
            case SseOp.Psllw: return Sse2.ShiftLeftLogical(d.AsUInt16(), s.AsUInt16()).AsByte();
            case SseOp.Pslld: return Sse2.ShiftLeftLogical(d.AsUInt32(), s.AsUInt32()).AsByte();
            case SseOp.Psllq: return Sse2.ShiftLeftLogical(d.AsUInt64(), s.AsUInt64()).AsByte();
            case SseOp.Psrlw: return Sse2.ShiftRightLogical(d.AsUInt16(), s.AsUInt16()).AsByte();
            case SseOp.Psrld: return Sse2.ShiftRightLogical(d.AsUInt32(), s.AsUInt32()).AsByte();
            case SseOp.Psrlq: return Sse2.ShiftRightLogical(d.AsUInt64(), s.AsUInt64()).AsByte();
            case SseOp.Psraw: return Sse2.ShiftRightArithmetic(d.AsInt16(), s.AsInt16()).AsByte();
            case SseOp.Psrad: return Sse2.ShiftRightArithmetic(d.AsInt32(), s.AsInt32()).AsByte();
            default: throw new InvalidOperationException($"SSE binary op {sub}");
        }
    }

    /// <summary>Shifts by an immediate count; counts past the element width give 0 (or the sign for psra).</summary>
    private bool SseShiftImm(ref Op op)
    {
        V d = _xmm[op.R0];
        byte n = (byte)op.Imm;
        V r;
        switch ((SseOp)op.Cond)
        {
            case SseOp.Psllw: r = n > 15 ? V.Zero : Sse2.ShiftLeftLogical(d.AsUInt16(), n).AsByte(); break;
            case SseOp.Pslld: r = n > 31 ? V.Zero : Sse2.ShiftLeftLogical(d.AsUInt32(), n).AsByte(); break;
            case SseOp.Psllq: r = n > 63 ? V.Zero : Sse2.ShiftLeftLogical(d.AsUInt64(), n).AsByte(); break;
            case SseOp.Psrlw: r = n > 15 ? V.Zero : Sse2.ShiftRightLogical(d.AsUInt16(), n).AsByte(); break;
            case SseOp.Psrld: r = n > 31 ? V.Zero : Sse2.ShiftRightLogical(d.AsUInt32(), n).AsByte(); break;
            case SseOp.Psrlq: r = n > 63 ? V.Zero : Sse2.ShiftRightLogical(d.AsUInt64(), n).AsByte(); break;
            case SseOp.Psraw: r = Sse2.ShiftRightArithmetic(d.AsInt16(), Math.Min(n, (byte)15)).AsByte(); break;
            case SseOp.Psrad: r = Sse2.ShiftRightArithmetic(d.AsInt32(), Math.Min(n, (byte)31)).AsByte(); break;
            case SseOp.Pslldq: r = ShiftBytes(d, n, left: true); break;
            default: r = ShiftBytes(d, n, left: false); break;
        }
        _xmm[op.R0] = r;
        return true;
    }

    private static V ShiftBytes(V d, int n, bool left)
    {
        if (n > 15) return V.Zero;
        Span<byte> src = stackalloc byte[16], dst = stackalloc byte[16];
        d.CopyTo(src);
        dst.Clear();
        for (int i = 0; i < 16; i++)
        {
            int from = left ? i - n : i + n;
            if (from >= 0 && from < 16) dst[i] = src[from];
        }
        return Vector128.Create((ReadOnlySpan<byte>)dst);
    }

    private bool SseShuffle(ref Op op)
    {
        if (!SseSource(ref op, out V s)) return false;
        V d = _xmm[op.R0];
        int imm = (int)op.Imm & 0xFF;
        switch ((SseOp)op.Cond)
        {
            case SseOp.Pshufd:
                {
                    var e = s.AsUInt32();
                    d = Vector128.Create(e.GetElement(imm & 3), e.GetElement((imm >> 2) & 3),
                        e.GetElement((imm >> 4) & 3), e.GetElement((imm >> 6) & 3)).AsByte();
                    break;
                }
            case SseOp.Pshuflw:
            case SseOp.Pshufhw:
                {
                    var w = s.AsUInt16();
                    int basis = (SseOp)op.Cond == SseOp.Pshuflw ? 0 : 4;
                    var r = w;
                    for (int i = 0; i < 4; i++) r = r.WithElement(basis + i, w.GetElement(basis + ((imm >> (2 * i)) & 3)));
                    d = r.AsByte();
                    break;
                }
            case SseOp.Shufps:
                {
                    var a = d.AsUInt32();
                    var b = s.AsUInt32();
                    d = Vector128.Create(a.GetElement(imm & 3), a.GetElement((imm >> 2) & 3),
                        b.GetElement((imm >> 4) & 3), b.GetElement((imm >> 6) & 3)).AsByte();
                    break;
                }
            default: // Shufpd
                {
                    var a = d.AsUInt64();
                    var b = s.AsUInt64();
                    d = Vector128.Create(a.GetElement(imm & 1), b.GetElement((imm >> 1) & 1)).AsByte();
                    break;
                }
        }
        _xmm[op.R0] = d;
        return true;
    }

    /// <summary>pmovmskb / movmskps / movmskpd (Cond 0/1/2): the sign bits into a general register.</summary>
    private bool Pmovmskb(ref Op op)
    {
        V s = _xmm[op.R1];
        uint bits = op.Cond switch
        {
            0 => s.ExtractMostSignificantBits(),
            1 => s.AsUInt32().ExtractMostSignificantBits(),
            _ => s.AsUInt64().ExtractMostSignificantBits(),
        };
        SetReg(op.R0, op.Size == 8 ? 8 : 4, bits);
        return true;
    }

    private bool Pextrw(ref Op op)
    {
        ushort w = _xmm[op.R1].AsUInt16().GetElement((int)(op.Imm & 7));
        SetReg(op.R0, 4, w);
        return true;
    }

    private bool Pinsrw(ref Op op)
    {
        ulong v;
        if (op.Form == Form.RR) v = GetReg(op.R1, 4);
        else if (!Read16(EA(ref op), out v)) return false;
        _xmm[op.R0] = _xmm[op.R0].AsUInt16().WithElement((int)(op.Imm & 7), (ushort)v).AsByte();
        return true;
    }
}
