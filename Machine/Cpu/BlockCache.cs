using Iced.Intel;

namespace Lab.Machine.Cpu;

/// <summary>
/// A run of decoded instructions starting at one guest address, ending at a control transfer, a trap
/// instruction, <see cref="Cpu.MaxBlockOps"/> instructions or the end of the page. Immutable once
/// built; invalidation only clears <see cref="Valid"/>.
/// </summary>
internal sealed class Block
{
    public ulong Va;
    /// <summary>Physical address of the first byte.</summary>
    public ulong Pa;
    /// <summary>Physical page of the last instruction's tail when it crosses into the next page, else ulong.MaxValue.</summary>
    public ulong SecondPage = ulong.MaxValue;
    public Op[] Ops = [];
    public int Count;
    /// <summary>Address after the last instruction (fall-through).</summary>
    public ulong EndIp;
    public bool Valid = true;
    /// <summary>#UD descriptions, indexed by the Invalid op's Imm.</summary>
    public string[]? Texts;
    // Chained successors (same virtual page only, so the same translation holds).
    public Block? LinkA, LinkB;
    /// <summary>1 when the block ends with a call, 2 with a ret (for the return-address predictor).</summary>
    public byte EndKind;
    /// <summary>For call-ending blocks: the block at the return address (same page only).</summary>
    public Block? ReturnBlock;
    /// <summary>For blocks ending in an indirect jmp/call: several cached targets (switch dispatch).</summary>
    public Block?[]? IndirectLinks;
    public int NextIndirectSlot;
    /// <summary>Times the region rooted at this block was compiled again for an indirect target it lacked (Cpu.NoteIndirectMiss).</summary>
    public int IndirectRecompiles;
    /// <summary>For blocks ending in an indirect jmp/call: every target seen in this page (up to <see cref="MaxIndirectTargets"/>), for the JIT's regions.</summary>
    public List<ulong>? IndirectTargets;
    public const int MaxIndirectTargets = 64;

    /// <summary>
    /// The addresses the block's end continues at that the code itself names: a jcc's target and next
    /// instruction, a call's target and return site, a jmp's target, an indirect call's return site, the
    /// next instruction of a block cut by its length or the page end; none for a ret or an indirect jmp.
    /// Returns how many it wrote to <paramref name="into"/> (room for 2).
    /// </summary>
    public int DirectSuccessors(Span<ulong> into)
    {
        ref Op last = ref Ops[Count - 1];
        switch (last.Kind)
        {
            case OpKind.Jcc: case OpKind.Call: into[0] = last.Imm; into[1] = last.NextIp; return 2;
            case OpKind.Jmp: into[0] = last.Imm; return 1;
            case OpKind.CallIndirect: into[0] = last.NextIp; return 1;
            case OpKind.Ret: case OpKind.JmpIndirect: return 0;
            default: into[0] = EndIp; return 1;
        }
    }

    /// <summary>
    /// Puts in <paramref name="into"/> (cleared first) where control may go from this block's end: its
    /// direct successors (<see cref="DirectSuccessors"/>), then the indirect targets the dispatcher has seen.
    /// </summary>
    public void Successors(List<ulong> into)
    {
        into.Clear();
        Span<ulong> direct = stackalloc ulong[2];
        foreach (ulong va in direct[..DirectSuccessors(direct)]) into.Add(va);
        if (IndirectTargets != null) into.AddRange(IndirectTargets);
    }

    /// <summary>Remembers a target of this block's indirect jump or call (the dispatcher's slow path).</summary>
    public void NoteIndirectTarget(ulong va)
    {
        IndirectTargets ??= new List<ulong>();
        if (IndirectTargets.Count < MaxIndirectTargets && !IndirectTargets.Contains(va)) IndirectTargets.Add(va);
    }
    /// <summary>Times the dispatcher entered this block while it had no compiled code (JIT tier-up counter).</summary>
    public int Heat;
    /// <summary>The block compiled to IL (Jit tier), or null. Hangs off the block, so invalidating the block drops it.</summary>
    public JitCode? Compiled;
    /// <summary>How many leading ops the compiled code covers: Count, or fewer when a later op is outside the JIT's subset (the interpreter runs the rest).</summary>
    public int CompiledOps;
    /// <summary>Compiled code covers this block as a member of another block's region (it tiers up later; see Cpu.TierUp).</summary>
    public bool InRegion;
    /// <summary>
    /// The dispatcher kept entering this block, a member of compiled code but no entry of it (Cpu.Reenter):
    /// a region that covers it makes it an entry (RegionCompiler.FindEntries), and a region rooted
    /// elsewhere stops before it when another region's code has that entry (Cpu.CollectRegion).
    /// </summary>
    public bool WantsEntry;
    /// <summary>The last compiled region (its entry-0 object) installed with this block as a member, or null (Cpu.Reenter); cleared when that code is dropped, which it would keep alive.</summary>
    public JitRegion? Home;
    /// <summary>The entries of the compiled regions whose code covers this block and that a write to its page does not invalidate by itself: the region's blocks in other pages than its entry's, or all of them when it has entries on several pages (the write drops their code).</summary>
    public List<JitRegion>? ForeignOf;
    /// <summary>Regions rooted at this block compiled again to take in an exit's target (Cpu.NoteHotExit).</summary>
    public int HotExitRecompiles;
    /// <summary>The JIT cannot compile this block (an op outside its subset): it stays interpreted.</summary>
    public bool JitRejected;
    /// <summary>
    /// Regions rooted at this block test their access groups' host pointer at each member (Cpu.NoteGroupMiss:
    /// a group here kept missing both its window and the TLB, a range across two pages that lie apart).
    /// </summary>
    public bool GroupMembersTested;
    /// <summary>A compilation of this block's region still in RyuJIT's hands (background compilation), else null.</summary>
    public Cpu.PendingRegion? Pending;
    /// <summary>The compiled code when it covers the whole block (compiled code may tail-call it), else null.</summary>
    public JitCode? Chainable;
    /// <summary>
    /// The budget entering <see cref="Compiled"/> here needs: the most instructions its code can retire
    /// before its next budget check (RegionCompiler.PlanBudgetChecks); set whenever Compiled is.
    /// </summary>
    public int JitEntryBudget;
}

/// <summary>
/// What compiled code is closed over (its argument 0): the region's member blocks (entry first), their
/// ops concatenated (ops without an emitter run through their handler on these), and the exit slots
/// (each direct exit's target outside the region, and each return that leaves it) with the compiled
/// block each led to when the dispatcher last ran it (compiled code then tail-calls it).
/// </summary>
internal sealed class JitRegion(Block[] blocks, Op[] ops)
{
    public readonly Block[] Blocks = blocks;
    public readonly Op[] Ops = ops;
    /// <summary>Per exit slot: the direct exit's target, or <see cref="ReturnSlot"/> for a return's.</summary>
    public ulong[] ExitTargets = [];
    /// <summary>Per exit slot: the block the dispatcher last ran after it (Cpu.LinkExit), or null.</summary>
    public Block?[] Exits = [];
    /// <summary>Per exit slot: whether its block lies outside the pages the code's entries and start-up check verify, so the exit first asks the TLB whether that page still maps there (Cpu.FetchMapped).</summary>
    public bool[] ExitsUnverified = [];
    /// <summary>
    /// The <see cref="ExitTargets"/> of a return's slot, whose target is the address popped: it is
    /// followed by <see cref="ReturnWays"/> - 1 more slots (<see cref="ReturnWay"/>), the blocks the
    /// dispatcher ran after it most recently first (a function called from several sites).
    /// </summary>
    public const ulong ReturnSlot = ulong.MaxValue, ReturnWay = ulong.MaxValue - 1;
    public const int ReturnWays = 4;
    /// <summary>The pages of member blocks outside this entry's page (virtual page, physical page number), checked as the code starts.</summary>
    public (ulong Va, ulong Page)[] ForeignPages = [];
    /// <summary>Starts in a row that found a foreign page unmapped (Cpu.RegionPagesMapped).</summary>
    public int MapFailures;
    /// <summary>Cpu._tlbGeneration when Cpu.RegionPagesMapped last found every foreign page mapped (none yet: ulong.MaxValue).</summary>
    public ulong MappedGeneration = ulong.MaxValue;
    /// <summary>The region's access windows (AccessWindow*, consecutive, one per compiled memory access).</summary>
    public nint Windows;
    /// <summary>The exits of the code, normal and side (RegionCompiler.Exits.cs): each notes its row, and a shared tail reads the rest.</summary>
    public JitLeave[] Leaves = [];
    /// <summary>Which of the method's entries this object starts at (0: the region's entry block; see <see cref="Entries"/>).</summary>
    public int Entry;
    /// <summary>The object of entry 0, which the region's bookkeeping hangs off.</summary>
    public JitRegion Main = null!;
    /// <summary>
    /// The method's entries after entry 0: the return sites of the calls that leave the region, each
    /// with a delegate closed over its own JitRegion (sharing this one's tables, <see cref="Entry"/> its
    /// number), installed as that member block's code. A callee outside the region returns straight
    /// into compiled code there instead of the interpreter running the caller's blocks up to an entry.
    /// </summary>
    public (Block Block, JitCode Code, int Budget)[] Entries = [];
    /// <summary>The budget entering at the region's first block needs (<see cref="Block.JitEntryBudget"/>).</summary>
    public int EntryBudget;
    /// <summary>Compiled with RyuJIT's MinOpts, to be compiled again optimised when hot (Cpu.Promote).</summary>
    public bool Quick;
    /// <summary>
    /// Quick code (on <see cref="Main"/>): the instructions its code may still retire before it is
    /// compiled again, optimised (Cpu.Promote); every exit of the code subtracts what it retired.
    /// </summary>
    public long PromoteCredit;
    /// <summary>Quick code (on <see cref="Main"/>): the credit it was given, and the exits its code took since (Cpu.Promote reads how often it left).</summary>
    public long QuickCredit, QuickLeaves;
    /// <summary>
    /// On <see cref="Main"/>: most warm blocks the region's compiles collect (Cpu.CollectRegion):
    /// RegionCompiler.RegionBlocks, or MaxRegionBlocks once its quick code left it often (Cpu.Promote).
    /// </summary>
    public int WarmBlockLimit = RegionCompiler.MaxRegionBlocks;
    /// <summary>
    /// On <see cref="Main"/>: exits of the code at an indirect jump or call to a target outside it,
    /// which the dispatcher then ran (Cpu.NoteIndirectMiss).
    /// </summary>
    public int IndirectMisses;
    /// <summary>Compiled with a test of the group's host pointer at every access group member (RegionCompiler._memberTests).</summary>
    public bool GroupMembersTested;
    /// <summary>
    /// Quick code: per member block (an index into <see cref="Blocks"/>), the times its code began
    /// (RegionCompiler.EmitRunCount); shared by every entry's object. Cpu.Promote reads them.
    /// </summary>
    public long[] BlockRuns = [];
    /// <summary>
    /// Code compiled since its region's quick code ran: the runs that code counted, by block address
    /// (<see cref="BlockRuns"/>), which weigh its registers (RegionCompiler.PlanColdRegisters), kept for
    /// the region's later compiles (reentries, hot exits). Null: none counted (no quick tier).
    /// </summary>
    public IReadOnlyDictionary<ulong, long>? Runs;
    /// <summary>On <see cref="Main"/>: group checks that found neither the window nor the TLB holding the group's range since retired count <see cref="GroupMissesSince"/> (Cpu.NoteGroupMiss).</summary>
    public int GroupMisses;
    public ulong GroupMissesSince;

    /// <summary>Another entry into the same method: a copy sharing every table, starting at entry <paramref name="entry"/>.</summary>
    public JitRegion At(int entry, (ulong Va, ulong Page)[] foreignPages) => new(Blocks, Ops)
    {
        ExitTargets = ExitTargets, Exits = Exits, ExitsUnverified = ExitsUnverified, ForeignPages = foreignPages, Windows = Windows,
        Leaves = Leaves, Entry = entry, Main = Main, Quick = Quick, BlockRuns = BlockRuns, Runs = Runs,
    };
}

/// <summary>
/// An exit of a region's code: rip (unless the exit computes it), the ops of its block retired before
/// it, the status, the block left (an index into JitRegion.Blocks) and the direct-exit slot (-1: none);
/// and the times the code left by it through a slot, and since when.
/// </summary>
internal struct JitLeave(ulong rip, int retired, int status, int block, int slot)
{
    public readonly ulong Rip = rip;
    public readonly int Retired = retired, Status = status, Block = block, Slot = slot;
    /// <summary>
    /// Times the code left by this exit through its slot (linked or not), counted by the epilogue on
    /// the row it reads anyway: at Cpu.HotExitPasses the code returns to the dispatcher, which counts
    /// again from 0 and may compile the region again with the target as a member (Cpu.NoteHotExit).
    /// </summary>
    public int Hits;
    /// <summary>The instructions retired when <see cref="Hits"/> last reached Cpu.HotExitPasses (0: never).</summary>
    public ulong HitsSince;
}

/// <summary>Decoded-block cache keyed by (virtual, physical) start address, invalidated per physical page.</summary>
public sealed unsafe partial class Cpu : ICodeWriteObserver
{
    internal const int MaxBlockOps = 64;
    private const int L1Size = 4096;

    private readonly Block?[] _l1 = new Block?[L1Size];
    private readonly Dictionary<(ulong Va, ulong Pa), Block> _blocks = new();
    private readonly Dictionary<ulong, List<Block>> _blocksByPage = new();
    private readonly GuestCodeReader _codeReader = new();
    private readonly Decoder _decoder;  // created in the constructor over _codeReader
    private readonly Op[] _scratchOps = new Op[MaxBlockOps];
    private readonly List<string> _scratchTexts = new();

    /// <summary>Number of blocks decoded since creation (for tests and statistics).</summary>
    public long BlocksDecoded { get; private set; }
    /// <summary>Number of code pages invalidated by writes (self-modifying code, program loads).</summary>
    public long CodeInvalidations { get; private set; }

    private void ClearBlockLookupCache() => Array.Clear(_l1);

    /// <summary>Finds or decodes the block at rip. Returns null after recording a fetch fault.</summary>
    private Block? LookupBlock(ulong rip)
    {
        if (!TranslateFetch(rip, out ulong pa)) return null;
        int slot = (int)((rip ^ (rip >> 12)) & (L1Size - 1));
        Block? b = _l1[slot];
        if (b != null && b.Va == rip && b.Pa == pa && b.Valid && SecondPageMatches(b)) return b;
        if (!_blocks.TryGetValue((rip, pa), out b) || !SecondPageMatches(b))
        {
            if (b != null) { b.Valid = false; _blocks.Remove((b.Va, b.Pa)); }
            b = DecodeBlock(rip, pa);
            if (b == null) return null;
        }
        _l1[slot] = b;
        return b;
    }

    /// <summary>
    /// The block at <paramref name="rip"/> when the lookup cache holds it and the TLB translates its
    /// page for fetching to the block's physical page (what <see cref="LookupBlock"/> would find, without
    /// walking, decoding or faulting), else null. A block reaching into the next page is not returned.
    /// </summary>
    private Block? CachedBlockAt(ulong rip)
    {
        TlbEntry* e = TlbSlot(rip);
        if (e->ExecTag != (rip & ~0xFFFUL)) return null;
        Block? b = _l1[(int)((rip ^ (rip >> 12)) & (L1Size - 1))];
        if (b == null || b.Va != rip || b.Pa != ((e->PhysPage << 12) | (rip & 0xFFF)) || !b.Valid || b.SecondPage != ulong.MaxValue) return null;
        return b;
    }

    /// <summary>A block whose last instruction straddles into the next page is only valid while that page maps to the same physical page.</summary>
    private bool SecondPageMatches(Block b)
    {
        if (b.SecondPage == ulong.MaxValue) return true;
        return TranslateFetch((b.Va & ~0xFFFUL) + 0x1000, out ulong pa2) && (pa2 >> 12) == b.SecondPage;
    }

    /// <summary>Decodes a new block at rip (physical pa) and registers it for invalidation.</summary>
    private Block? DecodeBlock(ulong rip, ulong pa)
    {
        // Decode from the rest of this page only. The next page is translated (and can fault) only
        // when an instruction really straddles the boundary, and then only for a block that starts
        // with that instruction.
        int inPage = (int)(0x1000 - (rip & 0xFFF));
        byte[] buf = _codeReader.Buffer;
        new ReadOnlySpan<byte>(_memory.Base + pa, inPage).CopyTo(buf);
        ulong secondPa = ulong.MaxValue;
        _codeReader.Reset(inPage);
        _decoder.IP = rip;

        int count = 0;
        bool crossed = false;
        _scratchTexts.Clear();
        while (count < MaxBlockOps)
        {
            ulong ip = _decoder.IP;
            if (ip - rip >= (ulong)inPage) break;          // next instruction starts on the next page
            _decoder.Decode(out Instruction instr);
            if (instr.IsInvalid && _decoder.LastError == DecoderError.NoMoreBytes)
            {
                if (count > 0 || secondPa != ulong.MaxValue)
                {
                    // Let the straddling instruction start its own block: the block falls through to it,
                    // not to where the failed decode left the decoder.
                    _decoder.IP = ip;
                    break;
                }
                ulong nextPage = (rip & ~0xFFFUL) + 0x1000;
                if (!TranslateFetch(nextPage, out ulong nextPa)) return null;   // #PF on the second page
                new ReadOnlySpan<byte>(_memory.Base + nextPa, 15).CopyTo(buf.AsSpan(inPage));
                secondPa = nextPa >> 12;
                _codeReader.Reset(inPage + 15);
                _decoder.IP = rip;
                continue;
            }
            ref Op op = ref _scratchOps[count];
            OpTranslator.Translate(in instr, ref op, _scratchTexts, SystemMode);
            if (count > 0 && SystemTranslator.StartsBlock(op.Kind))
            {
                // Port I/O starts its own block, so devices read the exact instruction count when it runs.
                _decoder.IP = ip;
                break;
            }
            count++;
            if (_codeReader.Position > inPage) crossed = true;
            if (crossed || OpTranslator.EndsBlock(op.Kind)) break;
        }

        if (count == 0)
        {
            // Cannot happen for a fetchable page (an instruction is at most 15 bytes); never loop on an empty block.
            throw new InvalidOperationException($"empty block decoded at 0x{rip:x}");
        }

        var block = new Block
        {
            Va = rip,
            Pa = pa,
            Ops = _scratchOps.AsSpan(0, count).ToArray(),
            Count = count,
            EndIp = _decoder.IP,
            Texts = _scratchTexts.Count > 0 ? _scratchTexts.ToArray() : null,
            SecondPage = crossed ? secondPa : ulong.MaxValue,
        };
        if (count > 0)
        {
            OpKind last = _scratchOps[count - 1].Kind;
            if (last is OpKind.JmpIndirect or OpKind.CallIndirect) block.IndirectLinks = new Block?[8];
            block.EndKind = last is OpKind.Call or OpKind.CallIndirect ? (byte)1 : last == OpKind.Ret ? (byte)2 : (byte)0;
        }
        _blocks[(rip, pa)] = block;
        RegisterCodePage(pa >> 12, block);
        if (crossed) RegisterCodePage(secondPa, block);
        BlocksDecoded++;
        return block;
    }

    private void RegisterCodePage(ulong page, Block block)
    {
        if (!_blocksByPage.TryGetValue(page, out var list))
        {
            list = new List<Block>();
            _blocksByPage[page] = list;
        }
        list.Add(block);
        if (_memory.CodePages[page] == 0)
        {
            _memory.CodePages[page] = 1;
            RevokeFastWrites(page);
        }
    }

    /// <summary>A write reached a physical page holding decoded code: drop every block on it.</summary>
    public void OnCodePageWritten(ulong page)
    {
        if (_blocksByPage.Remove(page, out var list))
        {
            foreach (Block b in list)
            {
                if (!b.Valid) continue;
                b.Valid = false;
                _blocks.Remove((b.Va, b.Pa));
                if (b.ForeignOf != null)
                {
                    foreach (JitRegion region in b.ForeignOf) DropRegion(region);
                    b.ForeignOf = null;
                }
            }
        }
        _memory.CodePages[page] = 0;
        CodeInvalidations++;
    }

    /// <summary>Drops every decoded block (used after restoring a snapshot).</summary>
    internal void ClearAllBlocks()
    {
        foreach (var b in _blocks.Values) b.Valid = false;
        _blocks.Clear();
        _blocksByPage.Clear();
        Array.Clear(_memory.CodePages);
        ClearBlockLookupCache();
    }

    /// <summary>Feeds Iced from a reusable buffer.</summary>
    private sealed class GuestCodeReader : CodeReader
    {
        public readonly byte[] Buffer = new byte[0x1000 + 16];
        private int _length;
        public int Position { get; private set; }

        public void Reset(int length)
        {
            _length = length;
            Position = 0;
        }

        public override int ReadByte() => Position < _length ? Buffer[Position++] : -1;
    }
}
