using Iced.Intel;
using IcedRegister = Iced.Intel.Register;

namespace Lab.Machine.Cpu;

/// <summary>Sub-operations of the SSE handler kinds.</summary>
internal enum SseOp : byte
{
    Pxor, Pand, Pandn, Por,
    Paddb, Paddw, Paddd, Paddq, Psubb, Psubw, Psubd, Psubq,
    Paddsb, Paddsw, Paddusb, Paddusw, Psubsb, Psubsw, Psubusb, Psubusw,
    Pcmpeqb, Pcmpeqw, Pcmpeqd, Pcmpgtb, Pcmpgtw, Pcmpgtd,
    Pminub, Pmaxub, Pminsw, Pmaxsw, Pavgb, Pavgw,
    Pmullw, Pmulhw, Pmulhuw, Pmuludq, Pmaddwd, Psadbw,
    Punpcklbw, Punpcklwd, Punpckldq, Punpcklqdq, Punpckhbw, Punpckhwd, Punpckhdq, Punpckhqdq,
    Packsswb, Packssdw, Packuswb,
    Psllw, Pslld, Psllq, Psrlw, Psrld, Psrlq, Psraw, Psrad, Pslldq, Psrldq,
    Pshufd, Pshuflw, Pshufhw, Shufps, Shufpd,
}

/// <summary>Translates the SSE/SSE2 integer, floating-point and data-movement instructions (legacy encoding, XMM registers only).</summary>
internal static class SseTranslator
{
    private static bool IsXmm(IcedRegister r) => r >= IcedRegister.XMM0 && r <= IcedRegister.XMM15;

    public static bool Translate(in Instruction ins, ref Op op)
    {
        if (ins.Encoding != EncodingKind.Legacy) return false;
        // Every register operand must be an XMM or general register (no MMX).
        for (int i = 0; i < ins.OpCount; i++)
        {
            if (ins.GetOpKind(i) == Iced.Intel.OpKind.Register)
            {
                var r = ins.GetOpRegister(i);
                if (r >= IcedRegister.MM0 && r <= IcedRegister.MM7) return false;
            }
        }
        Mnemonic m = ins.Mnemonic;
        switch (m)
        {
            case Mnemonic.Movdqa: case Mnemonic.Movaps: case Mnemonic.Movapd:
                return Xmm2(in ins, ref op, OpKind.SseMov, 0, aligned: true);
            case Mnemonic.Movdqu: case Mnemonic.Movups: case Mnemonic.Movupd: case Mnemonic.Lddqu:
            case Mnemonic.Movntdq: case Mnemonic.Movntps: case Mnemonic.Movntpd:
                return Xmm2(in ins, ref op, OpKind.SseMov, 0, aligned: m is Mnemonic.Movntdq or Mnemonic.Movntps or Mnemonic.Movntpd);
            case Mnemonic.Movq:
                switch (ins.Code)
                {
                    case Code.Movq_xmm_xmmm64: return Xmm2(in ins, ref op, OpKind.SseMovq, 0, false);
                    case Code.Movq_xmmm64_xmm: return Xmm2(in ins, ref op, OpKind.SseMovq, 0, false);
                    case Code.Movq_xmm_rm64: return GprXmm(in ins, ref op, OpKind.SseMovdToXmm, 8);
                    case Code.Movq_rm64_xmm: return GprXmm(in ins, ref op, OpKind.SseMovdFromXmm, 8);
                }
                return false;
            case Mnemonic.Movd:
                if (ins.Code == Code.Movd_xmm_rm32) return GprXmm(in ins, ref op, OpKind.SseMovdToXmm, 4);
                if (ins.Code == Code.Movd_rm32_xmm) return GprXmm(in ins, ref op, OpKind.SseMovdFromXmm, 4);
                return false;
            case Mnemonic.Movlps: case Mnemonic.Movlpd:
                return Xmm2(in ins, ref op, OpKind.SseMovLowHigh, ins.Op0Kind == Iced.Intel.OpKind.Memory ? (byte)1 : (byte)0, false);
            case Mnemonic.Movhps: case Mnemonic.Movhpd:
                return Xmm2(in ins, ref op, OpKind.SseMovLowHigh, ins.Op0Kind == Iced.Intel.OpKind.Memory ? (byte)3 : (byte)2, false);
            case Mnemonic.Movlhps: return Xmm2(in ins, ref op, OpKind.SseMovLowHigh, 4, false);
            case Mnemonic.Movhlps: return Xmm2(in ins, ref op, OpKind.SseMovLowHigh, 5, false);
            case Mnemonic.Movss:
                if (ins.Op0Kind == Iced.Intel.OpKind.Memory) return Xmm2(in ins, ref op, OpKind.SseMovLowHigh, 7, false);
                return Xmm2(in ins, ref op, OpKind.SseMovLowHigh, ins.Op1Kind == Iced.Intel.OpKind.Memory ? (byte)6 : (byte)8, false);
            case Mnemonic.Movsd when ins.Code != Code.Movsd_m32_m32:
                if (ins.Op0Kind == Iced.Intel.OpKind.Memory) return Xmm2(in ins, ref op, OpKind.SseMovLowHigh, 10, false);
                return Xmm2(in ins, ref op, OpKind.SseMovLowHigh, ins.Op1Kind == Iced.Intel.OpKind.Memory ? (byte)9 : (byte)11, false);

            case Mnemonic.Pxor: case Mnemonic.Xorps: case Mnemonic.Xorpd: return Bin(in ins, ref op, SseOp.Pxor);
            case Mnemonic.Pand: case Mnemonic.Andps: case Mnemonic.Andpd: return Bin(in ins, ref op, SseOp.Pand);
            case Mnemonic.Pandn: case Mnemonic.Andnps: case Mnemonic.Andnpd: return Bin(in ins, ref op, SseOp.Pandn);
            case Mnemonic.Por: case Mnemonic.Orps: case Mnemonic.Orpd: return Bin(in ins, ref op, SseOp.Por);
            case Mnemonic.Paddb: return Bin(in ins, ref op, SseOp.Paddb);
            case Mnemonic.Paddw: return Bin(in ins, ref op, SseOp.Paddw);
            case Mnemonic.Paddd: return Bin(in ins, ref op, SseOp.Paddd);
            case Mnemonic.Paddq: return Bin(in ins, ref op, SseOp.Paddq);
            case Mnemonic.Psubb: return Bin(in ins, ref op, SseOp.Psubb);
            case Mnemonic.Psubw: return Bin(in ins, ref op, SseOp.Psubw);
            case Mnemonic.Psubd: return Bin(in ins, ref op, SseOp.Psubd);
            case Mnemonic.Psubq: return Bin(in ins, ref op, SseOp.Psubq);
            case Mnemonic.Paddsb: return Bin(in ins, ref op, SseOp.Paddsb);
            case Mnemonic.Paddsw: return Bin(in ins, ref op, SseOp.Paddsw);
            case Mnemonic.Paddusb: return Bin(in ins, ref op, SseOp.Paddusb);
            case Mnemonic.Paddusw: return Bin(in ins, ref op, SseOp.Paddusw);
            case Mnemonic.Psubsb: return Bin(in ins, ref op, SseOp.Psubsb);
            case Mnemonic.Psubsw: return Bin(in ins, ref op, SseOp.Psubsw);
            case Mnemonic.Psubusb: return Bin(in ins, ref op, SseOp.Psubusb);
            case Mnemonic.Psubusw: return Bin(in ins, ref op, SseOp.Psubusw);
            case Mnemonic.Pcmpeqb: return Bin(in ins, ref op, SseOp.Pcmpeqb);
            case Mnemonic.Pcmpeqw: return Bin(in ins, ref op, SseOp.Pcmpeqw);
            case Mnemonic.Pcmpeqd: return Bin(in ins, ref op, SseOp.Pcmpeqd);
            case Mnemonic.Pcmpgtb: return Bin(in ins, ref op, SseOp.Pcmpgtb);
            case Mnemonic.Pcmpgtw: return Bin(in ins, ref op, SseOp.Pcmpgtw);
            case Mnemonic.Pcmpgtd: return Bin(in ins, ref op, SseOp.Pcmpgtd);
            case Mnemonic.Pminub: return Bin(in ins, ref op, SseOp.Pminub);
            case Mnemonic.Pmaxub: return Bin(in ins, ref op, SseOp.Pmaxub);
            case Mnemonic.Pminsw: return Bin(in ins, ref op, SseOp.Pminsw);
            case Mnemonic.Pmaxsw: return Bin(in ins, ref op, SseOp.Pmaxsw);
            case Mnemonic.Pavgb: return Bin(in ins, ref op, SseOp.Pavgb);
            case Mnemonic.Pavgw: return Bin(in ins, ref op, SseOp.Pavgw);
            case Mnemonic.Pmullw: return Bin(in ins, ref op, SseOp.Pmullw);
            case Mnemonic.Pmulhw: return Bin(in ins, ref op, SseOp.Pmulhw);
            case Mnemonic.Pmulhuw: return Bin(in ins, ref op, SseOp.Pmulhuw);
            case Mnemonic.Pmuludq: return Bin(in ins, ref op, SseOp.Pmuludq);
            case Mnemonic.Pmaddwd: return Bin(in ins, ref op, SseOp.Pmaddwd);
            case Mnemonic.Psadbw: return Bin(in ins, ref op, SseOp.Psadbw);
            case Mnemonic.Punpcklbw: return Bin(in ins, ref op, SseOp.Punpcklbw);
            case Mnemonic.Punpcklwd: return Bin(in ins, ref op, SseOp.Punpcklwd);
            case Mnemonic.Punpckldq: case Mnemonic.Unpcklps: return Bin(in ins, ref op, SseOp.Punpckldq);
            case Mnemonic.Punpcklqdq: case Mnemonic.Unpcklpd: return Bin(in ins, ref op, SseOp.Punpcklqdq);
            case Mnemonic.Punpckhbw: return Bin(in ins, ref op, SseOp.Punpckhbw);
            case Mnemonic.Punpckhwd: return Bin(in ins, ref op, SseOp.Punpckhwd);
            case Mnemonic.Punpckhdq: case Mnemonic.Unpckhps: return Bin(in ins, ref op, SseOp.Punpckhdq);
            case Mnemonic.Punpckhqdq: case Mnemonic.Unpckhpd: return Bin(in ins, ref op, SseOp.Punpckhqdq);
            case Mnemonic.Packsswb: return Bin(in ins, ref op, SseOp.Packsswb);
            case Mnemonic.Packssdw: return Bin(in ins, ref op, SseOp.Packssdw);
            case Mnemonic.Packuswb: return Bin(in ins, ref op, SseOp.Packuswb);
            case Mnemonic.Psllw: return ShiftOrBin(in ins, ref op, SseOp.Psllw);
            case Mnemonic.Pslld: return ShiftOrBin(in ins, ref op, SseOp.Pslld);
            case Mnemonic.Psllq: return ShiftOrBin(in ins, ref op, SseOp.Psllq);
            case Mnemonic.Psrlw: return ShiftOrBin(in ins, ref op, SseOp.Psrlw);
            case Mnemonic.Psrld: return ShiftOrBin(in ins, ref op, SseOp.Psrld);
            case Mnemonic.Psrlq: return ShiftOrBin(in ins, ref op, SseOp.Psrlq);
            case Mnemonic.Psraw: return ShiftOrBin(in ins, ref op, SseOp.Psraw);
            case Mnemonic.Psrad: return ShiftOrBin(in ins, ref op, SseOp.Psrad);
            case Mnemonic.Pslldq: return ShiftOrBin(in ins, ref op, SseOp.Pslldq);
            case Mnemonic.Psrldq: return ShiftOrBin(in ins, ref op, SseOp.Psrldq);
            case Mnemonic.Pshufd: return Shuffle(in ins, ref op, SseOp.Pshufd);
            case Mnemonic.Pshuflw: return Shuffle(in ins, ref op, SseOp.Pshuflw);
            case Mnemonic.Pshufhw: return Shuffle(in ins, ref op, SseOp.Pshufhw);
            case Mnemonic.Shufps: return Shuffle(in ins, ref op, SseOp.Shufps);
            case Mnemonic.Shufpd: return Shuffle(in ins, ref op, SseOp.Shufpd);
            case Mnemonic.Addsd: return Fp(in ins, ref op, FpOp.Addsd, 8);
            case Mnemonic.Subsd: return Fp(in ins, ref op, FpOp.Subsd, 8);
            case Mnemonic.Mulsd: return Fp(in ins, ref op, FpOp.Mulsd, 8);
            case Mnemonic.Divsd: return Fp(in ins, ref op, FpOp.Divsd, 8);
            case Mnemonic.Minsd: return Fp(in ins, ref op, FpOp.Minsd, 8);
            case Mnemonic.Maxsd: return Fp(in ins, ref op, FpOp.Maxsd, 8);
            case Mnemonic.Sqrtsd: return Fp(in ins, ref op, FpOp.Sqrtsd, 8);
            case Mnemonic.Addss: return Fp(in ins, ref op, FpOp.Addss, 4);
            case Mnemonic.Subss: return Fp(in ins, ref op, FpOp.Subss, 4);
            case Mnemonic.Mulss: return Fp(in ins, ref op, FpOp.Mulss, 4);
            case Mnemonic.Divss: return Fp(in ins, ref op, FpOp.Divss, 4);
            case Mnemonic.Minss: return Fp(in ins, ref op, FpOp.Minss, 4);
            case Mnemonic.Maxss: return Fp(in ins, ref op, FpOp.Maxss, 4);
            case Mnemonic.Sqrtss: return Fp(in ins, ref op, FpOp.Sqrtss, 4);
            case Mnemonic.Addpd: return Fp(in ins, ref op, FpOp.Addpd, 16);
            case Mnemonic.Subpd: return Fp(in ins, ref op, FpOp.Subpd, 16);
            case Mnemonic.Mulpd: return Fp(in ins, ref op, FpOp.Mulpd, 16);
            case Mnemonic.Divpd: return Fp(in ins, ref op, FpOp.Divpd, 16);
            case Mnemonic.Minpd: return Fp(in ins, ref op, FpOp.Minpd, 16);
            case Mnemonic.Maxpd: return Fp(in ins, ref op, FpOp.Maxpd, 16);
            case Mnemonic.Sqrtpd: return Fp(in ins, ref op, FpOp.Sqrtpd, 16);
            case Mnemonic.Addps: return Fp(in ins, ref op, FpOp.Addps, 16);
            case Mnemonic.Subps: return Fp(in ins, ref op, FpOp.Subps, 16);
            case Mnemonic.Mulps: return Fp(in ins, ref op, FpOp.Mulps, 16);
            case Mnemonic.Divps: return Fp(in ins, ref op, FpOp.Divps, 16);
            case Mnemonic.Minps: return Fp(in ins, ref op, FpOp.Minps, 16);
            case Mnemonic.Maxps: return Fp(in ins, ref op, FpOp.Maxps, 16);
            case Mnemonic.Sqrtps: return Fp(in ins, ref op, FpOp.Sqrtps, 16);
            case Mnemonic.Cvtss2sd: return Fp(in ins, ref op, FpOp.Cvtss2sd, 4);
            case Mnemonic.Cvtsd2ss: return Fp(in ins, ref op, FpOp.Cvtsd2ss, 8);
            case Mnemonic.Cvtps2pd: return Fp(in ins, ref op, FpOp.Cvtps2pd, 8);
            case Mnemonic.Cvtpd2ps: return Fp(in ins, ref op, FpOp.Cvtpd2ps, 16);
            case Mnemonic.Cvtdq2ps: return Fp(in ins, ref op, FpOp.Cvtdq2ps, 16);
            case Mnemonic.Cvtdq2pd: return Fp(in ins, ref op, FpOp.Cvtdq2pd, 8);
            case Mnemonic.Cvtps2dq: return Fp(in ins, ref op, FpOp.Cvtps2dq, 16);
            case Mnemonic.Cvttps2dq: return Fp(in ins, ref op, FpOp.Cvttps2dq, 16);
            case Mnemonic.Cvtpd2dq: return Fp(in ins, ref op, FpOp.Cvtpd2dq, 16);
            case Mnemonic.Cvttpd2dq: return Fp(in ins, ref op, FpOp.Cvttpd2dq, 16);
            case Mnemonic.Cmpsd when ins.Code == Code.Cmpsd_xmm_xmmm64_imm8: return Fp(in ins, ref op, FpOp.Cmpsd, 8);
            case Mnemonic.Cmpss: return Fp(in ins, ref op, FpOp.Cmpss, 4);
            case Mnemonic.Cmppd: return Fp(in ins, ref op, FpOp.Cmppd, 16);
            case Mnemonic.Cmpps: return Fp(in ins, ref op, FpOp.Cmpps, 16);
            case Mnemonic.Ucomisd: case Mnemonic.Comisd: return Comi(in ins, ref op, dbl: true);
            case Mnemonic.Ucomiss: case Mnemonic.Comiss: return Comi(in ins, ref op, dbl: false);
            case Mnemonic.Cvtsi2sd: return CvtIntToFp(in ins, ref op, dbl: true);
            case Mnemonic.Cvtsi2ss: return CvtIntToFp(in ins, ref op, dbl: false);
            case Mnemonic.Cvttsd2si: return CvtFpToInt(in ins, ref op, dbl: true, trunc: true);
            case Mnemonic.Cvtsd2si: return CvtFpToInt(in ins, ref op, dbl: true, trunc: false);
            case Mnemonic.Cvttss2si: return CvtFpToInt(in ins, ref op, dbl: false, trunc: true);
            case Mnemonic.Cvtss2si: return CvtFpToInt(in ins, ref op, dbl: false, trunc: false);
            case Mnemonic.Pmovmskb: return Mask(in ins, ref op, 0);
            case Mnemonic.Movmskps: return Mask(in ins, ref op, 1);
            case Mnemonic.Movmskpd: return Mask(in ins, ref op, 2);
            // The r64 form (REX.W) is the same instruction: the word is zero-extended into the whole register.
            case Mnemonic.Pextrw when ins.Code is Code.Pextrw_r32_xmm_imm8 or Code.Pextrw_r64_xmm_imm8:
                op.Kind = OpKind.Pextrw;
                op.R0 = OpTranslator.Gpr(ins.Op0Register);
                op.R1 = OpTranslator.Gpr(ins.Op1Register);
                op.Imm = ins.Immediate8;
                op.Form = Form.RR;
                return true;
            case Mnemonic.Pinsrw when ins.Code == Code.Pinsrw_xmm_r32m16_imm8:
                op.Kind = OpKind.Pinsrw;
                op.R0 = OpTranslator.Gpr(ins.Op0Register);
                if (ins.Op1Kind == Iced.Intel.OpKind.Memory) { OpTranslator.Memory(in ins, ref op); op.Form = Form.RM; }
                else { op.R1 = OpTranslator.Gpr(ins.Op1Register); op.Form = Form.RR; }
                op.Imm = ins.Immediate8;
                return true;
        }
        return false;
    }

    /// <summary>xmm, xmm/m or m, xmm forms; Size2 = 1 when a memory operand must be 16-byte aligned.</summary>
    private static bool Xmm2(in Instruction ins, ref Op op, OpKind kind, byte cond, bool aligned)
    {
        op.Kind = kind;
        op.Cond = cond;
        op.Size = 16;
        op.Size2 = aligned ? (byte)1 : (byte)0;
        if (ins.Op0Kind == Iced.Intel.OpKind.Memory)
        {
            if (!IsXmm(ins.Op1Register)) return false;
            OpTranslator.Memory(in ins, ref op);
            op.R1 = OpTranslator.Gpr(ins.Op1Register);
            op.Form = Form.MR;
            return true;
        }
        if (!IsXmm(ins.Op0Register)) return false;
        op.R0 = OpTranslator.Gpr(ins.Op0Register);
        if (ins.Op1Kind == Iced.Intel.OpKind.Memory)
        {
            OpTranslator.Memory(in ins, ref op);
            op.Form = Form.RM;
            return true;
        }
        if (!IsXmm(ins.Op1Register)) return false;
        op.R1 = OpTranslator.Gpr(ins.Op1Register);
        op.Form = Form.RR;
        return true;
    }

    /// <summary>movd/movq between an XMM register and a general register or memory; Size = 4 or 8.</summary>
    private static bool GprXmm(in Instruction ins, ref Op op, OpKind kind, byte size)
    {
        op.Kind = kind;
        op.Size = size;
        if (kind == OpKind.SseMovdToXmm)
        {
            op.R0 = OpTranslator.Gpr(ins.Op0Register);
            if (ins.Op1Kind == Iced.Intel.OpKind.Memory) { OpTranslator.Memory(in ins, ref op); op.Form = Form.RM; }
            else { op.R1 = OpTranslator.Gpr(ins.Op1Register); op.Form = Form.RR; }
        }
        else
        {
            op.R1 = OpTranslator.Gpr(ins.Op1Register);
            if (ins.Op0Kind == Iced.Intel.OpKind.Memory) { OpTranslator.Memory(in ins, ref op); op.Form = Form.MR; }
            else { op.R0 = OpTranslator.Gpr(ins.Op0Register); op.Form = Form.RR; }
        }
        return true;
    }

    private static bool Bin(in Instruction ins, ref Op op, SseOp sub) =>
        Xmm2(in ins, ref op, OpKind.SseBinary, (byte)sub, aligned: true);

    private static bool ShiftOrBin(in Instruction ins, ref Op op, SseOp sub)
    {
        if (ins.OpCount == 2 && ins.Op1Kind == Iced.Intel.OpKind.Immediate8)
        {
            if (!IsXmm(ins.Op0Register)) return false;
            op.Kind = OpKind.SseShiftImm;
            op.Cond = (byte)sub;
            op.R0 = OpTranslator.Gpr(ins.Op0Register);
            op.Imm = ins.Immediate8;
            op.Size = 16;
            op.Form = Form.RI;
            return true;
        }
        return Bin(in ins, ref op, sub);
    }

    private static bool Shuffle(in Instruction ins, ref Op op, SseOp sub)
    {
        if (!Xmm2(in ins, ref op, OpKind.SseShuffle, (byte)sub, aligned: true)) return false;
        op.Imm = ins.Immediate8;
        return true;
    }

    private static bool Mask(in Instruction ins, ref Op op, byte which)
    {
        if (!IsXmm(ins.Op1Register)) return false;
        op.Kind = OpKind.Pmovmskb;
        op.Cond = which;
        op.R0 = OpTranslator.Gpr(ins.Op0Register);
        op.R1 = OpTranslator.Gpr(ins.Op1Register);
        op.Size = (byte)ins.Op0Register.GetSize();
        op.Form = Form.RR;
        return true;
    }

    /// <summary>An SSE floating-point op, xmm, xmm/m (m of <paramref name="memSize"/> bytes; 16-byte
    /// operands must be aligned), with the cmpXX predicate in Imm.</summary>
    private static bool Fp(in Instruction ins, ref Op op, FpOp f, byte memSize)
    {
        if (!Xmm2(in ins, ref op, OpKind.SseFloat, (byte)f, aligned: memSize == 16) || op.Form == Form.MR) return false;
        op.Size = memSize;
        if (ins.OpCount == 3) op.Imm = ins.Immediate8;
        return true;
    }

    private static bool Comi(in Instruction ins, ref Op op, bool dbl)
    {
        if (!Xmm2(in ins, ref op, OpKind.SseComi, dbl ? (byte)1 : (byte)0, aligned: false) || op.Form == Form.MR) return false;
        return true;
    }

    /// <summary>cvtsi2sd/ss xmm, r/m32|64.</summary>
    private static bool CvtIntToFp(in Instruction ins, ref Op op, bool dbl)
    {
        if (!IsXmm(ins.Op0Register)) return false;
        op.Kind = OpKind.SseCvtIntToFp;
        op.Cond = dbl ? (byte)1 : (byte)0;
        op.R0 = OpTranslator.Gpr(ins.Op0Register);
        if (ins.Op1Kind == Iced.Intel.OpKind.Memory)
        {
            OpTranslator.Memory(in ins, ref op);
            op.Size = (byte)ins.MemorySize.GetSize();
            op.Form = Form.RM;
        }
        else
        {
            op.R1 = OpTranslator.Gpr(ins.Op1Register);
            op.Size = (byte)ins.Op1Register.GetSize();
            op.Form = Form.RR;
        }
        return op.Size is 4 or 8;
    }

    /// <summary>cvt(t)sd2si/cvt(t)ss2si r32|64, xmm/m64|m32.</summary>
    private static bool CvtFpToInt(in Instruction ins, ref Op op, bool dbl, bool trunc)
    {
        op.Kind = OpKind.SseCvtFpToInt;
        op.Cond = (byte)((dbl ? 1 : 0) | (trunc ? 2 : 0));
        op.R0 = OpTranslator.Gpr(ins.Op0Register);
        op.Size = (byte)ins.Op0Register.GetSize();
        op.Size2 = dbl ? (byte)8 : (byte)4;
        if (ins.Op1Kind == Iced.Intel.OpKind.Memory) { OpTranslator.Memory(in ins, ref op); op.Form = Form.RM; }
        else
        {
            if (!IsXmm(ins.Op1Register)) return false;
            op.R1 = OpTranslator.Gpr(ins.Op1Register);
            op.Form = Form.RR;
        }
        return op.Size is 4 or 8;
    }
}
