namespace Lab.Machine.Cpu;

/// <summary>
/// String instructions movs/stos/lods/cmps/scas, with rep/repe/repne. A rep instruction runs at most
/// <see cref="RepChunk"/> iterations per execution and then yields with rip still on it (registers
/// updated), exactly as an interrupted rep would, so a huge count cannot stall the machine.
/// A fault mid-way leaves the registers describing the iterations already done.
/// </summary>
public sealed unsafe partial class Cpu
{
    internal const int RepChunk = 4096;

    private ulong StrCount(ref Op op) => (op.Flags & OpFlags.Addr32) != 0 ? (uint)_regs[1] : _regs[1];

    private void SetStrCount(ref Op op, ulong v)
    {
        if ((op.Flags & OpFlags.Addr32) != 0) _regs[1] = (uint)v; else _regs[1] = v;
    }

    private ulong StrReg(ref Op op, int r) => (op.Flags & OpFlags.Addr32) != 0 ? (uint)_regs[r] : _regs[r];

    private void AdvanceStrReg(ref Op op, int r)
    {
        ulong step = DirectionFlag ? (ulong)-(long)op.Size : op.Size;
        ulong v = _regs[r] + step;
        _regs[r] = (op.Flags & OpFlags.Addr32) != 0 ? (uint)v : v;
    }

    private ulong SourceAddress(ref Op op)
    {
        ulong a = StrReg(ref op, 6);
        if (op.Seg == 1) a += FsBase; else if (op.Seg == 2) a += GsBase;
        return a;
    }

    /// <summary>
    /// Runs one string instruction: <paramref name="step"/> performs one iteration (false = fault).
    /// Returns false with no trap recorded when a rep chunk yields.
    /// </summary>
    private bool RunString(ref Op op, delegate*<Cpu, ref Op, bool> step, bool compares)
    {
        bool rep = (op.Flags & (OpFlags.Rep | OpFlags.Repne)) != 0;
        if (!rep) return step(this, ref op);
        for (int i = 0; i < RepChunk; i++)
        {
            if (StrCount(ref op) == 0) return true;
            if (!step(this, ref op)) return false;
            SetStrCount(ref op, StrCount(ref op) - 1);
            if (compares)
            {
                bool zf = Condition(4);
                if ((op.Flags & OpFlags.Repne) != 0 ? zf : !zf) return true;
            }
        }
        if (StrCount(ref op) == 0) return true;
        _trapKind = TrapKind.None;   // yield: not retired, resumed at the same rip
        return false;
    }

    private bool Movs(ref Op op) => RepMovsInPage(ref op) || RunString(ref op, &MovsStep, false);
    private bool Stos(ref Op op) => RepStosInPage(ref op) || RunString(ref op, &StosStep, false);

    /// <summary>
    /// The whole of a rep stos at once, when that is exactly what its iterations would do: forward,
    /// 64-bit addressing, at most one chunk, and every byte in one page that the TLB holds for fast
    /// writes (so it holds no code, and the first iteration's page fault or dirty-bit update has
    /// already happened). False: nothing done, the iterations run one by one.
    /// </summary>
    private bool RepStosInPage(ref Op op)
    {
        if ((op.Flags & (OpFlags.Rep | OpFlags.Addr32)) != OpFlags.Rep || DirectionFlag) return false;
        ulong n = _regs[1], dst = _regs[7], bytes = n * op.Size;
        if (n == 0 || n > RepChunk || ((dst ^ (dst + bytes - 1)) >> 12) != 0) return false;
        TlbEntry* e = TlbSlot(dst);
        if (e->WriteTag != (dst & ~0xFFFUL)) return false;
        byte* host = (byte*)((long)dst + e->Addend);
        ulong v = _regs[0];
        switch (op.Size)
        {
            case 1: new Span<byte>(host, (int)n).Fill((byte)v); break;
            case 2: new Span<ushort>(host, (int)n).Fill((ushort)v); break;
            case 4: new Span<uint>(host, (int)n).Fill((uint)v); break;
            default: new Span<ulong>(host, (int)n).Fill(v); break;
        }
        _regs[7] = dst + bytes;
        _regs[1] = 0;
        return true;
    }

    /// <summary>
    /// The whole of a rep movs at once, under RepStosInPage's conditions for the destination, with the
    /// source in one page the TLB holds for reads, no segment override, and no overlap in which a
    /// forward copy would read bytes it already wrote (the destination just above the source).
    /// </summary>
    private bool RepMovsInPage(ref Op op)
    {
        if ((op.Flags & (OpFlags.Rep | OpFlags.Addr32)) != OpFlags.Rep || DirectionFlag || op.Seg != 0) return false;
        ulong n = _regs[1], src = _regs[6], dst = _regs[7], bytes = n * op.Size;
        if (n == 0 || n > RepChunk || ((dst ^ (dst + bytes - 1)) >> 12) != 0 || ((src ^ (src + bytes - 1)) >> 12) != 0) return false;
        TlbEntry* d = TlbSlot(dst), s = TlbSlot(src);
        if (d->WriteTag != (dst & ~0xFFFUL) || s->ReadTag != (src & ~0xFFFUL)) return false;
        byte* to = (byte*)((long)dst + d->Addend), from = (byte*)((long)src + s->Addend);
        if (to > from && to < from + bytes) return false;
        Buffer.MemoryCopy(from, to, bytes, bytes);
        _regs[6] = src + bytes;
        _regs[7] = dst + bytes;
        _regs[1] = 0;
        return true;
    }
    private bool Lods(ref Op op) => RunString(ref op, &LodsStep, false);
    private bool Cmps(ref Op op) => RunString(ref op, &CmpsStep, true);
    private bool Scas(ref Op op) => RunString(ref op, &ScasStep, true);

    private static bool MovsStep(Cpu c, ref Op op)
    {
        if (!c.Read(c.SourceAddress(ref op), op.Size, out ulong v)) return false;
        if (!c.Write(c.StrReg(ref op, 7), op.Size, v)) return false;
        c.AdvanceStrReg(ref op, 6);
        c.AdvanceStrReg(ref op, 7);
        return true;
    }

    private static bool StosStep(Cpu c, ref Op op)
    {
        if (!c.Write(c.StrReg(ref op, 7), op.Size, c.GetReg(0, op.Size))) return false;
        c.AdvanceStrReg(ref op, 7);
        return true;
    }

    private static bool LodsStep(Cpu c, ref Op op)
    {
        if (!c.Read(c.SourceAddress(ref op), op.Size, out ulong v)) return false;
        c.SetReg(0, op.Size, v);
        c.AdvanceStrReg(ref op, 6);
        return true;
    }

    private static bool CmpsStep(Cpu c, ref Op op)
    {
        if (!c.Read(c.SourceAddress(ref op), op.Size, out ulong a)) return false;
        if (!c.Read(c.StrReg(ref op, 7), op.Size, out ulong b)) return false;
        c.SetFlags(FlagOp.Sub, op.Size, a, b, (a - b) & FlagMath.Mask(op.Size));
        c.AdvanceStrReg(ref op, 6);
        c.AdvanceStrReg(ref op, 7);
        return true;
    }

    private static bool ScasStep(Cpu c, ref Op op)
    {
        if (!c.Read(c.StrReg(ref op, 7), op.Size, out ulong b)) return false;
        ulong a = c.GetReg(0, op.Size);
        c.SetFlags(FlagOp.Sub, op.Size, a, b, (a - b) & FlagMath.Mask(op.Size));
        c.AdvanceStrReg(ref op, 7);
        return true;
    }
}
