using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using V = System.Runtime.Intrinsics.Vector128<byte>;

#pragma warning disable CA1857 // shift counts come from guest data, not constants

namespace Lab.Machine.Cpu;

/// <summary>
/// The SSE/SSE2 operations as pure functions of register values, one per instruction: the
/// interpreter's handlers (Sse.cs, SseFloat.cs) and compiled code (RegionCompiler.Sse.cs, which calls
/// them by name) run the same code, executed with the host's own SSE instructions, so results, NaN
/// propagation and rounding are the hardware's bit for bit. d is the destination's value, s the
/// source's (a memory source of 4 or 8 bytes has zero upper lanes).
/// </summary>
internal static class SseMath
{
    // --- lanes ---------------------------------------------------------------------------------

    /// <summary>A register whose low quadword is <paramref name="lo"/>, the rest zero (movq, movsd load).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V FromLow64(ulong lo) => Vector128.CreateScalar(lo).AsByte();

    /// <summary>A register whose low doubleword is <paramref name="lo"/>, the rest zero (movss load).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V FromLow32(uint lo) => Vector128.CreateScalar(lo).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Low64(V v) => v.AsUInt64().ToScalar();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong High64(V v) => v.AsUInt64().GetElement(1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Low32(V v) => v.AsUInt32().ToScalar();

    /// <summary>pmovmskb / movmskps / movmskpd: the sign bit of each byte, doubleword or quadword, zero-extended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Pmovmskb(V s) => s.ExtractMostSignificantBits();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Movmskps(V s) => s.AsUInt32().ExtractMostSignificantBits();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Movmskpd(V s) => s.AsUInt64().ExtractMostSignificantBits();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V WithLow64(V d, ulong m) => d.AsUInt64().WithElement(0, m).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V WithHigh64(V d, ulong m) => d.AsUInt64().WithElement(1, m).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V WithLow32(V d, uint m) => d.AsUInt32().WithElement(0, m).AsByte();

    /// <summary>pinsrw: <paramref name="d"/> with word <paramref name="index"/> (0-7) replaced by the low 16 bits of <paramref name="w"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V Pinsrw(V d, ulong w, int index) => d.AsUInt16().WithElement(index & 7, (ushort)w).AsByte();

    /// <summary>pextrw: word <paramref name="index"/> (0-7) of <paramref name="s"/>, zero-extended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Pextrw(V s, int index) => s.AsUInt16().GetElement(index & 7);

    // --- floating point (FpOp): scalar and packed arithmetic, conversions --------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Addsd(V d, V s) => Sse2.AddScalar(d.AsDouble(), s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Subsd(V d, V s) => Sse2.SubtractScalar(d.AsDouble(), s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Mulsd(V d, V s) => Sse2.MultiplyScalar(d.AsDouble(), s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Divsd(V d, V s) => Sse2.DivideScalar(d.AsDouble(), s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Minsd(V d, V s) => Sse2.MinScalar(d.AsDouble(), s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Maxsd(V d, V s) => Sse2.MaxScalar(d.AsDouble(), s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Sqrtsd(V d, V s) => Sse2.SqrtScalar(d.AsDouble(), s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Addss(V d, V s) => Sse.AddScalar(d.AsSingle(), s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Subss(V d, V s) => Sse.SubtractScalar(d.AsSingle(), s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Mulss(V d, V s) => Sse.MultiplyScalar(d.AsSingle(), s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Divss(V d, V s) => Sse.DivideScalar(d.AsSingle(), s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Minss(V d, V s) => Sse.MinScalar(d.AsSingle(), s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Maxss(V d, V s) => Sse.MaxScalar(d.AsSingle(), s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Sqrtss(V d, V s) => Sse.SqrtScalar(d.AsSingle(), s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Addpd(V d, V s) => FirstNaN(d.AsDouble(), Sse2.Add(d.AsDouble(), s.AsDouble())).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Subpd(V d, V s) => Sse2.Subtract(d.AsDouble(), s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Mulpd(V d, V s) => FirstNaN(d.AsDouble(), Sse2.Multiply(d.AsDouble(), s.AsDouble())).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Divpd(V d, V s) => Sse2.Divide(d.AsDouble(), s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Minpd(V d, V s) => Sse2.Min(d.AsDouble(), s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Maxpd(V d, V s) => Sse2.Max(d.AsDouble(), s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Sqrtpd(V d, V s) => Sse2.Sqrt(s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Addps(V d, V s) => FirstNaN(d.AsSingle(), Sse.Add(d.AsSingle(), s.AsSingle())).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Subps(V d, V s) => Sse.Subtract(d.AsSingle(), s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Mulps(V d, V s) => FirstNaN(d.AsSingle(), Sse.Multiply(d.AsSingle(), s.AsSingle())).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Divps(V d, V s) => Sse.Divide(d.AsSingle(), s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Minps(V d, V s) => Sse.Min(d.AsSingle(), s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Maxps(V d, V s) => Sse.Max(d.AsSingle(), s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Sqrtps(V d, V s) => Sse.Sqrt(s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Cvtss2sd(V d, V s) => Sse2.ConvertScalarToVector128Double(d.AsDouble(), s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Cvtsd2ss(V d, V s) => Sse2.ConvertScalarToVector128Single(d.AsSingle(), s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Cvtps2pd(V d, V s) => Sse2.ConvertToVector128Double(s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Cvtpd2ps(V d, V s) => Sse2.ConvertToVector128Single(s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Cvtdq2ps(V d, V s) => Sse2.ConvertToVector128Single(s.AsInt32()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Cvtdq2pd(V d, V s) => Sse2.ConvertToVector128Double(s.AsInt32()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Cvtps2dq(V d, V s) => Sse2.ConvertToVector128Int32(s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Cvttps2dq(V d, V s) => Sse2.ConvertToVector128Int32WithTruncation(s.AsSingle()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Cvtpd2dq(V d, V s) => Sse2.ConvertToVector128Int32(s.AsDouble()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Cvttpd2dq(V d, V s) => Sse2.ConvertToVector128Int32WithTruncation(s.AsDouble()).AsByte();

    /// <summary>
    /// A packed add or multiply's result r with x86's NaN rule restored: where the first operand d is a
    /// NaN, the result is d made quiet. RyuJIT treats packed add and multiply as commutative and may
    /// emit them with the operands swapped (to fold a memory operand), which only changes the result
    /// where both lanes are NaNs with different payloads; this puts the first operand's back.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<double> FirstNaN(Vector128<double> d, Vector128<double> r)
    {
        var nan = Sse2.CompareUnordered(d, d);
        var quiet = Sse2.Or(d, Vector128.Create(0x0008_0000_0000_0000UL).AsDouble());
        return Sse2.Or(Sse2.And(nan, quiet), Sse2.AndNot(nan, r));
    }

    /// <summary>FirstNaN for single-precision lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> FirstNaN(Vector128<float> d, Vector128<float> r)
    {
        var nan = Sse.CompareUnordered(d, d);
        var quiet = Sse.Or(d, Vector128.Create(0x0040_0000u).AsSingle());
        return Sse.Or(Sse.And(nan, quiet), Sse.AndNot(nan, r));
    }

    /// <summary>cmpsd/cmpss/cmppd/cmpps with predicate imm8[2:0]: eq, lt, le, unord, neq, nlt, nle, ord.</summary>
    public static V Cmpsd(V d, V s, int pred) => CompareScalarDouble(d.AsDouble(), s.AsDouble(), pred).AsByte();
    public static V Cmpss(V d, V s, int pred) => CompareScalarSingle(d.AsSingle(), s.AsSingle(), pred).AsByte();
    public static V Cmppd(V d, V s, int pred) => ComparePackedDouble(d.AsDouble(), s.AsDouble(), pred).AsByte();
    public static V Cmpps(V d, V s, int pred) => ComparePackedSingle(d.AsSingle(), s.AsSingle(), pred).AsByte();

    /// <summary>The interpreter's dispatch: FpOp <paramref name="op"/> on d and s (pred for the compares).</summary>
    public static V Float(FpOp op, V d, V s, int pred) => op switch
    {
        FpOp.Addsd => Addsd(d, s),
        FpOp.Subsd => Subsd(d, s),
        FpOp.Mulsd => Mulsd(d, s),
        FpOp.Divsd => Divsd(d, s),
        FpOp.Minsd => Minsd(d, s),
        FpOp.Maxsd => Maxsd(d, s),
        FpOp.Sqrtsd => Sqrtsd(d, s),
        FpOp.Addss => Addss(d, s),
        FpOp.Subss => Subss(d, s),
        FpOp.Mulss => Mulss(d, s),
        FpOp.Divss => Divss(d, s),
        FpOp.Minss => Minss(d, s),
        FpOp.Maxss => Maxss(d, s),
        FpOp.Sqrtss => Sqrtss(d, s),
        FpOp.Addpd => Addpd(d, s),
        FpOp.Subpd => Subpd(d, s),
        FpOp.Mulpd => Mulpd(d, s),
        FpOp.Divpd => Divpd(d, s),
        FpOp.Minpd => Minpd(d, s),
        FpOp.Maxpd => Maxpd(d, s),
        FpOp.Sqrtpd => Sqrtpd(d, s),
        FpOp.Addps => Addps(d, s),
        FpOp.Subps => Subps(d, s),
        FpOp.Mulps => Mulps(d, s),
        FpOp.Divps => Divps(d, s),
        FpOp.Minps => Minps(d, s),
        FpOp.Maxps => Maxps(d, s),
        FpOp.Sqrtps => Sqrtps(d, s),
        FpOp.Cvtss2sd => Cvtss2sd(d, s),
        FpOp.Cvtsd2ss => Cvtsd2ss(d, s),
        FpOp.Cvtps2pd => Cvtps2pd(d, s),
        FpOp.Cvtpd2ps => Cvtpd2ps(d, s),
        FpOp.Cvtdq2ps => Cvtdq2ps(d, s),
        FpOp.Cvtdq2pd => Cvtdq2pd(d, s),
        FpOp.Cvtps2dq => Cvtps2dq(d, s),
        FpOp.Cvttps2dq => Cvttps2dq(d, s),
        FpOp.Cvtpd2dq => Cvtpd2dq(d, s),
        FpOp.Cvttpd2dq => Cvttpd2dq(d, s),
        FpOp.Cmpsd => Cmpsd(d, s, pred),
        FpOp.Cmpss => Cmpss(d, s, pred),
        FpOp.Cmppd => Cmppd(d, s, pred),
        _ => Cmpps(d, s, pred),
    };

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

    /// <summary>comisd/ucomisd/comiss/ucomiss on the low lanes: ZF PF CF = 111 unordered, 000 greater,
    /// 001 less, 100 equal; OF SF AF cleared.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ComiFlags(V d, V s, bool dbl)
    {
        double a, b;
        if (dbl) { a = d.AsDouble().ToScalar(); b = s.AsDouble().ToScalar(); }
        else { a = d.AsSingle().ToScalar(); b = s.AsSingle().ToScalar(); }
        return double.IsNaN(a) || double.IsNaN(b) ? FlagMath.ZF | FlagMath.PF | FlagMath.CF
            : a < b ? FlagMath.CF : a == b ? FlagMath.ZF : 0;
    }

    /// <summary>cvtsi2sd/cvtsi2ss: the low lane of d becomes the signed <paramref name="size"/>-byte
    /// integer <paramref name="v"/>, rounded to nearest; the other lanes stay.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V IntToFp(V d, ulong v, int size, bool dbl)
    {
        if (size == 8)
            return dbl ? Sse2.X64.ConvertScalarToVector128Double(d.AsDouble(), (long)v).AsByte()
                : Sse.X64.ConvertScalarToVector128Single(d.AsSingle(), (long)v).AsByte();
        return dbl ? Sse2.ConvertScalarToVector128Double(d.AsDouble(), (int)v).AsByte()
            : Sse.ConvertScalarToVector128Single(d.AsSingle(), (int)v).AsByte();
    }

    /// <summary>cvt(t)sd2si/cvt(t)ss2si to a <paramref name="size"/>-byte integer (zero-extended); out of
    /// range or NaN gives the integer indefinite (the sign bit alone).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong FpToInt(V s, int size, bool dbl, bool trunc)
    {
        if (size == 8)
            return (ulong)(dbl ? (trunc ? Sse2.X64.ConvertToInt64WithTruncation(s.AsDouble()) : Sse2.X64.ConvertToInt64(s.AsDouble()))
                : (trunc ? Sse.X64.ConvertToInt64WithTruncation(s.AsSingle()) : Sse.X64.ConvertToInt64(s.AsSingle())));
        return (uint)(dbl ? (trunc ? Sse2.ConvertToInt32WithTruncation(s.AsDouble()) : Sse2.ConvertToInt32(s.AsDouble()))
            : (trunc ? Sse.ConvertToInt32WithTruncation(s.AsSingle()) : Sse.ConvertToInt32(s.AsSingle())));
    }

    // --- integer and logic (SseOp) -------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pxor(V d, V s) => d ^ s;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pand(V d, V s) => d & s;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pandn(V d, V s) => ~d & s;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Por(V d, V s) => d | s;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Paddb(V d, V s) => d + s;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Paddw(V d, V s) => (d.AsUInt16() + s.AsUInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Paddd(V d, V s) => (d.AsUInt32() + s.AsUInt32()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Paddq(V d, V s) => (d.AsUInt64() + s.AsUInt64()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psubb(V d, V s) => d - s;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psubw(V d, V s) => (d.AsUInt16() - s.AsUInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psubd(V d, V s) => (d.AsUInt32() - s.AsUInt32()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psubq(V d, V s) => (d.AsUInt64() - s.AsUInt64()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Paddsb(V d, V s) => Sse2.AddSaturate(d.AsSByte(), s.AsSByte()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Paddsw(V d, V s) => Sse2.AddSaturate(d.AsInt16(), s.AsInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Paddusb(V d, V s) => Sse2.AddSaturate(d, s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Paddusw(V d, V s) => Sse2.AddSaturate(d.AsUInt16(), s.AsUInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psubsb(V d, V s) => Sse2.SubtractSaturate(d.AsSByte(), s.AsSByte()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psubsw(V d, V s) => Sse2.SubtractSaturate(d.AsInt16(), s.AsInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psubusb(V d, V s) => Sse2.SubtractSaturate(d, s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psubusw(V d, V s) => Sse2.SubtractSaturate(d.AsUInt16(), s.AsUInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pcmpeqb(V d, V s) => Vector128.Equals(d, s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pcmpeqw(V d, V s) => Vector128.Equals(d.AsUInt16(), s.AsUInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pcmpeqd(V d, V s) => Vector128.Equals(d.AsUInt32(), s.AsUInt32()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pcmpgtb(V d, V s) => Vector128.GreaterThan(d.AsSByte(), s.AsSByte()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pcmpgtw(V d, V s) => Vector128.GreaterThan(d.AsInt16(), s.AsInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pcmpgtd(V d, V s) => Vector128.GreaterThan(d.AsInt32(), s.AsInt32()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pminub(V d, V s) => Vector128.Min(d, s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pmaxub(V d, V s) => Vector128.Max(d, s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pminsw(V d, V s) => Vector128.Min(d.AsInt16(), s.AsInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pmaxsw(V d, V s) => Vector128.Max(d.AsInt16(), s.AsInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pavgb(V d, V s) => Sse2.Average(d, s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pavgw(V d, V s) => Sse2.Average(d.AsUInt16(), s.AsUInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pmullw(V d, V s) => (d.AsInt16() * s.AsInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pmulhw(V d, V s) => Sse2.MultiplyHigh(d.AsInt16(), s.AsInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pmulhuw(V d, V s) => Sse2.MultiplyHigh(d.AsUInt16(), s.AsUInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pmuludq(V d, V s) => Sse2.Multiply(d.AsUInt32(), s.AsUInt32()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pmaddwd(V d, V s) => Sse2.MultiplyAddAdjacent(d.AsInt16(), s.AsInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psadbw(V d, V s) => Sse2.SumAbsoluteDifferences(d, s).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Punpcklbw(V d, V s) => Sse2.UnpackLow(d, s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Punpcklwd(V d, V s) => Sse2.UnpackLow(d.AsUInt16(), s.AsUInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Punpckldq(V d, V s) => Sse2.UnpackLow(d.AsUInt32(), s.AsUInt32()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Punpcklqdq(V d, V s) => Sse2.UnpackLow(d.AsUInt64(), s.AsUInt64()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Punpckhbw(V d, V s) => Sse2.UnpackHigh(d, s);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Punpckhwd(V d, V s) => Sse2.UnpackHigh(d.AsUInt16(), s.AsUInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Punpckhdq(V d, V s) => Sse2.UnpackHigh(d.AsUInt32(), s.AsUInt32()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Punpckhqdq(V d, V s) => Sse2.UnpackHigh(d.AsUInt64(), s.AsUInt64()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Packsswb(V d, V s) => Sse2.PackSignedSaturate(d.AsInt16(), s.AsInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Packssdw(V d, V s) => Sse2.PackSignedSaturate(d.AsInt32(), s.AsInt32()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Packuswb(V d, V s) => Sse2.PackUnsignedSaturate(d.AsInt16(), s.AsInt16());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psllw(V d, V s) => Sse2.ShiftLeftLogical(d.AsUInt16(), s.AsUInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Pslld(V d, V s) => Sse2.ShiftLeftLogical(d.AsUInt32(), s.AsUInt32()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psllq(V d, V s) => Sse2.ShiftLeftLogical(d.AsUInt64(), s.AsUInt64()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psrlw(V d, V s) => Sse2.ShiftRightLogical(d.AsUInt16(), s.AsUInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psrld(V d, V s) => Sse2.ShiftRightLogical(d.AsUInt32(), s.AsUInt32()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psrlq(V d, V s) => Sse2.ShiftRightLogical(d.AsUInt64(), s.AsUInt64()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psraw(V d, V s) => Sse2.ShiftRightArithmetic(d.AsInt16(), s.AsInt16()).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V Psrad(V d, V s) => Sse2.ShiftRightArithmetic(d.AsInt32(), s.AsInt32()).AsByte();

    /// <summary>The interpreter's dispatch: SseOp <paramref name="sub"/> on d and s.</summary>
    public static V Binary(SseOp sub, V d, V s) => sub switch
    {
        SseOp.Pxor => Pxor(d, s),
        SseOp.Pand => Pand(d, s),
        SseOp.Pandn => Pandn(d, s),
        SseOp.Por => Por(d, s),
        SseOp.Paddb => Paddb(d, s),
        SseOp.Paddw => Paddw(d, s),
        SseOp.Paddd => Paddd(d, s),
        SseOp.Paddq => Paddq(d, s),
        SseOp.Psubb => Psubb(d, s),
        SseOp.Psubw => Psubw(d, s),
        SseOp.Psubd => Psubd(d, s),
        SseOp.Psubq => Psubq(d, s),
        SseOp.Paddsb => Paddsb(d, s),
        SseOp.Paddsw => Paddsw(d, s),
        SseOp.Paddusb => Paddusb(d, s),
        SseOp.Paddusw => Paddusw(d, s),
        SseOp.Psubsb => Psubsb(d, s),
        SseOp.Psubsw => Psubsw(d, s),
        SseOp.Psubusb => Psubusb(d, s),
        SseOp.Psubusw => Psubusw(d, s),
        SseOp.Pcmpeqb => Pcmpeqb(d, s),
        SseOp.Pcmpeqw => Pcmpeqw(d, s),
        SseOp.Pcmpeqd => Pcmpeqd(d, s),
        SseOp.Pcmpgtb => Pcmpgtb(d, s),
        SseOp.Pcmpgtw => Pcmpgtw(d, s),
        SseOp.Pcmpgtd => Pcmpgtd(d, s),
        SseOp.Pminub => Pminub(d, s),
        SseOp.Pmaxub => Pmaxub(d, s),
        SseOp.Pminsw => Pminsw(d, s),
        SseOp.Pmaxsw => Pmaxsw(d, s),
        SseOp.Pavgb => Pavgb(d, s),
        SseOp.Pavgw => Pavgw(d, s),
        SseOp.Pmullw => Pmullw(d, s),
        SseOp.Pmulhw => Pmulhw(d, s),
        SseOp.Pmulhuw => Pmulhuw(d, s),
        SseOp.Pmuludq => Pmuludq(d, s),
        SseOp.Pmaddwd => Pmaddwd(d, s),
        SseOp.Psadbw => Psadbw(d, s),
        SseOp.Punpcklbw => Punpcklbw(d, s),
        SseOp.Punpcklwd => Punpcklwd(d, s),
        SseOp.Punpckldq => Punpckldq(d, s),
        SseOp.Punpcklqdq => Punpcklqdq(d, s),
        SseOp.Punpckhbw => Punpckhbw(d, s),
        SseOp.Punpckhwd => Punpckhwd(d, s),
        SseOp.Punpckhdq => Punpckhdq(d, s),
        SseOp.Punpckhqdq => Punpckhqdq(d, s),
        SseOp.Packsswb => Packsswb(d, s),
        SseOp.Packssdw => Packssdw(d, s),
        SseOp.Packuswb => Packuswb(d, s),
        SseOp.Psllw => Psllw(d, s),
        SseOp.Pslld => Pslld(d, s),
        SseOp.Psllq => Psllq(d, s),
        SseOp.Psrlw => Psrlw(d, s),
        SseOp.Psrld => Psrld(d, s),
        SseOp.Psrlq => Psrlq(d, s),
        SseOp.Psraw => Psraw(d, s),
        SseOp.Psrad => Psrad(d, s),
        _ => throw new InvalidOperationException($"SSE binary op {sub}"),
    };

    // --- by an immediate (SseShiftImm, SseShuffle): one function per op, so that compiled code, which
    // calls them with a constant, gets the one host instruction with that immediate. ---------------

    /// <summary>Shifts by an immediate count: counts past the element width give 0 (or the sign for psra).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PsllwImm(V d, byte n) => n > 15 ? V.Zero : Sse2.ShiftLeftLogical(d.AsUInt16(), n).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PslldImm(V d, byte n) => n > 31 ? V.Zero : Sse2.ShiftLeftLogical(d.AsUInt32(), n).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PsllqImm(V d, byte n) => n > 63 ? V.Zero : Sse2.ShiftLeftLogical(d.AsUInt64(), n).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PsrlwImm(V d, byte n) => n > 15 ? V.Zero : Sse2.ShiftRightLogical(d.AsUInt16(), n).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PsrldImm(V d, byte n) => n > 31 ? V.Zero : Sse2.ShiftRightLogical(d.AsUInt32(), n).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PsrlqImm(V d, byte n) => n > 63 ? V.Zero : Sse2.ShiftRightLogical(d.AsUInt64(), n).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PsrawImm(V d, byte n) => Sse2.ShiftRightArithmetic(d.AsInt16(), Math.Min(n, (byte)15)).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PsradImm(V d, byte n) => Sse2.ShiftRightArithmetic(d.AsInt32(), Math.Min(n, (byte)31)).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PslldqImm(V d, byte n) => n > 15 ? V.Zero : Sse2.ShiftLeftLogical128BitLane(d, n);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PsrldqImm(V d, byte n) => n > 15 ? V.Zero : Sse2.ShiftRightLogical128BitLane(d, n);

    /// <summary>The interpreter's dispatch: SseOp <paramref name="sub"/> by the immediate <paramref name="n"/>.</summary>
    public static V ShiftImm(SseOp sub, V d, byte n) => sub switch
    {
        SseOp.Psllw => PsllwImm(d, n),
        SseOp.Pslld => PslldImm(d, n),
        SseOp.Psllq => PsllqImm(d, n),
        SseOp.Psrlw => PsrlwImm(d, n),
        SseOp.Psrld => PsrldImm(d, n),
        SseOp.Psrlq => PsrlqImm(d, n),
        SseOp.Psraw => PsrawImm(d, n),
        SseOp.Psrad => PsradImm(d, n),
        SseOp.Pslldq => PslldqImm(d, n),
        _ => PsrldqImm(d, n),
    };

    /// <summary>pshufd/pshuflw/pshufhw (lanes of s) and shufps/shufpd (lanes of d, then of s) by imm8: data movement only, so the float forms are exact on any bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PshufdImm(V d, V s, byte imm) => Sse2.Shuffle(s.AsUInt32(), imm).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PshuflwImm(V d, V s, byte imm) => Sse2.ShuffleLow(s.AsUInt16(), imm).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V PshufhwImm(V d, V s, byte imm) => Sse2.ShuffleHigh(s.AsUInt16(), imm).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V ShufpsImm(V d, V s, byte imm) => Sse.Shuffle(d.AsSingle(), s.AsSingle(), imm).AsByte();
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V ShufpdImm(V d, V s, byte imm) => Sse2.Shuffle(d.AsDouble(), s.AsDouble(), imm).AsByte();

    /// <summary>The interpreter's dispatch: shuffle <paramref name="sub"/> with imm8.</summary>
    public static V Shuffle(SseOp sub, V d, V s, byte imm) => sub switch
    {
        SseOp.Pshufd => PshufdImm(d, s, imm),
        SseOp.Pshuflw => PshuflwImm(d, s, imm),
        SseOp.Pshufhw => PshufhwImm(d, s, imm),
        SseOp.Shufps => ShufpsImm(d, s, imm),
        _ => ShufpdImm(d, s, imm),
    };
}
