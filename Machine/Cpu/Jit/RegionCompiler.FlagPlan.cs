namespace Lab.Machine.Cpu;

/// <summary>
/// The flag plan, made before emission (see RegionCompiler.Flags.cs for the lazy flag state): what each
/// op does to the flags (<see cref="Classify"/>), which setters must compute their state (the backward
/// liveness pass, <see cref="AnalyseFlags"/>), and the setter known at each block's start
/// (<see cref="PlanKnownSetters"/>).
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>What one op does to the flags, and what the liveness pass decided for it.</summary>
    private struct FlagUse
    {
        public bool Sets, Aux, Reads, FaultBefore, ComputeL, Merges, Helper, LastInBlock;
        /// <summary>
        /// A reader's status flags (RFLAGS bits, set with <see cref="Reads"/>): jb/jae and adc/sbb read CF
        /// alone, je/jne ZF alone, a handler or a shift by CL all. A merging setter's own flags: the
        /// ones it replaces (bt: CF; a rotate by CL none, a zero count keeping all).
        /// </summary>
        public ulong Mask;
        /// <summary>
        /// A merging setter (<see cref="Merges"/>): some of the flags it keeps from the state before are
        /// observed, so that state's status flags are computed. bt followed by jb computes CF alone
        /// (qrduino's bit tests called FlagMath.Compute for each: 10% of its run).
        /// </summary>
        public bool KeptObserved;
        /// <summary>An immediate shift, whose aux (CF, OF) follows from its operand and count; a two- or three-operand imul, whose aux follows from its operands.</summary>
        public bool AuxFromOperand;
        /// <summary>
        /// Its flags are observed only where the code may leave before the next setter (a memory
        /// access's miss or fault, a handler call), never by an op: the hot path keeps the operand in
        /// _fa (an imul's two in _fa and _fb), and <see cref="MaterializeFlags"/> computes aux at the
        /// exit (crc32's shr: 7 instructions a byte fewer; a 64-bit imul's overflow test, a 128-bit
        /// product, for a 2-D array's index before a load).
        /// </summary>
        public bool AuxAtExit;
        /// <summary>
        /// A shift by CL whose flags only exits observe (as <see cref="AuxAtExit"/>): it keeps d and the
        /// count, and the exits compute its state (or take <see cref="SetterBefore"/>'s for a zero count).
        /// </summary>
        public bool ShiftAtExit;
        /// <summary>
        /// A rol or ror of a register by an immediate whose flags only exits observe (as
        /// <see cref="AuxAtExit"/>): it computes r alone; the exits take the status flags of the setter
        /// before it (<see cref="SetterBefore"/>, through any such rotates between) and CF and OF from
        /// its register, unchanged up to the last of them (<see cref="MaterializeRotateAtExit"/>).
        /// </summary>
        public bool RotateAtExit;
        /// <summary>With <see cref="ShiftAtExit"/> or <see cref="RotateAtExit"/>: the setter before the shift as emission found it (or <see cref="Dynamic"/>).</summary>
        public int SetterBefore;
        /// <summary>
        /// A cmp or test of registers (or a register and an immediate; any size, not ah..bh): its operands
        /// stay where they are. Also one of a register or an immediate with memory: the loaded operand
        /// stays in a local of its own (RegA or RegB is then <see cref="InMemoryLocal"/>).
        /// </summary>
        public bool OperandsInRegisters;
        /// <summary>
        /// An add, sub, and, or or xor of an immediate or a register to a register (any size, not ah..bh;
        /// add and sub of two distinct registers): r is the register's new value, and add's or sub's a
        /// is r ∓ b, b the immediate or the other register.
        /// </summary>
        public bool OperandRecoverable;
        /// <summary>
        /// The block's last setter, a cmp or test (or an add or sub of an immediate: CoreMark's crcu8
        /// loop closes with <c>sub $1, %dl; jne</c>) followed by nothing but the block's jcc: it writes no
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
    /// <summary>Per block: the members it continues at (<see cref="Successors"/>, listed once by PlanBudgetChecks).</summary>
    private List<int>[] _successors = [];
    /// <summary>Per block: the members that continue at it (<see cref="_successors"/> reversed, by PlanBudgetChecks).</summary>
    private List<int>[] _predecessors = [];

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
                : new FlagUse { Helper = true, Sets = true, Reads = true, FaultBefore = true, Mask = AllStatus };
        int n = _blocks.Length;
        var successors = _successors;   // PlanBudgetChecks made them
        var leaves = new bool[n];
        for (int j = 0; j < n; j++) leaves[j] = MayLeaveAtEnd(j, successors[j]);
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
    /// plain compares of the flag locals (or of the setter's registers, while the block leaves them
    /// alone), as within one block: sglib's <c>cmp; js; jne</c>, where the jne begins a block of its
    /// own, called JitHelpers.Result and FlagMath.Compute for ZF. The predecessor's setter computes its
    /// state whenever the block reads it (AnalyseFlags). A block with several predecessors (none of
    /// them itself) has one too when they all end with setters whose state waits in the same registers
    /// (<see cref="SameState"/>): a loop gcc rotated tests its condition before the loop and again at
    /// its bottom, and the body's first block, which may leave at its first load, then made the flags
    /// whole on every pass (Dijkstra's <c>test %edx, %edx; je</c>: two stores).
    /// </summary>
    private void PlanKnownSetters()
    {
        int n = _blocks.Length;
        _setterIn = new int[n];
        Array.Fill(_setterIn, Dynamic);
        if (_prefix) return;
        var predecessors = _predecessors;
        var entry = new bool[n];
        foreach (int e in _entries) entry[e] = true;
        for (int j = 0; j < n; j++)
        {
            List<int> from = predecessors[j];
            if (from.Count == 0 || entry[j] || from.Contains(j)) continue;
            int setter = SetterAtEnd(from[0]);
            if (from.Count > 1)
            {
                if (setter < 0 || !_use[setter].StateAtExit || !from.TrueForAll(p => SameState(SetterAtEnd(p), setter))) continue;
            }
            // A state in registers stays there while the member leaves them alone up to its own setter
            // (sglib's cmp; js | jne: the jne compares the registers); else it reaches the member
            // through the flag locals (EmitGoto).
            _setterIn[j] = setter >= 0 && _use[setter].StateAtExit && (WrittenBeforeSetter(j) & SetterRegisters(_use[setter])) != 0
                ? Dynamic : setter;
        }
    }

    /// <summary>
    /// Per block: the setter whose state an edge into the block may leave in its registers, noting only
    /// that in the flag locals (<see cref="DeferredKind"/>), or <see cref="Dynamic"/> (<see cref="PlanDeferredStates"/>).
    /// </summary>
    private int[] _deferredIn = [];
    /// <summary>Per block: its first op that sets the flags (<see cref="PlanDeferredStates"/>; -1 when none is planned).</summary>
    private int[] _firstSetter = [];

    /// <summary>
    /// The flag kind an edge stores for a state it leaves in <paramref name="setter"/>'s registers: no
    /// real kind (those fit in 16 bits), and made whole before anything reads the locals (MaterializeFlags).
    /// </summary>
    private static int DeferredKind(int setter) => 0x4000_0000 | setter;

    /// <summary>
    /// Finds the blocks a loop's back edge enters with a state it can leave in registers. A loop whose
    /// head starts with a load (<c>mov (%rsi), %rdx</c>) and whose back edge is a closing cmp or test
    /// (<see cref="FlagUse.StateAtExit"/>) observes that state only at the head's exits (a miss or a
    /// fault before its first setter), but the head's other predecessor leaves another one, so the edge
    /// copied the cmp's kind and operands into the flag locals on every pass (matmult: three moves and a
    /// spill in an eight-instruction loop). Instead the edge stores only <see cref="DeferredKind"/>, and
    /// the exits before the head's first setter make the state whole from the registers, which nothing
    /// before that setter writes. So for block j whose start observes a state known only at run time:
    /// one predecessor (the last planned, a back edge first) ends with such a setter, whose operands are
    /// registers or an immediate; and up to j's first setter no op reads the flags, calls a handler or
    /// writes those registers, and that setter replaces every flag (no merge, no shift by CL).
    /// </summary>
    private void PlanDeferredStates()
    {
        int n = _blocks.Length;
        _deferredIn = new int[n];
        Array.Fill(_deferredIn, Dynamic);
        _firstSetter = new int[n];
        Array.Fill(_firstSetter, -1);
        if (_prefix) return;
        for (int j = 0; j < n; j++)
        {
            if (!_flagsLiveIn[j] || _setterIn[j] != Dynamic) continue;
            int first = -1;
            bool clean = true;
            for (int k = _first[j]; k < OpsEnd(j) && clean; k++)
            {
                FlagUse u = _use[k];
                clean = !u.Reads && !u.Helper && !IsShiftByCl(ref _ops[k]);
                if (u.Sets) { first = k; clean &= !u.Merges; break; }
            }
            if (!clean || first < 0) continue;
            uint written = WrittenBeforeSetter(j);
            for (int q = _predecessors[j].Count - 1; q >= 0; q--)
            {
                int s = SetterAtEnd(_predecessors[j][q]);
                if (s < 0) continue;
                FlagUse u = _use[s];
                if (!StateInRegisters(u) || u.RegA == InMemoryLocal || u.RegB == InMemoryLocal || (written & SetterRegisters(u)) != 0) continue;
                _deferredIn[j] = s;
                _firstSetter[j] = first;
                break;
            }
        }
    }

    /// <summary>
    /// Whether setters <paramref name="a"/> and <paramref name="b"/> leave one flag state, read the same
    /// way: the same op (or both <see cref="Dynamic"/>), or two whose state waits in the same registers
    /// (or immediate), of one kind and size: what the code emits to read a state in registers depends on
    /// these alone (PushA, PushB, PushResult), so a block after either reads it as after one of them.
    /// </summary>
    private bool SameState(int a, int b)
    {
        if (a == b) return true;
        if (a < 0 || b < 0) return false;
        FlagUse x = _use[a], y = _use[b];
        return StateInRegisters(x) && StateInRegisters(y) && x.Kind == y.Kind && x.Size == y.Size
            && x.OperandsInRegisters == y.OperandsInRegisters && x.OperandRecoverable == y.OperandRecoverable
            && x.RegA == y.RegA && x.RegB == y.RegB && (x.RegB != Op.NoReg || x.ImmB == y.ImmB);
    }

    /// <summary>A setter whose whole state waits in its registers (or its immediate) and nothing else: read there by PushA, PushB and PushResult alone.</summary>
    private static bool StateInRegisters(in FlagUse u) => u.StateAtExit && !u.AuxAtExit && !u.ShiftAtExit && !u.Merges;

    /// <summary>The index after block <paramref name="j"/>'s last op in <see cref="_ops"/>.</summary>
    private int OpsEnd(int j) => j + 1 < _blocks.Length ? _first[j + 1] : _n;

    /// <summary>The registers block <paramref name="j"/> writes before its first op that sets the flags (or in all of it, without one).</summary>
    private uint WrittenBeforeSetter(int j)
    {
        uint written = 0;
        for (int k = _first[j]; k < OpsEnd(j) && !_use[k].Sets; k++) written |= RegistersWritten(ref _ops[k]);
        return written;
    }

    /// <summary>The registers a setter whose state waits in its registers (<see cref="FlagUse.StateAtExit"/>) reads it from.</summary>
    private static uint SetterRegisters(in FlagUse u) =>
        (u.RegA < 16 ? 1u << u.RegA : 0) | (u.RegB < 16 ? 1u << u.RegB : 0);

    /// <summary>
    /// <see cref="FlagUse.RegA"/> or <see cref="FlagUse.RegB"/> of a cmp or test with memory whose state
    /// waits for its jcc and the exits: the operand loaded into <see cref="_memoryOperand"/>. Only such
    /// a setter writes that local, so it keeps the operand until the next one, itself a setter.
    /// </summary>
    private const byte InMemoryLocal = 0xFE;

    /// <summary>The op whose flags are the state at block <paramref name="p"/>'s end as its emission leaves <see cref="_curSetter"/>, or <see cref="Dynamic"/> (unknown, or none in the block).</summary>
    private int SetterAtEnd(int p)
    {
        for (int k = OpsEnd(p) - 1; k >= _first[p]; k--)
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
        // written[c]: the registers whose low 2^c bytes the ops after this point may change before an
        // exit that can still see this point's state (a write after the last such exit, even by the
        // faulting op itself, is too late to matter), up to the next setter.
        // live: the status flags observed from this point (RFLAGS bits); liveL: whether any is.
        bool liveL = liveOut, lastSeen = false, readByOp = liveOut, exitAfter = false;
        ulong live = liveOut ? AllStatus : 0;
        Span<uint> written = stackalloc uint[4];
        int last = OpsEnd(j) - 1;
        for (int k = last; k >= _first[j]; k--)
        {
            ref FlagUse u = ref _use[k];
            if (liveL && !readByOp && RotateLeftForExits(j, k, live, written))
            {
                // Only exits read its state, and they read the state before it too: the registers that
                // state waits in must hold up to them, so what the ops after it write still counts.
                u.RotateAtExit = u.ComputeL = true;
                u.KeptObserved = u.Reads = (live & ~u.Mask) != 0;
                u.LastInBlock = !lastSeen;
                lastSeen = true;
                live &= ~u.Mask;
                liveL = u.Reads;
                if (exitAfter) NoteWritten(ref _ops[k], written);
                continue;
            }
            if (u.Sets && !u.Helper)
            {
                u.ComputeL = liveL;
                ulong kept = u.Merges ? live & ~u.Mask : 0;
                u.KeptObserved = kept != 0;
                u.LastInBlock = !lastSeen;
                u.AuxAtExit = u.AuxFromOperand && liveL && !readByOp;
                u.StateAtExit = liveL && !_prefix
                    && ((u.OperandsInRegisters || u.OperandRecoverable) && (k == last || (k == last - 1 && _ops[last].Kind == OpKind.Jcc))
                        || u.OperandRecoverable && !readByOp && (written[System.Numerics.BitOperations.Log2(u.Size)] & SetterRegisters(u)) == 0);
                written.Clear();
                exitAfter = false;
                liveL = readByOp = false;
                live = 0;
                // inc/dec, rotates and bit tests read the flags they keep only when those are observed.
                if (u.Merges) { u.Reads = u.KeptObserved; live = kept; liveL = readByOp = u.Reads; }
            }
            else if (exitAfter) NoteWritten(ref _ops[k], written);
            if (u.Sets) lastSeen = true;
            // A shift by CL reads the state before (a zero count keeps it) only when its own is observed.
            bool shiftByCl = !u.Sets && IsShiftByCl(ref _ops[k]);
            if (shiftByCl) { u.ComputeL = liveL; u.ShiftAtExit = liveL && !readByOp && !_prefix; }
            if (u.Reads && !u.Merges && (!shiftByCl || u.ComputeL)) { live |= u.Mask; liveL = readByOp = true; }
            if (u.FaultBefore) { live = AllStatus; liveL = true; exitAfter = true; }
        }
        return liveL;
    }

    /// <summary>
    /// Whether op <paramref name="k"/> of block <paramref name="j"/>, whose state only exits observe
    /// (<paramref name="live"/> the flags they do), can leave it for them (<see cref="FlagUse.RotateAtExit"/>):
    /// a rol or ror of a 32- or 64-bit register by an immediate, after another setter in its block (the
    /// state it keeps is then one the exits can make whole), whose register the ops up to those exits
    /// leave alone when they observe its own CF or OF.
    /// </summary>
    private bool RotateLeftForExits(int j, int k, ulong live, Span<uint> written)
    {
        ref Op op = ref _ops[k];
        if (_prefix || !IsRotate(ref op) || op.Form != Form.R || op.R0 >= 16 || op.Size < 4 || ShiftCount(ref op) == 0) return false;
        if ((live & _use[k].Mask) != 0 && (written[System.Numerics.BitOperations.Log2(op.Size)] & (1u << op.R0)) != 0) return false;
        for (int p = k - 1; p >= _first[j]; p--)
            if (_use[p].Sets) return true;
        return false;
    }

    /// <summary>
    /// Adds the registers <paramref name="op"/> writes to <paramref name="written"/> (per size class c:
    /// the registers whose low 2^c bytes may change), less those whose low bytes it keeps: a sign or
    /// zero extension of a register into itself (<c>add %ebx, %edx; movslq %edx, %rdx</c>, C's int
    /// index, keeps the add's 32-bit result in edx).
    /// </summary>
    private static void NoteWritten(ref Op op, Span<uint> written)
    {
        uint regs = RegistersWritten(ref op);
        int kept = op.Kind switch
        {
            OpKind.MovsxRR or OpKind.MovzxRR or OpKind.Movsx or OpKind.Movzx when op.Form == Form.RR && op.R0 == op.R1 && op.R0 < 16 => op.Size2,
            OpKind.MovRR32 when op.R0 == op.R1 && op.R0 < 16 => 4,
            _ => 0,
        };
        for (int c = 0; c < written.Length; c++)
            written[c] |= (1 << c) <= kept ? regs & ~(1u << op.R0) : regs;
    }

    /// <summary>
    /// Whether the code may leave the region at block <paramref name="j"/>'s end, so the flag state must
    /// be whole there: a prefix, a ret or an indirect jump (whose target is known only at run time), a
    /// target outside the region, a budget check point (<see cref="PlanBudgetChecks"/>), or a handler
    /// that may rewrite code (the edge checks).
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
        return targets < 0 || successors.Count < targets || successors.Exists(t => _checkPoint[t]);
    }

    /// <summary>The flag effect of one op, mirroring its interpreter handler's order of reads, writes and SetFlags.</summary>
    private static FlagUse Classify(ref Op op)
    {
        var u = new FlagUse { FaultBefore = AccessesMemory(ref op), Size = op.Size };
        switch (op.Kind)
        {
            case OpKind.Jcc: case OpKind.Setcc: case OpKind.Cmov:
                u.Reads = true; u.Mask = ConditionFlags(op.Cond); break;
            case OpKind.IncDecR64: case OpKind.IncDecR32: case OpKind.Inc: case OpKind.Dec:
                u.Sets = u.Aux = u.Merges = true; u.Mask = AllStatus & ~FlagMath.CF;
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
                // A rotate by CL keeps every flag when the count is zero (Mask 0).
                if (IsRotateByCl(ref op)) { u.Sets = u.Aux = u.Merges = true; u.Kind = FlagOp.Explicit; }
                else if (IsShiftByCl(ref op)) { u.Reads = true; u.Mask = AllStatus; }
                else if (ShiftCount(ref op) != 0)
                {
                    u.Sets = u.Aux = true;
                    u.Merges = IsRotate(ref op);
                    u.Mask = FlagMath.CF | FlagMath.OF;
                    u.Kind = u.Merges ? FlagOp.Explicit : FlagOp.ResultAux;
                    u.AuxFromOperand = !u.Merges;
                }
                break;
            case OpKind.Imul2: case OpKind.Imul3:
                u.Sets = u.Aux = true; u.Kind = FlagOp.ResultAux;
                u.AuxFromOperand = true;   // CF = OF = the product overflowed: from the operands it keeps
                break;
            case OpKind.Mul1: case OpKind.Imul1:
                u.Sets = u.Aux = true; u.Kind = FlagOp.ResultAux; break;
            case OpKind.Div: case OpKind.Idiv:
                u.FaultBefore = true; break;   // #DE and the rare dividends leave for the interpreter
            case OpKind.SseComi:
                u.Sets = u.Aux = true; u.Kind = FlagOp.Explicit; u.Size = 8; break;
            case OpKind.Bsf: case OpKind.Bsr: case OpKind.Tzcnt: case OpKind.Lzcnt: case OpKind.Bt:
                u.Sets = u.Aux = u.Merges = true; u.Kind = FlagOp.Explicit;   // the other status flags kept
                u.Mask = op.Kind switch { OpKind.Bt => FlagMath.CF, OpKind.Bsf or OpKind.Bsr => FlagMath.ZF, _ => FlagMath.CF | FlagMath.ZF };
                break;
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
                u.Mask = FlagMath.CF;
                // Registers whose local holds the operand in its low bytes (no ah, ch, dh, bh).
                bool inRegisters = op.R0 < 16 && (op.Form == Form.RI || op.Form == Form.RR && op.R1 < 16);
                u.OperandsInRegisters = inRegisters && sub is AluOp.Cmp or AluOp.Test;
                // cmp/test of memory with a register or an immediate (xgboost's `cmp %cl, (%r9,%rdx); jb`
                // closing its tree walk): the loaded operand in its local, the other in place.
                bool memoryWithRegister = sub is AluOp.Cmp or AluOp.Test && op.Seg == 0
                    && (op.Form == Form.RM && op.R0 < 16 || op.Form == Form.MR && op.R1 < 16 || op.Form == Form.MI);
                if (memoryWithRegister)
                {
                    u.OperandsInRegisters = true;
                    u.RegA = op.Form == Form.RM ? op.R0 : InMemoryLocal;
                    u.RegB = op.Form == Form.RM ? InMemoryLocal : op.Form == Form.MR ? op.R1 : Op.NoReg;
                    u.ImmB = op.Imm & FlagMath.Mask(op.Size);
                    break;
                }
                // add/sub of an immediate or another register: a = r ∓ b; and/or/xor: r is the register.
                u.OperandRecoverable = inRegisters && sub is AluOp.Add or AluOp.Sub or AluOp.And or AluOp.Or or AluOp.Xor
                    && (op.Form == Form.RI || sub is not (AluOp.Add or AluOp.Sub) || op.R1 != op.R0);
                u.RegA = op.R0;
                u.RegB = op.Form == Form.RR ? op.R1 : Op.NoReg;
                u.ImmB = op.Imm & FlagMath.Mask(op.Size);
                break;
        }
        return u;
    }

    /// <summary>The six status flags (RFLAGS bits), all of which an exit or a handler observes.</summary>
    private const ulong AllStatus = FlagMath.CF | FlagMath.PF | FlagMath.AF | FlagMath.ZF | FlagMath.SF | FlagMath.OF;

    /// <summary>The status flags condition <paramref name="cc"/> reads (jcc, setcc, cmovcc), as FlagMath.Evaluate.</summary>
    private static ulong ConditionFlags(int cc) => (cc >> 1) switch
    {
        0 => FlagMath.OF,
        1 => FlagMath.CF,
        2 => FlagMath.ZF,
        3 => FlagMath.CF | FlagMath.ZF,
        4 => FlagMath.SF,
        5 => FlagMath.PF,
        6 => FlagMath.SF | FlagMath.OF,
        _ => FlagMath.ZF | FlagMath.SF | FlagMath.OF,
    };

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
}
