using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Data movement (the interpreter's DataMove.cs and the specialised mov forms): mov, movzx/movsx,
/// lea, xchg, bswap, cbw/cwd, push/pop, leave, cmov, setcc. Same operand order and fault points as
/// the interpreter handlers: every register write comes after the memory access that can fault.
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>The data-movement family, by kind.</summary>
    private void EmitMove(ref Op op)
    {
        switch (op.Kind)
        {
            case OpKind.MovRR64: GetReg(op.R1, 8); SetReg(op.R0, 8); break;
            case OpKind.MovRR32: GetReg(op.R1, 4); SetReg(op.R0, 8); break;
            case OpKind.MovRI64: Const(op.Imm); SetReg(op.R0, 8); break;
            case OpKind.MovRI32: Const((uint)op.Imm); SetReg(op.R0, 8); break;
            case OpKind.MovRM64: Load(ref op, 8, _tV); _il.Emit(OpCodes.Ldloc, _tV); SetReg(op.R0, 8); break;
            case OpKind.MovRM32: Load(ref op, 4, _tV); _il.Emit(OpCodes.Ldloc, _tV); SetReg(op.R0, 8); break;
            case OpKind.MovMR64: Store(ref op, 8, RegValue(op.R1)); break;
            case OpKind.MovMR32: Store(ref op, 4, RegValue(op.R1)); break;
            case OpKind.MovMI: Store(ref op, op.Size, Val.Of(op.Imm)); break;
            case OpKind.MovMR when op.R1 < 16:
                Store(ref op, op.Size, RegValue(op.R1));   // the store writes the low bytes: no copy to truncate first
                break;
            case OpKind.MovMR:
                GetReg(op.R1, op.Size); _il.Emit(OpCodes.Stloc, _tS);   // ah, ch, dh, bh: bits 8..15
                Store(ref op, op.Size, _tS);
                break;
            case OpKind.MovRM: Load(ref op, op.Size, _tV); _il.Emit(OpCodes.Ldloc, _tV); SetReg(op.R0, op.Size, zeroExtended: true); break;
            case OpKind.Mov:
                ReadSrc(ref op, op.Size);
                _il.Emit(OpCodes.Stloc, _tS);
                WriteDst(ref op, op.Size, _tS);
                break;
            case OpKind.Movzx:
                ReadSrc(ref op, op.Size2);
                SetReg(op.R0, op.Size);
                break;
            case OpKind.Movsx:
                if (op.Form == Form.RR) GetRegSigned(op.R1, op.Size2);
                else { ReadSrc(ref op, op.Size2); SignExtend(op.Size2); }
                SetReg(op.R0, op.Size);   // SetReg truncates to the destination size
                break;
            case OpKind.MovzxRR: GetReg(op.R1, op.Size2); SetReg(op.R0, 8); break;
            case OpKind.MovzxRM: Load(ref op, op.Size2, _tV); _il.Emit(OpCodes.Ldloc, _tV); SetReg(op.R0, 8); break;
            case OpKind.MovsxRR:
                GetRegSigned(op.R1, op.Size2);
                SetReg(op.R0, op.Size == 8 ? 8 : 4);
                break;
            case OpKind.MovsxRM:
                Load(ref op, op.Size2, _tV, signed: true, to32: op.Size != 8); _il.Emit(OpCodes.Ldloc, _tV);
                SetReg(op.R0, op.Size == 8 ? 8 : 4, zeroExtended: true);
                break;
            case OpKind.Lea: EmitAddress(ref op); SetReg(op.R0, op.Size); break;
            case OpKind.Xchg:
                GetReg(op.R0, op.Size); _il.Emit(OpCodes.Stloc, _tD);
                GetReg(op.R1, op.Size); _il.Emit(OpCodes.Stloc, _tS);
                _il.Emit(OpCodes.Ldloc, _tS); SetReg(op.R0, op.Size, zeroExtended: true);
                _il.Emit(OpCodes.Ldloc, _tD); SetReg(op.R1, op.Size, zeroExtended: true);
                break;
            case OpKind.Bswap: EmitBswap(ref op); break;
            case OpKind.Cbw:
                GetRegSigned(0, op.Size / 2);
                SetReg(0, op.Size);
                break;
            case OpKind.Cwd:
                // rdx (of the size) = all ones when the accumulator is negative, else 0.
                GetRegSigned(0, op.Size);
                _il.Emit(OpCodes.Ldc_I4, 63); _il.Emit(OpCodes.Shr);
                SetReg(2, op.Size);
                break;
            case OpKind.PushR64:
                {
                    LocalBuilder src = RegValue(op.R0);
                    EmitPush(8, () => _il.Emit(OpCodes.Ldloc, src));
                    break;
                }
            case OpKind.Push: EmitPushGeneric(ref op); break;
            case OpKind.PopR64: EmitPop(op.R0, 8); break;
            case OpKind.Pop: EmitPop(op.R0, op.Size); break;
            case OpKind.Leave: EmitLeave(); break;
            case OpKind.Cmov: EmitCmov(ref op); break;
            case OpKind.Setcc: EmitSetcc(ref op); break;
            default: throw new InvalidOperationException($"JIT: no emitter for {op.Kind}");
        }
    }

    /// <summary>bswap r32/r64; the undefined 16-bit form gives 0 as in the interpreter.</summary>
    private void EmitBswap(ref Op op)
    {
        if (op.Size == 8)
        {
            LoadReg(op.R0);
            _il.Emit(OpCodes.Call, JitMembers.Bswap64);
            SetReg(op.R0, 8);
        }
        else if (op.Size == 4)
        {
            LoadReg(op.R0);
            _il.Emit(OpCodes.Conv_U4);
            _il.Emit(OpCodes.Call, JitMembers.Bswap32);
            _il.Emit(OpCodes.Conv_U8);
            SetReg(op.R0, 8);
        }
        else { Const(0); SetReg(op.R0, 2); }   // 16-bit bswap: hardware gives 0
    }

    /// <summary>sp = rsp - size; write the pushed value at sp (may fault); then rsp = sp. A member of a stack group writes through the group's pointer.</summary>
    private void EmitPush(int size, Action pushValue)
    {
        pushValue();
        _il.Emit(OpCodes.Stloc, _tS);
        LoadReg(4);
        Const((ulong)size);
        _il.Emit(OpCodes.Sub);
        _il.Emit(OpCodes.Stloc, _tA);
        if (_groupOf[_i] >= 0)
        {
            Op op = _ops[_i];
            EmitGroupAccess(ref op, size, write: true, () => StoreAtHost(size, _tS), () => _il.Emit(OpCodes.Ldloc, _tA));
        }
        else StoreAt(_tA, size, _tS);
        _il.Emit(OpCodes.Ldloc, _tA);
        SetReg(4, 8);
    }

    /// <summary>push r/m/imm of size 2 or 8: a memory source is read first.</summary>
    private void EmitPushGeneric(ref Op op)
    {
        int size = op.Size;
        switch (op.Form)
        {
            case Form.R: GetReg(op.R0, size); break;
            case Form.M: Load(ref op, size, _tV); _il.Emit(OpCodes.Ldloc, _tV); break;
            default: Const(op.Imm); break;
        }
        EmitPush(size, () => { });
    }

    /// <summary>pop r: read at rsp (may fault), rsp += size, then the register (so pop rsp loads the value). A member of a stack group reads through the group's pointer.</summary>
    private void EmitPop(int r, int size)
    {
        LoadReg(4);
        _il.Emit(OpCodes.Stloc, _tA);
        if (_groupOf[_i] >= 0)
        {
            Op op = _ops[_i];
            EmitGroupAccess(ref op, size, write: false, () => LoadAtHost(size, _tV), () => _il.Emit(OpCodes.Ldloc, _tA));
        }
        else LoadAt(_tA, size, _tV);
        _il.Emit(OpCodes.Ldloc, _tA);
        Const((ulong)size);
        _il.Emit(OpCodes.Add);
        SetReg(4, 8);
        _il.Emit(OpCodes.Ldloc, _tV);
        SetReg(r, size);
    }

    /// <summary>leave: rbp's saved value is read at rbp (may fault); rsp = rbp + 8; rbp = that value.</summary>
    private void EmitLeave()
    {
        LoadReg(5);
        _il.Emit(OpCodes.Stloc, _tA);
        LoadAt(_tA, 8, _tV);
        _il.Emit(OpCodes.Ldloc, _tA);
        Const(8);
        _il.Emit(OpCodes.Add);
        SetReg(4, 8);
        _il.Emit(OpCodes.Ldloc, _tV);
        SetReg(5, 8);
    }

    /// <summary>
    /// cmovcc: the source is always read; a 32-bit destination is zero-extended even when the condition
    /// is false. Two forms, chosen per cmov (<see cref="CmovAsBranch"/>). Branch-free ((src &amp; m) |
    /// (dst &amp; ~m), m = -cond): gcc picks cmov for conditions it expects to be unpredictable (a max in
    /// a DP table, a CRC's bit), and RyuJIT neither emits cmov inside loops nor predicts such a branch;
    /// as a branch a random condition cost a misprediction every other time. An and, an andn and an or:
    /// two cycles from the mask or either value to the result, where dst ^ ((dst ^ src) &amp; m) took
    /// three from the values (a bitwise CRC-16, whose cmov carries the loop: 4-8% faster), except in a
    /// region crowded with register locals, where it holds one value too many (<see cref="EmitCmovXor"/>).
    /// Or a branch around a move (<see cref="EmitCmovBranch"/>).
    /// </summary>
    private void EmitCmov(ref Op op)
    {
        if (CmovAsBranch(_i)) { EmitCmovBranch(ref op); return; }
        if (_manyLocals) { EmitCmovXor(ref op); return; }
        ReadSrc(ref op, op.Size);
        _il.Emit(OpCodes.Stloc, _tS);
        EmitCondition(op.Cond);
        _il.Emit(OpCodes.Conv_U8);
        _il.Emit(OpCodes.Neg);
        _il.Emit(OpCodes.Stloc, _tD);
        _il.Emit(OpCodes.Ldloc, _tS);
        _il.Emit(OpCodes.Ldloc, _tD);
        _il.Emit(OpCodes.And);
        LoadReg(op.R0);
        _il.Emit(OpCodes.Ldloc, _tD);
        _il.Emit(OpCodes.Not);
        _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Or);
        SetReg(op.R0, op.Size);
    }

    /// <summary>
    /// Branch-free cmovcc in a region whose registers crowd the host's (<see cref="_manyLocals"/>):
    /// dst ^ ((dst ^ src) &amp; m), in locals only a memory source (the read comes first). The and,
    /// andn and or form holds the mask in a local and src &amp; m while it computes dst &amp; ~m, one
    /// value more than this, and in such regions RyuJIT spilled both to the stack at every pass and
    /// reloaded them at once (nbench fpemu's shift of its mantissas, a cmov carrying the bit out of
    /// each 16-bit word: four stack accesses per cmov, now at most two).
    /// </summary>
    private void EmitCmovXor(ref Op op)
    {
        _cmovXors++;
        if (op.Form == Form.RM) Load(ref op, op.Size, _tV);   // the read first: it faults whatever the condition
        EmitCondition(op.Cond);
        _il.Emit(OpCodes.Conv_U8);
        _il.Emit(OpCodes.Neg);
        LoadReg(op.R0);
        ReadSrcLoaded(ref op);   // only the low bytes count: SetReg truncates or merges
        _il.Emit(OpCodes.Xor);
        _il.Emit(OpCodes.And);
        LoadReg(op.R0);
        _il.Emit(OpCodes.Xor);
        SetReg(op.R0, op.Size);
    }

    /// <summary>
    /// cmovcc as a branch around the move: the memory source read first (it faults whatever the
    /// condition), then the condition; not taken, a 32-bit destination is still zero-extended. No mask
    /// and no value of the source held in a temporary across it: in a region whose guest registers fill
    /// the host's, RyuJIT spilled the branch-free form's two temporaries and reloaded them at once, each
    /// reload waiting for its store (ADPCM's clamps of the predicted value, three cmovs in a row).
    /// </summary>
    private void EmitCmovBranch(ref Op op)
    {
        if (op.Form == Form.RM) Load(ref op, op.Size, _tV);
        var notTaken = _il.DefineLabel();
        var done = _il.DefineLabel();
        EmitCondition(op.Cond);
        _il.Emit(OpCodes.Brfalse, notTaken);
        if (op.Form == Form.RM) _il.Emit(OpCodes.Ldloc, _tV);
        else GetReg(op.R1, op.Size);
        SetReg(op.R0, op.Size);
        _il.Emit(OpCodes.Br, done);
        _il.MarkLabel(notTaken);
        if (op.Size == 4)
        {
            LoadReg(op.R0);
            SetReg(op.R0, 4);
        }
        _il.MarkLabel(done);
    }

    /// <summary>The cmovs compiled by <see cref="EmitCmovXor"/> (Cpu.JitCmovXors).</summary>
    private int _cmovXors;

    /// <summary>Runs of a cmov the interpreter must have profiled before its flips count (<see cref="CmovAsBranch"/>).</summary>
    private const int CmovMinRuns = 32;

    /// <summary>
    /// Whether cmov k compiles as a branch (<see cref="EmitCmovBranch"/>): when its condition flipped in
    /// fewer than one of eight of the runs the interpreter profiled (<see cref="CmovProfile"/>; at least
    /// <see cref="CmovMinRuns"/> of them), or when its result soon becomes an address
    /// (<see cref="CmovFeedsAddress"/>): a heap's sift-down picks the larger child with a cmov and loads
    /// it next, and a predicted branch lets the host start that load before the compare that picks it
    /// (BEEBS sglib-arrayheapsort 17% faster, though the child flips every other time). Else
    /// branch-free: a condition that flips often (a bitwise CRC's top bit) costs a misprediction each
    /// time as a branch (hard.c's CRC-16 50% slower, huffbench 17%). Measured, best of three: ADPCM 14% and
    /// huffbench 3 to 12% faster, CoreMark (every cmov branch-free) unchanged.
    /// </summary>
    private bool CmovAsBranch(int k)
    {
        ref Op op = ref _ops[k];
        uint runs = CmovProfile.Runs(op.Imm), flips = CmovProfile.Flips(op.Imm);
        if (!(runs >= CmovMinRuns && flips * 8 < runs) && !CmovFeedsAddress(k)) return false;
        _cmovBranches.Add(k);
        return true;
    }

    /// <summary>setcc r8/m8: the condition as 0/1 (a memory destination may fault after the flags are read).</summary>
    private void EmitSetcc(ref Op op)
    {
        EmitCondition(op.Cond);
        _il.Emit(OpCodes.Conv_U8);
        _il.Emit(OpCodes.Stloc, _tS);
        if (op.Form == Form.R)
        {
            _il.Emit(OpCodes.Ldloc, _tS);
            SetReg(op.R0, 1);
        }
        else Store(ref op, 1, _tS);
    }

    /// <summary>
    /// Whether cmov k's destination, or a copy, extension or lea of it, is the base or index of a memory
    /// access within the next 12 ops along the fall-through path (through the region's member blocks;
    /// not past a jump, call or return), before something else overwrites it.
    /// </summary>
    private bool CmovFeedsAddress(int k)
    {
        uint mask = 1u << _ops[k].R0;
        int i = k + 1;
        for (int steps = 0; steps < 12 && mask != 0; steps++, i++)
        {
            int b = _blockOf[i - 1];
            if (i >= OpsEnd(b))
            {
                ref Op last = ref _ops[i - 1];
                if (last.Kind is OpKind.Jmp or OpKind.Ret or OpKind.JmpIndirect or OpKind.CallIndirect or OpKind.Call) return false;
                if (!_indexOf.TryGetValue(last.NextIp, out int j)) return false;
                i = _first[j];
            }
            ref Op op = ref _ops[i];
            bool inAddress = Tracked(op.Base) || Tracked(op.Index);
            if (inAddress && op.Kind != OpKind.Lea && AccessesMemory(ref op)) return true;
            bool copy = op.Kind is OpKind.MovRR64 or OpKind.MovRR32 or OpKind.MovsxRR or OpKind.MovzxRR
                || op.Kind is OpKind.Mov or OpKind.Movsx or OpKind.Movzx && op.Form == Form.RR;
            if (copy && Tracked(op.R1) || op.Kind == OpKind.Lea && inAddress) { if (op.R0 < 16) mask |= 1u << op.R0; continue; }
            mask &= ~(Compares(ref op) ? 0 : RegistersWritten(ref op));   // overwritten: no longer the cmov's value
        }
        return false;

        bool Tracked(byte r) => r < 16 && (mask & (1u << r)) != 0;
    }
}
