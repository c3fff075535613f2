using Iced.Intel;
using static Lab.Machine.Tests.Differential.CaseBuilder;

namespace Lab.Machine.Tests.Differential;

/// <summary>SSE/SSE2 floating point: scalar and packed arithmetic, square root, min/max, compares
/// (cmpXX predicates and comis/ucomis flags), conversions, and fnstcw; lanes hold edge values
/// (signed zeros, denormals, infinities, quiet and signalling NaNs, extremes) as well as random bits.</summary>
internal static partial class DiffFamilies
{
    private static readonly string[] FpScalarD = ["Addsd", "Subsd", "Mulsd", "Divsd", "Minsd", "Maxsd", "Sqrtsd"];
    private static readonly string[] FpScalarS = ["Addss", "Subss", "Mulss", "Divss", "Minss", "Maxss", "Sqrtss"];
    private static readonly string[] FpPacked =
    [
        "Addpd", "Subpd", "Mulpd", "Divpd", "Minpd", "Maxpd", "Sqrtpd", "Addps", "Subps", "Mulps", "Divps", "Minps", "Maxps", "Sqrtps",
        "Cvtpd2ps", "Cvtdq2ps", "Cvtps2dq", "Cvttps2dq", "Cvtpd2dq", "Cvttpd2dq", "Andpd", "Xorpd",
    ];

    private static readonly double[] DoubleEdges =
    [
        0.0, -0.0, 1.0, -1.0, 0.5, 1.5, -2.5, 3.0, 1e300, -1e300, 1e-300, double.Epsilon, -double.Epsilon, 2.2250738585072014E-308,
        double.MaxValue, double.MinValue, double.PositiveInfinity, double.NegativeInfinity, double.NaN, 9.2233720368547758e18,
        -9.2233720368547758e18, 2147483647.5, -2147483648.5, 4294967296.0, 0.1, 1.0 / 3.0, 123456789.987654321,
    ];

    private static readonly float[] FloatEdges =
    [
        0f, -0f, 1f, -1f, 0.5f, 1.5f, -2.5f, 3f, 1e38f, -1e38f, 1e-38f, float.Epsilon, -float.Epsilon, float.MaxValue,
        float.MinValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 2147483648f, -2147483648f, 0.1f, 16777217f,
    ];

    /// <summary>An 8-byte lane: an edge double, a signalling NaN, or random bits.</summary>
    private static ulong DoubleLane(Gen g) => g.Next(6) switch
    {
        0 => g.U64(),
        1 => 0x7FF0_0000_0000_0001UL | (g.U64() & 0x0007_FFFF_FFFF_FFFFUL),     // signalling NaN
        _ => (ulong)BitConverter.DoubleToInt64Bits(g.Pick(DoubleEdges)) ^ (g.Chance(20) ? 1UL : 0),
    };

    /// <summary>A 4-byte lane: an edge float, a signalling NaN, or random bits.</summary>
    private static ulong FloatLane(Gen g) => g.Next(6) switch
    {
        0 => (uint)g.U64(),
        1 => 0x7F80_0001u | ((uint)g.U64() & 0x003F_FFFFu),
        _ => (uint)BitConverter.SingleToInt32Bits(g.Pick(FloatEdges)) ^ (g.Chance(20) ? 1u : 0u),
    };

    private static void FloatXmms(CaseBuilder b)
    {
        var g = b.G;
        for (int i = 0; i < 16; i++)
        {
            if (g.Chance(15)) { b.RandomXmm(i); continue; }
            if (g.Chance(50)) b.SetXmm(i, DoubleLane(g), DoubleLane(g));
            else b.SetXmm(i, FloatLane(g) | FloatLane(g) << 32, FloatLane(g) | FloatLane(g) << 32);
        }
    }

    /// <summary>A memory operand of <paramref name="size"/> bytes holding float or double lanes.</summary>
    private static MemoryOperand FloatMem(CaseBuilder b, int size, bool dbl)
    {
        var g = b.G;
        int off = size == 16 ? 0x100 + g.Next(0x1C0) * 16 : b.PickOffset(size);
        var mem = b.Mem(size, false, off);
        for (int k = 0; k < size; k += dbl ? 8 : 4) b.WriteData(off + k, dbl ? 8 : 4, dbl ? DoubleLane(g) : FloatLane(g));
        return mem;
    }

    private static void SseFloat(CaseBuilder b)
    {
        var g = b.G;
        FloatXmms(b);
        int d = g.Next(16), s = g.Chance(10) ? d : g.Next(16);
        bool mem = g.Chance(30);
        Instruction ins;
        var fx = FlagEffect.None;
        switch (g.Next(9))
        {
            case 0:
            case 1:
                {
                    bool dbl = g.Chance(50);
                    string name = g.Pick(dbl ? FpScalarD : FpScalarS);
                    int sz = dbl ? 8 : 4;
                    Code code = C($"{name}_xmm_xmmm{sz * 8}");
                    ins = mem ? Instruction.Create(code, XmmReg(d), FloatMem(b, sz, dbl)) : Instruction.Create(code, XmmReg(d), XmmReg(s));
                    break;
                }
            case 2:
            case 3:
                {
                    string name = g.Pick(FpPacked);
                    Code code = C($"{name}_xmm_xmmm128");
                    ins = mem ? Instruction.Create(code, XmmReg(d), FloatMem(b, 16, name.EndsWith("pd") || name == "Cvtpd2ps")) : Instruction.Create(code, XmmReg(d), XmmReg(s));
                    break;
                }
            case 4:
                {
                    // cmpXX with each predicate
                    string name = g.Pick("Cmpsd", "Cmpss", "Cmppd", "Cmpps");
                    int sz = name == "Cmpsd" ? 8 : name == "Cmpss" ? 4 : 16;
                    bool dbl = name.EndsWith('d');
                    Code code = C($"{name}_xmm_xmmm{sz * 8}_imm8");
                    int pred = g.Next(8);
                    ins = mem ? Instruction.Create(code, XmmReg(d), FloatMem(b, sz, dbl), pred) : Instruction.Create(code, XmmReg(d), XmmReg(s), pred);
                    break;
                }
            case 5:
                {
                    string name = g.Pick("Ucomisd", "Comisd", "Ucomiss", "Comiss");
                    bool dbl = name.EndsWith('d');
                    Code code = C($"{name}_xmm_xmmm{(dbl ? 64 : 32)}");
                    ins = mem ? Instruction.Create(code, XmmReg(d), FloatMem(b, dbl ? 8 : 4, dbl)) : Instruction.Create(code, XmmReg(d), XmmReg(s));
                    fx = FlagEffect.All;
                    break;
                }
            case 6:
                {
                    // cvtsi2sd/ss from a 32- or 64-bit register or memory
                    string name = g.Pick("Cvtsi2sd", "Cvtsi2ss");
                    int w = g.Chance(50) ? 32 : 64;
                    Code code = C($"{name}_xmm_rm{w}");
                    if (mem) ins = Instruction.Create(code, XmmReg(d), b.Mem(w / 8));
                    else
                    {
                        int r = b.Take();
                        if (g.Chance(40)) b.Gpr[r] = g.Pick<ulong>(0, 1, ulong.MaxValue, 0x8000_0000_0000_0000UL, 0x7FFF_FFFF_FFFF_FFFFUL, 0x8000_0000UL, 0x20_0000_0000_0001UL);
                        ins = Instruction.Create(code, XmmReg(d), Reg(r, w / 8));
                    }
                    break;
                }
            case 7:
                {
                    // cvt(t)sd2si / cvt(t)ss2si to a 32- or 64-bit register
                    string name = g.Pick("Cvttsd2si", "Cvtsd2si", "Cvttss2si", "Cvtss2si");
                    bool dbl = name.Contains("sd");
                    int w = g.Chance(50) ? 32 : 64;
                    int r = b.Take();
                    Code code = C($"{name}_r{w}_xmmm{(dbl ? 64 : 32)}");
                    ins = mem ? Instruction.Create(code, Reg(r, w / 8), FloatMem(b, dbl ? 8 : 4, dbl)) : Instruction.Create(code, Reg(r, w / 8), XmmReg(s));
                    break;
                }
            default:
                {
                    string name = g.Pick("Cvtss2sd", "Cvtsd2ss", "Cvtps2pd", "Cvtdq2pd");
                    int sz = name is "Cvtsd2ss" or "Cvtps2pd" or "Cvtdq2pd" ? 8 : 4;
                    if (name == "Cvtps2pd" || name == "Cvtdq2pd") sz = 8;
                    bool dbl = name == "Cvtsd2ss";
                    Code code = C($"{name}_xmm_xmmm{sz * 8}");
                    if (g.Chance(10)) { ins = Instruction.Create(Code.Fnstcw_m2byte, b.Mem(2)); break; }
                    ins = mem ? Instruction.Create(code, XmmReg(d), FloatMem(b, sz, dbl)) : Instruction.Create(code, XmmReg(d), XmmReg(s));
                    break;
                }
        }
        b.Emit(ins, fx);
    }
}
