using Iced.Intel;
using IcedRegister = Iced.Intel.Register;

namespace Lab.Machine.Cpu;

/// <summary>
/// Converts one Iced <see cref="Instruction"/> into an interpreter <see cref="Op"/>: picks the handler
/// kind (specialised forms for the hottest instructions), resolves operands and RIP-relative addresses.
/// Anything we do not implement becomes <see cref="OpKind.Invalid"/> carrying its text.
/// </summary>
internal static class OpTranslator
{
    /// <summary>Kinds after which a block must end (they change rip or trap).</summary>
    public static bool EndsBlock(OpKind k) => k switch
    {
        OpKind.Jmp or OpKind.JmpIndirect or OpKind.Jcc or OpKind.Call or OpKind.CallIndirect or OpKind.Ret
            or OpKind.Jrcxz or OpKind.Loop or OpKind.Syscall or OpKind.Int or OpKind.Int3 or OpKind.Hlt
            or OpKind.Invalid or OpKind.Privileged or OpKind.Popf => true,
        _ => SystemTranslator.EndsBlock(k),
    };

    /// <param name="system">The CPU runs in system mode: privileged and segment instructions decode to
    /// their handlers (<see cref="SystemTranslator"/>) instead of #GP / #UD.</param>
    public static void Translate(in Instruction ins, ref Op op, List<string> texts, bool system = false)
    {
        op = default;
        op.Ip = ins.IP;
        op.Len = (byte)ins.Length;
        op.Base = Op.NoReg;
        op.Index = Op.NoReg;
        op.R0 = Op.NoReg;
        op.R1 = Op.NoReg;
        if (ins.HasRepPrefix || ins.HasRepePrefix) op.Flags |= OpFlags.Rep;
        if (ins.HasRepnePrefix) op.Flags |= OpFlags.Repne;
        if (system && SystemTranslator.Translate(in ins, ref op, texts)) return;
        if (!TranslateKnown(in ins, ref op))
        {
            // A formatter per unsupported instruction: formatters hold state, and many machines
            // decode concurrently in one process (no shared mutable statics).
            var output = new StringOutput();
            new GasFormatter().Format(in ins, output);
            string text = ins.IsInvalid ? "invalid instruction encoding" : output.ToStringAndReset();
            op.Kind = OpKind.Invalid;
            op.Imm = (ulong)texts.Count;
            texts.Add(text);
        }
    }

    private static bool TranslateKnown(in Instruction ins, ref Op op)
    {
        if (ins.IsInvalid) return false;
        Mnemonic m = ins.Mnemonic;
        switch (m)
        {
            // ---- traps and system ---------------------------------------------------------------
            case Mnemonic.Nop: case Mnemonic.Endbr64: case Mnemonic.Endbr32: case Mnemonic.Pause:
            case Mnemonic.Lfence: case Mnemonic.Mfence: case Mnemonic.Sfence:
            case Mnemonic.Prefetchnta: case Mnemonic.Prefetcht0: case Mnemonic.Prefetcht1: case Mnemonic.Prefetcht2:
            case Mnemonic.Prefetchw:
                op.Kind = OpKind.Nop; return true;
            case Mnemonic.Syscall: op.Kind = OpKind.Syscall; return true;
            case Mnemonic.Int: op.Kind = OpKind.Int; op.Imm = ins.Immediate8; return true;
            case Mnemonic.Int3: op.Kind = OpKind.Int3; return true;
            case Mnemonic.Hlt: op.Kind = OpKind.Hlt; return true;
            case Mnemonic.Cpuid: op.Kind = OpKind.Cpuid; return true;
            case Mnemonic.Rdtsc: op.Kind = OpKind.Rdtsc; return true;
            case Mnemonic.Cli: case Mnemonic.Sti: case Mnemonic.In: case Mnemonic.Out:
            case Mnemonic.Insb: case Mnemonic.Insw: case Mnemonic.Insd:
            case Mnemonic.Outsb: case Mnemonic.Outsw: case Mnemonic.Outsd:
            case Mnemonic.Lgdt: case Mnemonic.Lidt: case Mnemonic.Lldt: case Mnemonic.Ltr: case Mnemonic.Lmsw:
            case Mnemonic.Invlpg: case Mnemonic.Wrmsr: case Mnemonic.Rdmsr: case Mnemonic.Swapgs:
            case Mnemonic.Sysret: case Mnemonic.Sysexit: case Mnemonic.Wbinvd: case Mnemonic.Invd: case Mnemonic.Clts:
            case Mnemonic.Rdpmc:
                op.Kind = OpKind.Privileged; return true;
            case Mnemonic.Mov when ins.Op0Kind == OpKind_Register && IsControlOrDebug(ins.Op0Register):
            case Mnemonic.Mov when ins.Op1Kind == OpKind_Register && IsControlOrDebug(ins.Op1Register):
                op.Kind = OpKind.Privileged; return true;

            // ---- data movement ------------------------------------------------------------------
            case Mnemonic.Mov:
                if (IsSegment(ins.Op0Register) || IsSegment(ins.Op1Register)) return false;
                TwoOperands(in ins, ref op);
                bool plain = op.Seg == 0 && (op.Flags & OpFlags.Addr32) == 0;
                op.Kind = (op.Form, op.Size) switch
                {
                    (Form.RR, 8) => OpKind.MovRR64,
                    (Form.RR, 4) => OpKind.MovRR32,
                    (Form.RM, 8) when plain => OpKind.MovRM64,
                    (Form.RM, 4) when plain => OpKind.MovRM32,
                    (Form.MR, 8) when plain => OpKind.MovMR64,
                    (Form.MR, 4) when plain => OpKind.MovMR32,
                    (Form.RI, 8) => OpKind.MovRI64,
                    (Form.RI, 4) => OpKind.MovRI32,
                    (Form.MI, _) when plain => OpKind.MovMI,
                    (Form.MR, _) when plain => OpKind.MovMR,
                    (Form.RM, _) when plain => OpKind.MovRM,
                    _ => OpKind.Mov,
                };
                return true;
            case Mnemonic.Movzx: case Mnemonic.Movsx: case Mnemonic.Movsxd:
                TwoOperands(in ins, ref op);
                op.Size2 = (byte)SourceSize(in ins, 1);
                op.Kind = m == Mnemonic.Movzx ? OpKind.Movzx : OpKind.Movsx;
                if (op.Size >= 4 && op.Seg == 0 && (op.Flags & OpFlags.Addr32) == 0)
                {
                    if (op.Form == Form.RR) op.Kind = m == Mnemonic.Movzx ? OpKind.MovzxRR : OpKind.MovsxRR;
                    else if (op.Form == Form.RM) op.Kind = m == Mnemonic.Movzx ? OpKind.MovzxRM : OpKind.MovsxRM;
                }
                return true;
            case Mnemonic.Lea:
                TwoOperands(in ins, ref op);
                op.Kind = OpKind.Lea; return true;
            case Mnemonic.Xchg:
                TwoOperands(in ins, ref op);
                if (op.Form == Form.RM) { op.Form = Form.MR; op.R1 = op.R0; op.R0 = Op.NoReg; }
                op.Kind = OpKind.Xchg; return true;
            case Mnemonic.Bswap:
                OneOperand(in ins, ref op); op.Kind = OpKind.Bswap; return true;
            case Mnemonic.Cbw: op.Kind = OpKind.Cbw; op.Size = 2; return true;
            case Mnemonic.Cwde: op.Kind = OpKind.Cbw; op.Size = 4; return true;
            case Mnemonic.Cdqe: op.Kind = OpKind.Cbw; op.Size = 8; return true;
            case Mnemonic.Cwd: op.Kind = OpKind.Cwd; op.Size = 2; return true;
            case Mnemonic.Cdq: op.Kind = OpKind.Cwd; op.Size = 4; return true;
            case Mnemonic.Cqo: op.Kind = OpKind.Cwd; op.Size = 8; return true;
            case Mnemonic.Push:
                if (ins.Op0Kind == OpKind_Register && IsSegment(ins.Op0Register)) return false;
                OneOperand(in ins, ref op);
                op.Size = (byte)(-ins.StackPointerIncrement);   // 8, or 2 with a 0x66 prefix
                op.Kind = op.Form == Form.R && op.Size == 8 ? OpKind.PushR64 : OpKind.Push;
                return true;
            case Mnemonic.Pop:
                if (ins.Op0Kind == OpKind_Register && IsSegment(ins.Op0Register)) return false;
                OneOperand(in ins, ref op);
                op.Size = (byte)ins.StackPointerIncrement;
                op.Kind = op.Form == Form.R && op.Size == 8 ? OpKind.PopR64 : OpKind.Pop;
                return true;
            case Mnemonic.Leave: op.Kind = OpKind.Leave; op.Size = 8; return true;
            case Mnemonic.Enter:
                op.Kind = OpKind.Enter; op.Imm = ins.Immediate16; op.Cond = (byte)(ins.Immediate8_2nd & 31);
                op.Size = 8;
                return true;
            case >= Mnemonic.Cmova and <= Mnemonic.Cmovs when IsCmov(m):
                TwoOperands(in ins, ref op);
                op.Kind = OpKind.Cmov; op.Cond = Cc(in ins); return true;
            case >= Mnemonic.Seta and <= Mnemonic.Sets when IsSetcc(m):
                OneOperand(in ins, ref op);
                op.Size = 1; op.Kind = OpKind.Setcc; op.Cond = Cc(in ins); return true;

            // ---- arithmetic -----------------------------------------------------------------------
            case Mnemonic.Add: return Alu(in ins, ref op, AluOp.Add);
            case Mnemonic.Or: return Alu(in ins, ref op, AluOp.Or);
            case Mnemonic.Adc: return Alu(in ins, ref op, AluOp.Adc);
            case Mnemonic.Sbb: return Alu(in ins, ref op, AluOp.Sbb);
            case Mnemonic.And: return Alu(in ins, ref op, AluOp.And);
            case Mnemonic.Sub: return Alu(in ins, ref op, AluOp.Sub);
            case Mnemonic.Xor: return Alu(in ins, ref op, AluOp.Xor);
            case Mnemonic.Cmp: return Alu(in ins, ref op, AluOp.Cmp);
            case Mnemonic.Test: return Alu(in ins, ref op, AluOp.Test);
            case Mnemonic.Inc: case Mnemonic.Dec:
                OneOperand(in ins, ref op);
                op.Kind = m == Mnemonic.Inc ? OpKind.Inc : OpKind.Dec;
                if (op.Form == Form.R && op.Size >= 4)
                {
                    op.Kind = op.Size == 8 ? OpKind.IncDecR64 : OpKind.IncDecR32;
                    op.Cond = (byte)(m == Mnemonic.Inc ? 0 : 1);
                }
                return true;
            case Mnemonic.Neg: OneOperand(in ins, ref op); op.Kind = OpKind.Neg; return true;
            case Mnemonic.Not: OneOperand(in ins, ref op); op.Kind = OpKind.Not; return true;
            case Mnemonic.Cmpxchg: TwoOperands(in ins, ref op); op.Kind = OpKind.Cmpxchg; return true;
            case Mnemonic.Xadd: TwoOperands(in ins, ref op); op.Kind = OpKind.Xadd; return true;

            // ---- shifts ---------------------------------------------------------------------------
            case Mnemonic.Rol: return Shift(in ins, ref op, ShiftOp.Rol);
            case Mnemonic.Ror: return Shift(in ins, ref op, ShiftOp.Ror);
            case Mnemonic.Rcl: return Shift(in ins, ref op, ShiftOp.Rcl);
            case Mnemonic.Rcr: return Shift(in ins, ref op, ShiftOp.Rcr);
            case Mnemonic.Shl: return Shift(in ins, ref op, ShiftOp.Shl);
            case Mnemonic.Sal: return Shift(in ins, ref op, ShiftOp.Sal);
            case Mnemonic.Shr: return Shift(in ins, ref op, ShiftOp.Shr);
            case Mnemonic.Sar: return Shift(in ins, ref op, ShiftOp.Sar);
            case Mnemonic.Shld: case Mnemonic.Shrd:
                TwoOperands(in ins, ref op);
                if (ins.Op2Kind != OpKind_Register) { op.Flags |= OpFlags.HasImm; op.Imm = ins.Immediate8; }
                op.Kind = m == Mnemonic.Shld ? OpKind.Shld : OpKind.Shrd;
                return true;

            // ---- bits -----------------------------------------------------------------------------
            case Mnemonic.Bt: case Mnemonic.Bts: case Mnemonic.Btr: case Mnemonic.Btc:
                TwoOperands(in ins, ref op);
                op.Kind = OpKind.Bt;
                op.Cond = (byte)(m == Mnemonic.Bt ? 0 : m == Mnemonic.Bts ? 1 : m == Mnemonic.Btr ? 2 : 3);
                return true;
            case Mnemonic.Bsf: TwoOperands(in ins, ref op); op.Kind = OpKind.Bsf; return true;
            case Mnemonic.Bsr: TwoOperands(in ins, ref op); op.Kind = OpKind.Bsr; return true;
            case Mnemonic.Tzcnt: TwoOperands(in ins, ref op); op.Kind = OpKind.Tzcnt; return true;
            case Mnemonic.Lzcnt: TwoOperands(in ins, ref op); op.Kind = OpKind.Lzcnt; return true;
            case Mnemonic.Popcnt: TwoOperands(in ins, ref op); op.Kind = OpKind.Popcnt; return true;

            // ---- multiply / divide ---------------------------------------------------------------
            case Mnemonic.Mul: OneOperand(in ins, ref op); op.Kind = OpKind.Mul1; return true;
            case Mnemonic.Div: OneOperand(in ins, ref op); op.Kind = OpKind.Div; return true;
            case Mnemonic.Idiv: OneOperand(in ins, ref op); op.Kind = OpKind.Idiv; return true;
            case Mnemonic.Imul:
                if (ins.OpCount == 1) { OneOperand(in ins, ref op); op.Kind = OpKind.Imul1; return true; }
                TwoOperands(in ins, ref op);
                if (ins.OpCount == 3)
                {
                    op.Kind = OpKind.Imul3;
                    op.Imm = ins.GetImmediate(2);
                    op.Flags |= OpFlags.HasImm;
                }
                else op.Kind = OpKind.Imul2;
                return true;

            // ---- control transfer ---------------------------------------------------------------
            case Mnemonic.Jmp:
                if (ins.Op0Kind is Iced.Intel.OpKind.NearBranch64 or Iced.Intel.OpKind.NearBranch32 or Iced.Intel.OpKind.NearBranch16)
                { op.Kind = OpKind.Jmp; op.Imm = ins.NearBranchTarget; return true; }
                if (ins.Op0Kind is Iced.Intel.OpKind.FarBranch16 or Iced.Intel.OpKind.FarBranch32 || ins.IsJmpFarIndirect) return false;
                OneOperand(in ins, ref op); op.Kind = OpKind.JmpIndirect; return true;
            case Mnemonic.Call:
                if (ins.Op0Kind is Iced.Intel.OpKind.NearBranch64 or Iced.Intel.OpKind.NearBranch32 or Iced.Intel.OpKind.NearBranch16)
                { op.Kind = OpKind.Call; op.Imm = ins.NearBranchTarget; return true; }
                if (ins.IsCallFarIndirect || ins.IsCallFar) return false;
                OneOperand(in ins, ref op); op.Kind = OpKind.CallIndirect; return true;
            case Mnemonic.Ret:
                op.Kind = OpKind.Ret; op.Imm = ins.OpCount > 0 ? ins.Immediate16 : 0UL; return true;
            case Mnemonic.Jrcxz: op.Kind = OpKind.Jrcxz; op.Size = 8; op.Imm = ins.NearBranchTarget; return true;
            case Mnemonic.Jecxz: op.Kind = OpKind.Jrcxz; op.Size = 4; op.Imm = ins.NearBranchTarget; return true;
            case Mnemonic.Loop: op.Kind = OpKind.Loop; op.Cond = 0; op.Size = AddrSize(in ins); op.Imm = ins.NearBranchTarget; return true;
            case Mnemonic.Loope: op.Kind = OpKind.Loop; op.Cond = 1; op.Size = AddrSize(in ins); op.Imm = ins.NearBranchTarget; return true;
            case Mnemonic.Loopne: op.Kind = OpKind.Loop; op.Cond = 2; op.Size = AddrSize(in ins); op.Imm = ins.NearBranchTarget; return true;
            case >= Mnemonic.Ja and <= Mnemonic.Js when IsJcc(m):
                op.Kind = OpKind.Jcc; op.Cond = Cc(in ins); op.Imm = ins.NearBranchTarget; return true;

            // ---- flags ----------------------------------------------------------------------------
            case Mnemonic.Clc: op.Kind = OpKind.Clc; return true;
            case Mnemonic.Stc: op.Kind = OpKind.Stc; return true;
            case Mnemonic.Cmc: op.Kind = OpKind.Cmc; return true;
            case Mnemonic.Cld: op.Kind = OpKind.Cld; return true;
            case Mnemonic.Std: op.Kind = OpKind.Std; return true;
            case Mnemonic.Lahf: op.Kind = OpKind.Lahf; return true;
            case Mnemonic.Sahf: op.Kind = OpKind.Sahf; return true;
            case Mnemonic.Pushfq: op.Kind = OpKind.Pushf; op.Size = 8; return true;
            case Mnemonic.Pushf: op.Kind = OpKind.Pushf; op.Size = 2; return true;
            case Mnemonic.Popfq: op.Kind = OpKind.Popf; op.Size = 8; return true;
            case Mnemonic.Popf: op.Kind = OpKind.Popf; op.Size = 2; return true;

            // ---- strings --------------------------------------------------------------------------
            case Mnemonic.Movsb: case Mnemonic.Movsw: case Mnemonic.Movsq:
            case Mnemonic.Movsd when ins.Code == Code.Movsd_m32_m32:
                return StringOp(in ins, ref op, OpKind.Movs);
            case Mnemonic.Stosb: case Mnemonic.Stosw: case Mnemonic.Stosd: case Mnemonic.Stosq:
                return StringOp(in ins, ref op, OpKind.Stos);
            case Mnemonic.Lodsb: case Mnemonic.Lodsw: case Mnemonic.Lodsd: case Mnemonic.Lodsq:
                return StringOp(in ins, ref op, OpKind.Lods);
            case Mnemonic.Cmpsb: case Mnemonic.Cmpsw: case Mnemonic.Cmpsq:
            case Mnemonic.Cmpsd when ins.Code == Code.Cmpsd_m32_m32:
                return StringOp(in ins, ref op, OpKind.Cmps);
            case Mnemonic.Scasb: case Mnemonic.Scasw: case Mnemonic.Scasd: case Mnemonic.Scasq:
                return StringOp(in ins, ref op, OpKind.Scas);
        }
        return SseTranslator.Translate(in ins, ref op) || X87Translator.Translate(in ins, ref op);
    }

    internal const Iced.Intel.OpKind OpKind_Register = Iced.Intel.OpKind.Register;
    internal const Iced.Intel.OpKind OpKind_Memory = Iced.Intel.OpKind.Memory;

    private static bool Alu(in Instruction ins, ref Op op, AluOp sub)
    {
        TwoOperands(in ins, ref op);
        op.Cond = (byte)sub;
        op.Kind = OpKind.Alu;
        // Specialised forms for the hottest combinations.
        if (op.Seg == 0 && (op.Flags & OpFlags.Addr32) == 0)
        {
            op.Kind = (sub, op.Form, op.Size) switch
            {
                (AluOp.Add, Form.RR, 8) => OpKind.AddRR64,
                (AluOp.Add, Form.RR, 4) => OpKind.AddRR32,
                (AluOp.Add, Form.RI, 8) => OpKind.AddRI64,
                (AluOp.Add, Form.RI, 4) => OpKind.AddRI32,
                (AluOp.Add, Form.RM, 8) => OpKind.AddRM64,
                (AluOp.Sub, Form.RR, 8) => OpKind.SubRR64,
                (AluOp.Sub, Form.RR, 4) => OpKind.SubRR32,
                (AluOp.Sub, Form.RI, 8) => OpKind.SubRI64,
                (AluOp.Cmp, Form.RR, 8) => OpKind.CmpRR64,
                (AluOp.Cmp, Form.RR, 4) => OpKind.CmpRR32,
                (AluOp.Cmp, Form.RI, 8) => OpKind.CmpRI64,
                (AluOp.Cmp, Form.RI, 4) => OpKind.CmpRI32,
                (AluOp.Cmp, Form.RM, 8) => OpKind.CmpRM64,
                (AluOp.Cmp, Form.RM, 4) => OpKind.CmpRM32,
                (AluOp.Xor, Form.RR, 4) => OpKind.XorRR32,
                (AluOp.And, Form.RI, 4) => OpKind.AndRI32,
                (AluOp.Test, Form.RR, 8) => OpKind.TestRR64,
                (AluOp.Test, Form.RR, 4) => OpKind.TestRR32,
                (_, Form.RR, 8) => OpKind.AluRR64,
                (_, Form.RR, 4) => OpKind.AluRR32,
                (_, Form.RI, 8) => OpKind.AluRI64,
                (_, Form.RI, 4) => OpKind.AluRI32,
                (_, Form.RM, 8) => OpKind.AluRM64,
                (_, Form.RM, 4) => OpKind.AluRM32,
                _ => OpKind.Alu,
            };
        }
        return true;
    }

    private static bool Shift(in Instruction ins, ref Op op, ShiftOp sub)
    {
        OneOperand(in ins, ref op);
        op.Kind = OpKind.Shift;
        op.Cond = (byte)sub;
        if (ins.Op1Kind != OpKind_Register)
        {
            op.Flags |= OpFlags.HasImm;
            op.Imm = ins.GetImmediate(1);
            ulong count = op.Imm & (op.Size == 8 ? 63UL : 31UL);
            if (op.Form == Form.R && op.Size >= 4 && count != 0 && sub is ShiftOp.Shl or ShiftOp.Sal or ShiftOp.Shr or ShiftOp.Sar)
            {
                op.Kind = op.Size == 8 ? OpKind.ShiftRI64 : OpKind.ShiftRI32;
                op.Imm = count;
            }
        }
        return true;
    }

    private static bool StringOp(in Instruction ins, ref Op op, OpKind kind)
    {
        op.Kind = kind;
        op.Size = (byte)ins.MemorySize.GetSize();
        if (op.Size == 0) op.Size = 1;
        if (ins.MemorySegment is IcedRegister.FS) op.Seg = 1;
        else if (ins.MemorySegment is IcedRegister.GS) op.Seg = 2;
        // Address size: 0x67 makes string instructions use esi/edi/ecx.
        if (AddrSize(in ins) == 4) op.Flags |= OpFlags.Addr32;
        return true;
    }

    /// <summary>Address size of string, loop and jrcxz instructions: 4 with a 0x67 prefix, else 8.</summary>
    private static byte AddrSize(in Instruction ins)
    {
        for (int i = 0; i < ins.OpCount; i++)
        {
            if (ins.GetOpKind(i) is Iced.Intel.OpKind.MemorySegESI or Iced.Intel.OpKind.MemoryESEDI or Iced.Intel.OpKind.MemorySegEDI)
                return 4;
        }
        return ins.Code is Code.Loop_rel8_64_ECX or Code.Loope_rel8_64_ECX or Code.Loopne_rel8_64_ECX ? (byte)4 : (byte)8;
    }

    /// <summary>Fills the first operand (register, memory or immediate) and the operand size.</summary>
    internal static void OneOperand(in Instruction ins, ref Op op)
    {
        switch (ins.Op0Kind)
        {
            case OpKind_Register:
                op.R0 = Gpr(ins.Op0Register);
                op.Size = (byte)ins.Op0Register.GetSize();
                op.Form = Form.R;
                break;
            case OpKind_Memory:
                Memory(in ins, ref op);
                op.Size = (byte)ins.MemorySize.GetSize();
                op.Form = Form.M;
                break;
            default:
                op.Imm = ins.GetImmediate(0);
                op.Size = (byte)ImmediateSize(ins.Op0Kind);
                op.Form = Form.I;
                break;
        }
    }

    /// <summary>Fills a destination, source pair: RR, RM, MR, RI or MI, with the operand size of the destination.</summary>
    internal static void TwoOperands(in Instruction ins, ref Op op)
    {
        bool dstMem = ins.Op0Kind == OpKind_Memory;
        if (dstMem)
        {
            Memory(in ins, ref op);
            op.Size = (byte)ins.MemorySize.GetSize();
        }
        else
        {
            op.R0 = Gpr(ins.Op0Register);
            op.Size = (byte)ins.Op0Register.GetSize();
        }
        switch (ins.Op1Kind)
        {
            case OpKind_Register:
                op.R1 = Gpr(ins.Op1Register);
                op.Form = dstMem ? Form.MR : Form.RR;
                if (dstMem && op.Size == 0) op.Size = (byte)ins.Op1Register.GetSize();
                break;
            case OpKind_Memory:
                Memory(in ins, ref op);
                op.Form = Form.RM;
                break;
            default:
                op.Imm = ins.GetImmediate(1);
                op.Form = dstMem ? Form.MI : Form.RI;
                break;
        }
    }

    /// <summary>Size in bytes of source operand n (movzx/movsx).</summary>
    private static int SourceSize(in Instruction ins, int n) =>
        ins.GetOpKind(n) == OpKind_Memory ? ins.MemorySize.GetSize() : ins.GetOpRegister(n).GetSize();

    private static int ImmediateSize(Iced.Intel.OpKind k) => k switch
    {
        Iced.Intel.OpKind.Immediate8 => 1,
        Iced.Intel.OpKind.Immediate16 or Iced.Intel.OpKind.Immediate8to16 => 2,
        Iced.Intel.OpKind.Immediate32 or Iced.Intel.OpKind.Immediate8to32 => 4,
        _ => 8,
    };

    /// <summary>Fills the memory operand fields: base, index, scale, displacement, segment, address size.</summary>
    internal static void Memory(in Instruction ins, ref Op op)
    {
        IcedRegister b = ins.MemoryBase, x = ins.MemoryIndex;
        if (b == IcedRegister.RIP || b == IcedRegister.EIP)
        {
            op.Disp = (long)ins.MemoryDisplacement64;     // Iced resolves RIP-relative to absolute
            if (b == IcedRegister.EIP) op.Disp = (long)(uint)op.Disp;
        }
        else
        {
            op.Base = b == IcedRegister.None ? Op.NoReg : Gpr(b);
            op.Index = x == IcedRegister.None ? Op.NoReg : Gpr(x);
            op.Scale = (byte)(ins.MemoryIndexScale switch { 1 => 0, 2 => 1, 4 => 2, _ => 3 });
            op.Disp = (long)ins.MemoryDisplacement64;
            if (b.GetSize() == 4 || x.GetSize() == 4)
                op.Flags |= OpFlags.Addr32;
        }
        if (ins.MemorySegment == IcedRegister.FS) op.Seg = 1;
        else if (ins.MemorySegment == IcedRegister.GS) op.Seg = 2;
    }

    /// <summary>Our register number: 0..15 for GPRs of any size, 16..19 for AH/CH/DH/BH, 0..15 for XMM.</summary>
    internal static byte Gpr(IcedRegister r)
    {
        if (r >= IcedRegister.AL && r <= IcedRegister.BL) return (byte)(r - IcedRegister.AL);
        if (r >= IcedRegister.AH && r <= IcedRegister.BH) return (byte)(16 + (r - IcedRegister.AH));
        if (r >= IcedRegister.SPL && r <= IcedRegister.DIL) return (byte)(4 + (r - IcedRegister.SPL));
        if (r >= IcedRegister.R8L && r <= IcedRegister.R15L) return (byte)(8 + (r - IcedRegister.R8L));
        if (r >= IcedRegister.AX && r <= IcedRegister.R15W) return (byte)(r - IcedRegister.AX);
        if (r >= IcedRegister.EAX && r <= IcedRegister.R15D) return (byte)(r - IcedRegister.EAX);
        if (r >= IcedRegister.RAX && r <= IcedRegister.R15) return (byte)(r - IcedRegister.RAX);
        if (r >= IcedRegister.XMM0 && r <= IcedRegister.XMM15) return (byte)(r - IcedRegister.XMM0);
        return Op.NoReg;
    }

    private static bool IsSegment(IcedRegister r) => r >= IcedRegister.ES && r <= IcedRegister.GS;
    private static bool IsControlOrDebug(IcedRegister r) =>
        (r >= IcedRegister.CR0 && r <= IcedRegister.CR15) || (r >= IcedRegister.DR0 && r <= IcedRegister.DR15);

    private static byte Cc(in Instruction ins) => (byte)(ins.ConditionCode - ConditionCode.o);

    private static bool IsCmov(Mnemonic m) => m is Mnemonic.Cmova or Mnemonic.Cmovae or Mnemonic.Cmovb or Mnemonic.Cmovbe
        or Mnemonic.Cmove or Mnemonic.Cmovg or Mnemonic.Cmovge or Mnemonic.Cmovl or Mnemonic.Cmovle or Mnemonic.Cmovne
        or Mnemonic.Cmovno or Mnemonic.Cmovnp or Mnemonic.Cmovns or Mnemonic.Cmovo or Mnemonic.Cmovp or Mnemonic.Cmovs;

    private static bool IsSetcc(Mnemonic m) => m is Mnemonic.Seta or Mnemonic.Setae or Mnemonic.Setb or Mnemonic.Setbe
        or Mnemonic.Sete or Mnemonic.Setg or Mnemonic.Setge or Mnemonic.Setl or Mnemonic.Setle or Mnemonic.Setne
        or Mnemonic.Setno or Mnemonic.Setnp or Mnemonic.Setns or Mnemonic.Seto or Mnemonic.Setp or Mnemonic.Sets;

    private static bool IsJcc(Mnemonic m) => m is Mnemonic.Ja or Mnemonic.Jae or Mnemonic.Jb or Mnemonic.Jbe
        or Mnemonic.Je or Mnemonic.Jg or Mnemonic.Jge or Mnemonic.Jl or Mnemonic.Jle or Mnemonic.Jne
        or Mnemonic.Jno or Mnemonic.Jnp or Mnemonic.Jns or Mnemonic.Jo or Mnemonic.Jp or Mnemonic.Js;
}
