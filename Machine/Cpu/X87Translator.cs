using Iced.Intel;
using IcedRegister = Iced.Intel.Register;

namespace Lab.Machine.Cpu;

/// <summary>
/// Translates the x87 instructions to their handlers (Ops/X87.cs, X87Arith.cs, X87Env.cs). Operands
/// follow Iced's Intel-syntax reading: the first is the destination (fsubp st(i), st(0) stores
/// st(i) - st(0)). R0 holds the ST(i) index of a register operand; Size the memory operand's bytes;
/// Size2 = 1 for an integer memory operand (fild, fiadd, fist ...), 2 for fisttp, 3 for packed BCD (fbld, fbstp).
/// </summary>
internal static class X87Translator
{
    public static bool Translate(in Instruction ins, ref Op op)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Fld: return Load(in ins, ref op, integer: false);
            case Mnemonic.Fild: return Load(in ins, ref op, integer: true);
            case Mnemonic.Fbld: return Bcd(in ins, ref op, OpKind.X87Load, 0);
            case Mnemonic.Fbstp: return Bcd(in ins, ref op, OpKind.X87Store, 1);
            case Mnemonic.Fld1: return Constant(ref op, 1);
            case Mnemonic.Fldl2t: return Constant(ref op, 2);
            case Mnemonic.Fldl2e: return Constant(ref op, 3);
            case Mnemonic.Fldpi: return Constant(ref op, 4);
            case Mnemonic.Fldlg2: return Constant(ref op, 5);
            case Mnemonic.Fldln2: return Constant(ref op, 6);
            case Mnemonic.Fldz: return Constant(ref op, 7);

            case Mnemonic.Fst: return Store(in ins, ref op, 0, pop: false);
            case Mnemonic.Fstp: return Store(in ins, ref op, 0, pop: true);
            case Mnemonic.Fist: return Store(in ins, ref op, 1, pop: false);
            case Mnemonic.Fistp: return Store(in ins, ref op, 1, pop: true);
            case Mnemonic.Fisttp: return Store(in ins, ref op, 2, pop: true);

            case Mnemonic.Fadd: case Mnemonic.Faddp: case Mnemonic.Fiadd: return Arith(in ins, ref op, X87ArithOp.Add);
            case Mnemonic.Fmul: case Mnemonic.Fmulp: case Mnemonic.Fimul: return Arith(in ins, ref op, X87ArithOp.Mul);
            case Mnemonic.Fsub: case Mnemonic.Fsubp: case Mnemonic.Fisub: return Arith(in ins, ref op, X87ArithOp.Sub);
            case Mnemonic.Fsubr: case Mnemonic.Fsubrp: case Mnemonic.Fisubr: return Arith(in ins, ref op, X87ArithOp.SubR);
            case Mnemonic.Fdiv: case Mnemonic.Fdivp: case Mnemonic.Fidiv: return Arith(in ins, ref op, X87ArithOp.Div);
            case Mnemonic.Fdivr: case Mnemonic.Fdivrp: case Mnemonic.Fidivr: return Arith(in ins, ref op, X87ArithOp.DivR);

            case Mnemonic.Fcom: return Compare(in ins, ref op, 0);
            case Mnemonic.Fcomp: return Compare(in ins, ref op, 1);
            case Mnemonic.Fcompp: return Compare(in ins, ref op, 2);
            case Mnemonic.Fucom: return Compare(in ins, ref op, 4);
            case Mnemonic.Fucomp: return Compare(in ins, ref op, 4 | 1);
            case Mnemonic.Fucompp: return Compare(in ins, ref op, 4 | 2);
            case Mnemonic.Ficom: return Compare(in ins, ref op, 0);
            case Mnemonic.Ficomp: return Compare(in ins, ref op, 1);
            case Mnemonic.Ftst: return Compare(in ins, ref op, 0);
            case Mnemonic.Fcomi: return Compare(in ins, ref op, 8);
            case Mnemonic.Fcomip: return Compare(in ins, ref op, 8 | 1);
            case Mnemonic.Fucomi: return Compare(in ins, ref op, 8 | 4);
            case Mnemonic.Fucomip: return Compare(in ins, ref op, 8 | 4 | 1);

            case Mnemonic.Fchs: return Special(ref op, X87Fn.Chs);
            case Mnemonic.Fabs: return Special(ref op, X87Fn.Abs);
            case Mnemonic.Fsqrt: return Special(ref op, X87Fn.Sqrt);
            case Mnemonic.Frndint: return Special(ref op, X87Fn.Rndint);
            case Mnemonic.Fxam: return Special(ref op, X87Fn.Xam);
            case Mnemonic.Fscale: return Special(ref op, X87Fn.Scale);
            case Mnemonic.Fxtract: return Special(ref op, X87Fn.Xtract);
            case Mnemonic.Fprem: return Special(ref op, X87Fn.Prem);
            case Mnemonic.Fprem1: return Special(ref op, X87Fn.Prem1);
            case Mnemonic.F2xm1: return Special(ref op, X87Fn.F2xm1);
            case Mnemonic.Fyl2x: return Special(ref op, X87Fn.Fyl2x);
            case Mnemonic.Fyl2xp1: return Special(ref op, X87Fn.Fyl2xp1);
            case Mnemonic.Fpatan: return Special(ref op, X87Fn.Fpatan);
            case Mnemonic.Fptan: return Special(ref op, X87Fn.Fptan);
            case Mnemonic.Fsin: return Special(ref op, X87Fn.Fsin);
            case Mnemonic.Fcos: return Special(ref op, X87Fn.Fcos);
            case Mnemonic.Fsincos: return Special(ref op, X87Fn.Fsincos);

            case Mnemonic.Fxch: return Stack(in ins, ref op, 0, ins.OpCount == 2 ? St(ins.Op1Register) : (byte)1);
            case Mnemonic.Ffree: return Stack(in ins, ref op, 1, St(ins.Op0Register));
            case Mnemonic.Fincstp: return Stack(in ins, ref op, 2, 0);
            case Mnemonic.Fdecstp: return Stack(in ins, ref op, 3, 0);
            case Mnemonic.Fninit: return Stack(in ins, ref op, 5, 0);
            case Mnemonic.Fnclex: return Stack(in ins, ref op, 6, 0);
            case Mnemonic.Fcmovb: return Fcmov(in ins, ref op, 2);
            case Mnemonic.Fcmovnb: return Fcmov(in ins, ref op, 3);
            case Mnemonic.Fcmove: return Fcmov(in ins, ref op, 4);
            case Mnemonic.Fcmovne: return Fcmov(in ins, ref op, 5);
            case Mnemonic.Fcmovbe: return Fcmov(in ins, ref op, 6);
            case Mnemonic.Fcmovnbe: return Fcmov(in ins, ref op, 7);
            case Mnemonic.Fcmovu: return Fcmov(in ins, ref op, 10);
            case Mnemonic.Fcmovnu: return Fcmov(in ins, ref op, 11);
            case Mnemonic.Fnop: op.Kind = OpKind.Nop; return true;

            case Mnemonic.Fnstcw: return Control(in ins, ref op, 0);
            case Mnemonic.Fldcw: return Control(in ins, ref op, 1);
            case Mnemonic.Fnstsw:
                if (ins.Op0Kind == Iced.Intel.OpKind.Memory) return Control(in ins, ref op, 3);
                return ins.Op0Register == IcedRegister.AX && Control(in ins, ref op, 2);
            case Mnemonic.Wait: return Control(in ins, ref op, 4);
            case Mnemonic.Stmxcsr: return Control(in ins, ref op, 5);
            case Mnemonic.Ldmxcsr: return Control(in ins, ref op, 6);

            case Mnemonic.Fnstenv: return Env(in ins, ref op, X87EnvOp.Fnstenv);
            case Mnemonic.Fldenv: return Env(in ins, ref op, X87EnvOp.Fldenv);
            case Mnemonic.Fnsave: return Env(in ins, ref op, X87EnvOp.Fnsave);
            case Mnemonic.Frstor: return Env(in ins, ref op, X87EnvOp.Frstor);
            case Mnemonic.Fxsave: return Env(in ins, ref op, X87EnvOp.Fxsave);
            case Mnemonic.Fxrstor: return Env(in ins, ref op, X87EnvOp.Fxrstor);
            case Mnemonic.Fxsave64: return Env(in ins, ref op, X87EnvOp.Fxsave64);
            case Mnemonic.Fxrstor64: return Env(in ins, ref op, X87EnvOp.Fxrstor64);
        }
        return false;
    }

    private static byte St(IcedRegister r) => (byte)(r - IcedRegister.ST0);
    private static bool IsSt(IcedRegister r) => r >= IcedRegister.ST0 && r <= IcedRegister.ST7;

    /// <summary>The memory operand, if the instruction has one: Form M, Size its bytes.</summary>
    private static bool MemoryOperand(in Instruction ins, ref Op op, bool integer)
    {
        for (int i = 0; i < ins.OpCount; i++)
        {
            if (ins.GetOpKind(i) != Iced.Intel.OpKind.Memory) continue;
            OpTranslator.Memory(in ins, ref op);
            op.Form = Form.M;
            op.Size = (byte)ins.MemorySize.GetSize();
            op.Size2 = integer ? (byte)1 : (byte)0;
            return true;
        }
        return false;
    }

    private static bool Load(in Instruction ins, ref Op op, bool integer)
    {
        op.Kind = OpKind.X87Load;
        if (MemoryOperand(in ins, ref op, integer))
            return integer ? op.Size is 2 or 4 or 8 : op.Size is 4 or 8 or 10;
        if (!IsSt(ins.Op0Register)) return false;
        op.Form = Form.R;
        op.R0 = St(ins.Op0Register);
        return true;
    }

    /// <summary>fbld/fbstp m80bcd: Size 10, Size2 = 3.</summary>
    private static bool Bcd(in Instruction ins, ref Op op, OpKind kind, byte cond)
    {
        op.Kind = kind;
        op.Cond = cond;
        if (!MemoryOperand(in ins, ref op, integer: false) || op.Size != 10) return false;
        op.Size2 = 3;
        return true;
    }

    private static bool Constant(ref Op op, byte k)
    {
        op.Kind = OpKind.X87Load;
        op.Form = Form.None;
        op.Cond = k;
        return true;
    }

    /// <param name="integer">0 real, 1 integer (rounded under RC), 2 integer truncated (fisttp).</param>
    private static bool Store(in Instruction ins, ref Op op, byte integer, bool pop)
    {
        op.Kind = OpKind.X87Store;
        op.Cond = pop ? (byte)1 : (byte)0;
        if (MemoryOperand(in ins, ref op, integer != 0))
        {
            op.Size2 = integer;
            return integer != 0 ? op.Size is 2 or 4 or 8 : op.Size is 4 or 8 or 10;
        }
        if (integer != 0 || !IsSt(ins.Op0Register)) return false;
        op.Form = Form.R;
        op.R0 = St(ins.Op0Register);
        return true;
    }

    private static bool Arith(in Instruction ins, ref Op op, X87ArithOp sub)
    {
        op.Kind = OpKind.X87Arith;
        op.Cond = (byte)sub;
        bool integer = ins.Mnemonic is Mnemonic.Fiadd or Mnemonic.Fimul or Mnemonic.Fisub or Mnemonic.Fisubr
            or Mnemonic.Fidiv or Mnemonic.Fidivr;
        if (MemoryOperand(in ins, ref op, integer))
            return integer ? op.Size is 2 or 4 : op.Size is 4 or 8;
        if (ins.OpCount != 2 || !IsSt(ins.Op0Register) || !IsSt(ins.Op1Register)) return false;
        op.Form = Form.R;
        bool pop = ins.Mnemonic is Mnemonic.Faddp or Mnemonic.Fmulp or Mnemonic.Fsubp or Mnemonic.Fsubrp
            or Mnemonic.Fdivp or Mnemonic.Fdivrp;
        if (ins.Op0Register == IcedRegister.ST0 && !pop) op.R0 = St(ins.Op1Register);
        else
        {
            if (ins.Op1Register != IcedRegister.ST0) return false;
            op.R0 = St(ins.Op0Register);
            op.Imm = 1;
        }
        if (pop) op.Imm |= 2;
        return true;
    }

    /// <param name="flags">Bits 0-1 pops, bit 2 unordered, bit 3 to EFLAGS.</param>
    private static bool Compare(in Instruction ins, ref Op op, byte flags)
    {
        op.Kind = OpKind.X87Compare;
        op.Cond = flags;
        bool integer = ins.Mnemonic is Mnemonic.Ficom or Mnemonic.Ficomp;
        if (MemoryOperand(in ins, ref op, integer))
            return integer ? op.Size is 2 or 4 : op.Size is 4 or 8;
        if (ins.Mnemonic == Mnemonic.Ftst) { op.Form = Form.None; return true; }
        op.Form = Form.R;
        if ((flags & 3) == 2) { op.R0 = 1; return true; }          // fcompp, fucompp: ST(0) with ST(1)
        IcedRegister other = ins.OpCount == 2 ? ins.Op1Register : ins.OpCount == 1 ? ins.Op0Register : IcedRegister.ST1;
        if (!IsSt(other)) return false;
        op.R0 = St(other);
        return true;
    }

    private static bool Special(ref Op op, X87Fn fn)
    {
        op.Kind = OpKind.X87Special;
        op.Cond = (byte)fn;
        return true;
    }

    private static bool Stack(in Instruction ins, ref Op op, byte which, byte st)
    {
        op.Kind = OpKind.X87Stack;
        op.Cond = which;
        op.R0 = st;
        op.Form = Form.R;
        return true;
    }

    private static bool Fcmov(in Instruction ins, ref Op op, byte cc)
    {
        if (ins.OpCount != 2 || !IsSt(ins.Op1Register)) return false;
        Stack(in ins, ref op, 4, St(ins.Op1Register));
        op.Imm = cc;
        return true;
    }

    private static bool Control(in Instruction ins, ref Op op, byte which)
    {
        op.Kind = OpKind.X87Control;
        op.Cond = which;
        op.Size = which >= 5 ? (byte)4 : (byte)2;
        if (which is 0 or 1 or 3 or 5 or 6)
        {
            if (ins.Op0Kind != Iced.Intel.OpKind.Memory) return false;
            OpTranslator.Memory(in ins, ref op);
            op.Form = Form.M;
        }
        return true;
    }

    private static bool Env(in Instruction ins, ref Op op, X87EnvOp which)
    {
        if (ins.Op0Kind != Iced.Intel.OpKind.Memory) return false;
        op.Kind = OpKind.X87Env;
        op.Cond = (byte)which;
        OpTranslator.Memory(in ins, ref op);
        op.Form = Form.M;
        return true;
    }
}
