namespace Lab.Machine.Cpu;

/// <summary>
/// The x87's transcendental instructions (f2xm1, fyl2x, fyl2xp1, fpatan, fsin, fcos, fsincos, fptan).
/// The hardware's results are not correctly rounded and differ between vendors, so these are not
/// bit-exact: each is computed in double-double arithmetic (about 106 bits, far beyond the 64 of the
/// result) and then rounded once to extended under RC, which puts it within an ulp of the true value
/// and of the host's. Special operands (zeros, infinities, NaNs, domain errors) follow the SDM exactly.
/// Arguments of the trigonometric functions are reduced as the x87 reduces them, with π rounded to 66
/// bits (so sin(x) near a multiple of π is the hardware's, not the true value); the reduction is exact
/// for |x| &lt; 2^30 and loses bits beyond (up to the limit 2^63, where C2 reports "out of range").
/// </summary>
internal readonly partial struct Float80
{
    /// <summary>A double-double: the unevaluated sum Hi + Lo with |Lo| ≤ ulp(Hi)/2.</summary>
    private readonly record struct DD(double Hi, double Lo)
    {
        public static DD From(double a) => new(a, 0);
        private static DD Fast(double a, double b) { double s = a + b; return new(s, b - (s - a)); }
        public static DD operator +(DD a, DD b)
        {
            double s = a.Hi + b.Hi, v = s - a.Hi, e = (a.Hi - (s - v)) + (b.Hi - v);
            return Fast(s, e + a.Lo + b.Lo);
        }
        public static DD operator -(DD a) => new(-a.Hi, -a.Lo);
        public static DD operator -(DD a, DD b) => a + -b;
        public static DD operator *(DD a, DD b)
        {
            double p = a.Hi * b.Hi, e = Math.FusedMultiplyAdd(a.Hi, b.Hi, -p);
            return Fast(p, e + a.Hi * b.Lo + a.Lo * b.Hi);
        }
        public static DD operator *(DD a, double b) => a * From(b);
        public static DD operator /(DD a, DD b)
        {
            double q1 = a.Hi / b.Hi;
            DD r = a - b * q1;
            double q2 = r.Hi / b.Hi;
            r -= b * q2;
            return Fast(q1, q2) + From(r.Hi / b.Hi);
        }
        public DD Sqrt()
        {
            if (Hi <= 0) return default;
            double s = Math.Sqrt(Hi);
            DD e = this - From(s) * From(s);
            return Fast(s, e.Hi / (2 * s));
        }
        public DD Scale(int n) => new(Math.ScaleB(Hi, n), Math.ScaleB(Lo, n));
    }

    private static readonly DD Ln2 = new(0.6931471805599453, 2.3190468138462996e-17);
    private static readonly DD Pi = new(3.141592653589793, 1.2246467991473532e-16);
    // The x87 reduces trigonometric arguments with π rounded to 66 bits (0xC90FDAA22168C234C · 2^-62),
    // not the true π, and so does the host: π/2 at that precision, as two exact doubles (53 + 13 bits).
    private const double PiO2A = 1.5707963267948966, PiO2B = 6.123031769111886e-17;

    /// <summary>A finite value as its significand in [1, 2) (a double-double, signed) and its unbiased
    /// exponent in <paramref name="scale"/>.</summary>
    private static DD ToDD(Float80 a, out int scale)
    {
        if (a.IsZero) { scale = 0; return default; }
        a.Unpack(out bool s, out int e, out ulong sig);
        double hi = (double)(sig & ~0x7FFUL), lo = sig & 0x7FF;
        DD m = new DD(hi, 0) + DD.From(lo);
        m = m.Scale(-63);
        scale = e;
        return s ? -m : m;
    }

    /// <summary>dd · 2^scale rounded once to extended under rc; PE always (the results are irrational).</summary>
    private static Float80 FromDD(DD v, int scale, FpRound rc, ref ushort fl)
    {
        if (v.Hi == 0) return Zero(false);
        ushort local = 0;
        Float80 hi = FromDoubleScaled(v.Hi, scale), lo = FromDoubleScaled(v.Lo, scale);
        Float80 r = lo.IsZero ? hi : Add(hi, lo, false, 64, rc, ref local);
        fl |= (ushort)((local & ~X87Sw.DE) | X87Sw.PE);
        return r;
    }

    private static Float80 FromDoubleScaled(double d, int scale)
    {
        if (d == 0) return Zero(false);
        ushort ignored = 0;
        Float80 f = FromDouble((ulong)BitConverter.DoubleToInt64Bits(d), ref ignored);
        f.Unpack(out bool s, out int e, out ulong sig);
        return PackExact(s, e + scale, sig);
    }

    // ------------------------------------------------------------------------------------------
    // Series on small double-double arguments.

    /// <summary>e^t - 1 for |t| ≤ 1 (Taylor, accurate near 0).</summary>
    private static DD ExpM1(DD t)
    {
        DD sum = t, term = t;
        for (int k = 2; k < 60; k++)
        {
            term = term * t / DD.From(k);
            sum += term;
            if (Math.Abs(term.Hi) < 1e-40 * Math.Abs(sum.Hi)) break;
        }
        return sum;
    }

    /// <summary>2·atanh(s) = ln((1+s)/(1-s)) for |s| ≤ 1/5.</summary>
    private static DD TwoAtanh(DD s)
    {
        DD s2 = s * s, term = s, sum = s;
        for (int k = 3; k < 200; k += 2)
        {
            term *= s2;
            DD t = term / DD.From(k);
            sum += t;
            if (Math.Abs(t.Hi) < 1e-40 * Math.Abs(sum.Hi)) break;
        }
        return sum * 2;
    }

    /// <summary>atan(t) for |t| ≤ 1: three argument halvings, then the Taylor series.</summary>
    private static DD Atan(DD t)
    {
        for (int i = 0; i < 3; i++) t /= DD.From(1) + (DD.From(1) + t * t).Sqrt();
        DD t2 = t * t, term = t, sum = t;
        for (int k = 3; k < 200; k += 2)
        {
            term = -(term * t2);
            DD x = term / DD.From(k);
            sum += x;
            if (Math.Abs(x.Hi) < 1e-40 * Math.Abs(sum.Hi)) break;
        }
        return sum * 8;
    }

    /// <summary>sin r and cos r for |r| ≤ π/4.</summary>
    private static void SinCos(DD r, out DD sin, out DD cos)
    {
        DD r2 = r * r, ts = r, tc = DD.From(1);
        sin = r; cos = tc;
        for (int k = 1; k < 40; k++)
        {
            ts = -(ts * r2) / DD.From((2 * k) * (2 * k + 1));
            tc = -(tc * r2) / DD.From((2 * k - 1) * (2 * k));
            sin += ts; cos += tc;
            if (Math.Abs(tc.Hi) < 1e-40) break;
        }
    }

    // ------------------------------------------------------------------------------------------
    // The instructions.

    /// <summary>F2XM1: 2^x - 1 for -1 ≤ x ≤ 1.</summary>
    public static Float80 Exp2M1(Float80 a, FpRound rc, ref ushort fl)
    {
        FpClass c = a.Class;
        if (c >= FpClass.QNaN) return PropagateNaN(a, ref fl);
        if (c == FpClass.Zero) return a;
        if (c == FpClass.Infinity) return a.Sign ? new Float80(0xBFFF, IntBit) : a;
        if (c == FpClass.Denormal) fl |= X87Sw.DE;
        DD x = ToDD(a, out int e);
        if (e < -900) return Mul(a, new Float80(0x3FFE, 0xB172_17F7_D1CF_79AC), 64, rc, ref fl);   // x·ln 2
        if (e > 10) e = 10;   // outside the domain: keep the series finite
        return FromDD(ExpM1(x.Scale(e) * Ln2), 0, rc, ref fl);
    }

    /// <summary>log2 of a positive finite value as a double-double: exponent plus log2 of the significand.</summary>
    private static DD Log2(Float80 x)
    {
        DD m = ToDD(x, out int e);                  // m in [1, 2)
        if (m.Hi > 1.4142135623730951) { m = m.Scale(-1); e++; }
        DD s = (m - DD.From(1)) / (m + DD.From(1));
        return DD.From(e) + TwoAtanh(s) / Ln2;
    }

    /// <summary>The product y · l for a double-double l, rounded once when y is in the double range.</summary>
    private static Float80 TimesDD(Float80 y, DD l, FpRound rc, ref ushort fl)
    {
        if (l.Hi == 0) return Zero(y.Sign);
        DD yd = ToDD(y, out int ey);
        if (ey > -960 && ey < 960) return FromDD(yd * l, ey, rc, ref fl);
        ushort ignored = 0;
        Float80 lf = FromDD(l, 0, FpRound.Nearest, ref ignored);
        return Mul(y, lf, 64, rc, ref fl);
    }

    /// <summary>FYL2X: y · log2 x.</summary>
    public static Float80 YLog2X(Float80 y, Float80 x, FpRound rc, ref ushort fl)
    {
        if (SpecialOperands(x, y, out var cx, out var cy, ref fl, out var nan)) return nan;
        if (x.Sign && cx != FpClass.Zero) { fl |= X87Sw.IE; return Indefinite; }
        if (cx == FpClass.Zero)
        {
            if (cy == FpClass.Zero) { fl |= X87Sw.IE; return Indefinite; }
            fl |= X87Sw.ZE;
            return Infinity(!y.Sign);
        }
        bool xIsOne = x.SignExp == Bias && x.Mant == IntBit;
        if (cx == FpClass.Infinity)
        {
            if (cy == FpClass.Zero) { fl |= X87Sw.IE; return Indefinite; }
            return Infinity(y.Sign);
        }
        if (cy == FpClass.Infinity)
        {
            if (xIsOne) { fl |= X87Sw.IE; return Indefinite; }
            bool below = x.BiasedExp < Bias;   // x < 1: log2 x < 0
            return Infinity(y.Sign ^ below);
        }
        if (xIsOne) return Zero(y.Sign);
        if (cy == FpClass.Zero) return Zero(y.Sign ^ (x.BiasedExp < Bias));
        return TimesDD(y, Log2(x), rc, ref fl);
    }

    /// <summary>FYL2XP1: y · log2(x + 1) for |x| &lt; 1 - √2/2.</summary>
    public static Float80 YLog2XP1(Float80 y, Float80 x, FpRound rc, ref ushort fl)
    {
        if (SpecialOperands(x, y, out var cx, out var cy, ref fl, out var nan)) return nan;
        if (cx == FpClass.Zero)
        {
            if (cy == FpClass.Infinity) { fl |= X87Sw.IE; return Indefinite; }
            return Zero(x.Sign ^ y.Sign);
        }
        if (cx == FpClass.Infinity) { fl |= X87Sw.IE; return Indefinite; }
        if (cy == FpClass.Infinity) return Infinity(y.Sign ^ x.Sign);
        if (cy == FpClass.Zero) return Zero(x.Sign ^ y.Sign);
        DD xd = ToDD(x, out int ex);
        if (ex < -900)
        {
            // log2(1 + x) ≈ x / ln 2
            Float80 l = Div(x, new Float80(0x3FFE, 0xB172_17F7_D1CF_79AC), 64, rc, ref fl);
            return Mul(y, l, 64, rc, ref fl);
        }
        if (ex > 10) { fl |= X87Sw.IE; return Indefinite; }
        xd = xd.Scale(ex);
        if (xd.Hi <= -1) { fl |= X87Sw.IE; return Indefinite; }
        DD l2 = TwoAtanh(xd / (DD.From(2) + xd)) / Ln2;
        return TimesDD(y, l2, rc, ref fl);
    }

    /// <summary>FPATAN: atan2(y, x), the angle of (x, y) in [-π, π].</summary>
    public static Float80 Atan2(Float80 y, Float80 x, FpRound rc, ref ushort fl)
    {
        if (SpecialOperands(x, y, out var cx, out var cy, ref fl, out var nan)) return nan;
        bool sy = y.Sign, sx = x.Sign;
        DD angle;
        if (cy == FpClass.Zero) { if (!sx) return Zero(sy); angle = Pi; }
        else if (cx == FpClass.Zero) angle = Pi.Scale(-1);
        else if (cx == FpClass.Infinity && cy == FpClass.Infinity) angle = sx ? Pi * 0.75 : Pi.Scale(-2);
        else if (cx == FpClass.Infinity) { if (!sx) return Zero(sy); angle = Pi; }
        else if (cy == FpClass.Infinity) angle = Pi.Scale(-1);
        else
        {
            DD yd = ToDD(y.Abs(), out int ey), xd = ToDD(x.Abs(), out int ex);
            int d = ey - ex;
            if (d < -900 && !sx)
                return Div(y, x, 64, rc, ref fl);   // the atan of a tiny ratio is the ratio
            DD r;
            bool swap = d > 0 || (d == 0 && yd.Hi > xd.Hi);
            if (d > 900 || d < -900) r = default;
            else r = swap ? (xd / yd).Scale(-d) : (yd / xd).Scale(d);
            DD t = Atan(r);
            if (swap) t = Pi.Scale(-1) - t;
            angle = sx ? Pi - t : t;
        }
        Float80 res = FromDD(angle, 0, rc, ref fl);
        return sy ? res.Negate() : res;
    }

    /// <summary>Whether a trigonometric operand is in range (|x| &lt; 2^63; else C2 is set and ST(0) kept);
    /// q is its quadrant.</summary>
    public static bool TryReduceTrig(Float80 a, out int q)
    {
        q = 0;
        FpClass c = a.Class;
        if (c is FpClass.Normal or FpClass.Denormal) return a.BiasedExp < Bias + 63;
        return true;
    }

    /// <summary>x reduced to r in [-π/4, π/4] with x = r + k·π/2 (k mod 4 returned).</summary>
    private static DD Reduce(Float80 a, out int k)
    {
        DD x = ToDD(a, out int e);
        x = x.Scale(e);
        double n = Math.Round(x.Hi / PiO2A);
        k = (int)(long)n & 3;
        if (n == 0) return x;
        // x - n·π/2 with each product exact
        return x - Prod(n, PiO2A) - Prod(n, PiO2B);
    }

    private static DD Prod(double a, double b)
    {
        double p = a * b;
        return new DD(p, Math.FusedMultiplyAdd(a, b, -p));
    }

    /// <summary>The trigonometric specials: ±0 and NaN return true with the result; ±∞ is invalid.</summary>
    private static bool TrigSpecial(Float80 a, bool zeroIsOne, ref ushort fl, out Float80 r)
    {
        FpClass c = a.Class;
        r = default;
        if (c >= FpClass.QNaN) { r = PropagateNaN(a, ref fl); return true; }
        if (c == FpClass.Infinity) { fl |= X87Sw.IE; r = Indefinite; return true; }
        if (c == FpClass.Zero) { r = zeroIsOne ? One : a; return true; }
        if (c == FpClass.Denormal) fl |= X87Sw.DE;
        return false;
    }

    public static Float80 Sin(Float80 a, FpRound rc, ref ushort fl)
    {
        if (TrigSpecial(a, false, ref fl, out var s)) return s;
        if (a.BiasedExp < Bias - 900) { fl |= X87Sw.PE; return a; }
        DD r = Reduce(a, out int k);
        SinCos(r, out DD sin, out DD cos);
        DD v = k switch { 0 => sin, 1 => cos, 2 => -sin, _ => -cos };
        return FromDD(v, 0, rc, ref fl);
    }

    public static Float80 Cos(Float80 a, FpRound rc, ref ushort fl)
    {
        if (TrigSpecial(a, true, ref fl, out var s)) return s;
        if (a.BiasedExp < Bias - 900) { fl |= X87Sw.PE; return One; }
        DD r = Reduce(a, out int k);
        SinCos(r, out DD sin, out DD cos);
        DD v = k switch { 0 => cos, 1 => -sin, 2 => -cos, _ => sin };
        return FromDD(v, 0, rc, ref fl);
    }

    public static Float80 Tan(Float80 a, FpRound rc, ref ushort fl)
    {
        if (TrigSpecial(a, false, ref fl, out var s)) return s;
        if (a.BiasedExp < Bias - 900) { fl |= X87Sw.PE; return a; }
        DD r = Reduce(a, out int k);
        SinCos(r, out DD sin, out DD cos);
        DD v = (k & 1) == 0 ? sin / cos : -(cos / sin);
        return FromDD(v, 0, rc, ref fl);
    }
}
