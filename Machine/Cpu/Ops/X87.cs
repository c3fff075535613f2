namespace Lab.Machine.Cpu;

/// <summary>
/// The x87 FPU: its state (eight 80-bit registers as a stack with TOP, which registers are empty,
/// the control and status words) and the data movement, stack and control instructions. Arithmetic
/// is in X87Arith.cs, the environment images (fnstenv, fnsave, fxsave and their loads) in X87Env.cs,
/// the numbers themselves in Float80 (exact soft-float, never the host's double).
/// Exceptions are handled as the x87 does when they are masked (Linux's default control word 0x37f):
/// the flag is set in the status word and the instruction delivers the masked response. An exception
/// the program has unmasked also sets ES and B, but raises no #MF: the Machine always gives the
/// masked response (documented in the README).
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>Physical registers R0..R7; ST(i) is R[(TOP + i) mod 8].</summary>
    private readonly Float80[] _fpr = new Float80[8];
    private int _fpTop;
    /// <summary>Bit i set: physical register i is empty (the inverse of FXSAVE's abridged tag).</summary>
    private byte _fpEmpty = 0xFF;
    private ushort _fpCw = X87DefaultControl;
    /// <summary>The status word without TOP (bits 11-13 are kept in <see cref="_fpTop"/>).</summary>
    private ushort _fpSw;
    /// <summary>MXCSR as the guest last loaded it (ldmxcsr, fxrstor); see X87Control.</summary>
    private uint _mxcsr = DefaultMxcsr;

    /// <summary>The x87 control word after finit: all exceptions masked, 64-bit precision, round to nearest.</summary>
    private const ushort X87DefaultControl = 0x037F;

    /// <summary>The x87 control word. Reserved bits 7 and 13-15 read as 0, bit 6 as 1 (as the hardware
    /// stores them after fldcw).</summary>
    public ushort X87ControlWord { get => _fpCw; set => _fpCw = (ushort)((value & 0x1F3F) | 0x40); }

    /// <summary>The x87 status word with TOP in bits 11-13.</summary>
    public ushort X87StatusWord
    {
        get => (ushort)((_fpSw & ~0x3800) | (_fpTop << 11));
        set { _fpSw = (ushort)(value & ~0x3800); _fpTop = (value >> 11) & 7; }
    }

    /// <summary>The full tag word (2 bits per physical register: 0 valid, 1 zero, 2 special, 3 empty), computed
    /// from the registers' contents as fnstenv stores it.</summary>
    public ushort X87TagWord
    {
        get
        {
            int tw = 0;
            for (int i = 0; i < 8; i++)
            {
                int t;
                if ((_fpEmpty & (1 << i)) != 0) t = 3;
                else t = _fpr[i].Class switch { FpClass.Zero => 1, FpClass.Normal => 0, _ => 2 };
                tw |= t << (2 * i);
            }
            return (ushort)tw;
        }
        set
        {
            byte empty = 0;
            for (int i = 0; i < 8; i++) if (((value >> (2 * i)) & 3) == 3) empty |= (byte)(1 << i);
            _fpEmpty = empty;
        }
    }

    /// <summary>Physical x87 register <paramref name="index"/> (0..7): sign and exponent, significand.</summary>
    public (ushort SignExp, ulong Mantissa) GetX87Register(int index)
    {
        Float80 f = _fpr[index & 7];
        return (f.SignExp, f.Mant);
    }

    public void SetX87Register(int index, ushort signExp, ulong mantissa) => _fpr[index & 7] = new(signExp, mantissa);

    /// <summary>The x87 at power-on: FNINIT's state with the registers cleared as well.</summary>
    public void ResetX87()
    {
        Array.Clear(_fpr);
        FpInit();
    }

    /// <summary>FNINIT: default control word, clear status, TOP 0, every register empty (their
    /// contents stay, as on the hardware: fldenv can make them visible again).</summary>
    private void FpInit()
    {
        _fpTop = 0;
        _fpEmpty = 0xFF;
        _fpCw = X87DefaultControl;
        _fpSw = 0;
    }

    /// <summary>MXCSR as the guest sees it (stmxcsr, fxsave); SSE arithmetic always runs in the default mode.</summary>
    public uint Mxcsr { get => _mxcsr; set => _mxcsr = value & MxcsrMask; }

    // ------------------------------------------------------------------------------------------
    // The register stack.

    private int Phys(int i) => (_fpTop + i) & 7;
    private bool StEmpty(int i) => (_fpEmpty & (1 << Phys(i))) != 0;
    private Float80 St(int i) => _fpr[Phys(i)];

    private void SetSt(int i, Float80 v)
    {
        int p = Phys(i);
        _fpr[p] = v;
        _fpEmpty &= (byte)~(1 << p);
    }

    private void FpPop()
    {
        _fpEmpty |= (byte)(1 << _fpTop);
        _fpTop = (_fpTop + 1) & 7;
    }

    /// <summary>Pushes a value; pushing onto a full stack is a stack overflow (IE, SF, C1 set) whose
    /// masked response pushes the indefinite.</summary>
    private void FpPush(Float80 v, ref ushort fl)
    {
        int p = (_fpTop - 1) & 7;
        if ((_fpEmpty & (1 << p)) == 0)
        {
            fl |= X87Sw.IE | X87Sw.SF | X87Sw.C1;
            v = Float80.Indefinite;
        }
        _fpTop = p;
        _fpr[p] = v;
        _fpEmpty &= (byte)~(1 << p);
    }

    /// <summary>Reads ST(i); an empty register is a stack underflow (IE, SF, C1 clear) and reads as the
    /// indefinite. False when it was empty.</summary>
    private bool ReadSt(int i, out Float80 v, ref ushort fl)
    {
        if (StEmpty(i))
        {
            fl |= X87Sw.IE | X87Sw.SF;
            v = Float80.Indefinite;
            return false;
        }
        v = St(i);
        return true;
    }

    /// <summary>
    /// Ends an instruction: its exceptions (sticky) and C1 go into the status word. C1 is the round-up
    /// indicator, or 1 for a stack overflow; an instruction that sets condition codes itself passes
    /// <paramref name="ccMask"/> for the codes it defines. An exception the control word does not mask
    /// sets ES and B (no #MF is raised; see the class comment).
    /// </summary>
    private void FpCommit(ushort fl, ushort ccMask = X87Sw.C1)
    {
        ushort sw = (ushort)((_fpSw & ~ccMask) | (fl & ccMask) | (fl & (X87Sw.Exceptions | X87Sw.SF)));
        if ((sw & ~_fpCw & X87Sw.Exceptions) != 0) sw |= X87Sw.ES | X87Sw.B;
        _fpSw = sw;
    }

    private FpRound FpRc => Float80.Rounding(_fpCw);
    private int FpPrecision => Float80.Precision(_fpCw);

    /// <summary>Reads a memory operand of an x87 instruction as an extended value: m32/m64/m80 real
    /// (Size 4/8/10), or m16/m32/m64 integer (Size2 = 1). False after a recorded fault. For an operand
    /// of arithmetic (<paramref name="operand"/>) an SNaN stays signalling (the operation raises IE).</summary>
    private bool ReadFpMemory(ref Op op, out Float80 v, ref ushort fl, bool operand = false)
    {
        ulong ea = EA(ref op);
        ulong bits;
        v = default;
        if (op.Size2 == 3)
        {
            Span<byte> b = stackalloc byte[10];
            if (!ReadBytes(ea, b)) return false;
            v = Float80.FromBcd(b);
            return true;
        }
        if (op.Size2 == 1)
        {
            if (!Read(ea, op.Size, out bits)) return false;
            v = Float80.FromInt64(op.Size switch { 2 => (short)bits, 4 => (int)bits, _ => (long)bits });
            return true;
        }
        switch (op.Size)
        {
            case 4:
                if (!Read32(ea, out bits)) return false;
                v = Float80.FromSingle((uint)bits, ref fl, operand);
                return true;
            case 8:
                if (!Read64(ea, out bits)) return false;
                v = Float80.FromDouble(bits, ref fl, operand);
                return true;
            default:
                return ReadFloat80(ea, out v);
        }
    }

    private bool ReadFloat80(ulong ea, out Float80 v)
    {
        Span<byte> b = stackalloc byte[10];
        if (!ReadBytes(ea, b)) { v = default; return false; }
        v = new Float80(BitConverter.ToUInt16(b[8..]), BitConverter.ToUInt64(b));
        return true;
    }

    private bool WriteFloat80(ulong ea, Float80 v)
    {
        Span<byte> b = stackalloc byte[10];
        BitConverter.TryWriteBytes(b, v.Mant);
        BitConverter.TryWriteBytes(b[8..], v.SignExp);
        return WriteBytes(ea, b);
    }

    // ------------------------------------------------------------------------------------------
    // Loads and stores.

    // FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ (Cond 1..7): the constants rounded to nearest;
    // the x87 holds them to more bits and rounds them under RC, so the ones rounded up here (Up) are one
    // ulp less toward zero and down, and the one rounded down is one more upward.
    private static ReadOnlySpan<ulong> ConstantMant =>
        [0, 0x8000_0000_0000_0000, 0xD49A_784B_CD1B_8AFE, 0xB8AA_3B29_5C17_F0BC, 0xC90F_DAA2_2168_C235, 0x9A20_9A84_FBCF_F799, 0xB172_17F7_D1CF_79AC, 0];
    private static ReadOnlySpan<ushort> ConstantExp => [0, 0x3FFF, 0x4000, 0x3FFF, 0x4000, 0x3FFD, 0x3FFE, 0];
    private static ReadOnlySpan<sbyte> ConstantRoundedUp => [0, 0, -1, 1, 1, 1, 1, 0];   // 1 up, -1 down, 0 exact

    private Float80 Constant(int k)
    {
        ulong m = ConstantMant[k];
        FpRound rc = FpRc;
        if (ConstantRoundedUp[k] > 0 && rc is FpRound.Down or FpRound.Zero) m--;
        else if (ConstantRoundedUp[k] < 0 && rc == FpRound.Up) m++;
        return new Float80(ConstantExp[k], m);
    }

    /// <summary>fld m32/m64/m80, fild m16/m32/m64, fbld m80bcd, fld st(i), and the constant loads (Form None, Cond = constant).</summary>
    private bool X87Load(ref Op op)
    {
        ushort fl = 0;
        Float80 v;
        if (op.Form == Form.M) { if (!ReadFpMemory(ref op, out v, ref fl)) return false; }
        else if (op.Form == Form.R) ReadSt(op.R0, out v, ref fl);
        else v = Constant(op.Cond);
        FpPush(v, ref fl);
        FpCommit(fl);
        return true;
    }

    /// <summary>fst/fstp m32/m64/m80 and st(i), fist/fistp m16/m32/m64, fisttp (Size2 = 2), fbstp (Size2 = 3); Cond bit 0: pop.
    /// An empty ST(0) is a stack underflow: the indefinite is stored (and the stack still pops).</summary>
    private bool X87Store(ref Op op)
    {
        ushort fl = 0;
        ReadSt(0, out Float80 v, ref fl);
        if (op.Form == Form.R)
        {
            SetSt(op.R0, v);
        }
        else
        {
            ulong ea = EA(ref op);
            bool ok;
            if (op.Size2 == 3)
            {
                Span<byte> b = stackalloc byte[10];
                Float80.ToBcd(v, FpRc, b, ref fl);
                ok = WriteBytes(ea, b);
            }
            else if (op.Size2 != 0)
            {
                ulong r = Float80.ToInteger(v, op.Size, op.Size2 == 2 ? FpRound.Zero : FpRc, ref fl);
                ok = Write(ea, op.Size, r);
            }
            else ok = op.Size switch
            {
                4 => Write32(ea, Float80.ToSingle(v, FpRc, ref fl)),
                8 => Write64(ea, Float80.ToDouble(v, FpRc, ref fl)),
                _ => WriteFloat80(ea, v),
            };
            if (!ok) return false;
        }
        if ((op.Cond & 1) != 0) FpPop();
        FpCommit(fl);
        return true;
    }

    /// <summary>fxch (0), ffree (1), fincstp (2), fdecstp (3), fcmovcc (4, Imm = condition code),
    /// fninit (5), fnclex (6).</summary>
    private bool X87Stack(ref Op op)
    {
        ushort fl = 0;
        switch (op.Cond)
        {
            case 0:
                {
                    ReadSt(0, out Float80 a, ref fl);
                    ReadSt(op.R0, out Float80 b, ref fl);
                    SetSt(0, b);
                    SetSt(op.R0, a);
                    FpCommit(fl);
                    return true;
                }
            case 1: _fpEmpty |= (byte)(1 << Phys(op.R0)); return true;
            case 2: _fpTop = (_fpTop + 1) & 7; FpCommit(0); return true;
            case 3: _fpTop = (_fpTop - 1) & 7; FpCommit(0); return true;
            case 4:
                {
                    // an empty operand is a stack underflow whether or not the condition holds
                    bool ok = ReadSt(0, out _, ref fl);
                    ok &= ReadSt(op.R0, out Float80 b, ref fl);
                    if (!ok) SetSt(0, Float80.Indefinite);
                    else if (Condition((int)op.Imm)) SetSt(0, b);
                    FpCommit(fl);
                    return true;
                }
            case 5: FpInit(); return true;
            default: _fpSw &= 0x7F00; return true;
        }
    }

    /// <summary>fnstcw m16 (0), fldcw m16 (1), fnstsw ax (2), fnstsw m16 (3), fwait (4: no exception
    /// pends, see the class comment), stmxcsr m32 (5), ldmxcsr m32 (6: reserved bits are #GP; the value
    /// is kept and read back, but SSE arithmetic always runs in the default mode, see SseFloat.cs).</summary>
    private bool X87Control(ref Op op)
    {
        switch (op.Cond)
        {
            case 0: return Write(EA(ref op), 2, _fpCw);
            case 1:
                if (!Read(EA(ref op), 2, out ulong cw)) return false;
                X87ControlWord = (ushort)cw;
                FpCommit(0, 0);
                if ((_fpSw & ~_fpCw & X87Sw.Exceptions) == 0) _fpSw &= unchecked((ushort)~(X87Sw.ES | X87Sw.B));
                return true;
            case 2: SetReg(0, 2, X87StatusWord); return true;
            case 3: return Write(EA(ref op), 2, X87StatusWord);
            case 5: return Write32(EA(ref op), _mxcsr);
            case 6:
                if (!Read32(EA(ref op), out ulong m)) return false;
                if ((m & ~(ulong)MxcsrMask) != 0) { RecordGeneralProtection(); return false; }
                _mxcsr = (uint)m;
                return true;
            default: return true;
        }
    }
}
