using Iced.Intel;
using static Lab.Machine.Tests.Differential.CaseBuilder;
using static Lab.Machine.Tests.Differential.DiffLayout;

namespace Lab.Machine.Tests.Differential;

using Register = Iced.Intel.Register;

/// <summary>
/// The generated case families. Each family has a fixed seed (derived from its name) and a case
/// count; a generator fills one <see cref="CaseBuilder"/> per case. Split over files by area:
/// DiffFamilies.cs (registry, integer ALU, shifts, bits, multiply/divide),
/// DiffFamilies.Moves.cs (moves, stack, strings, flags, conditions, faults), DiffFamilies.Sse.cs,
/// DiffFamilies.SseFloat.cs, DiffFamilies.X87.cs.
/// </summary>
internal static partial class DiffFamilies
{
    private static readonly (string Name, int Count, Action<CaseBuilder> Make)[] All =
    [
        ("alu-reg", 3000, AluReg),
        ("alu-mem", 2000, AluMem),
        ("alu-imm", 2000, AluImm),
        ("inc-dec-neg-not", 1500, Unary),
        ("shift", 3000, ShiftCase),
        ("rotate", 2500, RotateCase),
        ("shld-shrd", 2000, DoubleShift),
        ("bt", 2000, BitTest),
        ("bsf-bsr-tzcnt-lzcnt-popcnt", 1500, BitScan),
        ("mul-imul", 2000, Multiply),
        ("div-idiv", 2000, Divide),
        ("setcc-cmov-jcc", 2500, Conditions),
        ("mov", 1500, Mov),
        ("movzx-movsx-cbw-cwd", 1500, Extend),
        ("xchg-cmpxchg-xadd-bswap", 1500, Exchange),
        ("push-pop-leave-enter", 1500, Stack),
        ("lea", 1500, Lea),
        ("string", 2500, StringCase),
        ("flag-instructions", 1000, FlagInstructions),
        ("lazy-flag-chains", 2000, Chains),
        ("faults", 600, Faults),
        ("sse-move", 1500, SseMove),
        ("sse-arith", 3000, SseArith),
        ("sse-shift", 1500, SseShift),
        ("sse-shuffle-pack", 1500, SseShuffle),
        ("sse-float", 3000, SseFloat),
        ("x87", 12000, X87),
        ("x87-rounding", 8000, X87Rounding),
        ("x87-remainder", 3000, X87Remainder),
    ];

    public static IEnumerable<string> Names => All.Select(f => f.Name);

    public static IReadOnlyList<DiffCase> Generate(string family)
    {
        var f = All.Single(x => x.Name == family);
        var g = new Gen(Seed(family));
        var list = new List<DiffCase>(f.Count);
        for (int i = 0; i < f.Count; i++)
        {
            var b = new CaseBuilder(g);
            f.Make(b);
            list.Add(b.Build(family));
        }
        return list;
    }

    /// <summary>A stable seed per family (string.GetHashCode is randomised per process).</summary>
    private static int Seed(string name)
    {
        uint h = 2166136261;
        foreach (char c in name) h = (h ^ c) * 16777619;
        return (int)(h & 0x7FFFFFFF);
    }

    private static string Bits(int size) => (size * 8).ToString();

    private static readonly Lazy<bool> HostHasTzcntLzcnt = new(() =>
    {
        string info = File.Exists("/proc/cpuinfo") ? File.ReadAllText("/proc/cpuinfo") : "";
        return System.Text.RegularExpressions.Regex.IsMatch(info, @"\bbmi1\b") && System.Text.RegularExpressions.Regex.IsMatch(info, @"\babm\b");
    });

    private static readonly string[] AluNames = ["Add", "Or", "Adc", "Sbb", "And", "Sub", "Xor", "Cmp", "Test"];

    private static FlagEffect AluFx(string m) => m is "Or" or "And" or "Xor" or "Test" ? FlagEffect.Logic : FlagEffect.All;

    /// <summary>The register sharing storage with an 8-bit legacy register: al &lt;-&gt; ah.</summary>
    private static int Sibling(int idx) => idx >= 16 ? idx - 16 : idx + 16;

    // ------------------------------------------------------------------------------------------
    // Integer ALU.

    private static void AluReg(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(20)) b.Producer();
        int size = g.Pick(1, 2, 4, 8);
        string s = Bits(size), m = g.Pick(AluNames);
        bool legacy = size == 1 && b.HasFreeLegacy() && g.Chance(50);
        int d = b.TakeSized(size, legacy);
        b.Set(d, size, g.Value(size));
        int src;
        if (g.Chance(8)) src = d;                                    // add eax, eax; xor eax, eax
        else if (legacy && g.Chance(10)) src = Sibling(d);           // add al, ah
        else
        {
            src = b.TakeSized(size, legacy);
            b.Set(src, size, g.Chance(15) ? b.Get(d, size) : g.Value(size));
        }
        string code = m == "Test" || g.Chance(50) ? $"{m}_rm{s}_r{s}" : $"{m}_r{s}_rm{s}";
        b.Emit(Instruction.Create(C(code), Reg(d, size), Reg(src, size)), AluFx(m));
    }

    private static void AluMem(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(20)) b.Producer();
        int size = g.Pick(1, 2, 4, 8);
        string s = Bits(size), m = g.Pick(AluNames);
        bool legacy = size == 1 && b.HasFreeLegacy() && g.Chance(30);
        int off = b.PickOffset(size);
        var mem = b.Mem(size, legacy, off);
        if (g.Chance(50)) b.WriteData(off, size, g.Value(size));
        int form = g.Next(3);
        Instruction ins;
        if (form == 0 && m != "Test")
        {
            int r = b.TakeSized(size, legacy);
            b.Set(r, size, g.Value(size));
            ins = Instruction.Create(C($"{m}_r{s}_rm{s}"), Reg(r, size), mem);
        }
        else if (form <= 1)
        {
            int r = b.TakeSized(size, legacy);
            b.Set(r, size, g.Value(size));
            ins = Instruction.Create(C($"{m}_rm{s}_r{s}"), mem, Reg(r, size));
        }
        else
        {
            bool imm8 = size > 1 && m != "Test" && g.Chance(50);
            string immName = imm8 ? "imm8" : size == 1 ? "imm8" : size == 2 ? "imm16" : "imm32";
            ins = Instruction.Create(C($"{m}_rm{s}_{immName}"), mem, Imm(g, imm8 ? 1 : Math.Min(size, 4)));
        }
        if (m is not ("Cmp" or "Test") && form != 0 && g.Chance(15)) ins.HasLockPrefix = true;
        b.Emit(ins, AluFx(m));
    }

    /// <summary>An immediate of the given size, sign-extended to int as Iced expects.</summary>
    private static int Imm(Gen g, int size)
    {
        ulong v = g.Value(size);
        return size switch { 1 => (sbyte)v, 2 => (short)v, _ => (int)v };
    }

    private static void AluImm(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(20)) b.Producer();
        int size = g.Pick(1, 2, 4, 8);
        string s = Bits(size), m = g.Pick(AluNames);
        int variant = g.Next(3);
        int r;
        string code;
        int immSize;
        if (variant == 0)
        {
            // The accumulator short forms (04/05, 0C/0D ... A8/A9).
            b.Reserve(0);
            r = 0;
            string acc = size switch { 1 => "AL", 2 => "AX", 4 => "EAX", _ => "RAX" };
            immSize = Math.Min(size, 4);
            code = $"{m}_{acc}_imm{immSize * 8}";
        }
        else
        {
            bool legacy = size == 1 && b.HasFreeLegacy() && g.Chance(50);
            r = b.TakeSized(size, legacy);
            bool imm8 = variant == 2 && size > 1 && m != "Test";
            immSize = imm8 ? 1 : Math.Min(size, 4);
            code = $"{m}_rm{s}_imm{immSize * 8}";
        }
        b.Set(r, size, g.Value(size));
        b.Emit(Instruction.Create(C(code), Reg(r, size), Imm(g, immSize)), AluFx(m));
    }

    private static void Unary(CaseBuilder b)
    {
        var g = b.G;
        string m = g.Pick("Inc", "Dec", "Neg", "Not");
        // A preceding producer checks that inc/dec keep CF from every kind of lazy flag state.
        if (g.Chance(m is "Inc" or "Dec" ? 60 : 20)) b.Producer();
        int size = g.Pick(1, 2, 4, 8);
        string s = Bits(size);
        Instruction ins;
        if (g.Chance(30))
        {
            int off = b.PickOffset(size);
            var mem = b.Mem(size, false, off);
            b.WriteData(off, size, g.Value(size));
            ins = Instruction.Create(C($"{m}_rm{s}"), mem);
            if (g.Chance(15)) ins.HasLockPrefix = true;
        }
        else
        {
            int r = b.TakeSized(size, size == 1 && b.HasFreeLegacy() && g.Chance(40));
            b.Set(r, size, g.Value(size));
            ins = Instruction.Create(C($"{m}_rm{s}"), Reg(r, size));
        }
        b.Emit(ins, m switch { "Neg" => FlagEffect.All, "Not" => FlagEffect.None, _ => FlagEffect.IncDec });
    }

    // ------------------------------------------------------------------------------------------
    // Shifts and rotates.

    private static void ShiftCase(CaseBuilder b) => ShiftOrRotate(b, b.G.Pick("Shl", "Shr", "Sar", "Sal"));

    private static void RotateCase(CaseBuilder b) => ShiftOrRotate(b, b.G.Pick("Rol", "Ror", "Rcl", "Rcr"));

    private static void ShiftOrRotate(CaseBuilder b, string m)
    {
        var g = b.G;
        b.Reserve(1);   // a producer must not change the count in CL
        if (g.Chance(20)) b.Producer();
        int size = g.Pick(1, 2, 4, 8);
        string s = Bits(size);
        int form = g.Next(3);   // 0: by 1, 1: by CL, 2: by imm8
        int count = form == 0 ? 1 : g.Count(size);
        if (form == 1) { b.Reserve(1); b.Set(1, 1, (ulong)count); }
        string suffix = form == 0 ? "1" : form == 1 ? "CL" : "imm8";
        bool memory = g.Chance(30);
        Instruction ins;
        if (memory)
        {
            int off = b.PickOffset(size);
            var mem = b.Mem(size, false, off);
            b.WriteData(off, size, g.Value(size));
            ins = form == 1 ? Instruction.Create(C($"{m}_rm{s}_CL"), mem, Register.CL)
                : Instruction.Create(C($"{m}_rm{s}_{suffix}"), mem, count);
        }
        else
        {
            int r = b.TakeSized(size, size == 1 && b.HasFreeLegacy() && g.Chance(40));
            b.Set(r, size, g.Value(size));
            ins = form == 1 ? Instruction.Create(C($"{m}_rm{s}_CL"), Reg(r, size), Register.CL)
                : Instruction.Create(C($"{m}_rm{s}_{suffix}"), Reg(r, size), count);
        }
        b.Emit(ins, ShiftFx(m, size, count));
        // A consumer of the (defined) flags reads the lazy state this kind of instruction leaves.
        if (b.G.Chance(30)) EmitConsumer(b);
    }

    /// <summary>
    /// SDM: a masked count of 0 affects no flag; OF is defined only for a masked count of 1; AF is
    /// undefined after a shift; SHL/SHR leave CF undefined when the count is at least the operand
    /// width; rotates change only CF and OF.
    /// </summary>
    private static FlagEffect ShiftFx(string m, int size, int count)
    {
        int mc = count & (size == 8 ? 63 : 31);
        if (mc == 0) return FlagEffect.None;
        ulong of = mc == 1 ? 0 : OF;
        return m switch
        {
            "Rol" or "Ror" or "Rcl" or "Rcr" => new FlagEffect(CF | OF, of),
            "Sar" => new FlagEffect(Status, AF | of),
            _ => new FlagEffect(Status, AF | of | (mc >= size * 8 ? CF : 0)),
        };
    }

    private static void DoubleShift(CaseBuilder b)
    {
        var g = b.G;
        b.Reserve(1);   // a producer must not change the count in CL
        if (g.Chance(20)) b.Producer();
        string m = g.Pick("Shld", "Shrd");
        int size = g.Pick(2, 4, 8);
        string s = Bits(size);
        bool byCl = g.Chance(50);
        bool memory = g.Chance(30);
        int count = g.Count(size);
        // A 16-bit count above 16 leaves the result undefined: keep those to register destinations.
        if (memory && size == 2 && (count & 31) > 16) count = g.Next(17);
        if (byCl) { b.Reserve(1); b.Set(1, 1, (ulong)count); }
        int src = b.Take();
        b.Set(src, size, g.Value(size));
        Instruction ins;
        int dst = -1;
        if (memory)
        {
            int off = b.PickOffset(size);
            var mem = b.Mem(size, false, off);
            b.WriteData(off, size, g.Value(size));
            ins = byCl ? Instruction.Create(C($"{m}_rm{s}_r{s}_CL"), mem, Reg(src, size), Register.CL)
                : Instruction.Create(C($"{m}_rm{s}_r{s}_imm8"), mem, Reg(src, size), count);
        }
        else
        {
            dst = g.Chance(8) ? src : b.Take();
            if (dst != src) b.Set(dst, size, g.Value(size));
            ins = byCl ? Instruction.Create(C($"{m}_rm{s}_r{s}_CL"), Reg(dst, size), Reg(src, size), Register.CL)
                : Instruction.Create(C($"{m}_rm{s}_r{s}_imm8"), Reg(dst, size), Reg(src, size), count);
        }
        int mc = count & (size == 8 ? 63 : 31);
        FlagEffect fx;
        if (mc == 0) fx = FlagEffect.None;
        else if (size == 2 && mc > 16)
        {
            fx = FlagEffect.AllUndefined;
            b.IgnoreGpr |= 1 << dst;
            b.Note = "16-bit shld/shrd count > 16: result and flags undefined";
        }
        else fx = new FlagEffect(Status, AF | (mc == 1 ? 0 : OF));
        b.Emit(ins, fx);
        // A consumer of the (defined) flags reads the lazy state this kind of instruction leaves.
        if (b.G.Chance(30)) EmitConsumer(b);
    }

    // ------------------------------------------------------------------------------------------
    // Bit instructions.

    private static void BitTest(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(25)) b.Producer();   // ZF must survive from any lazy state
        string m = g.Pick("Bt", "Bts", "Btr", "Btc");
        int size = g.Pick(2, 4, 8), bits = size * 8;
        string s = Bits(size);
        int form = g.Next(4);   // 0 reg,reg 1 reg,imm 2 mem,reg 3 mem,imm
        Instruction ins;
        switch (form)
        {
            case 0:
                {
                    int d = b.Take(), o = b.Take();
                    b.Set(d, size, g.Value(size));
                    b.Set(o, size, g.Chance(50) ? (ulong)g.Next(bits) : g.Value(size));
                    ins = Instruction.Create(C($"{m}_rm{s}_r{s}"), Reg(d, size), Reg(o, size));
                    break;
                }
            case 1:
                {
                    int d = b.Take();
                    b.Set(d, size, g.Value(size));
                    ins = Instruction.Create(C($"{m}_rm{s}_imm8"), Reg(d, size), g.Chance(60) ? g.Next(bits) : g.Next(256));
                    break;
                }
            case 2:
                {
                    // Register bit offsets are signed and may address far outside the operand.
                    long offset = size == 2 ? (short)g.Value(2)
                        : g.Chance(30) ? g.Pick(-1L, 0, bits - 1, bits, -bits, -bits - 1, 0xF00 * 8 - 1, -0xF00 * 8)
                        : g.Next(-0xF00 * 8, 0xF00 * 8);
                    const int baseOff = 0x1000;
                    var mem = b.Mem(size, false, baseOff, fill: false);
                    int access = baseOff + (int)((offset >> (size == 2 ? 4 : size == 4 ? 5 : 6)) * size);
                    b.FillData(access - 8, size + 16);
                    b.FillData(baseOff - 8, size + 16);
                    int o = b.Take();
                    b.Set(o, size, (ulong)offset);
                    ins = Instruction.Create(C($"{m}_rm{s}_r{s}"), mem, Reg(o, size));
                    break;
                }
            default:
                {
                    var mem = b.Mem(size);
                    ins = Instruction.Create(C($"{m}_rm{s}_imm8"), mem, g.Chance(60) ? g.Next(bits) : g.Next(256));
                    break;
                }
        }
        if (form >= 2 && m != "Bt" && g.Chance(15)) ins.HasLockPrefix = true;
        // SDM: CF = the bit; ZF unaffected; OF, SF, AF, PF undefined.
        b.Emit(ins, new FlagEffect(CF | OF | SF | AF | PF, OF | SF | AF | PF));
        // A consumer of the (defined) flags reads the lazy state this kind of instruction leaves.
        if (b.G.Chance(30)) EmitConsumer(b);
    }

    private static void BitScan(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(20)) b.Producer();
        // On a host without BMI1/ABM, tzcnt/lzcnt execute as bsf/bsr: compare only what the host has.
        string m = HostHasTzcntLzcnt.Value ? g.Pick("Bsf", "Bsr", "Tzcnt", "Lzcnt", "Popcnt") : g.Pick("Bsf", "Bsr", "Popcnt");
        int size = g.Pick(2, 4, 8);
        string s = Bits(size);
        ulong v = g.Chance(15) ? 0 : g.Value(size);
        int d = b.Take();
        Instruction ins;
        if (g.Chance(30))
        {
            int off = b.PickOffset(size);
            var mem = b.Mem(size, false, off);
            b.WriteData(off, size, v);
            ins = Instruction.Create(C($"{m}_r{s}_rm{s}"), Reg(d, size), mem);
        }
        else
        {
            int src = g.Chance(8) ? d : b.Take();
            b.Set(src, size, v);
            ins = Instruction.Create(C($"{m}_r{s}_rm{s}"), Reg(d, size), Reg(src, size));
        }
        FlagEffect fx;
        switch (m)
        {
            case "Bsf":
            case "Bsr":
                fx = new FlagEffect(Status, Status & ~ZF);
                if (v == 0)
                {
                    b.IgnoreGpr |= 1 << d;
                    b.Note = "bsf/bsr of zero: destination undefined";
                }
                break;
            case "Popcnt": fx = FlagEffect.All; break;
            default: fx = new FlagEffect(Status, OF | SF | AF | PF); break;
        }
        b.Emit(ins, fx);
        // A consumer of the (defined) flags reads the lazy state this kind of instruction leaves.
        if (b.G.Chance(30)) EmitConsumer(b);
    }

    // ------------------------------------------------------------------------------------------
    // Multiply and divide.

    private static void Multiply(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(15)) b.Producer();
        int form = g.Next(4);   // 0 mul, 1 imul r/m, 2 imul r, r/m, 3 imul r, r/m, imm
        int size = form < 2 ? g.Pick(1, 2, 4, 8) : g.Pick(2, 4, 8);
        string s = Bits(size);
        Instruction ins;
        if (form < 2)
        {
            string m = form == 0 ? "Mul" : "Imul";
            b.Reserve(0, 2);
            b.Set(0, size, g.Value(size));
            if (g.Chance(30))
            {
                int off = b.PickOffset(size);
                var mem = b.Mem(size, false, off);
                b.WriteData(off, size, g.Value(size));
                ins = Instruction.Create(C($"{m}_rm{s}"), mem);
            }
            else
            {
                bool legacy = size == 1 && b.HasFreeLegacy() && g.Chance(40);
                int r = g.Chance(8) ? (legacy && g.Chance(50) ? 16 : 0) : b.TakeSized(size, legacy);
                if (r != 0) b.Set(r, size, g.Value(size));
                ins = Instruction.Create(C($"{m}_rm{s}"), Reg(r, size));
            }
        }
        else
        {
            int d = b.Take();
            b.Set(d, size, g.Value(size));
            bool three = form == 3;
            bool imm8 = three && g.Chance(50);
            string code = three ? $"Imul_r{s}_rm{s}_imm{(imm8 ? 8 : Math.Min(size, 4) * 8)}" : $"Imul_r{s}_rm{s}";
            int imm = Imm(g, imm8 ? 1 : Math.Min(size, 4));
            if (g.Chance(30))
            {
                int off = b.PickOffset(size);
                var mem = b.Mem(size, false, off);
                b.WriteData(off, size, g.Value(size));
                ins = three ? Instruction.Create(C(code), Reg(d, size), mem, imm) : Instruction.Create(C(code), Reg(d, size), mem);
            }
            else
            {
                int src = g.Chance(8) ? d : b.Take();
                if (src != d) b.Set(src, size, g.Value(size));
                ins = three ? Instruction.Create(C(code), Reg(d, size), Reg(src, size), imm)
                    : Instruction.Create(C(code), Reg(d, size), Reg(src, size));
            }
        }
        b.Emit(ins, FlagEffect.Mul);
        // A consumer of the (defined) flags reads the lazy state this kind of instruction leaves.
        if (b.G.Chance(30)) EmitConsumer(b);
    }

    private static void Divide(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(15)) b.Producer(allowLogic: true);
        string m = g.Pick("Div", "Idiv");
        int size = g.Pick(1, 2, 4, 8);
        string s = Bits(size);
        ulong mask = Gen.Mask(size), sign = Gen.Sign(size);
        b.Reserve(0, 2);
        ulong divisor = g.Next(10) switch
        {
            0 => 0,
            1 => 1,
            2 => mask,          // -1
            3 => sign,
            4 => 2,
            _ => g.Value(size),
        };
        // Dividend: half the time chosen to fit (no overflow), else edge values including overflows.
        ulong lo = g.Value(size), hi;
        int kind = g.Next(6);
        if (kind <= 2 && divisor != 0)
        {
            if (m == "Div") hi = g.U64() % divisor;
            else hi = (lo & sign) != 0 ? mask : 0;   // sign extension of lo: overflows only for INT_MIN / -1
        }
        else if (kind == 3) { lo = sign; hi = mask; }   // INT_MIN (as a double-width value)
        else hi = g.Value(size);
        hi &= mask;
        Instruction ins;
        if (size == 1)
        {
            b.Set(0, 2, (hi << 8) | lo);
        }
        else
        {
            b.Set(0, size, lo);
            b.Set(2, size, hi);
        }
        if (g.Chance(30))
        {
            int off = b.PickOffset(size);
            var mem = b.Mem(size, false, off);
            b.WriteData(off, size, divisor);
            ins = Instruction.Create(C($"{m}_rm{s}"), mem);
        }
        else if (size == 1 && b.HasFreeLegacy() && g.Chance(10))
        {
            ins = Instruction.Create(C($"{m}_rm8"), Register.AH);   // divisor inside the dividend
        }
        else
        {
            bool legacy = size == 1 && b.HasFreeLegacy() && g.Chance(40);
            int r = b.TakeSized(size, legacy);
            b.Set(r, size, divisor);
            ins = Instruction.Create(C($"{m}_rm{s}"), Reg(r, size));
        }
        b.Emit(ins, FlagEffect.AllUndefined);
    }
}
