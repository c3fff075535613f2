using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Counted passes of a self-loop: a block that branches back to its own start (gcc's inner loops at
/// -O2: a matrix product's row times column, a stencil's sweep, a copy), whose accesses step through
/// memory by constants. qemu-user addresses guest memory directly; here each access tests its window
/// (<see cref="EmitFastAccess"/>) on every pass, three or four host instructions and a branch each.
/// Such a block is emitted twice: the checked copy (as any block) and a fast copy whose strided
/// accesses (loads, stores, compares and read-modify-writes of their own, and access groups' checks, RegionCompiler.Groups.cs)
/// take their window's addend with no test. Before either, a pass count (<see
/// cref="EmitPassCount"/>) works out from each strided access's address and stride how many passes
/// stay in its window, and from the budget how many the budget covers; the fast copy runs that many
/// (its back edge counts them down and skips the budget's check), then the count is worked out again.
/// When an access is outside its window now (its pages not in the TLB yet, an array's first sweep),
/// the checked copy runs the pass, missing and rebuilding its windows as before, and comes back to the
/// count. So no access of the fast copy can reach outside its window, whatever the loop's exit
/// condition, stride sign or trip count: a loop that leaves early (a search) only wastes the count.
/// Only blocks whose every op is compiled (no handler call: the windows then cannot change while the
/// loop runs, see <see cref="Cpu.BeforeSlotChange"/>) and only accesses whose address is up to three
/// registers of the block's start plus a constant (<see cref="Affine"/>, followed through add, sub,
/// inc, dec, 64-bit lea and mov), each register stepped by a constant a pass or not written. The two
/// copies share their windows (<see cref="NewWindow"/> replays the checked copy's).
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>A strided access of a self-loop: its op, its address at the block's start (disp + base + index·scale with the registers then), and how far that moves a pass.</summary>
    private sealed class StridedAccess
    {
        /// <summary>The op (a group's first member), or -1 for a group tested before the head; the group, or -1 for an access of its own.</summary>
        public int Op, Group;
        /// <summary>The address (a group's first) from the registers at the block's start; Unknown when it is not of that form.</summary>
        public Affine At;
        /// <summary>How far the address moves a pass.</summary>
        public long Stride;
        /// <summary>The window its checked copy tests (an offset from the region's first), -1 before it is emitted.</summary>
        public int Window = -1;
        /// <summary>How many window tests the checked copy (or the tests before the head) made for it (the fast copy skips the test only when one).</summary>
        public int Accesses;
    }

    /// <summary>A self-loop emitted twice: its strided accesses, the pass count's label, each copy's start, and the passes the fast copy may still run, the current one included.</summary>
    private sealed class StridedLoop
    {
        public required List<StridedAccess> Accesses;
        public Label Count, Checked, Fast;
        public LocalBuilder Passes = null!;
        /// <summary>The windows the checked copy's ops took, in order, for the fast copy to take again.</summary>
        public readonly List<int> Windows = new();
    }

    /// <summary>Per block: its plan when it is a self-loop with strided accesses, else null.</summary>
    private StridedLoop?[] _strided = [];
    /// <summary>Per op: its strided access (of its own), or null; per group: its check as a strided access, or null.</summary>
    private StridedAccess?[] _stridedAt = [], _stridedGroup = [];
    /// <summary>The fast copy of a self-loop is being emitted (its strided accesses take no test; its windows are the checked copy's).</summary>
    private StridedLoop? _fastCopy;
    /// <summary>The checked copy of a self-loop is being emitted (its windows are noted for the fast copy).</summary>
    private StridedLoop? _checkedCopy;
    /// <summary>The next of the checked copy's windows the fast copy takes.</summary>
    private int _replayAt;

    /// <summary>
    /// Finds the self-loops worth a fast copy: optimised code of whole blocks, the block a budget check
    /// point (every self-loop is one: PlanBudgetChecks), every op compiled, and at least one strided
    /// access, through registers each stepped by a constant or unwritten in the block: an access
    /// outside any access group (<see cref="AtItsOperand"/>), or an access group's
    /// check (the group's whole range), of a group that starts in the block or is tested before it
    /// (the group's registers then step too, or the back edge would keep it open and skip its test).
    /// </summary>
    private void PlanStridedLoops()
    {
        _strided = new StridedLoop?[_blocks.Length];
        _stridedAt = new StridedAccess?[_n];
        _stridedGroup = new StridedAccess?[_groups.Count];
        if (_prefix || _quick) return;
        Span<Affine> value = stackalloc Affine[16], start = stackalloc Affine[16];
        for (int j = 0; j < _blocks.Length; j++)
        {
            int first = _first[j], end = first + _blocks[j].Count;
            ref Op last = ref _ops[end - 1];
            if (last.Kind != OpKind.Jcc || last.Imm != _blocks[j].Va || !_checkPoint[j] || _blockStores[j]) continue;
            for (byte r = 0; r < 16; r++) value[r] = start[r] = Affine.Of(r);
            var found = new List<StridedAccess>();
            // The groups tested before the head that the back edge does not keep open: tested again at
            // every pass, so the fast copy (whose back edge skips the head's tests) takes their pointers
            // itself (EmitFastCopy). Their reference point is the head's start.
            bool kept = _hoisted == null || _testsSkippedFrom![j].Contains(j);
            if (!kept)
                foreach (int id in _hoisted![j])
                {
                    var g = _groups[id];
                    found.Add(new StridedAccess { Op = -1, Group = id, At = Affine.Sum(g.MinDisp, g.Base, g.Index, g.Scale, start) });
                }
            bool whole = true;
            for (int k = first; k < end; k++)
            {
                ref Op op = ref _ops[k];
                if (!Supports(ref op)) { whole = false; break; }
                int id = _groupOf[k];
                if (id < 0 && AtItsOperand(ref op))
                    found.Add(new StridedAccess { Op = k, Group = -1, At = Affine.Sum(op.Disp, op.Base, op.Index, op.Scale, value) });
                else if (id >= 0 && _groups[id].First == k && _groups[id].Base != StackPointer)
                {
                    var g = _groups[id];
                    found.Add(new StridedAccess { Op = k, Group = id, At = Affine.Sum(g.MinDisp, g.Base, g.Index, g.Scale, value) });
                }
                TrackValues(ref op, value);
            }
            // A stride beyond 2^40 (a register stepped by a huge constant) is left to the checked copy.
            foreach (var a in found)
                if (Stride(a.At, value) is long stride && stride is <= 1L << 40 and >= -(1L << 40)) a.Stride = stride;
                else a.At = Affine.Unknown;
            // Every group tested before the head must be one (the fast copy cannot skip its test otherwise).
            if (!whole || (!kept && !found.TrueForAll(a => a.Op >= 0 || a.At.Known))) continue;
            found.RemoveAll(a => !a.At.Known);
            if (found.Count == 0) continue;
            _strided[j] = new StridedLoop { Accesses = found, Count = _il.DefineLabel(), Checked = _il.DefineLabel(), Fast = _il.DefineLabel(), Passes = _il.DeclareLocal(typeof(ulong)) };
            foreach (var a in found)
                if (a.Group >= 0) _stridedGroup[a.Group] = a;
                else _stridedAt[a.Op] = a;
        }
    }

    /// <summary>
    /// How far a pass moves <paramref name="at"/>: the sum of its registers' steps (each register's
    /// <paramref name="value"/> at the block's end must be itself at the start plus a constant), or
    /// null when it is unknown or one of them is not stepped so.
    /// </summary>
    private static long? Stride(Affine at, Span<Affine> value)
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

    /// <summary>Pushes the value <paramref name="at"/> of the registers now (the pass count's: the block's start).</summary>
    private void EmitValue(Affine at)
    {
        Const((ulong)at.Disp);
        for (int k = 0; k < at.Terms; k++)
        {
            var (r, s) = at.Term(k);
            _il.Emit(OpCodes.Ldloc, Reg(r));
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
    /// A value as disp + Σ r·2^s over up to three terms (r, s) of the registers at the block's start
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

    /// <summary>At a self-loop's start, after the tests of the groups hoisted before it: on to the pass count; the checked copy follows.</summary>
    private void EnterStridedLoop(int j)
    {
        if (_strided[j] is not StridedLoop loop) return;
        _il.Emit(OpCodes.Br, loop.Count);
        _il.MarkLabel(loop.Checked);
        _checkedCopy = loop;
    }

    /// <summary>
    /// After a self-loop's checked copy (the op being emitted its last): the fast copy, then the pass
    /// count. Both copies' windows are the same: the checked copy's, replayed in order.
    /// </summary>
    private void EmitFastCopy(int j)
    {
        if (_strided[j] is not StridedLoop loop) return;
        ILSize before = Size;
        int last = _i;
        _checkedCopy = null;
        _fastCopy = loop;
        _replayAt = 0;
        _il.MarkLabel(loop.Fast);
        _curSetter = _setterIn[j];
        foreach (var a in loop.Accesses)
            if (a.Op < 0 && a.Accesses == 1)
            {
                // A group tested before the head, in its window this pass (the pass count): its pointer.
                var g = _groups[a.Group];
                EmitSum(g.MinDisp, g.Base, g.Index, g.Scale);
                _il.Emit(OpCodes.Stloc, _tGroupVa);
                StoreWindowHost(a.Window, _tGroupVa, g.Host!);
            }
        for (_i = _first[j]; _i <= last; _i++) EmitOp(ref _ops[_i]);
        if (_replayAt != loop.Windows.Count) throw new InvalidOperationException($"the fast copy of 0x{_blocks[j].Va:x} took {_replayAt} windows, its checked copy {loop.Windows.Count}");
        _fastCopy = null;
        _i = last;
        EmitPassCount(j, loop);
        _blockSize[j] += Size - before;
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
    /// The pass count before a self-loop's pass: Passes = how many passes the fast copy may run, this
    /// one and as many after it as the least of the budget's (each pass entered with the budget still
    /// covering reach: what the check at the back edge ensures) and each strided access's (the passes
    /// whose address lies in its window: va - Lo &lt; Span, and va moves by the stride a pass). When an
    /// access lies outside its window now, the checked copy runs the pass.
    /// </summary>
    private void EmitPassCount(int j, StridedLoop loop)
    {
        _il.MarkLabel(loop.Count);
        ulong count = (ulong)_blocks[j].Count;
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
        _il.Emit(OpCodes.Br, loop.Fast);
    }

    /// <summary>
    /// The fast copy's back edge (the block charged to _left already): counts the pass done, and while
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
        _il.Emit(OpCodes.Br, _fastCopy.Fast);
        _il.MarkLabel(lastPass);
    }
}
