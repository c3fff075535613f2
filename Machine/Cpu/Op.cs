using System.Runtime.InteropServices;

namespace Lab.Machine.Cpu;

/// <summary>Operand forms: which operands of an instruction are a register, memory or an immediate.</summary>
internal enum Form : byte
{
    None = 0,
    R,      // one register operand (R0)
    M,      // one memory operand
    I,      // one immediate
    RR,     // R0 <- R1
    RM,     // R0 <- memory
    MR,     // memory <- R1
    RI,     // R0 <- immediate
    MI,     // memory <- immediate
}

/// <summary>
/// A decoded instruction, converted once from Iced's <c>Instruction</c> into a flat struct the
/// interpreter reads without decoding: the handler kind, operand registers, the memory operand's parts
/// (RIP-relative addresses already resolved to absolute) and the immediate.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Op
{
    public OpKind Kind;
    /// <summary>Operand size in bytes (1, 2, 4, 8; 16 for XMM).</summary>
    public byte Size;
    public Form Form;
    /// <summary>First operand register. GPR 0..15; 16..19 = AH, CH, DH, BH (8-bit only); XMM 0..15.</summary>
    public byte R0;
    /// <summary>Second operand register, same encoding.</summary>
    public byte R1;
    /// <summary>Memory base register, or <see cref="NoReg"/>.</summary>
    public byte Base;
    /// <summary>Memory index register, or <see cref="NoReg"/>.</summary>
    public byte Index;
    /// <summary>Index scale as a shift (0..3).</summary>
    public byte Scale;
    /// <summary>Condition code 0..15 for jcc/setcc/cmovcc; sub-operation for grouped kinds.</summary>
    public byte Cond;
    /// <summary>Segment base to add: 0 none, 1 FS, 2 GS.</summary>
    public byte Seg;
    /// <summary>Second size (source size of movzx/movsx; element size of SSE ops).</summary>
    public byte Size2;
    /// <summary>Instruction length in bytes.</summary>
    public byte Len;
    /// <summary>Bit flags, see <see cref="OpFlags"/>.</summary>
    public OpFlags Flags;
    /// <summary>Displacement; the absolute address for RIP-relative operands.</summary>
    public long Disp;
    /// <summary>Immediate (sign-extended), or the branch target; for a cmov, which has none, its <see cref="CmovProfile"/>.</summary>
    public ulong Imm;
    /// <summary>Address of this instruction.</summary>
    public ulong Ip;

    public const byte NoReg = 0xFF;
    public readonly ulong NextIp => Ip + Len;
}

[Flags]
internal enum OpFlags : byte
{
    None = 0,
    /// <summary>rep / repe prefix.</summary>
    Rep = 1,
    /// <summary>repne prefix.</summary>
    Repne = 2,
    /// <summary>32-bit address size (0x67 prefix): the effective address is truncated to 32 bits.</summary>
    Addr32 = 4,
    /// <summary>The immediate operand is the second source (three-operand imul, shld/shrd count).</summary>
    HasImm = 8,
}

/// <summary>
/// How a cmov's condition went while the interpreter ran it, kept in the op's Imm (a cmov has no
/// immediate): bits 0-31 the runs, 32-62 the flips (runs whose outcome differed from the one before),
/// bit 63 the last outcome. The JIT branches instead of selecting where the condition rarely flips
/// (RegionCompiler.EmitCmov); no result depends on it.
/// </summary>
internal static class CmovProfile
{
    private const ulong Last = 1UL << 63, OneFlip = 1UL << 32;

    /// <summary>Notes one run with outcome <paramref name="taken"/> (counting stops at 2^31 - 1 runs, so the flips fit).</summary>
    public static void Note(ref ulong profile, bool taken)
    {
        ulong p = profile;
        if ((uint)p >= int.MaxValue) return;
        p++;
        if (taken != ((p & Last) != 0)) p = (p + OneFlip) ^ Last;
        profile = p;
    }

    /// <summary>The runs noted.</summary>
    public static uint Runs(ulong profile) => (uint)profile;

    /// <summary>The flips noted (the first taken run counts as one).</summary>
    public static uint Flips(ulong profile) => (uint)((profile & ~Last) >> 32);
}
