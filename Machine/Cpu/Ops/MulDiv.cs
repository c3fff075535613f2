namespace Lab.Machine.Cpu;

/// <summary>
/// mul / imul (one, two and three operands) and div / idiv. Division by zero and a quotient that
/// does not fit raise #DE; the registers are then unchanged.
/// </summary>
public sealed unsafe partial class Cpu
{
    private bool ReadRm(ref Op op, out ulong v)
    {
        if (op.Form == Form.R) { v = GetReg(op.R0, op.Size); return true; }
        return Read(EA(ref op), op.Size, out v);
    }

    private void SetMulFlags(int size, ulong low, bool overflow)
    {
        ulong aux = overflow ? FlagMath.CF | FlagMath.OF : 0;
        SetFlagsAux(FlagOp.ResultAux, size, 0, 0, low & FlagMath.Mask(size), aux);
    }

    /// <summary>mul r/m: unsigned rdx:rax = rax * src (by size); CF = OF = high half non-zero.</summary>
    private bool Mul(ref Op op)
    {
        if (!ReadRm(ref op, out ulong s)) return false;
        switch (op.Size)
        {
            case 1:
                {
                    ulong p = (_regs[0] & 0xFF) * s;
                    SetReg(0, 2, p);
                    SetMulFlags(1, p, (p >> 8) != 0);
                    break;
                }
            case 2:
                {
                    ulong p = (_regs[0] & 0xFFFF) * s;
                    SetReg(0, 2, p); SetReg(2, 2, p >> 16);
                    SetMulFlags(2, p, (p >> 16) != 0);
                    break;
                }
            case 4:
                {
                    ulong p = (_regs[0] & 0xFFFFFFFF) * s;
                    _regs[0] = (uint)p; _regs[2] = p >> 32;
                    SetMulFlags(4, p, (p >> 32) != 0);
                    break;
                }
            default:
                {
                    ulong hi = Math.BigMul(_regs[0], s, out ulong lo);
                    _regs[0] = lo; _regs[2] = hi;
                    SetMulFlags(8, lo, hi != 0);
                    break;
                }
        }
        return true;
    }

    /// <summary>imul r/m: signed rdx:rax = rax * src; CF = OF = the high half is not the sign extension of the low.</summary>
    private bool Imul1(ref Op op)
    {
        if (!ReadRm(ref op, out ulong s)) return false;
        int size = op.Size;
        long a = FlagMath.SignExtend(_regs[0], size), b = FlagMath.SignExtend(s, size);
        switch (size)
        {
            case 1:
                {
                    long p = a * b;
                    SetReg(0, 2, (ulong)p);
                    SetMulFlags(1, (ulong)p, p != (sbyte)p);
                    break;
                }
            case 2:
                {
                    long p = a * b;
                    SetReg(0, 2, (ulong)p); SetReg(2, 2, (ulong)p >> 16);
                    SetMulFlags(2, (ulong)p, p != (short)p);
                    break;
                }
            case 4:
                {
                    long p = a * b;
                    _regs[0] = (uint)p; _regs[2] = (uint)((ulong)p >> 32);
                    SetMulFlags(4, (ulong)p, p != (int)p);
                    break;
                }
            default:
                {
                    long hi = Math.BigMul(a, b, out long lo);
                    _regs[0] = (ulong)lo; _regs[2] = (ulong)hi;
                    SetMulFlags(8, (ulong)lo, hi != (lo >> 63));
                    break;
                }
        }
        return true;
    }

    /// <summary>imul r, r/m (Imul2) and imul r, r/m, imm (Imul3): truncated signed product.</summary>
    /// <summary>The product of sign-extended <paramref name="a"/> and <paramref name="b"/> truncated to
    /// <paramref name="size"/> bytes (2, 4 or 8), and whether it overflowed (imul's CF and OF); shared with the JIT.</summary>
    internal static ulong SignedProduct(long a, long b, int size, out bool overflow)
    {
        if (size == 8)
        {
            long hi = Math.BigMul(a, b, out long lo);
            overflow = hi != (lo >> 63);
            return (ulong)lo;
        }
        long p = a * b;
        ulong low = (ulong)p & FlagMath.Mask(size);
        overflow = p != FlagMath.SignExtend(low, size);
        return low;
    }

    private bool Imul2(ref Op op)
    {
        int size = op.Size;
        ulong s;
        if (op.Form == Form.RR) s = GetReg(op.R1, size);
        else if (!Read(EA(ref op), size, out s)) return false;
        long a, b;
        if (op.Kind == OpKind.Imul3) { a = FlagMath.SignExtend(s, size); b = FlagMath.SignExtend(op.Imm, size); }
        else { a = FlagMath.SignExtend(GetReg(op.R0, size), size); b = FlagMath.SignExtend(s, size); }
        ulong low = SignedProduct(a, b, size, out bool overflow);
        SetReg(op.R0, size, low);
        SetMulFlags(size, low, overflow);
        return true;
    }

    private bool DivideError() => RecordTrap(TrapKind.DivideError, 0, retires: false);

    /// <summary>div r/m: unsigned; #DE on a zero divisor or a quotient that overflows.</summary>
    private bool Div(ref Op op)
    {
        if (!ReadRm(ref op, out ulong s)) return false;
        if (s == 0) return DivideError();
        switch (op.Size)
        {
            case 1:
                {
                    ulong n = _regs[0] & 0xFFFF, q = n / s;
                    if (q > 0xFF) return DivideError();
                    SetReg(0, 2, ((n % s) << 8) | q);
                    return true;
                }
            case 2:
                {
                    ulong n = ((_regs[2] & 0xFFFF) << 16) | (_regs[0] & 0xFFFF), q = n / s;
                    if (q > 0xFFFF) return DivideError();
                    SetReg(0, 2, q); SetReg(2, 2, n % s);
                    return true;
                }
            case 4:
                {
                    ulong n = ((_regs[2] & 0xFFFFFFFF) << 32) | (_regs[0] & 0xFFFFFFFF), q = n / s;
                    if (q > 0xFFFFFFFF) return DivideError();
                    _regs[0] = q; _regs[2] = n % s;
                    return true;
                }
            default:
                {
                    if (_regs[2] >= s) return DivideError();   // quotient would not fit in 64 bits
                    UInt128 n = ((UInt128)_regs[2] << 64) | _regs[0];
                    _regs[0] = (ulong)(n / s);
                    _regs[2] = (ulong)(n % s);
                    return true;
                }
        }
    }

    /// <summary>idiv r/m: signed, quotient truncated toward zero; #DE on zero or overflow (e.g. INT64_MIN / -1).</summary>
    private bool Idiv(ref Op op)
    {
        if (!ReadRm(ref op, out ulong raw)) return false;
        int size = op.Size;
        long s = FlagMath.SignExtend(raw, size);
        if (s == 0) return DivideError();
        switch (size)
        {
            case 1:
                {
                    long n = (short)_regs[0], q = n / s;
                    if (q != (sbyte)q) return DivideError();
                    SetReg(0, 2, ((ulong)(n % s) & 0xFF) << 8 | ((ulong)q & 0xFF));
                    return true;
                }
            case 2:
                {
                    long n = (int)(((_regs[2] & 0xFFFF) << 16) | (_regs[0] & 0xFFFF)), q = n / s;
                    if (q != (short)q) return DivideError();
                    SetReg(0, 2, (ulong)q); SetReg(2, 2, (ulong)(n % s));
                    return true;
                }
            case 4:
                {
                    long n = (long)(((_regs[2] & 0xFFFFFFFF) << 32) | (_regs[0] & 0xFFFFFFFF)), q = n / s;
                    if (q != (int)q) return DivideError();
                    _regs[0] = (uint)q; _regs[2] = (uint)(n % s);
                    return true;
                }
            default:
                {
                    Int128 n = (Int128)(((UInt128)_regs[2] << 64) | _regs[0]);
                    if (n == Int128.MinValue && s == -1) return DivideError();
                    Int128 q = n / s;
                    if (q > long.MaxValue || q < long.MinValue) return DivideError();
                    _regs[0] = (ulong)(long)q;
                    _regs[2] = (ulong)(long)(n % s);
                    return true;
                }
        }
    }
}
