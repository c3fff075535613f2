using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Bit instructions in compiled code: bsf/bsr/tzcnt/lzcnt/popcnt and bt/bts/btr/btc on registers, as
/// the interpreter's Bits.cs. Their flags are Explicit (the status word itself, in aux): popcnt sets
/// it outright; the others replace ZF, CF or both in the status before, which is computed (a helper
/// call on the lazy state) only when something reads the flags before the next setter.
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>
    /// bsf/bsr/tzcnt/lzcnt/popcnt r, r/m, as the interpreter's BitScan, CountZeros and Popcnt (one host
    /// instruction each through BitOperations). Their flags are Explicit: popcnt's ZF alone; the others
    /// keep the status flags before (computed only when observed) with ZF, and CF for tzcnt/lzcnt,
    /// replaced. bsf/bsr of zero leave the destination as it was (not even zero-extended).
    /// </summary>
    private void EmitBitCount(ref Op op)
    {
        int size = op.Size, bits = size * 8;
        bool observed = _use[_i].ComputeL;
        ReadSrc(ref op, size);
        _il.Emit(OpCodes.Stloc, _tS);
        if (op.Kind == OpKind.Popcnt)
        {
            _il.Emit(OpCodes.Ldloc, _tS);
            _il.Emit(OpCodes.Call, JitMembers.BitCount(nameof(System.Numerics.BitOperations.PopCount)));
            _il.Emit(OpCodes.Conv_U8);
            SetReg(op.R0, size);
            if (observed) { FlagIfZero(_tS, FlagMath.ZF); _il.Emit(OpCodes.Stloc, _tAux); }
            SetFlags(FlagOp.Explicit, size, Val.Of(0), Val.Of(0), Val.Of(0), _tAux);
            return;
        }
        bool counts = op.Kind is OpKind.Tzcnt or OpKind.Lzcnt;
        if (observed)
        {
            KeptStatusFlags();
            Const(~(FlagMath.ZF | (counts ? FlagMath.CF : 0)));
            _il.Emit(OpCodes.And);
            _il.Emit(OpCodes.Stloc, _tAux);
        }
        if (counts)
        {
            // tzcnt: a bit above the operand makes a zero source count the width; lzcnt: the count of the
            // zero-extended source less the bits above the operand.
            bool trailing = op.Kind == OpKind.Tzcnt;
            _il.Emit(OpCodes.Ldloc, _tS);
            if (trailing && size < 8) { Const(1UL << bits); _il.Emit(OpCodes.Or); }
            _il.Emit(OpCodes.Call, JitMembers.BitCount(trailing ? nameof(System.Numerics.BitOperations.TrailingZeroCount) : nameof(System.Numerics.BitOperations.LeadingZeroCount)));
            if (!trailing && size < 8) { _il.Emit(OpCodes.Ldc_I4, 64 - bits); _il.Emit(OpCodes.Sub); }
            _il.Emit(OpCodes.Conv_U8);
            _il.Emit(OpCodes.Stloc, _tR);
            _il.Emit(OpCodes.Ldloc, _tR);
            SetReg(op.R0, size);
            if (observed)
            {
                _il.Emit(OpCodes.Ldloc, _tAux);
                FlagIfZero(_tS, FlagMath.CF); _il.Emit(OpCodes.Or);
                FlagIfZero(_tR, FlagMath.ZF); _il.Emit(OpCodes.Or);
                _il.Emit(OpCodes.Stloc, _tAux);
            }
        }
        else
        {
            var zero = _il.DefineLabel();
            var done = _il.DefineLabel();
            _il.Emit(OpCodes.Ldloc, _tS);
            _il.Emit(OpCodes.Brfalse, zero);
            if (op.Kind == OpKind.Bsf)
            {
                _il.Emit(OpCodes.Ldloc, _tS);
                _il.Emit(OpCodes.Call, JitMembers.BitCount(nameof(System.Numerics.BitOperations.TrailingZeroCount)));
            }
            else
            {
                _il.Emit(OpCodes.Ldc_I4, 63);
                _il.Emit(OpCodes.Ldloc, _tS);
                _il.Emit(OpCodes.Call, JitMembers.BitCount(nameof(System.Numerics.BitOperations.LeadingZeroCount)));
                _il.Emit(OpCodes.Sub);
            }
            _il.Emit(OpCodes.Conv_U8);
            SetReg(op.R0, size);
            _il.Emit(OpCodes.Br, done);
            _il.MarkLabel(zero);
            if (observed) { _il.Emit(OpCodes.Ldloc, _tAux); Const(FlagMath.ZF); _il.Emit(OpCodes.Or); _il.Emit(OpCodes.Stloc, _tAux); }
            _il.MarkLabel(done);
        }
        SetFlags(FlagOp.Explicit, size, Val.Of(0), Val.Of(0), Val.Of(0), _tAux);
    }

    /// <summary>Pushes <paramref name="flag"/> when <paramref name="v"/> is zero, else 0 (ulong).</summary>
    private void FlagIfZero(LocalBuilder v, ulong flag)
    {
        _il.Emit(OpCodes.Ldloc, v);
        Const(0);
        _il.Emit(OpCodes.Ceq);
        _il.Emit(OpCodes.Conv_U8);
        _il.Emit(OpCodes.Ldc_I4, System.Numerics.BitOperations.TrailingZeroCount(flag));
        _il.Emit(OpCodes.Shl);
    }

    /// <summary>
    /// bt/bts/btr/btc on a register, by a register or an immediate bit offset (taken modulo the width),
    /// as the interpreter's BitTest: CF = the bit, the other status flags kept (computed only when
    /// observed), and for bts/btr/btc the bit set, cleared or flipped. Memory forms, whose register
    /// offset can address outside the operand, run through their handler.
    /// </summary>
    private void EmitBitTest(ref Op op)
    {
        int size = op.Size, bits = size * 8;
        GetReg(op.R0, size);
        _il.Emit(OpCodes.Stloc, _tD);
        if (op.Form == Form.RI) _il.Emit(OpCodes.Ldc_I4, (int)(op.Imm & (ulong)(bits - 1)));
        else
        {
            GetReg(op.R1, size);
            _il.Emit(OpCodes.Conv_I4);
            _il.Emit(OpCodes.Ldc_I4, bits - 1);
            _il.Emit(OpCodes.And);
        }
        _il.Emit(OpCodes.Stloc, _tCount);
        if (_use[_i].ComputeL)
        {
            KeptStatusFlags();
            Const(~FlagMath.CF);
            _il.Emit(OpCodes.And);
            _il.Emit(OpCodes.Ldloc, _tD);
            _il.Emit(OpCodes.Ldloc, _tCount);
            _il.Emit(OpCodes.Shr_Un);
            Const(1);
            _il.Emit(OpCodes.And);
            _il.Emit(OpCodes.Or);
            _il.Emit(OpCodes.Stloc, _tAux);
        }
        if (op.Cond != 0)
        {
            _il.Emit(OpCodes.Ldloc, _tD);
            Const(1);
            _il.Emit(OpCodes.Ldloc, _tCount);
            _il.Emit(OpCodes.Shl);
            if (op.Cond == 2) { _il.Emit(OpCodes.Not); _il.Emit(OpCodes.And); }
            else _il.Emit(op.Cond == 1 ? OpCodes.Or : OpCodes.Xor);
            SetReg(op.R0, size);
        }
        SetFlags(FlagOp.Explicit, size, Val.Of(0), Val.Of(0), Val.Of(0), _tAux);
    }
}
