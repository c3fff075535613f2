namespace Lab.Machine.Cpu;

/// <summary>
/// Registers known to hold a value zero-extended from 32 bits: C's ints, written by 32-bit ops, which
/// x86 zero-extends. A 32-bit read of such a register needs no truncation (GetReg), and RyuJIT made a
/// <c>mov r32, r32</c> of each one, often two per op (fdct's rows, all int arithmetic, ran 25% slower).
/// Inside a block the IL generator follows the registers' locals as they are emitted
/// (<see cref="CountingILGenerator.ZeroExtended"/>); at a block's start it holds what every way into
/// the block leaves (<see cref="PlanZeroExtended"/>, from the ops' semantics).
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>Per block: the registers zero-extended from 32 bits on every way into it (none at an entry).</summary>
    private uint[] _zeroExtendedIn = [];

    /// <summary>
    /// Works out <see cref="_zeroExtendedIn"/>: for each block the registers that every predecessor
    /// leaves zero-extended (a fixed point from "all" down; entries and blocks no member reaches start
    /// with none; a prefix's block too).
    /// </summary>
    private void PlanZeroExtended()
    {
        int n = _blocks.Length;
        _zeroExtendedIn = new uint[n];
        if (_prefix) return;   // one block, its first ops only
        var atEnd = new uint[n];
        for (int j = 0; j < n; j++)
            _zeroExtendedIn[j] = _entries.Contains(j) || _predecessors[j].Count == 0 ? 0u : 0xFFFFu;
        for (int j = 0; j < n; j++) atEnd[j] = ZeroExtendedAfter(j, _zeroExtendedIn[j]);
        for (bool changed = true; changed;)
        {
            changed = false;
            for (int j = 0; j < n; j++)
            {
                if (_zeroExtendedIn[j] == 0) continue;
                uint into = 0xFFFF;
                foreach (int p in _predecessors[j]) into &= atEnd[p];
                if (into == _zeroExtendedIn[j]) continue;
                _zeroExtendedIn[j] = into;
                atEnd[j] = ZeroExtendedAfter(j, into);
                changed = true;
            }
        }
    }

    /// <summary>The registers zero-extended at block <paramref name="j"/>'s end when <paramref name="state"/> are at its start.</summary>
    private uint ZeroExtendedAfter(int j, uint state)
    {
        for (int k = _first[j]; k < _first[j] + _blocks[j].Count; k++)
        {
            ref Op op = ref _ops[k];
            if (!Supports(ref op)) { state = 0; continue; }   // its handler may write any register
            uint written = Compares(ref op) ? 0 : RegistersWritten(ref op);
            if (IsSseKind(op.Kind))
                foreach (byte r in (ReadOnlySpan<byte>)[op.R0, op.R1])
                    if (r < 16) written |= 1u << r;   // R0 may be a general register (movd, cvt, pextrw...)
            state &= ~written;
            if (WritesZeroExtended(ref op) && written == 1u << op.R0) state |= 1u << op.R0;
        }
        return state;
    }

    /// <summary>Whether the op writes its register R0 (0..15) a value zero-extended from 32 bits: a 32-bit result (x86 zero-extends it), a 32-bit load or constant, a byte or word zero-extended.</summary>
    private static bool WritesZeroExtended(ref Op op)
    {
        if (op.R0 >= 16) return false;
        switch (op.Kind)
        {
            case OpKind.MovRR32: case OpKind.MovRI32: case OpKind.MovRM32:
            case OpKind.Movzx: case OpKind.MovzxRR: case OpKind.MovzxRM:
                return op.Kind != OpKind.Movzx || op.Form is Form.RR or Form.RM;
            case OpKind.Mov: case OpKind.MovRM: case OpKind.Movsx: case OpKind.MovsxRR: case OpKind.MovsxRM:
            case OpKind.Lea: case OpKind.AddRR32: case OpKind.AddRI32: case OpKind.SubRR32: case OpKind.XorRR32:
            case OpKind.AndRI32: case OpKind.AluRR32: case OpKind.AluRI32: case OpKind.AluRM32:
            case OpKind.IncDecR32: case OpKind.Imul2: case OpKind.Imul3:
            case OpKind.Tzcnt: case OpKind.Lzcnt: case OpKind.Popcnt:
                return op.Size == 4 && op.Form is Form.RR or Form.RM or Form.RI or Form.R;
            case OpKind.Alu:
                return op.Size == 4 && op.Form is Form.RR or Form.RM or Form.RI && (AluOp)op.Cond is not (AluOp.Cmp or AluOp.Test);
            case OpKind.Inc: case OpKind.Dec: case OpKind.Neg: case OpKind.Not:
                return op.Size == 4 && op.Form == Form.R;
            case OpKind.ShiftRI32: case OpKind.Shift:
                // A shift by 0 writes nothing (the compiler emits none): only a constant count but 0.
                return op.Size == 4 && op.Form == Form.R && (op.Kind == OpKind.ShiftRI32 || (op.Flags & OpFlags.HasImm) != 0) && ShiftCount(ref op) != 0;
            default:
                return false;
        }
    }
}
