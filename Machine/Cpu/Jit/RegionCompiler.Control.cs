using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// A block's last instruction: jmp, jcc, call, ret, indirect jmp/call. A transfer to a member block is
/// an IL branch (EmitGoto); a ret or an indirect jump compares the target with the member blocks it may
/// reach (the return sites of the region's calls; the targets the dispatcher saw) and branches to the
/// one that matches. Anything else leaves through a normal exit that sets rip.
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>The block-ending transfer: pushes/pops as the interpreter does (faults before rsp changes), then branches or exits.</summary>
    private void EmitControl(ref Op op)
    {
        ulong next = op.NextIp, target = op.Imm;
        switch (op.Kind)
        {
            case OpKind.Jmp:
                EmitGoto(target);
                break;
            case OpKind.Jcc:
                {
                    var taken = _il.DefineLabel();
                    EmitCondition(op.Cond);
                    _il.Emit(OpCodes.Brtrue, taken);
                    EmitGoto(next);
                    _il.MarkLabel(taken);
                    EmitGoto(target);
                    break;
                }
            case OpKind.Call:
                EmitPush(8, () => Const(next));
                EmitGoto(target);
                break;
            case OpKind.Ret:
                LoadReg(4);
                _il.Emit(OpCodes.Stloc, _tA);
                LoadAt(_tA, 8, _tV);
                _il.Emit(OpCodes.Ldloc, _tA);
                Const(8 + op.Imm);
                _il.Emit(OpCodes.Add);
                SetReg(4, 8);
                _il.Emit(OpCodes.Ldloc, _tV);
                _il.Emit(OpCodes.Stloc, _tD);
                EmitDispatch(ReturnSites(_blockOf[_i]), linked: true);
                break;
            case OpKind.JmpIndirect:
            case OpKind.CallIndirect:
                if (op.Form == Form.R) GetReg(op.R0, op.Size);
                else { Load(ref op, op.Size, _tV); _il.Emit(OpCodes.Ldloc, _tV); }
                _il.Emit(OpCodes.Stloc, _tD);
                if (op.Kind == OpKind.CallIndirect) EmitPush(8, () => Const(next));
                EmitDispatch(SeenTargets());
                break;
        }
    }

    /// <summary>
    /// After the current block, continue at the constant <paramref name="target"/>: a member block is
    /// reached by an IL branch once the finished block is charged to _left, provided, when the target
    /// is a budget check point, the budget covers the most the code can run from there to the next
    /// (<see cref="PlanBudgetChecks"/>; the dispatcher gives compiled code at most <see cref="Cpu.JitSlice"/>
    /// instructions, so a stop request waits for no more than that); and after a block whose handler
    /// call may rewrite code, that no code was invalidated since entry (the handler may have rewritten
    /// a member: it is thus checked at the first edge after it, as the dispatcher checks a block's
    /// validity before running it). Otherwise, and for targets outside the region, the code exits.
    /// </summary>
    private void EmitGoto(ulong target)
    {
        int cur = _blockOf[_i];
        if (_prefix || !_indexOf.TryGetValue(target, out int j))
        {
            EmitDirectExit(target);
            return;
        }
        var leave = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, _left);
        Const((ulong)(_offset[_i] + 1));
        _il.Emit(OpCodes.Sub);
        _il.Emit(OpCodes.Stloc, _left);
        if (_blockStores[cur])
        {
            _il.Emit(OpCodes.Ldarg_1);
            _il.Emit(OpCodes.Call, JitMembers.CodeInvalidations);
            _il.Emit(OpCodes.Ldloc, _inv0);
            _il.Emit(OpCodes.Bne_Un, leave);
        }
        // A loop's fast copy goes round again while its pass count lasts (no budget check: the count
        // allows for it), and stays in the fast copy inside the loop.
        var to = BlockLabel(cur, j);
        if (_fastCopy != null && _loopOf[j] == _fastCopy)
        {
            if (j == _fastCopy.Head) EmitNextPass(j);
            else to = _fastCopy.Fast[j];
        }
        // At a check point, left < reach(target): the dispatcher runs the rest (possibly a partial block) itself
        if (_checkPoint[j])
        {
            _il.Emit(OpCodes.Ldloc, _left);
            Const((ulong)_reach[j]);
            _il.Emit(OpCodes.Blt_Un, leave);
        }
        FlagsInto(j);
        _il.Emit(OpCodes.Br, to);
        _il.MarkLabel(leave);
        // The finished block is already counted in _left.
        EmitLeave(target, 0, JitMembers.ExitNormal);
    }

    /// <summary>
    /// On an edge into member <paramref name="j"/>: a cmp or test whose state waits in its registers
    /// goes into the flag locals when j observes it, unless j reads the registers too (PlanKnownSetters).
    /// </summary>
    private void FlagsInto(int j)
    {
        if (_curSetter < 0 || !_use[_curSetter].StateAtExit || !_flagsLiveIn[j] || SameState(_setterIn[j], _curSetter)) return;
        // Only exits read it there: they make it whole from the registers (PlanDeferredStates).
        if (_deferredIn[j] >= 0 && SameState(_deferredIn[j], _curSetter))
        {
            _il.Emit(OpCodes.Ldc_I4, DeferredKind(_deferredIn[j]));
            _il.Emit(OpCodes.Stloc, _fkind);
        }
        else MaterializeFlags(_curSetter, forRunTimeReaders: true);
    }

    /// <summary>
    /// Continues at the address in _tD after the current block: at the member of
    /// <paramref name="candidates"/> it equals (a binary search over their addresses), else through an
    /// exit with rip = _tD, with a slot of its own when <paramref name="linked"/> (a return's: the
    /// caller's code is tail-called when the address is the one the dispatcher last ran after it; not
    /// an indirect jump's or call's, whose exits the dispatcher counts to learn new targets).
    /// </summary>
    private void EmitDispatch(List<int> candidates, bool linked = false)
    {
        candidates.Sort((x, y) => _blocks[x].Va.CompareTo(_blocks[y].Va));
        var miss = _il.DefineLabel();
        EmitSearch(candidates, 0, candidates.Count, miss);
        _il.MarkLabel(miss);
        EmitExit(_tD, linked);
    }

    /// <summary>Branches to the member of candidates[lo..hi) (sorted by address) whose address is _tD, or to <paramref name="miss"/>.</summary>
    private void EmitSearch(List<int> candidates, int lo, int hi, Label miss)
    {
        if (hi - lo <= 3)
        {
            for (int k = lo; k < hi; k++)
            {
                var next = _il.DefineLabel();
                _il.Emit(OpCodes.Ldloc, _tD);
                Const(_blocks[candidates[k]].Va);
                _il.Emit(OpCodes.Bne_Un, next);
                EmitGoto(_blocks[candidates[k]].Va);
                _il.MarkLabel(next);
            }
            _il.Emit(OpCodes.Br, miss);
            return;
        }
        int mid = (lo + hi) / 2;
        var upper = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, _tD);
        Const(_blocks[candidates[mid]].Va);
        _il.Emit(OpCodes.Bge_Un, upper);
        EmitSearch(candidates, lo, mid, miss);
        _il.MarkLabel(upper);
        EmitSearch(candidates, mid, hi, miss);
    }

    /// <summary>The member blocks block <paramref name="j"/>'s ret may return to (<see cref="PlanReturnSites"/>), in a list of the caller's own.</summary>
    private List<int> ReturnSites(int j) => [.. (_returnSites ??= PlanReturnSites())[j]];

    /// <summary>Per member block ending in a ret: the return sites its ret is searched for (<see cref="PlanReturnSites"/>); null until planned.</summary>
    private List<int>[]? _returnSites;

    /// <summary>
    /// For each member block ending in a ret, the return sites of the region's calls whose callee it
    /// belongs to: the blocks a call's target reaches within the region, stepping over the callee's own
    /// calls to their return sites, up to its rets. Until stop 55 every ret searched the return sites
    /// of all the region's calls, and the root function's ret, which returns outside the region, searched
    /// them all before it left (a recursive-descent parser's regions: calls to a dozen helpers, and each
    /// helper's ret compared its address with every one of their return sites). A ret that returns
    /// elsewhere all the same (its callee left the region and came back through an entry, or the
    /// return address was rewritten) still leaves through its exit, to whatever code runs there.
    /// </summary>
    private List<int>[] PlanReturnSites()
    {
        int n = _blocks.Length;
        var sites = new List<int>[n];
        for (int j = 0; j < n; j++) sites[j] = [];
        if (_prefix) return sites;
        var reached = new bool[n];
        var walk = new Stack<int>();
        void Visit(int t) { if (!reached[t]) { reached[t] = true; walk.Push(t); } }
        for (int c = 0; c < n; c++)
        {
            ref Op call = ref _blocks[c].Ops[_blocks[c].Count - 1];
            if (call.Kind is not (OpKind.Call or OpKind.CallIndirect) || !_indexOf.TryGetValue(call.NextIp, out int site)) continue;
            Array.Clear(reached);
            foreach (int t in Successors(c)) Visit(t);   // the callee's first blocks
            while (walk.Count > 0)
            {
                int x = walk.Pop();
                ref Op last = ref _blocks[x].Ops[_blocks[x].Count - 1];
                if (last.Kind == OpKind.Ret) { if (!sites[x].Contains(site)) sites[x].Add(site); }
                else if (last.Kind is OpKind.Call or OpKind.CallIndirect)
                {
                    if (_indexOf.TryGetValue(last.NextIp, out int back)) Visit(back);   // the callee's callee returns there
                }
                else foreach (int t in Successors(x)) Visit(t);
            }
        }
        return sites;
    }

    /// <summary>The member blocks the dispatcher has seen the current block's indirect jump or call reach.</summary>
    private List<int> SeenTargets() => SeenTargets(_blockOf[_i]);

    /// <summary>The member blocks the dispatcher has seen block <paramref name="b"/>'s indirect jump or call reach.</summary>
    private List<int> SeenTargets(int b)
    {
        var seen = new List<int>();
        if (_prefix || _blocks[b].IndirectTargets is not List<ulong> targets) return seen;
        foreach (ulong va in targets)
            if (_indexOf.TryGetValue(va, out int j) && !seen.Contains(j)) seen.Add(j);
        return seen;
    }

    /// <summary>Per member block: whether edges into it check the budget (an entry, or a block that breaks cycles of the region, see <see cref="PlanBudgetChecks"/>).</summary>
    private bool[] _checkPoint = [];
    /// <summary>Per member block: the most instructions the code can retire from its start to the next check point or exit.</summary>
    private int[] _reach = [];

    /// <summary>
    /// Where the budget is checked. Checking it on every edge cost three host instructions a block;
    /// instead it is checked at blocks that break every cycle of the region (first the targets of back
    /// edges of a depth-first walk from the entries, then moved out of inner loops by
    /// <see cref="MoveCheckPointsOutward"/>), against the longest run of instructions from there
    /// to the next check point or exit. Every cycle has a check point, so between two checks the code
    /// runs along an acyclic path, and the budget at the first covers it: the count stays exact at
    /// every exit as before. The entries are check points too (the dispatcher checks their budget).
    /// </summary>
    private void PlanBudgetChecks()
    {
        int n = _blocks.Length;
        _checkPoint = new bool[n];
        _reach = new int[n];
        var succ = _successors = new List<int>[n];
        for (int j = 0; j < n; j++) succ[j] = Successors(j);
        var pred = _predecessors = Predecessors(succ);
        var state = new byte[n];
        var backEdges = new List<(int From, int Head)>();
        foreach (int e in _entries) { _checkPoint[e] = true; WalkDepthFirst(e, succ, state, backEdges); }
        for (int j = 0; j < n; j++)
            if (state[j] == 0) { _checkPoint[j] = true; WalkDepthFirst(j, succ, state, backEdges); }   // reached from no entry: checked anyway
        foreach (var (_, head) in backEdges) _checkPoint[head] = true;   // t heads a loop
        MoveCheckPointsOutward(succ, pred, LoopDepths(pred, backEdges));
        var done = new bool[n];
        int Reach(int j, int depth)
        {
            if (done[j]) return _reach[j];
            if (depth > n) throw new InvalidOperationException("JIT: a cycle of the region has no budget check point");
            int most = 0;
            foreach (int t in succ[j])
                if (!_checkPoint[t]) most = Math.Max(most, Reach(t, depth + 1));
            _reach[j] = _blocks[j].Count + most;
            done[j] = true;
            return _reach[j];
        }
        for (int j = 0; j < n; j++) Reach(j, 0);
    }

    /// <summary>
    /// A depth-first walk along <paramref name="succ"/> from <paramref name="root"/> unless
    /// <paramref name="state"/> has seen it (0 unseen, 1 on the walk's stack, 2 done; shared by walks
    /// from several roots): adds to <paramref name="backEdges"/> each edge into a node on the walk's
    /// stack, whose target heads a loop.
    /// </summary>
    private static void WalkDepthFirst(int root, List<int>[] succ, byte[] state, List<(int From, int Head)> backEdges)
    {
        if (state[root] != 0) return;
        void Walk(int j)
        {
            state[j] = 1;
            foreach (int t in succ[j])
                if (state[t] == 1) backEdges.Add((j, t));
                else if (state[t] == 0) Walk(t);
            state[j] = 2;
        }
        Walk(root);
    }

    /// <summary>
    /// Moves each check point to a block of fewer loops that breaks the same cycles. A region rooted in
    /// an inner loop is entered in the middle of the outer one, so the walk meets the outer loop's back
    /// edge at a block of the inner loop (Dijkstra's minimum search: its second block, run on every
    /// pass, where a check cost a compare, a branch and the flags made whole on every edge into it);
    /// a block of the outer loop alone breaks the outer cycles as well, and runs once per outer pass.
    /// The check points in the fewest loops move first: one in an inner loop moved first could land
    /// where it breaks its cycles only together with another of the inner loop, which then could not
    /// move. Entries stay check points, and so does a point whose cycles the others break already:
    /// dropping those (the root's among them) made qrduino 10% slower (stop 38, best of 6 runs, with
    /// the code of its two hottest regions unchanged; not understood), so only moves are made.
    /// </summary>
    private void MoveCheckPointsOutward(List<int>[] succ, List<int>[] pred, int[] depth)
    {
        int n = _blocks.Length;
        var points = Enumerable.Range(0, n).Where(j => _checkPoint[j] && !_entries.Contains(j)).OrderBy(j => depth[j]).ToList();
        var forward = new bool[n];
        var backward = new bool[n];
        var state = new byte[n];
        foreach (int p in points)
        {
            // Without p, a cycle with no check point passes p (the others break the rest): it lies in
            // p's strongly connected part of the blocks that are no check point, so the candidates are
            // taken and tested there alone.
            _checkPoint[p] = false;
            Array.Clear(forward);
            Array.Clear(backward);
            MarkReached([p], succ, forward, t => _checkPoint[t]);
            MarkReached([p], pred, backward, t => _checkPoint[t]);
            var cycle = Enumerable.Range(0, n).Where(j => forward[j] && backward[j]).ToArray();
            bool breaksOne = cycle.Length > 1 || succ[p].Contains(p);
            _checkPoint[p] = true;
            if (!breaksOne) continue;   // kept (see above)
            foreach (int c in cycle.Where(c => depth[c] < depth[p]).OrderBy(c => depth[c]))
            {
                _checkPoint[c] = true;
                _checkPoint[p] = false;
                if (Acyclic(succ, cycle, state)) break;
                _checkPoint[c] = false;
                _checkPoint[p] = true;
            }
        }
    }

    /// <summary>
    /// Marks in <paramref name="seen"/> the blocks reached from <paramref name="from"/> (marked
    /// themselves) along <paramref name="edges"/>, entering no block marked already or that
    /// <paramref name="stop"/> holds.
    /// </summary>
    private static void MarkReached(IEnumerable<int> from, List<int>[] edges, bool[] seen, Func<int, bool> stop)
    {
        var work = new Stack<int>(from);
        while (work.Count > 0)
        {
            int j = work.Pop();
            if (seen[j]) continue;
            seen[j] = true;
            foreach (int t in edges[j]) if (!seen[t] && !stop(t)) work.Push(t);
        }
    }

    /// <summary>Whether the edges among <paramref name="blocks"/> into blocks that are no check point form no cycle.</summary>
    private bool Acyclic(List<int>[] succ, int[] blocks, byte[] state)
    {
        foreach (int j in blocks) state[j] = 3;   // 3 unseen member, 1 on the walk's stack, 2 done; others 0: outside
        bool Walk(int j)
        {
            state[j] = 1;
            foreach (int t in succ[j])
            {
                if (_checkPoint[t] || state[t] == 0 || state[t] == 2) continue;
                if (state[t] == 1 || !Walk(t)) return false;
            }
            state[j] = 2;
            return true;
        }
        bool acyclic = true;
        foreach (int j in blocks)
            if (state[j] == 3 && !Walk(j)) { acyclic = false; break; }
        foreach (int j in blocks) state[j] = 0;
        return acyclic;
    }

    /// <summary>Per member block: the members that continue at it.</summary>
    private static List<int>[] Predecessors(List<int>[] succ)
    {
        var pred = new List<int>[succ.Length];
        for (int j = 0; j < succ.Length; j++) pred[j] = [];
        for (int j = 0; j < succ.Length; j++)
            foreach (int t in succ[j]) pred[t].Add(j);
        return pred;
    }

    /// <summary>
    /// Per member block: how many of the region's loops hold it. A loop is a head with the back edges
    /// into it (<paramref name="backEdges"/>, from the walk) and the blocks that reach one of those
    /// edges without passing the head (found backwards along <paramref name="pred"/>).
    /// </summary>
    private static int[] LoopDepths(List<int>[] pred, List<(int From, int Head)> backEdges)
    {
        int n = pred.Length;
        var depth = new int[n];
        foreach (int head in backEdges.Select(e => e.Head).Distinct())
        {
            var inLoop = new bool[n];
            inLoop[head] = true;   // the walk back from the back edges stops at the head
            MarkReached(backEdges.Where(e => e.Head == head).Select(e => e.From), pred, inLoop, _ => false);
            for (int j = 0; j < n; j++) if (inLoop[j]) depth[j]++;
        }
        return depth;
    }

    /// <summary>The member blocks block <paramref name="j"/> may continue at through an IL branch (as <see cref="EmitControl"/> emits them).</summary>
    private List<int> Successors(int j)
    {
        var s = new List<int>();
        if (_prefix) return s;
        Block b = _blocks[j];
        ref Op last = ref b.Ops[b.Count - 1];
        void Add(ulong va) { if (_indexOf.TryGetValue(va, out int t) && !s.Contains(t)) s.Add(t); }
        switch (last.Kind)
        {
            case OpKind.Jmp: case OpKind.Call: Add(last.Imm); break;
            case OpKind.Jcc: Add(last.NextIp); Add(last.Imm); break;
            case OpKind.Ret: return ReturnSites(j);
            case OpKind.JmpIndirect: case OpKind.CallIndirect: return SeenTargets(j);
            default: Add(b.EndIp); break;
        }
        return s;
    }
}
