using System.Numerics;

namespace Lab.Machine.Cpu;

/// <summary>The result of an x87 comparison: C3 C2 C0 = 000 greater, 001 less, 100 equal, 111 unordered.</summary>
internal enum FpOrder : byte { Greater, Less, Equal, Unordered }

/// <summary>Exact extended-precision arithmetic (see Float80.cs for the conventions).</summary>
internal readonly partial struct Float80
{
    /// <summary>Classifies two operands for a two-operand arithmetic instruction: true when the result
    /// is already decided (a NaN or unsupported operand); otherwise raises DE for denormal operands.</summary>
    private static bool SpecialOperands(Float80 a, Float80 b, out FpClass ca, out FpClass cb, ref ushort fl, out Float80 nan)
    {
        ca = a.Class; cb = b.Class;
        if (ca >= FpClass.QNaN || cb >= FpClass.QNaN) { nan = PropagateNaN(a, b, ref fl); return true; }
        if (ca == FpClass.Denormal || cb == FpClass.Denormal) fl |= X87Sw.DE;
        nan = default;
        return false;
    }

    /// <summary>FADD/FSUB: a + b (b negated first when <paramref name="subtract"/>), rounded to prec bits.</summary>
    public static Float80 Add(Float80 a, Float80 b, bool subtract, int prec, FpRound rc, ref ushort fl)
    {
        if (SpecialOperands(a, b, out var ca, out var cb, ref fl, out var nan)) return nan;
        if (subtract) b = b.Negate();
        if (ca == FpClass.Infinity || cb == FpClass.Infinity)
        {
            if (ca == FpClass.Infinity && cb == FpClass.Infinity && a.Sign != b.Sign) { fl |= X87Sw.IE; return Indefinite; }
            return ca == FpClass.Infinity ? a : b;
        }
        if (ca == FpClass.Zero && cb == FpClass.Zero)
            return Zero(a.Sign == b.Sign ? a.Sign : rc == FpRound.Down);
        if (ca == FpClass.Zero || cb == FpClass.Zero)
        {
            (ca == FpClass.Zero ? b : a).Unpack(out bool s0, out int e0, out ulong g0);
            return RoundPack(s0, e0, g0, 0, prec, rc, ref fl);
        }
        a.Unpack(out bool sa, out int ea, out ulong ga);
        b.Unpack(out bool sb, out int eb, out ulong gb);
        // Magnitudes with the integer bit at 126, leaving a carry bit and 63 guard bits; the smaller
        // is aligned with a sticky bit.
        UInt128 ma = (UInt128)ga << 63, mb = (UInt128)gb << 63;
        if (ea < eb || (ea == eb && ga < gb))
        {
            (sa, sb) = (sb, sa); (ea, eb) = (eb, ea); (ma, mb) = (mb, ma);
        }
        mb = ShiftRightJam(mb, ea - eb);
        UInt128 m = sa == sb ? ma + mb : ma - mb;
        if (m == 0) return Zero(rc == FpRound.Down);
        int lz = (int)UInt128.LeadingZeroCount(m);
        m <<= lz;
        return RoundPack(sa, ea + 1 - lz, (ulong)(m >> 64), (ulong)m, prec, rc, ref fl);
    }

    /// <summary>FMUL: a · b rounded to prec bits.</summary>
    public static Float80 Mul(Float80 a, Float80 b, int prec, FpRound rc, ref ushort fl)
    {
        if (SpecialOperands(a, b, out var ca, out var cb, ref fl, out var nan)) return nan;
        bool sign = a.Sign ^ b.Sign;
        if (ca == FpClass.Infinity || cb == FpClass.Infinity)
        {
            if (ca == FpClass.Zero || cb == FpClass.Zero) { fl |= X87Sw.IE; return Indefinite; }
            return Infinity(sign);
        }
        if (ca == FpClass.Zero || cb == FpClass.Zero) return Zero(sign);
        a.Unpack(out _, out int ea, out ulong ga);
        b.Unpack(out _, out int eb, out ulong gb);
        ulong hi = Math.BigMul(ga, gb, out ulong lo);
        int e = ea + eb + 1;
        if ((hi & IntBit) == 0) { hi = (hi << 1) | (lo >> 63); lo <<= 1; e--; }
        return RoundPack(sign, e, hi, lo, prec, rc, ref fl);
    }

    /// <summary>FDIV: a / b rounded to prec bits; x/0 raises ZE (infinity), 0/0 and ∞/∞ IE.</summary>
    public static Float80 Div(Float80 a, Float80 b, int prec, FpRound rc, ref ushort fl)
    {
        if (SpecialOperands(a, b, out var ca, out var cb, ref fl, out var nan)) return nan;
        bool sign = a.Sign ^ b.Sign;
        if (ca == FpClass.Infinity)
        {
            if (cb == FpClass.Infinity) { fl |= X87Sw.IE; return Indefinite; }
            return Infinity(sign);
        }
        if (cb == FpClass.Infinity) return Zero(sign);
        if (cb == FpClass.Zero)
        {
            if (ca == FpClass.Zero) { fl |= X87Sw.IE; return Indefinite; }
            fl = (ushort)((fl & ~X87Sw.DE) | X87Sw.ZE);   // ZE takes precedence over DE
            return Infinity(sign);
        }
        if (ca == FpClass.Zero) return Zero(sign);
        a.Unpack(out _, out int ea, out ulong ga);
        b.Unpack(out _, out int eb, out ulong gb);
        // Long division: 64 quotient bits (65 when ga >= gb), 64 more, and the remainder as sticky.
        UInt128 q1 = ((UInt128)ga << 64) / gb;
        ulong r1 = (ulong)(((UInt128)ga << 64) - q1 * gb);
        UInt128 n2 = (UInt128)r1 << 64;
        ulong q2 = (ulong)(n2 / gb);
        bool sticky = n2 - (UInt128)q2 * gb != 0;
        ulong sig, extra;
        int e = ea - eb;
        if ((q1 >> 64) != 0)
        {
            sig = (ulong)(q1 >> 1);
            extra = ((ulong)q1 << 63) | (q2 >> 1);
            sticky |= (q2 & 1) != 0;
        }
        else
        {
            sig = (ulong)q1;
            extra = q2;
            e--;
        }
        if (sticky) extra |= 1;
        return RoundPack(sign, e, sig, extra, prec, rc, ref fl);
    }

    /// <summary>FSQRT rounded to prec bits; a negative non-zero operand raises IE; √-0 = -0.</summary>
    public static Float80 Sqrt(Float80 a, int prec, FpRound rc, ref ushort fl)
    {
        FpClass c = a.Class;
        if (c >= FpClass.QNaN) return PropagateNaN(a, ref fl);
        if (c == FpClass.Zero) return a;
        if (a.Sign) { fl |= X87Sw.IE; return Indefinite; }
        if (c == FpClass.Infinity) return a;
        if (c == FpClass.Denormal) fl |= X87Sw.DE;
        a.Unpack(out _, out int e, out ulong sig);
        // radicand sig·2^64 (e even... made even by taking one bit into the radicand) so the root has bit 63 set
        UInt128 rad = (e & 1) == 0 ? (UInt128)sig << 63 : (UInt128)sig << 64;
        int re = (e & 1) == 0 ? e / 2 : (e - 1) / 2;
        ulong root = ISqrt(rad);
        UInt128 rem = rad - (UInt128)root * root;
        // The root is never exactly halfway between two integers: rem > root means above the half.
        ulong extra = rem == 0 ? 0 : rem > root ? IntBit | 1 : 1;
        return RoundPack(false, re, root, extra, prec, rc, ref fl);
    }

    /// <summary>⌊√v⌋ for v below 2^128.</summary>
    private static ulong ISqrt(UInt128 v)
    {
        ulong x = (ulong)Math.Min(Math.Sqrt((double)v), 18446744073709551615.0);
        if (x == 0) x = 1;
        // one Newton step from the double estimate, then exact correction
        x = (ulong)(((UInt128)x + v / x) >> 1);
        while ((UInt128)x * x > v) x--;
        while (x != ulong.MaxValue && (UInt128)(x + 1) * (x + 1) <= v) x++;
        return x;
    }

    /// <summary>FCOM/FUCOM/FTST/FICOM/FCOMI: the order of a and b. NaNs are unordered; FCOM
    /// (<paramref name="signalling"/>) raises IE for any NaN, FUCOM only for an SNaN; unsupported
    /// operands always raise IE. Denormal operands raise DE.</summary>
    public static FpOrder Compare(Float80 a, Float80 b, bool signalling, ref ushort fl)
    {
        FpClass ca = a.Class, cb = b.Class;
        if (ca >= FpClass.QNaN || cb >= FpClass.QNaN)
        {
            if (signalling || ca is FpClass.SNaN or FpClass.Unsupported || cb is FpClass.SNaN or FpClass.Unsupported)
                fl |= X87Sw.IE;
            return FpOrder.Unordered;
        }
        if (ca == FpClass.Denormal || cb == FpClass.Denormal) fl |= X87Sw.DE;
        int c = CompareValues(a, ca, b, cb);
        return c < 0 ? FpOrder.Less : c > 0 ? FpOrder.Greater : FpOrder.Equal;
    }

    /// <summary>-1, 0, 1 for two ordered (non-NaN, supported) values.</summary>
    private static int CompareValues(Float80 a, FpClass ca, Float80 b, FpClass cb)
    {
        if (ca == FpClass.Zero && cb == FpClass.Zero) return 0;
        bool sa = a.Sign, sb = b.Sign;
        if (ca == FpClass.Zero) return sb ? 1 : -1;
        if (cb == FpClass.Zero) return sa ? -1 : 1;
        if (sa != sb) return sa ? -1 : 1;
        int mag;
        if (ca == FpClass.Infinity || cb == FpClass.Infinity)
            mag = ca == cb ? 0 : ca == FpClass.Infinity ? 1 : -1;
        else
        {
            a.Unpack(out _, out int ea, out ulong ga);
            b.Unpack(out _, out int eb, out ulong gb);
            mag = ea != eb ? (ea > eb ? 1 : -1) : ga.CompareTo(gb);
        }
        return sa ? -mag : mag;
    }

    /// <summary>
    /// FPREM (<paramref name="nearest"/> false: the quotient truncated) and FPREM1 (rounded to nearest
    /// even): the exact partial remainder of a by b. When the exponents differ by 64 or more only a
    /// partial reduction is done (C2 set; the program loops). Otherwise C2 is clear and C0, C3, C1 hold
    /// quotient bits 2, 1, 0. Returns the new ST(0); flags and condition codes go to fl.
    /// </summary>
    public static Float80 Remainder(Float80 a, Float80 b, bool nearest, ref ushort fl)
    {
        if (SpecialOperands(a, b, out var ca, out var cb, ref fl, out var nan)) return nan;
        if (ca == FpClass.Infinity || cb == FpClass.Zero) { fl = (ushort)((fl & ~X87Sw.DE) | X87Sw.IE); return Indefinite; }
        if (ca == FpClass.Zero) return a;
        a.Unpack(out bool sa, out int ea, out ulong ga);
        if (cb == FpClass.Infinity) return PackExact(sa, ea, ga);   // a pseudo-denormal comes back normalised
        b.Unpack(out _, out int eb, out ulong gb);
        int d = ea - eb;
        if (d >= 64)
        {
            // Partial: subtract b·q·2^(d-n) for the integer q made of the top bits, as the x87 does.
            int n = 32 + (d & 31);
            int shift = d - n;
            // remainder of ga·2^n by gb, keeping the exponent of the reduction step
            UInt128 num = (UInt128)ga << (n - 32);
            ulong r = ReduceMod(num, 32, gb);
            fl |= X87Sw.C2;
            if (r == 0) return Zero(sa);
            int lz = BitOperations.LeadingZeroCount(r);
            return PackExact(sa, eb + shift - lz, r << lz);
        }
        // Full remainder: a = q·b + r with q an integer.
        ulong q = 0;
        UInt128 rem;
        int re;
        if (d < 0)
        {
            rem = ga; re = ea;           // |a| < |b|: q = 0
        }
        else
        {
            // ga·2^d mod gb, with the quotient's low bits
            UInt128 g = gb;
            UInt128 acc = ga;
            for (int i = 0; i <= d; i++)
            {
                q <<= 1;
                if (acc >= g) { acc -= g; q |= 1; }
                if (i < d) acc <<= 1;
            }
            rem = acc; re = eb;
        }
        bool rsign = sa;
        if (nearest)
        {
            // Round the quotient to nearest even: compare the remainder with |b|/2. For d < 0 the
            // remainder is |a| (q = 0), above half only when d = -1 and ga > gb.
            int cmp = d >= 0 ? (rem << 1).CompareTo((UInt128)gb) : d == -1 ? ga.CompareTo(gb) : -1;
            if (cmp > 0 || (cmp == 0 && (q & 1) != 0))
            {
                // the remainder becomes |b| - rem with the opposite sign (for d = -1 at a's exponent,
                // where b's significand is one bit higher)
                rem = ((UInt128)gb << (d < 0 ? 1 : 0)) - rem;
                rsign = !sa;
                q++;
            }
        }
        fl &= unchecked((ushort)~(X87Sw.C0 | X87Sw.C1 | X87Sw.C2 | X87Sw.C3));
        if ((q & 4) != 0) fl |= X87Sw.C0;
        if ((q & 2) != 0) fl |= X87Sw.C3;
        if ((q & 1) != 0) fl |= X87Sw.C1;
        if (rem == 0) return Zero(sa);
        int lz2 = (int)UInt128.LeadingZeroCount(rem);
        // rem's value is rem·2^(re-63)
        int topBit = 127 - lz2;
        ulong sig = topBit >= 63 ? (ulong)(rem >> (topBit - 63)) : (ulong)rem << (63 - topBit);
        return PackExact(rsign, re + topBit - 63, sig);
    }

    /// <summary>(num · 2^extraBits) mod m, bit by bit (num &lt; 2^128, m normalised).</summary>
    private static ulong ReduceMod(UInt128 num, int extraBits, ulong m)
    {
        UInt128 r = num % m;
        for (int i = 0; i < extraBits; i++)
        {
            r <<= 1;
            if (r >= m) r -= m;
        }
        return (ulong)r;
    }

    /// <summary>FSCALE: a · 2^trunc(b), rounded (at full precision) into the extended range.</summary>
    public static Float80 Scale(Float80 a, Float80 b, FpRound rc, ref ushort fl)
    {
        if (SpecialOperands(a, b, out var ca, out var cb, ref fl, out var nan)) return nan;
        if (cb == FpClass.Infinity)
        {
            if (b.Sign) { if (ca == FpClass.Infinity) { fl |= X87Sw.IE; return Indefinite; } return Zero(a.Sign); }
            if (ca == FpClass.Zero) { fl |= X87Sw.IE; return Indefinite; }
            return Infinity(a.Sign);
        }
        if (ca is FpClass.Zero or FpClass.Infinity) return a;
        long n;
        if (cb == FpClass.Zero) n = 0;
        else
        {
            b.Unpack(out bool sb, out int eb, out ulong gb);
            long mag = eb < 0 ? 0 : eb >= 20 ? 1 << 20 : (long)(gb >> (63 - eb));
            n = sb ? -mag : mag;
        }
        a.Unpack(out bool sa, out int ea, out ulong ga);
        return RoundPack(sa, (int)Math.Clamp(ea + n, -(1 << 20), 1 << 20), ga, 0, 64, rc, ref fl);
    }

    /// <summary>FXTRACT: the exponent as a value and the significand scaled into [1, 2) with a's sign.
    /// Zero raises ZE (exponent -∞, significand the zero).</summary>
    public static void Extract(Float80 a, ref ushort fl, out Float80 exponent, out Float80 significand)
    {
        FpClass c = a.Class;
        if (c >= FpClass.QNaN) { exponent = significand = PropagateNaN(a, ref fl); return; }
        if (c == FpClass.Zero) { fl |= X87Sw.ZE; exponent = Infinity(true); significand = a; return; }
        if (c == FpClass.Infinity) { exponent = Infinity(false); significand = a; return; }
        if (c == FpClass.Denormal) fl |= X87Sw.DE;
        a.Unpack(out bool s, out int e, out ulong sig);
        exponent = FromInt64(e);
        significand = new((ushort)((s ? 0x8000 : 0) | Bias), sig);
    }
}
