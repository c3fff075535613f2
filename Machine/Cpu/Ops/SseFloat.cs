using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
        v = ok ? Vector128.Create(m, 0UL).AsByte() : default;
        return ok;
    }

    private bool SseFloat(ref Op op)
    {
        if (!FpSource(ref op, op.Size, out V s)) return false;
        V d = _xmm[op.R0];
        Vector128<double> dd = d.AsDouble(), sd = s.AsDouble();
        Vector128<float> df = d.AsSingle(), sf = s.AsSingle();
        int pred = (int)(op.Imm & 7);
        _xmm[op.R0] = (FpOp)op.Cond switch
        {
            FpOp.Addsd => Sse2.AddScalar(dd, sd).AsByte(),
            FpOp.Subsd => Sse2.SubtractScalar(dd, sd).AsByte(),
            FpOp.Mulsd => Sse2.MultiplyScalar(dd, sd).AsByte(),
            FpOp.Divsd => Sse2.DivideScalar(dd, sd).AsByte(),
            FpOp.Minsd => Sse2.MinScalar(dd, sd).AsByte(),
            FpOp.Maxsd => Sse2.MaxScalar(dd, sd).AsByte(),
            FpOp.Sqrtsd => Sse2.SqrtScalar(dd, sd).AsByte(),
            FpOp.Addss => Sse.AddScalar(df, sf).AsByte(),
            FpOp.Subss => Sse.SubtractScalar(df, sf).AsByte(),
            FpOp.Mulss => Sse.MultiplyScalar(df, sf).AsByte(),
            FpOp.Divss => Sse.DivideScalar(df, sf).AsByte(),
            FpOp.Minss => Sse.MinScalar(df, sf).AsByte(),
            FpOp.Maxss => Sse.MaxScalar(df, sf).AsByte(),
            FpOp.Sqrtss => Sse.SqrtScalar(df, sf).AsByte(),
            FpOp.Addpd => Sse2.Add(dd, sd).AsByte(),
            FpOp.Subpd => Sse2.Subtract(dd, sd).AsByte(),
            FpOp.Mulpd => Sse2.Multiply(dd, sd).AsByte(),
            FpOp.Divpd => Sse2.Divide(dd, sd).AsByte(),
            FpOp.Minpd => Sse2.Min(dd, sd).AsByte(),
            FpOp.Maxpd => Sse2.Max(dd, sd).AsByte(),
            FpOp.Sqrtpd => Sse2.Sqrt(sd).AsByte(),
            FpOp.Addps => Sse.Add(df, sf).AsByte(),
            FpOp.Subps => Sse.Subtract(df, sf).AsByte(),
            FpOp.Mulps => Sse.Multiply(df, sf).AsByte(),
            FpOp.Divps => Sse.Divide(df, sf).AsByte(),
            FpOp.Minps => Sse.Min(df, sf).AsByte(),
            FpOp.Maxps => Sse.Max(df, sf).AsByte(),
            FpOp.Sqrtps => Sse.Sqrt(sf).AsByte(),
            FpOp.Cvtss2sd => Sse2.ConvertScalarToVector128Double(dd, sf).AsByte(),
            FpOp.Cvtsd2ss => Sse2.ConvertScalarToVector128Single(df, sd).AsByte(),
            FpOp.Cvtps2pd => Sse2.ConvertToVector128Double(sf).AsByte(),
            FpOp.Cvtpd2ps => Sse2.ConvertToVector128Single(sd).AsByte(),
            FpOp.Cvtdq2ps => Sse2.ConvertToVector128Single(s.AsInt32()).AsByte(),
            FpOp.Cvtdq2pd => Sse2.ConvertToVector128Double(s.AsInt32()).AsByte(),
            FpOp.Cvtps2dq => Sse2.ConvertToVector128Int32(sf).AsByte(),
            FpOp.Cvttps2dq => Sse2.ConvertToVector128Int32WithTruncation(sf).AsByte(),
            FpOp.Cvtpd2dq => Sse2.ConvertToVector128Int32(sd).AsByte(),
            FpOp.Cvttpd2dq => Sse2.ConvertToVector128Int32WithTruncation(sd).AsByte(),
            FpOp.Cmpsd => CompareScalarDouble(dd, sd, pred).AsByte(),
            FpOp.Cmpss => CompareScalarSingle(df, sf, pred).AsByte(),
            FpOp.Cmppd => ComparePackedDouble(dd, sd, pred).AsByte(),
            _ => ComparePackedSingle(df, sf, pred).AsByte(),
        };
        return true;
    }

    // The eight predicates of cmpXX imm8[2:0]: eq, lt, le, unord, neq, nlt, nle, ord.
    private static Vector128<double> CompareScalarDouble(Vector128<double> a, Vector128<double> b, int p) => p switch
    {
        0 => Sse2.CompareScalarEqual(a, b), 1 => Sse2.CompareScalarLessThan(a, b), 2 => Sse2.CompareScalarLessThanOrEqual(a, b),
        3 => Sse2.CompareScalarUnordered(a, b), 4 => Sse2.CompareScalarNotEqual(a, b), 5 => Sse2.CompareScalarNotLessThan(a, b),
        6 => Sse2.CompareScalarNotLessThanOrEqual(a, b), _ => Sse2.CompareScalarOrdered(a, b),
    };

    private static Vector128<float> CompareScalarSingle(Vector128<float> a, Vector128<float> b, int p) => p switch
    {
        0 => Sse.CompareScalarEqual(a, b), 1 => Sse.CompareScalarLessThan(a, b), 2 => Sse.CompareScalarLessThanOrEqual(a, b),
        3 => Sse.CompareScalarUnordered(a, b), 4 => Sse.CompareScalarNotEqual(a, b), 5 => Sse.CompareScalarNotLessThan(a, b),
        6 => Sse.CompareScalarNotLessThanOrEqual(a, b), _ => Sse.CompareScalarOrdered(a, b),
    };

    private static Vector128<double> ComparePackedDouble(Vector128<double> a, Vector128<double> b, int p) => p switch
    {
        0 => Sse2.CompareEqual(a, b), 1 => Sse2.CompareLessThan(a, b), 2 => Sse2.CompareLessThanOrEqual(a, b),
        3 => Sse2.CompareUnordered(a, b), 4 => Sse2.CompareNotEqual(a, b), 5 => Sse2.CompareNotLessThan(a, b),
        6 => Sse2.CompareNotLessThanOrEqual(a, b), _ => Sse2.CompareOrdered(a, b),
    };

    private static Vector128<float> ComparePackedSingle(Vector128<float> a, Vector128<float> b, int p) => p switch
    {
        0 => Sse.CompareEqual(a, b), 1 => Sse.CompareLessThan(a, b), 2 => Sse.CompareLessThanOrEqual(a, b),
        3 => Sse.CompareUnordered(a, b), 4 => Sse.CompareNotEqual(a, b), 5 => Sse.CompareNotLessThan(a, b),
        6 => Sse.CompareNotLessThanOrEqual(a, b), _ => Sse.CompareOrdered(a, b),
    };

    /// <summary>comisd/ucomisd/comiss/ucomiss (Cond bit 0: double): ZF PF CF = 111 unordered, 000
    /// greater, 001 less, 100 equal; OF SF AF cleared.</summary>
    private bool SseComi(ref Op op)
    {
        if (!FpSource(ref op, (op.Cond & 1) != 0 ? 8 : 4, out V s)) return false;
        double a, b;
        if ((op.Cond & 1) != 0) { a = _xmm[op.R0].AsDouble().ToScalar(); b = s.AsDouble().ToScalar(); }
        else { a = _xmm[op.R0].AsSingle().ToScalar(); b = s.AsSingle().ToScalar(); }
        ulong f = double.IsNaN(a) || double.IsNaN(b) ? FlagMath.ZF | FlagMath.PF | FlagMath.CF
            : a < b ? FlagMath.CF : a == b ? FlagMath.ZF : 0;
        SetStatusFlags(f);
        return true;
    }

    /// <summary>cvtsi2sd/cvtsi2ss xmm, r/m32|64 (Size = integer size; Cond bit 0: double): the low lane
    /// becomes the signed integer, rounded to nearest; the other lanes stay.</summary>
    private bool SseCvtIntToFp(ref Op op)
    {
        ulong v;
        if (op.Form == Form.RR) v = GetReg(op.R1, op.Size);
        else if (!Read(EA(ref op), op.Size, out v)) return false;
        V d = _xmm[op.R0];
        bool dbl = (op.Cond & 1) != 0;
        if (op.Size == 8)
            _xmm[op.R0] = dbl ? Sse2.X64.ConvertScalarToVector128Double(d.AsDouble(), (long)v).AsByte()
                : Sse.X64.ConvertScalarToVector128Single(d.AsSingle(), (long)v).AsByte();
        else
            _xmm[op.R0] = dbl ? Sse2.ConvertScalarToVector128Double(d.AsDouble(), (int)v).AsByte()
                : Sse.ConvertScalarToVector128Single(d.AsSingle(), (int)v).AsByte();
        return true;
    }

    /// <summary>cvt(t)sd2si/cvt(t)ss2si r32|64, xmm/m (Size = destination size; Cond bit 0: double
    /// source, bit 1: truncate). Out of range or NaN gives the integer indefinite (the sign bit alone).</summary>
    private bool SseCvtFpToInt(ref Op op)
    {
        if (!FpSource(ref op, op.Size2, out V s)) return false;
        bool dbl = (op.Cond & 1) != 0, trunc = (op.Cond & 2) != 0;
        ulong r;
        if (op.Size == 8)
            r = (ulong)(dbl ? (trunc ? Sse2.X64.ConvertToInt64WithTruncation(s.AsDouble()) : Sse2.X64.ConvertToInt64(s.AsDouble()))
                : (trunc ? Sse.X64.ConvertToInt64WithTruncation(s.AsSingle()) : Sse.X64.ConvertToInt64(s.AsSingle())));
        else
            r = (uint)(dbl ? (trunc ? Sse2.ConvertToInt32WithTruncation(s.AsDouble()) : Sse2.ConvertToInt32(s.AsDouble()))
                : (trunc ? Sse.ConvertToInt32WithTruncation(s.AsSingle()) : Sse.ConvertToInt32(s.AsSingle())));
        SetReg(op.R0, op.Size, r);
        return true;
    }
}
