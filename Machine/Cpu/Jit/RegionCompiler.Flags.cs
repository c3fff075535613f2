using System.Diagnostics;
using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Compile-time flag tracking. The lazy flag state is (op, size, a, b, r, aux); aux matters only after
/// the setters that record one (adc/sbb, inc/dec, shifts, imul), which always write it. In compiled code
/// the state lives in the locals _fkind (op and size), _fa, _fb, _fr, _faux (loaded at entry, stored at every
/// exit and around handler calls). Within a block the current setter is known at compile time: its op
/// and size are constants, and conditions after it compile to plain compares. At a block's start the
/// state is its one predecessor's known setter, or whatever the predecessors left in the locals
/// (<see cref="Dynamic"/>). A backward liveness pass over each block (its end counts as observed: a
/// successor or an exit may read it) marks which setters must compute the state; the others compile
/// to nothing (RegionCompiler.FlagPlan.cs).
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>Last setter emitted so far in this block (an op index), or <see cref="Dynamic"/>.</summary>
    private int _curSetter = Dynamic;
    /// <summary>The flag state is in the locals with a run-time op and size (block start, after a handler call).</summary>
    private const int Dynamic = -1;
    /// <summary>The flag locals: op | size &lt;&lt; 8 (one local: fewer values live across a loop), a, b, r, aux.</summary>
    private LocalBuilder _fkind = null!, _fa = null!, _fb = null!, _fr = null!, _faux = null!;

    /// <summary>
    /// Records the current op's flag results when live: a, b, r (and aux for the kinds that use it)
    /// into the flag locals, and the op and size too when the state leaves the block with them.
    /// </summary>
    private void SetFlags(FlagOp kind, int size, Val a, Val b, Val r, Val aux = default)
    {
        ref FlagUse u = ref _use[_i];
        Debug.Assert(u.Sets && u.Kind == kind && u.Size == size && !u.StateAtExit, $"flag classification disagrees at op {_i}");
        if (u.ComputeL)
        {
            // a and b only for the kinds whose flags read them (the others leave the locals stale, as
            // the interpreter's SetStatusFlags does): one or two moves fewer at every test/shift.
            // (An emitter may have put a value in its flag local already: a, b or r is then that local.)
            // (A shift whose aux waits for an exit keeps its operand in _fa instead: FlagUse.AuxAtExit;
            // an imul puts both its operands in _fa and _fb itself, RegionCompiler.EmitImul.)
            if ((ReadsA(kind) || u.AuxAtExit) && a.Local != _fa) { a.Push(this); _il.Emit(OpCodes.Stloc, _fa); }
            if (ReadsB(kind) && b.Local != _fb) { b.Push(this); _il.Emit(OpCodes.Stloc, _fb); }
            if (!Derived(kind) && r.Local != _fr) { r.Push(this); _il.Emit(OpCodes.Stloc, _fr); }
            if (UsesAux(kind) && !u.AuxAtExit) { aux.Push(this); _il.Emit(OpCodes.Stloc, _faux); }
            if (u.LastInBlock) { _il.Emit(OpCodes.Ldc_I4, (int)kind | size << 8); _il.Emit(OpCodes.Stloc, _fkind); }
        }
        _curSetter = _i;
    }

    /// <summary>
    /// The current op sets the flags and nothing observes them (AnalyseFlags): it becomes the block's
    /// setter, as <see cref="SetFlags"/> records one, with nothing to compute.
    /// </summary>
    private void UnobservedSetter()
    {
        Debug.Assert(_use[_i].Sets && !_use[_i].ComputeL, $"op {_i} has observed flags");
        _curSetter = _i;
    }

    /// <summary>
    /// The current op's flag state waits in its registers (<see cref="FlagUse.StateAtExit"/>): it
    /// becomes the block's setter, with nothing written to the flag locals.
    /// </summary>
    private void SetterAtExit()
    {
        Debug.Assert(_use[_i].StateAtExit, $"op {_i} keeps no state in its registers");
        _curSetter = _i;
    }

    /// <summary>
    /// Puts the whole flag state of this point in the flag locals, for the epilogue's
    /// <see cref="StoreFlagLocals"/>: a known setter's op and size, and r where the locals do not keep it
    /// (add and sub; and a run-time state, whose op may be either). The locals already hold the rest:
    /// a setter followed by anything that can leave computes its a, b, r and aux (AnalyseFlags).
    /// <paramref name="forRunTimeReaders"/>: the state is read next as a run-time one (at a member's
    /// start, or after a shift by CL whose zero count kept it), whose r JitHelpers.Result derives: add's
    /// and sub's r is then left out.
    /// </summary>
    private void MaterializeFlags(int setter, bool forRunTimeReaders = false, int at = -1)
    {
        if (setter >= 0 && _use[setter].ShiftAtExit) { MaterializeShiftAtExit(setter, forRunTimeReaders); return; }
        if (setter >= 0 && _use[setter].RotateAtExit) { MaterializeRotateAtExit(setter); return; }
        if (setter < 0) CompleteDeferredState(at < 0 ? _i : at);
        if (setter >= 0)
        {
            FlagUse u = _use[setter];
            _il.Emit(OpCodes.Ldc_I4, (int)u.Kind | u.Size << 8);
            _il.Emit(OpCodes.Stloc, _fkind);
            if (u.AuxAtExit && IsImul(ref _ops[setter])) EmitImulAux(u.Size, _faux);
            else if (u.AuxAtExit) EmitShiftAux(ref _ops[setter], _fa, _fr, _faux);
            if (u.StateAtExit && u.Kind == FlagOp.Logic) { PushResult(u); _il.Emit(OpCodes.Stloc, _fr); return; }
            if (u.StateAtExit) { PushA(u); _il.Emit(OpCodes.Stloc, _fa); PushB(u); _il.Emit(OpCodes.Stloc, _fb); }
            if (!Derived(u.Kind) || forRunTimeReaders) return;
            PushResult(u);
        }
        else DynamicResult();
        _il.Emit(OpCodes.Stloc, _fr);
    }

    /// <summary>
    /// Before op <paramref name="at"/> of a block an edge may enter with its state left in registers
    /// (PlanDeferredStates), up to the block's first setter: when the flag locals hold that setter's
    /// <see cref="DeferredKind"/>, puts its state in them from the registers, unchanged since.
    /// </summary>
    private void CompleteDeferredState(int at)
    {
        int j = _blockOf[at], s = _deferredIn[j];
        if (s < 0 || at > _firstSetter[j]) return;
        var whole = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, _fkind);
        _il.Emit(OpCodes.Ldc_I4, DeferredKind(s));
        _il.Emit(OpCodes.Bne_Un, whole);
        MaterializeFlags(s, forRunTimeReaders: true);
        _il.MarkLabel(whole);
    }

    /// <summary>Stores the flag locals, completed by <see cref="MaterializeFlags"/>, into the CPU's lazy flag state.</summary>
    private void StoreFlagLocals()
    {
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldloc, _fkind); _il.Emit(OpCodes.Stfld, JitMembers.Fop);   // a byte field: the low 8 bits
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldloc, _fkind); _il.Emit(OpCodes.Ldc_I4_8); _il.Emit(OpCodes.Shr_Un); _il.Emit(OpCodes.Stfld, JitMembers.Fsize);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldloc, _fa); _il.Emit(OpCodes.Stfld, JitMembers.Fa);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldloc, _fb); _il.Emit(OpCodes.Stfld, JitMembers.Fb);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldloc, _fr); _il.Emit(OpCodes.Stfld, JitMembers.Fr);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldloc, _faux); _il.Emit(OpCodes.Stfld, JitMembers.Faux);
    }

    /// <summary>Loads the CPU's lazy flag state into the flag locals (at entry and after a handler call).</summary>
    private void LoadFlags()
    {
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldfld, JitMembers.Fop);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldfld, JitMembers.Fsize); _il.Emit(OpCodes.Ldc_I4_8); _il.Emit(OpCodes.Shl);
        _il.Emit(OpCodes.Or); _il.Emit(OpCodes.Stloc, _fkind);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldfld, JitMembers.Fa); _il.Emit(OpCodes.Stloc, _fa);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldfld, JitMembers.Fb); _il.Emit(OpCodes.Stloc, _fb);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldfld, JitMembers.Fr); _il.Emit(OpCodes.Stloc, _fr);
        _il.Emit(OpCodes.Ldarg_1); _il.Emit(OpCodes.Ldfld, JitMembers.Faux); _il.Emit(OpCodes.Stloc, _faux);
    }

    /// <summary>An op reads the flag state here: it is no shift's or rotate's left for the exits (AnalyseFlags marks those only when no op reads them).</summary>
    [Conditional("DEBUG")]
    private void AssertStateReadable() =>
        Debug.Assert(_curSetter < 0 || !(_use[_curSetter].ShiftAtExit || _use[_curSetter].RotateAtExit), $"op {_i} reads the state of shift or rotate {_curSetter}, left for the exits");

    /// <summary>Pushes condition cc (0/1, int32) on the flag state at this point, as <c>Cpu.Condition</c> would compute it.</summary>
    private void EmitCondition(int cc)
    {
        AssertStateReadable();
        if (_curSetter >= 0) { InlineCondition(_use[_curSetter], cc); return; }
        DynamicHelperArgs();
        _il.Emit(OpCodes.Ldc_I4, cc);
        _il.Emit(OpCodes.Call, JitMembers.HelperCondition);
    }

    /// <summary>Pushes CF (0/1, int32) on the flag state at this point, as <c>Cpu.CarryFlag</c> would compute it.</summary>
    private void EmitCarry()
    {
        AssertStateReadable();
        if (_curSetter >= 0) { InlineCarry(_use[_curSetter]); return; }
        DynamicHelperArgs();
        _il.Emit(OpCodes.Call, JitMembers.HelperCarry);
    }

    /// <summary>Pushes the six status flags (as RFLAGS bits, ulong) of the flag state at this point, as <c>Cpu.StatusFlags</c> computes them.</summary>
    private void EmitStatusFlags()
    {
        AssertStateReadable();
        StatusFlagsOf(_curSetter);
    }

    /// <summary>Pushes the six status flags (RFLAGS bits, ulong) of setter <paramref name="setter"/>'s state: inline for a known setter, else from the flag locals through the helper.</summary>
    private void StatusFlagsOf(int setter)
    {
        if (setter >= 0) { InlineStatus(_use[setter]); return; }
        DynamicHelperArgs();
        _il.Emit(OpCodes.Call, JitMembers.HelperStatus);
    }

    /// <summary>The memory operand of a cmp or test whose state waits for its jcc and the exits (<see cref="InMemoryLocal"/>).</summary>
    private LocalBuilder _memoryOperand = null!;

    /// <summary>Scratch of <see cref="InlineStatus"/>: a, b and r of the setter.</summary>
    private LocalBuilder _sA = null!, _sB = null!, _sR = null!;

    /// <summary>
    /// Pushes the six status flags (RFLAGS bits, ulong) of known setter <paramref name="s"/>, as
    /// FlagMath.Compute: in IL for the kinds compiled code sets (no call, around which RyuJIT would save
    /// the guest registers it keeps in caller-saved host registers: qrduino's <c>and; ...; bt; jb</c>,
    /// whose exits observe the flags bt keeps, called the helper at every bt), else through the helper.
    /// </summary>
    private void InlineStatus(FlagUse s)
    {
        if (s.Kind == FlagOp.Explicit) { _il.Emit(OpCodes.Ldloc, _faux); Const(FlagMath.StatusMask); _il.Emit(OpCodes.And); return; }
        if (s.Kind is not (FlagOp.Logic or FlagOp.ResultAux or FlagOp.Add or FlagOp.Sub or FlagOp.Inc or FlagOp.Dec))
        {
            HelperArgs(s);
            _il.Emit(OpCodes.Call, JitMembers.HelperStatus);
            return;
        }
        LocalBuilder a = _sA, b = _sB, r = _sR;
        int bits = s.Size * 8;
        if (s.Kind != FlagOp.Logic && s.Kind != FlagOp.ResultAux) { PushA(s); _il.Emit(OpCodes.Stloc, a); }
        if (s.Kind is FlagOp.Add or FlagOp.Sub) { PushB(s); _il.Emit(OpCodes.Stloc, b); }
        if (Derived(s.Kind) && !(s.StateAtExit && s.OperandRecoverable))
        {
            // add's and sub's r from the a and b just read, not read again through PushResult.
            _il.Emit(OpCodes.Ldloc, a); _il.Emit(OpCodes.Ldloc, b);
            _il.Emit(s.Kind == FlagOp.Add ? OpCodes.Add : OpCodes.Sub);
            Truncate(s.Size);
        }
        else PushResult(s);
        _il.Emit(OpCodes.Stloc, r);
        // ZF | SF | PF from r (truncated to the size).
        _il.Emit(OpCodes.Ldloc, r); _il.Emit(OpCodes.Ldc_I8, 0L); _il.Emit(OpCodes.Ceq); _il.Emit(OpCodes.Conv_U8);
        _il.Emit(OpCodes.Ldc_I4, 6); _il.Emit(OpCodes.Shl);
        _il.Emit(OpCodes.Ldloc, r); SignBitTo(bits, FlagMath.SF); _il.Emit(OpCodes.Or);
        _il.Emit(OpCodes.Ldloc, r); Const(0xFF); _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Call, JitMembers.BitCount(nameof(System.Numerics.BitOperations.PopCount)));
        _il.Emit(OpCodes.Not); _il.Emit(OpCodes.Ldc_I4_1); _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Ldc_I4_2); _il.Emit(OpCodes.Shl); _il.Emit(OpCodes.Conv_U8);   // PF: an even count
        _il.Emit(OpCodes.Or);
        switch (s.Kind)
        {
            case FlagOp.Logic: return;
            case FlagOp.ResultAux:
                _il.Emit(OpCodes.Ldloc, _faux); Const(FlagMath.CF | FlagMath.OF); _il.Emit(OpCodes.And); _il.Emit(OpCodes.Or);
                return;
            case FlagOp.Add or FlagOp.Sub:
                bool add = s.Kind == FlagOp.Add;
                // CF: add r < a, sub a < b.
                _il.Emit(OpCodes.Ldloc, add ? r : a); _il.Emit(OpCodes.Ldloc, add ? a : b); _il.Emit(OpCodes.Clt_Un);
                _il.Emit(OpCodes.Conv_U8); _il.Emit(OpCodes.Or);
                // OF: add (a ^ r) & (b ^ r), sub (a ^ b) & (a ^ r), at the sign bit.
                _il.Emit(OpCodes.Ldloc, a); _il.Emit(OpCodes.Ldloc, add ? r : b); _il.Emit(OpCodes.Xor);
                _il.Emit(OpCodes.Ldloc, add ? b : a); _il.Emit(OpCodes.Ldloc, r); _il.Emit(OpCodes.Xor);
                _il.Emit(OpCodes.And); SignBitTo(bits, FlagMath.OF); _il.Emit(OpCodes.Or);
                // AF: a ^ b ^ r.
                _il.Emit(OpCodes.Ldloc, a); _il.Emit(OpCodes.Ldloc, b); _il.Emit(OpCodes.Xor); _il.Emit(OpCodes.Ldloc, r); _il.Emit(OpCodes.Xor);
                Const(FlagMath.AF); _il.Emit(OpCodes.And); _il.Emit(OpCodes.Or);
                return;
            default:
                // inc/dec: CF kept in aux; OF when inc's r or dec's a is the sign bit alone; AF from a ^ 1 ^ r.
                _il.Emit(OpCodes.Ldloc, _faux); Const(FlagMath.CF); _il.Emit(OpCodes.And); _il.Emit(OpCodes.Or);
                _il.Emit(OpCodes.Ldloc, s.Kind == FlagOp.Inc ? r : a); Const(FlagMath.SignBit(s.Size)); _il.Emit(OpCodes.Ceq);
                _il.Emit(OpCodes.Conv_U8); _il.Emit(OpCodes.Ldc_I4, 11); _il.Emit(OpCodes.Shl); _il.Emit(OpCodes.Or);
                _il.Emit(OpCodes.Ldloc, a); Const(1); _il.Emit(OpCodes.Xor); _il.Emit(OpCodes.Ldloc, r); _il.Emit(OpCodes.Xor);
                Const(FlagMath.AF); _il.Emit(OpCodes.And); _il.Emit(OpCodes.Or);
                return;
        }
    }

    /// <summary>Stack: a ulong; replaces it by its sign bit (of a <paramref name="bits"/>-bit operand) moved to <paramref name="flag"/>'s position, other bits 0.</summary>
    private void SignBitTo(int bits, ulong flag)
    {
        int shift = bits - 1 - System.Numerics.BitOperations.TrailingZeroCount(flag);
        if (shift > 0) { _il.Emit(OpCodes.Ldc_I4, shift); _il.Emit(OpCodes.Shr_Un); }
        else if (shift < 0) { _il.Emit(OpCodes.Ldc_I4, -shift); _il.Emit(OpCodes.Shl); }
        Const(flag);
        _il.Emit(OpCodes.And);
    }

    /// <summary>
    /// For a merging setter (bt, bsf, a rotate): pushes the status flags before it when the ones it
    /// keeps are observed (<see cref="FlagUse.KeptObserved"/>), else 0 (bt; jb reads CF alone).
    /// </summary>
    private void KeptStatusFlags()
    {
        if (_use[_i].KeptObserved) EmitStatusFlags();
        else Const(0);
    }

    /// <summary>Pushes (kind, size, a, b, r, aux) from the flag locals for the flag helpers.</summary>
    private void DynamicHelperArgs()
    {
        _il.Emit(OpCodes.Ldloc, _fkind); _il.Emit(OpCodes.Ldc_I4, 0xFF); _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Ldloc, _fkind); _il.Emit(OpCodes.Ldc_I4_8); _il.Emit(OpCodes.Shr_Un);
        _il.Emit(OpCodes.Ldloc, _fa);
        _il.Emit(OpCodes.Ldloc, _fb);
        DynamicResult();
        _il.Emit(OpCodes.Ldloc, _faux);
    }

    /// <summary>
    /// add and sub keep no r in the flag locals (one value fewer live across a loop): r is
    /// (a ± b) truncated to the size, computed where it is read.
    /// </summary>
    private static bool Derived(FlagOp kind) => kind is FlagOp.Add or FlagOp.Sub;

    /// <summary>Pushes r of a setter of known kind: derived for add/sub (and for a test whose state waits for an exit: a &amp; b), else the local.</summary>
    private void PushResult(FlagUse s)
    {
        if (s.StateAtExit && s.OperandRecoverable) { GetReg(s.RegA, s.Size); return; }   // r is the register's value
        if (s.StateAtExit && s.Kind == FlagOp.Logic)
        {
            PushA(s);
            if (s.RegB == s.RegA) return;   // test r, r
            PushB(s);
            _il.Emit(OpCodes.And);
            return;
        }
        if (!Derived(s.Kind)) { _il.Emit(OpCodes.Ldloc, _fr); return; }
        PushA(s);
        PushB(s);
        _il.Emit(s.Kind == FlagOp.Add ? OpCodes.Add : OpCodes.Sub);
        Truncate(s.Size);
    }

    /// <summary>Pushes r of the state in the flag locals whose op is known only at run time (JitHelpers.Result).</summary>
    private void DynamicResult()
    {
        _il.Emit(OpCodes.Ldloc, _fkind);
        _il.Emit(OpCodes.Ldloc, _fa);
        _il.Emit(OpCodes.Ldloc, _fb);
        _il.Emit(OpCodes.Ldloc, _fr);
        _il.Emit(OpCodes.Call, JitMembers.HelperResult);
    }

    /// <summary>CF from the locals of a setter of known kind: a compare for sub/add, 0 for logic, else the helper.</summary>
    private void InlineCarry(FlagUse s)
    {
        switch (s.Kind)
        {
            case FlagOp.Sub: Cmp(s, OpCodes.Clt_Un); break;
            case FlagOp.Add: PushResult(s); PushA(s); _il.Emit(OpCodes.Clt_Un); break;
            case FlagOp.Logic: _il.Emit(OpCodes.Ldc_I4_0); break;
            default:
                HelperArgs(s);
                _il.Emit(OpCodes.Call, JitMembers.HelperCarry);
                break;
        }
    }

    /// <summary>Converts the ulong on the stack to the signed operand of a <paramref name="size"/>-byte compare: int32 below 8 bytes, else as it is.</summary>
    private void SignedOperand(int size)
    {
        switch (size)
        {
            case 4: _il.Emit(OpCodes.Conv_I4); break;
            case 2: _il.Emit(OpCodes.Conv_I2); break;
            case 1: _il.Emit(OpCodes.Conv_I1); break;
        }
    }

    /// <summary>
    /// Condition cc of a sub whose register holds its result r = a - b (the state kept for the exits),
    /// tested on r itself where recomputing a as r + b first cost a lea: ZF, and CF after a sub of an
    /// immediate. Returns false, emitting nothing, for the other conditions.
    /// </summary>
    private bool SubResultCondition(FlagUse s, int cc)
    {
        switch (cc)
        {
            case 4 or 5:
                // ZF is r == 0, a test RyuJIT folds into the sub's own flags (a loop's `sub $1, %edx; jne`: dec; jne).
                ZeroTest(s);
                if (cc == 5) Not();
                return true;
            case 2 or 3 when s.RegB == Op.NoReg:
                // A borrow (a < imm) wraps r into the top imm values, so CF is r > mask - imm (one
                // compare). A countdown's `sub $1, %r8d; jae`: r != all ones.
                GetReg(s.RegA, s.Size);
                ulong top = FlagMath.Mask(s.Size) - s.ImmB;
                // Below 8 bytes a 32-bit compare: its immediate (0xfffffffe) is encodable where a 64-bit one's is not.
                if (s.Size < 8) { _il.Emit(OpCodes.Conv_U4); _il.Emit(OpCodes.Ldc_I4, (int)(uint)top); }
                else Const(top);
                _il.Emit(OpCodes.Cgt_Un);
                if (cc == 3) Not();
                return true;
            default:
                return false;
        }
    }

    /// <summary>Condition cc from the locals of a setter of known kind: plain compares for the common cases, else the helper.</summary>
    private void InlineCondition(FlagUse s, int cc)
    {
        if (s.Kind == FlagOp.Explicit) { ExplicitCondition(cc); return; }
        if (s.Kind == FlagOp.Sub && s.StateAtExit && s.OperandRecoverable && SubResultCondition(s, cc)) return;
        if (s.Kind == FlagOp.Sub && cc is >= 2 and <= 7)
        {
            switch (cc)
            {
                case 2: Cmp(s, OpCodes.Clt_Un); return;
                case 3: Cmp(s, OpCodes.Clt_Un); Not(); return;
                case 4: Cmp(s, OpCodes.Ceq); return;
                case 5: Cmp(s, OpCodes.Ceq); Not(); return;
                case 6: Cmp(s, OpCodes.Cgt_Un); Not(); return;
                default: Cmp(s, OpCodes.Cgt_Un); return;
            }
        }
        if (s.Kind == FlagOp.Sub && cc >= 12)
        {
            // Below 8 bytes the operands compare as int32 (conv.i4/i2/i1): one 32-bit cmp, no sign extensions.
            PushA(s); SignedOperand(s.Size);
            PushB(s); SignedOperand(s.Size);
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
                case 6: ZeroTest(s); return;                            // be: CF|ZF = ZF
                case 7: ZeroTest(s); Not(); return;
                case 12: SignTest(s); return;                     // l: SF != OF = SF
                case 13: SignTest(s); Not(); return;
                case 14: ResultVersusZero(s, OpCodes.Cgt); Not(); return;     // le: ZF | SF = r <= 0 (signed)
                case 15: ResultVersusZero(s, OpCodes.Cgt); return;            // g: r > 0
            }
        }
        if (s.Kind == FlagOp.Add && cc is 2 or 3)
        {
            PushResult(s); PushA(s); _il.Emit(OpCodes.Clt_Un);
            if (cc == 3) Not();
            return;
        }
        if (s.Kind != FlagOp.Explicit)
        {
            switch (cc)
            {
                // Every lazy op keeps r truncated to its size, so ZF and SF come straight from it.
                case 4: ZeroTest(s); return;
                case 5: ZeroTest(s); Not(); return;
                case 8: SignTest(s); return;
                case 9: SignTest(s); Not(); return;
            }
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
        PushA(s);
        PushB(s);
        PushResult(s);
        _il.Emit(OpCodes.Ldloc, _faux);
    }

    /// <summary>Pushes a OP b of known setter <paramref name="s"/> (an int32 0/1 compare).</summary>
    private void Cmp(FlagUse s, OpCode op)
    {
        PushA(s);
        PushB(s);
        _il.Emit(op);
    }

    /// <summary>Pushes operand register <paramref name="r"/> of a setter whose state waits in place: the register, or the loaded memory operand (<see cref="InMemoryLocal"/>).</summary>
    private void PushOperand(byte r, int size)
    {
        if (r == InMemoryLocal) _il.Emit(OpCodes.Ldloc, _memoryOperand);
        else GetReg(r, size);
    }

    /// <summary>Pushes a of known setter <paramref name="s"/>: _fa, or from the register itself (<see cref="FlagUse.StateAtExit"/>).</summary>
    private void PushA(FlagUse s)
    {
        if (!s.StateAtExit) { _il.Emit(OpCodes.Ldloc, _fa); return; }
        PushOperand(s.RegA, s.Size);
        if (!s.OperandRecoverable || s.Kind == FlagOp.Logic) return;   // a logic op's flags read r alone
        PushB(s);                                        // the register holds r = a ± b
        _il.Emit(s.Kind == FlagOp.Add ? OpCodes.Sub : OpCodes.Add);
        Truncate(s.Size);
    }

    /// <summary>Pushes b of known setter <paramref name="s"/>: _fb, or the register or immediate itself (<see cref="FlagUse.StateAtExit"/>).</summary>
    private void PushB(FlagUse s)
    {
        if (!s.StateAtExit) _il.Emit(OpCodes.Ldloc, _fb);
        else if (s.RegB == Op.NoReg) Const(s.ImmB);
        else PushOperand(s.RegB, s.Size);
    }

    /// <summary>Logical not of the int32 0/1 on the stack.</summary>
    private void Not()
    {
        _il.Emit(OpCodes.Ldc_I4_0);
        _il.Emit(OpCodes.Ceq);
    }

    /// <summary>Pushes 1 if the recorded result is zero.</summary>
    private void ZeroTest(FlagUse s)
    {
        if (s.Size < 8 && PushRegisterMasked(s, FlagMath.Mask(s.Size))) { _il.Emit(OpCodes.Ldc_I8, 0L); _il.Emit(OpCodes.Ceq); return; }
        PushResult(s);
        _il.Emit(OpCodes.Ldc_I8, 0L);
        _il.Emit(OpCodes.Ceq);
    }

    /// <summary>
    /// For a <c>test r, r</c> whose state waits in its register (any size below 8): pushes the register's
    /// local and <paramref name="mask"/>, with no truncation first (one <c>test r8, r8</c> or <c>test
    /// r8, imm</c> where the truncation added a movzx), and returns true; else pushes nothing.
    /// </summary>
    private bool PushRegisterMasked(FlagUse s, ulong mask)
    {
        if (!(s.StateAtExit && s.Kind == FlagOp.Logic && s.OperandsInRegisters && s.RegA == s.RegB && s.RegA < 16)) return false;
        LoadReg(s.RegA);
        Const(mask);
        _il.Emit(OpCodes.And);
        return true;
    }

    /// <summary>Pushes 1 if the recorded result's sign bit (of the operand size) is set.</summary>
    private void SignTest(FlagUse s)
    {
        if (s.Size >= 4) { ResultVersusZero(s, OpCodes.Clt); return; }
        // A byte or word: a test of the sign bit, not a sign extension and a compare (xgboost's `test %al, %al; js`).
        if (!PushRegisterMasked(s, FlagMath.SignBit(s.Size)))
        {
            PushResult(s);
            Const(FlagMath.SignBit(s.Size));
            _il.Emit(OpCodes.And);
        }
        _il.Emit(OpCodes.Ldc_I8, 0L);
        _il.Emit(OpCodes.Cgt_Un);
    }

    /// <summary>Pushes the recorded result, signed at the operand size, compared (clt, cgt) with zero.</summary>
    private void ResultVersusZero(FlagUse s, OpCode compare)
    {
        PushResult(s);
        if (s.Size == 8) _il.Emit(OpCodes.Ldc_I8, 0L);
        else { SignedOperand(s.Size); _il.Emit(OpCodes.Ldc_I4_0); }
        _il.Emit(compare);
    }

    /// <summary>
    /// Pushes condition cc (0/1, int32) of an Explicit setter (comis, rotates), whose status flags are
    /// aux itself: bit tests, as FlagMath.Evaluate reads them.
    /// </summary>
    private void ExplicitCondition(int cc)
    {
        const int Cf = 0, Pf = 2, Zf = 6, Sf = 7, Of = 11;
        switch (cc >> 1)
        {
            case 0: FlagBit(Of); break;
            case 1: FlagBit(Cf); break;
            case 2: FlagBit(Zf); break;
            case 3: FlagBit(Cf); FlagBit(Zf); _il.Emit(OpCodes.Or); break;
            case 4: FlagBit(Sf); break;
            case 5: FlagBit(Pf); break;
            case 6: FlagBit(Sf); FlagBit(Of); _il.Emit(OpCodes.Xor); break;
            default: FlagBit(Sf); FlagBit(Of); _il.Emit(OpCodes.Xor); FlagBit(Zf); _il.Emit(OpCodes.Or); break;
        }
        if ((cc & 1) != 0) Not();
    }

    /// <summary>Pushes bit <paramref name="bit"/> of _faux (0/1, int32).</summary>
    private void FlagBit(int bit)
    {
        _il.Emit(OpCodes.Ldloc, _faux);
        _il.Emit(OpCodes.Ldc_I4, bit);
        _il.Emit(OpCodes.Shr_Un);
        _il.Emit(OpCodes.Conv_I4);
        _il.Emit(OpCodes.Ldc_I4_1);
        _il.Emit(OpCodes.And);
    }
}
