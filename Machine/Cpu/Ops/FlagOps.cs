namespace Lab.Machine.Cpu;

/// <summary>Flag instructions: clc/stc/cmc/cld/std, lahf/sahf, pushf/popf.</summary>
public sealed unsafe partial class Cpu
{
    private const ulong DF = 1UL << 10;
    /// <summary>RFLAGS bits user code may change with popf: status flags, DF, AC (18), ID (21).</summary>
    private const ulong PopfUserMask = FlagMath.StatusMask | DF | (1UL << 18) | (1UL << 21);

    private bool FlagOpSimple(ref Op op)
    {
        switch (op.Kind)
        {
            case OpKind.Clc: SetStatusFlags(StatusFlags() & ~FlagMath.CF); break;
            case OpKind.Stc: SetStatusFlags(StatusFlags() | FlagMath.CF); break;
            case OpKind.Cmc: SetStatusFlags(StatusFlags() ^ FlagMath.CF); break;
            case OpKind.Cld: _flagsOther &= ~DF; break;
            default: _flagsOther |= DF; break;
        }
        return true;
    }

    /// <summary>lahf: AH = SF ZF 0 AF 0 PF 1 CF.</summary>
    private bool Lahf()
    {
        ulong ah = (StatusFlags() & (FlagMath.SF | FlagMath.ZF | FlagMath.AF | FlagMath.PF | FlagMath.CF)) | 2;
        SetReg(16, 1, ah);
        return true;
    }

    /// <summary>sahf: SF ZF AF PF CF = AH; OF is kept.</summary>
    private bool Sahf()
    {
        ulong ah = GetReg(16, 1);
        ulong keep = StatusFlags() & FlagMath.OF;
        SetStatusFlags(keep | (ah & (FlagMath.SF | FlagMath.ZF | FlagMath.AF | FlagMath.PF | FlagMath.CF)));
        return true;
    }

    private bool Pushf(ref Op op)
    {
        ulong flags = RFlags & ~((1UL << 16) | (1UL << 17));   // RF and VM read as 0
        ulong sp = _regs[4] - op.Size;
        if (!Write(sp, op.Size, flags)) return false;
        _regs[4] = sp;
        return true;
    }

    private bool Popf(ref Op op)
    {
        ulong sp = _regs[4];
        if (!Read(sp, op.Size, out ulong v)) return false;
        _regs[4] = sp + op.Size;
        ulong mask = op.Size == 2 ? PopfUserMask & 0xFFFF : PopfUserMask;
        ulong merged = (RFlags & ~mask) | (v & mask);
        RFlags = merged;
        return true;
    }
}
