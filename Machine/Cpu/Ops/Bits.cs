using System.Numerics;

namespace Lab.Machine.Cpu;

/// <summary>Bit instructions: bt/bts/btr/btc, bsf/bsr, tzcnt/lzcnt, popcnt.</summary>
public sealed unsafe partial class Cpu
{
    /// <summary>
    /// bt family (Cond 0 bt, 1 bts, 2 btr, 3 btc). With a memory operand and a register bit offset the
    /// offset is signed and may address outside the operand, as on hardware.
    /// </summary>
    private bool BitTest(ref Op op)
    {
        int size = op.Size, bits = size * 8;
        bool memory = op.Form is Form.MR or Form.MI;
        ulong ea = 0, d;
        int bit;
        if (op.Form is Form.RI or Form.MI) bit = (int)(op.Imm & (ulong)(bits - 1));
        else
        {
            ulong offset = GetReg(op.R1, size);
            bit = (int)(offset & (ulong)(bits - 1));
            if (memory)
            {
                long signed = FlagMath.SignExtend(offset, size);
                ea = EA(ref op) + (ulong)((signed >> (size == 8 ? 6 : size == 4 ? 5 : 4)) * size);
            }
        }
        if (memory)
        {
            if (op.Form == Form.MI) ea = EA(ref op);
            if (!Read(ea, size, out d)) return false;
        }
        else d = GetReg(op.R0, size);

        ulong cf = (d >> bit) & 1;
        ulong r = op.Cond switch
        {
            1 => d | (1UL << bit),
            2 => d & ~(1UL << bit),
            3 => d ^ (1UL << bit),
            _ => d,
        };
        if (op.Cond != 0)
        {
            if (memory) { if (!Write(ea, size, r)) return false; }
            else SetReg(op.R0, size, r);
        }
        SetStatusFlags((StatusFlags() & ~FlagMath.CF) | cf);
        return true;
    }

    /// <summary>bsf / bsr: a zero source sets ZF and leaves the destination unchanged.</summary>
    private bool BitScan(ref Op op, bool forward)
    {
        if (!ReadSrc(ref op, op.Size, out ulong s)) return false;
        ulong flags = StatusFlags() & ~FlagMath.ZF;
        if (s == 0)
        {
            SetStatusFlags(flags | FlagMath.ZF);
            return true;
        }
        int index = forward ? BitOperations.TrailingZeroCount(s) : 63 - BitOperations.LeadingZeroCount(s);
        SetReg(op.R0, op.Size, (ulong)index);
        SetStatusFlags(flags);
        return true;
    }

    /// <summary>tzcnt / lzcnt: the operand width for a zero source; CF = source was zero, ZF = result is zero.</summary>
    private bool CountZeros(ref Op op, bool trailing)
    {
        int bits = op.Size * 8;
        if (!ReadSrc(ref op, op.Size, out ulong s)) return false;
        int n = s == 0 ? bits
            : trailing ? BitOperations.TrailingZeroCount(s)
            : BitOperations.LeadingZeroCount(s) - (64 - bits);
        SetReg(op.R0, op.Size, (ulong)n);
        ulong flags = StatusFlags() & ~(FlagMath.CF | FlagMath.ZF);
        if (s == 0) flags |= FlagMath.CF;
        if (n == 0) flags |= FlagMath.ZF;
        SetStatusFlags(flags);
        return true;
    }

    private bool Popcnt(ref Op op)
    {
        if (!ReadSrc(ref op, op.Size, out ulong s)) return false;
        SetReg(op.R0, op.Size, (ulong)BitOperations.PopCount(s));
        SetStatusFlags(s == 0 ? FlagMath.ZF : 0);
        return true;
    }
}
