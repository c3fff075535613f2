using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Counted passes of loops: an inner loop whose accesses step through memory by constants (gcc's
/// inner loops at -O2: a matrix product's row times column, a stencil's sweep, a copy, a search with a
/// bound, a sum with an if in its body). qemu-user addresses guest memory directly; here each access
/// tests its window (<see cref="EmitFastAccess"/>) on every pass, three or four host instructions and
/// a branch each. Such a loop's blocks are emitted twice: the checked copy (as any block) and a fast
/// copy whose strided accesses (loads, stores, compares and read-modify-writes of their own, and access
/// groups' checks, RegionCompiler.Groups.cs) take their window's addend with no test. Before either, at
/// the loop's head, a pass count (<see cref="EmitPassCount"/>) works out from each strided access's
/// address and stride how many passes stay in its window, and from the budget how many the budget
/// covers (the longest way round); the fast copy runs that many (its edges back to the head count them
/// down and skip the budget's check), then the count is worked out again. When an access is outside
/// its window now (its pages not in the TLB yet, an array's first sweep), the checked copy runs the
/// pass, missing and rebuilding its windows as before, and comes back to the count. So no access of the
/// fast copy can reach outside its window, whatever the loop's exit condition, stride sign or trip
/// count: a loop that leaves early (a search) only wastes the count.
/// A loop is the blocks between a budget check point and the blocks that continue at it, with no cycle
/// but through the head (<see cref="LoopBodies"/>); only loops whose every op is compiled (no handler
/// call: the windows then cannot change while the loop runs, see <see cref="Cpu.BeforeSlotChange"/>),
/// and only accesses of blocks every pass runs whose address is up to three registers of the head's
/// start plus a constant (<see cref="Affine"/>, followed through add, sub, inc, dec, 64-bit lea and
/// mov), each register stepped by the same constant on every way round or not written. The two
/// copies share their windows (<see cref="NewWindow"/> replays the checked copy's).
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>A strided access of a loop: its op, its address at the head's start (disp + base + index·scale with the registers then), and how far that moves a pass.</summary>
    private sealed class StridedAccess
    {
        /// <summary>The op (a group's first member), or -1 for a group tested before the head; the group, or -1 for an access of its own.</summary>
        public int Op, Group;
        /// <summary>The address (a group's first) from the registers at the head's start; Unknown when it is not of that form.</summary>
        public Affine At;
        /// <summary>How far the address moves a pass.</summary>
        public long Stride;
        /// <summary>The window its checked copy tests (an offset from the region's first), -1 before it is emitted.</summary>
        public int Window = -1;
        /// <summary>How many window tests the checked copy (or the tests before the head) made for it (the fast copy skips the test only when one).</summary>
        public int Accesses;
    }

    /// <summary>
    /// A loop emitted twice: its head (a budget check point), its blocks in region order (the head's
    /// natural loop, acyclic but for the edges back to the head), its strided accesses, the pass
    /// count's label, the checked copy's start after the count, each block's fast copy, the most
    /// instructions one pass can retire, and the passes the fast copy may still run, the current one included.
    /// </summary>
    private sealed class StridedLoop
    {
        public required int Head;
        public required int[] Blocks;
        public required List<StridedAccess> Accesses;
        public required int LongestPass;
        public Label Count, Checked;
        public readonly Dictionary<int, Label> Fast = new();
        public LocalBuilder Passes = null!;
        /// <summary>A copy or fill loop's plan to run passes at once (RegionCompiler.Bulk.cs), else null.</summary>
        public BulkPlan? Bulk;
        /// <summary>The windows the checked copy's ops took, in order, for the fast copy to take again.</summary>
        public readonly List<int> Windows = new();
    }

    /// <summary>Per block: the loop with strided accesses it belongs to, else null.</summary>
    private StridedLoop?[] _loopOf = [];
    /// <summary>Per op: its strided access (of its own), or null; per group: its check as a strided access, or null.</summary>
    private StridedAccess?[] _stridedAt = [], _stridedGroup = [];
    /// <summary>The fast copy of a loop is being emitted (its strided accesses take no test; its windows are the checked copy's).</summary>
    private StridedLoop? _fastCopy;
    /// <summary>A block of a loop's checked copy is being emitted (its windows are noted for the fast copy).</summary>
    private StridedLoop? _checkedCopy;
    /// <summary>The next of the checked copy's windows the fast copy takes.</summary>
    private int _replayAt;

    /// <summary>Most ops in a loop given a fast copy (its IL is emitted twice).</summary>
    private const int MaxLoopOps = 120;

    /// <summary>
    /// Finds the loops worth a fast copy: optimised code of whole blocks, the loop's head a budget
    /// check point (every loop's head is one: PlanBudgetChecks), every op of its blocks compiled and no
    /// call, return or indirect jump among them, no cycle but through the head, and at least one
    /// strided access, through registers each stepped by the same constant on every way round the loop
    /// or unwritten: an access outside any access group (<see cref="AtItsOperand"/>), or an access
    /// group's check (the group's whole range), of a group that starts in the loop or is tested before
    /// its head (the group's registers then step too, or the back edges would keep it open and skip its
    /// test). Only accesses of blocks every pass runs (they dominate every edge back to the head): an
    /// access a pass may skip may have a window that never fills, and the count would then always send
    /// the passes to the checked copy. Of a head's bodies (<see cref="LoopBodies"/>), the one with the
    /// most strided accesses.
    /// </summary>
    private void PlanStridedLoops()
    {
        _loopOf = new StridedLoop?[_blocks.Length];
        _stridedAt = new StridedAccess?[_n];
        _stridedGroup = new StridedAccess?[_groups.Count];
        if (_prefix || _quick) return;
        for (int h = 0; h < _blocks.Length; h++)
        {
            if (!_checkPoint[h] || _loopOf[h] != null) continue;
            StridedLoop? best = null;
            foreach (var body in LoopBodies(h))
                if (Ordered(h, body) is int[] order && PlanLoop(h, order, body) is StridedLoop loop
                    && (best == null || loop.Accesses.Count > best.Accesses.Count)) best = loop;
            if (best == null) continue;
            best.Count = _il.DefineLabel();
            best.Checked = _il.DefineLabel();
            best.Passes = _il.DeclareLocal(typeof(ulong));
            foreach (int b in best.Blocks)
            {
                _loopOf[b] = best;
                best.Fast[b] = _il.DefineLabel();
            }
            foreach (var a in best.Accesses)
                if (a.Group >= 0) _stridedGroup[a.Group] = a;
                else _stridedAt[a.Op] = a;
            best.Bulk = PlanBulk(best);
        }
    }

    /// <summary>
    /// The loops head <paramref name="h"/> may head, as sets of blocks: the latches are the blocks that
    /// continue at h and that h reaches; the blocks between h and them (reached from h through no
    /// latch, and reaching one without passing h) are the body. An outer loop that falls into the
    /// head continues in the body past the head (its block holds the head's first ops), and is reached
    /// only through a latch: it stays out. First the ways back to all the latches together, then
    /// without the latches of outer loops through the same head (a region entered in an inner loop
    /// breaks the outer loop's cycles there too): a latch whose ways hold another latch whose ways do
    /// not hold it. Without them, their edges into the head enter the loop from outside, through the
    /// pass count.
    /// </summary>
    private IEnumerable<bool[]> LoopBodies(int h)
    {
        int n = _blocks.Length;
        var anyWay = new bool[n];
        anyWay[h] = true;
        MarkReached(_successors[h], _successors, anyWay, _ => false);
        var latches = _predecessors[h].Where(p => anyWay[p]).ToList();
        if (latches.Count == 0) yield break;
        // Reached from h through no latch: the latches' own edges are left out.
        var forward = new bool[n];
        forward[h] = true;
        MarkReached(_successors[h], [.. _successors.Select((next, b) => latches.Contains(b) ? [] : next)], forward, _ => false);
        latches.RemoveAll(l => !forward[l]);   // reached only through another latch: no way of its own
        var ways = new List<bool[]>();
        foreach (int l in latches)
        {
            var way = new bool[n];
            way[h] = true;
            MarkReached([l], _predecessors, way, p => !forward[p]);
            ways.Add(way);
        }
        var all = new bool[n];
        var inner = new bool[n];
        for (int k = 0; k < latches.Count; k++)
        {
            bool outer = false;
            for (int m = 0; m < latches.Count; m++)
                if (m != k && ways[k][latches[m]] && !ways[m][latches[k]]) outer = true;
            for (int b = 0; b < n; b++)
            {
                all[b] |= ways[k][b];
                if (!outer) inner[b] |= ways[k][b];
            }
        }
        yield return all;
        if (!all.AsSpan().SequenceEqual(inner)) yield return inner;
    }

    /// <summary>
    /// The loop of blocks <paramref name="inBody"/> (head <paramref name="h"/>) in an order where each
    /// block comes after those that continue at it, h first; null when it has a cycle that does not
    /// pass h (an inner loop), shares a block with a loop already planned, holds a block that ends in a
    /// call, return or indirect jump, an op run through its handler, groups tested before a block but
    /// h, or more than <see cref="MaxLoopOps"/> ops.
    /// </summary>
    private int[]? Ordered(int h, bool[] inBody)
    {
        int n = _blocks.Length;
        var body = Enumerable.Range(0, n).Where(b => inBody[b]).ToList();
        int ops = 0;
        foreach (int b in body)
        {
            ref Op last = ref _ops[_first[b] + _blocks[b].Count - 1];
            if (_blockStores[b] || last.Kind is OpKind.Call or OpKind.Ret or OpKind.JmpIndirect or OpKind.CallIndirect) return null;
            if (b != h && (_loopOf[b] != null || _hoisted != null && _hoisted[b].Count != 0)) return null;
            for (int k = _first[b]; k < _first[b] + _blocks[b].Count; k++)
                if (!Supports(ref _ops[k])) return null;
            ops += _blocks[b].Count;
        }
        if (ops > MaxLoopOps) return null;
        // Kahn's order over the edges inside the loop but those back to h; a block left out lies on a cycle without h.
        var waiting = new int[n];
        foreach (int b in body)
            foreach (int t in _successors[b]) if (inBody[t] && t != h) waiting[t]++;
        var order = new List<int>();
        var ready = new Stack<int>([h]);
        while (ready.Count > 0)
        {
            int b = ready.Pop();
            order.Add(b);
            foreach (int t in _successors[b])
                if (inBody[t] && t != h && --waiting[t] == 0) ready.Push(t);
        }
        return order.Count == body.Count ? [.. order] : null;
    }

    /// <summary>
    /// The plan of the loop whose blocks are <paramref name="inBody"/>, in <paramref name="order"/> (h
    /// first, each after the blocks that continue at it): each register's value at each block's start from the registers at h's
    /// (a register two ways into a block bring different values of is unknown there), the strided
    /// accesses of the blocks every pass runs, each one's stride (the steps of its registers, the same
    /// at every edge back to h), and the most instructions a pass can retire; null when no access strides.
    /// </summary>
    private StridedLoop? PlanLoop(int h, int[] order, bool[] inBody)
    {
        int n = _blocks.Length;
        var latches = _predecessors[h].Where(p => inBody[p]).ToList();
        var valueIn = new Affine[n][];
        valueIn[h] = new Affine[16];
        for (byte r = 0; r < 16; r++) valueIn[h][r] = Affine.Of(r);
        Affine[]? atBack = null;
        var longest = new int[n];
        longest[h] = _blocks[h].Count;
        var found = new List<StridedAccess>();
        // The groups tested before the head that some edge back to it does not keep open: tested again
        // at every pass, so the fast copy (whose back edges skip the head's tests) takes their pointers
        // itself (EmitFastCopy). Their reference point is the head's start.
        bool kept = _hoisted == null || latches.TrueForAll(_testsSkippedFrom![h].Contains);
        if (!kept)
            foreach (int id in _hoisted![h])
            {
                var g = _groups[id];
                found.Add(new StridedAccess { Op = -1, Group = id, At = Affine.Sum(g.MinDisp, g.Base, g.Index, g.Scale, valueIn[h]) });
            }
        foreach (int b in order)
        {
            var value = (Affine[])valueIn[b].Clone();
            bool everyPass = DominatesLatches(b, h, inBody, latches);
            for (int k = _first[b]; k < _first[b] + _blocks[b].Count; k++)
            {
                ref Op op = ref _ops[k];
                int id = _groupOf[k];
                if (everyPass && id < 0 && AtItsOperand(ref op))
                    found.Add(new StridedAccess { Op = k, Group = -1, At = Affine.Sum(op.Disp, op.Base, op.Index, op.Scale, value) });
                else if (everyPass && id >= 0 && _groups[id].First == k && _groups[id].Base != StackPointer)
                {
                    var g = _groups[id];
                    found.Add(new StridedAccess { Op = k, Group = id, At = Affine.Sum(g.MinDisp, g.Base, g.Index, g.Scale, value) });
                }
                TrackValues(ref op, value);
            }
            foreach (int t in _successors[b])
            {
                if (!inBody[t]) continue;
                if (t == h) { atBack = Meet(atBack, value); continue; }
                valueIn[t] = Meet(valueIn[t], value);
                longest[t] = Math.Max(longest[t], longest[b] + _blocks[t].Count);
            }
        }
        // A stride beyond 2^40 (a register stepped by a huge constant) is left to the checked copy.
        foreach (var a in found)
            if (Stride(a.At, atBack!) is long stride && stride is <= 1L << 40 and >= -(1L << 40)) a.Stride = stride;
            else a.At = Affine.Unknown;
        // Every group tested before the head must be one (the fast copy cannot skip its test otherwise).
        if (!kept && !found.TrueForAll(a => a.Op >= 0 || a.At.Known)) return null;
        found.RemoveAll(a => !a.At.Known);
        if (found.Count == 0) return null;
        return new StridedLoop { Head = h, Blocks = [.. order.Order()], Accesses = found, LongestPass = latches.Max(l => longest[l]) };
    }

    /// <summary>Values two ways bring into a block: each register's where they agree, unknown where not (<paramref name="into"/> null: the first way's).</summary>
    private static Affine[] Meet(Affine[]? into, Affine[] value)
    {
        if (into == null) return (Affine[])value.Clone();
        for (int r = 0; r < 16; r++)
            if (into[r] != value[r]) into[r] = Affine.Unknown;
        return into;
    }

    /// <summary>Whether every pass of the loop (blocks <paramref name="inBody"/>, head <paramref name="h"/>) that goes round again runs block <paramref name="d"/>: without it, no latch is reached from h.</summary>
    private bool DominatesLatches(int d, int h, bool[] inBody, List<int> latches)
    {
        if (d == h) return true;
        var seen = new bool[_blocks.Length];
        seen[d] = true;
        MarkReached([h], _successors, seen, t => !inBody[t] || t == h);
        return !latches.Exists(l => l != d && seen[l]);
    }

    /// <summary>
    /// How far a pass moves <paramref name="at"/>: the sum of its registers' steps (each register's
    /// <paramref name="value"/> at the edges back to the head must be itself at the head's start plus a constant), or
    /// null when it is unknown or one of them is not stepped so.
    /// </summary>
    private static long? Stride(Affine at, Affine[] value)
    {
        if (!at.Known) return null;
        long stride = 0;
        for (int k = 0; k < at.Terms; k++)
        {
            var (r, s) = at.Term(k);
            if (value[r] is not { Terms: 1, S0: 0 } v || v.R0 != r) return null;
            stride = unchecked(stride + (v.Disp << s));
        }
        return stride;
    }

    /// <summary>Pushes the value <paramref name="at"/> of the registers now (the pass count's: the head's start).</summary>
    private void EmitValue(Affine at)
    {
        Const((ulong)at.Disp);
        for (int k = 0; k < at.Terms; k++)
        {
            var (r, s) = at.Term(k);
            LoadReg(r);
            if (s != 0) { _il.Emit(OpCodes.Ldc_I4, (int)s); _il.Emit(OpCodes.Shl); }
            _il.Emit(OpCodes.Add);
        }
    }

    /// <summary>
    /// Whether the op's memory accesses are at its memory operand's address: every op with one but
    /// pushes, pops and indirect calls and jumps (which also access the stack), and no segment or
    /// 32-bit address (the pass count adds neither). Its window test is skipped only when it makes one
    /// (a load, a store, a compare, a read-modify-write through the load's writable address: <see cref="Unchecked(int)"/>).
    /// </summary>
    private static bool AtItsOperand(ref Op op) =>
        MemoryOperand(ref op) && op.Seg == 0 && (op.Flags & OpFlags.Addr32) == 0
        && op.Kind is not (OpKind.Push or OpKind.Pop or OpKind.CallIndirect or OpKind.JmpIndirect);

    /// <summary>A cmp or test, which writes no register (RegistersWritten counts its first operand: groups end there).</summary>
    private static bool Compares(ref Op op) => op.Kind switch
    {
        OpKind.CmpRR64 or OpKind.CmpRR32 or OpKind.CmpRI64 or OpKind.CmpRI32 or OpKind.CmpRM32 or OpKind.CmpRM64
            or OpKind.TestRR64 or OpKind.TestRR32 => true,
        OpKind.Alu or OpKind.AluRR64 or OpKind.AluRR32 or OpKind.AluRI64 or OpKind.AluRI32 or OpKind.AluRM64 or OpKind.AluRM32
            => (AluOp)op.Cond is AluOp.Cmp or AluOp.Test,
        _ => false,
    };

    /// <summary>
    /// A value as disp + Σ r·2^s over up to three terms (r, s) of the registers at the loop head's start
    /// (Floyd-Warshall's row, `(%rcx,%r9)` after `lea (%rdx,%rsi),%rcx`, has three), or unknown.
    /// </summary>
    private readonly record struct Affine(long Disp, byte Terms, byte R0, byte S0, byte R1, byte S1, byte R2, byte S2)
    {
        public static readonly Affine Unknown = new(0, 0xFF, 0, 0, 0, 0, 0, 0);
        public bool Known => Terms != 0xFF;
        /// <summary>Register r as the block starts.</summary>
        public static Affine Of(byte r) => new(0, 1, r, 0, 0, 0, 0, 0);
        /// <summary>Term k (k &lt; Terms): its register and shift.</summary>
        public (byte Reg, byte Shift) Term(int k) => k == 0 ? (R0, S0) : k == 1 ? (R1, S1) : (R2, S2);

        /// <summary>This value with <paramref name="other"/>·2^<paramref name="shift"/> added, unknown past three terms or a shift of 8.</summary>
        public Affine Plus(Affine other, int shift)
        {
            if (!Known || !other.Known) return Unknown;
            var sum = this with { Disp = unchecked(Disp + (other.Disp << shift)) };
            for (int k = 0; k < other.Terms; k++)
            {
                var (r, s) = other.Term(k);
                if (sum.Terms == 3 || s + shift > 7) return Unknown;
                byte t = (byte)(s + shift);
                sum = sum.Terms switch
                {
                    0 => sum with { Terms = 1, R0 = r, S0 = t },
                    1 => sum with { Terms = 2, R1 = r, S1 = t },
                    _ => sum with { Terms = 3, R2 = r, S2 = t },
                };
            }
            return sum;
        }

        /// <summary>disp + base + index·2^scale with the registers' current <paramref name="value"/>s (Op.NoReg: none).</summary>
        public static Affine Sum(long disp, byte baseReg, byte index, byte scale, Span<Affine> value)
        {
            var sum = new Affine(disp, 0, 0, 0, 0, 0, 0, 0);
            if (baseReg != Op.NoReg) sum = sum.Plus(value[baseReg], 0);
            if (index != Op.NoReg) sum = sum.Plus(value[index], scale);
            return sum;
        }
    }

    /// <summary>
    /// The registers' values after the op: a constant step (add, sub, inc, dec of a 64-bit register),
    /// a 64-bit lea of known values, or a 64-bit mov keeps them known; any other write forgets them.
    /// </summary>
    private static void TrackValues(ref Op op, Span<Affine> value)
    {
        uint written = Compares(ref op) ? 0 : RegistersWritten(ref op);
        if (written == 0) return;
        Affine next = Affine.Unknown;
        if (op.R0 < 16 && written == 1u << op.R0)
        {
            Affine now = value[op.R0];
            if (ConstantStep(ref op, op.R0) is long by) next = now.Known ? now with { Disp = unchecked(now.Disp + by) } : Affine.Unknown;
            else if (op.Kind == OpKind.Lea && op.Size == 8 && (op.Flags & OpFlags.Addr32) == 0) next = Affine.Sum(op.Disp, op.Base, op.Index, op.Scale, value);
            else if (op.Kind == OpKind.MovRR64 && op.R1 < 16) next = value[op.R1];
        }
        for (int r = 0; r < 16; r++)
            if ((written >> r & 1) != 0) value[r] = Affine.Unknown;
        if (next.Known) value[op.R0] = next;
    }

    /// <summary>The constant the op adds to 64-bit register <paramref name="r"/> when that is all it does to it (add, sub, inc, dec); else null.</summary>
    private static long? ConstantStep(ref Op op, int r)
    {
        if (op.R0 != r) return null;
        switch (op.Kind)
        {
            case OpKind.AddRI64: return (long)op.Imm;
            case OpKind.SubRI64: return unchecked(-(long)op.Imm);
            case OpKind.AluRI64:
            case OpKind.Alu when op.Form == Form.RI && op.Size == 8 && op.Seg == 0:
                return (AluOp)op.Cond switch { AluOp.Add => (long)op.Imm, AluOp.Sub => unchecked(-(long)op.Imm), _ => null };
            case OpKind.IncDecR64: return op.Cond == 0 ? 1 : -1;
            default: return null;
        }
    }

    /// <summary>
    /// At the start of a loop's block, after the tests of the groups hoisted before it: the block's
    /// windows are noted for the fast copy; at the head, on to the pass count first (the checked copy follows).
    /// </summary>
    private void EnterStridedLoop(int b)
    {
        if (_loopOf[b] is not StridedLoop loop) return;
        if (b == loop.Head)
        {
            _il.Emit(OpCodes.Br, loop.Count);
            _il.MarkLabel(loop.Checked);
        }
        _checkedCopy = loop;
    }

    /// <summary>
    /// After the last of a loop's blocks in region order (the op being emitted its last): the fast copy
    /// of its blocks in the same order, then the pass count. Both copies' windows are the same: the
    /// checked copy's, replayed in order.
    /// </summary>
    private void EmitFastCopy(int b)
    {
        _checkedCopy = null;
        if (_loopOf[b] is not StridedLoop loop || b != loop.Blocks[^1]) return;
        ILSize before = Size;
        int last = _i;
        _fastCopy = loop;
        _replayAt = 0;
        foreach (int c in loop.Blocks)
        {
            _il.MarkLabel(loop.Fast[c]);
            _il.ZeroExtended = _zeroExtendedIn[c];
            _curSetter = _setterIn[c];
            if (c == loop.Head)
                foreach (var a in loop.Accesses)
                    if (a.Op < 0 && a.Accesses == 1)
                    {
                        // A group tested before the head, in its window this pass (the pass count): its pointer.
                        var g = _groups[a.Group];
                        EmitSum(g.MinDisp, g.Base, g.Index, g.Scale);
                        _il.Emit(OpCodes.Stloc, _tGroupVa);
                        StoreWindowHost(a.Window, _tGroupVa, g.Host!);
                    }
            for (_i = _first[c]; _i < _first[c] + _blocks[c].Count; _i++) EmitOp(ref _ops[_i]);
            _i--;
            if (!IsControl(_ops[_i].Kind)) EmitGoto(_blocks[c].EndIp);   // a block cut by its length falls through
        }
        if (_replayAt != loop.Windows.Count) throw new InvalidOperationException($"the fast copy of 0x{_blocks[loop.Head].Va:x} took {_replayAt} windows, its checked copy {loop.Windows.Count}");
        _fastCopy = null;
        _i = last;
        EmitPassCount(loop);
        _blockSize[b] += Size - before;
    }

    /// <summary>The fast copy's strided access: whether the current access (through window <paramref name="offset"/>) takes its addend with no test (the pass count found it in the window).</summary>
    private bool Unchecked(int offset) => _stridedAt[_i] is StridedAccess a && Unchecked(a, offset);

    /// <summary>The fast copy's strided group check: whether group <paramref name="id"/>'s check (through window <paramref name="offset"/>) takes the addend with no test.</summary>
    private bool UncheckedGroup(int id, int offset) => _stridedGroup[id] is StridedAccess a && Unchecked(a, offset);

    /// <summary>In the checked copy (or the tests before the head), notes the access's window; in the fast copy, whether the access skips its test.</summary>
    private bool Unchecked(StridedAccess a, int offset)
    {
        if (_fastCopy == null)
        {
            a.Accesses++;
            a.Window = offset;
            return false;
        }
        return a.Accesses == 1 && a.Window == offset;
    }

    /// <summary>
    /// The pass count before a loop's pass: Passes = how many passes the fast copy may run, this
    /// one and as many after it as the least of the budget's (each pass entered with the budget still
    /// covering reach, what the check at the edges back to the head ensures, with each pass taking at
    /// most the longest way round) and each strided access's (the passes
    /// whose address lies in its window: va - Lo &lt; Span, and va moves by the stride a pass). When an
    /// access lies outside its window now, the checked copy runs the pass.
    /// </summary>
    private void EmitPassCount(StridedLoop loop)
    {
        _il.MarkLabel(loop.Count);
        int j = loop.Head;
        ulong count = (ulong)loop.LongestPass;
        var passes = loop.Passes;
        // Budget: the loop's head is a check point, so _left >= reach here.
        var none = _il.DefineLabel();
        var budgetDone = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, _left);
        Const((ulong)_reach[j]);
        _il.Emit(OpCodes.Blt_Un, none);
        _il.Emit(OpCodes.Ldloc, _left);
        Const((ulong)_reach[j]);
        _il.Emit(OpCodes.Sub);
        Const(count);
        _il.Emit(OpCodes.Div_Un);
        _il.Emit(OpCodes.Stloc, passes);
        _il.Emit(OpCodes.Br, budgetDone);
        _il.MarkLabel(none);
        Const(0);
        _il.Emit(OpCodes.Stloc, passes);
        _il.MarkLabel(budgetDone);
        foreach (var a in loop.Accesses)
        {
            if (a.Accesses != 1) continue;   // tested in both copies
            // d = va - Lo: in the window when d < Span.
            EmitValue(a.At);
            WindowField(a.Window);
            _il.Emit(OpCodes.Sub);
            _il.Emit(OpCodes.Stloc, _tAddr);
            _il.Emit(OpCodes.Ldloc, _tAddr);
            WindowField(a.Window + WindowSpan);
            _il.Emit(OpCodes.Bge_Un, loop.Checked);
            if (a.Stride == 0) continue;
            // The passes after this one that stay in: (Span - 1 - d) / stride up, d / -stride down.
            if (a.Stride > 0)
            {
                WindowField(a.Window + WindowSpan);
                Const(1);
                _il.Emit(OpCodes.Sub);
                _il.Emit(OpCodes.Ldloc, _tAddr);
                _il.Emit(OpCodes.Sub);
                Const((ulong)a.Stride);
            }
            else
            {
                _il.Emit(OpCodes.Ldloc, _tAddr);
                Const((ulong)-a.Stride);
            }
            _il.Emit(OpCodes.Div_Un);
            _il.Emit(OpCodes.Stloc, _tAddr);
            var keep = _il.DefineLabel();
            _il.Emit(OpCodes.Ldloc, _tAddr);
            _il.Emit(OpCodes.Ldloc, passes);
            _il.Emit(OpCodes.Bge_Un, keep);
            _il.Emit(OpCodes.Ldloc, _tAddr);
            _il.Emit(OpCodes.Stloc, passes);
            _il.MarkLabel(keep);
        }
        // Counted with this one: the back edge's decrement then tests for zero at once (dec; jne).
        _il.Emit(OpCodes.Ldloc, passes);
        Const(1);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stloc, passes);
        if (loop.Bulk != null) EmitBulk(loop, loop.Bulk);
        _il.Emit(OpCodes.Br, loop.Fast[j]);
    }

    /// <summary>
    /// A fast copy's edge back to the head (the block charged to _left already): counts the pass done, and while
    /// passes are left goes round again with no budget check (the flags made whole first when head
    /// <paramref name="j"/> reads them); on the last, goes on as any edge into the head (its budget
    /// check, its flags), to the pass count.
    /// </summary>
    private void EmitNextPass(int j)
    {
        var lastPass = _il.DefineLabel();
        var passes = _fastCopy!.Passes;
        _il.Emit(OpCodes.Ldloc, passes);
        Const(1);
        _il.Emit(OpCodes.Sub);
        _il.Emit(OpCodes.Dup);
        _il.Emit(OpCodes.Stloc, passes);
        _il.Emit(OpCodes.Brfalse, lastPass);
        FlagsInto(j);
        _il.Emit(OpCodes.Br, _fastCopy.Fast[j]);
        _il.MarkLabel(lastPass);
    }
}
