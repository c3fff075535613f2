using System.Numerics;
using Iced.Intel;
using Xunit.Abstractions;
using static Lab.Machine.Tests.Differential.CaseBuilder;
using static Lab.Machine.Tests.Differential.DiffLayout;

namespace Lab.Machine.Tests.Differential;

/// <summary>
/// The x87's transcendental instructions against the host CPU. The hardware's results are not
/// correctly rounded (and differ between vendors), and the Machine computes them to about 106 bits and
/// rounds once, so results are compared to within one unit in the last place of the 64-bit significand;
/// the exception flags other than C1 (the round-up indicator, which follows the last bit) must match
/// exactly, and so must every special result (zeros, infinities, NaNs, domain errors).
/// </summary>
public class X87TranscendentalTests(ITestOutputHelper output)
{
    private static readonly string[] Ops = ["F2xm1", "Fyl2x", "Fyl2xp1", "Fpatan", "Fsin", "Fcos", "Fptan", "Fsincos"];
    private const int Base = 0x400, A = 0x10, B = 0x20, Sw = 0x40, Out = 0x50;

    /// <summary>A double in [lo, hi) as an extended value with all 64 significand bits random.</summary>
    private static (ushort SignExp, ulong Mant) Extended(Gen g, double v)
    {
        if (v == 0) return (0, 0);
        long bits = BitConverter.DoubleToInt64Bits(v);
        ushort sign = bits < 0 ? (ushort)0x8000 : (ushort)0;
        int e = (int)((bits >> 52) & 0x7FF) - 1023;
        ulong mant = 0x8000_0000_0000_0000UL | ((ulong)(bits & 0xF_FFFF_FFFF_FFFFL) << 11) | (ulong)g.Next(0x800);
        return ((ushort)(sign | (e + 16383)), mant);
    }

    private static double Uniform(Gen g, double lo, double hi) => lo + (hi - lo) * g.R.NextDouble();
    private static double LogUniform(Gen g, int minExp, int maxExp) => Math.ScaleB(1 + g.R.NextDouble(), g.Next(minExp, maxExp));

    private static DiffCase Make(Gen g, string op)
    {
        var b = new CaseBuilder(g);
        int r = b.Take();
        b.Gpr[r] = DataAddr + Base;
        Iced.Intel.Register rb = CaseBuilder.Reg(r, 8);
        (double x, double y) = op switch
        {
            "F2xm1" => (g.Chance(20) ? LogUniform(g, -60, 0) * (g.Chance(50) ? -1 : 1) : Uniform(g, -1, 1), 0),
            "Fyl2x" => (g.Chance(30) ? Uniform(g, 0.5, 2) : LogUniform(g, -900, 900), Uniform(g, -4, 4)),
            "Fyl2xp1" => (g.Chance(30) ? LogUniform(g, -60, -2) * (g.Chance(50) ? -1 : 1) : Uniform(g, -0.29, 0.29), Uniform(g, -4, 4)),
            "Fpatan" => (LogUniform(g, -20, 20) * (g.Chance(50) ? -1 : 1), LogUniform(g, -20, 20) * (g.Chance(50) ? -1 : 1)),
            _ => (g.Chance(50) ? Uniform(g, -0.78, 0.78) : Uniform(g, -1000, 1000), 0),
        };
        var ax = Extended(g, x);
        var by = Extended(g, y == 0 ? 1 : y);
        b.WriteData(Base + A, 8, ax.Mant); b.WriteData(Base + A + 8, 2, ax.SignExp);
        b.WriteData(Base + B, 8, by.Mant); b.WriteData(Base + B + 8, 2, by.SignExp);
        b.MarkData(Base + Sw, 0x40);
        b.Emit(Instruction.Create(Code.Fninit), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fld_m80fp, new MemoryOperand(rb, B, 1)), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fld_m80fp, new MemoryOperand(rb, A, 1)), FlagEffect.None);
        b.Emit(Instruction.Create(C(op)), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fnstsw_m2byte, new MemoryOperand(rb, Sw, 1)), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fstp_m80fp, new MemoryOperand(rb, Out, 1)), FlagEffect.None);
        b.Emit(Instruction.Create(Code.Fstp_m80fp, new MemoryOperand(rb, Out + 16, 1)), FlagEffect.None);
        return b.Build("x87-transcendental");
    }

    /// <summary>Distance in units of the last place between two values of the same sign and class
    /// (the 80-bit encodings are ordered like the magnitudes); null when they are not comparable.</summary>
    private static BigInteger? Ulps(byte[] n, byte[] e, int off)
    {
        ulong mn = BitConverter.ToUInt64(n, off), me = BitConverter.ToUInt64(e, off);
        ushort sn = BitConverter.ToUInt16(n, off + 8), se = BitConverter.ToUInt16(e, off + 8);
        if (mn == me && sn == se) return 0;
        if ((sn & 0x8000) != (se & 0x8000) || (sn & 0x7FFF) == 0x7FFF || (se & 0x7FFF) == 0x7FFF) return null;
        BigInteger a = ((BigInteger)(sn & 0x7FFF) << 63) + (mn & 0x7FFF_FFFF_FFFF_FFFF);
        BigInteger c = ((BigInteger)(se & 0x7FFF) << 63) + (me & 0x7FFF_FFFF_FFFF_FFFF);
        return BigInteger.Abs(a - c);
    }

    [Fact]
    public void Transcendentals_are_within_one_ulp_of_the_host_with_the_same_flags()
    {
        var g = new Gen(87);
        var cases = new List<DiffCase>();
        var names = new List<string>();
        foreach (string op in Ops)
            for (int i = 0; i < 400; i++) { cases.Add(Make(g, op)); names.Add(op); }
        FinalState[] native = NativeBatch.Run(cases);
        var failures = new List<string>();
        var worst = new Dictionary<string, BigInteger>();
        using var emulator = new EmulatorBatch();
        for (int i = 0; i < cases.Count; i++)
        {
            FinalState emu = emulator.Run(cases[i]);
            byte[] n = native[i].Data, e = emu.Data;
            int sw = Base + Sw;
            BigInteger d0 = Ulps(n, e, Base + Out) ?? -1, d1 = Ulps(n, e, Base + Out + 16) ?? -1;
            ushort swn = BitConverter.ToUInt16(n, sw), swe = BitConverter.ToUInt16(e, sw);
            bool flagsMatch = ((swn ^ swe) & ~0x0200) == 0;
            BigInteger d = BigInteger.Max(d0, d1);
            if (d0 >= 0 && d1 >= 0) worst[names[i]] = BigInteger.Max(worst.GetValueOrDefault(names[i]), d);
            if (d0 < 0 || d1 < 0 || d > 1 || !flagsMatch)
            {
                if (failures.Count < 12)
                    failures.Add($"{names[i]} #{i}: A={Convert.ToHexString(cases[i].InitialDataImage(), Base + A, 10)} B={Convert.ToHexString(cases[i].InitialDataImage(), Base + B, 10)}"
                        + $" native sw={swn:x4} {Convert.ToHexString(n, Base + Out, 10)} {Convert.ToHexString(n, Base + Out + 16, 10)}"
                        + $" machine sw={swe:x4} {Convert.ToHexString(e, Base + Out, 10)} {Convert.ToHexString(e, Base + Out + 16, 10)} (ulps {d0}, {d1})");
                else failures.Add("");
            }
        }
        output.WriteLine("largest difference in ulps: " + string.Join(", ", worst.Select(w => $"{w.Key} {w.Value}")));
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} differ:\n" + string.Join("\n", failures.Where(f => f != "")));
    }
}
