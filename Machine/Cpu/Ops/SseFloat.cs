using System.Runtime.Intrinsics;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace Lab.Machine.Cpu;

/// <summary>Which SSE/SSE2 floating-point operation an <see cref="OpKind.SseFloat"/> op performs.</summary>
internal enum FpOp : byte
{
    Addsd, Subsd, Mulsd, Divsd, Minsd, Maxsd, Sqrtsd,
    Addss, Subss, Mulss, Divss, Minss, Maxss, Sqrtss,
    Addpd, Subpd, Mulpd, Divpd, Minpd, Maxpd, Sqrtpd,
    Addps, Subps, Mulps, Divps, Minps, Maxps, Sqrtps,
    Cvtss2sd, Cvtsd2ss, Cvtps2pd, Cvtpd2ps, Cvtdq2ps, Cvtdq2pd, Cvtps2dq, Cvttps2dq, Cvtpd2dq, Cvttpd2dq,
    Cmpsd, Cmpss, Cmppd, Cmpps,
}

/// <summary>
/// SSE/SSE2 floating point: scalar and packed double and single arithmetic, square root, min/max,
/// comparisons (cmpXX predicates, comis/ucomis to EFLAGS) and conversions, executed with the host's
/// own SSE instructions, so results, NaN propagation and rounding are the hardware's bit for bit.
/// MXCSR is not emulated: every guest runs with the default (round to nearest, exceptions masked,
/// no flush to zero), the state the host's runtime keeps. The x87 is in X87*.cs.
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>The source operand: R1, or <paramref name="memSize"/> bytes of memory (16: alignment
    /// checked when Size2 = 1; 8 or 4: the low lanes, the rest zero).</summary>
    private bool FpSource(ref Op op, int memSize, out V v)
    {
        if (op.Form == Form.RR) { v = _xmm[op.R1]; return true; }
        if (memSize == 16) return SseSource(ref op, out v);
        ulong ea = EA(ref op);
        ulong m;
        bool ok = memSize == 8 ? Read64(ea, out m) : Read32(ea, out m);
        v = ok ? SseMath.FromLow64(m) : default;
        return ok;
    }

    private bool SseFloat(ref Op op)
    {
        if (!FpSource(ref op, op.Size, out V s)) return false;
        _xmm[op.R0] = SseMath.Float((FpOp)op.Cond, _xmm[op.R0], s, (int)(op.Imm & 7));
        return true;
    }

    /// <summary>comisd/ucomisd/comiss/ucomiss (Cond bit 0: double): EFLAGS from the compare (SseMath.ComiFlags).</summary>
    private bool SseComi(ref Op op)
    {
        if (!FpSource(ref op, (op.Cond & 1) != 0 ? 8 : 4, out V s)) return false;
        SetStatusFlags(SseMath.ComiFlags(_xmm[op.R0], s, (op.Cond & 1) != 0));
        return true;
    }

    /// <summary>cvtsi2sd/cvtsi2ss xmm, r/m32|64 (Size = integer size; Cond bit 0: double).</summary>
    private bool SseCvtIntToFp(ref Op op)
    {
        ulong v;
        if (op.Form == Form.RR) v = GetReg(op.R1, op.Size);
        else if (!Read(EA(ref op), op.Size, out v)) return false;
        _xmm[op.R0] = SseMath.IntToFp(_xmm[op.R0], v, op.Size, (op.Cond & 1) != 0);
        return true;
    }

    /// <summary>cvt(t)sd2si/cvt(t)ss2si r32|64, xmm/m (Size = destination size; Cond bit 0: double
    /// source, bit 1: truncate).</summary>
    private bool SseCvtFpToInt(ref Op op)
    {
        if (!FpSource(ref op, op.Size2, out V s)) return false;
        SetReg(op.R0, op.Size, SseMath.FpToInt(s, op.Size, (op.Cond & 1) != 0, (op.Cond & 2) != 0));
        return true;
    }
}
