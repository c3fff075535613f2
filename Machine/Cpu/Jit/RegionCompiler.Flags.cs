using System.Diagnostics;
using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Compile-time flag tracking. The lazy flag state is (op, size, a, b, r, aux); aux matters only after
/// the setters that record one (adc/sbb, inc/dec, shifts, imul), which always write it. In compiled code
/// the state lives in the locals _fkind (op and size), _fa, _fb, _fr, _faux (loaded at entry, stored at every
/// exit and around handler calls). Within a block the current setter is known at compile time: its op
/// and size are constants, and conditions after it compile to plain compares. At a block's start the
/// state is whatever the predecessor left in the locals (<see cref="Dynamic"/>). A backward liveness
/// pass over each block (its end counts as observed: a successor or an exit may read it) marks which
/// setters must compute the state; the others compile to nothing.
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>What one op does to the flags, and what the liveness pass decided for it.</summary>
    private struct FlagUse
    {
        public bool Sets, Aux, Reads, FaultBefore, FaultAfter, ComputeL, Merges, Helper, LastInBlock;
        /// <summary>An immediate shift, whose aux (CF, OF) follows from its operand and count.</summary>
        public bool AuxFromOperand;
        /// <summary>
        /// Its flags are observed only where the code may leave before the next setter (a memory
        /// access's miss or fault, a handler call), never by an op: the hot path keeps the operand in
        /// _fa, and <see cref="MaterializeFlags"/> computes aux at the exit (crc32's shr: 7 instructions
        /// a byte fewer).
        /// </summary>
        public bool AuxAtExit;
        /// <summary>A cmp or test of 32- or 64-bit registers (or a register and an immediate): its operands stay where they are.</summary>
        public bool OperandsInRegisters;
        /// <summary>An add or sub of an immediate to a 32- or 64-bit register: a is the register's new value ∓ the immediate.</summary>
        public bool OperandRecoverable;
        /// <summary>
        /// The block's last setter, a cmp or test followed by nothing but the block's jcc: it writes no
        /// flag local; its jcc compares the registers themselves, and <see cref="MaterializeFlags"/> copies
        /// them into the flag locals on the way out, and on the edges to members that observe the state
        /// (<see cref="EmitGoto"/>), not on the others. A loop's closing cmp stored its operands every
        /// pass (statemate's memset: two stores a byte), for the loop's exit alone. Also an add or sub of
        /// an immediate whose flags only exits read, while its register stays unchanged (memset's
        /// <c>add $1, %rcx</c> before its store: a = rcx - 1 there).
        /// </summary>
        public bool StateAtExit;
        /// <summary>With <see cref="OperandsInRegisters"/> or <see cref="OperandRecoverable"/>: the registers of a and b (b: <see cref="Op.NoReg"/> for the immediate ImmB).</summary>
        public byte RegA, RegB;
        public ulong ImmB;
        public FlagOp Kind;
        public byte Size;
    }

    private FlagUse[] _use = [];
    /// <summary>Per block: its start observes the flag state its predecessor left (AnalyseFlags).</summary>
    private bool[] _flagsLiveIn = [];
    /// <summary>Per block: the members it continues at (<see cref="Successors"/>, listed once by AnalyseFlags).</summary>
    private List<int>[] _successors = [];
    /// <summary>Last setter emitted so far in this block (an op index), or <see cref="Dynamic"/>.</summary>
    private int _curSetter = Dynamic;
    /// <summary>The flag state is in the locals with a run-time op and size (block start, after a handler call).</summary>
    private const int Dynamic = -1;
    /// <summary>The flag locals: op | size &lt;&lt; 8 (one local: fewer values live across a loop), a, b, r, aux.</summary>
    private LocalBuilder _fkind = null!, _fa = null!, _fb = null!, _fr = null!, _faux = null!;

    /// <summary>
    /// Classifies every op and runs the backward liveness pass over each block (see the class comment),
    /// from the blocks' ends: a block's end is observed when the code may leave there
    /// (<see cref="MayLeaveAtEnd"/>) or a member it continues at observes its start. A block cut by its
    /// length or the page end inside a straight run (an unrolled hash's rounds: SHA-256's loop is 12
    /// blocks of 64) thus computes no flags that the next block sets again before reading them: a rotate
    /// last in such a block called FlagMath.Compute for the status flags it keeps.
    /// </summary>
    private void AnalyseFlags()
    {
        _use = new FlagUse[_n];
        for (int k = 0; k < _n; k++)
            _use[k] = Supports(ref _ops[k])
                ? Classify(ref _ops[k])
                : new FlagUse { Helper = true, Sets = true, Reads = true, FaultBefore = true };
        int n = _blocks.Length;
        var successors = _successors = new List<int>[n];
        var leaves = new bool[n];
        for (int j = 0; j < n; j++)
        {
            successors[j] = Successors(j);
            leaves[j] = MayLeaveAtEnd(j, successors[j]);
        }
        // Liveness only grows (an end observed stays observed), so this ends; a region's blocks mostly
        // run forward, so one or two passes from the last block do.
        var liveIn = _flagsLiveIn = new bool[n];
        for (bool changed = true; changed;)
        {
            changed = false;
            for (int j = n - 1; j >= 0; j--)
            {
                bool liveOut = leaves[j] || successors[j].Exists(t => liveIn[t]);
                if (AnalyseBlock(j, liveOut) && !liveIn[j]) liveIn[j] = changed = true;
            }
        }
    }

    /// <summary>
    /// Per block: the setter whose flags are the state at the block's start when that is known at
    /// compile time, else <see cref="Dynamic"/> (<see cref="PlanKnownSetters"/>).
    /// </summary>
    private int[] _setterIn = [];

    /// <summary>
    /// Finds the blocks whose flag state at the start is a known setter's: a block that is no entry
    /// and has one predecessor in the region, which ends with that setter (its last op that sets the
    /// flags, with no handler call or shift by CL after it). Such a block's conditions then compile to
    /// plain compares of the flag locals, as within one block: sglib's <c>cmp; js; jne</c>, where the
    /// jne begins a block of its own, called JitHelpers.Result and FlagMath.Compute for ZF. The
    /// predecessor's setter computes its state whenever the block reads it (AnalyseFlags).
    /// </summary>
    private void PlanKnownSetters()
    {
        int n = _blocks.Length;
        _setterIn = new int[n];
        Array.Fill(_setterIn, Dynamic);
        if (_prefix) return;
        var predecessors = new int[n];
        var from = new int[n];
        for (int p = 0; p < n; p++)
            foreach (int t in _successors[p]) { predecessors[t]++; from[t] = p; }
        var entry = new bool[n];
        foreach (int e in _entries) entry[e] = true;
        for (int j = 0; j < n; j++)
        {
            if (predecessors[j] != 1 || entry[j] || from[j] == j) continue;
            int setter = SetterAtEnd(from[j]);
            // A state in registers reaches a member through the flag locals (its registers change there).
            _setterIn[j] = setter >= 0 && _use[setter].StateAtExit ? Dynamic : setter;
        }
    }

    /// <summary>The op whose flags are the state at block <paramref name="p"/>'s end as its emission leaves <see cref="_curSetter"/>, or <see cref="Dynamic"/> (unknown, or none in the block).</summary>
    private int SetterAtEnd(int p)
    {
        int end = p + 1 < _blocks.Length ? _first[p + 1] : _n;
        for (int k = end - 1; k >= _first[p]; k--)
        {
            if (_use[k].Helper || IsShiftByCl(ref _ops[k])) return Dynamic;
            if (_use[k].Sets) return k;
        }
        return Dynamic;
    }

    /// <summary>
    /// The backward liveness pass over block <paramref name="j"/>'s ops, from its end observed or not
    /// (<paramref name="liveOut"/>): marks which setters compute the flag state. Returns whether the
    /// block's start observes the state its predecessor left.
    /// </summary>
    private bool AnalyseBlock(int j, bool liveOut)
    {
        // readByOp: an op (or the block's end, into the flag locals) reads the state, not only an exit.
        // written: the registers the ops after this point write, up to the next setter.
        bool liveL = liveOut, lastSeen = false, readByOp = liveOut;
        uint written = 0;
        int end = j + 1 < _blocks.Length ? _first[j + 1] : _n;
        int last = Math.Min(end, _n) - 1;
        for (int k = last; k >= _first[j]; k--)
        {
            ref FlagUse u = ref _use[k];
            if (u.FaultAfter) liveL = true;
            if (u.Sets && !u.Helper)
            {
                u.ComputeL = liveL;
                u.LastInBlock = !lastSeen;
                u.AuxAtExit = u.AuxFromOperand && liveL && !readByOp;
                u.StateAtExit = liveL && !_prefix
                    && (u.OperandsInRegisters && (k == last || (k == last - 1 && _ops[last].Kind == OpKind.Jcc))
                        || u.OperandRecoverable && !readByOp && (written & 1u << u.RegA) == 0);
                written = 0;
                liveL = readByOp = false;
                if (u.Merges) u.Reads = u.ComputeL;   // inc/dec and rotates read the flags they keep only when theirs are observed
            }
            else written |= RegistersWritten(ref _ops[k]);
            if (u.Sets) lastSeen = true;
            if (u.Reads || u.FaultBefore) liveL = true;
            if (u.Reads) readByOp = true;
        }
        return liveL;
    }

    /// <summary>
    /// Whether the code may leave the region at block <paramref name="j"/>'s end, so the flag state must
    /// be whole there: a prefix, a ret or an indirect jump (whose target is known only at run time), a
    /// target outside the region, a budget check point (<see cref="PlanBudgetChecks"/>), or a store that
    /// may rewrite code (the edge checks; a memory destination whose flags are set before the write takes
    /// the slow path when it misses, see FinishStore).
    /// </summary>
    private bool MayLeaveAtEnd(int j, List<int> successors)
    {
        if (_prefix || _blockStores[j]) return true;
        Block b = _blocks[j];
        ref Op last = ref b.Ops[b.Count - 1];
        int targets = last.Kind switch
        {
            OpKind.Jmp or OpKind.Call => 1,
            OpKind.Jcc => last.Imm == last.NextIp ? 1 : 2,
            OpKind.Ret or OpKind.JmpIndirect or OpKind.CallIndirect => -1,
            _ => 1,
        };
        if (targets < 0 || successors.Count < targets || successors.Exists(t => _checkPoint[t])) return true;
        for (int k = _first[j]; k < _first[j] + b.Count; k++)
            if (_use[k].Sets && _ops[k].Form is Form.M or Form.MR or Form.MI) return true;
        return false;
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
                u.Sets = u.Aux = u.Merges = true;
                u.Kind = op.Kind == OpKind.Inc || (op.Kind != OpKind.Dec && op.Cond == 0) ? FlagOp.Inc : FlagOp.Dec;
                break;
            case OpKind.Neg:
                u.Sets = true; u.Kind = FlagOp.Neg; break;
            case OpKind.Xadd:
                u.Sets = true; u.Kind = FlagOp.Add; break;
            case OpKind.Cmpxchg:
                u.Sets = true; u.Kind = FlagOp.Sub; break;
            case OpKind.ShiftRI64: case OpKind.ShiftRI32: case OpKind.Shift:
                // By CL: a zero count keeps the flags, so the state before must be in the locals.
                // An immediate count of 0 changes no flag.
                if (IsRotateByCl(ref op)) { u.Sets = u.Aux = u.Merges = true; u.Kind = FlagOp.Explicit; }
                else if (IsShiftByCl(ref op)) u.Reads = true;
                else if (ShiftCount(ref op) != 0)
                {
                    u.Sets = u.Aux = true;
                    u.Merges = IsRotate(ref op);
                    u.Kind = u.Merges ? FlagOp.Explicit : FlagOp.ResultAux;
                    u.AuxFromOperand = !u.Merges;
                }
                break;
            case OpKind.Imul2: case OpKind.Imul3: case OpKind.Mul1: case OpKind.Imul1:
                u.Sets = u.Aux = true; u.Kind = FlagOp.ResultAux; break;
            case OpKind.Div: case OpKind.Idiv:
                u.FaultBefore = true; break;   // #DE and the rare dividends leave for the interpreter
            case OpKind.SseComi:
                u.Sets = u.Aux = true; u.Kind = FlagOp.Explicit; u.Size = 8; break;
            case OpKind.Bsf: case OpKind.Bsr: case OpKind.Tzcnt: case OpKind.Lzcnt: case OpKind.Bt:
                u.Sets = u.Aux = u.Merges = true; u.Kind = FlagOp.Explicit; break;   // the other status flags kept
            case OpKind.Popcnt:
                u.Sets = u.Aux = true; u.Kind = FlagOp.Explicit; break;
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
                bool wideRegister = op.Size >= 4 && op.R0 < 16;   // a 32- or 64-bit register first
                u.OperandsInRegisters = wideRegister && sub is AluOp.Cmp or AluOp.Test && op.Form is Form.RR or Form.RI;
                u.OperandRecoverable = wideRegister && sub is AluOp.Add or AluOp.Sub && op.Form == Form.RI;
                u.RegA = op.R0;
                u.RegB = op.Form == Form.RR ? op.R1 : Op.NoReg;
                u.ImmB = op.Imm & FlagMath.Mask(op.Size);
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

    /// <summary>Whether a setter of this kind records aux (and the flags read it).</summary>
    private static bool UsesAux(FlagOp kind) => kind is FlagOp.Adc or FlagOp.Sbb or FlagOp.Inc or FlagOp.Dec or FlagOp.ResultAux or FlagOp.Explicit;

    /// <summary>Whether the flags of a setter of this kind depend on its a (FlagMath.Compute; r of add/sub is derived from a and b).</summary>
    private static bool ReadsA(FlagOp kind) => kind is not (FlagOp.Logic or FlagOp.ResultAux or FlagOp.Explicit);

    /// <summary>Whether the flags of a setter of this kind depend on its b.</summary>
    private static bool ReadsB(FlagOp kind) => kind is FlagOp.Add or FlagOp.Adc or FlagOp.Sub or FlagOp.Sbb;

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
            // (A shift whose aux waits for an exit keeps its operand in _fa instead: FlagUse.AuxAtExit.)
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
    /// </summary>
    private void MaterializeFlags(int setter)
    {
        if (setter >= 0)
        {
            FlagUse u = _use[setter];
            _il.Emit(OpCodes.Ldc_I4, (int)u.Kind | u.Size << 8);
            _il.Emit(OpCodes.Stloc, _fkind);
            if (u.AuxAtExit) EmitShiftAux(ref _ops[setter], _fa, _fr, _faux);
            if (u.StateAtExit && u.Kind == FlagOp.Logic) { PushResult(u); _il.Emit(OpCodes.Stloc, _fr); return; }
            if (u.StateAtExit) { PushA(u); _il.Emit(OpCodes.Stloc, _fa); PushB(u); _il.Emit(OpCodes.Stloc, _fb); }
            if (!Derived(u.Kind)) return;
            PushResult(u);
        }
        else DynamicResult();
        _il.Emit(OpCodes.Stloc, _fr);
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

    /// <summary>Pushes condition cc (0/1, int32) on the flag state at this point, as <c>Cpu.Condition</c> would compute it.</summary>
    private void EmitCondition(int cc)
    {
        if (_curSetter >= 0) { InlineCondition(_use[_curSetter], cc); return; }
        DynamicHelperArgs();
        _il.Emit(OpCodes.Ldc_I4, cc);
        _il.Emit(OpCodes.Call, JitMembers.HelperCondition);
    }

    /// <summary>Pushes CF (0/1, int32) on the flag state at this point, as <c>Cpu.CarryFlag</c> would compute it.</summary>
    private void EmitCarry()
    {
        if (_curSetter >= 0) { InlineCarry(_use[_curSetter]); return; }
        DynamicHelperArgs();
        _il.Emit(OpCodes.Call, JitMembers.HelperCarry);
    }

    /// <summary>Pushes the six status flags (as RFLAGS bits, ulong) of the flag state at this point, as <c>Cpu.StatusFlags</c> computes them.</summary>
    private void EmitStatusFlags()
    {
        if (_curSetter >= 0) HelperArgs(_use[_curSetter]);
        else DynamicHelperArgs();
        _il.Emit(OpCodes.Call, JitMembers.HelperStatus);
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

    /// <summary>Condition cc from the locals of a setter of known kind: plain compares for the common cases, else the helper.</summary>
    private void InlineCondition(FlagUse s, int cc)
    {
        if (s.Kind == FlagOp.Explicit) { ExplicitCondition(cc); return; }
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

    /// <summary>Pushes a of known setter <paramref name="s"/>: _fa, or from the register itself (<see cref="FlagUse.StateAtExit"/>).</summary>
    private void PushA(FlagUse s)
    {
        if (!s.StateAtExit) { _il.Emit(OpCodes.Ldloc, _fa); return; }
        GetReg(s.RegA, s.Size);
        if (!s.OperandRecoverable) return;
        Const(s.ImmB);                                   // the register holds r = a ± b
        _il.Emit(s.Kind == FlagOp.Add ? OpCodes.Sub : OpCodes.Add);
        Truncate(s.Size);
    }

    /// <summary>Pushes b of known setter <paramref name="s"/>: _fb, or the register or immediate itself (<see cref="FlagUse.StateAtExit"/>).</summary>
    private void PushB(FlagUse s)
    {
        if (!s.StateAtExit) _il.Emit(OpCodes.Ldloc, _fb);
        else if (s.RegB == Op.NoReg) Const(s.ImmB);
        else GetReg(s.RegB, s.Size);
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
        PushResult(s);
        _il.Emit(OpCodes.Ldc_I8, 0L);
        _il.Emit(OpCodes.Ceq);
    }

    /// <summary>Pushes 1 if the recorded result's sign bit (of the operand size) is set.</summary>
    private void SignTest(FlagUse s) => ResultVersusZero(s, OpCodes.Clt);

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
