using System.Reflection.Emit;
using V = System.Runtime.Intrinsics.Vector128<byte>;

namespace Lab.Machine.Cpu;

/// <summary>
/// SSE/SSE2 in compiled code: moves, integer and logic ops, floating point, comis and conversions.
/// Each op calls the <see cref="SseMath"/> function the interpreter's handler calls (RyuJIT inlines
/// them into single host SSE instructions), so results are the interpreter's bit for bit. The XMM
/// registers the region's SSE ops use live in Vector128 locals, loaded at entry, and every write also
/// goes through to the CPU's register file (Cpu._xmm, fixed native memory): exits and faults need
/// nothing for them, dependent ops do not wait on a store to reach a load, and only a handler call
/// (which may write an XMM register) reloads the locals after it. Memory operands
/// take the same access paths as integer ops (windows, groups, the TLB fast path; a miss leaves for the
/// interpreter to run the op, which also raises #GP for a misaligned 16-byte operand): an SSE op
/// changes nothing before its access, so it can always be started again.
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>The XMM register file's address (loaded at entry), and a 16-byte scratch value.</summary>
    private LocalBuilder _xmmBase = null!, _tVec = null!;

    /// <summary>The SSE kinds compiled here.</summary>
    private static bool IsSseKind(OpKind k) => k is OpKind.SseMov or OpKind.SseMovq or OpKind.SseMovdToXmm
        or OpKind.SseMovdFromXmm or OpKind.SseMovLowHigh or OpKind.SseBinary or OpKind.SseShiftImm
        or OpKind.SseShuffle or OpKind.SseFloat or OpKind.SseComi or OpKind.SseCvtIntToFp or OpKind.SseCvtFpToInt
        or OpKind.Pmovmskb or OpKind.Pinsrw or OpKind.Pextrw;

    /// <summary>The local of each XMM register the region's compiled SSE ops use (null: unused).</summary>
    private readonly LocalBuilder?[] _xmm = new LocalBuilder?[16];

    /// <summary>
    /// In the prologue: declares the SSE locals, loads the register file's address (RyuJIT drops it
    /// when unused), and loads every XMM register a compiled SSE op of the region uses into its local.
    /// </summary>
    private void LoadXmmBase()
    {
        _xmmBase = _il.DeclareLocal(typeof(nint));
        _tVec = _il.DeclareLocal(typeof(V));
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldfld, JitMembers.Xmm);
        _il.Emit(OpCodes.Stloc, _xmmBase);
        for (int k = 0; k < _n; k++)
        {
            ref Op op = ref _ops[k];
            if (!IsSseKind(op.Kind) || !Supports(ref op)) continue;
            if (XmmR0(ref op)) _xmm[op.R0] ??= _il.DeclareLocal(typeof(V));
            if (XmmR1(ref op)) _xmm[op.R1] ??= _il.DeclareLocal(typeof(V));
        }
        ReloadXmm();
    }

    /// <summary>Loads every XMM local from the register file (at entry, and after a handler call, which may have written one).</summary>
    private void ReloadXmm()
    {
        for (int r = 0; r < 16; r++)
        {
            if (_xmm[r] == null) continue;
            XmmAddress(r);
            _il.Emit(OpCodes.Ldobj, typeof(V));
            _il.Emit(OpCodes.Stloc, _xmm[r]!);
        }
    }

    /// <summary>Whether the SSE op's R0 is an XMM register (not a general register, not absent).</summary>
    private static bool XmmR0(ref Op op) =>
        op.Form != Form.MR && op.Kind is not (OpKind.SseMovdFromXmm or OpKind.SseCvtFpToInt or OpKind.Pmovmskb or OpKind.Pextrw);

    /// <summary>Whether the SSE op's R1 is an XMM register.</summary>
    private static bool XmmR1(ref Op op) => op.Kind switch
    {
        OpKind.SseMovdFromXmm or OpKind.Pmovmskb or OpKind.Pextrw => true,
        OpKind.SseMovdToXmm or OpKind.SseCvtIntToFp or OpKind.Pinsrw => false,
        _ => op.Form is Form.RR or Form.MR,
    };

    /// <summary>One SSE op (see the class comment); operand encodings as SseTranslator makes them.</summary>
    private void EmitSse(ref Op current)
    {
        Op op = current;   // a copy the value-building lambdas can capture
        switch (op.Kind)
        {
            case OpKind.SseMov:
                if (op.Form == Form.MR) { PushXmm(op.R1); StoreVector(ref op, aligned: op.Size2 == 1); }
                else SetXmm(op.R0, () => PushSource(ref op));
                break;
            case OpKind.SseMovq:
                if (op.Form == Form.MR) StoreLane(ref op, 8, nameof(SseMath.Low64));
                else SetXmm(op.R0, () => { PushSource(ref op); Call(nameof(SseMath.Low64)); Call(nameof(SseMath.FromLow64)); });
                break;
            case OpKind.SseMovdToXmm:
                if (op.Form == Form.RM) Load(ref op, op.Size, _tV);
                SetXmm(op.R0, () =>
                {
                    if (op.Form == Form.RR) GetReg(op.R1, op.Size); else _il.Emit(OpCodes.Ldloc, _tV);
                    Call(nameof(SseMath.FromLow64));
                });
                break;
            case OpKind.SseMovdFromXmm:
                PushXmm(op.R1);
                Call(nameof(SseMath.Low64));
                if (op.Size == 4) Truncate(4);
                if (op.Form == Form.RR) SetReg(op.R0, op.Size);
                else { _il.Emit(OpCodes.Stloc, _tV); Store(ref op, op.Size, _tV); }
                break;
            case OpKind.SseMovLowHigh:
                EmitMovLowHigh(ref op);
                break;
            case OpKind.SseBinary:     // SseMath.Paddd ...: one function per SseOp
                SetXmm(op.R0, () =>
                {
                    PushXmm(op.R0);
                    PushSource(ref op);
                    Call(((SseOp)op.Cond).ToString());
                });
                break;
            case OpKind.SseShiftImm:   // SseMath.PslldImm ...: the count a constant, one host instruction
                SetXmm(op.R0, () =>
                {
                    PushXmm(op.R0);
                    _il.Emit(OpCodes.Ldc_I4, (int)(byte)op.Imm);
                    Call((SseOp)op.Cond + "Imm");
                });
                break;
            case OpKind.SseShuffle:
                SetXmm(op.R0, () =>
                {
                    PushXmm(op.R0);
                    PushSource(ref op);
                    _il.Emit(OpCodes.Ldc_I4, (int)(byte)op.Imm);
                    Call((SseOp)op.Cond + "Imm");
                });
                break;
            case OpKind.SseFloat:
                var fp = (FpOp)op.Cond;
                SetXmm(op.R0, () =>
                {
                    PushXmm(op.R0);
                    PushSource(ref op);
                    bool compare = fp is FpOp.Cmpsd or FpOp.Cmpss or FpOp.Cmppd or FpOp.Cmpps;
                    if (compare) _il.Emit(OpCodes.Ldc_I4, (int)(op.Imm & 7));
                    Call(fp.ToString());
                });
                break;
            case OpKind.SseComi:
                {
                    bool dbl = (op.Cond & 1) != 0;
                    PreloadSource();
                    PushXmm(op.R0);
                    PushSource(ref op);
                    _il.Emit(dbl ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
                    Call(nameof(SseMath.ComiFlags));
                    _il.Emit(OpCodes.Stloc, _tAux);
                    SetFlags(FlagOp.Explicit, 8, Val.Of(0), Val.Of(0), Val.Of(0), _tAux);
                    break;
                }
            case OpKind.SseCvtIntToFp:
                if (op.Form == Form.RM) Load(ref op, op.Size, _tV);
                SetXmm(op.R0, () =>
                {
                    PushXmm(op.R0);
                    if (op.Form == Form.RR) GetReg(op.R1, op.Size); else _il.Emit(OpCodes.Ldloc, _tV);
                    _il.Emit(OpCodes.Ldc_I4, (int)op.Size);
                    _il.Emit((op.Cond & 1) != 0 ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
                    Call(nameof(SseMath.IntToFp));
                });
                break;
            case OpKind.SseCvtFpToInt:
                PreloadSource();
                PushSource(ref op);
                _il.Emit(OpCodes.Ldc_I4, (int)op.Size);
                _il.Emit((op.Cond & 1) != 0 ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
                _il.Emit((op.Cond & 2) != 0 ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
                Call(nameof(SseMath.FpToInt));
                SetReg(op.R0, op.Size);
                break;
            case OpKind.Pmovmskb:       // pmovmskb / movmskps / movmskpd (Cond 0/1/2) into a general register
                PushXmm(op.R1);
                Call(op.Cond == 0 ? nameof(SseMath.Pmovmskb) : op.Cond == 1 ? nameof(SseMath.Movmskps) : nameof(SseMath.Movmskpd));
                SetReg(op.R0, op.Size == 8 ? 8 : 4);
                break;
            case OpKind.Pinsrw:         // pinsrw xmm, r32/m16, imm8: one word of the register replaced
                if (op.Form == Form.RM) Load(ref op, 2, _tV);
                SetXmm(op.R0, () =>
                {
                    PushXmm(op.R0);
                    _il.Emit(OpCodes.Ldloc, op.Form == Form.RM ? _tV : RegValue(op.R1));
                    _il.Emit(OpCodes.Ldc_I4, (int)(op.Imm & 7));
                    Call(nameof(SseMath.Pinsrw));
                });
                break;
            case OpKind.Pextrw:         // pextrw r32, xmm, imm8: one word, zero-extended
                PushXmm(op.R1);
                _il.Emit(OpCodes.Ldc_I4, (int)(op.Imm & 7));
                Call(nameof(SseMath.Pextrw));
                SetReg(op.R0, 4, zeroExtended: true);
                break;
            default:
                throw new InvalidOperationException($"not an SSE kind: {op.Kind}");
        }
    }

    /// <summary>movlps/movhps/movlpd/movhpd/movlhps/movhlps/movss/movsd by Cond, as Cpu.SseMovLowHigh.</summary>
    private void EmitMovLowHigh(ref Op current)
    {
        Op op = current;
        int r0 = op.R0, r1 = op.R1;
        switch (op.Cond)
        {
            case 0: case 2:     // movlp/movhp load: one half from memory
                Load(ref op, 8, _tV);
                SetXmm(r0, () => { PushXmm(r0); _il.Emit(OpCodes.Ldloc, _tV); Call(op.Cond == 0 ? nameof(SseMath.WithLow64) : nameof(SseMath.WithHigh64)); });
                break;
            case 1: StoreLane(ref op, 8, nameof(SseMath.Low64)); break;
            case 3: StoreLane(ref op, 8, nameof(SseMath.High64)); break;
            case 4:             // movlhps
                SetXmm(r0, () => { PushXmm(r0); PushXmm(r1); Call(nameof(SseMath.Low64)); Call(nameof(SseMath.WithHigh64)); });
                break;
            case 5:             // movhlps
                SetXmm(r0, () => { PushXmm(r0); PushXmm(r1); Call(nameof(SseMath.High64)); Call(nameof(SseMath.WithLow64)); });
                break;
            case 6:             // movss load: upper lanes zeroed
                Load(ref op, 4, _tV);
                SetXmm(r0, () => { _il.Emit(OpCodes.Ldloc, _tV); _il.Emit(OpCodes.Conv_U4); Call(nameof(SseMath.FromLow32)); });
                break;
            case 7: StoreLane(ref op, 4, nameof(SseMath.Low32)); break;
            case 8:             // movss xmm, xmm: the low lane merged
                SetXmm(r0, () => { PushXmm(r0); PushXmm(r1); Call(nameof(SseMath.Low32)); Call(nameof(SseMath.WithLow32)); });
                break;
            case 9:             // movsd load: upper lane zeroed
                Load(ref op, 8, _tV);
                SetXmm(r0, () => { _il.Emit(OpCodes.Ldloc, _tV); Call(nameof(SseMath.FromLow64)); });
                break;
            case 10: StoreLane(ref op, 8, nameof(SseMath.Low64)); break;
            default:            // movsd xmm, xmm: the low lane merged
                SetXmm(r0, () => { PushXmm(r0); PushXmm(r1); Call(nameof(SseMath.Low64)); Call(nameof(SseMath.WithLow64)); });
                break;
        }
    }

    /// <summary>Pushes the address of XMM register r.</summary>
    private void XmmAddress(int r)
    {
        _il.Emit(OpCodes.Ldloc, _xmmBase);
        if (r != 0) { _il.Emit(OpCodes.Ldc_I4, r * 16); _il.Emit(OpCodes.Add); }
    }

    /// <summary>Pushes XMM register r's value (its local).</summary>
    private void PushXmm(int r) =>
        _il.Emit(OpCodes.Ldloc, _xmm[r] ?? throw new InvalidOperationException($"xmm{r} has no local at op {_i}"));

    /// <summary>
    /// XMM register r = the value <paramref name="value"/> pushes, in its local and through to the
    /// register file. The op's memory source is loaded first (<see cref="PreloadSource"/>).
    /// </summary>
    private void SetXmm(int r, Action value)
    {
        PreloadSource();
        value();
        _il.Emit(OpCodes.Stloc, _xmm[r] ?? throw new InvalidOperationException($"xmm{r} has no local at op {_i}"));
        XmmAddress(r);
        _il.Emit(OpCodes.Ldloc, _xmm[r]!);
        _il.Emit(OpCodes.Stobj, typeof(V));
    }

    /// <summary>Calls the SseMath function of that name.</summary>
    private void Call(string name) => _il.Emit(OpCodes.Call, JitMembers.SseMath(name));

    // --- operands -------------------------------------------------------------------------------
    // The value-building lambdas push the destination's value before the source, and IL may not
    // branch with values on the stack where the branch's target (a miss path, emitted elsewhere) has
    // none; so the op's memory source is loaded into _tVec first (PreloadSource), and PushSource then
    // only pushes it.

    /// <summary>Whether _tVec holds the current op's memory source.</summary>
    private bool _tVecReady;

    /// <summary>
    /// Loads the current op's memory source into _tVec when it is a vector <see cref="PushSource"/>
    /// reads (moves, the integer, logic and floating-point ops, shuffles, comis, cvt to integer); the
    /// others (movd, cvtsi2sd, the half moves) load their integer themselves.
    /// </summary>
    private void PreloadSource()
    {
        ref Op op = ref _ops[_i];
        _tVecReady = op.Form == Form.RM && op.Kind is OpKind.SseMov or OpKind.SseMovq or OpKind.SseBinary
            or OpKind.SseShuffle or OpKind.SseFloat or OpKind.SseComi or OpKind.SseCvtFpToInt;
        if (_tVecReady) LoadVector(ref op, SseMemorySize(ref op, out bool aligned), aligned);
    }

    /// <summary>Pushes the source operand: XMM R1, or the memory operand loaded into _tVec (4 or 8 bytes: upper lanes zero).</summary>
    private void PushSource(ref Op op)
    {
        if (op.Form == Form.RR) { PushXmm(op.R1); return; }
        if (!_tVecReady) throw new InvalidOperationException($"source of {op.Kind} at 0x{op.Ip:x} not loaded");
        _il.Emit(OpCodes.Ldloc, _tVec);
    }

    /// <summary>
    /// Reads <paramref name="size"/> (4, 8 or 16) bytes at the op's memory operand into _tVec (4 and 8:
    /// zero-extended to the vector, as the interpreter's FpSource). A 16-byte operand that must be
    /// aligned and is not leaves for the interpreter, which raises #GP.
    /// </summary>
    private void LoadVector(ref Op op, int size, bool aligned)
    {
        if (size != 16)
        {
            Load(ref op, size, _tV);
            _il.Emit(OpCodes.Ldloc, _tV);
            Call(nameof(SseMath.FromLow64));
            _il.Emit(OpCodes.Stloc, _tVec);
            return;
        }
        Action access = () =>
        {
            PushHost();
            _il.Emit(OpCodes.Ldobj, typeof(V));
            _il.Emit(OpCodes.Stloc, _tVec);
        };
        if (_groupOf[_i] >= 0) { EmitGroupAccess(ref op, 16, write: false, access); return; }
        AccessVector(ref op, aligned, write: false, access);
    }

    /// <summary>Writes the vector on the stack to the op's 16-byte memory operand (aligned when asked).</summary>
    private void StoreVector(ref Op op, bool aligned)
    {
        _il.Emit(OpCodes.Stloc, _tVec);
        Action access = () =>
        {
            PushHost();
            _il.Emit(OpCodes.Ldloc, _tVec);
            _il.Emit(OpCodes.Stobj, typeof(V));
        };
        if (_groupOf[_i] >= 0) { EmitGroupAccess(ref op, 16, write: true, access); return; }
        AccessVector(ref op, aligned, write: true, access);
    }

    /// <summary>A 16-byte access outside a group: the alignment test when asked, then the window or TLB fast path; anything else leaves for the interpreter.</summary>
    private void AccessVector(ref Op op, bool aligned, bool write, Action access)
    {
        Label resume = ResumeLabel();
        EmitEA(ref op);
        if (aligned)
        {
            _il.Emit(OpCodes.Stloc, _tA);
            _il.Emit(OpCodes.Ldloc, _tA);
            Const(15);
            _il.Emit(OpCodes.And);
            _il.Emit(OpCodes.Brtrue, resume);
            _il.Emit(OpCodes.Ldloc, _tA);
        }
        var hit = _il.DefineLabel();
        EmitFastAccess(16, write, hit, resume);
        _il.MarkJoin(hit);
        access();
    }

    /// <summary>Stores lane <paramref name="lane"/> (an SseMath function of XMM R1) to the op's memory operand of <paramref name="size"/> bytes.</summary>
    private void StoreLane(ref Op op, int size, string lane)
    {
        PushXmm(op.R1);
        Call(lane);
        if (size == 4) _il.Emit(OpCodes.Conv_U8);
        _il.Emit(OpCodes.Stloc, _tV);
        Store(ref op, size, _tV);
    }

    /// <summary>The size of the SSE op's memory operand (as SseTranslator encodes it), and whether it must be 16-byte aligned.</summary>
    private static int SseMemorySize(ref Op op, out bool aligned)
    {
        aligned = false;
        switch (op.Kind)
        {
            case OpKind.SseMov: aligned = op.Size2 == 1; return 16;
            case OpKind.SseBinary: case OpKind.SseShuffle: aligned = true; return 16;
            case OpKind.SseFloat: aligned = op.Size == 16 && op.Size2 == 1; return op.Size;
            case OpKind.SseMovq: return 8;
            case OpKind.SseMovdToXmm: case OpKind.SseMovdFromXmm: case OpKind.SseCvtIntToFp: return op.Size;
            case OpKind.SseMovLowHigh: return op.Cond is 6 or 7 ? 4 : 8;
            case OpKind.SseComi: return (op.Cond & 1) != 0 ? 8 : 4;
            case OpKind.SseCvtFpToInt: return op.Size2;
            case OpKind.Pinsrw: return 2;
            default: return 0;
        }
    }

    /// <summary>The memory access of an SSE op as a group member (<see cref="GroupAccess"/>): its size and direction; 16-byte aligned operands stay out (their alignment test needs the address).</summary>
    private static bool SseGroupAccess(ref Op op, out int size, out bool write)
    {
        write = op.Form == Form.MR;
        size = SseMemorySize(ref op, out bool aligned);
        return size != 0 && !aligned;
    }
}
