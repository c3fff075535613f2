using System.Numerics;
using System.Runtime.CompilerServices;

namespace Lab.Machine.Cpu;

/// <summary>The x87 status-word bits the arithmetic reports (the exceptions, stack fault and C0-C3).</summary>
internal static class X87Sw
{
    public const ushort IE = 0x0001, DE = 0x0002, ZE = 0x0004, OE = 0x0008, UE = 0x0010, PE = 0x0020;
    public const ushort SF = 0x0040, ES = 0x0080, C0 = 0x0100, C1 = 0x0200, C2 = 0x0400, C3 = 0x4000, B = 0x8000;
    public const ushort Exceptions = 0x003F;
    public const ushort ConditionCodes = C0 | C1 | C2 | C3;
}

/// <summary>The four rounding-control modes (control word bits 10-11).</summary>
internal enum FpRound : byte { Nearest = 0, Down = 1, Up = 2, Zero = 3 }

/// <summary>What FXAM and the operand checks see in an 80-bit register.</summary>
internal enum FpClass : byte { Zero, Normal, Denormal, Infinity, QNaN, SNaN, Unsupported }

/// <summary>
/// The x87's 80-bit extended format as a value: sign and 15-bit biased exponent in <see cref="SignExp"/>,
/// a 64-bit significand with an explicit integer bit in <see cref="Mant"/>. Every operation is a pure
/// static function of its operands, the rounding mode and precision, and ORs the exceptions it raises
/// (with C1 set when a result was rounded up in magnitude) into a status accumulator in x87 status-word
/// layout (<see cref="X87Sw"/>). The arithmetic is exact soft-float (IEEE 754 with the x87's choices:
/// tininess after rounding, the larger significand wins among NaNs, the indefinite QNaN on invalid
/// operations), never the host's double. Results are the masked responses of the x87.
/// Split: Float80.cs (format, classification, rounding and packing, conversions),
/// Float80.Arith.cs (add, multiply, divide, square root, compare, remainders, scale, round to integer),
/// Float80.Transcendental.cs (the x87's transcendental instructions).
/// </summary>
internal readonly partial struct Float80 : IEquatable<Float80>
{
    public readonly ulong Mant;
    public readonly ushort SignExp;

    public const int Bias = 16383;
    /// <summary>Unbiased exponent range of normal numbers.</summary>
    public const int EMin = -16382, EMax = 16383;
    private const ulong IntBit = 0x8000_0000_0000_0000UL, QuietBit = 0x4000_0000_0000_0000UL;

    public Float80(ushort signExp, ulong mant) { SignExp = signExp; Mant = mant; }

    public static Float80 Zero(bool negative) => new(negative ? (ushort)0x8000 : (ushort)0, 0);
    public static Float80 Infinity(bool negative) => new((ushort)(negative ? 0xFFFF : 0x7FFF), IntBit);
    /// <summary>The QNaN the x87 produces for an invalid operation (and loads for a stack fault).</summary>
    public static Float80 Indefinite => new(0xFFFF, 0xC000_0000_0000_0000UL);
    public static Float80 One => new(Bias, IntBit);

    public bool Sign => (SignExp & 0x8000) != 0;
    public int BiasedExp => SignExp & 0x7FFF;
    public Float80 Negate() => new((ushort)(SignExp ^ 0x8000), Mant);
    public Float80 Abs() => new((ushort)(SignExp & 0x7FFF), Mant);
    public Float80 WithSign(bool negative) => new((ushort)((SignExp & 0x7FFF) | (negative ? 0x8000 : 0)), Mant);
    public bool IsNaN => Class is FpClass.QNaN or FpClass.SNaN;
    public bool IsZero => (SignExp & 0x7FFF) == 0 && Mant == 0;
    public Float80 Quiet() => new(SignExp, Mant | QuietBit);

    public bool Equals(Float80 o) => Mant == o.Mant && SignExp == o.SignExp;
    public override bool Equals(object? obj) => obj is Float80 f && Equals(f);
    public override int GetHashCode() => HashCode.Combine(Mant, SignExp);
    public override string ToString() => $"{SignExp:x4}:{Mant:x16}";

    /// <summary>The class of the encoding. Unnormals, pseudo-NaNs and pseudo-infinities (an exponent
    /// other than 0 with the integer bit clear) are unsupported on the 387 and later; a pseudo-denormal
    /// (exponent 0, integer bit set) counts as a denormal.</summary>
    public FpClass Class
    {
        get
        {
            int e = SignExp & 0x7FFF;
            if (e == 0) return Mant == 0 ? FpClass.Zero : FpClass.Denormal;
            if ((Mant & IntBit) == 0) return FpClass.Unsupported;
            if (e != 0x7FFF) return FpClass.Normal;
            if ((Mant << 1) == 0) return FpClass.Infinity;
            return (Mant & QuietBit) != 0 ? FpClass.QNaN : FpClass.SNaN;
        }
    }

    /// <summary>A finite non-zero value as sign · sig · 2^(e-63) with sig normalised (bit 63 set).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Unpack(out bool sign, out int e, out ulong sig)
    {
        sign = Sign;
        int be = SignExp & 0x7FFF;
        sig = Mant;
        if (be == 0)
        {
            // denormal or pseudo-denormal: the exponent of the smallest normal
            int lz = BitOperations.LeadingZeroCount(sig);
            sig <<= lz;
            e = EMin - lz;
        }
        else e = be - Bias;
    }

    /// <summary>Packs an exactly representable finite value (sig normalised, or zero) without rounding;
    /// values below the normal range become denormals (the caller guarantees no bits are lost).</summary>
    private static Float80 PackExact(bool sign, int e, ulong sig)
    {
        ushort s = sign ? (ushort)0x8000 : (ushort)0;
        if (sig == 0) return new(s, 0);
        if (e < EMin) return new(s, sig >> (EMin - e));
        return new((ushort)(s | (e + Bias)), sig);
    }

    // ------------------------------------------------------------------------------------------
    // Rounding.

    /// <summary>
    /// Rounds sign · (sig + extra/2^64) · 2^(e-63) to <paramref name="prec"/> significant bits in the
    /// exponent range [<paramref name="emin"/>, <paramref name="emax"/>] under <paramref name="rc"/>.
    /// sig is normalised unless the value is zero. On return e and the result significand describe the
    /// rounded value (normalised, or at e = emin with leading zeros for a denormal); overflow is true when
    /// the rounded value exceeds the range (the caller picks infinity or the largest finite value).
    /// Raises PE when inexact, UE when tiny (after rounding) and inexact, C1 when rounded up.
    /// </summary>
    public static ulong RoundSig(bool sign, ref int e, ulong sig, ulong extra, int prec, int emin, int emax,
        FpRound rc, ref ushort fl, out bool overflow)
    {
        overflow = false;
        if (sig == 0 && extra == 0) return 0;
        UInt128 v = ((UInt128)sig << 64) | extra;
        int k = 128 - prec;
        bool tiny = false;
        if (e < emin)
        {
            tiny = true;
            int d = emin - e;
            // Tininess after rounding: the value rounded with an unbounded exponent still below 2^emin.
            if (d == 1 && (sig >> (64 - prec)) == (prec == 64 ? ulong.MaxValue : (1UL << prec) - 1)
                && RoundsUp(v & ((UInt128.One << k) - 1), k, (ulong)(v >> k), sign, rc))
                tiny = false;
            v = d >= 128 ? (v != 0 ? UInt128.One : UInt128.Zero) : ShiftRightJam(v, d);
            e = emin;
        }
        UInt128 low = v & ((UInt128.One << k) - 1);
        ulong keep = (ulong)(v >> k);
        bool inc = RoundsUp(low, k, keep, sign, rc);
        if (low != 0)
        {
            fl |= X87Sw.PE;
            if (tiny) fl |= X87Sw.UE;
            if (inc) fl |= X87Sw.C1;
        }
        if (inc)
        {
            keep++;
            if (prec < 64 ? (keep >> prec) != 0 : keep == 0)
            {
                keep = 1UL << (prec - 1);
                e++;
            }
        }
        if (e > emax) overflow = true;
        return keep << (64 - prec);
    }

    /// <summary>Whether dropping <paramref name="low"/> (the k bits below the kept ones) rounds the
    /// kept magnitude up.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool RoundsUp(UInt128 low, int k, ulong keep, bool sign, FpRound rc)
    {
        if (low == 0) return false;
        switch (rc)
        {
            case FpRound.Nearest:
                UInt128 half = UInt128.One << (k - 1);
                return low > half || (low == half && (keep & 1) != 0);
            case FpRound.Down: return sign;
            case FpRound.Up: return !sign;
            default: return false;
        }
    }

    /// <summary>Shifts right by <paramref name="n"/> (1..127), ORing every bit shifted out into bit 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static UInt128 ShiftRightJam(UInt128 v, int n)
    {
        if (n <= 0) return v;
        if (n >= 128) return v != 0 ? UInt128.One : UInt128.Zero;
        UInt128 r = v >> n;
        if ((v << (128 - n)) != 0) r |= 1;
        return r;
    }

    /// <summary>Whether an overflowing result becomes infinity (else the largest finite value).</summary>
    private static bool OverflowsToInfinity(bool sign, FpRound rc) =>
        rc == FpRound.Nearest || (rc == FpRound.Down && sign) || (rc == FpRound.Up && !sign);

    /// <summary>Rounds and packs an extended result at precision 64, 53 or 24 (the control word's PC);
    /// the exponent range stays the extended one. Masked overflow gives infinity or the largest value.</summary>
    public static Float80 RoundPack(bool sign, int e, ulong sig, ulong extra, int prec, FpRound rc, ref ushort fl)
    {
        ulong r = RoundSig(sign, ref e, sig, extra, prec, EMin, EMax, rc, ref fl, out bool overflow);
        ushort s = sign ? (ushort)0x8000 : (ushort)0;
        if (overflow)
        {
            fl |= X87Sw.OE | X87Sw.PE;
            if (OverflowsToInfinity(sign, rc)) { fl |= X87Sw.C1; return Infinity(sign); }
            fl &= unchecked((ushort)~X87Sw.C1);
            return new((ushort)(s | 0x7FFE), prec == 64 ? ulong.MaxValue : ~((1UL << (64 - prec)) - 1));
        }
        if (r == 0) return new(s, 0);
        if ((r & IntBit) == 0) return new(s, r);         // denormal: exponent field 0
        return new((ushort)(s | (e + Bias)), r);
    }

    /// <summary>The precision (24, 53 or 64 bits) selected by a control word's PC field (1 is reserved: 64).</summary>
    public static int Precision(ushort cw) => ((cw >> 8) & 3) switch { 0 => 24, 2 => 53, _ => 64 };

    public static FpRound Rounding(ushort cw) => (FpRound)((cw >> 10) & 3);

    // ------------------------------------------------------------------------------------------
    // NaN operands.

    /// <summary>The result of an operation with a NaN or unsupported operand (at least one of them is):
    /// unsupported operands and SNaNs raise IE; an unsupported operand gives the indefinite; an SNaN
    /// loses to a QNaN, otherwise the larger significand wins (then the positive one), quieted.</summary>
    public static Float80 PropagateNaN(Float80 a, Float80 b, ref ushort fl)
    {
        FpClass ca = a.Class, cb = b.Class;
        if (ca == FpClass.Unsupported || cb == FpClass.Unsupported) { fl |= X87Sw.IE; return Indefinite; }
        bool na = ca is FpClass.QNaN or FpClass.SNaN, nb = cb is FpClass.QNaN or FpClass.SNaN;
        if (ca == FpClass.SNaN || cb == FpClass.SNaN) fl |= X87Sw.IE;
        if (na && nb)
        {
            if (ca == FpClass.SNaN && cb == FpClass.QNaN) return b;
            if (cb == FpClass.SNaN && ca == FpClass.QNaN) return a;
            ulong ma = a.Mant | QuietBit, mb = b.Mant | QuietBit;
            if (ma != mb) return ma > mb ? a.Quiet() : b.Quiet();
            return a.SignExp < b.SignExp ? a.Quiet() : b.Quiet();
        }
        return na ? a.Quiet() : b.Quiet();
    }

    /// <summary>The one-operand form: an SNaN is quieted with IE, an unsupported operand gives the indefinite.</summary>
    public static Float80 PropagateNaN(Float80 a, ref ushort fl)
    {
        FpClass c = a.Class;
        if (c == FpClass.Unsupported) { fl |= X87Sw.IE; return Indefinite; }
        if (c == FpClass.SNaN) fl |= X87Sw.IE;
        return a.Quiet();
    }

    // ------------------------------------------------------------------------------------------
    // Conversions.

    /// <summary>FLD m64: exact; a denormal raises DE, an SNaN is quieted with IE. With
    /// <paramref name="keepSignalling"/> (an arithmetic operand) an SNaN stays signalling, without IE: the
    /// operation sees it as the SNaN it was.</summary>
    public static Float80 FromDouble(ulong bits, ref ushort fl, bool keepSignalling = false)
    {
        bool sign = (bits >> 63) != 0;
        int be = (int)(bits >> 52) & 0x7FF;
        ulong frac = bits & 0x000F_FFFF_FFFF_FFFFUL;
        ushort s = sign ? (ushort)0x8000 : (ushort)0;
        if (be == 0x7FF)
        {
            if (frac == 0) return Infinity(sign);
            if (keepSignalling) return new((ushort)(s | 0x7FFF), IntBit | (frac << 11));
            if ((frac & (1UL << 51)) == 0) fl |= X87Sw.IE;
            return new((ushort)(s | 0x7FFF), IntBit | QuietBit | (frac << 11));
        }
        if (be == 0)
        {
            if (frac == 0) return new(s, 0);
            fl |= X87Sw.DE;
            int lz = BitOperations.LeadingZeroCount(frac);
            return PackExact(sign, -1022 - (lz - 11), frac << lz);
        }
        return new((ushort)(s | (be - 1023 + Bias)), IntBit | (frac << 11));
    }

    /// <summary>FLD m32, as <see cref="FromDouble"/>.</summary>
    public static Float80 FromSingle(uint bits, ref ushort fl, bool keepSignalling = false)
    {
        bool sign = (bits >> 31) != 0;
        int be = (int)(bits >> 23) & 0xFF;
        ulong frac = bits & 0x7F_FFFFu;
        ushort s = sign ? (ushort)0x8000 : (ushort)0;
        if (be == 0xFF)
        {
            if (frac == 0) return Infinity(sign);
            if (keepSignalling) return new((ushort)(s | 0x7FFF), IntBit | (frac << 40));
            if ((frac & (1UL << 22)) == 0) fl |= X87Sw.IE;
            return new((ushort)(s | 0x7FFF), IntBit | QuietBit | (frac << 40));
        }
        if (be == 0)
        {
            if (frac == 0) return new(s, 0);
            fl |= X87Sw.DE;
            int lz = BitOperations.LeadingZeroCount(frac);
            return PackExact(sign, -126 - (lz - 40), frac << lz);
        }
        return new((ushort)(s | (be - 127 + Bias)), IntBit | (frac << 40));
    }

    /// <summary>FILD: a signed integer, exactly.</summary>
    public static Float80 FromInt64(long v)
    {
        if (v == 0) return Zero(false);
        bool sign = v < 0;
        ulong m = sign ? (ulong)-v : (ulong)v;   // -long.MinValue wraps to 2^63, which is right
        int lz = BitOperations.LeadingZeroCount(m);
        return new((ushort)((sign ? 0x8000 : 0) | (63 - lz + Bias)), m << lz);
    }

    /// <summary>FST m64: rounds to double under rc (precision control does not apply); NaNs keep their
    /// top significand bits, quieted (IE for an SNaN); unsupported operands store the indefinite.</summary>
    public static ulong ToDouble(Float80 a, FpRound rc, ref ushort fl) =>
        ToBinary(a, rc, ref fl, 53, 11, -1022, 1023);

    /// <summary>FST m32, as <see cref="ToDouble"/>.</summary>
    public static uint ToSingle(Float80 a, FpRound rc, ref ushort fl) =>
        (uint)ToBinary(a, rc, ref fl, 24, 8, -126, 127);

    private static ulong ToBinary(Float80 a, FpRound rc, ref ushort fl, int prec, int expBits, int emin, int emax)
    {
        int width = prec + expBits;
        ulong signBit = a.Sign ? 1UL << (width - 1) : 0;
        ulong expMask = (1UL << expBits) - 1;
        int fracBits = prec - 1;
        ulong infBits = expMask << fracBits;
        switch (a.Class)
        {
            case FpClass.Zero: return signBit;
            case FpClass.Infinity: return signBit | infBits;
            case FpClass.Unsupported:
                fl |= X87Sw.IE;
                return (1UL << (width - 1)) | infBits | (1UL << (fracBits - 1));
            case FpClass.SNaN:
            case FpClass.QNaN:
                if (a.Class == FpClass.SNaN) fl |= X87Sw.IE;
                return signBit | infBits | (1UL << (fracBits - 1)) | ((a.Mant << 1) >> (64 - fracBits));
        }
        a.Unpack(out bool sign, out int e, out ulong sig);
        ulong r = RoundSig(sign, ref e, sig, 0, prec, emin, emax, rc, ref fl, out bool overflow);
        if (overflow)
        {
            fl |= X87Sw.OE | X87Sw.PE;
            if (OverflowsToInfinity(sign, rc)) { fl |= X87Sw.C1; return signBit | infBits; }
            fl &= unchecked((ushort)~X87Sw.C1);
            return signBit | (infBits - 1);
        }
        if (r == 0) return signBit;
        ulong keep = r >> (64 - prec);
        if ((r & IntBit) == 0) return signBit | keep;                       // denormal
        return signBit | ((ulong)(e - emin + 1) << fracBits) | (keep & ((1UL << fracBits) - 1));
    }

    /// <summary>
    /// FIST/FISTP/FISTTP: rounds to a signed integer of <paramref name="bytes"/> bytes under rc
    /// (truncating for FISTTP). A NaN, infinity, unsupported operand or out-of-range value raises IE
    /// and gives the integer indefinite (the sign bit alone); otherwise PE and C1 as for any rounding.
    /// </summary>
    public static ulong ToInteger(Float80 a, int bytes, FpRound rc, ref ushort fl)
    {
        ulong indefinite = 1UL << (bytes * 8 - 1);
        FpClass c = a.Class;
        if (c == FpClass.Zero) return 0;
        if (c is FpClass.Infinity or FpClass.QNaN or FpClass.SNaN or FpClass.Unsupported) { fl |= X87Sw.IE; return indefinite; }
        a.Unpack(out bool sign, out int e, out ulong sig);
        if (e >= 64) { fl |= X87Sw.IE; return indefinite; }
        ushort local = 0;
        ulong mag = RoundToIntegerMagnitude(sign, e, sig, rc, ref local, out bool carry);
        if (carry || mag > (sign ? indefinite : indefinite - 1)) { fl |= X87Sw.IE; return indefinite; }
        fl |= local;
        ulong v = sign ? 0 - mag : mag;
        return bytes == 8 ? v : v & ((1UL << (bytes * 8)) - 1);
    }

    /// <summary>FBLD: an 18-digit packed BCD integer (two digits a byte, low first; bit 79 the sign), exactly.
    /// Digits above 9 are undefined on the hardware; here they count with their binary value.</summary>
    public static Float80 FromBcd(ReadOnlySpan<byte> b)
    {
        ulong v = 0;
        for (int i = 8; i >= 0; i--) v = v * 100 + (ulong)(b[i] >> 4) * 10 + (ulong)(b[i] & 15);
        Float80 r = FromInt64((long)v);
        return (b[9] & 0x80) != 0 ? r.WithSign(true) : r;
    }

    /// <summary>FBSTP: rounds under rc to an integer and stores it as 18 packed BCD digits with the
    /// source's sign; a NaN, infinity, unsupported operand or magnitude beyond 10^18 - 1 raises IE and
    /// stores the BCD indefinite.</summary>
    public static void ToBcd(Float80 a, FpRound rc, Span<byte> b, ref ushort fl)
    {
        b[..10].Clear();
        ushort local = 0;
        long v = (long)ToInteger(a, 8, rc, ref local);
        ulong mag = v < 0 ? (ulong)-v : (ulong)v;
        if ((local & X87Sw.IE) != 0 || mag > 999_999_999_999_999_999UL)
        {
            fl |= X87Sw.IE;
            b[7] = 0xC0; b[8] = 0xFF; b[9] = 0xFF;
            return;
        }
        fl |= local;
        for (int i = 0; i < 9; i++) { b[i] = (byte)(mag % 10 | (mag / 10 % 10) << 4); mag /= 100; }
        if (a.Sign) b[9] = 0x80;
    }

    /// <summary>The magnitude of sig · 2^(e-63) (e &lt; 64) rounded to an integer under rc; carry when
    /// the rounded magnitude is 2^64. Raises PE and C1 (rounded up).</summary>
    private static ulong RoundToIntegerMagnitude(bool sign, int e, ulong sig, FpRound rc, ref ushort fl, out bool carry)
    {
        carry = false;
        if (e >= 63) return sig << (e - 63);
        // integer part and the fraction as a 64-bit binary fraction (bits below it jammed into bit 0)
        ulong ip, frac;
        if (e >= 0) { ip = sig >> (63 - e); frac = sig << (e + 1); }
        else if (e == -1) { ip = 0; frac = sig; }
        else { ip = 0; frac = (ulong)ShiftRightJam(sig, -1 - e); }
        if (frac == 0) return ip;
        fl |= X87Sw.PE;
        bool up = rc switch
        {
            FpRound.Nearest => frac > IntBit || (frac == IntBit && (ip & 1) != 0),
            FpRound.Down => sign,
            FpRound.Up => !sign,
            _ => false,
        };
        if (!up) return ip;
        fl |= X87Sw.C1;
        ip++;
        if (ip == 0) carry = true;
        return ip;
    }

    /// <summary>FRNDINT: rounds to an integral value under rc (precision control does not apply).</summary>
    public static Float80 RoundToInteger(Float80 a, FpRound rc, ref ushort fl)
    {
        switch (a.Class)
        {
            case FpClass.Zero: case FpClass.Infinity: return a;
            case FpClass.QNaN: case FpClass.SNaN: case FpClass.Unsupported: return PropagateNaN(a, ref fl);
            case FpClass.Denormal: fl |= X87Sw.DE; break;
        }
        a.Unpack(out bool sign, out int e, out ulong sig);
        if (e >= 63) return a;
        ulong mag = RoundToIntegerMagnitude(sign, e, sig, rc, ref fl, out _);
        if (mag == 0) return Zero(sign);
        int lz = BitOperations.LeadingZeroCount(mag);
        return PackExact(sign, 63 - lz, mag << lz);
    }
}
