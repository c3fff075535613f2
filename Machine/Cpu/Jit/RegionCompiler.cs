using System.Diagnostics;
using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Compiles a region, hot blocks of one page that reach each other by direct jumps, calls, returns and
/// indirect jumps (Cpu.CollectRegion picks them), to one <see cref="DynamicMethod"/> (see
/// <see cref="JitCode"/> for the contract). Guest registers and the lazy flags live in IL locals for
/// the whole region: loaded once at entry, written back only when the code leaves. A transfer between
/// member blocks is an IL branch that first charges the finished block to the budget; into an entry
/// or a loop's head it leaves instead when the budget cannot cover the longest run to the next such
/// check (PlanBudgetChecks), and after a block that stores, when stored code was invalidated
/// (RegionCompiler.Control.cs). Flags are tracked at compile time
/// inside a block (RegionCompiler.Flags.cs): a setter nothing observes compiles to nothing, conditions
/// after cmp/test/add compile to plain compares. Memory goes through the interpreter's inlined TLB fast
/// paths; a fault leaves through a side exit that writes back exactly the interpreter's state. Every
/// exit goes through one epilogue (flags, registers, retired count, budget, rip), which may tail-call the
/// compiled block its exit slot is linked to (a direct exit's target, or the block a return pops). Ops without an emitter run through their interpreter
/// handler (EmitInterpreted). A block the region cannot take whole (an op outside the subset) is
/// compiled alone, as its longest compilable prefix; the interpreter runs the rest.
/// Split over files: this one (driver, prologue), .Exits (exits, their tails, the epilogue),
/// .Emit (IL building blocks), .Flags and .FlagPlan (lazy flags), .Moves, .Arith, .MulDiv, .Control
/// (one per instruction family), .Groups (access groups), .Strides (counted passes of loops),
/// .Quick (quick code: the MinOpts padding, the credit count and the blocks' runs), .Size (the IL against RyuJIT's
/// limits, and the cut of a region over them).
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>The CPU the code is for: it owns the accesses' windows.</summary>
    private readonly Cpu _cpu;
    private readonly JitRegion _region;
    private readonly Block[] _blocks;
    private readonly Op[] _ops;
    /// <summary>Ops compiled (all the members' ops, or the entry block's compiled prefix).</summary>
    private readonly int _n;
    private readonly DynamicMethod _method;
    private readonly CountingILGenerator _il;

    /// <summary>Per op: its block's index in the region, and its index within that block.</summary>
    private readonly int[] _blockOf, _offset;
    /// <summary>Per block: the index of its first op, and the label of its code.</summary>
    private readonly int[] _first;
    private readonly Label[] _label;
    /// <summary>Member blocks by start address.</summary>
    private readonly Dictionary<ulong, int> _indexOf = new();
    /// <summary>Index of the op being emitted.</summary>
    private int _i;

    private readonly LocalBuilder?[] _reg = new LocalBuilder?[16];
    private readonly bool[] _written = new bool[16];
    /// <summary>The budget left before the current block (the budget at entry less the blocks finished since); the code-invalidation count at entry.</summary>
    private LocalBuilder _left = null!, _inv0 = null!;
    /// <summary>Per block: an op of it may have rewritten code (a handler call).</summary>
    private readonly bool[] _blockStores;
    /// <summary>The epilogue's inputs: rip, instructions retired, status, the block left (for the dispatcher), direct-exit slot (-1 none).</summary>
    private LocalBuilder _xRip = null!, _xRetired = null!, _xStatus = null!, _xBlock = null!, _xSlot = null!, _next = null!;
    /// <summary>The slot whose block the epilogue tail-calls: the exit's own, or one of a return's ways.</summary>
    private LocalBuilder _xWay = null!;
    /// <summary>The exit's row of JitRegion.Leaves (each exit sets it for the shared tails).</summary>
    private LocalBuilder _xLeave = null!;
    /// <summary>In the shared tails, a reference to that row; in the epilogue, the register file's address.</summary>
    private LocalBuilder _xRow = null!, _xRegs = null!;
    /// <summary>Quick code's credit left after this exit (EmitPromoteCount).</summary>
    private LocalBuilder _xCredit = null!;
    /// <summary>The epilogue, and its entry that first stores the flag locals into the CPU (every exit but those after a faulting handler).</summary>
    private readonly Label _epilogue, _epilogueFlags;

    /// <summary>
    /// A side exit before op <c>Op</c> finishes: its handler call faulted (<c>HandlerFaulted</c>: status
    /// ExitFault, the register file already holds the interpreter's registers and flags, or, after an
    /// x87 handler (<c>StateInLocals</c>, see <see cref="X87Only"/>), the locals still hold them), or its
    /// access missed and the interpreter runs it from its start (ExitResume, with the flag state of
    /// <c>Setter</c>: every compiled op accesses memory before it changes anything).
    /// </summary>
    private readonly record struct FaultStub(Label Label, int Op, int Setter, bool HandlerFaulted, bool StateInLocals = false);
    private readonly List<FaultStub> _faults = new();
    /// <summary>The cmovs compiled as branches (<see cref="CmovAsBranch"/>; a loop's fast copy emits some twice).</summary>
    private readonly HashSet<int> _cmovBranches = new();

    /// <summary>The method covers only the entry block's first _n ops; the interpreter runs the rest.</summary>
    private readonly bool _prefix;
    /// <summary>
    /// Each access group member tests the group's host pointer, 0 when the group's check found neither
    /// its window nor the TLB holding its range, and then takes the TLB fast path itself; else the check
    /// leaves when neither holds it (<see cref="EmitGroupCheck"/>). From the entry block
    /// (Block.GroupMembersTested, Cpu.NoteGroupMiss).
    /// </summary>
    private readonly bool _memberTests;
    /// <summary>Quick code: compiled by RyuJIT with MinOpts (<see cref="PadForMinOpts"/>), counting what it retires until Cpu.Promote compiles it again.</summary>
    private readonly bool _quick;
    /// <summary>The runs of the region's blocks its quick code counted, by address (JitRegion.Runs), or null.</summary>
    private readonly IReadOnlyDictionary<ulong, long>? _runs;

    /// <summary>
    /// Most blocks, and ops, in one region (RyuJIT's time grows with the method). A region takes up to
    /// <see cref="RegionBlocks"/> blocks that ran often in the interpreter, and blocks that barely ran
    /// only while it has fewer than that (Cpu.CollectRegion: filled up with cold blocks to 128,
    /// matmult's regions ran 23% slower). A region whose quick code left it often (Cpu.Promote; every
    /// region without quick code) takes up to <see cref="MaxRegionBlocks"/> hot blocks when optimised,
    /// if the blocks past the usual limit close a loop (Cpu.GrowthClosesLoop): a big function whose hot paths
    /// alone are more than 64 blocks (slre's recursive regex matcher) left its region every 36
    /// instructions in 64-block regions, and ran 35% faster in regions of 128 (the size limit cuts them
    /// near 85); but huffbench's hot loop, which 64 blocks hold, ran 7% slower in regions of 77.
    /// </summary>
    internal const int MaxRegionBlocks = 128, RegionBlocks = 64, MaxRegionOps = 600;
    /// <summary>Most pages one region's blocks lie in (the entry's and others; Cpu.CollectRegion).</summary>
    internal const int MaxRegionPages = 4;

    /// <summary>Prepares the method for <paramref name="blocks"/> (entry first; one block when <paramref name="prefixOps"/> cuts it): op tables, locals, labels.</summary>
    private RegionCompiler(Cpu cpu, Block[] blocks, int prefixOps, bool quick, IReadOnlyDictionary<ulong, long>? runs)
    {
        _cpu = cpu;
        _quick = quick;
        _runs = runs;
        _blocks = blocks;
        _memberTests = blocks[0].GroupMembersTested;
        _prefix = prefixOps < blocks[0].Count;
        var ops = new List<Op>();
        var blockOf = new List<int>();
        var offset = new List<int>();
        _first = new int[blocks.Length];
        for (int j = 0; j < blocks.Length; j++)
        {
            _first[j] = ops.Count;
            _indexOf[blocks[j].Va] = j;
            int count = _prefix ? prefixOps : blocks[j].Count;
            for (int k = 0; k < count; k++) { ops.Add(blocks[j].Ops[k]); blockOf.Add(j); offset.Add(k); }
        }
        _ops = ops.ToArray();
        _n = _ops.Length;
        _blockOf = blockOf.ToArray();
        _offset = offset.ToArray();
        _region = new JitRegion(blocks, _ops);
        _region.Main = _region;
        if (quick && !_prefix) _region.BlockRuns = new long[blocks.Length];
        _region.Runs = runs;
        _region.Quick = quick;
        _region.GroupMembersTested = _memberTests;
        _method = new DynamicMethod($"jit_{blocks[0].Va:x}", typeof(int), [typeof(JitRegion), typeof(Cpu)],
            typeof(Cpu), skipVisibility: true);
        _il = new CountingILGenerator(_method.GetILGenerator(512 + 64 * _n));
        _il.Registers = _reg;
        _label = new Label[blocks.Length];
        for (int j = 0; j < blocks.Length; j++) _label[j] = _il.DefineLabel();
        _epilogue = _il.DefineLabel();
        _epilogueFlags = _il.DefineLabel();
        _leaveTail = _il.DefineLabel();
        _leaveTailDynamic = _il.DefineLabel();
        _leaveTailRegsInFile = _il.DefineLabel();
        _blockStores = new bool[blocks.Length];
        _blockSize = new ILSize[blocks.Length];
        _windows = cpu.ReserveWindows(MaxAccessesPerOp * _n);
    }

    /// <summary>Whether every op of the block can be compiled (natively or through its handler).</summary>
    internal static bool Compilable(Block b)
    {
        for (int k = 0; k < b.Count; k++)
            if (!Supports(ref b.Ops[k]) && !Interpretable(b.Ops[k].Kind)) return false;
        return Supports(ref b.Ops[b.Count - 1]) || b.Count > 1;
    }

    /// <summary>
    /// Compiles the region <paramref name="blocks"/> (entry first, every member <see cref="Compilable"/>),
    /// or, for a single entry block that is not, the longest prefix of it made of supported ops
    /// (<paramref name="ops"/> of them; the interpreter runs the rest). Returns null when not even the
    /// first op can be compiled (the block then stays interpreted). RyuJIT compiles the returned
    /// delegate when first called or prepared (Cpu.PendingRegion); <paramref name="quick"/> code with
    /// MinOpts. Quick regions are cut for size as optimised ones are (their IL but the padding), so a
    /// region keeps its shape when promoted: uncut quick regions left different blocks to regions of
    /// their own, and Embench's edn ran 0.60 → 0.75 s.
    /// </summary>
    public static JitCode? TryEmit(Cpu cpu, ref Block[] blocks, ref (ulong Va, ulong Page)[] foreign, bool quick, out int ops,
        IReadOnlyDictionary<ulong, long>? runs = null)
    {
        Block entry = blocks[0];
        ops = 0;
        int native = 0;
        while (ops < entry.Count && (Supports(ref entry.Ops[ops]) || Interpretable(entry.Ops[ops].Kind)))
        {
            if (Supports(ref entry.Ops[ops])) native++;
            ops++;
        }
        while (ops > 0 && !Supports(ref entry.Ops[ops - 1])) ops--;   // no point ending on a handler call
        if (native == 0) return null;
        if (ops < entry.Count) blocks = [entry];
        while (true)
        {
            var c = new RegionCompiler(cpu, blocks, ops, quick, runs);
            c._region.ForeignPages = foreign;
            if (c.Emit() is JitCode code) return code;
            // Over RyuJIT's limits for optimising (ILSize.OverLimits): the same region without its last members
            // (CollectRegion lists the warm blocks first), at most as many as the limits leave room for.
            cpu.JitRegionsCut++;
            int keep = Math.Min(blocks.Length - 1, c.BlocksThatFit());
            blocks = blocks[..Math.Max(1, keep)];
            var kept = blocks;
            foreign = [.. foreign.Where(p => kept.Any(m => (m.Va & ~0xFFFUL) == p.Va))];   // the pages its members still lie on
        }
    }

    /// <summary>Whether the compiler implements this op (kind and operand form) with the interpreter's exact semantics.</summary>
    internal static bool Supports(ref Op op)
    {
        switch (op.Kind)
        {
            case OpKind.Nop:
            case OpKind.MovRR64: case OpKind.MovRR32: case OpKind.MovRI64: case OpKind.MovRI32:
            case OpKind.MovRM64: case OpKind.MovRM32: case OpKind.MovMR64: case OpKind.MovMR32:
            case OpKind.MovMI: case OpKind.MovMR: case OpKind.MovRM:
            case OpKind.MovzxRR: case OpKind.MovzxRM: case OpKind.MovsxRR: case OpKind.MovsxRM:
            case OpKind.Lea: case OpKind.Bswap: case OpKind.Cbw: case OpKind.Cwd:
            case OpKind.PushR64: case OpKind.PopR64: case OpKind.Leave:
            case OpKind.Cmov: case OpKind.Setcc:
            case OpKind.AddRR64: case OpKind.AddRI64: case OpKind.SubRI64: case OpKind.CmpRR64: case OpKind.CmpRR32:
            case OpKind.CmpRI64: case OpKind.CmpRI32: case OpKind.CmpRM32: case OpKind.CmpRM64:
            case OpKind.AddRR32: case OpKind.AddRI32: case OpKind.SubRR64: case OpKind.SubRR32: case OpKind.XorRR32:
            case OpKind.AndRI32: case OpKind.TestRR64: case OpKind.TestRR32: case OpKind.AddRM64:
            case OpKind.AluRR64: case OpKind.AluRR32: case OpKind.AluRI64: case OpKind.AluRI32:
            case OpKind.AluRM64: case OpKind.AluRM32: case OpKind.Alu:
            case OpKind.IncDecR64: case OpKind.IncDecR32: case OpKind.Inc: case OpKind.Dec:
            case OpKind.Neg: case OpKind.Not:
            case OpKind.ShiftRI64: case OpKind.ShiftRI32:
            case OpKind.Jmp: case OpKind.Jcc: case OpKind.Call: case OpKind.Ret:
                return true;
            case OpKind.Mov: case OpKind.Movzx: case OpKind.Movsx:
                return op.Form is Form.RR or Form.RM or Form.MR or Form.RI or Form.MI;
            case OpKind.Xchg:
                return op.Form == Form.RR;
            case OpKind.Xadd: case OpKind.Cmpxchg:
                return op.Form is Form.RR or Form.MR;
            case OpKind.Push:
                return op.Form is Form.R or Form.M or Form.I;
            case OpKind.Pop:
                return op.Form == Form.R;
            case OpKind.Shift:
                return (ShiftOp)op.Cond is ShiftOp.Shl or ShiftOp.Sal or ShiftOp.Shr or ShiftOp.Sar
                    && ((op.Flags & OpFlags.HasImm) != 0 || op.Form == Form.R)
                    || IsRotate(ref op) || IsRotateByCl(ref op);
            case OpKind.Imul2: case OpKind.Imul3:
                return op.Size is 2 or 4 or 8 && op.Form is Form.RR or Form.RM;
            case OpKind.Mul1: case OpKind.Imul1:
                return op.Form is Form.R or Form.M;
            case OpKind.Div: case OpKind.Idiv:
                return op.Form is Form.R or Form.M && CompilesDivision(ref op);
            case OpKind.JmpIndirect: case OpKind.CallIndirect:
                return op.Form is Form.R or Form.M;
            case OpKind.Bsf: case OpKind.Bsr: case OpKind.Tzcnt: case OpKind.Lzcnt: case OpKind.Popcnt:
                return op.Form is Form.RR or Form.RM;
            case OpKind.Bt:
                return op.Form is Form.RR or Form.RI;
            default:
                return IsSseKind(op.Kind);
        }
    }

    /// <summary>Emits the whole method and creates its delegate; null when a region of several blocks comes out over RyuJIT's limits (<see cref="MaxILInstructions"/>).</summary>
    private JitCode? Emit()
    {
        FindEntries();
        PlanBudgetChecks();
        PlanColdRegisters();   // after the loop depths, before any register's local is made
        for (int k = 0; k < _n; k++)
        {
            if (Supports(ref _ops[k])) continue;
            // Stores on the TLB fast path never reach a page holding code (such pages have no fast
            // write tag), and a store that misses leaves compiled code: only handlers can invalidate
            // code while a region runs.
            _blockStores[_blockOf[k]] = true;
            foreach (int r in HandlerRegisters(ref _ops[k])) if (!_inFile[r]) Reg(r);
        }
        CreateTemps();   // after those, as before the cold registers: RyuJIT's code depends on the locals' order
        PlanAccessGroups();   // after the predecessors: a block may carry on theirs
        PlanStridedLoops();   // after the check points and the groups: accesses outside groups
        AnalyseFlags();   // after the check points: a block ending at one must leave the flags whole
        PlanKnownSetters();
        PlanDeferredStates();   // after the known setters: only blocks that start with a state known at run time
        PlanZeroExtended();
        if (_quick) PadForMinOpts();
        EmitPrologue();
        for (_i = 0; _i < _n; _i++)
        {
            if (_offset[_i] == 0)
            {
                _il.MarkLabel(_label[_blockOf[_i]]);
                _curSetter = _setterIn[_blockOf[_i]];   // the predecessor's setter, or whatever it left in the flag locals
            }
            ref Op op = ref _ops[_i];
            ILSize before = Size;
            if (_offset[_i] == 0)
            {
                EmitHoistedTests(_blockOf[_i]);
                EnterStridedLoop(_blockOf[_i]);
                if (_quick && !_prefix) EmitRunCount(_blockOf[_i]);   // after the label of the edges that skip the tests (BlockLabel)
                _il.ZeroExtended = _zeroExtendedIn[_blockOf[_i]];   // after the labels those mark
            }
            EmitOp(ref op);
            bool blockEnd = _i + 1 == _n || _offset[_i + 1] == 0;
            Debug.Assert(!blockEnd || SetterAtEnd(_blockOf[_i]) < 0 || _curSetter == SetterAtEnd(_blockOf[_i]),
                $"block {_blockOf[_i]} ends with setter {_curSetter}, PlanKnownSetters said {SetterAtEnd(_blockOf[_i])}");
            if (blockEnd && !IsControl(op.Kind))
            {
                // A block cut by its length or the page end (or the prefix) falls through.
                if (_prefix) EmitExit(_ops[_i].NextIp, JitMembers.ExitPrefix);
                else EmitGoto(_blocks[_blockOf[_i]].EndIp);
            }
            _blockSize[_blockOf[_i]] += Size - before;
            if (blockEnd) EmitFastCopy(_blockOf[_i]);   // after a loop's last block; ends its checked copy's
        }
        EmitColdPaths();
        EmitFaultStubs();
        EmitLeaveTails();
        EmitEpilogue();
        // Too big for RyuJIT to optimise: TryEmit cuts the region (the windows reserved are not kept).
        if (Size.OverLimits > 1 && _n > _blocks[0].Count) return null;
        _cpu.CommitWindows(_windows, _windowsUsed);
        _cpu.JitCountedLoops += _loopOf.Where(loop => loop != null).Distinct().Count();
        _cpu.JitRegistersInFile += _inFile.Count(c => c);
        _cpu.JitCmovBranches += _cmovBranches.Count;
        _cpu.JitCmovXors += _cmovXors;
        _cpu.JitCrowdedAccesses += _crowdedTests;
        _region.Windows = (nint)_windows;
        _region.ExitTargets = _exitTargets.ToArray();
        _region.Leaves = _leaves.ToArray();
        _region.Exits = new Block?[_exitTargets.Count];
        _region.ExitsUnverified = new bool[_exitTargets.Count];
        _region.EntryBudget = _reach[0];
        _region.Entries = new (Block, JitCode, int)[_entries.Count - 1];
        for (int e = 1; e < _entries.Count; e++)
        {
            Block m = _blocks[_entries[e]];
            // Entered on m's page (the dispatcher's lookup or a link verifies it): every other page of the region is checked.
            var pages = new List<(ulong Va, ulong Page)>(_region.ForeignPages) { (_blocks[0].Va & ~0xFFFUL, _blocks[0].Pa >> 12) };
            pages.RemoveAll(p => p.Va == (m.Va & ~0xFFFUL));
            _region.Entries[e - 1] = (m, (JitCode)_method.CreateDelegate(typeof(JitCode), _region.At(e, [.. pages])), _reach[_entries[e]]);
        }
        return (JitCode)_method.CreateDelegate(typeof(JitCode), _region);
    }

    /// <summary>The member blocks the method can be entered at: the entry block, then the members the dispatcher kept entering, then the return sites of the calls that leave the region (see <see cref="JitRegion.Entries"/>).</summary>
    private readonly List<int> _entries = [0];

    /// <summary>
    /// Adds to <see cref="_entries"/> the return sites of the calls that leave the region, or whose
    /// callee may leave it before it returns (<see cref="CalleeMayLeave"/>): that callee's return then
    /// may run in another region's code (the callee's own, entered where it came back), and reaches the
    /// return site through the dispatcher. Such a return site not an entry ran interpreted until it was
    /// hot enough to root a region of its own, a copy of most of this one: CoreMark compiled its main
    /// loop five times and 51 regions in all, 22 with these entries, and entered compiled code 3.4
    /// million times instead of 0.5. Only these: an entry into a loop's body makes the loop irreducible
    /// and RyuJIT then allocates registers worse (every member an entry cost mix's quicksort 15%; the
    /// return sites of every call, recursive tak 30%), but a loop whose call leaves the region is no IL
    /// loop through that call anyway. The price: a loop calling helpers with an error branch that is
    /// never taken (a call out of the region) gets entries in its body too, 5 to 8% slower on such
    /// probes (stop 24, best of several runs; CoreMark 19% faster). Before them, the members the
    /// dispatcher kept entering without code (Block.WantsEntry, set by Cpu.Reenter): a path that left
    /// the region comes back there, and is better served by an entry than by a copy of the region.
    /// </summary>
    private void FindEntries()
    {
        if (_prefix) return;
        for (int j = 1; j < _blocks.Length; j++)
            if (_blocks[j].WantsEntry) _entries.Add(j);
        foreach (Block b in _blocks)
        {
            ref Op last = ref b.Ops[b.Count - 1];
            bool leaves = last.Kind == OpKind.CallIndirect
                || last.Kind == OpKind.Call && (!_indexOf.TryGetValue(last.Imm, out int callee) || CalleeMayLeave(callee));
            if (leaves && _indexOf.TryGetValue(last.NextIp, out int j) && j != 0 && !_entries.Contains(j)) _entries.Add(j);
        }
    }

    /// <summary>
    /// Whether code entered at member block <paramref name="callee"/> may leave the region before it
    /// returns: a path from it (through the calls it makes, not past its returns) reaches a call or a
    /// jump to a block outside the region, or an indirect jump or call. A block outside that has not
    /// run yet counts too: a later phase of the program may run it (counting only blocks that had run,
    /// CoreMark compiled 31 regions and entered compiled code 11 million times instead of 22 and 0.5).
    /// </summary>
    private bool CalleeMayLeave(int callee)
    {
        var seen = new bool[_blocks.Length];
        var work = new Stack<int>();
        Span<ulong> next = stackalloc ulong[2];
        seen[callee] = true;
        work.Push(callee);
        while (work.Count > 0)
        {
            Block b = _blocks[work.Pop()];
            if (b.Ops[b.Count - 1].Kind is OpKind.JmpIndirect or OpKind.CallIndirect) return true;
            foreach (ulong va in next[..b.DirectSuccessors(next)])   // none after a ret
            {
                if (!_indexOf.TryGetValue(va, out int t)) return true;
                if (!seen[t]) { seen[t] = true; work.Push(t); }
            }
        }
        return false;
    }

    /// <summary>The control transfers the compiler implements (always a block's last op).</summary>
    private static bool IsControl(OpKind k) =>
        k is OpKind.Jmp or OpKind.Jcc or OpKind.Call or OpKind.Ret or OpKind.JmpIndirect or OpKind.CallIndirect;

    /// <summary>
    /// Ops outside the compiled subset that compiled code may still run by calling their interpreter
    /// handler (<see cref="EmitInterpreted"/>): everything that neither transfers control, traps by
    /// design, yields (the rep strings but movs and stos: <see cref="GuardRepCount"/>), reads the retired
    /// count (rdtsc) nor belongs to system mode.
    /// </summary>
    internal static bool Interpretable(OpKind k) =>
        k > OpKind.Rdtsc && k < OpKind.Cli
        && k is not (OpKind.Jmp or OpKind.JmpIndirect or OpKind.Jcc or OpKind.Call or OpKind.CallIndirect or OpKind.Ret
            or OpKind.Jrcxz or OpKind.Loop or OpKind.Popf
            or OpKind.Lods or OpKind.Cmps or OpKind.Scas)
        || k == OpKind.Cpuid;

    /// <summary>
    /// Before a movs or stos runs through its handler: a rep count above one chunk (Cpu.RepChunk) would
    /// make the handler yield halfway, which only the interpreter's loop can do, so such a count leaves
    /// for the interpreter to run the op (as before it changes anything). Smaller counts, the zeroing
    /// and copying of locals and structs that gcc emits as rep stos/movs, finish in the one call.
    /// </summary>
    private void GuardRepCount(ref Op op)
    {
        if ((op.Flags & (OpFlags.Rep | OpFlags.Repne)) == 0) return;
        GetReg(1, (op.Flags & OpFlags.Addr32) != 0 ? 4 : 8);
        Const(Cpu.RepChunk);
        _il.Emit(OpCodes.Bgt_Un, ResumeLabel());
    }

    /// <summary>One op's IL, by family.</summary>
    private void EmitOp(ref Op op)
    {
        if (!Supports(ref op))
        {
            if (op.Kind is OpKind.Movs or OpKind.Stos) GuardRepCount(ref op);
            EmitInterpreted();
            return;
        }
        if (IsSseKind(op.Kind))
        {
            EmitSse(ref op);
            return;
        }
        switch (op.Kind)
        {
            case OpKind.Nop: break;
            case OpKind.Jmp: case OpKind.Jcc: case OpKind.Call: case OpKind.Ret:
            case OpKind.JmpIndirect: case OpKind.CallIndirect:
                EmitControl(ref op); break;
            case OpKind.IncDecR64: case OpKind.IncDecR32: case OpKind.Inc: case OpKind.Dec:
                EmitIncDec(ref op); break;
            case OpKind.Neg: EmitNeg(ref op); break;
            case OpKind.Xadd: EmitXadd(ref op); break;
            case OpKind.Cmpxchg: EmitCmpxchg(ref op); break;
            case OpKind.Not: EmitNot(ref op); break;
            case OpKind.ShiftRI64: case OpKind.ShiftRI32: case OpKind.Shift:
                if (IsRotateByCl(ref op)) EmitRotateByCl(ref op);
                else if (IsShiftByCl(ref op)) EmitShiftByCl(ref op);
                else if (op.Form == Form.R && op.Size >= 4 && !_use[_i].ComputeL) EmitShiftUnobserved(ref op);
                else if (IsRotate(ref op)) EmitRotate(ref op);
                else EmitShift(ref op);
                break;
            case OpKind.Imul2: case OpKind.Imul3:
                EmitImul(ref op); break;
            case OpKind.Mul1: case OpKind.Imul1:
                EmitMulWide(ref op); break;
            case OpKind.Div: case OpKind.Idiv:
                EmitDivide(ref op); break;
            case OpKind.Bsf: case OpKind.Bsr: case OpKind.Tzcnt: case OpKind.Lzcnt: case OpKind.Popcnt:
                EmitBitCount(ref op); break;
            case OpKind.Bt: EmitBitTest(ref op); break;
            default:
                if (IsAluKind(op.Kind)) EmitAlu(ref op);
                else EmitMove(ref op);
                break;
        }
    }

    /// <summary>
    /// The prologue: loads the registers the region uses (the loads are emitted last, when every
    /// register the body touched is known: see <see cref="EmitRegisterLoads"/>) and the lazy flag state
    /// into locals, notes the budget and the code-invalidation count, and
    /// enters the entry block.
    /// </summary>
    private void EmitPrologue()
    {
        if (_region.ForeignPages.Length != 0)
        {
            // Before anything is loaded, so the call keeps no guest value from a host register. Not
            // again while no translation changed since it last found them mapped (1.5% of sglib's run).
            var mapped = _il.DefineLabel();
            _il.Emit(OpCodes.Ldarg_0);
            _il.Emit(OpCodes.Ldfld, JitMembers.RegionMappedGeneration);
            _il.Emit(OpCodes.Ldarg_1);
            _il.Emit(OpCodes.Ldfld, JitMembers.TlbGeneration);
            _il.Emit(OpCodes.Beq, mapped);
            _il.Emit(OpCodes.Ldarg_1);
            _il.Emit(OpCodes.Ldarg_0);
            _il.Emit(OpCodes.Call, JitMembers.RegionPagesMapped);
            _il.Emit(OpCodes.Brtrue, mapped);
            _il.Emit(OpCodes.Ldc_I4, JitMembers.ExitResume);
            _il.Emit(OpCodes.Ret);
            _il.MarkLabel(mapped);
        }
        _il.Emit(OpCodes.Br, _loadRegs);
        _il.MarkLabel(_afterLoads);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldfld, JitMembers.Budget);
        _il.Emit(OpCodes.Stloc, _left);
        _il.Emit(OpCodes.Ldarg_1);                      // a field read RyuJIT drops when no edge checks it
        _il.Emit(OpCodes.Call, JitMembers.CodeInvalidations);
        _il.Emit(OpCodes.Stloc, _inv0);
        LoadFlags();
        LoadWindowBase();
        LoadXmmBase();
        if (_entries.Count > 1)
        {
            _il.Emit(OpCodes.Ldarg_0);
            _il.Emit(OpCodes.Ldfld, JitMembers.RegionEntry);
            _il.Emit(OpCodes.Switch, _entries.Select(j => _label[j]).ToArray());
        }
        _il.Emit(OpCodes.Br, _label[0]);
    }

    private Label _loadRegs, _afterLoads;

    /// <summary>The register loads of the prologue, emitted last so they cover every register the body touched.</summary>
    private void EmitRegisterLoads()
    {
        _il.MarkLabel(_loadRegs);
        for (int r = 0; r < 16; r++)
        {
            if (_reg[r] == null) continue;
            RegAddress(r);
            _il.Emit(OpCodes.Ldind_I8);
            _il.Emit(OpCodes.Stloc, _reg[r]!);
        }
        _il.Emit(OpCodes.Br, _afterLoads);
    }

    /// <summary>
    /// Pushes the address of guest register r in the register file: from Cpu._regs (no argument stays
    /// live for it), or from <paramref name="file"/> holding that address (the epilogue's stores).
    /// </summary>
    private void RegAddress(int r, LocalBuilder? file = null)
    {
        if (file != null) _il.Emit(OpCodes.Ldloc, file);
        else
        {
            _il.Emit(OpCodes.Ldarg_1);
            _il.Emit(OpCodes.Ldfld, JitMembers.Regs);
        }
        if (r != 0)
        {
            _il.Emit(OpCodes.Ldc_I4, r * 8);
            _il.Emit(OpCodes.Add);
        }
    }

    /// <summary>
    /// Runs the current op through its interpreter handler: registers and lazy flags are written to the
    /// CPU first, the handler runs on them (a false return is a recorded fault: the side exit leaves
    /// the handler's registers and flags as they are), and every register and the flag state are
    /// reloaded after it. An x87 op (<see cref="X87Only"/>) calls its handler directly, with only its
    /// address's registers written first and nothing read back after it: the flags stay in their
    /// locals (made whole there, as after any handler), the registers and XMM registers in theirs, and
    /// a handler that faults leaves them so, for its side exit to store (FaultStub.StateInLocals). Each
    /// x87 instruction of MiBench's basicmath (long double) wrote and read back eight registers, the
    /// flags and the XMM registers around its call (1.05 -> 0.80 of qemu-user's time without).
    /// </summary>
    private void EmitInterpreted()
    {
        bool x87 = X87Only(ref _ops[_i]);
        foreach (int r in HandlerRegisters(ref _ops[_i]))
        {
            if (_inFile[r]) continue;   // in the file already
            RegAddress(r);
            LoadReg(r);
            _il.Emit(OpCodes.Stind_I8);
        }
        MaterializeFlags(_curSetter);
        if (!x87) StoreFlagLocals();
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldarg_0);
        _il.Emit(OpCodes.Ldfld, JitMembers.RegionOps);
        _il.Emit(OpCodes.Ldc_I4, _i);
        _il.Emit(OpCodes.Ldelema, typeof(Op));
        _il.Emit(OpCodes.Call, x87 ? JitMembers.X87Handler(_ops[_i].Kind) : JitMembers.ExecuteOp);
        _il.Emit(OpCodes.Brfalse, HandlerFaultLabel(stateInLocals: x87));
        if (!x87)
        {
            ReloadRegisters(_i);
            ReloadXmm();
            LoadFlags();
        }
        _curSetter = Dynamic;
    }

    /// <summary>
    /// Whether op's handler works on the x87 state and memory alone: it reads no general register but
    /// its address's base and index, writes none, and leaves EFLAGS and the XMM registers alone. Not
    /// fcomi (it sets ZF, PF and CF), fcmov (it reads them), fnstsw ax, nor the environment ops
    /// (fxsave and fxrstor move the XMM registers).
    /// </summary>
    private static bool X87Only(ref Op op) => op.Kind switch
    {
        OpKind.X87Load or OpKind.X87Store or OpKind.X87Arith or OpKind.X87Special => true,
        OpKind.X87Compare => (op.Cond & 8) == 0,
        OpKind.X87Stack => op.Cond != 4,
        OpKind.X87Control => op.Cond != 2,
        _ => false,
    };

    /// <summary>Loads the region's first access window (JitRegion.Windows) into _winBase: a field, so RyuJIT keeps one base register rather than a constant per access.</summary>
    private void LoadWindowBase()
    {
        _il.Emit(OpCodes.Ldarg_0);
        _il.Emit(OpCodes.Ldfld, JitMembers.RegionWindows);
        _il.Emit(OpCodes.Stloc, _winBase);
    }

    /// <summary>
    /// The registers an op run through its handler may read or write: its explicit register and
    /// address operands, and the eight legacy registers, the only ones x86 instructions use implicitly
    /// (rax/rdx for mul, div and cwd; rcx for shift counts; rbx for cpuid and xlat; rsp and rbp for
    /// enter; rsi/rdi); for an x87 op (<see cref="X87Only"/>) its address's base and index alone. Only
    /// these are written to the register file before the call and read back after.
    /// </summary>
    private static IEnumerable<int> HandlerRegisters(ref Op op)
    {
        var set = X87Only(ref op) ? new SortedSet<int>() : new SortedSet<int> { 0, 1, 2, 3, 4, 5, 6, 7 };
        foreach (byte r in (ReadOnlySpan<byte>)[op.R0, op.R1, op.Base, op.Index])
            if (r < 16) set.Add(r);
            else if (r < 20) set.Add(r - 16);   // AH, CH, DH, BH
        return set;
    }

    /// <summary>Loads the registers op k's handler may have written from the register file into their locals.</summary>
    private void ReloadRegisters(int k)
    {
        foreach (int r in HandlerRegisters(ref _ops[k]))
        {
            if (_inFile[r]) continue;   // read from the file where used
            RegAddress(r);
            _il.Emit(OpCodes.Ldind_I8);
            StoreReg(r);
        }
    }
}
