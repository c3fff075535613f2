using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// The block's last instruction: jmp, jcc, call, ret, indirect jmp/call. Each leaves through a
/// normal exit that sets rip. A jmp/jcc back to the block's own start instead loops inside the
/// method while the budget covers another whole iteration, no stop was requested and no code was
/// invalidated (a store may have rewritten this very block); otherwise it exits with rip = the start.
/// </summary>
internal sealed unsafe partial class BlockCompiler
{
    /// <summary>The block-ending transfer: pushes/pops as the interpreter does (faults before rsp changes), then exits or loops.</summary>
    private void EmitControl(ref Op op)
    {
        ulong next = op.NextIp, target = op.Imm;
        switch (op.Kind)
        {
            case OpKind.Jmp:
                EmitJumpTo(target);
                break;
            case OpKind.Jcc:
                {
                    var taken = _il.DefineLabel();
                    EmitCondition(op.Cond);
                    _il.Emit(OpCodes.Brtrue, taken);
                    EmitDirectExit(next);
                    _il.MarkLabel(taken);
                    EmitJumpTo(target);
                    break;
                }
            case OpKind.Call:
                EmitPush(8, () => Const(next));
                EmitExit(() => Const(target));
                break;
            case OpKind.Ret:
                _il.Emit(OpCodes.Ldloc, Reg(4));
                _il.Emit(OpCodes.Stloc, _tA);
                LoadAt(_tA, 8, _tV);
                _il.Emit(OpCodes.Ldloc, _tA);
                Const(8 + op.Imm);
                _il.Emit(OpCodes.Add);
                SetReg(4, 8);
                _il.Emit(OpCodes.Ldloc, _tV);
                _il.Emit(OpCodes.Stloc, _tD);
                EmitExit(() => _il.Emit(OpCodes.Ldloc, _tD));
                break;
            case OpKind.JmpIndirect:
            case OpKind.CallIndirect:
                if (op.Form == Form.R) GetReg(op.R0, op.Size);
                else { Load(ref op, op.Size, _tV); _il.Emit(OpCodes.Ldloc, _tV); }
                _il.Emit(OpCodes.Stloc, _tD);
                if (op.Kind == OpKind.CallIndirect) EmitPush(8, () => Const(next));
                EmitExit(() => _il.Emit(OpCodes.Ldloc, _tD));
                break;
        }
    }

    /// <summary>A direct jump: back to the block's start loops (see the class comment), anything else exits.</summary>
    private void EmitJumpTo(ulong target)
    {
        if (!_loop || target != _block.Va)
        {
            EmitDirectExit(target);
            return;
        }
        var leave = _il.DefineLabel();
        // done += n
        _il.Emit(OpCodes.Ldloc, _done!);
        Const((ulong)_n);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stloc, _done!);
        // a stop or leave request ends the run at this block boundary, as in the dispatcher
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Volatile);
        _il.Emit(OpCodes.Ldfld, JitMembers.ExitRequest);
        _il.Emit(OpCodes.Brtrue, leave);
        if (_inv0 != null)
        {
            _il.Emit(OpCodes.Ldarg_1);
            _il.Emit(OpCodes.Call, JitMembers.CodeInvalidations);
            _il.Emit(OpCodes.Ldloc, _inv0);
            _il.Emit(OpCodes.Bne_Un, leave);
        }
        // budget - done < n: the dispatcher runs the rest (possibly a partial block) itself
        _il.Emit(OpCodes.Ldarg_3);
        _il.Emit(OpCodes.Ldind_I8);
        _il.Emit(OpCodes.Ldloc, _done!);
        _il.Emit(OpCodes.Sub);
        Const((ulong)_n);
        _il.Emit(OpCodes.Blt_Un, leave);
        _il.Emit(OpCodes.Br, _body);
        _il.MarkLabel(leave);
        // All n ops of this iteration are already counted in done.
        EmitWriteBack(0, _curSetter, _curAux);
        _il.Emit(OpCodes.Ldarg_1);
        Const(_block.Va);
        _il.Emit(OpCodes.Stfld, JitMembers.Rip);
        _il.Emit(OpCodes.Ldc_I4, JitMembers.ExitNormal);
        _il.Emit(OpCodes.Ret);
    }
}
