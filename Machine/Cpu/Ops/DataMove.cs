using System.Buffers.Binary;

namespace Lab.Machine.Cpu;

/// <summary>Data movement: mov (generic forms), movzx/movsx/movsxd, xchg, bswap, cbw..cqo, push/pop, leave/enter, cmov, setcc.</summary>
public sealed unsafe partial class Cpu
{
    private bool Mov(ref Op op)
    {
        if (!ReadSrc(ref op, op.Size, out ulong v)) return false;
        ulong ea = op.Form is Form.MR or Form.MI ? EA(ref op) : 0;
        return WriteDst(ref op, ea, v);
    }

    private bool Movzx(ref Op op)
    {
        if (!ReadSrc(ref op, op.Size2, out ulong v)) return false;
        SetReg(op.R0, op.Size, v);
        return true;
    }

    private bool Movsx(ref Op op)
    {
        if (!ReadSrc(ref op, op.Size2, out ulong v)) return false;
        SetReg(op.R0, op.Size, (ulong)FlagMath.SignExtend(v, op.Size2) & FlagMath.Mask(op.Size));
        return true;
    }

    private bool Xchg(ref Op op)
    {
        if (op.Form == Form.RR)
        {
            ulong a = GetReg(op.R0, op.Size), b = GetReg(op.R1, op.Size);
            SetReg(op.R0, op.Size, b);
            SetReg(op.R1, op.Size, a);
            return true;
        }
        ulong ea = EA(ref op);
        if (!Read(ea, op.Size, out ulong m)) return false;
        if (!Write(ea, op.Size, GetReg(op.R1, op.Size))) return false;
        SetReg(op.R1, op.Size, m);
        return true;
    }

    private bool Bswap(ref Op op)
    {
        ulong v = _regs[op.R0];
        if (op.Size == 8) _regs[op.R0] = BinaryPrimitives.ReverseEndianness(v);
        else if (op.Size == 4) _regs[op.R0] = BinaryPrimitives.ReverseEndianness((uint)v);
        else SetReg(op.R0, 2, 0);   // 16-bit bswap is undefined; hardware gives 0
        return true;
    }

    /// <summary>cbw / cwde / cdqe: sign-extend the low half of the accumulator into all of it.</summary>
    private bool Cbw(ref Op op)
    {
        int half = op.Size / 2;
        SetReg(0, op.Size, (ulong)FlagMath.SignExtend(_regs[0], half) & FlagMath.Mask(op.Size));
        return true;
    }

    /// <summary>cwd / cdq / cqo: fill rdx (of the size) with the accumulator's sign.</summary>
    private bool Cwd(ref Op op)
    {
        bool negative = (GetReg(0, op.Size) & FlagMath.SignBit(op.Size)) != 0;
        SetReg(2, op.Size, negative ? ulong.MaxValue : 0);
        return true;
    }

    private bool Push(ref Op op)
    {
        ulong v;
        switch (op.Form)
        {
            case Form.R: v = GetReg(op.R0, op.Size); break;
            case Form.M: if (!Read(EA(ref op), op.Size, out v)) return false; break;
            default: v = op.Imm; break;
        }
        ulong sp = _regs[4] - op.Size;
        if (!Write(sp, op.Size, v)) return false;
        _regs[4] = sp;
        return true;
    }

    /// <summary>pop: a memory destination's address is computed after rsp is incremented, as the manual says.</summary>
    private bool Pop(ref Op op)
    {
        ulong sp = _regs[4];
        if (!Read(sp, op.Size, out ulong v)) return false;
        if (op.Form == Form.R)
        {
            _regs[4] = sp + op.Size;
            SetReg(op.R0, op.Size, v);
            return true;
        }
        _regs[4] = sp + op.Size;
        if (!Write(EA(ref op), op.Size, v))
        {
            _regs[4] = sp;
            return false;
        }
        return true;
    }

    private bool Leave()
    {
        ulong frame = _regs[5];
        if (!Read64(frame, out ulong rbp)) return false;
        _regs[4] = frame + 8;
        _regs[5] = rbp;
        return true;
    }

    /// <summary>enter size, level: push rbp, copy level-1 outer frame pointers, rbp = frame, rsp -= size.</summary>
    private bool Enter(ref Op op)
    {
        ulong sp = _regs[4], rbp = _regs[5];
        int level = op.Cond;
        ulong p = sp - 8;
        if (!Write64(p, rbp)) return false;
        ulong frame = p;
        for (int i = 1; i < level; i++)
        {
            if (!Read64(rbp - (ulong)(8 * i), out ulong outer)) return false;
            p -= 8;
            if (!Write64(p, outer)) return false;
        }
        if (level > 0)
        {
            p -= 8;
            if (!Write64(p, frame)) return false;
        }
        _regs[5] = frame;
        _regs[4] = p - op.Imm;
        return true;
    }

    /// <summary>cmovcc: the source is always read; a 32-bit destination is zero-extended even when false.</summary>
    private bool Cmov(ref Op op)
    {
        if (!ReadSrc(ref op, op.Size, out ulong v)) return false;
        bool taken = Condition(op.Cond);
        if (taken) SetReg(op.R0, op.Size, v);
        else if (op.Size == 4) _regs[op.R0] = (uint)_regs[op.R0];
        CmovProfile.Note(ref op.Imm, taken);
        return true;
    }

    private bool Setcc(ref Op op)
    {
        ulong v = Condition(op.Cond) ? 1UL : 0UL;
        if (op.Form == Form.R) { SetReg(op.R0, 1, v); return true; }
        return Write8(EA(ref op), v);
    }
}
