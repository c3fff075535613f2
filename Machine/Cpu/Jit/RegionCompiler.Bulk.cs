using System.Numerics;
using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Copy and fill loops run at once. A freestanding program's memcpy, memmove and memset (WeensyOS's
/// lib.c, a course's runtime, gcc told not to call the library) are loops of one block moving one
/// element a pass: `movzbl (%rsi,%rcx),%edi; mov %dil,(%rax,%rcx); add $1,%rcx; cmp %rcx,%rdx; jne`.
/// Their fast copy (RegionCompiler.Strides.cs) still runs ~20 host instructions an element; here, at
/// the pass count, the passes that the windows and the budget allow and that go round again (worked
/// out from the exit test: the stepped register's distance to what it is compared with) are done as
/// one memmove or fill of the host memory, their registers stepped and their instructions charged,
/// and the last pass (or the one that leaves) runs as compiled code, so the registers it writes and
/// the flags are the loop's own. Elements of 1 to 8 bytes through a general register, or of 16 through
/// an XMM register (gcc's vectorised zeroing: `movups %xmm0,(%rax); add $16,%rax; cmp %rax,%rdx; jne`).
/// Exactly the interpreter's result: the passes' stores and loads all lie
/// in their windows (no fault, no code page: a write window holds none); a copy whose stores would
/// reach a later pass's load (a forward copy onto its own source just ahead: it repeats a pattern)
/// is left to the passes, as are fewer than <see cref="MinBulkPasses"/>.
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>
    /// A loop of one block moving one element a pass: its store and load (null: a fill of the register
    /// <see cref="FillReg"/>'s low bytes or of <see cref="FillImm"/>), the element's bytes, the exit
    /// test (the loop goes round while <see cref="Counter"/>, stepped by <see cref="CounterStep"/> a
    /// pass, differs from register <see cref="TargetReg"/> or the constant <see cref="TargetImm"/>, or
    /// stands to it as <see cref="While"/> says, unsigned), and the registers each pass steps by a
    /// constant (<see cref="Steps"/>).
    /// </summary>
    private sealed class BulkPlan
    {
        public StridedAccess? Store;
        public StridedAccess? Load;
        public required int Size;
        /// <summary>16-byte elements through an XMM register (movups, movaps, movdqa, movdqu); the aligned forms' addresses must be multiples of 16.</summary>
        public bool Xmm, AlignedLoad, AlignedStore;
        public byte FillReg = Op.NoReg;
        public ulong FillImm;
        public required Affine Counter;
        public required long CounterStep;
        public byte TargetReg = Op.NoReg;
        public ulong TargetImm;
        public required RoundWhile While;
        public required List<(byte Reg, long Step)> Steps;
        /// <summary>
        /// The exit test reads the loaded byte instead (strlen, a copy up to the NUL, a skip of spaces):
        /// the loop goes round while the byte differs from <see cref="SearchByte"/> (or, <see cref="WhileEqual"/>, equals it).
        /// </summary>
        public bool DataExit, WhileEqual;
        public byte SearchByte;
    }

    /// <summary>How a bulk loop's counter stands to its target while the loop goes round: unequal, or below, at most, above, at least (unsigned).</summary>
    private enum RoundWhile : byte { Unequal, Below, AtMost, Above, AtLeast }

    /// <summary>Fewer passes than this run as passes (the call costs about as much as that many).</summary>
    private const int MinBulkPasses = 16;

    /// <summary>
    /// The bulk plan of a strided loop, or null: one block (its head) ending in a jcc back to itself,
    /// whose ops are one store and at most one load before it (a copy: the store writes the register
    /// the load wrote, of the same size, both stepping by the size the same way), register steps
    /// (add, sub of a constant, lea, mov), compares, and as its last flag setter before the jcc a
    /// test of a stepped register: against its target by a power of two, or in order stepping towards
    /// it (<see cref="ExitTest"/>); every register the block
    /// writes either stepped by a constant a pass or written before it is read (the last pass writes it again).
    /// </summary>
    private BulkPlan? PlanBulk(StridedLoop loop)
    {
        if (loop.Blocks.Length != 1) return null;
        int h = loop.Head, first = _first[h], n = _blocks[h].Count;
        ref Op jcc = ref _ops[first + n - 1];
        if (jcc.Kind != OpKind.Jcc || jcc.Imm != _blocks[h].Va || n < 3) return null;
        Span<Affine> value = stackalloc Affine[16];
        for (byte r = 0; r < 16; r++) value[r] = Affine.Of(r);
        uint written = 0, readFirst = 0;
        StridedAccess? load = null, store = null;
        int size = 0, loadAt = -1;
        byte loaded = Op.NoReg, loadedXmm = Op.NoReg, fillReg = Op.NoReg;   // loaded: a general register
        ulong fillImm = 0;
        bool xmm = false, alignedLoad = false, alignedStore = false;
        var atExitTest = new Affine[16];   // the registers' values as the op before the jcc starts (ExitTest)
        for (int k = first; k < first + n - 1; k++)
        {
            ref Op op = ref _ops[k];
            if (k == first + n - 2) value.CopyTo(atExitTest);
            uint reads = BulkReads(ref op);
            if (reads == uint.MaxValue) return null;
            readFirst |= reads & ~written;
            if (MemoryOperand(ref op))
            {
                if (_stridedAt[k] is not StridedAccess a || _groupOf[k] >= 0) return null;
                if (op.Kind == OpKind.SseMov)
                {
                    // 16 bytes through an XMM register, which only these two ops of the loop touch.
                    if (op.Form == Form.MR ? store != null || load != null && op.R1 != loadedXmm : load != null || store != null) return null;
                    if (op.Form == Form.MR) { store = a; fillReg = op.R1; alignedStore = op.Size2 == 1; }
                    else { load = a; loadedXmm = op.R0; alignedLoad = op.Size2 == 1; }
                    xmm = true;
                    size = 16;
                    TrackValues(ref op, value);
                    continue;
                }
                if (xmm) return null;
                if (op.Kind == OpKind.Alu && op.Form == Form.MI)
                {
                    // cmpb $imm,(mem): a load whose byte only the exit test reads.
                    if (load != null || store != null) return null;
                    load = a;
                    loadAt = k;
                    size = 1;
                    TrackValues(ref op, value);
                    continue;
                }
                if (op.Kind is OpKind.MovMR or OpKind.MovMR32 or OpKind.MovMR64 or OpKind.MovMI)
                {
                    if (store != null || op.R1 >= 16 && op.Kind != OpKind.MovMI) return null;
                    store = a;
                    if (load != null && (op.Kind == OpKind.MovMI || op.R1 != loaded || op.Size != size)) return null;
                    size = op.Size;
                    if (op.Kind == OpKind.MovMI) fillImm = op.Imm;
                    else fillReg = op.R1;
                }
                else
                {
                    if (load != null || store != null || op.R0 >= 16) return null;
                    load = a;
                    loadAt = k;
                    loaded = op.R0;
                    size = op.Kind is OpKind.MovzxRM or OpKind.MovsxRM ? op.Size2 : op.Size;
                }
            }
            TrackValues(ref op, value);
            uint writes = Compares(ref op) ? 0 : RegistersWritten(ref op);
            if (loaded < 16 && (writes >> loaded & 1) != 0 && k != loadAt) return null;   // the stored value must be the loaded one
            written |= writes;
        }
        var data = load != null && size == 1 && load.Stride is 1 or -1 ? DataExit(first + n - 2, jcc.Cond, loadAt, loaded) : null;
        if (store == null && data == null) return null;
        if (store != null && (store.Stride != size && store.Stride != -size || load != null && load.Stride != store.Stride)) return null;
        if (!xmm && load == null && fillReg != Op.NoReg && (written >> fillReg & 1) != 0) return null;   // a fill of a register the loop changes
        if (loaded < 16 && (readFirst >> loaded & 1) != 0) return null;
        var steps = new List<(byte, long)>();
        for (byte r = 0; r < 16; r++)
        {
            if ((written >> r & 1) == 0 || (readFirst >> r & 1) == 0) continue;   // unwritten, or written first each pass
            if (value[r] is not { Terms: 1, S0: 0 } v || v.R0 != r) return null;
            steps.Add((r, v.Disp));
        }
        if (data is var (searchByte, whileEqual))
            return new BulkPlan
            {
                Store = store, Load = load, Size = size, FillReg = fillReg, Counter = Affine.Unknown, CounterStep = 0, While = RoundWhile.Unequal,
                Steps = steps, DataExit = true, SearchByte = searchByte, WhileEqual = whileEqual,
            };
        if (store == null || ExitTest(first + n - 2, jcc.Cond, written, atExitTest) is not var (counter, target, targetReg, round)) return null;
        long step = counter.Terms == 1 ? steps.Find(s => s.Item1 == counter.R0).Item2 : 0;
        if (step == 0 || step is < -(1L << 40) or > 1L << 40) return null;
        if (round == RoundWhile.Unequal ? !BitOperations.IsPow2(Math.Abs(step))
            : round is RoundWhile.Below or RoundWhile.AtMost ? step < 0 : step > 0) return null;   // stepping away: it would wrap round
        return new BulkPlan
        {
            Store = store, Load = load, Size = size, FillReg = fillReg, FillImm = fillImm, Xmm = xmm, AlignedLoad = alignedLoad, AlignedStore = alignedStore,
            Counter = counter, CounterStep = step, TargetReg = targetReg, TargetImm = target, While = round, Steps = steps,
        };
    }

    /// <summary>
    /// The exit test of a bulk loop's jcc (condition <paramref name="cc"/>) after op <paramref name="k"/>
    /// (which must set every flag it reads; <paramref name="value"/> the registers' values as it starts,
    /// from those at the pass's start): the loop goes round while the value of register R at op k
    /// (R as the pass starts plus a constant, R stepped each pass) differs from an unwritten register
    /// or a constant, or stands to it in an unsigned order. jne after cmp, test r,r, add or sub (the
    /// result against 0); jb, jae, jbe, ja after cmp (either operand the counter); jae after sub 1 and
    /// jb after add -1 (the value before against 0: the borrow or carry tells it was 0). Null otherwise.
    /// </summary>
    private (Affine Counter, ulong Target, byte TargetReg, RoundWhile While)? ExitTest(int k, byte cc, uint written, Affine[] value)
    {
        ref Op op = ref _ops[k];
        bool Unwritten(byte r) => r < 16 && (written >> r & 1) == 0;
        bool Stepped(Affine a) => a is { Terms: 1, S0: 0 } && (written >> a.R0 & 1) != 0;
        const byte Below = 2, AboveOrEqual = 3, NotEqual = 5, BelowOrEqual = 6, Above = 7;
        // cmp a, b: the loop goes round while a < b (jb), a >= b (jae), a <= b (jbe), a > b (ja), or a != b.
        RoundWhile? order = cc switch
        {
            NotEqual => RoundWhile.Unequal, Below => RoundWhile.Below, AboveOrEqual => RoundWhile.AtLeast,
            BelowOrEqual => RoundWhile.AtMost, Above => RoundWhile.Above, _ => null,
        };
        // The same with the operands swapped (the counter is b): b > a, b <= a, b >= a, b < a.
        RoundWhile? Swapped(RoundWhile w) => w switch
        {
            RoundWhile.Below => RoundWhile.Above, RoundWhile.AtLeast => RoundWhile.AtMost,
            RoundWhile.AtMost => RoundWhile.AtLeast, RoundWhile.Above => RoundWhile.Below, _ => w,
        };
        bool compare = op.Kind == OpKind.CmpRR64 || op.Kind == OpKind.AluRR64 && (AluOp)op.Cond == AluOp.Cmp;
        bool compareImm = op.Kind == OpKind.CmpRI64 || op.Kind == OpKind.AluRI64 && (AluOp)op.Cond == AluOp.Cmp;
        if (order is RoundWhile w && (compare || compareImm))
        {
            if (op.R0 >= 16 || compare && op.R1 >= 16) return null;
            if (compareImm) return Stepped(value[op.R0]) ? (value[op.R0], op.Imm, Op.NoReg, w) : null;
            if (Stepped(value[op.R0]) && Unwritten(op.R1)) return (value[op.R0], 0, op.R1, w);
            if (Stepped(value[op.R1]) && Unwritten(op.R0)) return (value[op.R1], 0, op.R0, Swapped(w)!.Value);
            return null;
        }
        long? by = op.Size == 8 && op.R0 < 16 ? ConstantStep(ref op, op.R0) : null;
        if (cc == NotEqual)
        {
            if (op.Kind == OpKind.TestRR64 && op.R0 == op.R1)
                return op.R0 < 16 && Stepped(value[op.R0]) ? (value[op.R0], 0, Op.NoReg, RoundWhile.Unequal) : null;
            if (by is long add && op.Kind != OpKind.IncDecR64 && Stepped(value[op.R0]))
                return (value[op.R0] with { Disp = unchecked(value[op.R0].Disp + add) }, 0, Op.NoReg, RoundWhile.Unequal);
            return null;
        }
        // sub $1 then jae, add $-1 then jb: round again while the value before was not 0.
        bool borrowTest = cc == AboveOrEqual && by == -1 && op.Kind != OpKind.IncDecR64 && !IsAddOfMinusOne(ref op)
            || cc == Below && by == -1 && IsAddOfMinusOne(ref op);
        return borrowTest && Stepped(value[op.R0]) ? (value[op.R0], 0, Op.NoReg, RoundWhile.Unequal) : null;
    }

    /// <summary>
    /// The exit test of a loop of byte loads (the load op <paramref name="loadAt"/>, into register
    /// <paramref name="loaded"/>, or a cmpb of memory itself) when the jcc (condition
    /// <paramref name="cc"/>: jne or je) reads the loaded byte through op <paramref name="k"/>: cmpb
    /// $imm of the memory, test of the byte register with itself (of its 32 or 64 bits after a movzbl),
    /// cmp $imm of the byte register (of its 32 bits after a movzbl, imm a byte). The byte searched
    /// for and whether the loop goes round while the byte equals it (je) or differs (jne); else null.
    /// </summary>
    private (byte Value, bool WhileEqual)? DataExit(int k, byte cc, int loadAt, byte loaded)
    {
        const byte Equal = 4, NotEqual = 5;
        if (cc is not (Equal or NotEqual)) return null;
        bool whileEqual = cc == Equal;
        ref Op op = ref _ops[k];
        ref Op load = ref _ops[loadAt];
        bool zeroExtendedByte = load.Kind == OpKind.MovzxRM && load.Size2 == 1;
        if (k == loadAt) return op.Kind == OpKind.Alu && op.Form == Form.MI && (AluOp)op.Cond == AluOp.Cmp && op.Size == 1 ? ((byte)op.Imm, whileEqual) : null;
        if (loaded >= 16 || op.R0 != loaded) return null;
        if (op.Kind == OpKind.Alu && op.Form == Form.RR && (AluOp)op.Cond == AluOp.Test && op.Size == 1 && op.R1 == loaded
            || op.Kind is OpKind.TestRR32 or OpKind.TestRR64 && op.R1 == loaded && zeroExtendedByte)
            return (0, whileEqual);
        if (op.Kind == OpKind.Alu && op.Form == Form.RI && (AluOp)op.Cond == AluOp.Cmp && op.Size == 1)
            return ((byte)op.Imm, whileEqual);
        if (op.Kind == OpKind.CmpRI32 && zeroExtendedByte && op.Imm <= 0xFF)
            return ((byte)op.Imm, whileEqual);
        return null;
    }

    /// <summary>Whether the op is add $-1 (whose carry is set unless the register was 0), not sub $1 (whose borrow is set only when it was).</summary>
    private static bool IsAddOfMinusOne(ref Op op) =>
        op.Kind == OpKind.AddRI64 || op.Kind == OpKind.AluRI64 && (AluOp)op.Cond == AluOp.Add
        || op.Kind == OpKind.Alu && (AluOp)op.Cond == AluOp.Add;

    /// <summary>
    /// The registers a bulk loop's op reads (bit r), or all ones when the op may not be in one: plain
    /// loads and stores, 64-bit register steps, lea, mov, cmp and test (inc and dec keep the carry,
    /// which a skipped pass would not leave as it was, so they are not among them).
    /// </summary>
    private static uint BulkReads(ref Op op)
    {
        uint Bit(byte r) => r < 16 ? 1u << r : 0;
        uint address = Bit(op.Base) | Bit(op.Index);
        bool plain = op.Seg == 0 && (op.Flags & OpFlags.Addr32) == 0;
        switch (op.Kind)
        {
            case OpKind.MovzxRM or OpKind.MovsxRM when plain && op.Size2 is 1 or 2: return address;
            case OpKind.MovRM32 or OpKind.MovRM64: return address;
            case OpKind.MovRM when op.Size is 1 or 2: return address;
            case OpKind.MovMR32 or OpKind.MovMR64: return address | Bit(op.R1);
            case OpKind.MovMR when op.Size is 1 or 2: return address | Bit(op.R1);
            case OpKind.MovMI: return address;
            case OpKind.SseMov when plain && op.Form is Form.RM or Form.MR: return address;
            case OpKind.Alu when plain && op.Form == Form.MI && op.Size == 1 && (AluOp)op.Cond == AluOp.Cmp: return address;
            case OpKind.Alu when op.Form == Form.RR && op.Size == 1 && (AluOp)op.Cond == AluOp.Test && op.R0 == op.R1: return Bit(op.R0);
            case OpKind.Alu when op.Form == Form.RI && op.Size == 1 && (AluOp)op.Cond == AluOp.Cmp: return Bit(op.R0);
            case OpKind.TestRR32 when op.R0 == op.R1: return Bit(op.R0);
            case OpKind.CmpRI32: return Bit(op.R0);
            case OpKind.Lea when op.Size == 8 && plain: return address;
            case OpKind.MovRR64: return Bit(op.R1);
            case OpKind.AddRI64 or OpKind.SubRI64 or OpKind.CmpRI64: return Bit(op.R0);
            case OpKind.CmpRR64 or OpKind.TestRR64: return Bit(op.R0) | Bit(op.R1);
            case OpKind.AluRI64 when (AluOp)op.Cond is AluOp.Add or AluOp.Sub or AluOp.Cmp: return Bit(op.R0);
            case OpKind.AluRR64 when (AluOp)op.Cond == AluOp.Cmp: return Bit(op.R0) | Bit(op.R1);
            default: return uint.MaxValue;
        }
    }

    /// <summary>
    /// At a bulk loop's pass count (Passes counted, its windows hold every counted pass): runs
    /// min(Passes - 1, passes before the exit) passes at once when at least <see cref="MinBulkPasses"/>
    /// and the copy's stores reach no later load; their registers stepped, their instructions charged
    /// to _left, Passes less them. The fast copy then runs the rest.
    /// </summary>
    private void EmitBulk(StridedLoop loop, BulkPlan plan)
    {
        if (plan.Store is { Accesses: not 1 } || plan.Load is { Accesses: not 1 }) return;   // tested in both copies: no window to trust
        var skip = _il.DefineLabel();
        var go = _il.DeclareLocal(typeof(ulong));
        LocalBuilder? loadHost = null;
        if (plan.DataExit) loadHost = EmitPassesBeforeTheByte(loop, plan, go, skip);
        else EmitPassesBeforeTheExit(plan, go, skip);
        EmitBulkPasses(loop, plan, go, skip, loadHost);
        _il.MarkLabel(skip);
    }

    /// <summary>
    /// go = the passes that go round again before the exit test fails: the distance from the counter
    /// (its value now) to its target in steps. Unequal: none reach it when the distance is not a
    /// multiple (then every pass goes round). In order: none when the first pass already leaves;
    /// leaves for <paramref name="skip"/> (no pass at once) when the counter could wrap round before
    /// it passes the target.
    /// </summary>
    private void EmitPassesBeforeTheExit(BulkPlan plan, LocalBuilder go, Label skip)
    {
        ulong stride = (ulong)Math.Abs(plan.CounterStep);
        void Target() { if (plan.TargetReg != Op.NoReg) LoadReg(plan.TargetReg); else Const(plan.TargetImm); }
        if (plan.While != RoundWhile.Unequal)
        {
            bool up = plan.While is RoundWhile.Below or RoundWhile.AtMost, inclusive = plan.While is RoundWhile.AtMost or RoundWhile.AtLeast;
            // Going up, the counter passes the target below 2^64 when target + stride does not wrap; going down, above 0 when target >= stride.
            Target();
            Const(up ? ulong.MaxValue - stride : stride);
            _il.Emit(up ? OpCodes.Bgt_Un : OpCodes.Blt_Un, skip);
            // The first pass leaves: the counter is already past (or, exclusive, at) the target.
            EmitValue(plan.Counter);
            Target();
            _il.Emit((up, inclusive) switch { (true, false) => OpCodes.Bge_Un, (true, true) => OpCodes.Bgt_Un, (false, false) => OpCodes.Ble_Un, _ => OpCodes.Blt_Un }, skip);
            // go = |target - counter| / stride, rounded up (exclusive) or plus one (inclusive).
            if (up) { Target(); EmitValue(plan.Counter); } else { EmitValue(plan.Counter); Target(); }
            _il.Emit(OpCodes.Sub);
            if (!inclusive) { Const(stride - 1); _il.Emit(OpCodes.Add); }
            Const(stride);
            _il.Emit(OpCodes.Div_Un);
            if (inclusive) { Const(1); _il.Emit(OpCodes.Add); }
            _il.Emit(OpCodes.Stloc, go);
            return;
        }
        Target();
        EmitValue(plan.Counter);
        _il.Emit(OpCodes.Sub);
        if (plan.CounterStep < 0) _il.Emit(OpCodes.Neg);
        _il.Emit(OpCodes.Stloc, go);
        if (stride > 1)
        {
            var exact = _il.DefineLabel();
            var done = _il.DefineLabel();
            _il.Emit(OpCodes.Ldloc, go);
            Const(stride - 1);
            _il.Emit(OpCodes.And);
            _il.Emit(OpCodes.Brfalse, exact);
            Const(ulong.MaxValue);
            _il.Emit(OpCodes.Stloc, go);
            _il.Emit(OpCodes.Br, done);
            _il.MarkLabel(exact);
            _il.Emit(OpCodes.Ldloc, go);
            _il.Emit(OpCodes.Ldc_I4, BitOperations.Log2(stride));
            _il.Emit(OpCodes.Shr_Un);
            _il.Emit(OpCodes.Stloc, go);
            _il.MarkLabel(done);
        }
    }

    /// <summary>
    /// go = the passes that go round again before the loaded byte ends the loop, of the counted passes
    /// but the last: the first such byte in the host memory the load walks (up or down), found by one search.
    /// Returns the local holding the load's first host address (a copy up to the NUL copies from there).
    /// </summary>
    private LocalBuilder EmitPassesBeforeTheByte(StridedLoop loop, BulkPlan plan, LocalBuilder go, Label skip)
    {
        _il.Emit(OpCodes.Ldloc, loop.Passes);
        Const(1);
        _il.Emit(OpCodes.Sub);
        _il.Emit(OpCodes.Dup);
        _il.Emit(OpCodes.Stloc, go);
        Const(MinBulkPasses);
        _il.Emit(OpCodes.Blt_Un, skip);
        var from = _il.DeclareLocal(typeof(ulong));
        EmitHost(plan.Load!, from);
        // The byte among the first 16 (in the window: at least 16 passes are) ends the loop before
        // any pass could run at once: two 8-byte tests inline, so a short string costs no call.
        const ulong Ones = 0x0101_0101_0101_0101, Highs = 0x8080_8080_8080_8080;
        var x = _il.DeclareLocal(typeof(ulong));
        for (int word = 0; word < 2; word++)
        {
            _il.Emit(OpCodes.Ldloc, from);
            if (plan.Load!.Stride < 0) { Const((ulong)(8 * word + 7)); _il.Emit(OpCodes.Sub); }
            else if (word != 0) { Const(8); _il.Emit(OpCodes.Add); }
            _il.Emit(OpCodes.Conv_U);
            _il.Emit(OpCodes.Unaligned, (byte)1);
            _il.Emit(OpCodes.Ldind_I8);
            Const(plan.SearchByte * Ones);
            _il.Emit(OpCodes.Xor);   // x: a zero byte where the byte is the one searched for
            if (plan.WhileEqual) { _il.Emit(OpCodes.Brtrue, skip); continue; }   // a byte that differs
            _il.Emit(OpCodes.Stloc, x);
            _il.Emit(OpCodes.Ldloc, x);
            Const(Ones);
            _il.Emit(OpCodes.Sub);
            _il.Emit(OpCodes.Ldloc, x);
            _il.Emit(OpCodes.Not);
            _il.Emit(OpCodes.And);
            Const(Highs);
            _il.Emit(OpCodes.And);
            _il.Emit(OpCodes.Brtrue, skip);   // (x - 0x01..) & ~x & 0x80..: exactly when x has a zero byte
        }
        _il.Emit(OpCodes.Ldloc, from);
        _il.Emit(OpCodes.Ldloc, go);
        _il.Emit(plan.Load!.Stride < 0 ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
        _il.Emit(OpCodes.Ldc_I4, (int)plan.SearchByte);
        _il.Emit(plan.WhileEqual ? OpCodes.Ldc_I4_1 : OpCodes.Ldc_I4_0);
        _il.Emit(OpCodes.Call, JitMembers.BulkSearch);
        _il.Emit(OpCodes.Stloc, go);
        return from;
    }

    /// <summary>Runs min(go, Passes - 1) passes at once when at least <see cref="MinBulkPasses"/> (else on to <paramref name="skip"/>).</summary>
    private void EmitBulkPasses(StridedLoop loop, BulkPlan plan, LocalBuilder go, Label skip, LocalBuilder? loadHost)
    {
        var passes = loop.Passes;
        // go = min(go, Passes - 1): the last counted pass runs as code.
        var fewer = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, go);
        _il.Emit(OpCodes.Ldloc, passes);
        Const(1);
        _il.Emit(OpCodes.Sub);
        _il.Emit(OpCodes.Blt_Un, fewer);
        _il.Emit(OpCodes.Ldloc, passes);
        Const(1);
        _il.Emit(OpCodes.Sub);
        _il.Emit(OpCodes.Stloc, go);
        _il.MarkLabel(fewer);
        _il.Emit(OpCodes.Ldloc, go);
        Const(MinBulkPasses);
        _il.Emit(OpCodes.Blt_Un, skip);
        if (plan.Store != null) EmitBulkMemory(plan, go, skip, loadHost);
        foreach (var (r, step) in plan.Steps)
        {
            LoadReg(r);
            _il.Emit(OpCodes.Ldloc, go);
            Const((ulong)step);
            _il.Emit(OpCodes.Mul);
            _il.Emit(OpCodes.Add);
            StoreReg(r);
        }
        _il.Emit(OpCodes.Ldloc, _left);
        _il.Emit(OpCodes.Ldloc, go);
        Const((ulong)loop.LongestPass);
        _il.Emit(OpCodes.Mul);
        _il.Emit(OpCodes.Sub);
        _il.Emit(OpCodes.Stloc, _left);
        _il.Emit(OpCodes.Ldloc, passes);
        _il.Emit(OpCodes.Ldloc, go);
        _il.Emit(OpCodes.Sub);
        _il.Emit(OpCodes.Stloc, passes);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldfld, JitMembers.BulkPasses);
        _il.Emit(OpCodes.Ldloc, go);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stfld, JitMembers.BulkPasses);
    }

    /// <summary>
    /// The memory of go passes of a copy or fill (when the aligned forms' first addresses are
    /// multiples of 16, and a copy's stores reach no later pass's load; else on to <paramref name="skip"/>).
    /// <paramref name="loadHost"/>: the load's first host address, when the byte search worked it out already.
    /// </summary>
    private void EmitBulkMemory(BulkPlan plan, LocalBuilder go, Label skip, LocalBuilder? loadHost)
    {
        var store = plan.Store!;
        var to = _il.DeclareLocal(typeof(ulong));
        var from = loadHost ?? _il.DeclareLocal(typeof(ulong));
        var bytes = _il.DeclareLocal(typeof(ulong));
        // An aligned XMM access faults when its address is not a multiple of 16: every pass's is, or none is.
        foreach (var (a, aligned) in new[] { (store, plan.AlignedStore), (plan.Load, plan.AlignedLoad) })
            if (aligned && a != null)
            {
                EmitValue(a.At);
                Const(15);
                _il.Emit(OpCodes.And);
                _il.Emit(OpCodes.Brtrue, skip);
            }
        // The first pass's host addresses, then the lowest element's when the loop walks down.
        _il.Emit(OpCodes.Ldloc, go);
        Const((ulong)plan.Size);
        _il.Emit(OpCodes.Mul);
        _il.Emit(OpCodes.Stloc, bytes);
        EmitHost(store, to);
        if (plan.Load != null && loadHost == null) EmitHost(plan.Load, from);
        if (store.Stride < 0)
            foreach (var host in plan.Load != null ? new[] { to, from } : [to])
            {
                _il.Emit(OpCodes.Ldloc, host);
                _il.Emit(OpCodes.Ldloc, bytes);
                _il.Emit(OpCodes.Sub);
                Const((ulong)plan.Size);
                _il.Emit(OpCodes.Add);
                _il.Emit(OpCodes.Stloc, host);
            }
        if (plan.Load != null)
        {
            // A store reaching a later pass's load: 0 < to - from < bytes going up, 0 < from - to < bytes going down.
            _il.Emit(OpCodes.Ldloc, store.Stride > 0 ? to : from);
            _il.Emit(OpCodes.Ldloc, store.Stride > 0 ? from : to);
            _il.Emit(OpCodes.Sub);
            Const(1);
            _il.Emit(OpCodes.Sub);
            _il.Emit(OpCodes.Ldloc, bytes);
            Const(1);
            _il.Emit(OpCodes.Sub);
            _il.Emit(OpCodes.Blt_Un, skip);
            _il.Emit(OpCodes.Ldloc, from);
            _il.Emit(OpCodes.Ldloc, to);
            _il.Emit(OpCodes.Ldloc, bytes);
            _il.Emit(OpCodes.Call, JitMembers.BulkMove);
        }
        else
        {
            _il.Emit(OpCodes.Ldloc, to);
            _il.Emit(OpCodes.Ldloc, go);
            if (plan.Xmm)
            {
                PushXmm(plan.FillReg);
                _il.Emit(OpCodes.Call, JitMembers.BulkFillVector);
            }
            else
            {
                if (plan.FillReg != Op.NoReg) LoadReg(plan.FillReg); else Const(plan.FillImm);
                _il.Emit(OpCodes.Ldc_I4, plan.Size);
                _il.Emit(OpCodes.Call, JitMembers.BulkFill);
            }
        }
    }

    /// <summary><paramref name="host"/> = the host address of the strided access <paramref name="a"/>'s first pass (its window's addend added).</summary>
    private void EmitHost(StridedAccess a, LocalBuilder host)
    {
        EmitValue(a.At);
        WindowField(a.Window + WindowAddend);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stloc, host);
    }
}
