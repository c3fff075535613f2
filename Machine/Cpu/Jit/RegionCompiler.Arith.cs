using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Integer arithmetic (the interpreter's Arith.cs, Specialised.cs and two/three-operand imul of
/// MulDiv.cs; shifts and rotates are in RegionCompiler.Shifts.cs). The specialised ALU kinds carry the
/// same AluOp, form and size as the generic one, so one emitter serves them all.
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
                // 32 and 64 bits as EmitAluUnobserved: the operands' locals as they are, truncated once.
                if (size >= 4) { LoadReg(op.R0); ReadSrcLoaded(ref op); }
                else
                {
                    GetReg(op.R0, size);
                    if (op.Form == Form.RR) GetReg(op.R1, size);
                    else Const(_use[_i].ImmB);
                }
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
        LoadReg(op.R0);
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
            if (op.Form == Form.RR) GetReg(op.R1, size);   // no truncation when zero-extended already
            else
            {
                ReadSrcLoaded(ref op);
                if (op.Form != Form.RM) Truncate(size);   // a load is zero-extended from its size
            }
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
            LoadReg(op.R0);
            ReadSrcLoaded(ref op);
            _il.Emit(AluOpCode(sub));
            // and/or/xor of two values zero-extended from 32 bits is one too.
            if (!(size == 4 && ZeroExtended(op.R0) && (op.Form == Form.RM || op.Form == Form.RR && ZeroExtended(op.R1)))) Truncate(size);
        }
        if (sub == AluOp.Test) _il.Emit(OpCodes.Stloc, _fr);
        else { SetReg(op.R0, size, zeroExtended: true); LoadReg(op.R0); _il.Emit(OpCodes.Stloc, _fr); }
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
        LoadReg(op.R0);
        _il.Emit(OpCodes.Ldloc, _tS);
        _il.Emit(AluOpCode(sub));
        StoreReg(op.R0);
        _written[op.R0] = true;
        LoadReg(op.R0);
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
            LoadReg(op.R0);
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

    /// <summary>Two- or three-operand imul, whose aux waits for the exits as its operands (FlagUse.AuxAtExit).</summary>
    private static bool IsImul(ref Op op) => op.Kind is OpKind.Imul2 or OpKind.Imul3;

    /// <summary>aux (CF|OF when the product overflowed) of the imul whose sign-extended operands are in _fa and _fb, into <paramref name="aux"/>: at an exit when only exits see it (FlagUse.AuxAtExit, into _faux).</summary>
    private void EmitImulAux(int size, LocalBuilder aux)
    {
        _il.Emit(OpCodes.Ldloc, _fa);
        _il.Emit(OpCodes.Ldloc, _fb);
        _il.Emit(OpCodes.Ldc_I4, size);
        _il.Emit(OpCodes.Call, JitMembers.HelperImulAux);
        _il.Emit(OpCodes.Stloc, aux);
    }

    /// <summary>imul r, r/m (Imul2) and imul r, r/m, imm (Imul3): the truncated product, and its overflow through <see cref="JitHelpers.ImulAux"/> where the flags are observed.</summary>
    private void EmitImul(ref Op op)
    {
        int size = op.Size;
        if (!_use[_i].ComputeL)
        {
            // Nothing observes CF/OF: the truncated product alone (no 128-bit overflow check), whose low
            // bytes depend only on the operands' low bytes (no truncation or extension before it).
            if (op.Form == Form.RM) Load(ref op, size, _tV);
            if (op.Kind == OpKind.Imul3) { ReadSrcLoaded(ref op); Const(op.Imm); }
            else { LoadReg(op.R0); ReadSrcLoaded(ref op); }
            _il.Emit(OpCodes.Mul);
            Truncate(size);
            _il.Emit(OpCodes.Stloc, _tR);
            _il.Emit(OpCodes.Ldloc, _tR);
            SetReg(op.R0, size, zeroExtended: true);
            SetFlags(FlagOp.ResultAux, size, Val.Of(0), Val.Of(0), _tR);
            return;
        }
        ReadSrc(ref op, size); _il.Emit(OpCodes.Stloc, _tS);
        if (op.Kind == OpKind.Imul3)
        {
            _il.Emit(OpCodes.Ldloc, _tS); SignExtend(size);
            Const(op.Imm & FlagMath.Mask(size)); SignExtend(size);
        }
        else
        {
            GetRegSigned(op.R0, size);
            _il.Emit(OpCodes.Ldloc, _tS); SignExtend(size);
        }
        // The operands wait in _fa and _fb: when only exits see CF/OF (FlagUse.AuxAtExit) an exit tests
        // the overflow (EmitImulAux); else it is tested here. (Its flags read neither a nor b.)
        _il.Emit(OpCodes.Stloc, _fb);
        _il.Emit(OpCodes.Stloc, _fa);
        _il.Emit(OpCodes.Ldloc, _fa);
        _il.Emit(OpCodes.Ldloc, _fb);
        _il.Emit(OpCodes.Mul);
        Truncate(size);
        _il.Emit(OpCodes.Stloc, _tR);
        if (!_use[_i].AuxAtExit) EmitImulAux(size, _tAux);
        _il.Emit(OpCodes.Ldloc, _tR);
        SetReg(op.R0, size, zeroExtended: true);
        SetFlags(FlagOp.ResultAux, size, _fa, _fb, _tR, _tAux);
    }
}
