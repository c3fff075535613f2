using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Shifts and rotates in compiled code, as the interpreter's Shift and Rotate: by an immediate (flags
/// from the operand and the constant count; computed on the way out when only exits read them), and
/// by CL (a zero count keeps every flag, so the state before must survive: in the flag locals, or,
/// when only exits read the shift's flags, kept with its operand and count for the exits to compute).
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>
    /// shl/sal/shr/sar by an immediate, with the generic handler's formulas for r, CF and OF (the
    /// count is a compile-time constant). A masked count of 0 changes nothing but still reads a memory
    /// destination and zero-extends a 32-bit register.
    /// </summary>
    private void EmitShift(ref Op op)
    {
        int size = op.Size, bits = size * 8, count = ShiftCount(ref op);
        if (!ReadShifted(ref op, size, count)) return;
        var sop = (ShiftOp)op.Cond;
        if (sop == ShiftOp.Sal) sop = ShiftOp.Shl;
        // r
        _il.Emit(OpCodes.Ldloc, _tD);
        switch (sop)
        {
            case ShiftOp.Shr:
                _il.Emit(OpCodes.Ldc_I4, count); _il.Emit(OpCodes.Shr_Un); break;
            case ShiftOp.Sar:
                SignExtend(size); _il.Emit(OpCodes.Ldc_I4, Math.Min(count, 63)); _il.Emit(OpCodes.Shr); Truncate(size); break;
            default:
                _il.Emit(OpCodes.Ldc_I4, count); _il.Emit(OpCodes.Shl); Truncate(size); break;
        }
        _il.Emit(OpCodes.Stloc, _tR);
        WriteDst(ref op, size, _tR);
        if (_use[_i].ComputeL && !_use[_i].AuxAtExit) EmitShiftAux(ref op, _tD, _tR, _tAux);
        SetFlags(FlagOp.ResultAux, size, _tD, Val.Of((ulong)count), _tR, _tAux);
    }

    /// <summary>
    /// shl/shr/sar/rol/ror of a 32- or 64-bit register by an immediate when nothing observes the flags:
    /// straight from the register's local into it, one host shift or rotate at the operand's width,
    /// without the temporaries the flags need.
    /// A masked count of 0 changes nothing but a 32-bit register's zero extension (and the flags).
    /// </summary>
    private void EmitShiftUnobserved(ref Op op)
    {
        int size = op.Size, bits = size * 8, count = ShiftCount(ref op);
        var sop = (ShiftOp)op.Cond;
        bool rotate = IsRotate(ref op);
        LoadReg(op.R0);
        if (count == 0) { SetReg(op.R0, size); return; }   // no flag changes: not a setter (Classify)
        if (rotate)
        {
            // BitOperations.RotateLeft/Right: RyuJIT emits one rol/ror.
            if (size == 4) _il.Emit(OpCodes.Conv_U4);
            _il.Emit(OpCodes.Ldc_I4, count % bits);
            _il.Emit(OpCodes.Call, JitMembers.Rotate(sop == ShiftOp.Rol, size));
            if (size == 4) _il.Emit(OpCodes.Conv_U8);
            SetReg(op.R0, size, zeroExtended: true);
        }
        else if (sop is ShiftOp.Shr or ShiftOp.Sar)
        {
            // One shr/sar at the operand's width: a 32-bit register's low half as an int32, with no
            // extension to 64 bits and back (stop 37; before, a sign or zero extension, the shift, a truncation).
            // A shr of a register zero-extended already is the 64-bit one.
            if (size == 4 && sop == ShiftOp.Shr && ZeroExtended(op.R0))
            {
                _il.Emit(OpCodes.Ldc_I4, count);
                _il.Emit(OpCodes.Shr_Un);
                SetReg(op.R0, size, zeroExtended: true);
                return;
            }
            if (size == 4) _il.Emit(OpCodes.Conv_U4);
            _il.Emit(OpCodes.Ldc_I4, count);
            _il.Emit(sop == ShiftOp.Shr ? OpCodes.Shr_Un : OpCodes.Shr);
            if (size == 4) _il.Emit(OpCodes.Conv_U8);
            SetReg(op.R0, size, zeroExtended: true);
        }
        else
        {
            _il.Emit(OpCodes.Ldc_I4, count); _il.Emit(OpCodes.Shl);
            SetReg(op.R0, size);
        }
        UnobservedSetter();
    }

    /// <summary>
    /// Reads a shift's or rotate's destination into _tD. With a masked count of 0 the op changes nothing
    /// but a 32-bit register's zero extension: that is emitted here, and the answer is false (nothing more to do).
    /// </summary>
    private bool ReadShifted(ref Op op, int size, int count)
    {
        ReadDst(ref op, size); _il.Emit(OpCodes.Stloc, _tD);
        if (count != 0) return true;
        if (op.Form == Form.R && size == 4) { _il.Emit(OpCodes.Ldloc, _tD); SetReg(op.R0, 4, zeroExtended: true); }
        return false;
    }

    /// <summary>A shift whose count is CL (the generic Shift kind without an immediate).</summary>
    private static bool IsShiftByCl(ref Op op) => op.Kind == OpKind.Shift && (op.Flags & OpFlags.HasImm) == 0;

    /// <summary>
    /// shl/sal/shr/sar of a register by CL, as the interpreter's Shift: the count is masked to 5 bits
    /// (6 for 64-bit operands); a zero count changes no flag (the state before stays, so it is put in the
    /// flag locals first, and the state after is <see cref="Dynamic"/>) and only zero-extends a 32-bit
    /// register; otherwise r, CF and OF by the same formulas, recorded as ResultAux. When nothing observes
    /// the flags after it (<see cref="FlagUse.ComputeL"/>: qrduino's <c>sar %cl, %esi; and $1, %esi</c>),
    /// only r; when only exits do (<see cref="FlagUse.ShiftAtExit"/>), r, with the state left for them.
    /// </summary>
    private void EmitShiftByCl(ref Op op)
    {
        int size = op.Size;
        var sop = ShiftByClOp(ref op);
        if (!_use[_i].ComputeL) { EmitShiftByClUnobserved(ref op, sop); return; }
        if (_use[_i].ShiftAtExit) { EmitShiftByClAtExit(ref op, sop); return; }
        if (_curSetter >= 0) MaterializeFlags(_curSetter, forRunTimeReaders: true);
        _curSetter = Dynamic;
        ReadByCl(ref op, size);
        var shift = _il.DefineLabel();
        var end = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, _tCount);
        _il.Emit(OpCodes.Brtrue, shift);
        if (size == 4) { _il.Emit(OpCodes.Ldloc, _tD); SetReg(op.R0, 4, zeroExtended: true); }
        _il.Emit(OpCodes.Br, end);
        _il.MarkLabel(shift);
        PushShiftedByCl(sop, size);
        _il.Emit(OpCodes.Stloc, _tR);
        _il.Emit(OpCodes.Ldloc, _tR);
        SetReg(op.R0, size);
        ShiftByClState(sop, size);
        _il.MarkLabel(end);
    }

    /// <summary>The shift of a shift by CL, sal as shl.</summary>
    private static ShiftOp ShiftByClOp(ref Op op) => (ShiftOp)op.Cond == ShiftOp.Sal ? ShiftOp.Shl : (ShiftOp)op.Cond;

    /// <summary>
    /// The flag state of a shift by CL of a nonzero count into the flag locals (ResultAux: a = d, b = the
    /// count, r, and CF and OF in aux), from d in _tD, the count in _tCount and r in _tR; uses _tAux.
    /// </summary>
    private void ShiftByClState(ShiftOp sop, int size)
    {
        int bits = size * 8;
        // CF
        var cfDone = _il.DefineLabel();
        switch (sop)
        {
            case ShiftOp.Shl:
                if (size <= 2)
                {
                    // Counts above the width shift every bit out: CF = 0.
                    var inRange = _il.DefineLabel();
                    Const(0); _il.Emit(OpCodes.Stloc, _tAux);
                    _il.Emit(OpCodes.Ldloc, _tCount); _il.Emit(OpCodes.Ldc_I4, bits); _il.Emit(OpCodes.Bgt, cfDone);
                    _il.MarkLabel(inRange);
                }
                _il.Emit(OpCodes.Ldloc, _tD);
                _il.Emit(OpCodes.Ldc_I4, bits); _il.Emit(OpCodes.Ldloc, _tCount); _il.Emit(OpCodes.Sub);
                _il.Emit(OpCodes.Shr_Un);
                break;
            case ShiftOp.Shr:
                // d fits in the width, so counts above it leave 0 here by themselves.
                _il.Emit(OpCodes.Ldloc, _tD);
                _il.Emit(OpCodes.Ldloc, _tCount); _il.Emit(OpCodes.Ldc_I4_1); _il.Emit(OpCodes.Sub);
                _il.Emit(OpCodes.Shr_Un);
                break;
            default:
                _il.Emit(OpCodes.Ldloc, _tD); SignExtend(size);
                _il.Emit(OpCodes.Ldloc, _tCount); _il.Emit(OpCodes.Ldc_I4_1); _il.Emit(OpCodes.Sub);
                _il.Emit(OpCodes.Shr);
                break;
        }
        Const(1); _il.Emit(OpCodes.And); _il.Emit(OpCodes.Stloc, _tAux);
        _il.MarkLabel(cfDone);
        // OF (shl: sign(r) ^ CF; shr: sign(d); sar: 0), into aux bit 11
        if (sop != ShiftOp.Sar)
        {
            _il.Emit(OpCodes.Ldloc, sop == ShiftOp.Shr ? _tD : _tR);
            _il.Emit(OpCodes.Ldc_I4, bits - 1); _il.Emit(OpCodes.Shr_Un);
            Const(1); _il.Emit(OpCodes.And);
            if (sop == ShiftOp.Shl) { _il.Emit(OpCodes.Ldloc, _tAux); _il.Emit(OpCodes.Xor); }
            _il.Emit(OpCodes.Ldc_I4, 11); _il.Emit(OpCodes.Shl);
            _il.Emit(OpCodes.Ldloc, _tAux); _il.Emit(OpCodes.Or); _il.Emit(OpCodes.Stloc, _tAux);
        }
        _il.Emit(OpCodes.Ldc_I4, (int)FlagOp.ResultAux | size << 8); _il.Emit(OpCodes.Stloc, _fkind);
        _il.Emit(OpCodes.Ldloc, _tD); _il.Emit(OpCodes.Stloc, _fa);
        _il.Emit(OpCodes.Ldloc, _tCount); _il.Emit(OpCodes.Conv_U8); _il.Emit(OpCodes.Stloc, _fb);
        _il.Emit(OpCodes.Ldloc, _tR); _il.Emit(OpCodes.Stloc, _fr);
        _il.Emit(OpCodes.Ldloc, _tAux); _il.Emit(OpCodes.Stloc, _faux);
    }

    /// <summary>Per shift by CL whose state waits for the exits (<see cref="FlagUse.ShiftAtExit"/>): the locals that keep its d and count.</summary>
    private readonly Dictionary<int, (LocalBuilder D, LocalBuilder Count)> _shiftAtExit = new();

    /// <summary>
    /// A shift of a register by CL whose flags only exits observe (<see cref="FlagUse.ShiftAtExit"/>:
    /// qrduino's <c>sar %cl, %ebx; xor %bl, (%rdx)</c>, whose load may leave before the xor sets the
    /// flags): r alone, and d and the count kept in locals of its own; it becomes the current setter,
    /// and an exit (<see cref="MaterializeShiftAtExit"/>) computes its state from them, or takes the
    /// state before it (<see cref="FlagUse.SetterBefore"/>, still in the flag locals) for a zero count.
    /// The branch on the count, CF, OF and five flag-local stores left the hot path.
    /// </summary>
    private void EmitShiftByClAtExit(ref Op op, ShiftOp sop)
    {
        int size = op.Size;
        // A loop's two copies share the locals: the exits, emitted last, find them by op.
        if (!_shiftAtExit.TryGetValue(_i, out var kept)) kept = (D: _il.DeclareLocal(typeof(ulong)), Count: _il.DeclareLocal(typeof(int)));
        _shiftAtExit[_i] = kept;
        _use[_i].SetterBefore = _curSetter;
        ReadByCl(ref op, size);
        _il.Emit(OpCodes.Ldloc, _tD); _il.Emit(OpCodes.Stloc, kept.D);
        _il.Emit(OpCodes.Ldloc, _tCount); _il.Emit(OpCodes.Stloc, kept.Count);
        PushShiftedByCl(sop, size);
        SetReg(op.R0, size);
        _curSetter = _i;
    }

    /// <summary>
    /// At an exit after shift by CL <paramref name="k"/> whose state waits for the exits: its state into
    /// the flag locals, or for a zero count the state before it (see <see cref="MaterializeFlags"/>).
    /// </summary>
    private void MaterializeShiftAtExit(int k, bool forRunTimeReaders)
    {
        var kept = _shiftAtExit[k];
        var shifted = _il.DefineLabel();
        var done = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, kept.Count);
        _il.Emit(OpCodes.Brtrue, shifted);
        MaterializeFlags(_use[k].SetterBefore, forRunTimeReaders, at: k);   // the state before shift k
        _il.Emit(OpCodes.Br, done);
        _il.MarkLabel(shifted);
        var sop = ShiftByClOp(ref _ops[k]);
        _il.Emit(OpCodes.Ldloc, kept.D); _il.Emit(OpCodes.Stloc, _tD);
        _il.Emit(OpCodes.Ldloc, kept.Count); _il.Emit(OpCodes.Stloc, _tCount);
        PushShiftedByCl(sop, _ops[k].Size);
        _il.Emit(OpCodes.Stloc, _tR);
        ShiftByClState(sop, _ops[k].Size);
        _il.MarkLabel(done);
    }

    /// <summary>
    /// A shift of a register by CL whose flags nothing observes: r alone (a zero count leaves the
    /// register, zero-extended if 32-bit: shifting by 0 gives that). The state after it is
    /// <see cref="Dynamic"/> as for the observed form; nothing reads it before the next setter.
    /// </summary>
    private void EmitShiftByClUnobserved(ref Op op, ShiftOp sop)
    {
        int size = op.Size;
        _curSetter = Dynamic;
        ReadByCl(ref op, size);
        PushShiftedByCl(sop, size);
        SetReg(op.R0, size);
    }

    /// <summary>Pushes r of a shift by CL: _tD shifted by _tCount (ReadByCl), truncated to the size.</summary>
    private void PushShiftedByCl(ShiftOp sop, int size)
    {
        _il.Emit(OpCodes.Ldloc, _tD);
        switch (sop)
        {
            case ShiftOp.Shr: _il.Emit(OpCodes.Ldloc, _tCount); _il.Emit(OpCodes.Shr_Un); break;
            case ShiftOp.Sar: SignExtend(size); _il.Emit(OpCodes.Ldloc, _tCount); _il.Emit(OpCodes.Shr); Truncate(size); break;
            default: _il.Emit(OpCodes.Ldloc, _tCount); _il.Emit(OpCodes.Shl); Truncate(size); break;
        }
    }

    /// <summary>rol/ror by an immediate (rotates by CL and through carry run through their handler).</summary>
    private static bool IsRotate(ref Op op) =>
        op.Kind == OpKind.Shift && (op.Flags & OpFlags.HasImm) != 0 && (ShiftOp)op.Cond is ShiftOp.Rol or ShiftOp.Ror;

    /// <summary>
    /// rol/ror by an immediate, as the interpreter's Rotate: r rotated by count mod the width; only CF
    /// and OF change (rol: CF = bit 0 of r, OF = its sign ^ CF; ror: CF = the sign of r, OF = CF ^ the
    /// bit below), so when observed the flags become Explicit: the status flags before with those two
    /// replaced. A masked count of 0 changes nothing (a 32-bit register is still zero-extended).
    /// </summary>
    private void EmitRotate(ref Op op)
    {
        int size = op.Size, bits = size * 8, count = ShiftCount(ref op);
        if (!ReadShifted(ref op, size, count)) return;
        bool left = (ShiftOp)op.Cond == ShiftOp.Rol;
        int c = count % bits;
        _il.Emit(OpCodes.Ldloc, _tD);
        if (c != 0 && size >= 4)
        {
            // BitOperations.RotateLeft/Right: RyuJIT emits one rol/ror.
            if (size == 4) _il.Emit(OpCodes.Conv_U4);
            _il.Emit(OpCodes.Ldc_I4, c);
            _il.Emit(OpCodes.Call, JitMembers.Rotate(left, size));
            if (size == 4) _il.Emit(OpCodes.Conv_U8);
        }
        else if (c != 0)
        {
            _il.Emit(OpCodes.Ldc_I4, left ? c : bits - c); _il.Emit(OpCodes.Shl);
            _il.Emit(OpCodes.Ldloc, _tD);
            _il.Emit(OpCodes.Ldc_I4, left ? bits - c : c); _il.Emit(OpCodes.Shr_Un);
            _il.Emit(OpCodes.Or);
            Truncate(size);
        }
        _il.Emit(OpCodes.Stloc, _tR);
        if (_use[_i].RotateAtExit)
        {
            _use[_i].SetterBefore = _curSetter;
            WriteDst(ref op, size, _tR);
            _curSetter = _i;
            return;
        }
        if (_use[_i].ComputeL)
        {
            // The flags before, read before the write (a faulting write leaves them as they were), when
            // the ones the rotate keeps are observed.
            KeptStatusFlags();
            RotateFlags(left, bits);
            _il.Emit(OpCodes.Stloc, _tAux);
        }
        WriteDst(ref op, size, _tR);
        SetFlags(FlagOp.Explicit, size, Val.Of(0), Val.Of(0), _tR, _tAux);
    }

    /// <summary>
    /// At an exit after rotate <paramref name="k"/>, whose state waits for the exits
    /// (<see cref="FlagUse.RotateAtExit"/>: SHA-256's <c>rol $15, %r15d; rol $13, %r14d; add 0x14(%r11),
    /// %edi</c>, whose load may leave before the add sets the flags, computed the status flags of the
    /// setter before both rotates at each of them): its state into the flag locals, as Explicit. The
    /// status flags it keeps are those of the setter before it, or before the rotates like it in
    /// between (each replaces CF and OF alone); its CF and OF come from its register.
    /// </summary>
    private void MaterializeRotateAtExit(int k)
    {
        ref Op op = ref _ops[k];
        int before = _use[k].SetterBefore;
        while (before >= 0 && _use[before].RotateAtExit) before = _use[before].SetterBefore;
        if (!_use[k].KeptObserved) Const(0);
        else if (before >= 0 && _use[before].ShiftAtExit)
        {
            // A shift by CL's state, which the exits make whole first: then one known only at run time.
            MaterializeFlags(before, forRunTimeReaders: true, at: k);
            StatusFlagsOf(Dynamic);
        }
        else StatusFlagsOf(before);
        GetReg(op.R0, op.Size);
        _il.Emit(OpCodes.Stloc, _tR);
        RotateFlags((ShiftOp)op.Cond == ShiftOp.Rol, op.Size * 8);
        _il.Emit(OpCodes.Stloc, _faux);
        _il.Emit(OpCodes.Ldc_I4, (int)FlagOp.Explicit | op.Size << 8);
        _il.Emit(OpCodes.Stloc, _fkind);
    }

    /// <summary>
    /// Stack: the status flags before a rotate; replaces CF and OF with the rotate's, from its result in
    /// _tR (rol: CF = bit 0 of r, OF = its sign ^ CF; ror: CF = the sign of r, OF = CF ^ the bit below).
    /// </summary>
    private void RotateFlags(bool left, int bits)
    {
        Const(~(FlagMath.CF | FlagMath.OF));
        _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Ldloc, _tR); _il.Emit(OpCodes.Ldc_I4, left ? 0 : bits - 1); _il.Emit(OpCodes.Shr_Un);
        Const(1); _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Stloc, _tS);
        _il.Emit(OpCodes.Ldloc, _tS);
        _il.Emit(OpCodes.Or);
        _il.Emit(OpCodes.Ldloc, _tR); _il.Emit(OpCodes.Ldc_I4, left ? bits - 1 : bits - 2); _il.Emit(OpCodes.Shr_Un);
        _il.Emit(OpCodes.Ldloc, _tS); _il.Emit(OpCodes.Xor);
        Const(1); _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Ldc_I4, 11); _il.Emit(OpCodes.Shl);
        _il.Emit(OpCodes.Or);
    }

    /// <summary>For a shift or rotate of a register by CL: the register into _tD, the count masked to 5 bits (6 for 64-bit operands) into _tCount.</summary>
    private void ReadByCl(ref Op op, int size)
    {
        GetReg(op.R0, size); _il.Emit(OpCodes.Stloc, _tD);
        LoadReg(1);
        _il.Emit(OpCodes.Conv_I4);
        _il.Emit(OpCodes.Ldc_I4, size == 8 ? 63 : 31);
        _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Stloc, _tCount);
    }

    /// <summary>rol/ror of a register by CL.</summary>
    private static bool IsRotateByCl(ref Op op) =>
        op.Kind == OpKind.Shift && (op.Flags & OpFlags.HasImm) == 0 && op.Form == Form.R && (ShiftOp)op.Cond is ShiftOp.Rol or ShiftOp.Ror;

    /// <summary>
    /// rol/ror of a register by CL, as the interpreter's Rotate: the count masked to 5 bits (6 for 64-bit
    /// operands); a zero count changes nothing but a 32-bit register's zero extension; otherwise r is
    /// rotated by count mod the width and CF and OF replaced (Explicit flags, the status before computed
    /// only when observed; with a zero count they are that status unchanged).
    /// </summary>
    private void EmitRotateByCl(ref Op op)
    {
        int size = op.Size, bits = size * 8;
        bool left = (ShiftOp)op.Cond == ShiftOp.Rol, observed = _use[_i].ComputeL;
        if (observed) { EmitStatusFlags(); _il.Emit(OpCodes.Stloc, _tAux); }
        ReadByCl(ref op, size);
        var zero = _il.DefineLabel();
        var done = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, _tCount);
        _il.Emit(OpCodes.Brfalse, zero);
        _il.Emit(OpCodes.Ldloc, _tD);
        if (size >= 4)
        {
            if (size == 4) _il.Emit(OpCodes.Conv_U4);
            _il.Emit(OpCodes.Ldloc, _tCount);
            _il.Emit(OpCodes.Call, JitMembers.Rotate(left, size));
            if (size == 4) _il.Emit(OpCodes.Conv_U8);
        }
        else
        {
            // c = count mod the width (0 leaves d); d is zero-extended, so the shifts need no mask but the last.
            _il.Emit(OpCodes.Ldloc, _tCount); _il.Emit(OpCodes.Ldc_I4, bits); _il.Emit(OpCodes.Rem_Un); _il.Emit(OpCodes.Stloc, _tCount);
            _il.Emit(OpCodes.Ldloc, _tCount); _il.Emit(left ? OpCodes.Shl : OpCodes.Shr_Un);
            _il.Emit(OpCodes.Ldloc, _tD);
            _il.Emit(OpCodes.Ldc_I4, bits); _il.Emit(OpCodes.Ldloc, _tCount); _il.Emit(OpCodes.Sub);
            _il.Emit(left ? OpCodes.Shr_Un : OpCodes.Shl);
            _il.Emit(OpCodes.Or);
            Truncate(size);
        }
        _il.Emit(OpCodes.Stloc, _tR);
        if (observed) { _il.Emit(OpCodes.Ldloc, _tAux); RotateFlags(left, bits); _il.Emit(OpCodes.Stloc, _tAux); }
        _il.Emit(OpCodes.Ldloc, _tR);
        SetReg(op.R0, size);
        _il.Emit(OpCodes.Br, done);
        _il.MarkLabel(zero);
        if (size == 4) { _il.Emit(OpCodes.Ldloc, _tD); SetReg(op.R0, 4, zeroExtended: true); }
        _il.MarkLabel(done);
        SetFlags(FlagOp.Explicit, size, Val.Of(0), Val.Of(0), Val.Of(0), _tAux);
    }

    /// <summary>aux = CF | OF&lt;&lt;11 of immediate shift <paramref name="op"/> of operand <paramref name="d"/> with result <paramref name="r"/>, into <paramref name="aux"/>.</summary>
    private void EmitShiftAux(ref Op op, LocalBuilder d, LocalBuilder r, LocalBuilder aux)
    {
        int size = op.Size, bits = size * 8, count = ShiftCount(ref op);
        var sop = (ShiftOp)op.Cond;
        if (sop == ShiftOp.Sal) sop = ShiftOp.Shl;
        // CF (0/1)
        switch (sop)
        {
            case ShiftOp.Shr:
                if (count > bits) Const(0);
                else { _il.Emit(OpCodes.Ldloc, d); _il.Emit(OpCodes.Ldc_I4, count - 1); _il.Emit(OpCodes.Shr_Un); Const(1); _il.Emit(OpCodes.And); }
                break;
            case ShiftOp.Sar:
                _il.Emit(OpCodes.Ldloc, d); SignExtend(size);
                _il.Emit(OpCodes.Ldc_I4, Math.Min(count - 1, 63)); _il.Emit(OpCodes.Shr); Const(1); _il.Emit(OpCodes.And);
                break;
            default:
                if (count > bits) Const(0);
                else { _il.Emit(OpCodes.Ldloc, d); _il.Emit(OpCodes.Ldc_I4, bits - count); _il.Emit(OpCodes.Shr_Un); Const(1); _il.Emit(OpCodes.And); }
                break;
        }
        _il.Emit(OpCodes.Stloc, aux);
        // OF (0/1): shl: sign(r) ^ CF; shr: sign(d); sar: 0.
        if (sop == ShiftOp.Sar) return;
        _il.Emit(OpCodes.Ldloc, sop == ShiftOp.Shr ? d : r);
        _il.Emit(OpCodes.Ldc_I4, bits - 1);
        _il.Emit(OpCodes.Shr_Un);
        Const(1);
        _il.Emit(OpCodes.And);
        if (sop != ShiftOp.Shr) { _il.Emit(OpCodes.Ldloc, aux); _il.Emit(OpCodes.Xor); }
        _il.Emit(OpCodes.Ldc_I4, 11);
        _il.Emit(OpCodes.Shl);
        _il.Emit(OpCodes.Ldloc, aux);
        _il.Emit(OpCodes.Or);
        _il.Emit(OpCodes.Stloc, aux);
    }
}
