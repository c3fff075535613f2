namespace Lab.Machine.Cpu;

/// <summary>The operation of an <see cref="OpKind.X87Arith"/> op (dest = dest op src, or src op dest for the R forms).</summary>
internal enum X87ArithOp : byte { Add, Mul, Sub, SubR, Div, DivR }

/// <summary>The one-register (or ST(0), ST(1)) functions of <see cref="OpKind.X87Special"/>.</summary>
internal enum X87Fn : byte
{
    Chs, Abs, Sqrt, Rndint, Xam, Scale, Xtract, Prem, Prem1,
    F2xm1, Fyl2x, Fyl2xp1, Fpatan, Fptan, Fsin, Fcos, Fsincos,
}

/// <summary>
/// x87 arithmetic: the four operations with every operand form, comparisons (to C0/C2/C3 or EFLAGS),
/// and the one-register functions. Each handler reads its operands (a stack underflow reads the
/// indefinite), computes with Float80 under the control word's rounding and precision, writes back
/// and commits the status in one place (<see cref="FpCommit"/>).
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>fadd/fmul/fsub/fsubr/fdiv/fdivr (Cond = X87ArithOp): Form M: ST(0) = ST(0) op m32/m64
    /// (or m16/m32 integer, Size2 = 1); Form R: ST(0) = ST(0) op ST(i), or with Imm bit 0 ST(i) = ST(i)
    /// op ST(0), and Imm bit 1 pops.</summary>
    private bool X87Arith(ref Op op)
    {
        ushort fl = 0, mfl = 0;
        Float80 m = default;
        if (op.Form == Form.M && !ReadFpMemory(ref op, out m, ref mfl, operand: true)) return false;
        int dst = op.Form == Form.R && (op.Imm & 1) != 0 ? op.R0 : 0;
        int src = op.Form == Form.R ? ((op.Imm & 1) != 0 ? 0 : op.R0) : -1;
        bool ok = ReadSt(dst, out Float80 a, ref fl);
        Float80 b = m;
        if (src >= 0) ok &= ReadSt(src, out b, ref fl);
        Float80 r;
        if (!ok) r = Float80.Indefinite;
        else
        {
            // A denormal memory operand raises DE only when no NaN or unsupported operand decides first.
            if (a.Class < FpClass.QNaN && b.Class < FpClass.QNaN) fl |= mfl;
            int prec = FpPrecision;
            FpRound rc = FpRc;
            r = (X87ArithOp)op.Cond switch
            {
                X87ArithOp.Add => Float80.Add(a, b, false, prec, rc, ref fl),
                X87ArithOp.Sub => Float80.Add(a, b, true, prec, rc, ref fl),
                X87ArithOp.SubR => Float80.Add(b, a, true, prec, rc, ref fl),
                X87ArithOp.Mul => Float80.Mul(a, b, prec, rc, ref fl),
                X87ArithOp.Div => Float80.Div(a, b, prec, rc, ref fl),
                _ => Float80.Div(b, a, prec, rc, ref fl),
            };
        }
        SetSt(dst, r);
        if ((op.Imm & 2) != 0) FpPop();
        FpCommit(fl);
        return true;
    }

    /// <summary>fcom/fucom/ficom/ftst/fcomi/fucomi with their popping forms. Form M: ST(0) against
    /// memory; R: against ST(i); None: against +0 (ftst). Cond bits 0-1: pops; bit 2: unordered compare
    /// (QNaN raises no IE); bit 3: result to ZF, PF, CF (fcomi) instead of C3, C2, C0.</summary>
    private bool X87Compare(ref Op op)
    {
        ushort fl = 0, mfl = 0;
        Float80 b = Float80.Zero(false);
        if (op.Form == Form.M && !ReadFpMemory(ref op, out b, ref mfl, operand: true)) return false;
        bool ok = ReadSt(0, out Float80 a, ref fl);
        if (op.Form == Form.R) ok &= ReadSt(op.R0, out b, ref fl);
        if (ok && a.Class < FpClass.QNaN && b.Class < FpClass.QNaN) fl |= mfl;
        FpOrder order = ok ? Float80.Compare(a, b, (op.Cond & 4) == 0, ref fl) : FpOrder.Unordered;
        int pops = op.Cond & 3;
        for (int k = 0; k < pops; k++) FpPop();
        if ((op.Cond & 8) != 0)
        {
            SetStatusFlags(order switch
            {
                FpOrder.Greater => 0,
                FpOrder.Less => FlagMath.CF,
                FpOrder.Equal => FlagMath.ZF,
                _ => FlagMath.ZF | FlagMath.PF | FlagMath.CF,
            });
            FpCommit(fl);
        }
        else
        {
            fl |= order switch
            {
                FpOrder.Greater => 0,
                FpOrder.Less => X87Sw.C0,
                FpOrder.Equal => X87Sw.C3,
                _ => (ushort)(X87Sw.C0 | X87Sw.C2 | X87Sw.C3),
            };
            FpCommit(fl, X87Sw.ConditionCodes);
        }
        return true;
    }

    /// <summary>The functions of ST(0) (and ST(1)): fchs, fabs, fsqrt, frndint, fxam, fscale, fxtract,
    /// fprem, fprem1 and the transcendentals (Float80.Transcendental.cs).</summary>
    private bool X87Special(ref Op op)
    {
        ushort fl = 0;
        var fn = (X87Fn)op.Cond;
        if (fn == X87Fn.Xam) { Xam(); return true; }
        bool ok = ReadSt(0, out Float80 a, ref fl);
        FpRound rc = FpRc;
        switch (fn)
        {
            case X87Fn.Chs: SetSt(0, ok ? a.Negate() : a); break;
            case X87Fn.Abs: SetSt(0, ok ? a.Abs() : a); break;
            case X87Fn.Sqrt: SetSt(0, ok ? Float80.Sqrt(a, FpPrecision, rc, ref fl) : a); break;
            case X87Fn.Rndint: SetSt(0, ok ? Float80.RoundToInteger(a, rc, ref fl) : a); break;
            case X87Fn.F2xm1: SetSt(0, ok ? Float80.Exp2M1(a, rc, ref fl) : a); break;
            case X87Fn.Fsin: case X87Fn.Fcos:
                {
                    if (!ok) { SetSt(0, a); break; }
                    if (!Float80.TryReduceTrig(a, out _)) { fl |= X87Sw.C2; FpCommit(fl, X87Sw.C1 | X87Sw.C2); return true; }
                    SetSt(0, fn == X87Fn.Fsin ? Float80.Sin(a, rc, ref fl) : Float80.Cos(a, rc, ref fl));
                    FpCommit(fl, X87Sw.C1 | X87Sw.C2);
                    return true;
                }
            case X87Fn.Fptan: case X87Fn.Fsincos:
                {
                    if (!ok) { SetSt(0, a); FpPush(a, ref fl); break; }
                    if (!Float80.TryReduceTrig(a, out _)) { fl |= X87Sw.C2; FpCommit(fl, X87Sw.C1 | X87Sw.C2); return true; }
                    if (fn == X87Fn.Fptan)
                    {
                        SetSt(0, Float80.Tan(a, rc, ref fl));
                        FpPush(a.IsNaN ? a.Quiet() : Float80.One, ref fl);
                    }
                    else
                    {
                        Float80 c = Float80.Cos(a, rc, ref fl);
                        SetSt(0, Float80.Sin(a, rc, ref fl));
                        FpPush(c, ref fl);
                    }
                    FpCommit(fl, X87Sw.C1 | X87Sw.C2);
                    return true;
                }
            case X87Fn.Xtract:
                {
                    Float80 exp = a, sig = a;
                    if (ok) Float80.Extract(a, ref fl, out exp, out sig);
                    SetSt(0, exp);
                    FpPush(sig, ref fl);
                    break;
                }
            default:
                {
                    // two-operand functions of ST(0) and ST(1)
                    ok &= ReadSt(1, out Float80 b, ref fl);
                    switch (fn)
                    {
                        case X87Fn.Scale: SetSt(0, ok ? Float80.Scale(a, b, rc, ref fl) : Float80.Indefinite); break;
                        case X87Fn.Prem:
                        case X87Fn.Prem1:
                            {
                                Float80 r = ok ? Float80.Remainder(a, b, fn == X87Fn.Prem1, ref fl) : Float80.Indefinite;
                                SetSt(0, r);
                                FpCommit(fl, X87Sw.ConditionCodes);
                                return true;
                            }
                        case X87Fn.Fyl2x:
                        case X87Fn.Fyl2xp1:
                        case X87Fn.Fpatan:
                            {
                                Float80 r = !ok ? Float80.Indefinite
                                    : fn == X87Fn.Fyl2x ? Float80.YLog2X(b, a, rc, ref fl)
                                    : fn == X87Fn.Fyl2xp1 ? Float80.YLog2XP1(b, a, rc, ref fl)
                                    : Float80.Atan2(b, a, rc, ref fl);
                                SetSt(1, r);
                                FpPop();
                                break;
                            }
                    }
                    break;
                }
        }
        FpCommit(fl);
        return true;
    }

    /// <summary>fxam: the class of ST(0) in C3 C2 C0 (empty 101, unsupported 000, NaN 001, normal 010,
    /// infinity 011, zero 100, denormal 110) and its sign in C1.</summary>
    private void Xam()
    {
        Float80 a = St(0);
        ushort cc = a.Sign ? X87Sw.C1 : (ushort)0;
        if (StEmpty(0)) cc |= X87Sw.C3 | X87Sw.C0;
        else cc |= a.Class switch
        {
            FpClass.Unsupported => 0,
            FpClass.QNaN or FpClass.SNaN => X87Sw.C0,
            FpClass.Normal => X87Sw.C2,
            FpClass.Infinity => (ushort)(X87Sw.C2 | X87Sw.C0),
            FpClass.Zero => X87Sw.C3,
            _ => (ushort)(X87Sw.C3 | X87Sw.C2),
        };
        FpCommit(cc, X87Sw.ConditionCodes);
    }
}
