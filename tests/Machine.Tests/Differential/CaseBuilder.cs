using System.Collections.Concurrent;
using Iced.Intel;
using static Lab.Machine.Tests.Differential.DiffLayout;

namespace Lab.Machine.Tests.Differential;

using Register = Iced.Intel.Register;

/// <summary>Deterministic value source for the generators: edge values plus random ones.</summary>
internal sealed class Gen(int seed)
{
    public readonly Random R = new(seed);

    public int Next(int n) => R.Next(n);
    public int Next(int lo, int hi) => R.Next(lo, hi);
    public bool Chance(int percent) => R.Next(100) < percent;
    public ulong U64() => (ulong)R.NextInt64() ^ ((ulong)R.Next(2) << 63);
    public T Pick<T>(params T[] a) => a[R.Next(a.Length)];

    public static ulong Mask(int size) => size >= 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;
    public static ulong Sign(int size) => 1UL << (size * 8 - 1);

    /// <summary>An edge value of the operand size: 0, ±1, ±2, sign boundaries, patterns, single bits.</summary>
    public ulong Edge(int size)
    {
        ulong m = Mask(size), s = Sign(size);
        ulong v = Next(16) switch
        {
            0 => 0,
            1 => 1,
            2 => 2,
            3 => m,               // -1
            4 => m - 1,           // -2
            5 => s,               // INT_MIN
            6 => s - 1,           // INT_MAX
            7 => s + 1,
            8 => 0x5555_5555_5555_5555,
            9 => 0xAAAA_AAAA_AAAA_AAAA,
            10 => 1UL << Next(size * 8),
            11 => (1UL << Next(size * 8)) - 1,
            12 => ~(1UL << Next(size * 8)),
            13 => 0x7F,
            14 => 0x80,
            _ => 0xFF,
        };
        return v & m;
    }

    /// <summary>Half edge values, half random ones.</summary>
    public ulong Value(int size) => Chance(50) ? Edge(size) : U64() & Mask(size);

    /// <summary>A count for shifts: the interesting ones (0, 1, width ± 1, 31/32/63/64) and random ones.</summary>
    public int Count(int size)
    {
        int bits = size * 8;
        return Next(14) switch
        {
            0 => 0,
            1 => 1,
            2 => 2,
            3 => bits - 1,
            4 => bits,
            5 => bits + 1,
            6 => 31,
            7 => 32,
            8 => 33,
            9 => 63,
            10 => 64,
            11 => 65,
            12 => Next(256),
            _ => Next(bits + 1),
        };
    }
}

/// <summary>
/// Builds one <see cref="DiffCase"/>: random initial registers, flags and XMM; operand registers and
/// memory operands placed in the data area; instructions encoded with Iced; the undefined flags of
/// the emitted instructions accumulated into the comparison mask.
/// </summary>
internal sealed class CaseBuilder
{
    private static readonly ConcurrentDictionary<string, Code> Codes = new();

    /// <summary>An Iced <see cref="Code"/> by name, e.g. <c>C("Add_rm32_r32")</c>.</summary>
    public static Code C(string name) => Codes.GetOrAdd(name, n => Enum.Parse<Code>(n));

    private readonly Gen _g;
    public readonly ulong[] Gpr = new ulong[16];
    public ulong Flags;
    public readonly byte[] Xmm = new byte[256];
    private readonly byte[] _data = new byte[DataSize];
    private int _dataLo = int.MaxValue, _dataHi;
    private readonly List<Instruction> _code = [];
    private ulong _undefined;
    private int _reserved = 1 << 4;   // rsp is the stack pointer; it points into the data area
    public int IgnoreGpr;
    public string? Note;

    public CaseBuilder(Gen g)
    {
        _g = g;
        for (int i = 0; i < 16; i++) Gpr[i] = g.U64();
        Gpr[4] = DataAddr + 0x1000 + (ulong)g.Next(0x20) * 8;
        Flags = (g.U64() & Status) | 2;
        if (g.Chance(10)) Flags |= DF;
        g.R.NextBytes(Xmm);
    }

    public Gen G => _g;

    // ------------------------------------------------------------------------------------------
    // Registers.

    /// <summary>The Iced register for our index (0..15, or 16..19 = AH..BH for size 1) and size.</summary>
    public static Register Reg(int idx, int size) => size switch
    {
        8 => Register.RAX + idx,
        4 => Register.EAX + idx,
        2 => Register.AX + idx,
        _ => idx >= 16 ? Register.AH + (idx - 16) : idx < 4 ? Register.AL + idx : idx < 8 ? Register.SPL + (idx - 4) : Register.R8L + (idx - 8),
    };

    public static Register XmmReg(int i) => Register.XMM0 + i;

    /// <summary>Reserves and returns a free GPR (never rsp). Legacy: only rax..rdi (no REX needed).</summary>
    public int Take(bool legacy = false)
    {
        int n = legacy ? 8 : 16;
        for (int tries = 0; tries < 100; tries++)
        {
            int r = _g.Next(n);
            if ((_reserved & (1 << r)) == 0) { _reserved |= 1 << r; return r; }
        }
        throw new InvalidOperationException("no free register");
    }

    /// <summary>Reserves a specific register (implicit operands such as rax, rcx, rdx).</summary>
    public void Reserve(params int[] regs)
    {
        foreach (int r in regs) _reserved |= 1 << r;
    }

    /// <summary>A register for an 8-bit operand: with <paramref name="legacy"/> one of al..bl, ah..bh (index 16..19).</summary>
    public int Take8(bool legacy)
    {
        if (!legacy) return Take();
        for (int tries = 0; tries < 100; tries++)
        {
            int r = _g.Next(8);
            int full = r & 3;
            if ((_reserved & (1 << full)) == 0) { _reserved |= 1 << full; return r < 4 ? r : 16 + full; }
        }
        throw new InvalidOperationException("no free legacy byte register");
    }

    /// <summary>True if at least two of rax..rbx are still free: enough for two AH..BH/AL..BL operands.</summary>
    public bool HasFreeLegacy() => System.Numerics.BitOperations.PopCount((uint)~_reserved & 0xF) >= 2;

    /// <summary>Takes a register for an operand of the given size (8-bit may be AH..BH when legacy).</summary>
    public int TakeSized(int size, bool legacy) => size == 1 ? Take8(legacy) : Take(legacy);

    /// <summary>Sets the low <paramref name="size"/> bytes of a register operand; other bits keep their random value.</summary>
    public void Set(int idx, int size, ulong v)
    {
        if (idx >= 16)
        {
            int r = idx - 16;
            Gpr[r] = (Gpr[r] & ~0xFF00UL) | ((v & 0xFF) << 8);
            return;
        }
        ulong m = Gen.Mask(size);
        Gpr[idx] = (Gpr[idx] & ~m) | (v & m);
    }

    /// <summary>The current value of a register operand (low <paramref name="size"/> bytes, or AH..BH).</summary>
    public ulong Get(int idx, int size) =>
        idx >= 16 ? (Gpr[idx - 16] >> 8) & 0xFF : Gpr[idx] & Gen.Mask(size);

    /// <summary>Gives XMM register i a value: random, or lanes of edge values of a random lane size.</summary>
    public void RandomXmm(int i)
    {
        if (_g.Chance(30)) { SetXmm(i, _g.U64(), _g.U64()); return; }
        int es = _g.Pick(1, 2, 4, 8);
        Span<byte> v = stackalloc byte[16];
        for (int k = 0; k < 16; k += es)
        {
            ulong e = _g.Chance(70) ? _g.Edge(es) : _g.U64();
            for (int j = 0; j < es; j++) v[k + j] = (byte)(e >> (8 * j));
        }
        v.CopyTo(Xmm.AsSpan(i * 16));
    }

    public void SetXmm(int i, ulong lo, ulong hi)
    {
        BitConverter.TryWriteBytes(Xmm.AsSpan(i * 16), lo);
        BitConverter.TryWriteBytes(Xmm.AsSpan(i * 16 + 8), hi);
    }

    // ------------------------------------------------------------------------------------------
    // Data area.

    public void MarkData(int off, int len)
    {
        off = Math.Max(off, 0);
        int end = Math.Min(off + len, DataSize);
        if (end <= off) return;
        _dataLo = Math.Min(_dataLo, off);
        _dataHi = Math.Max(_dataHi, end);
    }

    /// <summary>Fills [off, off+len) of the data area (clamped) with random bytes.</summary>
    public void FillData(int off, int len)
    {
        int start = Math.Max(off, 0), end = Math.Min(off + len, DataSize);
        if (end <= start) return;
        _g.R.NextBytes(_data.AsSpan(start, end - start));
        MarkData(start, end - start);
    }

    public void WriteData(int off, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_data.AsSpan(off));
        MarkData(off, bytes.Length);
    }

    public void WriteData(int off, int size, ulong v)
    {
        for (int i = 0; i < size; i++) _data[off + i] = (byte)(v >> (8 * i));
        MarkData(off, size);
    }

    public byte[] DataBytes => _data;

    /// <summary>An operand offset in the data area; sometimes straddling the page boundary at 0x1000.</summary>
    public int PickOffset(int size)
    {
        if (size > 1 && _g.Chance(15)) return 0x1000 - _g.Next(1, size);
        int off = 0x100 + _g.Next(0x1C00);
        if (_g.Chance(50)) off &= ~(Math.Min(size, 16) - 1);
        return off;
    }

    /// <summary>
    /// A memory operand addressing data offset <paramref name="off"/> (random when null), in one of
    /// the addressing forms (base, base+disp8/32, base+index*scale+disp, index*scale+disp32,
    /// absolute disp32, RIP-relative, 32-bit address size), with fresh registers set to reach it.
    /// The bytes around the operand get random values.
    /// </summary>
    public MemoryOperand Mem(int size, bool legacy = false, int? off = null, bool fill = true)
    {
        int o = off ?? PickOffset(size);
        if (fill) FillData(o - 8, size + 16);
        ulong target = DataAddr + (ulong)o;
        if (_g.Chance(6))
        {
            // gs: override; the GS base is the data area, so registers hold the offset.
            if (_g.Chance(30)) return new MemoryOperand(Register.None, o, 4, false, Register.GS);
            int gb = Take(legacy);
            long gd = _g.Next(-128, 128);
            Gpr[gb] = (ulong)(o - gd);
            return new MemoryOperand(Reg(gb, 8), gd, Disp(gd), false, Register.GS);
        }
        int mode = _g.Next(10);
        if (legacy && mode == 8) mode = 3;
        switch (mode)
        {
            case 0:
                {
                    if (_g.Chance(30))
                    {
                        // rsp as base: exercises the SIB encoding without moving the stack pointer.
                        long d = (long)(target - Gpr[4]);
                        return new MemoryOperand(Register.RSP, d, d == 0 ? 0 : Disp(d));
                    }
                    int b = Take(legacy);
                    Gpr[b] = target;
                    return new MemoryOperand(Reg(b, 8));
                }
            case 1:
            case 2:
                {
                    int b = Take(legacy);
                    long d = mode == 1 ? _g.Next(-128, 128) : _g.Next(-0x100000, 0x100000);
                    Gpr[b] = target - (ulong)d;
                    return new MemoryOperand(Reg(b, 8), d, Disp(d));
                }
            case 3:
            case 8:
                {
                    int b = Take(legacy), x = Take(legacy);
                    int scale = _g.Pick(1, 2, 4, 8);
                    long xi = _g.Next(-64, 64);
                    long d = _g.Pick(0, _g.Next(-128, 128), _g.Next(-0x10000, 0x10000));
                    Gpr[x] = (ulong)xi;
                    Gpr[b] = target - (ulong)d - (ulong)(xi * scale);
                    return new MemoryOperand(Reg(b, 8), Reg(x, 8), scale, d, d == 0 ? 0 : Disp(d));
                }
            case 4:
                {
                    int x = Take(legacy);
                    int scale = _g.Pick(1, 2, 4, 8);
                    long xi = _g.Next(0, 0x1000);
                    long d = (long)target - xi * scale;
                    Gpr[x] = (ulong)xi;
                    return new MemoryOperand(Register.None, Reg(x, 8), scale, d, 4);
                }
            case 5:
                return new MemoryOperand(Register.None, (long)target, 4);
            case 6:
                return new MemoryOperand(Register.RIP, (long)target);
            default:
                {
                    // 32-bit address size (0x67): only the low halves of the registers count.
                    int b = Take(legacy), x = Take(legacy);
                    int scale = _g.Pick(1, 2, 4, 8);
                    uint xi = (uint)_g.Next(-64, 64);
                    long d = _g.Next(-128, 128);
                    Gpr[x] = (Gpr[x] & ~0xFFFF_FFFFUL) | xi;
                    uint bv = (uint)(target - (ulong)d - (ulong)xi * (ulong)scale);
                    Gpr[b] = (Gpr[b] & ~0xFFFF_FFFFUL) | bv;
                    return new MemoryOperand(Reg(b, 4), Reg(x, 4), scale, d, d == 0 ? 0 : 1);
                }
        }
    }

    // Iced: 1 lets the encoder pick disp8 or disp32; 0 means no displacement at all.
    private static int Disp(long d) => d == 0 ? 0 : 1;

    // ------------------------------------------------------------------------------------------
    // Code.

    public void Emit(in Instruction ins, FlagEffect fx)
    {
        _code.Add(ins);
        _undefined = (_undefined & ~fx.Writes) | fx.Undefined;
    }

    public int CodeCount => _code.Count;

    /// <summary>Status flags left undefined by the instructions emitted so far.</summary>
    public ulong Undefined => _undefined;

    /// <summary>Address the next emitted instruction will have.</summary>
    public ulong NextIp()
    {
        ulong ip = CodeAddr;
        foreach (var ins in _code) ip += (ulong)Length(ins, ip);
        return ip;
    }

    /// <summary>Encoded length of an instruction placed at <paramref name="ip"/>.</summary>
    public static int Length(Instruction ins, ulong ip = CodeAddr)
    {
        var encoder = Encoder.Create(64, new CodeBytes());
        return (int)encoder.Encode(in ins, ip);
    }

    /// <summary>
    /// Emits a random flag producer whose status flags are all defined (except AF for logic ops) on
    /// two fresh registers: it leaves the lazy-flag state in a particular kind for what follows.
    /// </summary>
    public void Producer(bool allowLogic = true)
    {
        int size = _g.Pick(1, 2, 4, 8);
        int a = Take(), b = Take();
        Set(a, size, _g.Value(size));
        Set(b, size, _g.Chance(25) ? Gpr[a] : _g.Value(size));
        string s = (size * 8).ToString();
        int kind = _g.Next(allowLogic ? 12 : 8);
        switch (kind)
        {
            case 0: Emit(Instruction.Create(C($"Add_rm{s}_r{s}"), Reg(a, size), Reg(b, size)), FlagEffect.All); break;
            case 1: Emit(Instruction.Create(C($"Sub_rm{s}_r{s}"), Reg(a, size), Reg(b, size)), FlagEffect.All); break;
            case 2: case 3: Emit(Instruction.Create(C($"Cmp_rm{s}_r{s}"), Reg(a, size), Reg(b, size)), FlagEffect.All); break;
            case 4: Emit(Instruction.Create(C($"Adc_rm{s}_r{s}"), Reg(a, size), Reg(b, size)), FlagEffect.All); break;
            case 5: Emit(Instruction.Create(C($"Sbb_rm{s}_r{s}"), Reg(a, size), Reg(b, size)), FlagEffect.All); break;
            case 6: Emit(Instruction.Create(C($"Neg_rm{s}"), Reg(a, size)), FlagEffect.All); break;
            case 7: Emit(Instruction.Create(C(_g.Chance(50) ? $"Inc_rm{s}" : $"Dec_rm{s}"), Reg(a, size)), FlagEffect.IncDec); break;
            case 8: case 9: Emit(Instruction.Create(C($"Test_rm{s}_r{s}"), Reg(a, size), Reg(b, size)), FlagEffect.Logic); break;
            case 10: Emit(Instruction.Create(C($"And_rm{s}_r{s}"), Reg(a, size), Reg(b, size)), FlagEffect.Logic); break;
            default: Emit(Instruction.Create(C($"Xor_rm{s}_r{s}"), Reg(a, size), Reg(b, size)), FlagEffect.Logic); break;
        }
    }

    public DiffCase Build(string family)
    {
        var writer = new CodeBytes();
        var encoder = Encoder.Create(64, writer);
        ulong ip = CodeAddr;
        foreach (var ins in _code)
        {
            var copy = ins;
            ip += (ulong)encoder.Encode(in copy, ip);
        }
        var int3 = Instruction.Create(Code.Int3);
        encoder.Encode(in int3, ip);
        int lo = _dataHi > 0 ? _dataLo : 0, hi = _dataHi;
        return new DiffCase
        {
            Family = family,
            Code = writer.ToArray(),
            Gpr = (ulong[])Gpr.Clone(),
            RFlags = Flags,
            Xmm = (byte[])Xmm.Clone(),
            DataOffset = lo,
            Data = _data.AsSpan(lo, hi - lo).ToArray(),
            FlagMask = Status & ~_undefined,
            IgnoreGpr = IgnoreGpr,
            Note = Note,
        };
    }

    private sealed class CodeBytes : CodeWriter
    {
        private readonly List<byte> _bytes = [];
        public override void WriteByte(byte value) => _bytes.Add(value);
        public byte[] ToArray() => [.. _bytes];
    }
}
