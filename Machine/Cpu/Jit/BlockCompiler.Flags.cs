using System.Diagnostics;
using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Compile-time flag tracking. The lazy flag state has two parts: L = (op, size, a, b, r), written by
/// every flag-setter, and X = aux, written only by setters that record one (adc/sbb, inc/dec, shifts,
/// imul). Both are observed at every exit (the interpreter's exact representation is written back) and
/// by flag readers (jcc, setcc, cmov, adc/sbb, and inc/dec for the CF they keep). A backward liveness
/// pass marks which setters must compute L and X; the others compile to nothing. The op and size of a
/// setter are constants; its values live in the locals _fa, _fb, _fr, _faux.
/// </summary>
internal sealed unsafe partial class BlockCompiler
{
    /// <summary>What one op does to the flags, and what the liveness pass decided for it.</summary>
    private struct FlagUse
    {
        public bool Sets, Aux, Reads, FaultBefore, FaultAfter, ComputeL, ComputeX, IncDec, Helper;
        public FlagOp Kind;
        public byte Size;
    }

    private FlagUse[] _use = [];
    /// <summary>
    /// Last setter / aux setter emitted so far in this iteration: an op index, -1 = none yet (the
    /// state is what the block was entered with, or for a looping block possibly the last setter of the
    /// previous iteration), or <see cref="InCpu"/> after a handler call (the state is in the CPU fields).
    /// </summary>
    private int _curSetter = -1, _curAux = -1;
    private const int InCpu = -2;
    /// <summary>Last setter / aux setter of the block: what a looping block's earlier iteration left.</summary>
    private int _lastSetter = -1, _lastAux = -1;
    private LocalBuilder _fa = null!, _fb = null!, _fr = null!, _faux = null!;

    /// <summary>Classifies every op and runs the backward liveness pass (see the class comment).</summary>
    private void AnalyseFlags()
    {
        _use = new FlagUse[_n];
        for (int k = 0; k < _n; k++)
        {
            _use[k] = Supports(ref _ops[k])
                ? Classify(ref _ops[k])
                : new FlagUse { Helper = true, Sets = true, Reads = true, FaultBefore = true };
            // After a handler call the state is in the CPU fields, as at block entry.
            if (_use[k].Helper) _lastSetter = _lastAux = -1;
            else if (_use[k].Sets) { _lastSetter = k; if (_use[k].Aux) _lastAux = k; }
        }
        bool liveL = true, liveX = true;   // every exit observes both
        for (int k = _n - 1; k >= 0; k--)
        {
            ref FlagUse u = ref _use[k];
            if (u.FaultAfter) liveL = liveX = true;
            if (u.Sets)
            {
                u.ComputeL = liveL;
                u.ComputeX = u.Aux && liveX;
                liveL = false;
                if (u.Aux) liveX = false;
                if (u.IncDec) u.Reads = u.ComputeX;   // inc/dec read CF only to keep it in aux
            }
            if (u.Reads || u.FaultBefore) liveL = liveX = true;
        }
    }

    /// <summary>The flag effect of one op, mirroring its interpreter handler's order of reads, writes and SetFlags.</summary>
    private static FlagUse Classify(ref Op op)
    {
        var u = new FlagUse { FaultBefore = AccessesMemory(ref op), Size = op.Size };
        bool memDst = op.Form is Form.M or Form.MR or Form.MI;
        switch (op.Kind)
        {
            case OpKind.Jcc: case OpKind.Setcc: case OpKind.Cmov:
                u.Reads = true; break;
            case OpKind.IncDecR64: case OpKind.IncDecR32: case OpKind.Inc: case OpKind.Dec:
                u.Sets = u.Aux = u.IncDec = true;
                u.Kind = op.Kind == OpKind.Inc || (op.Kind != OpKind.Dec && op.Cond == 0) ? FlagOp.Inc : FlagOp.Dec;
                break;
            case OpKind.Neg:
                u.Sets = true; u.Kind = FlagOp.Neg; break;
            case OpKind.ShiftRI64: case OpKind.ShiftRI32: case OpKind.Shift:
                if (ShiftCount(ref op) != 0) { u.Sets = u.Aux = true; u.Kind = FlagOp.ResultAux; }
                break;
            case OpKind.Imul2: case OpKind.Imul3:
                u.Sets = u.Aux = true; u.Kind = FlagOp.ResultAux; break;
            default:
                if (!IsAluKind(op.Kind)) break;
                var sub = (AluOp)op.Cond;
                u.Sets = true;
                u.Kind = sub switch
                {
                    AluOp.Add => FlagOp.Add,
                    AluOp.Adc => FlagOp.Adc,
                    AluOp.Sbb => FlagOp.Sbb,
                    AluOp.Sub or AluOp.Cmp => FlagOp.Sub,
                    _ => FlagOp.Logic,
                };
                u.Aux = u.Reads = sub is AluOp.Adc or AluOp.Sbb;
                // The generic handler sets the flags before it writes a memory destination.
                u.FaultAfter = memDst && sub is not (AluOp.Cmp or AluOp.Test);
                break;
        }
        return u;
    }

    /// <summary>Whether the op touches guest memory (so it can fault).</summary>
    private static bool AccessesMemory(ref Op op) => op.Kind switch
    {
        OpKind.Push or OpKind.PushR64 or OpKind.Pop or OpKind.PopR64 or OpKind.Leave
            or OpKind.Call or OpKind.Ret or OpKind.CallIndirect => true,
        OpKind.Lea or OpKind.Nop or OpKind.Jmp or OpKind.Jcc => false,
        _ => op.Form is Form.M or Form.RM or Form.MR or Form.MI,
    };

    /// <summary>
    /// Records the current op's flag results: L from (a, b, r) when live, X from aux when live. The
    /// values are locals or constants; the op and size are compile-time constants.
    /// </summary>
    private void SetFlags(FlagOp kind, int size, Val a, Val b, Val r, Val aux = default)
    {
        ref FlagUse u = ref _use[_i];
        Debug.Assert(u.Sets && u.Kind == kind && u.Size == size, $"flag classification disagrees at op {_i}");
        if (u.ComputeL)
        {
            a.Push(this); _il.Emit(OpCodes.Stloc, _fa);
            b.Push(this); _il.Emit(OpCodes.Stloc, _fb);
            r.Push(this); _il.Emit(OpCodes.Stloc, _fr);
        }
        if (u.ComputeX) { aux.Push(this); _il.Emit(OpCodes.Stloc, _faux); }
        _curSetter = _i;
        if (u.Aux) _curAux = _i;
    }

    /// <summary>Stores the lazy flag state at an exit (see <see cref="EmitWriteBack"/>).</summary>
    private void EmitStoreFlags(int setter, int aux)
    {
        if (setter >= 0) StoreL(setter);
        else if (setter == -1 && _loop && _lastSetter >= 0) IfLaterIteration(() => StoreL(_lastSetter));
        if (aux >= 0) StoreX();
        else if (aux == -1 && _loop && _lastAux >= 0) IfLaterIteration(StoreX);
    }

    /// <summary>Stores L (op and size constants of <paramref name="setter"/>, a, b, r from the locals) into the CPU.</summary>
    private void StoreL(int setter)
    {
        FlagUse u = _use[setter];
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldc_I4, (int)u.Kind); _il.Emit(OpCodes.Stfld, JitMembers.Fop);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldc_I4, (int)u.Size); _il.Emit(OpCodes.Stfld, JitMembers.Fsize);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldloc, _fa); _il.Emit(OpCodes.Stfld, JitMembers.Fa);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldloc, _fb); _il.Emit(OpCodes.Stfld, JitMembers.Fb);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldloc, _fr); _il.Emit(OpCodes.Stfld, JitMembers.Fr);
    }

    /// <summary>Stores X (aux) into the CPU.</summary>
    private void StoreX()
    {
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldloc, _faux); _il.Emit(OpCodes.Stfld, JitMembers.Faux);
    }

    /// <summary>Emits <paramref name="body"/> guarded by "an earlier iteration of this looping block ran".</summary>
    private void IfLaterIteration(Action body)
    {
        var skip = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, _done!);
        _il.Emit(OpCodes.Brfalse, skip);
        body();
        _il.MarkLabel(skip);
    }

    /// <summary>Pushes condition cc (0/1, int32) on the flag state at this point, as <c>Cpu.Condition</c> would compute it.</summary>
    private void EmitCondition(int cc)
    {
        if (_curSetter >= 0) { InlineCondition(_use[_curSetter], cc); return; }
        if (!(_curSetter == -1 && _loop && _lastSetter >= 0)) { CallCpuCondition(cc); return; }
        var later = _il.DefineLabel();
        var end = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, _done!);
        _il.Emit(OpCodes.Brtrue, later);
        CallCpuCondition(cc);
        _il.Emit(OpCodes.Br, end);
        _il.MarkLabel(later);
        InlineCondition(_use[_lastSetter], cc);
        _il.MarkLabel(end);
    }

    /// <summary>Pushes Cpu.Condition(cc) on the CPU's own lazy state (valid while the block has not set flags).</summary>
    private void CallCpuCondition(int cc)
    {
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldc_I4, cc);
        _il.Emit(OpCodes.Call, JitMembers.Condition);
    }

    /// <summary>Pushes CF (0/1, int32) on the flag state at this point, as <c>Cpu.CarryFlag</c> would compute it.</summary>
    private void EmitCarry()
    {
        if (_curSetter >= 0) { InlineCarry(_use[_curSetter]); return; }
        if (!(_curSetter == -1 && _loop && _lastSetter >= 0)) { CallCpuCarry(); return; }
        var later = _il.DefineLabel();
        var end = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, _done!);
        _il.Emit(OpCodes.Brtrue, later);
        CallCpuCarry();
        _il.Emit(OpCodes.Br, end);
        _il.MarkLabel(later);
        InlineCarry(_use[_lastSetter]);
        _il.MarkLabel(end);
    }

    /// <summary>Pushes Cpu.CarryFlag() on the CPU's own lazy state.</summary>
    private void CallCpuCarry()
    {
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Call, JitMembers.CarryFlag);
    }

    /// <summary>CF from the locals of a setter of known kind: a compare for sub/add, 0 for logic, else the helper.</summary>
    private void InlineCarry(FlagUse s)
    {
        switch (s.Kind)
        {
            case FlagOp.Sub: Cmp(_fa, _fb, OpCodes.Clt_Un); break;
            case FlagOp.Add: Cmp(_fr, _fa, OpCodes.Clt_Un); break;
            case FlagOp.Logic: _il.Emit(OpCodes.Ldc_I4_0); break;
            default:
                HelperArgs(s);
                _il.Emit(OpCodes.Call, JitMembers.HelperCarry);
                break;
        }
    }

    /// <summary>Condition cc from the locals of a setter of known kind: plain compares for the common cases, else the helper.</summary>
    private void InlineCondition(FlagUse s, int cc)
    {
        if (s.Kind == FlagOp.Sub && cc is >= 2 and <= 7)
        {
            switch (cc)
            {
                case 2: Cmp(_fa, _fb, OpCodes.Clt_Un); return;
                case 3: Cmp(_fa, _fb, OpCodes.Clt_Un); Not(); return;
                case 4: Cmp(_fa, _fb, OpCodes.Ceq); return;
                case 5: Cmp(_fa, _fb, OpCodes.Ceq); Not(); return;
                case 6: Cmp(_fa, _fb, OpCodes.Cgt_Un); Not(); return;
                default: Cmp(_fa, _fb, OpCodes.Cgt_Un); return;
            }
        }
        if (s.Kind == FlagOp.Sub && cc >= 12)
        {
            _il.Emit(OpCodes.Ldloc, _fa); SignExtend(s.Size);
            _il.Emit(OpCodes.Ldloc, _fb); SignExtend(s.Size);
            switch (cc)
            {
                case 12: _il.Emit(OpCodes.Clt); return;
                case 13: _il.Emit(OpCodes.Clt); Not(); return;
                case 14: _il.Emit(OpCodes.Cgt); Not(); return;
                default: _il.Emit(OpCodes.Cgt); return;
            }
        }
        if (s.Kind == FlagOp.Logic)
        {
            switch (cc)
            {
                case 0: case 2: _il.Emit(OpCodes.Ldc_I4_0); return;     // OF, CF are 0
                case 1: case 3: _il.Emit(OpCodes.Ldc_I4_1); return;
                case 6: ZeroTest(); return;                            // be: CF|ZF = ZF
                case 7: ZeroTest(); Not(); return;
                case 12: SignTest(s.Size); return;                     // l: SF != OF = SF
                case 13: SignTest(s.Size); Not(); return;
                case 14: ZeroTest(); SignTest(s.Size); _il.Emit(OpCodes.Or); return;
                case 15: ZeroTest(); SignTest(s.Size); _il.Emit(OpCodes.Or); Not(); return;
            }
        }
        if (s.Kind == FlagOp.Add && cc is 2 or 3)
        {
            Cmp(_fr, _fa, OpCodes.Clt_Un);
            if (cc == 3) Not();
            return;
        }
        switch (cc)
        {
            // Every lazy op keeps r truncated to its size, so ZF and SF come straight from it.
            case 4: ZeroTest(); return;
            case 5: ZeroTest(); Not(); return;
            case 8: SignTest(s.Size); return;
            case 9: SignTest(s.Size); Not(); return;
        }
        HelperArgs(s);
        _il.Emit(OpCodes.Ldc_I4, cc);
        _il.Emit(OpCodes.Call, JitMembers.HelperCondition);
    }

    /// <summary>Pushes (kind, size, a, b, r, aux) for the flag helpers.</summary>
    private void HelperArgs(FlagUse s)
    {
        _il.Emit(OpCodes.Ldc_I4, (int)s.Kind);
        _il.Emit(OpCodes.Ldc_I4, (int)s.Size);
        _il.Emit(OpCodes.Ldloc, _fa);
        _il.Emit(OpCodes.Ldloc, _fb);
        _il.Emit(OpCodes.Ldloc, _fr);
        _il.Emit(OpCodes.Ldloc, _faux);
    }

    /// <summary>Pushes x OP y (an int32 0/1 compare).</summary>
    private void Cmp(LocalBuilder x, LocalBuilder y, OpCode op)
    {
        _il.Emit(OpCodes.Ldloc, x);
        _il.Emit(OpCodes.Ldloc, y);
        _il.Emit(op);
    }

    /// <summary>Logical not of the int32 0/1 on the stack.</summary>
    private void Not()
    {
        _il.Emit(OpCodes.Ldc_I4_0);
        _il.Emit(OpCodes.Ceq);
    }

    /// <summary>Pushes 1 if the recorded result is zero.</summary>
    private void ZeroTest()
    {
        _il.Emit(OpCodes.Ldloc, _fr);
        _il.Emit(OpCodes.Ldc_I8, 0L);
        _il.Emit(OpCodes.Ceq);
    }

    /// <summary>Pushes 1 if the recorded result's sign bit (of the operand size) is set.</summary>
    private void SignTest(int size)
    {
        _il.Emit(OpCodes.Ldloc, _fr);
        _il.Emit(OpCodes.Ldc_I4, size * 8 - 1);
        _il.Emit(OpCodes.Shr_Un);
        _il.Emit(OpCodes.Conv_I4);
        _il.Emit(OpCodes.Ldc_I4_1);
        _il.Emit(OpCodes.And);
    }
}
