using Iced.Intel;
using static Lab.Machine.Tests.Differential.CaseBuilder;

namespace Lab.Machine.Tests.Differential;

using Register = Iced.Intel.Register;

/// <summary>SSE2 integer instructions and data movement.</summary>
internal static partial class DiffFamilies
{
    private static readonly string[] SseBinaryNames =
    [
        "Pxor", "Pand", "Pandn", "Por", "Xorps", "Andnps", "Orpd",
        "Paddb", "Paddw", "Paddd", "Paddq", "Psubb", "Psubw", "Psubd", "Psubq",
        "Paddsb", "Paddsw", "Paddusb", "Paddusw", "Psubsb", "Psubsw", "Psubusb", "Psubusw",
        "Pcmpeqb", "Pcmpeqw", "Pcmpeqd", "Pcmpgtb", "Pcmpgtw", "Pcmpgtd",
        "Pminub", "Pmaxub", "Pminsw", "Pmaxsw", "Pavgb", "Pavgw",
        "Pmullw", "Pmulhw", "Pmulhuw", "Pmuludq", "Pmaddwd", "Psadbw",
    ];

    private static readonly string[] SseUnpackPackNames =
    [
        "Punpcklbw", "Punpcklwd", "Punpckldq", "Punpcklqdq", "Punpckhbw", "Punpckhwd", "Punpckhdq", "Punpckhqdq",
        "Unpcklps", "Unpckhpd", "Packsswb", "Packssdw", "Packuswb",
    ];

    /// <summary>Random values in every XMM register, edge lanes included.</summary>
    private static void RandomXmms(CaseBuilder b)
    {
        for (int i = 0; i < 16; i++) b.RandomXmm(i);
    }

    /// <summary>A 16-byte memory operand: 16-byte aligned, or anywhere (page-straddling included).</summary>
    private static MemoryOperand Mem128(CaseBuilder b, bool aligned)
    {
        int off = aligned ? 0x100 + b.G.Next(0x1C0) * 16 : b.PickOffset(16);
        var mem = b.Mem(16, false, off);
        // Lanes of edge values in memory too.
        if (b.G.Chance(60))
        {
            int es = b.G.Pick(1, 2, 4, 8);
            for (int k = 0; k < 16; k += es) b.WriteData(off + k, es, b.G.Value(es));
        }
        return mem;
    }

    private static void SseArith(CaseBuilder b) => SseBinary(b, b.G.Pick(SseBinaryNames), "");

    private static void SseBinary(CaseBuilder b, string name, string suffix)
    {
        var g = b.G;
        RandomXmms(b);
        int d = g.Next(16);
        Code code = C($"{name}_xmm_xmmm128{suffix}");
        int imm = g.Next(256);
        Instruction ins;
        if (g.Chance(25))
        {
            bool misaligned = g.Chance(8);
            var mem = Mem128(b, aligned: !misaligned);
            ins = suffix.Length > 0 ? Instruction.Create(code, XmmReg(d), mem, imm) : Instruction.Create(code, XmmReg(d), mem);
            if (misaligned) b.Note = "misaligned 16-byte operand: #GP unless the offset happens to be aligned";
        }
        else
        {
            int s = g.Chance(10) ? d : g.Next(16);
            ins = suffix.Length > 0 ? Instruction.Create(code, XmmReg(d), XmmReg(s), imm) : Instruction.Create(code, XmmReg(d), XmmReg(s));
        }
        b.Emit(ins, FlagEffect.None);
    }

    private static void SseShuffle(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(50)) SseBinary(b, g.Pick(SseUnpackPackNames), "");
        else SseBinary(b, g.Pick("Pshufd", "Pshuflw", "Pshufhw", "Shufps", "Shufpd"), "_imm8");
    }

    private static void SseShift(CaseBuilder b)
    {
        var g = b.G;
        RandomXmms(b);
        int d = g.Next(16);
        if (g.Chance(50))
        {
            string name = g.Pick("Psllw", "Pslld", "Psllq", "Psrlw", "Psrld", "Psrlq", "Psraw", "Psrad", "Pslldq", "Psrldq");
            int width = name.EndsWith("dq") ? 16 : name[^1] switch { 'w' => 16, 'd' => 32, _ => 64 };
            int count = g.Pick(0, 1, width - 1, width, width + 1, 8, 15, 16, 17, 255, g.Next(256), g.Next(width + 2));
            b.Emit(Instruction.Create(C($"{name}_xmm_imm8"), XmmReg(d), count), FlagEffect.None);
            return;
        }
        // By an XMM/m128 count: the whole low quadword is the count.
        string n2 = g.Pick("Psllw", "Pslld", "Psllq", "Psrlw", "Psrld", "Psrlq", "Psraw", "Psrad");
        int w2 = n2[^1] switch { 'w' => 16, 'd' => 32, _ => 64 };
        ulong cnt = g.Next(8) switch
        {
            0 => 0,
            1 => 1,
            2 => (ulong)(w2 - 1),
            3 => (ulong)w2,
            4 => (ulong)w2 + 1,
            5 => g.Pick<ulong>(1UL << 32, 1UL << 63, 0x100, ulong.MaxValue),
            _ => (ulong)g.Next(w2 + 2),
        };
        Instruction ins;
        if (g.Chance(25))
        {
            int off = 0x100 + g.Next(0x1C0) * 16;
            var mem = b.Mem(16, false, off);
            b.WriteData(off, 8, cnt);
            ins = Instruction.Create(C($"{n2}_xmm_xmmm128"), XmmReg(d), mem);
        }
        else
        {
            int s = g.Next(16);
            if (s != d) b.SetXmm(s, cnt, g.U64());
            ins = Instruction.Create(C($"{n2}_xmm_xmmm128"), XmmReg(d), XmmReg(s));
        }
        b.Emit(ins, FlagEffect.None);
    }

    private static void SseMove(CaseBuilder b)
    {
        var g = b.G;
        RandomXmms(b);
        int d = g.Next(16), s = g.Next(16);
        Instruction ins;
        switch (g.Next(20))
        {
            case 14:
                ins = g.Chance(50) ? Instruction.Create(Code.Movaps_xmm_xmmm128, XmmReg(d), Mem128(b, !g.Chance(5)))
                    : Instruction.Create(Code.Movups_xmmm128_xmm, Mem128(b, false), XmmReg(s));
                break;
            case 15:
                {
                    // movlps/movhps/movlpd/movhpd: one quadword to or from memory, the other half kept.
                    string name = g.Pick("Movlps", "Movhps", "Movlpd", "Movhpd");
                    ins = g.Chance(50) ? Instruction.Create(C($"{name}_xmm_m64"), XmmReg(d), b.Mem(8))
                        : Instruction.Create(C($"{name}_m64_xmm"), b.Mem(8), XmmReg(s));
                    break;
                }
            case 16:
                // movss/movsd: a load zeroes the rest, a register move keeps it.
                ins = g.Next(3) switch
                {
                    0 => Instruction.Create(g.Chance(50) ? Code.Movss_xmm_xmmm32 : Code.Movsd_xmm_xmmm64, XmmReg(d), XmmReg(s)),
                    1 => g.Chance(50) ? Instruction.Create(Code.Movss_xmm_xmmm32, XmmReg(d), b.Mem(4)) : Instruction.Create(Code.Movsd_xmm_xmmm64, XmmReg(d), b.Mem(8)),
                    _ => g.Chance(50) ? Instruction.Create(Code.Movss_xmmm32_xmm, b.Mem(4), XmmReg(s)) : Instruction.Create(Code.Movsd_xmmm64_xmm, b.Mem(8), XmmReg(s)),
                };
                break;
            case 17:
                {
                    int r = b.Take();
                    bool r64 = g.Chance(30);
                    string name = g.Pick("Movmskps", "Movmskpd");
                    ins = Instruction.Create(C($"{name}_r{(r64 ? 64 : 32)}_xmm"), Reg(r, r64 ? 8 : 4), XmmReg(s));
                    break;
                }
            case 0: ins = Instruction.Create(Code.Movdqa_xmm_xmmm128, XmmReg(d), Mem128(b, true)); break;
            case 1: ins = Instruction.Create(Code.Movdqa_xmmm128_xmm, Mem128(b, true), XmmReg(s)); break;
            case 2: ins = Instruction.Create(Code.Movdqu_xmm_xmmm128, XmmReg(d), Mem128(b, false)); break;
            case 3: ins = Instruction.Create(Code.Movdqu_xmmm128_xmm, Mem128(b, false), XmmReg(s)); break;
            case 4:
                ins = g.Chance(50) ? Instruction.Create(Code.Movq_xmm_xmmm64, XmmReg(d), XmmReg(s))
                    : Instruction.Create(Code.Movq_xmm_xmmm64, XmmReg(d), b.Mem(8));
                break;
            case 5: ins = Instruction.Create(Code.Movq_xmmm64_xmm, b.Mem(8), XmmReg(s)); break;
            case 6:
                {
                    bool q = g.Chance(50);
                    int size = q ? 8 : 4;
                    if (g.Chance(30)) ins = Instruction.Create(q ? Code.Movq_xmm_rm64 : Code.Movd_xmm_rm32, XmmReg(d), b.Mem(size));
                    else
                    {
                        int r = b.Take();
                        ins = Instruction.Create(q ? Code.Movq_xmm_rm64 : Code.Movd_xmm_rm32, XmmReg(d), Reg(r, size));
                    }
                    break;
                }
            case 7:
                {
                    bool q = g.Chance(50);
                    int size = q ? 8 : 4;
                    if (g.Chance(30)) ins = Instruction.Create(q ? Code.Movq_rm64_xmm : Code.Movd_rm32_xmm, b.Mem(size), XmmReg(s));
                    else
                    {
                        int r = b.Take();
                        ins = Instruction.Create(q ? Code.Movq_rm64_xmm : Code.Movd_rm32_xmm, Reg(r, size), XmmReg(s));
                    }
                    break;
                }
            case 8: ins = Instruction.Create(Code.Movlhps_xmm_xmm, XmmReg(d), XmmReg(s)); break;
            case 9: ins = Instruction.Create(Code.Movhlps_xmm_xmm, XmmReg(d), XmmReg(s)); break;
            case 10:
                {
                    int r = b.Take();
                    bool r64 = g.Chance(30);
                    ins = Instruction.Create(r64 ? Code.Pextrw_r64_xmm_imm8 : Code.Pextrw_r32_xmm_imm8,
                        Reg(r, r64 ? 8 : 4), XmmReg(s), g.Chance(70) ? g.Next(8) : g.Next(256));
                    break;
                }
            case 11:
                {
                    int imm = g.Chance(70) ? g.Next(8) : g.Next(256);
                    if (g.Chance(30)) ins = Instruction.Create(Code.Pinsrw_xmm_r32m16_imm8, XmmReg(d), b.Mem(2), imm);
                    else ins = Instruction.Create(Code.Pinsrw_xmm_r32m16_imm8, XmmReg(d), Reg(b.Take(), 4), imm);
                    break;
                }
            case 12:
                {
                    int r = b.Take();
                    ins = g.Chance(70) ? Instruction.Create(Code.Pmovmskb_r32_xmm, Reg(r, 4), XmmReg(s))
                        : Instruction.Create(Code.Pmovmskb_r64_xmm, Reg(r, 8), XmmReg(s));
                    break;
                }
            default: ins = Instruction.Create(Code.Movdqa_xmm_xmmm128, XmmReg(d), XmmReg(s)); break;
        }
        b.Emit(ins, FlagEffect.None);
    }
}
