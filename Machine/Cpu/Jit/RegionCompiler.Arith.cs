using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Integer arithmetic (the interpreter's Arith.cs, Specialised.cs, the immediate shifts of Shift.cs
/// and two/three-operand imul of MulDiv.cs). The specialised ALU kinds carry the same AluOp, form and
/// size as the generic one, so one emitter serves them all.
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>The ALU kinds: generic Alu and every specialised form (all carry AluOp in Cond, and Form and Size).</summary>
    private static bool IsAluKind(OpKind k) => k is OpKind.Alu
        or OpKind.AddRR64 or OpKind.AddRI64 or OpKind.SubRI64 or OpKind.CmpRR64 or OpKind.CmpRR32
        or OpKind.CmpRI64 or OpKind.CmpRI32 or OpKind.CmpRM32 or OpKind.CmpRM64
        or OpKind.AddRR32 or OpKind.AddRI32 or OpKind.SubRR64 or OpKind.SubRR32 or OpKind.XorRR32
        or OpKind.AndRI32 or OpKind.TestRR64 or OpKind.TestRR32 or OpKind.AddRM64
        or OpKind.AluRR64 or OpKind.AluRR32 or OpKind.AluRI64 or OpKind.AluRI32 or OpKind.AluRM64 or OpKind.AluRM32;

    /// <summary>The masked shift count of an immediate shift (0 = the shift changes nothing).</summary>
    private static int ShiftCount(ref Op op) => (int)(op.Imm & (op.Size == 8 ? 63UL : 31UL));

    /// <summary>add/or/adc/sbb/and/sub/xor/cmp/test: read dst, read src, compute, set flags, write dst (memory may fault after the flags).</summary>
    private void EmitAlu(ref Op op)
    {
        int size = op.Size;
        var sub = (AluOp)op.Cond;
        if (_use[_i].StateAtExit)
        {
            // cmp/test of registers, or add/sub/and/or/xor to a register, whose flags only the block's
            // jcc or exits read: they read the registers (FlagUse.StateAtExit).
            if (sub is not (AluOp.Cmp or AluOp.Test))
            {
                GetReg(op.R0, size);
                if (op.Form == Form.RR) GetReg(op.R1, size);
                else Const(_use[_i].ImmB);
                _il.Emit(AluOpCode(sub));
                SetReg(op.R0, size);
            }
            else if (op.Form is Form.RM or Form.MR or Form.MI)
                Load(ref op, size, _memoryOperand);   // written only once the load succeeds: a miss leaves the state before
            SetterAtExit();
            return;
        }
        if (size <= 2 && sub is AluOp.Or or AluOp.Xor or AluOp.And && op.Form is Form.RR or Form.RI or Form.RM && op.R0 < 16)
        {
            EmitNarrowLogic(ref op, sub);
            return;
        }
        if (size >= 4 && op.Form is Form.RR or Form.RI or Form.RM && sub is not (AluOp.Adc or AluOp.Sbb))
        {
            if (_use[_i].ComputeL) { EmitAluObserved(ref op, sub); return; }
            if (sub is not (AluOp.Cmp or AluOp.Test)) { EmitAluUnobserved(ref op, sub); return; }
        }
        ReadDst(ref op, size); _il.Emit(OpCodes.Stloc, _tD);
        ReadSrc(ref op, size); _il.Emit(OpCodes.Stloc, _tS);
        if (sub is AluOp.Adc or AluOp.Sbb)
        {
            // CF first, on an empty stack (the loop form of EmitCarry branches).
            EmitCarry(); _il.Emit(OpCodes.Conv_U8); _il.Emit(OpCodes.Stloc, _tAux);
        }
        _il.Emit(OpCodes.Ldloc, _tD);
        _il.Emit(OpCodes.Ldloc, _tS);
        switch (sub)
        {
            case AluOp.Add: _il.Emit(OpCodes.Add); Truncate(size); break;
            case AluOp.Sub: case AluOp.Cmp: _il.Emit(OpCodes.Sub); Truncate(size); break;
            case AluOp.Or: _il.Emit(OpCodes.Or); break;
            case AluOp.Xor: _il.Emit(OpCodes.Xor); break;
            case AluOp.And: case AluOp.Test:
                // test r, r (the usual zero test): r itself, which RyuJIT would not fold from r & r.
                _il.Emit(op.Form == Form.RR && op.R0 == op.R1 ? OpCodes.Pop : OpCodes.And); break;
            case AluOp.Adc: case AluOp.Sbb:
                _il.Emit(sub == AluOp.Adc ? OpCodes.Add : OpCodes.Sub);
                _il.Emit(OpCodes.Ldloc, _tAux);
                _il.Emit(sub == AluOp.Adc ? OpCodes.Add : OpCodes.Sub);
                Truncate(size); break;
        }
        _il.Emit(OpCodes.Stloc, _tR);
        // The destination before the flags, as Cpu.Alu: a store that faults leaves them as they were.
        if (sub is not (AluOp.Cmp or AluOp.Test)) WriteDst(ref op, size, _tR);
        FlagOp kind = _use[_i].Kind;   // Classify's: Add, Sub (cmp too), Adc, Sbb or Logic (and, or, xor, test)
        if (kind == FlagOp.Logic) SetFlags(kind, size, Val.Of(0), Val.Of(0), _tR);
        else if (kind is FlagOp.Adc or FlagOp.Sbb) SetFlags(kind, size, _tD, _tS, _tR, _tAux);
        else SetFlags(kind, size, _tD, _tS, _tR);
    }

    /// <summary>
    /// add/sub/and/or/xor into a 32- or 64-bit register when nothing observes the flags: the source
    /// straight into the register's local, the result truncated once (its low half depends only on the
    /// operands' low halves), without the temporaries and the operands' zero extensions the flags would
    /// need. RyuJIT emitted a <c>mov r32, r32</c> for each zero extension: SHA-256's rounds, all 32-bit
    /// adds and xors, were a third register moves.
    /// </summary>
    private void EmitAluUnobserved(ref Op op, AluOp sub)
    {
        int size = op.Size;
        if (op.Form == Form.RM) Load(ref op, size, _tV);   // first: it may fault, leaving the register as it was
        _il.Emit(OpCodes.Ldloc, Reg(op.R0));
        ReadSrcLoaded(ref op);
        _il.Emit(AluOpCode(sub));
        SetReg(op.R0, size);
        UnobservedSetter();
    }

    /// <summary>The IL op of an ALU op without carry (cmp subtracts, test ands).</summary>
    private static OpCode AluOpCode(AluOp sub) => sub switch
    {
        AluOp.Add => OpCodes.Add,
        AluOp.Sub or AluOp.Cmp => OpCodes.Sub,
        AluOp.Or => OpCodes.Or,
        AluOp.Xor => OpCodes.Xor,
        _ => OpCodes.And,
    };

    /// <summary>
    /// add/sub/cmp/and/or/xor/test of a 32- or 64-bit register whose flags are observed: the operands
    /// go straight into the flag locals a and b (add, sub, cmp), or the result into the register and
    /// the flag local r (the logic ops), with no temporaries in between.
    /// </summary>
    private void EmitAluObserved(ref Op op, AluOp sub)
    {
        int size = op.Size;
        if (op.Form == Form.RM) Load(ref op, size, _tV);   // first: it may fault, leaving everything as it was
        if (sub is AluOp.Add or AluOp.Sub or AluOp.Cmp)
        {
            GetReg(op.R0, size); _il.Emit(OpCodes.Stloc, _fa);
            ReadSrcLoaded(ref op);
            Truncate(size);
            _il.Emit(OpCodes.Stloc, _fb);
            if (sub != AluOp.Cmp)
            {
                _il.Emit(OpCodes.Ldloc, _fa); _il.Emit(OpCodes.Ldloc, _fb);
                _il.Emit(AluOpCode(sub));
                SetReg(op.R0, size);
            }
            SetFlags(sub == AluOp.Add ? FlagOp.Add : FlagOp.Sub, size, _fa, _fb, Val.Of(0));
            return;
        }
        if (sub == AluOp.Test && op.Form == Form.RR && op.R0 == op.R1) GetReg(op.R0, size);   // test r, r: r itself
        else
        {
            _il.Emit(OpCodes.Ldloc, Reg(op.R0));
            ReadSrcLoaded(ref op);
            _il.Emit(AluOpCode(sub));
            Truncate(size);
        }
        if (sub == AluOp.Test) _il.Emit(OpCodes.Stloc, _fr);
        else { SetReg(op.R0, size, zeroExtended: true); _il.Emit(OpCodes.Ldloc, Reg(op.R0)); _il.Emit(OpCodes.Stloc, _fr); }
        SetFlags(FlagOp.Logic, size, Val.Of(0), Val.Of(0), _fr);
    }

    /// <summary>
    /// or/xor/and into a byte or word register (AL..R15B, AX..R15W): one 64-bit op on the whole register
    /// leaves its other bits as they were (the source zero-extended for or/xor, padded with ones for and),
    /// instead of the narrow result merged back into it (three more host instructions: CRC and hash
    /// loops on u16/u8 are full of them). The flags take the narrow result.
    /// </summary>
    private void EmitNarrowLogic(ref Op op, AluOp sub)
    {
        int size = op.Size;
        ReadSrc(ref op, size);
        if (sub == AluOp.And) { Const(~FlagMath.Mask(size)); _il.Emit(OpCodes.Or); }
        _il.Emit(OpCodes.Stloc, _tS);
        _il.Emit(OpCodes.Ldloc, Reg(op.R0));
        _il.Emit(OpCodes.Ldloc, _tS);
        _il.Emit(AluOpCode(sub));
        _il.Emit(OpCodes.Stloc, Reg(op.R0));
        _written[op.R0] = true;
        _il.Emit(OpCodes.Ldloc, Reg(op.R0));
        Truncate(size);
        _il.Emit(OpCodes.Stloc, _tR);
        SetFlags(FlagOp.Logic, size, Val.Of(0), Val.Of(0), _tR);
    }

    /// <summary>inc/dec: the result is written first, then the flags, keeping the old CF in aux.</summary>
    private void EmitIncDec(ref Op op)
    {
        int size = op.Size;
        bool inc = _use[_i].Kind == FlagOp.Inc;
        if (!_use[_i].ComputeL && size >= 4 && op.Form == Form.R)
        {
            // Nothing observes the flags (nor, then, the CF kept): straight into the register's local.
            _il.Emit(OpCodes.Ldloc, Reg(op.R0));
            Const(1);
            _il.Emit(inc ? OpCodes.Add : OpCodes.Sub);
            SetReg(op.R0, size);
            UnobservedSetter();
            return;
        }
        ReadDst(ref op, size); _il.Emit(OpCodes.Stloc, _tD);
        _il.Emit(OpCodes.Ldloc, _tD);
        Const(1);
        _il.Emit(inc ? OpCodes.Add : OpCodes.Sub);
        Truncate(size);
        _il.Emit(OpCodes.Stloc, _tR);
        WriteDst(ref op, size, _tR);
        if (_use[_i].KeptObserved)   // CF kept: no read of the state before when only the others are observed
        {
            EmitCarry();
            _il.Emit(OpCodes.Conv_U8);
            _il.Emit(OpCodes.Stloc, _tAux);
        }
        SetFlags(inc ? FlagOp.Inc : FlagOp.Dec, size, _tD, Val.Of(1), _tR, _tAux);
    }

    /// <summary>neg: r = 0 - d written first, then flags (Neg, a = b = d).</summary>
    private void EmitNeg(ref Op op)
    {
        int size = op.Size;
        ReadDst(ref op, size); _il.Emit(OpCodes.Stloc, _tD);
        Const(0);
        _il.Emit(OpCodes.Ldloc, _tD);
        _il.Emit(OpCodes.Sub);
        Truncate(size);
        _il.Emit(OpCodes.Stloc, _tR);
        WriteDst(ref op, size, _tR);
        SetFlags(FlagOp.Neg, size, _tD, _tD, _tR);
    }

    /// <summary>
    /// xadd (lock xadd: atomics are plain on one CPU): r = d + s, then as Cpu.Xadd: a memory destination
    /// written before the source register (a write fault leaves both as they were), a register one after
    /// it (<c>xadd rax, rax</c> leaves the sum); the flags of the add last.
    /// </summary>
    private void EmitXadd(ref Op op)
    {
        int size = op.Size;
        ReadDst(ref op, size); _il.Emit(OpCodes.Stloc, _tD);
        GetReg(op.R1, size); _il.Emit(OpCodes.Stloc, _tS);
        _il.Emit(OpCodes.Ldloc, _tD);
        _il.Emit(OpCodes.Ldloc, _tS);
        _il.Emit(OpCodes.Add);
        Truncate(size);
        _il.Emit(OpCodes.Stloc, _tR);
        if (op.Form == Form.RR) { _il.Emit(OpCodes.Ldloc, _tD); SetReg(op.R1, size, zeroExtended: true); }
        WriteDst(ref op, size, _tR);
        if (op.Form != Form.RR) { _il.Emit(OpCodes.Ldloc, _tD); SetReg(op.R1, size, zeroExtended: true); }
        SetFlags(FlagOp.Add, size, _tD, _tS, _tR);
    }

    /// <summary>
    /// cmpxchg (lock cmpxchg: plain on one CPU), as Cpu.Cmpxchg: the accumulator compared with the
    /// destination; equal, the destination takes the source; else the accumulator takes the destination,
    /// and a memory destination is written back unchanged first (a locked write faults on a read-only or
    /// copy-on-write page before anything changes). A register destination is written only when equal.
    /// The flags are those of acc - d.
    /// </summary>
    private void EmitCmpxchg(ref Op op)
    {
        int size = op.Size;
        ReadDst(ref op, size); _il.Emit(OpCodes.Stloc, _tD);
        GetReg(0, size); _il.Emit(OpCodes.Stloc, _tS);          // the accumulator: the flags' a
        var done = _il.DefineLabel();
        if (MemoryDst(ref op))
        {
            // One store of (equal ? source : destination), then the accumulator when they differ.
            var pick = _il.DefineLabel();
            _il.Emit(OpCodes.Ldloc, _tD);
            _il.Emit(OpCodes.Stloc, _tR);
            _il.Emit(OpCodes.Ldloc, _tS);
            _il.Emit(OpCodes.Ldloc, _tD);
            _il.Emit(OpCodes.Bne_Un, pick);
            GetReg(op.R1, size); _il.Emit(OpCodes.Stloc, _tR);
            _il.MarkLabel(pick);
            WriteDst(ref op, size, _tR);
            _il.Emit(OpCodes.Ldloc, _tS);
            _il.Emit(OpCodes.Ldloc, _tD);
            _il.Emit(OpCodes.Beq, done);
            _il.Emit(OpCodes.Ldloc, _tD); SetReg(0, size, zeroExtended: true);
        }
        else
        {
            var differ = _il.DefineLabel();
            _il.Emit(OpCodes.Ldloc, _tS);
            _il.Emit(OpCodes.Ldloc, _tD);
            _il.Emit(OpCodes.Bne_Un, differ);
            GetReg(op.R1, size); SetReg(op.R0, size, zeroExtended: true);
            _il.Emit(OpCodes.Br, done);
            _il.MarkLabel(differ);
            _il.Emit(OpCodes.Ldloc, _tD); SetReg(0, size, zeroExtended: true);
        }
        _il.MarkLabel(done);
        _il.Emit(OpCodes.Ldloc, _tS);
        _il.Emit(OpCodes.Ldloc, _tD);
        _il.Emit(OpCodes.Sub);
        Truncate(size);
        _il.Emit(OpCodes.Stloc, _tR);
        SetFlags(FlagOp.Sub, size, _tS, _tD, _tR);
    }

    /// <summary>not: no flags.</summary>
    private void EmitNot(ref Op op)
    {
        int size = op.Size;
        ReadDst(ref op, size);
        _il.Emit(OpCodes.Not);
        Truncate(size);
        _il.Emit(OpCodes.Stloc, _tR);
        WriteDst(ref op, size, _tR);
    }

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
    /// straight from the register's local into it, the source zero- or sign-extended only where the
    /// result's low bytes depend on its upper ones (shr, sar), without the temporaries the flags need.
    /// A masked count of 0 changes nothing but a 32-bit register's zero extension (and the flags).
    /// </summary>
    private void EmitShiftUnobserved(ref Op op)
    {
        int size = op.Size, bits = size * 8, count = ShiftCount(ref op);
        var sop = (ShiftOp)op.Cond;
        bool rotate = IsRotate(ref op);
        _il.Emit(OpCodes.Ldloc, Reg(op.R0));
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
        else if (sop is ShiftOp.Shr or ShiftOp.Sar && size == 4)
        {
            // In 32 bits: one shr/sar of the 32-bit register, no extension to 64 bits and back.
            _il.Emit(OpCodes.Conv_U4);
            _il.Emit(OpCodes.Ldc_I4, count);
            _il.Emit(sop == ShiftOp.Shr ? OpCodes.Shr_Un : OpCodes.Shr);
            _il.Emit(OpCodes.Conv_U8);
            SetReg(op.R0, size, zeroExtended: true);
        }
        else if (sop == ShiftOp.Shr)
        {
            Truncate(size);
            _il.Emit(OpCodes.Ldc_I4, count); _il.Emit(OpCodes.Shr_Un);
            SetReg(op.R0, size, zeroExtended: true);
        }
        else if (sop == ShiftOp.Sar)
        {
            SignExtend(size);
            _il.Emit(OpCodes.Ldc_I4, Math.Min(count, 63)); _il.Emit(OpCodes.Shr);
            SetReg(op.R0, size);
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
        var kept = (D: _il.DeclareLocal(typeof(ulong)), Count: _il.DeclareLocal(typeof(int)));
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
        MaterializeFlags(_use[k].SetterBefore, forRunTimeReaders);
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
        _il.Emit(OpCodes.Ldloc, Reg(1));
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

    /// <summary>imul r, r/m (Imul2) and imul r, r/m, imm (Imul3) through <see cref="JitHelpers.Imul"/>.</summary>
    private void EmitImul(ref Op op)
    {
        int size = op.Size;
        ReadSrc(ref op, size); _il.Emit(OpCodes.Stloc, _tS);
        if (op.Kind == OpKind.Imul3)
        {
            _il.Emit(OpCodes.Ldloc, _tS); SignExtend(size);
            Const(op.Imm & FlagMath.Mask(size)); SignExtend(size);
        }
        else
        {
            GetReg(op.R0, size); SignExtend(size);
            _il.Emit(OpCodes.Ldloc, _tS); SignExtend(size);
        }
        if (!_use[_i].ComputeL)
        {
            // Nothing observes CF/OF: the truncated product alone (no 128-bit overflow check).
            _il.Emit(OpCodes.Mul);
            Truncate(size);
            _il.Emit(OpCodes.Stloc, _tR);
        }
        else
        {
            _il.Emit(OpCodes.Ldc_I4, size);
            _il.Emit(OpCodes.Ldloca, _tAux);
            _il.Emit(OpCodes.Call, JitMembers.HelperImul);
            _il.Emit(OpCodes.Stloc, _tR);
        }
        _il.Emit(OpCodes.Ldloc, _tR);
        SetReg(op.R0, size, zeroExtended: true);
        SetFlags(FlagOp.ResultAux, size, Val.Of(0), Val.Of(0), _tR, _tAux);
    }
}
