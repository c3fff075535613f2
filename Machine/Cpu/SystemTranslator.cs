using Iced.Intel;
using IcedRegister = Iced.Intel.Register;

namespace Lab.Machine.Cpu;

/// <summary>
/// Decodes the privileged and segment instructions of a system-mode CPU into their handler kinds.
/// An HLE-mode CPU never calls this: there those instructions keep decoding to #GP / #UD as before,
/// so user-mode emulation is unchanged by system mode.
/// </summary>
internal static class SystemTranslator
{
    /// <summary>Kinds after which a block must end: they change rip, privilege, IF, paging or a device.</summary>
    public static bool EndsBlock(OpKind k) => k is OpKind.Sti or OpKind.HltSystem or OpKind.PopfSystem
        or OpKind.SyscallSystem or OpKind.UnsupportedSystem or OpKind.InPort or OpKind.OutPort or OpKind.MovToCr
        or OpKind.Invlpg or OpKind.Wrmsr or OpKind.Iret or OpKind.Retf or OpKind.JmpFar or OpKind.Sysret;

    /// <summary>
    /// Kinds that must be the first op of their block: the retired-instruction count (the machine's
    /// clock) is exact at a block's start, and devices read the clock when the guest touches a port.
    /// </summary>
    public static bool StartsBlock(OpKind k) => k is OpKind.InPort or OpKind.OutPort;

    /// <summary>Fills <paramref name="op"/> when the instruction is one of ours; false leaves it to the user-mode translator.</summary>
    public static bool Translate(in Instruction ins, ref Op op, List<string> texts)
    {
        if (ins.IsInvalid) return false;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Cli: op.Kind = OpKind.Cli; return true;
            case Mnemonic.Sti: op.Kind = OpKind.Sti; return true;
            case Mnemonic.Hlt: op.Kind = OpKind.HltSystem; return true;
            case Mnemonic.Syscall: op.Kind = OpKind.SyscallSystem; return true;
            case Mnemonic.Popfq: op.Kind = OpKind.PopfSystem; op.Size = 8; return true;
            case Mnemonic.Popf: op.Kind = OpKind.PopfSystem; op.Size = 2; return true;
            case Mnemonic.Rdmsr: op.Kind = OpKind.Rdmsr; return true;
            case Mnemonic.Wrmsr: op.Kind = OpKind.Wrmsr; return true;
            case Mnemonic.Swapgs: op.Kind = OpKind.Swapgs; return true;
            case Mnemonic.Clts: op.Kind = OpKind.Clts; return true;
            case Mnemonic.Wbinvd: case Mnemonic.Invd: op.Kind = OpKind.CacheControl; return true;

            case Mnemonic.In:
                op.Kind = OpKind.InPort;
                op.Size = (byte)ins.Op0Register.GetSize();
                PortOperand(in ins, ins.Op1Kind, ref op, 1);
                return true;
            case Mnemonic.Out:
                op.Kind = OpKind.OutPort;
                op.Size = (byte)ins.Op1Register.GetSize();
                PortOperand(in ins, ins.Op0Kind, ref op, 0);
                return true;

            case Mnemonic.Mov when ins.Op0Kind == OpKind_Register && IsControl(ins.Op0Register):
                op.Kind = OpKind.MovToCr;
                op.Cond = (byte)(ins.Op0Register - IcedRegister.CR0);
                op.R1 = OpTranslator.Gpr(ins.Op1Register);
                op.Form = Form.RR;
                return true;
            case Mnemonic.Mov when ins.Op1Kind == OpKind_Register && IsControl(ins.Op1Register):
                op.Kind = OpKind.MovFromCr;
                op.Cond = (byte)(ins.Op1Register - IcedRegister.CR0);
                op.R0 = OpTranslator.Gpr(ins.Op0Register);
                op.Form = Form.RR;
                return true;
            case Mnemonic.Mov when ins.Op0Kind == OpKind_Register && IsSegment(ins.Op0Register):
                if (ins.Op0Register == IcedRegister.CS) return false;   // #UD
                op.Kind = OpKind.MovToSreg;
                op.Cond = (byte)(ins.Op0Register - IcedRegister.ES);
                op.Size = 2;
                if (ins.Op1Kind == OpKind_Register) { op.R1 = OpTranslator.Gpr(ins.Op1Register); op.Form = Form.RR; }
                else { OpTranslator.Memory(in ins, ref op); op.Form = Form.RM; }
                return true;
            case Mnemonic.Mov when ins.Op1Kind == OpKind_Register && IsSegment(ins.Op1Register):
                op.Kind = OpKind.MovFromSreg;
                op.Cond = (byte)(ins.Op1Register - IcedRegister.ES);
                if (ins.Op0Kind == OpKind_Register)
                {
                    op.R0 = OpTranslator.Gpr(ins.Op0Register);
                    op.Size = (byte)ins.Op0Register.GetSize();
                    op.Form = Form.RR;
                }
                else { OpTranslator.Memory(in ins, ref op); op.Size = 2; op.Form = Form.MR; }
                return true;
            case Mnemonic.Push when ins.Op0Kind == OpKind_Register && IsSegment(ins.Op0Register):
                if (ins.Op0Register is not (IcedRegister.FS or IcedRegister.GS)) return false;
                op.Kind = OpKind.PushSreg;
                op.Cond = (byte)(ins.Op0Register - IcedRegister.ES);
                op.Size = (byte)(-ins.StackPointerIncrement);
                return true;
            case Mnemonic.Pop when ins.Op0Kind == OpKind_Register && IsSegment(ins.Op0Register):
                if (ins.Op0Register is not (IcedRegister.FS or IcedRegister.GS)) return false;
                op.Kind = OpKind.PopSreg;
                op.Cond = (byte)(ins.Op0Register - IcedRegister.ES);
                op.Size = (byte)ins.StackPointerIncrement;
                return true;

            case Mnemonic.Lgdt: case Mnemonic.Lidt:
                op.Kind = OpKind.LoadTableRegister;
                op.Cond = (byte)(ins.Mnemonic == Mnemonic.Lgdt ? 0 : 1);
                OpTranslator.Memory(in ins, ref op);
                op.Form = Form.M;
                return true;
            case Mnemonic.Sgdt: case Mnemonic.Sidt:
                op.Kind = OpKind.StoreTableRegister;
                op.Cond = (byte)(ins.Mnemonic == Mnemonic.Sgdt ? 0 : 1);
                OpTranslator.Memory(in ins, ref op);
                op.Form = Form.M;
                return true;
            case Mnemonic.Lldt: case Mnemonic.Ltr:
                OpTranslator.OneOperand(in ins, ref op);
                op.Kind = ins.Mnemonic == Mnemonic.Lldt ? OpKind.Lldt : OpKind.Ltr;
                return true;
            case Mnemonic.Sldt: case Mnemonic.Str:
                OpTranslator.OneOperand(in ins, ref op);
                op.Kind = OpKind.StoreSystemSelector;
                op.Cond = (byte)(ins.Mnemonic == Mnemonic.Sldt ? 0 : 1);
                return true;
            case Mnemonic.Invlpg:
                op.Kind = OpKind.Invlpg;
                OpTranslator.Memory(in ins, ref op);
                op.Form = Form.M;
                return true;

            case Mnemonic.Iretq: op.Kind = OpKind.Iret; op.Size = 8; return true;
            case Mnemonic.Iretd: op.Kind = OpKind.Iret; op.Size = 4; return true;
            case Mnemonic.Retf:
                op.Size = ins.Code switch
                {
                    Code.Retfq or Code.Retfq_imm16 => 8,
                    Code.Retfd or Code.Retfd_imm16 => 4,
                    _ => 0,
                };
                if (op.Size == 0) return Unsupported(in ins, ref op, texts);
                op.Kind = OpKind.Retf;
                op.Imm = ins.OpCount > 0 ? ins.Immediate16 : 0UL;
                return true;
            case Mnemonic.Jmp when ins.IsJmpFarIndirect:
                op.Kind = OpKind.JmpFar;
                OpTranslator.Memory(in ins, ref op);
                op.Form = Form.M;
                op.Size = (byte)(ins.MemorySize.GetSize() - 2);
                return true;
            case Mnemonic.Sysret: case Mnemonic.Sysretq:
                op.Kind = OpKind.Sysret;
                op.Size = ins.Code == Code.Sysretq ? (byte)8 : (byte)4;
                return true;

            // Privileged instructions the machine does not implement.
            case Mnemonic.Insb: case Mnemonic.Insw: case Mnemonic.Insd:
            case Mnemonic.Outsb: case Mnemonic.Outsw: case Mnemonic.Outsd:
            case Mnemonic.Lmsw: case Mnemonic.Sysexit: case Mnemonic.Sysexitq: case Mnemonic.Rdpmc: case Mnemonic.Iret:
            case Mnemonic.Mov when ins.Op0Kind == OpKind_Register && IsDebug(ins.Op0Register):
            case Mnemonic.Mov when ins.Op1Kind == OpKind_Register && IsDebug(ins.Op1Register):
                return Unsupported(in ins, ref op, texts);
        }
        return false;
    }

    private const Iced.Intel.OpKind OpKind_Register = Iced.Intel.OpKind.Register;

    /// <summary>The port of in/out: dx (Cond bit 0) or an 8-bit immediate.</summary>
    private static void PortOperand(in Instruction ins, Iced.Intel.OpKind kind, ref Op op, int index)
    {
        if (kind == OpKind_Register) op.Cond = 1;
        else op.Imm = ins.GetImmediate(index) & 0xFF;
    }

    private static bool Unsupported(in Instruction ins, ref Op op, List<string> texts)
    {
        var output = new StringOutput();
        new GasFormatter().Format(in ins, output);
        op.Kind = OpKind.UnsupportedSystem;
        op.Imm = (ulong)texts.Count;
        texts.Add(output.ToStringAndReset() + " (not implemented by this machine)");
        return true;
    }

    private static bool IsSegment(IcedRegister r) => r >= IcedRegister.ES && r <= IcedRegister.GS;
    private static bool IsControl(IcedRegister r) => r >= IcedRegister.CR0 && r <= IcedRegister.CR15;
    private static bool IsDebug(IcedRegister r) => r >= IcedRegister.DR0 && r <= IcedRegister.DR15;
}
