using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// One-operand mul/imul and div/idiv (the interpreter's MulDiv.cs). gcc emits mul for every unsigned
/// division by a constant and div/idiv for the others, so these sit in ordinary C loops. Multiplies
/// are compiled at every size. Divisions are compiled for 32- and 64-bit operands in the form C code
/// produces (a dividend that fits in the low half, or for div a high half below the divisor); the rare
/// rest, and every case that raises #DE, leaves compiled code before the op changes anything
/// (<see cref="JitMembers.ExitResume"/>) and the interpreter runs it, #DE included.
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>
    /// mul r/m (unsigned) and imul r/m (signed): rdx:rax (ax for bytes) = rax · operand by size; flags as
    /// the interpreter's SetMulFlags: ResultAux, r = the low half, CF = OF = the high half is not the
    /// zero (mul) or sign (imul) extension of the low.
    /// </summary>
    private void EmitMulWide(ref Op op)
    {
        int size = op.Size;
        bool signed = op.Kind == OpKind.Imul1;
        ReadDst(ref op, size); _il.Emit(OpCodes.Stloc, _tS);   // the one operand: R0 or memory
        bool flags = _use[_i].ComputeL;
        if (size == 8)
        {
            // lo = rax · s, hi = the high half (JitHelpers.MultiplyHigh: mulx): two multiplies in
            // registers. (Math.BigMul's low half goes out through a pointer to a local, which RyuJIT
            // then keeps in memory: a store and a load at every 64-bit mul, as gcc's unsigned division
            // by a constant is.)
            LoadReg(0);
            _il.Emit(OpCodes.Ldloc, _tS);
            _il.Emit(OpCodes.Mul);
            _il.Emit(OpCodes.Stloc, _tR);
            LoadReg(0);
            _il.Emit(OpCodes.Ldloc, _tS);
            _il.Emit(OpCodes.Call, signed ? JitMembers.MultiplyHighSigned : JitMembers.MultiplyHigh);
            _il.Emit(OpCodes.Stloc, _tD);
            _il.Emit(OpCodes.Ldloc, _tR); SetReg(0, 8);
            _il.Emit(OpCodes.Ldloc, _tD); SetReg(2, 8);
            if (flags)
            {
                _il.Emit(OpCodes.Ldloc, _tD);
                if (signed) { _il.Emit(OpCodes.Ldloc, _tR); _il.Emit(OpCodes.Ldc_I4, 63); _il.Emit(OpCodes.Shr); }
                else Const(0);
                OverflowAux();
            }
            SetFlags(FlagOp.ResultAux, 8, Val.Of(0), Val.Of(0), _tR, _tAux);
            return;
        }
        // p = rax · s in 64 bits (operands zero- or sign-extended from the size): exact for 8/16/32-bit.
        if (signed) GetRegSigned(0, size); else GetReg(0, size);
        _il.Emit(OpCodes.Ldloc, _tS);
        if (signed) SignExtend(size);
        _il.Emit(OpCodes.Mul);
        _il.Emit(OpCodes.Stloc, _tD);
        int bits = size * 8;
        if (size == 1)
        {
            _il.Emit(OpCodes.Ldloc, _tD); SetReg(0, 2);               // ax = the whole product
        }
        else
        {
            _il.Emit(OpCodes.Ldloc, _tD); SetReg(0, size);
            _il.Emit(OpCodes.Ldloc, _tD); _il.Emit(OpCodes.Ldc_I4, bits); _il.Emit(OpCodes.Shr_Un); SetReg(2, size);
        }
        _il.Emit(OpCodes.Ldloc, _tD); Truncate(size); _il.Emit(OpCodes.Stloc, _tR);
        if (flags)
        {
            // Overflow: p differs from its low half extended back (zero- or sign-).
            _il.Emit(OpCodes.Ldloc, _tD);
            _il.Emit(OpCodes.Ldloc, _tD);
            if (signed) SignExtend(size); else Truncate(size);
            OverflowAux();
        }
        SetFlags(FlagOp.ResultAux, size, Val.Of(0), Val.Of(0), _tR, _tAux);
    }

    /// <summary>Stack: x, y. aux = CF | OF when x != y, else 0, into _tAux.</summary>
    private void OverflowAux()
    {
        _il.Emit(OpCodes.Ceq);
        _il.Emit(OpCodes.Ldc_I4_1);
        _il.Emit(OpCodes.Xor);
        _il.Emit(OpCodes.Conv_U8);
        Const(FlagMath.CF | FlagMath.OF);
        _il.Emit(OpCodes.Mul);
        _il.Emit(OpCodes.Stloc, _tAux);
    }

    /// <summary>Whether the compiler takes this division (32- and 64-bit operands; the rest is a handler call).</summary>
    private static bool CompilesDivision(ref Op op) => op.Size is 4 or 8;

    /// <summary>
    /// div r/m and idiv r/m of 32 or 64 bits: rax = quotient, rdx = remainder; flags unchanged. A zero
    /// divisor, a quotient that does not fit, idiv by -1 (whose overflow the host would raise as an
    /// exception) and a 64-bit dividend with a high half that C code does not produce leave for the
    /// interpreter (ExitResume), which runs the op exactly (#DE included).
    /// </summary>
    private void EmitDivide(ref Op op)
    {
        int size = op.Size;
        bool signed = op.Kind == OpKind.Idiv;
        var resume = ResumeLabel();
        ReadDst(ref op, size); _il.Emit(OpCodes.Stloc, _tS);   // the one operand: R0 or memory
        if (signed)
        {
            // s as a signed value; s in {0, -1} resumes: (s + 1) as unsigned <= 1.
            _il.Emit(OpCodes.Ldloc, _tS); SignExtend(size); _il.Emit(OpCodes.Stloc, _tS);
            _il.Emit(OpCodes.Ldloc, _tS); Const(1); _il.Emit(OpCodes.Add); Const(1);
            _il.Emit(OpCodes.Ble_Un, resume);
        }
        else
        {
            _il.Emit(OpCodes.Ldloc, _tS);
            _il.Emit(OpCodes.Brfalse, resume);
        }
        // The dividend n into _tD.
        if (size == 8)
        {
            // div: rdx must be 0; idiv: rdx must be rax's sign (cqo). Then n = rax.
            LoadReg(2);
            if (signed) { LoadReg(0); _il.Emit(OpCodes.Ldc_I4, 63); _il.Emit(OpCodes.Shr); _il.Emit(OpCodes.Bne_Un, resume); }
            else _il.Emit(OpCodes.Brtrue, resume);
            LoadReg(0);
            _il.Emit(OpCodes.Stloc, _tD);
        }
        else
        {
            // n = edx:eax (as a signed 64-bit value for idiv).
            LoadReg(2); _il.Emit(OpCodes.Ldc_I4, 32); _il.Emit(OpCodes.Shl);
            GetReg(0, 4);
            _il.Emit(OpCodes.Or);
            _il.Emit(OpCodes.Stloc, _tD);
        }
        // q
        _il.Emit(OpCodes.Ldloc, _tD);
        _il.Emit(OpCodes.Ldloc, _tS);
        _il.Emit(signed ? OpCodes.Div : OpCodes.Div_Un);
        _il.Emit(OpCodes.Stloc, _tR);
        if (size == 4)
        {
            // The quotient must fit in 32 bits (zero- or sign-extended).
            _il.Emit(OpCodes.Ldloc, _tR);
            _il.Emit(OpCodes.Ldloc, _tR);
            if (signed) SignExtend(4); else Truncate(4);
            _il.Emit(OpCodes.Bne_Un, resume);
        }
        // r (before rax changes: n is in _tD)
        _il.Emit(OpCodes.Ldloc, _tD);
        _il.Emit(OpCodes.Ldloc, _tS);
        _il.Emit(signed ? OpCodes.Rem : OpCodes.Rem_Un);
        SetReg(2, size);
        _il.Emit(OpCodes.Ldloc, _tR);
        SetReg(0, size);
    }
}
