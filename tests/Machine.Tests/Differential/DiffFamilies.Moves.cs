using Iced.Intel;
using static Lab.Machine.Tests.Differential.CaseBuilder;
using static Lab.Machine.Tests.Differential.DiffLayout;

namespace Lab.Machine.Tests.Differential;

using Register = Iced.Intel.Register;

/// <summary>Conditions, data movement, stack, lea, string and flag instructions, instruction chains, faults.</summary>
internal static partial class DiffFamilies
{
    private static readonly string[] CcNames = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];

    // ------------------------------------------------------------------------------------------
    // setcc / cmovcc / jcc, usually right after a flag producer (the lazy-flag fast paths).

    private static void Conditions(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(70)) b.Producer();
        if (g.Chance(15)) LoopOrJrcxz(b);
        else EmitConsumer(b);
    }

    /// <summary>loop/loope/loopne/jrcxz/jecxz (rcx or, with 0x67, ecx) over a mov; rcx gets small edge counts.</summary>
    private static void LoopOrJrcxz(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(70)) b.Gpr[1] = g.Pick<ulong>(0, 1, 2, 0x1_0000_0000, 0x1_0000_0001, ulong.MaxValue, g.U64());
        string name = g.Pick("Loop_rel8_64_RCX", "Loop_rel8_64_ECX", "Loope_rel8_64_RCX", "Loopne_rel8_64_RCX",
            "Loope_rel8_64_ECX", "Loopne_rel8_64_ECX", "Jrcxz_rel8_64", "Jecxz_rel8_64");
        // loope/loopne read ZF: only after something defined it.
        if (name.StartsWith("Loope") || name.StartsWith("Loopne"))
            if ((b.Undefined & ZF) != 0) name = "Loop_rel8_64_RCX";
        int r = b.Take();
        var mov = Instruction.Create(Code.Mov_r32_imm32, Reg(r, 4), 0x1234567);
        ulong ip = b.NextIp();
        var probe = Instruction.CreateBranch(C(name), ip + 3 + (ulong)Length(mov));
        int jlen = Length(probe, ip);
        b.Emit(Instruction.CreateBranch(C(name), ip + (ulong)jlen + (ulong)Length(mov)), FlagEffect.None);
        b.Emit(mov, FlagEffect.None);
    }

    /// <summary>The status flags condition code i (o no b ae ...) reads.</summary>
    private static ulong CcReads(int i) => (i >> 1) switch
    {
        0 => OF,
        1 => CF,
        2 => ZF,
        3 => CF | ZF,
        4 => SF,
        5 => PF,
        6 => SF | OF,
        _ => ZF | SF | OF,
    };

    /// <summary>
    /// One setcc, cmovcc or jcc (over a mov) reading the current flags; only conditions on flags the
    /// preceding instructions defined (none when every flag is undefined).
    /// </summary>
    private static void EmitConsumer(CaseBuilder b)
    {
        var g = b.G;
        var usable = Enumerable.Range(0, 16).Where(i => (CcReads(i) & b.Undefined) == 0).ToArray();
        if (usable.Length == 0) return;
        string cc = CcNames[g.Pick(usable)];
        switch (g.Next(3))
        {
            case 0:
                {
                    if (g.Chance(25))
                    {
                        var mem = b.Mem(1);
                        b.Emit(Instruction.Create(C($"Set{cc}_rm8"), mem), FlagEffect.None);
                    }
                    else
                    {
                        int r = b.Take8(b.HasFreeLegacy() && g.Chance(40));
                        b.Emit(Instruction.Create(C($"Set{cc}_rm8"), Reg(r, 1)), FlagEffect.None);
                    }
                    break;
                }
            case 1:
                {
                    int size = g.Pick(2, 4, 8);
                    string s = Bits(size);
                    int d = b.Take();
                    if (g.Chance(25))
                    {
                        var mem = b.Mem(size);
                        b.Emit(Instruction.Create(C($"Cmov{cc}_r{s}_rm{s}"), Reg(d, size), mem), FlagEffect.None);
                    }
                    else
                    {
                        int src = g.Chance(8) ? d : b.Take();
                        b.Emit(Instruction.Create(C($"Cmov{cc}_r{s}_rm{s}"), Reg(d, size), Reg(src, size)), FlagEffect.None);
                    }
                    break;
                }
            default:
                {
                    int r = b.Take();
                    var mov = Instruction.Create(Code.Mov_r32_imm32, Reg(r, 4), 0x1234567);
                    ulong ip = b.NextIp();
                    var probe = Instruction.CreateBranch(C($"J{cc}_rel8_64"), ip + 2 + (ulong)Length(mov));
                    int jlen = Length(probe, ip);
                    var jcc = Instruction.CreateBranch(C($"J{cc}_rel8_64"), ip + (ulong)jlen + (ulong)Length(mov));
                    b.Emit(jcc, FlagEffect.None);
                    b.Emit(mov, FlagEffect.None);
                    break;
                }
        }
    }

    // ------------------------------------------------------------------------------------------
    // mov in every form: r,r / r,m / m,r / r,imm / m,imm / movabs / moffs, AH..BH included.

    private static void Mov(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(15)) b.Producer();   // mov must not touch flags
        int size = g.Pick(1, 2, 4, 8);
        string s = Bits(size);
        bool legacy = size == 1 && b.HasFreeLegacy() && g.Chance(40);
        Instruction ins;
        switch (g.Next(6))
        {
            case 0:
                {
                    int d = b.TakeSized(size, legacy);
                    int src = g.Chance(8) ? d : legacy && g.Chance(10) ? Sibling(d) : b.TakeSized(size, legacy);
                    if (src != d) b.Set(src, size, g.Value(size));
                    ins = Instruction.Create(C(g.Chance(50) ? $"Mov_rm{s}_r{s}" : $"Mov_r{s}_rm{s}"), Reg(d, size), Reg(src, size));
                    break;
                }
            case 1:
                {
                    int d = b.TakeSized(size, legacy);
                    ins = Instruction.Create(C($"Mov_r{s}_rm{s}"), Reg(d, size), b.Mem(size, legacy));
                    break;
                }
            case 2:
                {
                    int src = b.TakeSized(size, legacy);
                    b.Set(src, size, g.Value(size));
                    ins = Instruction.Create(C($"Mov_rm{s}_r{s}"), b.Mem(size, legacy), Reg(src, size));
                    break;
                }
            case 3:
                {
                    int d = b.TakeSized(size, legacy);
                    if (size == 8 && g.Chance(50)) ins = Instruction.Create(Code.Mov_r64_imm64, Reg(d, 8), g.Value(8));   // movabs
                    else if (g.Chance(50))
                    {
                        // B8+r: for a 64-bit destination use the 32-bit form, which zero-extends.
                        int sz = size == 8 ? 4 : size;
                        ins = Instruction.Create(C($"Mov_r{Bits(sz)}_imm{Bits(sz)}"), Reg(d, sz), Imm(g, sz));
                    }
                    else ins = Instruction.Create(C($"Mov_rm{s}_imm{Math.Min(size, 4) * 8}"), Reg(d, size), Imm(g, Math.Min(size, 4)));
                    break;
                }
            case 4:
                ins = Instruction.Create(C($"Mov_rm{s}_imm{Math.Min(size, 4) * 8}"), b.Mem(size), Imm(g, Math.Min(size, 4)));
                break;
            default:
                {
                    // moffs: a 64-bit absolute address (A0..A3).
                    b.Reserve(0);
                    int off = b.PickOffset(size);
                    b.FillData(off - 8, size + 16);
                    b.Set(0, size, g.Value(size));
                    var mem = new MemoryOperand(Register.None, (long)(DataAddr + (ulong)off), 8);
                    string acc = size switch { 1 => "AL", 2 => "AX", 4 => "EAX", _ => "RAX" };
                    ins = g.Chance(50) ? Instruction.Create(C($"Mov_{acc}_moffs{s}"), Reg(0, size), mem)
                        : Instruction.Create(C($"Mov_moffs{s}_{acc}"), mem, Reg(0, size));
                    break;
                }
        }
        b.Emit(ins, FlagEffect.None);
    }

    // ------------------------------------------------------------------------------------------
    // movzx / movsx / movsxd, cbw..cqo.

    private static void Extend(CaseBuilder b)
    {
        var g = b.G;
        int kind = g.Next(5);
        if (kind == 4)
        {
            b.Reserve(0, 2);
            int which = g.Next(6);
            int half = which switch { 0 => 1, 1 => 2, 2 => 4, 3 => 2, 4 => 4, _ => 8 };
            b.Set(0, half, g.Value(half));
            string name = which switch { 0 => "Cbw", 1 => "Cwde", 2 => "Cdqe", 3 => "Cwd", 4 => "Cdq", _ => "Cqo" };
            b.Emit(Instruction.Create(C(name)), FlagEffect.None);
            return;
        }
        Instruction ins;
        if (kind == 3)
        {
            // movsxd r64, r/m32 (and the odd r32/r16 forms, which act like mov).
            var (ds, ss) = g.Pick((8, 4), (8, 4), (4, 4), (2, 2));
            string code = $"Movsxd_r{Bits(ds)}_rm{Bits(ss)}";
            int d = b.Take();
            if (g.Chance(30))
            {
                int off = b.PickOffset(ss);
                var mem = b.Mem(ss, false, off);
                b.WriteData(off, ss, g.Value(ss));
                ins = Instruction.Create(C(code), Reg(d, ds), mem);
            }
            else
            {
                int src = g.Chance(10) ? d : b.Take();
                if (src != d) b.Set(src, ss, g.Value(ss));
                ins = Instruction.Create(C(code), Reg(d, ds), Reg(src, ss));
            }
            b.Emit(ins, FlagEffect.None);
            return;
        }
        string m = g.Chance(50) ? "Movzx" : "Movsx";
        int srcSize = g.Pick(1, 2);
        int dstSize = srcSize == 1 ? g.Pick(2, 4, 8) : g.Pick(2, 4, 8);
        string c2 = $"{m}_r{Bits(dstSize)}_rm{Bits(srcSize)}";
        if (g.Chance(30))
        {
            int d = b.Take();
            int off = b.PickOffset(srcSize);
            var mem = b.Mem(srcSize, false, off);
            b.WriteData(off, srcSize, g.Value(srcSize));
            ins = Instruction.Create(C(c2), Reg(d, dstSize), mem);
        }
        else
        {
            // AH..BH sources only without REX: a destination of 16 or 32 bits in rax..rdi.
            bool legacy = srcSize == 1 && dstSize < 8 && b.HasFreeLegacy() && g.Chance(40);
            int d = b.Take(legacy);
            int src = g.Chance(10) ? d : b.TakeSized(srcSize, legacy);
            if (src != d) b.Set(src, srcSize, g.Value(srcSize));
            ins = Instruction.Create(C(c2), Reg(d, dstSize), Reg(src, srcSize));
        }
        b.Emit(ins, FlagEffect.None);
    }

    // ------------------------------------------------------------------------------------------
    // xchg / cmpxchg / xadd / bswap.

    private static void Exchange(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(20)) b.Producer();
        int kind = g.Next(4);
        int size = g.Pick(1, 2, 4, 8);
        string s = Bits(size);
        switch (kind)
        {
            case 0:
                {
                    Instruction ins;
                    int form = g.Next(3);
                    if (form == 0)
                    {
                        bool legacy = size == 1 && b.HasFreeLegacy() && g.Chance(40);
                        int a = b.TakeSized(size, legacy);
                        int c = g.Chance(10) ? a : legacy && g.Chance(10) ? Sibling(a) : b.TakeSized(size, legacy);
                        b.Set(a, size, g.Value(size));
                        if (c != a) b.Set(c, size, g.Value(size));
                        ins = Instruction.Create(C($"Xchg_rm{s}_r{s}"), Reg(a, size), Reg(c, size));
                    }
                    else if (form == 1)
                    {
                        int r = b.Take();
                        b.Set(r, size, g.Value(size));
                        ins = Instruction.Create(C($"Xchg_rm{s}_r{s}"), b.Mem(size), Reg(r, size));
                        if (g.Chance(20)) ins.HasLockPrefix = true;
                    }
                    else
                    {
                        if (size == 1) size = 4;
                        s = Bits(size);
                        b.Reserve(0);
                        int r = b.Take();
                        b.Set(r, size, g.Value(size));
                        b.Set(0, size, g.Value(size));
                        string acc = size switch { 2 => "AX", 4 => "EAX", _ => "RAX" };
                        ins = Instruction.Create(C($"Xchg_r{s}_{acc}"), Reg(r, size), Reg(0, size));
                    }
                    b.Emit(ins, FlagEffect.None);
                    break;
                }
            case 1:
                {
                    b.Reserve(0);
                    int src = g.Chance(10) ? 0 : b.Take();
                    if (src != 0) b.Set(src, size, g.Value(size));
                    Instruction ins;
                    if (g.Chance(40))
                    {
                        int off = b.PickOffset(size);
                        var mem = b.Mem(size, false, off);
                        ulong v = g.Value(size);
                        b.WriteData(off, size, v);
                        b.Set(0, size, g.Chance(50) ? v : g.Value(size));
                        ins = Instruction.Create(C($"Cmpxchg_rm{s}_r{s}"), mem, Reg(src, size));
                        if (g.Chance(30)) ins.HasLockPrefix = true;
                    }
                    else
                    {
                        int d = g.Chance(10) ? 0 : b.Take();
                        ulong v = g.Value(size);
                        if (d != 0) b.Set(d, size, v);
                        b.Set(0, size, g.Chance(50) ? v : g.Value(size));
                        ins = Instruction.Create(C($"Cmpxchg_rm{s}_r{s}"), Reg(d, size), Reg(src, size));
                    }
                    b.Emit(ins, FlagEffect.All);
                    break;
                }
            case 2:
                {
                    int src = b.Take();
                    b.Set(src, size, g.Value(size));
                    Instruction ins;
                    if (g.Chance(40))
                    {
                        int off = b.PickOffset(size);
                        var mem = b.Mem(size, false, off);
                        b.WriteData(off, size, g.Value(size));
                        ins = Instruction.Create(C($"Xadd_rm{s}_r{s}"), mem, Reg(src, size));
                        if (g.Chance(30)) ins.HasLockPrefix = true;
                    }
                    else
                    {
                        int d = g.Chance(10) ? src : b.Take();
                        if (d != src) b.Set(d, size, g.Value(size));
                        ins = Instruction.Create(C($"Xadd_rm{s}_r{s}"), Reg(d, size), Reg(src, size));
                    }
                    b.Emit(ins, FlagEffect.All);
                    break;
                }
            default:
                {
                    int bsize = g.Pick(4, 8, 8, 2);
                    int r = b.Take();
                    b.Set(r, 8, g.U64());
                    if (bsize == 2)
                    {
                        b.IgnoreGpr |= 1 << r;
                        b.Note = "bswap r16: result undefined";
                    }
                    b.Emit(Instruction.Create(C($"Bswap_r{Bits(bsize)}"), Reg(r, bsize)), FlagEffect.None);
                    break;
                }
        }
    }

    // ------------------------------------------------------------------------------------------
    // push / pop / leave / enter / pushf / popf.

    private static void Stack(CaseBuilder b)
    {
        var g = b.G;
        // The stack lives in the data area; sometimes misaligned.
        b.Gpr[4] = DataAddr + 0x1000 + (ulong)g.Next(0x40) * 8 + (g.Chance(15) ? (ulong)g.Next(1, 8) : 0);
        int sp = (int)(b.Gpr[4] - DataAddr);
        b.FillData(sp - 0x140, 0x200);
        b.Reserve(5);
        b.Gpr[5] = DataAddr + 0x1400 + (ulong)g.Next(0x20) * 8;   // a frame pointer for leave/enter
        b.FillData((int)(b.Gpr[5] - DataAddr) - 0x100, 0x110);
        int n = g.Next(1, 4);
        int delta = 0;   // rsp relative to its initial value, so popfq pops a word we wrote
        for (int i = 0; i < n; i++)
        {
            // popfq only first: after a push it would pop that (random) value, TF and AC included.
            switch (i == 0 ? g.Next(13) : g.Next(12))
            {
                case 0: { int r = b.Take(); b.Emit(Instruction.Create(Code.Push_r64, Reg(r, 8)), FlagEffect.None); delta -= 8; break; }
                case 1: { int r = b.Take(); b.Emit(Instruction.Create(Code.Push_r16, Reg(r, 2)), FlagEffect.None); delta -= 2; break; }
                case 2:
                    {
                        bool imm8 = g.Chance(50);
                        b.Emit(Instruction.Create(imm8 ? Code.Pushq_imm8 : Code.Pushq_imm32, imm8 ? (sbyte)g.Value(1) : (int)g.Value(4)), FlagEffect.None);
                        delta -= 8;
                        break;
                    }
                case 3: b.Emit(Instruction.Create(Code.Push_rm64, b.Mem(8)), FlagEffect.None); delta -= 8; break;
                case 4: b.Emit(Instruction.Create(Code.Push_r64, Register.RSP), FlagEffect.None); delta -= 8; break;
                case 5: { int r = b.Take(); b.Emit(Instruction.Create(Code.Pop_r64, Reg(r, 8)), FlagEffect.None); delta += 8; break; }
                case 6: { int r = b.Take(); b.Emit(Instruction.Create(Code.Pop_r16, Reg(r, 2)), FlagEffect.None); delta += 2; break; }
                case 7:
                    {
                        // pop [rsp+disp]: the address uses rsp after the increment.
                        var mem = g.Chance(40) ? new MemoryOperand(Register.RSP, g.Next(-8, 8) * 8, 1) : b.Mem(8);
                        b.Emit(Instruction.Create(Code.Pop_rm64, mem), FlagEffect.None);
                        delta += 8;
                        break;
                    }
                case 8 when delta == 0:
                    {
                        // pop rsp of an address in the data area. A random (non-canonical) rsp before
                        // the final int3 once made the host report #UD at the int3 instead of #BP (a
                        // fresh-clone CI run); real code never pops one.
                        b.WriteData((int)(b.Gpr[4] - DataAddr), 8, DataAddr + 0x800 + (ulong)g.Next(0x100) * 8);
                        b.Emit(Instruction.Create(Code.Pop_r64, Register.RSP), FlagEffect.None);
                        return;
                    }
                case 8: b.Emit(Instruction.Create(Code.Leaveq), FlagEffect.None); return;
                case 9: b.Emit(Instruction.Create(Code.Leaveq), FlagEffect.None); return;
                case 10:
                    {
                        int level = g.Pick(0, 1, 2, 3, g.Next(32), 32, 33);
                        b.Emit(Instruction.Create(Code.Enterq_imm16_imm8, g.Pick(0, 8, g.Next(0x100)), level), FlagEffect.None);
                        return;
                    }
                case 11: b.Emit(Instruction.Create(Code.Pushfq), FlagEffect.None); delta -= 8; break;
                default:
                    {
                        // popfq of a flags word with random status flags and DF (never TF or AC).
                        int top = (int)(b.Gpr[4] - DataAddr) + delta;
                        ulong f = (g.U64() & (Status | DF)) | 2 | (g.Chance(50) ? 1UL << 21 : 0UL);
                        b.WriteData(top, 8, f);
                        b.Emit(Instruction.Create(Code.Popfq), FlagEffect.All);
                        return;
                    }
            }
        }
    }

    // ------------------------------------------------------------------------------------------
    // lea with every addressing form; the address is never accessed, so values are arbitrary.

    private static void Lea(CaseBuilder b)
    {
        var g = b.G;
        int size = g.Pick(2, 4, 8, 8);
        int d = b.Take();
        bool addr32 = g.Chance(20);
        int asz = addr32 ? 4 : 8;
        long disp = g.Next(4) switch { 0 => 0, 1 => g.Next(-128, 128), 2 => (int)g.U64(), _ => g.Pick(int.MinValue, int.MaxValue, -1, 0x7F, -0x80) };
        int dispSize = disp == 0 ? 0 : 1;
        MemoryOperand mem;
        int form = g.Next(6);
        if (form == 0)
        {
            // RIP-relative; with 0x67 it is EIP-relative and the address is truncated to 32 bits.
            mem = new MemoryOperand(addr32 ? Register.EIP : Register.RIP, (long)(CodeAddr + (ulong)g.Next(-0x10000, 0x10000)));
        }
        else if (form == 1)
        {
            int x = b.Take();
            b.Gpr[x] = g.Value(8);
            mem = new MemoryOperand(Register.None, Reg(x, asz), g.Pick(1, 2, 4, 8), disp, 4);
        }
        else
        {
            // Any base, rsp/rbp/r12/r13 included (SIB and forced-displacement encodings); rsp is never an index.
            int bs = g.Next(16);
            if (bs != 4 && bs != d) b.Reserve(bs);
            if (bs != 4 && bs != d) b.Gpr[bs] = g.Value(8);
            bool withIndex = g.Chance(60);
            if (withIndex)
            {
                int x = g.Chance(10) && bs != 4 ? bs : b.Take();
                if (x != bs) b.Gpr[x] = g.Value(8);
                mem = new MemoryOperand(Reg(bs, asz), Reg(x, asz), g.Pick(1, 2, 4, 8), disp, dispSize);
            }
            else mem = new MemoryOperand(Reg(bs, asz), disp, dispSize);
        }
        b.Emit(Instruction.Create(C($"Lea_r{Bits(size)}_m"), Reg(d, size), mem), FlagEffect.None);
    }

    // ------------------------------------------------------------------------------------------
    // movs / stos / lods / cmps / scas, with and without rep/repe/repne, DF clear or set.

    private static void StringCase(CaseBuilder b)
    {
        var g = b.G;
        string op = g.Pick("Movs", "Stos", "Lods", "Cmps", "Scas");
        int size = g.Pick(1, 2, 4, 8);
        bool compares = op is "Cmps" or "Scas";
        RepPrefixKind rep = g.Next(3) switch
        {
            0 => RepPrefixKind.None,
            1 => RepPrefixKind.Repe,
            _ => compares ? RepPrefixKind.Repne : RepPrefixKind.Repe,
        };
        bool down = g.Chance(35);
        b.Flags = down ? b.Flags | DF : b.Flags & ~DF;
        bool addr32 = g.Chance(12);
        int count = rep == RepPrefixKind.None ? 1 : g.Pick(0, 1, 2, 3, g.Next(4, 40), g.Next(4, 40));
        // Now and then a long one: more iterations than the Machine runs before it yields.
        if (size == 1 && rep != RepPrefixKind.None && op is "Stos" or "Lods" or "Scas" && g.Chance(10)) count = g.Next(4097, 7000);
        int n = Math.Max(count, 1);
        int len = n * size;
        b.Reserve(0, 1, 6, 7);

        // Source and destination regions (lowest offsets), each len bytes.
        int src = 0x100 + g.Next(0x1C00 - len);
        int dst = op == "Movs" && g.Chance(20)
            ? Math.Clamp(src + g.Next(-16, 17), 0x100, 0x1D00 - len)   // overlapping copy
            : 0x100 + g.Next(0x1C00 - len);
        b.FillData(src - 16, len + 32);
        b.FillData(dst - 16, len + 32);
        ulong acc = g.Value(size);
        if (op == "Cmps")
        {
            // Equal regions with (usually) one differing element, so repe/repne stop part-way.
            var bytes = b.DataBytes.AsSpan(src, len).ToArray();
            int k = g.Next(n) * size;
            if (rep == RepPrefixKind.Repne)
            {
                g.R.NextBytes(bytes);
                if (g.Chance(70)) b.DataBytes.AsSpan(src + k, size).CopyTo(bytes.AsSpan(k));
            }
            else if (g.Chance(70)) bytes[k + g.Next(size)] ^= (byte)(1 << g.Next(8));
            b.WriteData(dst, bytes);
        }
        else if (op == "Scas")
        {
            for (int i = 0; i < n; i++)
            {
                ulong v = rep == RepPrefixKind.Repne ? g.U64() : acc;
                b.WriteData(dst + i * size, size, v);
            }
            int k = g.Next(n);
            if (g.Chance(70)) b.WriteData(dst + k * size, size, rep == RepPrefixKind.Repne ? acc : acc ^ (1UL << g.Next(size * 8)));
        }
        // Start addresses: the first element, or the last one when DF counts down.
        ulong rsi = DataAddr + (ulong)(down ? src + len - size : src);
        ulong rdi = DataAddr + (ulong)(down ? dst + len - size : dst);
        if (addr32 && count == 0)
        {
            // A rep with a 32-bit address size and ecx = 0 runs no iteration, and whether it clears the
            // upper halves of rcx, rsi and rdi is the host's own: this machine's Xeon clears rcx's (and
            // rsi's and rdi's for movs and stos) while the CPUs of earlier runs left them, as the Machine
            // does. The case starts them at zero, so any CPU ends alike.
            b.Gpr[6] = rsi; b.Gpr[7] = rdi; b.Gpr[1] = 0;
        }
        else if (addr32)
        {
            b.Set(6, 4, rsi); b.Set(7, 4, rdi); b.Set(1, 4, (ulong)count);
        }
        else
        {
            b.Gpr[6] = rsi; b.Gpr[7] = rdi; b.Gpr[1] = (ulong)count;
        }
        b.Set(0, 8, g.U64());
        b.Set(0, size, acc);
        int asz = addr32 ? 32 : 64;
        // A gs: source override now and then (the GS base is the data area, so rsi holds an offset).
        var seg = op is "Movs" or "Lods" or "Cmps" && !addr32 && g.Chance(10) ? Register.GS : Register.None;
        if (seg == Register.GS) b.Gpr[6] -= DataAddr;
        Instruction ins = (op, size) switch
        {
            ("Movs", 1) => Instruction.CreateMovsb(asz, seg, rep),
            ("Movs", 2) => Instruction.CreateMovsw(asz, seg, rep),
            ("Movs", 4) => Instruction.CreateMovsd(asz, seg, rep),
            ("Movs", _) => Instruction.CreateMovsq(asz, seg, rep),
            ("Stos", 1) => Instruction.CreateStosb(asz, rep),
            ("Stos", 2) => Instruction.CreateStosw(asz, rep),
            ("Stos", 4) => Instruction.CreateStosd(asz, rep),
            ("Stos", _) => Instruction.CreateStosq(asz, rep),
            ("Lods", 1) => Instruction.CreateLodsb(asz, seg, rep),
            ("Lods", 2) => Instruction.CreateLodsw(asz, seg, rep),
            ("Lods", 4) => Instruction.CreateLodsd(asz, seg, rep),
            ("Lods", _) => Instruction.CreateLodsq(asz, seg, rep),
            ("Cmps", 1) => Instruction.CreateCmpsb(asz, seg, rep),
            ("Cmps", 2) => Instruction.CreateCmpsw(asz, seg, rep),
            ("Cmps", 4) => Instruction.CreateCmpsd(asz, seg, rep),
            ("Cmps", _) => Instruction.CreateCmpsq(asz, seg, rep),
            ("Scas", 1) => Instruction.CreateScasb(asz, rep),
            ("Scas", 2) => Instruction.CreateScasw(asz, rep),
            ("Scas", 4) => Instruction.CreateScasd(asz, rep),
            _ => Instruction.CreateScasq(asz, rep),
        };
        bool anyIteration = rep == RepPrefixKind.None || count > 0;
        b.Emit(ins, compares && anyIteration ? FlagEffect.All : FlagEffect.None);
        if (compares && g.Chance(30)) EmitConsumer(b);
    }

    // ------------------------------------------------------------------------------------------
    // lahf / sahf / pushf / popf / clc / stc / cmc / cld / std, after producers with defined flags.

    private static void FlagInstructions(CaseBuilder b)
    {
        var g = b.G;
        b.FillData((int)(b.Gpr[4] - DataAddr) - 0x40, 0x80);
        if (g.Chance(70)) b.Producer(allowLogic: false);
        int n = g.Next(1, 3);
        int delta = 0;   // rsp relative to its initial value
        for (int i = 0; i < n; i++)
        {
            switch (g.Next(9))
            {
                case 0: b.Reserve(0); b.Emit(Instruction.Create(Code.Lahf), FlagEffect.None); break;
                case 1:
                    b.Reserve(0);
                    b.Set(16, 1, g.U64());
                    b.Emit(Instruction.Create(Code.Sahf), new FlagEffect(CF | PF | AF | ZF | SF, 0));
                    break;
                case 2: b.Emit(Instruction.Create(Code.Clc), new FlagEffect(CF, 0)); break;
                case 3: b.Emit(Instruction.Create(Code.Stc), new FlagEffect(CF, 0)); break;
                case 4: b.Emit(Instruction.Create(Code.Cmc), new FlagEffect(CF, 0)); break;
                case 5: b.Emit(Instruction.Create(Code.Pushfq), FlagEffect.None); delta -= 8; break;
                case 6:
                    {
                        int top = (int)(b.Gpr[4] - DataAddr) + delta;
                        delta += 8;
                        b.WriteData(top, 8, (g.U64() & (Status | DF)) | 2);
                        b.Emit(Instruction.Create(Code.Popfq), FlagEffect.All);
                        break;
                    }
                case 7: b.Emit(Instruction.Create(g.Chance(50) ? Code.Std : Code.Cld), FlagEffect.None); break;
                default: EmitConsumer(b); break;
            }
        }
        if (g.Chance(40)) EmitConsumer(b);
    }

    // ------------------------------------------------------------------------------------------
    // Chains: several defined-flag producers and consumers in one block (lazy state hand-over).

    private static void Chains(CaseBuilder b)
    {
        var g = b.G;
        int n = g.Next(2, 6);
        var regs = new List<int>();
        for (int i = 0; i < 6; i++)
        {
            int r = b.Take();
            b.Set(r, 8, g.Chance(50) ? g.Edge(8) : g.U64());
            regs.Add(r);
        }
        for (int i = 0; i < n; i++)
        {
            int size = g.Pick(1, 2, 4, 8);
            string s = Bits(size);
            int a = g.Pick(regs.ToArray()), c = g.Pick(regs.ToArray());
            switch (g.Next(6))
            {
                case 0:
                case 1:
                    {
                        string m = g.Pick(AluNames);
                        if (g.Chance(30))
                            b.Emit(Instruction.Create(C(m == "Test" ? $"Test_rm{s}_imm{Math.Min(size, 4) * 8}" : $"{m}_rm{s}_imm{Math.Min(size, 4) * 8}"), Reg(a, size), Imm(g, Math.Min(size, 4))), AluFx(m));
                        else
                            b.Emit(Instruction.Create(C($"{m}_rm{s}_r{s}"), Reg(a, size), Reg(c, size)), AluFx(m));
                        break;
                    }
                case 2:
                    {
                        string m = g.Pick("Inc", "Dec", "Neg", "Not");
                        b.Emit(Instruction.Create(C($"{m}_rm{s}"), Reg(a, size)),
                            m switch { "Neg" => FlagEffect.All, "Not" => FlagEffect.None, _ => FlagEffect.IncDec });
                        break;
                    }
                case 3:
                    {
                        string cc = g.Pick(CcNames);
                        if (size == 1) b.Emit(Instruction.Create(C($"Set{cc}_rm8"), Reg(a, 1)), FlagEffect.None);
                        else b.Emit(Instruction.Create(C($"Cmov{cc}_r{s}_rm{s}"), Reg(a, size), Reg(c, size)), FlagEffect.None);
                        break;
                    }
                case 4:
                    b.Emit(Instruction.Create(C($"{g.Pick("Adc", "Sbb")}_rm{s}_r{s}"), Reg(a, size), Reg(c, size)), FlagEffect.All);
                    break;
                default:
                    b.Emit(Instruction.Create(C(g.Pick("Clc", "Stc", "Cmc"))), new FlagEffect(CF, 0));
                    break;
            }
        }
        if (g.Chance(50)) EmitConsumer(b);
    }

    // ------------------------------------------------------------------------------------------
    // Faults: the trap kind and rip at the faulting instruction, after some retired work.

    private static void Faults(CaseBuilder b)
    {
        var g = b.G;
        if (g.Chance(60)) b.Producer(allowLogic: false);
        int r = b.Take();
        switch (g.Next(8))
        {
            case 7:
                {
                    // #PF in the middle of a rep string: rcx/rsi/rdi describe the iterations done.
                    b.Reserve(0, 1, 6, 7);
                    int size = g.Pick(1, 2, 4, 8);
                    int count = g.Next(2, 64);
                    int start = DataSize - g.Next(1, count) * size - g.Next(0, size);
                    b.FillData(start - 64, DataSize);
                    b.Gpr[1] = (ulong)count;
                    b.Gpr[6] = DataAddr + (ulong)g.Next(0x100, 0x800);
                    b.Gpr[7] = DataAddr + (ulong)start;
                    b.Flags &= ~DF;
                    var ins = (g.Next(2), size) switch
                    {
                        (0, 1) => Instruction.CreateStosb(64, RepPrefixKind.Repe),
                        (0, 2) => Instruction.CreateStosw(64, RepPrefixKind.Repe),
                        (0, 4) => Instruction.CreateStosd(64, RepPrefixKind.Repe),
                        (0, _) => Instruction.CreateStosq(64, RepPrefixKind.Repe),
                        (_, 1) => Instruction.CreateMovsb(64, Register.None, RepPrefixKind.Repe),
                        (_, 2) => Instruction.CreateMovsw(64, Register.None, RepPrefixKind.Repe),
                        (_, 4) => Instruction.CreateMovsd(64, Register.None, RepPrefixKind.Repe),
                        _ => Instruction.CreateMovsq(64, Register.None, RepPrefixKind.Repe),
                    };
                    b.Emit(ins, FlagEffect.None);
                    break;
                }
            case 0:
                {
                    // #GP: a non-canonical address.
                    b.Gpr[r] = g.Pick(0x8000_0000_0000_0000UL, 0x0000_8000_0000_0000UL, 0xFFFF_7FFF_FFFF_F000UL) | (uint)g.Next(0x1000);
                    int v = b.Take();
                    b.Emit(g.Chance(50)
                        ? Instruction.Create(Code.Mov_r64_rm64, Reg(v, 8), new MemoryOperand(Reg(r, 8)))
                        : Instruction.Create(Code.Mov_rm64_r64, new MemoryOperand(Reg(r, 8)), Reg(v, 8)), FlagEffect.None);
                    break;
                }
            case 1:
                {
                    // #GP: a misaligned 16-byte operand of movdqa or an SSE arithmetic instruction.
                    int off = 0x200 + g.Next(0x100) * 16 + g.Next(1, 16);
                    var mem = b.Mem(16, false, off);
                    b.Emit(g.Next(3) switch
                    {
                        0 => Instruction.Create(Code.Movdqa_xmm_xmmm128, XmmReg(g.Next(16)), mem),
                        1 => Instruction.Create(Code.Movdqa_xmmm128_xmm, mem, XmmReg(g.Next(16))),
                        _ => Instruction.Create(Code.Paddd_xmm_xmmm128, XmmReg(g.Next(16)), mem),
                    }, FlagEffect.None);
                    break;
                }
            case 2:
                b.Emit(Instruction.Create(Code.Ud2), FlagEffect.None);
                break;
            case 3:
                {
                    // #UD: lock prefix on a register destination.
                    int c = b.Take();
                    var ins = Instruction.Create(Code.Add_rm32_r32, Reg(r, 4), Reg(c, 4));
                    ins.HasLockPrefix = true;
                    b.Emit(ins, FlagEffect.None);
                    break;
                }
            case 4:
                {
                    // #PF: unmapped data (read or write). Not below 0x4040_0000: Linux starts a non-PIE
                    // program's heap anywhere in the GiB above it (measured here: 0x442000 to 0x403e6000),
                    // and once the native runner's heap held 0x3000_0000, so its reads did not fault.
                    b.Gpr[r] = g.Pick<ulong>(0x4800_0000UL, DataAddr + DataSize, DataAddr - 8, 0);
                    int v = b.Take();
                    b.Emit(g.Chance(50)
                        ? Instruction.Create(Code.Mov_r32_rm32, Reg(v, 4), new MemoryOperand(Reg(r, 8)))
                        : Instruction.Create(Code.Add_rm32_r32, new MemoryOperand(Reg(r, 8)), Reg(v, 4)), FlagEffect.All);
                    break;
                }
            case 5:
                {
                    // #PF on accesses that straddle the end or the start of the data area: nothing may be
                    // written and rsp must not move.
                    b.FillData(DataSize - 16, 16);
                    b.FillData(0, 16);
                    int v = b.Take();
                    switch (g.Next(4))
                    {
                        case 0:
                            b.Gpr[r] = DataAddr + DataSize - (ulong)g.Next(1, 8);
                            b.Emit(Instruction.Create(Code.Mov_rm64_r64, new MemoryOperand(Reg(r, 8)), Reg(v, 8)), FlagEffect.None);
                            break;
                        case 1:
                            b.Gpr[r] = DataAddr + DataSize - (ulong)g.Next(1, 8);
                            b.Emit(Instruction.Create(Code.Xchg_rm64_r64, new MemoryOperand(Reg(r, 8)), Reg(v, 8)), FlagEffect.None);
                            break;
                        case 2:
                            b.Gpr[4] = DataAddr + (ulong)g.Next(0, 8);   // push below the start
                            b.Emit(Instruction.Create(Code.Push_r64, Reg(v, 8)), FlagEffect.None);
                            break;
                        default:
                            b.Gpr[4] = DataAddr + DataSize - (ulong)g.Next(1, 8);   // pop across the end
                            b.Emit(Instruction.Create(Code.Pop_r64, Reg(v, 8)), FlagEffect.None);
                            break;
                    }
                    break;
                }
            default:
                {
                    // #DE: division by zero, after other work in the same block.
                    b.Reserve(0, 2);
                    int d = b.Take();
                    b.Set(d, 4, 0);
                    b.Emit(Instruction.Create(Code.Add_rm64_r64, Reg(0, 8), Reg(2, 8)), FlagEffect.All);
                    b.Emit(Instruction.Create(g.Chance(50) ? Code.Div_rm32 : Code.Idiv_rm32, Reg(d, 4)), FlagEffect.AllUndefined);
                    break;
                }
        }
        // Never reached when the fault is taken.
        b.Emit(Instruction.Create(Code.Mov_r32_imm32, Reg(r, 4), 0x5A5A), FlagEffect.None);
    }
}
