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
    /// is false. Branch-free ((src &amp; m) | (dst &amp; ~m), m = -cond): gcc picks cmov for conditions it
    /// expects to be unpredictable (a max in a DP table, a CRC's bit), and RyuJIT neither emits cmov
    /// inside loops nor predicts such a branch; as a branch a random condition cost a misprediction
    /// every other time. An and, an andn and an or: two cycles from the mask or either value to the
    /// result, where dst ^ ((dst ^ src) &amp; m) took three from the values (a bitwise CRC-16, whose
    /// cmov carries the loop: 4-8% faster).
    /// </summary>
    private void EmitCmov(ref Op op)
    {
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
}
