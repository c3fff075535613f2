using Iced.Intel;
using static Lab.Machine.Tests.Differential.CaseBuilder;
using static Lab.Machine.Tests.Differential.DiffLayout;

namespace Lab.Machine.Tests.Differential;

using Register = Iced.Intel.Register;

/// <summary>
/// The x87: every case starts from fninit and a random control word (the four rounding modes, the
/// three precisions, exceptions masked), loads two 80-bit operands (edge values: signed zeros,
/// denormals and pseudo-denormals, infinities, quiet and signalling NaNs, the indefinite, unnormals,
/// the largest and smallest exponents, significands at rounding ties for each precision, random
/// bits), runs one instruction, then stores the status word (exceptions, C0-C3, TOP) and, for the top
/// three stack slots, fxam's class and the register's 80 bits. The data area holds all of it, so the
/// comparison is bit for bit on results, flags and condition codes. Some cases store and reload the
/// state (fnstenv/fldenv, fnsave/frstor, fxsave/fxrstor) and leave the image in the data area.
/// </summary>
internal static partial class DiffFamilies
{
    // Offsets from the case's base register (data area + 0x400).
    private const int X87Cw = 0x00, X87A = 0x10, X87B = 0x20, X87Mem = 0x30, X87Sw = 0x40, X87Out = 0x50;

    private static readonly string[] X87ArithNames = ["Fadd", "Fsub", "Fsubr", "Fmul", "Fdiv", "Fdivr"];

    /// <summary>An 80-bit operand: mostly ordinary numbers near 1, plus every class of edge value.</summary>
    private static (ushort SignExp, ulong Mant) X87Value(Gen g)
    {
        ushort sign = g.Chance(40) ? (ushort)0x8000 : (ushort)0;
        ulong m = g.Next(6) switch
        {
            0 => 0x8000_0000_0000_0000UL,
            1 => ulong.MaxValue,
            2 => 0x8000_0000_0000_0000UL | (g.U64() & ~0x7FFUL) | g.Pick(0x400UL, 0x3FFUL, 0x401UL, 0xC00UL, 0x000UL),   // ties at 53 bits
            3 => 0x8000_0000_0000_0000UL | (g.U64() & ~0xFF_FFFF_FFFFUL) | g.Pick(0x80_0000_0000UL, 0x7F_FFFF_FFFFUL, 0x80_0000_0001UL), // ties at 24 bits
            _ => 0x8000_0000_0000_0000UL | g.U64(),
        };
        switch (g.Next(24))
        {
            case 0: return (sign, 0);                                                       // ±0
            case 1: return (sign, m >> g.Next(1, 64));                                      // denormal
            case 2: return ((ushort)(sign | 0x7FFF), 0x8000_0000_0000_0000UL);              // ±inf
            case 3: return ((ushort)(sign | 0x7FFF), 0xC000_0000_0000_0000UL | (g.U64() >> 2)); // QNaN
            case 4: return ((ushort)(sign | 0x7FFF), 0x8000_0000_0000_0000UL | (g.U64() >> 2) | 1); // SNaN
            case 5: return (0xFFFF, 0xC000_0000_0000_0000UL);                                // indefinite
            case 6: return ((ushort)(sign | g.Next(1, 0x7FFF)), m >> 1);                    // unnormal (unsupported)
            case 7: return ((ushort)(sign | 0x7FFE), m);                                    // huge
            case 8: return ((ushort)(sign | g.Next(1, 0x48)), m);                           // tiny
            case 9: return ((ushort)(sign | g.Next(1, 0x7FFF)), m);                         // any exponent
            case 10: return (sign, m | 0x8000_0000_0000_0000UL);                             // pseudo-denormal
            case 11: return ((ushort)(sign | (0x3FFF + g.Next(0, 70))), m);                 // integers and near
            default: return ((ushort)(sign | (0x3FFF + g.Next(-8, 9))), m);                 // near 1
        }
    }

    private static void X87Data(CaseBuilder b, int baseOff, int off, (ushort SignExp, ulong Mant) v)
    {
        b.WriteData(baseOff + off, 8, v.Mant);
        b.WriteData(baseOff + off + 8, 2, v.SignExp);
    }

    /// <summary>A random control word: exceptions masked, RC and PC random (PC 64 most often).</summary>
    private static ushort X87ControlWord(Gen g)
    {
        int pc = g.Next(4) switch { 0 => 0, 1 => 2, _ => 3 };
        int reserved = g.Chance(15) ? g.Next(0x10000) & 0xF080 : 0;   // bits the x87 does not keep
        return (ushort)(0x7F | (pc << 8) | (g.Next(4) << 10) | reserved);
    }

    private static MemoryOperand At(Register rb, int off) => new(rb, off, 1);

    private static void X87(CaseBuilder b)
    {
        var g = b.G;
        const int baseOff = 0x400;
        int r = b.Take();
        b.Gpr[r] = DataAddr + baseOff;
        Register rb = Reg(r, 8);
        b.WriteData(baseOff + X87Cw, 2, X87ControlWord(g));
        X87Data(b, baseOff, X87A, X87Value(g));
        X87Data(b, baseOff, X87B, X87Value(g));
        b.FillData(baseOff + X87Mem, 16);
        b.MarkData(baseOff + X87Sw, 0x90);

        b.Emit(Instruction.Create(Code.Fninit), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fldcw_m2byte, At(rb, X87Cw)), FlagEffect.None);
        int loaded = g.Chance(6) ? g.Next(0, 2) : 2;   // sometimes too few: stack underflow
        if (loaded >= 2) b.Emit(Instruction.Create(Code.Fld_m80fp, At(rb, X87B)), FlagEffect.None);
        if (loaded >= 1) b.Emit(Instruction.Create(Code.Fld_m80fp, At(rb, X87A)), FlagEffect.None);

        var fx = FlagEffect.None;
        int sti = g.Next(1, 3);
        Register st = Register.ST0 + sti;
        switch (g.Next(18))
        {
            case 16:
                {
                    // fnstenv/fldenv or fnsave/frstor round trip; the image stays in memory (pointers zeroed:
                    // the Machine does not track the last instruction and operand)
                    bool save = g.Chance(50);
                    int img = 0x100;
                    b.MarkData(baseOff + img, 108);
                    if (g.Chance(50)) b.Emit(Instruction.Create(Code.Fdecstp), fx);
                    b.Emit(Instruction.Create(save ? Code.Fnsave_m108byte : Code.Fnstenv_m28byte, At(rb, img)), fx);
                    b.Emit(Instruction.Create(Code.Mov_rm64_imm32, At(rb, img + 12), 0), fx);
                    b.Emit(Instruction.Create(Code.Mov_rm64_imm32, At(rb, img + 20), 0), fx);
                    if (g.Chance(50)) b.Emit(Instruction.Create(Code.Fninit), fx);
                    b.Emit(Instruction.Create(save ? Code.Frstor_m108byte : Code.Fldenv_m28byte, At(rb, img)), fx);
                    break;
                }
            case 17:
                {
                    // fxsave/fxrstor round trip through a 16-byte aligned image (pointers and MXCSR_MASK zeroed)
                    int img = 0x400;
                    b.MarkData(baseOff + img, 512);
                    bool wide = g.Chance(50);
                    b.Emit(Instruction.Create(wide ? Code.Fxsave64_m512byte : Code.Fxsave_m512byte, At(rb, img)), fx);
                    b.Emit(Instruction.Create(Code.Mov_rm16_imm16, At(rb, img + 6), 0), fx);
                    b.Emit(Instruction.Create(Code.Mov_rm64_imm32, At(rb, img + 8), 0), fx);
                    b.Emit(Instruction.Create(Code.Mov_rm64_imm32, At(rb, img + 16), 0), fx);
                    b.Emit(Instruction.Create(Code.Mov_rm32_imm32, At(rb, img + 28), 0), fx);
                    b.Emit(Instruction.Create(Code.Fninit), fx);
                    b.Emit(Instruction.Create(wide ? Code.Fxrstor64_m512byte : Code.Fxrstor_m512byte, At(rb, img)), fx);
                    break;
                }
            case 0: case 1: case 2:
                {
                    // register forms: st0 op st(i), st(i) op st0, and the popping forms
                    string n = g.Pick(X87ArithNames);
                    switch (g.Next(3))
                    {
                        case 0: b.Emit(Instruction.Create(C($"{n}_st0_sti"), Register.ST0, st), fx); break;
                        case 1: b.Emit(Instruction.Create(C($"{n}_sti_st0"), st, Register.ST0), fx); break;
                        default: b.Emit(Instruction.Create(C($"{n}p_sti_st0"), st, Register.ST0), fx); break;
                    }
                    break;
                }
            case 3: case 4:
                {
                    // st0 op m32/m64 real, or m16/m32 integer
                    string n = g.Pick(X87ArithNames);
                    int kind = g.Next(4);
                    int size = kind switch { 0 => 4, 1 => 8, 2 => 2, _ => 4 };
                    ulong v = kind switch
                    {
                        0 => FloatLane(g),
                        1 => DoubleLane(g),
                        _ => g.Value(size),
                    };
                    b.WriteData(baseOff + X87Mem, size, v);
                    string code = kind switch { 0 => $"{n}_m32fp", 1 => $"{n}_m64fp", 2 => $"Fi{n[1..].ToLowerInvariant()}_m16int", _ => $"Fi{n[1..].ToLowerInvariant()}_m32int" };
                    b.Emit(Instruction.Create(C(code), At(rb, X87Mem)), fx);
                    break;
                }
            case 5: case 6:
                b.Emit(Instruction.Create(C(g.Pick("Fsqrt", "Frndint", "Fchs", "Fabs", "Fxtract", "Fscale", "Fprem", "Fprem1", "Fxam", "Ftst"))), fx);
                break;
            case 7:
                {
                    // compares to C0/C2/C3 and to EFLAGS
                    string n = g.Pick("Fcom", "Fcomp", "Fucom", "Fucomp", "Fcomi", "Fcomip", "Fucomi", "Fucomip", "Fcompp", "Fucompp");
                    if (n.EndsWith("pp")) b.Emit(Instruction.Create(C(n)), fx);
                    else
                    {
                        if (n.Contains("comi")) fx = FlagEffect.All;
                        b.Emit(Instruction.Create(C($"{n}_st0_sti"), Register.ST0, st), fx);
                    }
                    break;
                }
            case 8:
                {
                    // compares with memory: m32/m64 real, m16/m32 integer
                    int kind = g.Next(4);
                    int size = kind switch { 0 => 4, 1 => 8, 2 => 2, _ => 4 };
                    b.WriteData(baseOff + X87Mem, size, kind switch { 0 => FloatLane(g), 1 => DoubleLane(g), _ => g.Value(size) });
                    string p = g.Chance(50) ? "p" : "";
                    string code = kind switch { 0 => $"Fcom{p}_m32fp", 1 => $"Fcom{p}_m64fp", 2 => $"Ficom{p}_m16int", _ => $"Ficom{p}_m32int" };
                    b.Emit(Instruction.Create(C(code), At(rb, X87Mem)), fx);
                    break;
                }
            case 9: case 10:
                {
                    // stores with rounding: m32/m64 real, m16/m32/m64 integer (fist, fistp, fisttp)
                    string code = g.Pick("Fst_m32fp", "Fst_m64fp", "Fstp_m32fp", "Fstp_m64fp", "Fist_m16int", "Fist_m32int",
                        "Fistp_m16int", "Fistp_m32int", "Fistp_m64int", "Fisttp_m16int", "Fisttp_m32int", "Fisttp_m64int", "Fstp_m80fp",
                        "Fbstp_m80bcd");
                    b.Emit(Instruction.Create(C(code), At(rb, X87Mem)), fx);
                    break;
                }
            case 11:
                {
                    // loads with conversion, and the constants (rounded under RC)
                    int kind = g.Next(7);
                    if (kind == 6)
                    {
                        // packed BCD: 18 random decimal digits and a sign
                        for (int k = 0; k < 9; k++) b.WriteData(baseOff + X87Mem + k, 1, (ulong)(g.Next(10) | g.Next(10) << 4));
                        b.WriteData(baseOff + X87Mem + 9, 1, g.Chance(50) ? 0x80UL : 0);
                        b.Emit(Instruction.Create(Code.Fbld_m80bcd, At(rb, X87Mem)), fx);
                        break;
                    }
                    if (kind == 5)
                    {
                        b.Emit(Instruction.Create(C(g.Pick("Fld1", "Fldz", "Fldpi", "Fldl2e", "Fldl2t", "Fldlg2", "Fldln2"))), fx);
                        break;
                    }
                    int size = kind switch { 0 => 4, 1 => 8, 2 => 2, 3 => 4, _ => 8 };
                    b.WriteData(baseOff + X87Mem, size, kind switch { 0 => FloatLane(g), 1 => DoubleLane(g), _ => g.Value(size) });
                    string code = kind switch { 0 => "Fld_m32fp", 1 => "Fld_m64fp", 2 => "Fild_m16int", 3 => "Fild_m32int", _ => "Fild_m64int" };
                    b.Emit(Instruction.Create(C(code), At(rb, X87Mem)), fx);
                    break;
                }
            case 12:
                {
                    // register moves: fld st(i), fst(p) st(i), fxch, ffree, fincstp, fdecstp
                    switch (g.Next(6))
                    {
                        case 0: b.Emit(Instruction.Create(Code.Fld_sti, st), fx); break;
                        case 1: b.Emit(Instruction.Create(g.Chance(50) ? Code.Fst_sti : Code.Fstp_sti, st), fx); break;
                        case 2: b.Emit(Instruction.Create(Code.Fxch_st0_sti, Register.ST0, st), fx); break;
                        case 3: b.Emit(Instruction.Create(Code.Ffree_sti, Register.ST0 + g.Next(0, 3)), fx); break;
                        case 4: b.Emit(Instruction.Create(Code.Fincstp), fx); break;
                        default: b.Emit(Instruction.Create(Code.Fdecstp), fx); break;
                    }
                    break;
                }
            case 13:
                {
                    // fcmovcc on the flags of an integer operation
                    b.Producer();
                    string n = g.Pick("Fcmovb", "Fcmove", "Fcmovbe", "Fcmovu", "Fcmovnb", "Fcmovne", "Fcmovnbe", "Fcmovnu");
                    b.Emit(Instruction.Create(C($"{n}_st0_sti"), Register.ST0, st), fx);
                    break;
                }
            case 14:
                {
                    // a chain: the result of one operation is the operand of the next
                    for (int k = 0, n = g.Next(2, 5); k < n; k++)
                    {
                        string name = g.Pick(X87ArithNames);
                        b.Emit(Instruction.Create(C($"{name}_st0_sti"), Register.ST0, Register.ST1), fx);
                        if (g.Chance(30)) b.Emit(g.Chance(50) ? Instruction.Create(C(g.Pick("Fsqrt", "Frndint")))
                            : Instruction.Create(Code.Fxch_st0_sti, Register.ST0, Register.ST1), fx);
                    }
                    break;
                }
            default:
                {
                    // stack overflow: more pushes than registers
                    for (int k = 0, n = g.Next(6, 9); k < n; k++) b.Emit(Instruction.Create(Code.Fld_sti, Register.ST1), fx);
                    break;
                }
        }
        b.Emit(Instruction.Create(Code.Fnstsw_m2byte, At(rb, X87Sw)), FlagEffect.None);
        for (int i = 0; i < 3; i++)
        {
            b.Emit(Instruction.Create(Code.Fxam), FlagEffect.None);
            b.Emit(Instruction.Create(Code.Fnstsw_m2byte, At(rb, X87Sw + 2 + 2 * i)), FlagEffect.None);
            b.Emit(Instruction.Create(Code.Fstp_m80fp, At(rb, X87Out + 16 * i)), FlagEffect.None);
        }
        b.Emit(Instruction.Create(Code.Fnstsw_m2byte, At(rb, X87Sw + 8)), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fnstcw_m2byte, At(rb, X87Sw + 10)), FlagEffect.None);
    }
    /// <summary>Rounding: ordinary operands (random 64-bit significands, exponents that make results
    /// overflow, underflow into denormals or cancel) through the arithmetic, square root and stores, in
    /// every rounding mode and precision, with chains so that rounded results feed the next operation.</summary>
    private static void X87Rounding(CaseBuilder b)
    {
        var g = b.G;
        const int baseOff = 0x400;
        int r = b.Take();
        b.Gpr[r] = DataAddr + baseOff;
        Register rb = Reg(r, 8);
        b.WriteData(baseOff + X87Cw, 2, X87ControlWord(g));
        for (int k = 0; k < 2; k++)
        {
            ushort sign = g.Chance(40) ? (ushort)0x8000 : (ushort)0;
            int e = g.Next(5) switch
            {
                0 => g.Next(1, 80),                     // near the bottom: products and quotients underflow
                1 => g.Next(0x7FFE - 80, 0x7FFF),       // near the top: they overflow
                _ => 0x3FFF + g.Next(-70, 71),          // sums that cancel or round
            };
            ulong m = 0x8000_0000_0000_0000UL | g.U64();
            if (g.Chance(30)) m = (m & ~0xFFFUL) | g.Pick(0x400UL, 0x800UL, 0xC00UL, 0x7FFUL, 0x001UL);
            X87Data(b, baseOff, k == 0 ? X87A : X87B, ((ushort)(sign | e), m));
        }
        b.MarkData(baseOff + X87Sw, 0x90);
        b.FillData(baseOff + X87Mem, 16);
        b.Emit(Instruction.Create(Code.Fninit), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fldcw_m2byte, At(rb, X87Cw)), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fld_m80fp, At(rb, X87B)), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fld_m80fp, At(rb, X87A)), FlagEffect.None);
        for (int k = 0, n = g.Next(1, 4); k < n; k++)
        {
            switch (g.Next(5))
            {
                case 0: b.Emit(Instruction.Create(Code.Fsqrt), FlagEffect.None); break;
                case 1: b.Emit(Instruction.Create(Code.Fabs), FlagEffect.None); b.Emit(Instruction.Create(Code.Fsqrt), FlagEffect.None); break;
                default:
                    b.Emit(Instruction.Create(C($"{g.Pick(X87ArithNames)}_st0_sti"), Register.ST0, Register.ST1), FlagEffect.None);
                    break;
            }
        }
        string store = g.Pick("Fst_m32fp", "Fst_m64fp", "Fist_m32int", "Fistp_m64int", "Fisttp_m64int", "Fstp_m80fp");
        b.Emit(Instruction.Create(C(store), At(rb, X87Mem)), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fnstsw_m2byte, At(rb, X87Sw)), FlagEffect.None);
        for (int i = 0; i < 2; i++)
            b.Emit(Instruction.Create(Code.Fstp_m80fp, At(rb, X87Out + 16 * i)), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fnstsw_m2byte, At(rb, X87Sw + 8)), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fnstcw_m2byte, At(rb, X87Sw + 10)), FlagEffect.None);
    }

    /// <summary>fprem and fprem1: exponent differences from below zero to far beyond 64 (the partial
    /// reduction, C2 set, repeated as a program's loop would), quotients at ties, denormal divisors.</summary>
    private static void X87Remainder(CaseBuilder b)
    {
        var g = b.G;
        const int baseOff = 0x400;
        int r = b.Take();
        b.Gpr[r] = DataAddr + baseOff;
        Register rb = Reg(r, 8);
        b.WriteData(baseOff + X87Cw, 2, X87ControlWord(g));
        int eb = g.Chance(10) ? g.Next(0, 3) : 0x3FFF + g.Next(-200, 200);
        int ea = Math.Clamp(eb + g.Pick(g.Next(-3, 3), g.Next(0, 70), g.Next(60, 300)), 1, 0x7FFE);
        ulong mb = 0x8000_0000_0000_0000UL | (g.Chance(30) ? 0 : g.U64());
        ulong ma = g.Chance(20) ? mb : 0x8000_0000_0000_0000UL | g.U64();
        X87Data(b, baseOff, X87A, ((ushort)((g.Chance(40) ? 0x8000 : 0) | ea), ma));
        X87Data(b, baseOff, X87B, ((ushort)((g.Chance(40) ? 0x8000 : 0) | eb), eb == 0 ? mb >> 3 : mb));
        b.MarkData(baseOff + X87Sw, 0x90);
        b.Emit(Instruction.Create(Code.Fninit), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fldcw_m2byte, At(rb, X87Cw)), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fld_m80fp, At(rb, X87B)), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fld_m80fp, At(rb, X87A)), FlagEffect.None);
        Code rem = g.Chance(50) ? Code.Fprem : Code.Fprem1;
        for (int k = 0, n = g.Next(1, 4); k < n; k++)
        {
            b.Emit(Instruction.Create(rem), FlagEffect.None);
            b.Emit(Instruction.Create(Code.Fnstsw_m2byte, At(rb, X87Sw + 2 * k)), FlagEffect.None);
        }
        for (int i = 0; i < 2; i++)
            b.Emit(Instruction.Create(Code.Fstp_m80fp, At(rb, X87Out + 16 * i)), FlagEffect.None);
    }
}
