using System.Numerics;
using System.Runtime.CompilerServices;

namespace Lab.Machine.Cpu;

/// <summary>
/// Which instruction last set the arithmetic flags. The CPU keeps flags lazily (QEMU's cc_op idea):
/// it records the operation and its operands and computes a flag only when something reads it.
/// </summary>
internal enum FlagOp : byte
{
    /// <summary>All status flags are materialised in the aux word, in RFLAGS bit positions.</summary>
    Explicit = 0,
    Add, Adc, Sub, Sbb,
    /// <summary>and/or/xor/test: CF = OF = 0, AF = 0 (undefined).</summary>
    Logic,
    /// <summary>inc/dec: like add/sub by 1 with CF preserved in aux bit 0.</summary>
    Inc, Dec,
    /// <summary>neg: 0 - a. A holds the operand.</summary>
    Neg,
    /// <summary>Shifts, multiplies, bit scans: ZF/SF/PF from the result, CF and OF explicit in aux, AF = 0.</summary>
    ResultAux,
}

/// <summary>Pure flag helpers: operand-size masks and the lazy-flag evaluator.</summary>
internal static class FlagMath
{
    public const ulong CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
    public const ulong StatusMask = CF | PF | AF | ZF | SF | OF;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mask(int size) => size == 8 ? ulong.MaxValue : (1UL << (size * 8)) - 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SignBit(int size) => 1UL << (size * 8 - 1);

    /// <summary>Sign-extends the low <paramref name="size"/> bytes of v to 64 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long SignExtend(ulong v, int size)
    {
        int shift = 64 - size * 8;
        return (long)(v << shift) >> shift;
    }

    /// <summary>PF: set when the low byte of the result has an even number of 1 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Parity(ulong result) => (BitOperations.PopCount(result & 0xFF) & 1) == 0 ? PF : 0;

    /// <summary>
    /// Computes the six status flags (RFLAGS bit positions) for a recorded operation.
    /// a, b and r are already truncated to the operand size.
    /// </summary>
    public static ulong Compute(FlagOp op, int size, ulong a, ulong b, ulong r, ulong aux)
    {
        ulong sign = SignBit(size);
        ulong szp = (r == 0 ? ZF : 0) | ((r & sign) != 0 ? SF : 0) | Parity(r);
        switch (op)
        {
            case FlagOp.Explicit:
                return aux & StatusMask;
            case FlagOp.Add:
                return szp | (r < a ? CF : 0) | (((a ^ r) & (b ^ r) & sign) != 0 ? OF : 0) | ((a ^ b ^ r) & AF);
            case FlagOp.Adc:
                {
                    bool cf = (aux & 1) != 0 ? r <= a : r < a;
                    return szp | (cf ? CF : 0) | (((a ^ r) & (b ^ r) & sign) != 0 ? OF : 0) | ((a ^ b ^ r) & AF);
                }
            case FlagOp.Sub:
                return szp | (a < b ? CF : 0) | (((a ^ b) & (a ^ r) & sign) != 0 ? OF : 0) | ((a ^ b ^ r) & AF);
            case FlagOp.Sbb:
                {
                    bool cf = (aux & 1) != 0 ? a <= b : a < b;
                    return szp | (cf ? CF : 0) | (((a ^ b) & (a ^ r) & sign) != 0 ? OF : 0) | ((a ^ b ^ r) & AF);
                }
            case FlagOp.Logic:
                return szp;
            case FlagOp.Inc:
                return szp | (aux & CF) | (r == sign ? OF : 0) | ((a ^ 1 ^ r) & AF);
            case FlagOp.Dec:
                return szp | (aux & CF) | (a == sign ? OF : 0) | ((a ^ 1 ^ r) & AF);
            case FlagOp.Neg:
                return szp | (a != 0 ? CF : 0) | (a == sign ? OF : 0) | ((a ^ r) & AF);
            case FlagOp.ResultAux:
                return szp | (aux & (CF | OF));
            default:
                throw new InvalidOperationException($"unknown flag op {op}");
        }
    }

    /// <summary>Evaluates condition code cc (x86 encoding 0..15: o no b ae e ne be a s ns p np l ge le g) on a flags word.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Evaluate(int cc, ulong f)
    {
        bool r;
        switch (cc >> 1)
        {
            case 0: r = (f & OF) != 0; break;
            case 1: r = (f & CF) != 0; break;
            case 2: r = (f & ZF) != 0; break;
            case 3: r = (f & (CF | ZF)) != 0; break;
            case 4: r = (f & SF) != 0; break;
            case 5: r = (f & PF) != 0; break;
            case 6: r = ((f & SF) != 0) != ((f & OF) != 0); break;
            default: r = (f & ZF) != 0 || (((f & SF) != 0) != ((f & OF) != 0)); break;
        }
        return r ^ ((cc & 1) != 0);
    }
}
