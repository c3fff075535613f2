using Iced.Intel;
using Lab.Machine.Tests.Differential;
using static Lab.Machine.Tests.Differential.CaseBuilder;

namespace Lab.Machine.Tests.Jit;

using Register = Iced.Intel.Register;

/// <summary>
/// Random straight-line x86-64 of the kinds gcc -O2 emits (the JIT's subset, plus a few ops it leaves
/// to the interpreter), for differential runs of the two tiers. Registers: rbx points into the data
/// area and rcx counts loop iterations (neither is touched by the random ops), rsp is the stack;
/// the other 13 registers are free. Memory operands are [rbx + disp] (and [rbx + idx*scale + disp]
/// for lea), inside the data area.
/// </summary>
internal sealed class RandomBlocks(int seed)
{
    private readonly Random _g = new(seed);
    private int _pushed;
    /// <summary>Instructions of a multi-instruction idiom (a division's setup) still to hand out.</summary>
    private readonly Queue<Instruction> _pending = new();

    private static readonly int[] Free = [0, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    private static readonly string[] Alu = ["Add", "Or", "Adc", "Sbb", "And", "Sub", "Xor", "Cmp", "Test"];
    private static readonly string[] Cc = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];

    public Random G => _g;

    /// <summary>Pops what the ops so far pushed and did not pop (so a function's ret finds its return address).</summary>
    public IEnumerable<Instruction> PopAll()
    {
        for (; _pushed > 0; _pushed--) yield return Instruction.Create(C("Pop_r64"), R(8));
    }

    private int Size() => _g.Next(4) switch { 0 => 1, 1 => 2, 2 => 4, _ => 8 };
    private static string Bits(int size) => (size * 8).ToString();
    private int FreeReg() => Free[_g.Next(Free.Length)];
    private Register R(int size) => Reg(FreeReg(), size);
    private MemoryOperand Mem() => new(Register.RBX, _g.Next(-0x800, 0x7F8));

    /// <summary>An immediate that fits the encoding's immediate field of <paramref name="bits"/> bits (sign-extended).</summary>
    private int Imm(int bits)
    {
        long v = _g.Next(5) switch { 0 => 0, 1 => 1, 2 => -1, 3 => _g.Next(-300, 300), _ => _g.NextInt64() };
        return bits switch { 8 => (sbyte)v, 16 => (short)v, _ => (int)v };
    }

    private static Instruction I(string code, Register a, Register b) => Instruction.Create(C(code), a, b);

    /// <summary>One random instruction, or the few of one idiom (a division and its setup), to be emitted together.</summary>
    public IEnumerable<Instruction> NextGroup(bool unsupported = true)
    {
        yield return Next(unsupported);
        while (_pending.Count > 0) yield return _pending.Dequeue();
    }

    /// <summary>One random instruction (the first of an idiom's: see <see cref="NextGroup"/>); <paramref name="unsupported"/> allows ops the JIT leaves to the interpreter.</summary>
    private Instruction Next(bool unsupported = true)
    {
        int size = Size();
        string s = Bits(size);
        int pick = _g.Next(unsupported ? 102 : 100);
        switch (pick)
        {
            case < 12:
                {
                    string m = Alu[_g.Next(Alu.Length)];
                    return I($"{m}_rm{s}_r{s}", R(size), R(size));
                }
            case < 20:
                {
                    string m = Alu[_g.Next(Alu.Length)];
                    if (size == 1 || m == "Test" || _g.Next(2) == 0)
                        return Instruction.Create(C($"{m}_rm{s}_imm{(size == 8 ? "32" : s)}"), R(size), Imm(size == 8 ? 32 : size * 8));
                    return Instruction.Create(C($"{m}_rm{s}_imm8"), R(size), Imm(8));
                }
            case < 26:
                {
                    string m = Alu[_g.Next(Alu.Length - 1)];
                    return Instruction.Create(C($"{m}_r{s}_rm{s}"), R(size), Mem());
                }
            case < 30:
                {
                    string m = Alu[_g.Next(Alu.Length)];
                    return Instruction.Create(C($"{m}_rm{s}_r{s}"), Mem(), R(size));
                }
            case < 33:
                {
                    string m = Alu[_g.Next(Alu.Length)];
                    return Instruction.Create(C($"{m}_rm{s}_imm{(size == 8 ? "32" : s)}"), Mem(), Imm(size == 8 ? 32 : size * 8));
                }
            case < 38: return I($"Mov_rm{s}_r{s}", R(size), R(size));
            case < 41:
                return size == 8 ? Instruction.Create(C("Mov_r64_imm64"), R(8), (ulong)_g.NextInt64())
                    : Instruction.Create(C($"Mov_r{s}_imm{s}"), R(size), Imm(size * 8));
            case < 46: return Instruction.Create(C($"Mov_r{s}_rm{s}"), R(size), Mem());
            case < 50: return Instruction.Create(C($"Mov_rm{s}_r{s}"), Mem(), R(size));
            case < 52: return Instruction.Create(C($"Mov_rm{s}_imm{(size == 8 ? "32" : s)}"), Mem(), Imm(size == 8 ? 32 : size * 8));
            case < 56: return Extend();
            case < 59:
                {
                    int dst = _g.Next(3) == 0 ? 4 : 8;
                    var mem = new MemoryOperand(Register.RBX, Reg(FreeReg(), 8), 1 << _g.Next(4), _g.Next(-100, 100), 1);
                    return Instruction.Create(C($"Lea_r{Bits(dst)}_m"), R(dst), mem);
                }
            case < 64:
                {
                    string m = new[] { "Inc", "Dec", "Neg", "Not" }[_g.Next(4)];
                    return _g.Next(4) == 0 ? Instruction.Create(C($"{m}_rm{s}"), Mem()) : Instruction.Create(C($"{m}_rm{s}"), R(size));
                }
            case < 70:
                {
                    string m = new[] { "Shl", "Shr", "Sar", "Sal", "Rol", "Ror" }[_g.Next(6)];
                    // By CL: the loop count (1 to 5 in loops; 0 in straight programs, which changes no flag).
                    if (_g.Next(4) == 0)
                        return _g.Next(5) == 0 ? Instruction.Create(C($"{m}_rm{s}_CL"), Mem(), Register.CL)
                            : Instruction.Create(C($"{m}_rm{s}_CL"), R(size), Register.CL);
                    int count = _g.Next(3) == 0 ? _g.Next(256) : _g.Next(1, size * 8);
                    return _g.Next(5) == 0 ? Instruction.Create(C($"{m}_rm{s}_imm8"), Mem(), count)
                        : Instruction.Create(C($"{m}_rm{s}_imm8"), R(size), count);
                }
            case < 75:
                {
                    int sz = size == 1 ? 4 : size;
                    string b = Bits(sz);
                    return _g.Next(4) switch
                    {
                        0 => Instruction.Create(C($"Imul_r{b}_rm{b}"), R(sz), Mem()),
                        1 => Instruction.Create(C($"Imul_r{b}_rm{b}_imm8"), R(sz), R(sz), Imm(8)),
                        2 => Instruction.Create(C($"Imul_r{b}_rm{b}_imm{(sz == 8 ? "32" : b)}"), R(sz), R(sz), Imm(sz == 2 ? 16 : 32)),
                        _ => I($"Imul_r{b}_rm{b}", R(sz), R(sz)),
                    };
                }
            case < 79:
                {
                    string cc = Cc[_g.Next(16)];
                    return _g.Next(4) == 0 ? Instruction.Create(C($"Set{cc}_rm8"), Mem()) : Instruction.Create(C($"Set{cc}_rm8"), R(1));
                }
            case < 84:
                {
                    string cc = Cc[_g.Next(16)];
                    int sz = size == 1 ? 4 : size;
                    string b = Bits(sz);
                    return _g.Next(4) == 0 ? Instruction.Create(C($"Cmov{cc}_r{b}_rm{b}"), R(sz), Mem()) : I($"Cmov{cc}_r{b}_rm{b}", R(sz), R(sz));
                }
            case < 87: return Misc();
            case < 91: return Stack();
            case < 94: return HighByte();
            case < 97: return I($"Xchg_rm{s}_r{s}", R(size), R(size));
            case < 100: return MulDiv(size);
            default:
                return _g.Next(2) switch
                {
                    0 => I("Bt_rm32_r32", R(4), R(4)),
                    _ => Instruction.Create(C("Rcl_rm32_imm8"), R(4), _g.Next(32)),
                };
        }
    }

    /// <summary>
    /// One-operand mul/imul (any size, register or memory), or div/idiv as C compiles them, set up so they
    /// never raise #DE (the random programs end at a planned trap; JitDivisionTests covers #DE and
    /// the wide dividends): the dividend extended into rdx (or ah) by xor/movzx or cqo/cdq/cwd/cbw, and
    /// a register divisor with bit 0 set and bit 1 clear, so neither 0 nor -1.
    /// </summary>
    private Instruction MulDiv(int size)
    {
        string s = Bits(size);
        int kind = _g.Next(4);
        string m = new[] { "Mul", "Imul", "Div", "Idiv" }[kind];
        if (kind < 2)
            return _g.Next(4) == 0 ? Instruction.Create(C($"{m}_rm{s}"), Mem()) : Instruction.Create(C($"{m}_rm{s}"), R(size));
        Register d = Reg(new[] { 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }[_g.Next(11)], size);
        _pending.Enqueue(Instruction.Create(C($"And_rm{s}_imm8"), d, -3));
        _pending.Enqueue(Instruction.Create(C($"Or_rm{s}_imm8"), d, 1));
        bool signed = kind == 3;
        _pending.Enqueue(size switch
        {
            1 => signed ? Instruction.Create(C("Cbw")) : I("Movzx_r32_rm8", Register.EAX, Register.AL),
            2 => signed ? Instruction.Create(C("Cwd")) : I("Xor_rm32_r32", Register.EDX, Register.EDX),
            4 => signed ? Instruction.Create(C("Cdq")) : I("Xor_rm32_r32", Register.EDX, Register.EDX),
            _ => signed ? Instruction.Create(C("Cqo")) : I("Xor_rm32_r32", Register.EDX, Register.EDX),
        });
        _pending.Enqueue(Instruction.Create(C($"{m}_rm{s}"), d));
        return _pending.Dequeue();
    }

    /// <summary>movzx / movsx / movsxd from a register or memory.</summary>
    private Instruction Extend()
    {
        string op = _g.Next(2) == 0 ? "Movzx" : "Movsx";
        (string code, int dst, int src) = _g.Next(6) switch
        {
            0 => ($"{op}_r16_rm8", 2, 1),
            1 => ($"{op}_r32_rm8", 4, 1),
            2 => ($"{op}_r64_rm8", 8, 1),
            3 => ($"{op}_r32_rm16", 4, 2),
            4 => ($"{op}_r64_rm16", 8, 2),
            _ => ("Movsxd_r64_rm32", 8, 4),
        };
        return _g.Next(3) == 0 ? Instruction.Create(C(code), R(dst), Mem()) : I(code, R(dst), R(src));
    }

    /// <summary>bswap, cbw/cwde/cdqe, cwd/cdq/cqo, nop.</summary>
    private Instruction Misc() => _g.Next(13) switch
    {
        9 or 10 or 11 or 12 => BitCount(),
        0 => Instruction.Create(C("Bswap_r32"), R(4)),
        1 => Instruction.Create(C("Bswap_r64"), R(8)),
        2 => Instruction.Create(C("Cbw")),
        3 => Instruction.Create(C("Cwde")),
        4 => Instruction.Create(C("Cdqe")),
        5 => Instruction.Create(C("Cwd")),
        6 => Instruction.Create(C("Cdq")),
        7 => Instruction.Create(C("Cqo")),
        _ => Instruction.Create(C("Nopd")),
    };

    /// <summary>bsf/bsr/tzcnt/lzcnt/popcnt of 16, 32 or 64 bits from a register (sometimes zero) or memory;
    /// or bt/bts/btr/btc on a register by a register or an immediate.</summary>
    private Instruction BitCount()
    {
        if (_g.Next(3) == 0)
        {
            string t = new[] { "Bt", "Bts", "Btr", "Btc" }[_g.Next(4)];
            string w = Bits(new[] { 2, 4, 8 }[_g.Next(3)]);
            return _g.Next(2) == 0
                ? I($"{t}_rm{w}_r{w}", R(w == "16" ? 2 : w == "32" ? 4 : 8), R(w == "16" ? 2 : w == "32" ? 4 : 8))
                : Instruction.Create(C($"{t}_rm{w}_imm8"), R(w == "16" ? 2 : w == "32" ? 4 : 8), _g.Next(256));
        }
        string m = new[] { "Bsf", "Bsr", "Tzcnt", "Lzcnt", "Popcnt" }[_g.Next(5)];
        int size = new[] { 2, 4, 8 }[_g.Next(3)];
        string s = Bits(size);
        return _g.Next(3) == 0
            ? Instruction.Create(C($"{m}_r{s}_rm{s}"), R(size), Mem())
            : I($"{m}_r{s}_rm{s}", R(size), R(size));
    }

    /// <summary>push reg/imm/mem, or pop of an earlier push.</summary>
    private Instruction Stack()
    {
        if (_pushed > 0 && _g.Next(2) == 0)
        {
            _pushed--;
            return Instruction.Create(C("Pop_r64"), R(8));
        }
        _pushed++;
        return _g.Next(3) switch
        {
            0 => Instruction.Create(C("Pushq_imm32"), Imm(32)),
            1 => Instruction.Create(C("Push_rm64"), Mem()),
            _ => Instruction.Create(C("Push_r64"), R(8)),
        };
    }

    /// <summary>An 8-bit op on AH/DH with AL/DL/AH/DH (no REX prefix allowed).</summary>
    private Instruction HighByte()
    {
        Register[] legacy = [Register.AL, Register.DL, Register.AH, Register.DH];
        Register dst = _g.Next(2) == 0 ? Register.AH : Register.DH;
        Register src = legacy[_g.Next(4)];
        if (_g.Next(2) == 0) (dst, src) = (src, dst);
        string m = _g.Next(3) == 0 ? "Mov" : Alu[_g.Next(Alu.Length)];
        return I($"{m}_rm8_r8", dst, src);
    }
}
