using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Access groups: the plain loads, stores and compares of one block that address memory from the
/// same base and index registers (a stack frame, a struct's fields, a[i] and a[i+1]), while neither
/// register changes. The group's first access tests one window for the group's whole range (at
/// most four pages); the members then add their displacement to the host pointer it gave, with no
/// test of their own. When the range is not in the window, the check takes the TLB's pointer when
/// one page holds the range, and otherwise leaves (<see cref="EmitGroupCheck"/>).
/// A block reached only from blocks before it carries on the groups open at all their ends (<see cref="CarryInto"/>),
/// and a loop's head tests before it the groups a back edge keeps open, which that edge then skips
/// (<see cref="GroupsKeptAroundLoops"/>).
/// A group ends at a handler call (it could change the TLB between its members) and at any other
/// access (a read-modify-write of memory, a push from memory): those call nothing either since stop 36,
/// but groups kept open across them ran 4-5% slower (edn, statemate: longer-lived group pointers);
/// a group tested before a loop's head stays open across them (it is to last the loop).
/// Every member can itself only leave compiled code when it misses (ExitResume), never call.
/// A group on rsp alone also survives pushes, pops and add/sub of rsp by a constant: it tracks how far
/// rsp has moved since its first member (<see cref="AccessGroup.Delta"/>), and pushes and pops are
/// members too, so a function's prologue saving six registers tests one window, not six.
/// A table lookup whose index register has a known bound (a byte zero-extended, a shift right, an and
/// with a constant: <see cref="TrackBounds"/>) joins the group of its base alone (or of no register:
/// a static table) with the whole range the index can reach, and adds index·scale at run time: a
/// T-table cipher's 16 lookups a round, through as many index registers, test two windows, not 16.
/// So does a lookup in a static table through a bounded base and no index (<see cref="BoundedLookup"/>):
/// a DES round's eight, through registers masked with 0xfc, tested a window each until stop 43.
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>One access group: its key (base, index, scale), its range [MinDisp, MaxEnd) from base + index·scale, and its first member.</summary>
    private sealed class AccessGroup
    {
        public int First, Members;
        public byte Base, Index, Scale;
        public long MinDisp, MaxEnd;
        /// <summary>How far the base register (rsp) has moved, by constants, since the group's first member.</summary>
        public long Delta;
        public bool Write;
        /// <summary>How far rsp had moved since the start of the first member's block when it was made (null: not by constants).</summary>
        public long? MovedBefore;
        /// <summary>The loop head before which the group is tested (its reference point that block's start; First is -1), or -1.</summary>
        public int HoistedAt = -1;
        /// <summary>The host pointer of base + index·scale + MinDisp, or 0 when the range was not in the window.</summary>
        public LocalBuilder? Host;
    }

    /// <summary>A block's end in a plan: the groups open there (each with how far rsp moved since its reference point) and the index bounds.</summary>
    private readonly record struct BlockEnd(List<(int Id, long Delta)> Open, ulong[] Bound);

    private readonly List<AccessGroup> _groups = new();
    /// <summary>Per op: the index of the group its access belongs to, or -1.</summary>
    private int[] _groupOf = [];
    /// <summary>Per member: its address's displacement from the group's base as it was at the group's first member.</summary>
    private long[] _groupDisp = [];
    /// <summary>Per member: the register it joined through by its bound (its index, or a base without index), whose value (index·scale) its address adds to its displacement; Op.NoReg for none.</summary>
    private byte[] _groupAdds = [];
    /// <summary>Per block: the groups tested before it (<see cref="GroupsKeptAroundLoops"/>), and the predecessors whose edges skip those tests.</summary>
    private List<int>[]? _hoisted, _testsSkippedFrom;
    /// <summary>Per block with groups tested before it: the label after the tests.</summary>
    private readonly Dictionary<int, Label> _afterTests = new();
    /// <summary>The group's first address (base + index·scale + MinDisp), for the check and a rebuild.</summary>
    private LocalBuilder _tGroupVa = null!;

    /// <summary>
    /// The most bytes one group covers (over a page, a group of loads only: see <see cref="Join"/>).
    /// Up to a page until stop 42; a tree ensemble's tables 6 KiB
    /// apart, read through the same two registers (xgboost), then tested one window each, and ran 7%
    /// slower (huffbench 5-9%). A range over pages is held only by a window (one run of pages with
    /// one addend), never by the TLB alone, so a group over pages that lie apart leaves often and its
    /// region then tests at each member (Cpu.NoteGroupMiss).
    /// </summary>
    private const int MaxGroupRange = 16384;
    /// <summary>The most bytes a group that stores covers, and a table lookup's range from its index's bound: a page.</summary>
    private const int MaxPageGroupRange = 4096;

    /// <summary>
    /// Finds the access groups of every block (members only in groups of two or more, or one for a
    /// group tested before a loop's head; a block may carry on its predecessors'), in two plans when
    /// a loop's head has groups its back edges keep open (<see cref="GroupsKeptAroundLoops"/>).
    /// </summary>
    private void PlanAccessGroups()
    {
        // The first plan only finds what a loop's back edges keep open: there another access (an
        // update in place) does not end a group, as it does not end one tested before the loop's head.
        // edn's and nettle-aes's regions then test half as many groups again before their loops' heads
        // (edn 3.5% faster, best of five; aes within the noise).
        var candidates = GroupsKeptAroundLoops(PlanGroups(hoist: null, forHoisting: true));
        var atEnd = PlanGroups(candidates, forHoisting: false);
        if (candidates is not List<AccessGroup>[] hoist) return;
        // A back edge that keeps every hoisted group of its head open skips the head's tests.
        _hoisted = new List<int>[_blocks.Length];
        _testsSkippedFrom = new List<int>[_blocks.Length];
        for (int j = 0; j < _blocks.Length; j++) _hoisted[j] = [];
        for (int id = 0; id < _groups.Count; id++)
            if (_groups[id].HoistedAt >= 0 && _groups[id].Members > 0) _hoisted[_groups[id].HoistedAt].Add(id);
        for (int j = 0; j < _blocks.Length; j++)
            _testsSkippedFrom[j] = _hoisted[j].Count == 0 ? [] : [.. _predecessors[j].Where(p => _hoisted[j].TrueForAll(id => atEnd[p]!.Value.Open.Contains((id, 0))))];
    }

    /// <summary>
    /// One plan of the groups, op by op in region order; <paramref name="hoist"/> (per block, or null)
    /// names groups of the first plan to open anew at a loop head's start; <paramref name="forHoisting"/>:
    /// a plan only to find them, in which another access ends no group. Returns each block's end:
    /// the groups open there (with how far rsp moved since each one's reference point) and the index bounds.
    /// </summary>
    private BlockEnd?[] PlanGroups(List<AccessGroup>[]? hoist, bool forHoisting)
    {
        _groups.Clear();
        _groupOf = new int[_n];
        _groupDisp = new long[_n];
        _groupAdds = new byte[_n];
        Array.Fill(_groupAdds, Op.NoReg);
        Array.Fill(_groupOf, -1);
        var open = new List<int>();
        Span<ulong> bound = stackalloc ulong[16];
        var atEnd = new BlockEnd?[_blocks.Length];
        BlockEnd EndState(List<int> open, Span<ulong> bound) => new([.. open.Select(id => (id, _groups[id].Delta))], bound.ToArray());
        long? movedInBlock = 0;   // how far rsp moved since the block's start (null: not by constants)
        for (int k = 0; k < _n; k++)
        {
            if (_offset[k] == 0)
            {
                if (k > 0) atEnd[_blockOf[k - 1]] = EndState(open, bound);
                open.Clear();
                bound.Fill(ulong.MaxValue);
                movedInBlock = 0;
                CarryInto(_blockOf[k], atEnd, open, bound);
                if (hoist?[_blockOf[k]] is List<AccessGroup> kept)
                    foreach (var g in kept)
                    {
                        // Empty until members join it; its reference point is the head's start.
                        _groups.Add(new AccessGroup { First = -1, HoistedAt = _blockOf[k], Base = g.Base, Index = g.Index, Scale = g.Scale, MinDisp = long.MaxValue, MaxEnd = long.MinValue });
                        open.Add(_groups.Count - 1);
                    }
            }
            ref Op op = ref _ops[k];
            if (!Supports(ref op)) { open.Clear(); bound.Fill(ulong.MaxValue); movedInBlock = null; continue; }
            int made = _groups.Count;
            if (MemoryOperand(ref op))
            {
                // Another access ends the groups (it calls nothing: see the class comment), not those
                // tested before a loop's head, which are to last the whole loop.
                if (!GroupAccess(ref op, out int size, out bool write)) { if (!forHoisting) open.RemoveAll(id => _groups[id].HoistedAt < 0); }
                else if (BoundedLookup(ref op, bound, size, write) is (byte added, byte from, int reach))
                {
                    // The bounded register in [0, bound]: the access lies in from + [disp, disp + reach).
                    _groupAdds[k] = added;
                    _groupOf[k] = Join(open, from, Op.NoReg, 0, op.Disp, reach, write, k);
                }
                else _groupOf[k] = Join(open, op.Base, op.Index, op.Scale, op.Disp, size, write, k);
            }
            else if (StackAccess(ref op, out int size, out bool write, out long disp))
                _groupOf[k] = Join(open, StackPointer, Op.NoReg, 0, disp, size, write, k);
            if (_groups.Count > made) _groups[^1].MovedBefore = movedInBlock;
            uint written = RegistersWritten(ref op);
            TrackBounds(ref op, written, bound);
            long? moved = StackMove(ref op);
            movedInBlock = moved is long m ? movedInBlock + m : (written >> StackPointer & 1) != 0 ? null : movedInBlock;
            open.RemoveAll(id =>
            {
                var g = _groups[id];
                if (moved is long by && g.Base == StackPointer && g.Index == Op.NoReg) { g.Delta += by; return false; }
                return (written >> g.Base & 1) != 0 || (written >> g.Index & 1) != 0;
            });
        }
        if (_n > 0) atEnd[_blockOf[_n - 1]] = EndState(open, bound);
        for (int k = 0; k < _n; k++)
            if (_groupOf[k] >= 0 && _groups[_groupOf[k]].Members < (_groups[_groupOf[k]].HoistedAt >= 0 ? 1 : 2)) _groupOf[k] = -1;
        return atEnd;
    }

    /// <summary>
    /// Per block, the groups of the first plan (<paramref name="atEnd"/>) to test before it instead of
    /// at their first member, or null when there are none: a group whose first member lies in a loop's
    /// head (a block with a predecessor planned at or after it: a back edge), that a back edge into the
    /// head keeps open with rsp where it was at the head's start (the others, and the edges from before
    /// the loop, test it at the head's start). Its registers then hold the same values on every pass,
    /// so one test before the loop serves them all: matmult's store of the sum
    /// through the destination's pointer, a cipher's table lookups, a spilled local on the stack. The
    /// second plan opens such a group at the head's start, and only edges that keep it open skip the
    /// test there (so a back edge that closed it in the second plan tests it again: correct either way).
    /// </summary>
    private List<AccessGroup>[]? GroupsKeptAroundLoops(BlockEnd?[] atEnd)
    {
        if (_prefix) return null;
        List<AccessGroup>[]? hoist = null;
        for (int id = 0; id < _groups.Count; id++)
        {
            AccessGroup g = _groups[id];
            if (g.MovedBefore is not long before) continue;
            int j = _blockOf[g.First];
            var back = _predecessors[j].Where(p => p >= j).ToList();
            if (back.Count == 0) continue;
            long kept = g.Base == StackPointer && g.Index == Op.NoReg ? -before : 0;   // rsp back at the head's start
            if (!back.Exists(p => atEnd[p]!.Value.Open.Contains((id, kept)))) continue;
            hoist ??= new List<AccessGroup>[_blocks.Length];
            (hoist[j] ??= []).Add(g);
        }
        return hoist;
    }

    /// <summary>
    /// Opens at the start of block <paramref name="j"/> the groups open at the end of each of its
    /// predecessors (<paramref name="atEnd"/>: each group with how far rsp had moved since its first
    /// member), and sets the index bounds every predecessor's end ensures, when the block is no entry
    /// and all its predecessors were planned before it (no loop's back edge comes in). Compiled code
    /// then reaches the block only from the end of one of them, after its every op, so each group's
    /// registers and host pointer are as its first member left them on every path (or rsp moved by the
    /// same constant). A structure's fields read on both sides of an if and after it, or a static
    /// array indexed by one register in a loop's body split by branches, then test one window, not one per block.
    /// </summary>
    private void CarryInto(int j, BlockEnd?[] atEnd, List<int> open, Span<ulong> bound)
    {
        List<int> from = _predecessors[j];
        if (_prefix || from.Count == 0 || _entries.Contains(j) || from.Exists(p => p >= j)) return;
        var (groups, bounds) = atEnd[from[0]]!.Value;
        foreach (var (id, delta) in groups)
        {
            if (!from.TrueForAll(p => atEnd[p]!.Value.Open.Contains((id, delta)))) continue;
            // rsp moved as at each predecessor's end (a sibling planned since may have moved it further).
            _groups[id].Delta = delta;
            open.Add(id);
        }
        bounds.CopyTo(bound);
        foreach (int p in from)
            for (int r = 0; r < 16; r++) bound[r] = Math.Max(bound[r], atEnd[p]!.Value.Bound[r]);
    }

    /// <summary>
    /// A table lookup: an access through a register with a known bound (<see cref="TrackBounds"/>), its
    /// index (base + index·scale + disp: a[i] with i a byte), or its base when it has no index
    /// (disp + base: gcc's `movzbl sbox(%rax)` and `mov SP(%rsi)` with rsi = x &amp; 0xfc for a cipher's
    /// byte-offset tables). Returns the bounded register, the register the rest of the address is from
    /// (the base, or none: a static table), and the bytes the access may reach from disp; null when the
    /// op is no such lookup. The reach stays within a page: a bound says how far the index may go, not
    /// how far the table goes, and a range past its mapped pages would leave at every check. For a
    /// static table the range must also be in the TLB with the access's rights now (else its window
    /// could never be built, and the region would test at each member).
    /// </summary>
    private (byte Added, byte From, int Reach)? BoundedLookup(ref Op op, ReadOnlySpan<ulong> bound, int size, bool write)
    {
        byte added, from;
        int scale;
        if (op.Index < 16) (added, from, scale) = (op.Index, op.Base, op.Scale);
        else if (op.Index == Op.NoReg && op.Base < 16) (added, from, scale) = (op.Base, Op.NoReg, 0);
        else return null;
        if (bound[added] > MaxPageGroupRange || (long)(bound[added] << scale) + size > MaxPageGroupRange) return null;
        int reach = size + (int)(bound[added] << scale);
        if (from == Op.NoReg && (op.Disp < 0 || !_cpu.FastAccessibleNow((ulong)op.Disp, (ulong)(op.Disp + reach), write))) return null;
        return (added, from, reach);
    }

    /// <summary>
    /// After op <paramref name="op"/> (writing <paramref name="written"/>): the most each register can
    /// hold (ulong.MaxValue: unknown), within one block. Only a few ops set a bound: movzx of a byte or
    /// a word into a 32- or 64-bit register, shr by a constant, and with a constant, mov of a 32-bit
    /// constant or register, mov of a 64-bit register, movsx of a register whose bound leaves its sign
    /// bit clear (gcc's <c>movzbl %ah, %ebp; movslq %ebp, %r11</c>); any other write forgets the register's bound.
    /// A bound lets a table lookup join a group (<see cref="PlanAccessGroups"/>), so it must hold on every
    /// path: an op the compiler does not implement forgets every bound (the caller's reset).
    /// </summary>
    private static void TrackBounds(ref Op op, uint written, Span<ulong> bound)
    {
        const ulong Unknown = ulong.MaxValue;
        ulong value = Unknown;
        switch (op.Kind)
        {
            case OpKind.MovzxRR:
                value = op.Size2 == 1 ? 0xFF : op.Size2 == 2 ? 0xFFFF : Unknown; break;
            case OpKind.MovsxRR when op.R1 < 16 && bound[op.R1] < 1UL << (8 * op.Size2 - 1):
                value = bound[op.R1]; break;   // the sign bit clear: the value itself (movslq of a byte zero-extended)
            case OpKind.ShiftRI32 when (ShiftOp)op.Cond == ShiftOp.Shr:
                value = 0xFFFF_FFFFUL >> (int)(op.Imm & 31); break;
            case OpKind.ShiftRI64 when (ShiftOp)op.Cond == ShiftOp.Shr:
                value = Unknown >> (int)(op.Imm & 63); break;
            case OpKind.AndRI32:
            case OpKind.AluRI32 when (AluOp)op.Cond == AluOp.And:
                value = (uint)op.Imm; break;
            case OpKind.AluRI64 when (AluOp)op.Cond == AluOp.And && (long)op.Imm >= 0:
                value = op.Imm; break;
            case OpKind.MovRI32:
                value = (uint)op.Imm; break;
            case OpKind.MovRR32:
                value = op.R1 < 16 ? Math.Min(bound[op.R1], 0xFFFF_FFFFUL) : Unknown; break;
            case OpKind.MovRR64:
                value = op.R1 < 16 ? bound[op.R1] : Unknown; break;
        }
        for (int r = 0; r < 16; r++)
            if ((written >> r & 1) != 0) bound[r] = Unknown;
        if (value != Unknown && op.R0 < 16 && written == 1u << op.R0) bound[op.R0] = value;
    }

    /// <summary>
    /// Adds op <paramref name="k"/>'s access (at base + index·scale + <paramref name="disp"/>, the
    /// registers as they are now) to an open group with its key whose range it fits in, or to a new one.
    /// </summary>
    private int Join(List<int> open, byte baseReg, byte index, byte scale, long disp, int size, bool write, int k)
    {
        foreach (int id in open)
        {
            var g = _groups[id];
            if (g.Base != baseReg || g.Index != index || (g.Index != Op.NoReg && g.Scale != scale)) continue;
            long at = disp + g.Delta;
            long min = Math.Min(g.MinDisp, at), max = Math.Max(g.MaxEnd, at + size);
            if (max - min > MaxGroupRange) continue;
            // Over a page, loads only: a store makes the group's window a write window, whose every
            // page must take fast writes, and a read-only table's page never does (out[i] = table[i]
            // through one index register would miss always, and its region would test at each member).
            if (max - min > MaxPageGroupRange && (g.Write || write)) continue;
            // Without registers (static tables and globals) loads and stores share a group only when
            // every page of its range takes fast writes now: a store makes the group's window a write
            // window, which a read-only table's page never gets (every member would miss, always).
            if (baseReg == Op.NoReg && index == Op.NoReg && g.Write != write && !_cpu.FastAccessibleNow((ulong)min, (ulong)max, write: true)) continue;
            g.MinDisp = min; g.MaxEnd = max; g.Write |= write; g.Members++;
            _groupDisp[k] = at;
            return id;
        }
        _groups.Add(new AccessGroup { First = k, Members = 1, Base = baseReg, Index = index, Scale = scale, MinDisp = disp, MaxEnd = disp + size, Write = write });
        open.Add(_groups.Count - 1);
        _groupDisp[k] = disp;
        return _groups.Count - 1;
    }

    private const byte StackPointer = 4;

    /// <summary>
    /// A push of a register or an immediate, or a pop into a register other than rsp: its access is at
    /// rsp + <paramref name="disp"/> (rsp before the op), as a group member on rsp.
    /// </summary>
    private static bool StackAccess(ref Op op, out int size, out bool write, out long disp)
    {
        size = op.Size;
        write = op.Kind is OpKind.PushR64 or OpKind.Push;
        disp = write ? -size : 0;
        // The pushes and pops that move rsp by a constant (StackMove) are exactly these.
        return op.Kind is OpKind.PushR64 or OpKind.Push or OpKind.PopR64 or OpKind.Pop && StackMove(ref op) != null;
    }

    /// <summary>How far the op moves rsp when that is a constant and it writes no other register the group uses (push, pop, add/sub rsp, imm); else null.</summary>
    private static long? StackMove(ref Op op)
    {
        switch (op.Kind)
        {
            case OpKind.PushR64: return -8;
            case OpKind.Push when op.Form != Form.M: return -op.Size;
            case OpKind.PopR64: return op.R0 == StackPointer ? null : 8;
            case OpKind.Pop when op.Form == Form.R: return op.R0 == StackPointer ? null : op.Size;
            case OpKind.AddRI64: return op.R0 == StackPointer ? (long)op.Imm : null;
            case OpKind.SubRI64: return op.R0 == StackPointer ? -(long)op.Imm : null;
            case OpKind.Alu or OpKind.AluRI64 when op.Form == Form.RI && op.Size == 8 && op.R0 == StackPointer:
                return (AluOp)op.Cond switch { AluOp.Add => (long)op.Imm, AluOp.Sub => -(long)op.Imm, _ => null };
            default: return null;
        }
    }

    /// <summary>The op has an explicit memory operand that it reads or writes (not lea, not a hinting nop).</summary>
    private static bool MemoryOperand(ref Op op) =>
        op.Form is Form.M or Form.RM or Form.MR or Form.MI && op.Kind is not (OpKind.Lea or OpKind.Nop);

    /// <summary>
    /// Whether the op's one access can be a group member: a plain load, store or compare that makes it
    /// before changing anything (so a miss can always leave for the interpreter), through base and/or
    /// index registers or at a constant address, without segment or 32-bit address truncation; with its
    /// size and direction.
    /// </summary>
    private static bool GroupAccess(ref Op op, out int size, out bool write)
    {
        size = op.Size;
        write = false;
        if (op.Seg != 0 || (op.Flags & OpFlags.Addr32) != 0) return false;
        switch (op.Kind)
        {
            case OpKind.MovRM64: size = 8; return true;
            case OpKind.MovRM32: size = 4; return true;
            case OpKind.MovMR64: size = 8; write = true; return true;
            case OpKind.MovMR32: size = 4; write = true; return true;
            case OpKind.MovMI: case OpKind.MovMR: write = true; return true;
            case OpKind.MovRM: return true;
            case OpKind.Mov: write = op.Form != Form.RM; return true;
            case OpKind.MovzxRM: case OpKind.MovsxRM: size = op.Size2; return true;
            case OpKind.Movzx: case OpKind.Movsx: size = op.Size2; return op.Form == Form.RM;
            case OpKind.CmpRM32: case OpKind.AluRM32: size = 4; return true;
            case OpKind.CmpRM64: case OpKind.AluRM64: case OpKind.AddRM64: size = 8; return true;
            case OpKind.Alu:
                return op.Form == Form.RM || (AluOp)op.Cond is AluOp.Cmp or AluOp.Test;
            default: return IsSseKind(op.Kind) && SseGroupAccess(ref op, out size, out write);
        }
    }

    /// <summary>The general registers the op may write (bit r), explicit and implicit.</summary>
    private static uint RegistersWritten(ref Op op)
    {
        const uint Rax = 1, Rdx = 1 << 2, Rsp = 1 << 4, Rbp = 1 << 5;
        uint r0 = op.R0 == Op.NoReg ? 0 : 1u << (op.R0 >= 16 ? op.R0 - 16 : op.R0 & 15);
        uint r1 = op.R1 == Op.NoReg ? 0 : 1u << (op.R1 >= 16 ? op.R1 - 16 : op.R1 & 15);
        switch (op.Kind)
        {
            case OpKind.PushR64: case OpKind.Push: case OpKind.Call: case OpKind.CallIndirect: case OpKind.Ret:
                return Rsp;
            case OpKind.PopR64: case OpKind.Pop: return Rsp | r0;
            case OpKind.Leave: return Rsp | Rbp;
            case OpKind.Mul1: case OpKind.Imul1: case OpKind.Div: case OpKind.Idiv: case OpKind.Cbw: case OpKind.Cwd:
                return Rax | Rdx | (op.Form == Form.R ? r0 : 0);
            case OpKind.Xchg: return r0 | r1;
            case OpKind.Xadd: return (op.Form == Form.RR ? r0 : 0) | r1;
            case OpKind.Cmpxchg: return (op.Form == Form.RR ? r0 : 0) | Rax;
            case OpKind.SseMovdFromXmm: return op.Form == Form.RR ? r0 : 0;
            case OpKind.SseCvtFpToInt: case OpKind.Pmovmskb: case OpKind.Pextrw: return r0;
            case var k when IsSseKind(k): return 0;   // R0 is an XMM register
            default: return op.Form is Form.R or Form.RR or Form.RM or Form.RI ? r0 : 0;
        }
    }

    /// <summary>
    /// The current op's access as a member of its group: the group's first member tests the group's
    /// window (<see cref="EmitGroupCheck"/>); then host = the group's pointer + (disp - MinDisp), or,
    /// when the group missed, out of line the TLB fast path, else leave for the interpreter. The access
    /// itself (<paramref name="access"/>, emitted on both paths) reads or writes at <see cref="PushHost"/>. <paramref name="address"/> pushes
    /// the access's address for the out-of-line path (a push's or pop's, from rsp now); by default the
    /// op's memory operand.
    /// </summary>
    private void EmitGroupAccess(ref Op op, int size, bool write, Action access, Action? address = null)
    {
        var g = _groups[_groupOf[_i]];
        if (_curSetter == _i) throw new InvalidOperationException($"group member at 0x{op.Ip:x} after its flags");
        // (Without member tests only the group's check can leave: no side exit of the member's own.)
        Label? resume = g.First == _i || _memberTests ? ResumeLabel() : null;
        g.Host ??= _il.DeclareLocal(typeof(nuint));
        if (g.First == _i) EmitGroupCheck(_groupOf[_i], resume!.Value);
        // The member's offset in the group's range; an indexed member adds index·scale, at most its bound.
        _hostForm = HostForm.GroupMember;
        byte adds = _groupAdds[_i];
        _member = (g.Host, _groupDisp[_i] - g.MinDisp, adds, adds != Op.NoReg && adds == op.Index ? op.Scale : (byte)0);
        if (!_memberTests)
        {
            access();   // the check left unless the window or the TLB held the group's range
            return;
        }
        var tlb = _il.DefineLabel();
        var done = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, g.Host);
        _il.Emit(OpCodes.Brfalse, tlb);
        access();
        _il.MarkLabel(done);
        Op copy = op;
        Cold(() =>
        {
            // The address only here: the group's registers are unchanged since its check (or rsp moved
            // by the constants the group tracks), so the hot path needs none. The access is emitted
            // again here, at the pointer the TLB gave.
            var slow = _il.DefineLabel();
            _il.MarkLabel(tlb);
            if (address != null) address();
            else EmitEA(ref copy);
            EmitTlbHit(size, TlbTag(write), slow);
            _il.Emit(OpCodes.Stloc, _tHost);
            _hostForm = HostForm.Local;
            access();
            _il.Emit(OpCodes.Br, done);
            _il.MarkLabel(slow);
            _il.Emit(OpCodes.Br, resume!.Value);
        });
    }

    /// <summary>
    /// At the start of block <paramref name="j"/>: the tests of the groups tested before it
    /// (<see cref="GroupsKeptAroundLoops"/>), which edges from the blocks that keep them open skip
    /// (<see cref="BlockLabel"/>). A miss leaves before the block's first op when the window is due a rebuild.
    /// </summary>
    private void EmitHoistedTests(int j)
    {
        if (_hoisted == null || _hoisted[j].Count == 0) return;
        foreach (int id in _hoisted[j])
        {
            var g = _groups[id];
            g.Host ??= _il.DeclareLocal(typeof(nuint));
            EmitGroupCheck(id, ResumeLabel());
        }
        var after = _il.DefineLabel();
        _il.MarkLabel(after);
        _afterTests[j] = after;
    }

    /// <summary>Where an edge from block <paramref name="from"/> into member <paramref name="j"/> goes: past the tests before j when it keeps their groups open.</summary>
    private Label BlockLabel(int from, int j) =>
        _testsSkippedFrom != null && _testsSkippedFrom[j].Contains(from) ? _afterTests[j] : _label[j];

    /// <summary>
    /// At the group's first member: when [va, va + range) lies in the group's window (va = base +
    /// index·scale + MinDisp), the group's host pointer is va + Addend; else the window's countdown
    /// runs down, and at zero the code leaves before this op for the CPU to rebuild the window around
    /// va (as <see cref="EmitFastAccess"/> does). Before zero, with member tests
    /// (<see cref="_memberTests"/>) the pointer is 0 and each member takes the TLB fast path itself;
    /// without, the pointer is the TLB's for the whole range when one page holds it with the group's
    /// access, and otherwise the code leaves before this op, noting the region (Cpu._jitGroupMissed).
    /// A test at every member cut the hot code into a block per access, and RyuJIT allocated registers
    /// worse across them: SHA-256 ran about 15% faster without them.
    /// </summary>
    private void EmitGroupCheck(int id, Label resume)
    {
        var g = _groups[id];
        EmitSum(g.MinDisp, g.Base, g.Index, g.Scale);
        _il.Emit(OpCodes.Stloc, _tGroupVa);
        int range = (int)(g.MaxEnd - g.MinDisp);
        int offset = NewWindow(range, g.Write);
        if (UncheckedGroup(id, offset))
        {
            // A loop's fast copy: the pass count found this pass's range in the window.
            StoreWindowHost(offset, _tGroupVa, g.Host!);
            return;
        }
        var miss = _il.DefineLabel();
        var after = _il.DefineLabel();
        EmitWindowTest(offset, _tGroupVa, miss, g.Host!, crowded: false);
        _il.MarkJoin(after);   // the miss path stores no guest register
        Cold(() =>
        {
            _il.MarkLabel(miss);
            if (_memberTests)
            {
                _il.Emit(OpCodes.Ldc_I4_0);
                _il.Emit(OpCodes.Conv_U);
                _il.Emit(OpCodes.Stloc, g.Host!);
                EmitCountdown(offset, after, _tGroupVa, resume);
                return;
            }
            var tlb = _il.DefineLabel();
            var missed = _il.DefineLabel();
            EmitCountdown(offset, tlb, _tGroupVa, resume);
            _il.MarkLabel(tlb);
            _il.Emit(OpCodes.Ldloc, _tGroupVa);
            EmitTlbHit(range, TlbTag(g.Write), missed);
            _il.Emit(OpCodes.Stloc, g.Host!);
            _il.Emit(OpCodes.Br, after);
            _il.MarkLabel(missed);
            _il.Emit(OpCodes.Ldarg_1);
            _il.Emit(OpCodes.Ldarg_0);
            _il.Emit(OpCodes.Stfld, JitMembers.GroupMissed);
            _il.Emit(OpCodes.Br, resume);
        });
    }
}
