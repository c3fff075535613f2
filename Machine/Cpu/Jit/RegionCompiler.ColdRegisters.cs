using System.Numerics;
using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Guest registers that live in the register file for the whole region instead of in IL locals.
/// Every register a region touches was a local, live from the prologue to the exits' shared tail, so
/// the registers of a benchmark's outer loop (bench_start's counter and hash in rbx, rbp, r12..r15)
/// were live through the inner loop too, and RyuJIT, out of host registers, spilled and reloaded
/// the inner loop's own around its every pass (BEEBS sglib-arrayheapsort: a third of its hottest
/// instructions were stack moves). A register the region uses only outside its hottest loops
/// (<see cref="PlanColdRegisters"/>) is read from and written to the register file where it is used,
/// like memory, and is no local at all: nothing keeps it live across the loops that do not use it.
/// Which registers those are, the loop depths say, and in a crowded region also the runs of its
/// blocks that its quick code counted (<see cref="ColdByRuns"/>).
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>Per guest register: kept in the register file, not in a local (<see cref="PlanColdRegisters"/>).</summary>
    private readonly bool[] _inFile = new bool[16];
    /// <summary>
    /// The value a store to a cold register holds while its address is pushed (<see cref="StoreReg"/>),
    /// and a cold register's value where an emitter needs it in a local (<see cref="RegValue"/>).
    /// Declared at first use: RyuJIT's code depends on the locals' order, and the first four have
    /// the short IL forms (declared up front, they made SHA-256's region 2% more IL and slower).
    /// </summary>
    private LocalBuilder? _coldStore, _coldValue;

    /// <summary>Fewer registers used than this: all in locals (RyuJIT has host registers for them all).</summary>
    private const int ColdPressure = 9;
    /// <summary>Without counted runs: a register is cold when all its uses lie at least this many loop levels out from the region's deepest loop.</summary>
    private const int ColdLevels = 2;
    /// <summary>With counted runs (<see cref="ColdByRuns"/>): the share of the instructions run, and of the hottest block's runs, a cold register's uses stay within.</summary>
    private const int ColdShare = 64, ColdRuns = 4;
    /// <summary>With counted runs: the registers the blocks that ran often use (more than one time in <see cref="ColdRuns"/> of the hottest's runs) from which they crowd the host's.</summary>
    private const int HotCrowd = 12;
    /// <summary>Guest registers in locals from which a region's optimised code is crowded (<see cref="_manyLocals"/>).</summary>
    private const int ManyLocals = 10;
    /// <summary>The region's optimised code keeps <see cref="ManyLocals"/> or more guest registers in locals: its cmovs take no temporaries (<see cref="EmitCmovXor"/>).</summary>
    private bool _manyLocals;

    /// <summary>
    /// Picks the cold registers: when the region uses at least <see cref="ColdPressure"/> registers,
    /// those whose every use lies <see cref="ColdLevels"/> or more loop levels out from the region's
    /// deepest loop (<see cref="OpLoopDepths"/>): a harness's loop around the loops of a sort; and
    /// those the counted runs show to be cold in a crowded region (<see cref="ColdByRuns"/>) that the
    /// deepest loops do not use (in the file, Embench qrduino's rbx, used on a path of its inner loop
    /// that few passes take, added a load on the way to an address there). Quick
    /// regions (MinOpts: no register allocation across statements) and prefixes keep locals. The
    /// choice only moves cost: a cold register is exact wherever it is used, and one wrongly thought
    /// cold (an implicit use <see cref="UsedRegisters"/> does not know) costs a load or store there.
    /// </summary>
    private void PlanColdRegisters()
    {
        if (_quick || _prefix) return;
        int[] depth = OpLoopDepths();
        var deepestUse = new int[16];
        Array.Fill(deepestUse, -1);
        Span<int> used = stackalloc int[8];
        for (int k = 0; k < _n; k++)
            foreach (int r in used[..UsedRegisters(ref _ops[k], used)]) deepestUse[r] = Math.Max(deepestUse[r], depth[k]);
        int deepest = depth.Length == 0 ? 0 : depth.Max();
        if (deepestUse.Count(d => d >= 0) >= ColdPressure)
        {
            bool[]? coldByRuns = _runs != null ? ColdByRuns(used) : null;
            // Not rsp: each push, pop, call and ret through the file would wait for the last one's store
            // to forward (BEEBS levenshtein, whose short loops run between calls, 6% slower).
            for (int r = 0; r < 16; r++)
                _inFile[r] = deepestUse[r] >= 0 && r != StackPointer
                    && (deepestUse[r] <= deepest - ColdLevels || coldByRuns?[r] == true && deepestUse[r] < deepest);
        }
        int locals = 0;
        for (int r = 0; r < 16; r++) if (deepestUse[r] >= 0 && !_inFile[r]) locals++;
        _manyLocals = locals >= ManyLocals;
        PlanCrowdedOps(depth, deepest, deepestUse);
    }

    /// <summary>
    /// The cold registers by the runs the region's quick code counted (<see cref="_runs"/>), or null
    /// (nothing counted, or the region's often-run blocks, those that ran more than one time in
    /// <see cref="ColdRuns"/> of its hottest block's runs, use fewer than <see cref="HotCrowd"/>
    /// registers: RyuJIT has host registers for them and the rest). Cold: used by none of those blocks
    /// and by at most one in <see cref="ColdShare"/> of the instructions the region ran. A block the
    /// count does not know (a member new since) counts as the hottest.
    /// </summary>
    private bool[]? ColdByRuns(Span<int> used)
    {
        var runs = new long[_blocks.Length];
        for (int j = 0; j < runs.Length; j++) runs[j] = _runs!.GetValueOrDefault(_blocks[j].Va, -1);
        long hottest = runs.Max();
        if (hottest <= 0) return null;
        for (int j = 0; j < runs.Length; j++) if (runs[j] < 0) runs[j] = hottest;
        long total = 0;
        var uses = new long[16];
        uint often = 0;   // the registers of the often-run blocks
        for (int k = 0; k < _n; k++)
        {
            long w = runs[_blockOf[k]];
            total += w;
            foreach (int r in used[..UsedRegisters(ref _ops[k], used)])
            {
                uses[r] += w;
                if (w * ColdRuns > hottest) often |= 1u << r;
            }
        }
        if (BitOperations.PopCount(often) < HotCrowd) return null;
        var cold = new bool[16];
        for (int r = 0; r < 16; r++) cold[r] = (often >> r & 1) == 0 && uses[r] * ColdShare <= total;
        return cold;
    }

    /// <summary>Registers in locals used in a region's deepest loops from which their accesses go on from va - Lo (<see cref="_crowded"/>).</summary>
    private const int CrowdedRegisters = 10;

    /// <summary>
    /// Per op: whether it lies in one of the region's deepest loops and their registers crowd the
    /// host's (<see cref="CrowdedRegisters"/> or more guest registers in locals), so that its window
    /// tests go on from d = va - Lo (<see cref="EmitWindowTest"/>). Null: none do (no loop, fewer
    /// registers, quick code, prefixes).
    /// </summary>
    private bool[]? _crowded;
    /// <summary>The window tests emitted from d (Cpu.JitCrowdedAccesses).</summary>
    private int _crowdedTests;

    /// <summary>Fills <see cref="_crowded"/>: the ops of the region's deepest loops, when those use <see cref="CrowdedRegisters"/> or more registers in locals.</summary>
    private void PlanCrowdedOps(int[] depth, int deepest, int[] deepestUse)
    {
        int registers = 0;
        for (int r = 0; r < 16; r++) if (!_inFile[r] && deepestUse[r] >= deepest) registers++;
        if (deepest == 0 || registers < CrowdedRegisters) return;
        _crowded = new bool[_n];
        for (int k = 0; k < _n; k++) _crowded[k] = depth[k] == deepest;
    }

    /// <summary>
    /// Per op: how many loops hold its instruction, counting the loops around the calls that reach its
    /// function. Found on the region's instructions, not its blocks (a block runs from its address to
    /// its branch, so a loop entered by falling into its head has its first pass in the block before it
    /// too), and per function: a call continues at its return site and a ret nowhere, and each
    /// function's loops are those a depth-first walk from its lowest instruction finds (gcc puts a
    /// loop's head above its body, an outer loop's above its inner ones and a function's entry first).
    /// The region's entry is no start: a region is usually rooted in its innermost loop, and from there
    /// every outer loop is one more back edge into it; and with calls as jumps and rets to every
    /// return site, a helper called from two places looked like the deepest loop of all.
    /// A callee's ops then count the deepest loops around any call to it (a fixed point, capped).
    /// </summary>
    private int[] OpLoopDepths()
    {
        var node = new Dictionary<ulong, int>();
        var at = new int[_n];
        for (int k = 0; k < _n; k++)
            if (!node.TryGetValue(_ops[k].Ip, out at[k])) node[_ops[k].Ip] = at[k] = node.Count;
        int n = node.Count;
        var succ = new List<int>[n];
        for (int v = 0; v < n; v++) succ[v] = [];
        void Edge(int from, ulong to) { if (node.TryGetValue(to, out int t) && !succ[from].Contains(t)) succ[from].Add(t); }
        var calls = new List<(int Site, int Callee)>();
        for (int k = 0; k < _n; k++)
        {
            ref Op op = ref _ops[k];
            if (k + 1 < _n && _offset[k + 1] != 0) { Edge(at[k], _ops[k + 1].Ip); continue; }
            switch (op.Kind)
            {
                case OpKind.Jcc: Edge(at[k], op.Imm); Edge(at[k], op.NextIp); break;
                case OpKind.Jmp: Edge(at[k], op.Imm); break;
                case OpKind.Call:
                    if (node.TryGetValue(op.Imm, out int callee)) calls.Add((at[k], callee));
                    Edge(at[k], op.NextIp);
                    break;
                case OpKind.CallIndirect: Edge(at[k], op.NextIp); break;
                case OpKind.Ret: break;
                case OpKind.JmpIndirect: foreach (int t in _successors[_blockOf[k]]) Edge(at[k], _ops[_first[t]].Ip); break;
                default: Edge(at[k], _blocks[_blockOf[k]].EndIp); break;
            }
        }
        var state = new byte[n];
        var backEdges = new List<(int From, int Head)>();
        foreach (var (_, v) in node.OrderBy(e => e.Key)) WalkDepthFirst(v, succ, state, backEdges);
        int[] depth = LoopDepths(Predecessors(succ), backEdges);
        // The loops around the calls: each callee's instructions (those its entry reaches) take the
        // deepest call site's depth, which may itself lie in a callee; recursion stops at the cap.
        var reached = new Dictionary<int, bool[]>();
        foreach (var (_, callee) in calls)
            if (!reached.ContainsKey(callee)) { var seen = new bool[n]; MarkReached([callee], succ, seen, _ => false); reached[callee] = seen; }
        var around = new int[n];
        for (bool changed = true; changed;)
        {
            changed = false;
            foreach (var (site, callee) in calls)
            {
                int d = Math.Min(depth[site] + around[site], 8);
                bool[] inside = reached[callee];
                for (int v = 0; v < n; v++)
                    if (inside[v] && around[v] < d) { around[v] = d; changed = true; }
            }
        }
        return Array.ConvertAll(at, v => depth[v] + around[v]);
    }

    /// <summary>
    /// The general registers op uses (into <paramref name="into"/>, room for 8; returns the count):
    /// its register and address operands and the usual implicit ones. An XMM operand's number counts
    /// as the general register of that number: a weight too high only keeps a register in a local.
    /// </summary>
    private static int UsedRegisters(ref Op op, Span<int> into)
    {
        int n = 0;
        void Add(Span<int> into, int r) { if (r < 20 && n < into.Length) into[n++] = r >= 16 ? r - 16 : r; }
        if (op.Form is Form.R or Form.RR or Form.RM or Form.RI) Add(into, op.R0);
        if (op.Form is Form.RR or Form.MR) Add(into, op.R1);
        if (op.Base != Op.NoReg) Add(into, op.Base);
        if (op.Index != Op.NoReg) Add(into, op.Index);
        switch (op.Kind)
        {
            case OpKind.Push: case OpKind.Pop: case OpKind.PushR64: case OpKind.PopR64:
            case OpKind.Call: case OpKind.CallIndirect: case OpKind.Ret: case OpKind.Pushf: case OpKind.Popf:
                Add(into, 4); break;
            case OpKind.Leave: case OpKind.Enter: Add(into, 4); Add(into, 5); break;
            case OpKind.Mul1: case OpKind.Imul1: case OpKind.Div: case OpKind.Idiv: case OpKind.Cwd:
                Add(into, 0); Add(into, 2); break;
            case OpKind.Cbw: case OpKind.Cmpxchg: Add(into, 0); break;
            case OpKind.Shift when (op.Flags & OpFlags.HasImm) == 0: Add(into, 1); break;
            case OpKind.Movs: case OpKind.Stos: case OpKind.Lods: case OpKind.Cmps: case OpKind.Scas:
                Add(into, 0); Add(into, 1); Add(into, 6); Add(into, 7); break;
        }
        return n;
    }

    /// <summary>Pushes guest register r's 64 bits (0..15): its local, or a cold register's file slot.</summary>
    private void LoadReg(int r)
    {
        if (!_inFile[r]) { _il.Emit(OpCodes.Ldloc, Reg(r)); return; }
        RegAddress(r);
        _il.Emit(OpCodes.Ldind_I8);
    }

    /// <summary>Pops 64 bits into guest register r (0..15): its local, or a cold register's file slot.</summary>
    private void StoreReg(int r)
    {
        if (!_inFile[r]) { _il.Emit(OpCodes.Stloc, Reg(r)); return; }
        _il.Emit(OpCodes.Stloc, _coldStore ??= _il.DeclareLocal(typeof(ulong)));
        RegAddress(r);
        _il.Emit(OpCodes.Ldloc, _coldStore);
        _il.Emit(OpCodes.Stind_I8);
    }

    /// <summary>
    /// A local holding guest register r's value now, for emitters that take one: its own local, or a
    /// cold register's value copied into a scratch local (valid until the next call for another cold register).
    /// </summary>
    private LocalBuilder RegValue(int r)
    {
        if (!_inFile[r]) return Reg(r);
        LoadReg(r);
        _il.Emit(OpCodes.Stloc, _coldValue ??= _il.DeclareLocal(typeof(ulong)));
        return _coldValue;
    }
}
