using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Lab.Machine.Cpu;

/// <summary>
/// Tier-up glue between the dispatcher (Interpreter.cs) and the region compiler: a block entered more
/// than the threshold is compiled once (synchronously, on the executing thread) together with the
/// blocks of its page it reaches (<see cref="CollectRegion"/>); blocks the compiler cannot take stay
/// interpreted. After compiled code returns, known compiled successors run straight
/// from here (RunCompiledChain), which also links compiled blocks' direct exits to each other so the
/// code tail-calls them next time. Compiled code hangs off the <see cref="Block"/>, so the per-page
/// invalidation that drops a block drops its code too, and a snapshot never sees it.
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>The execution tier this CPU was built with.</summary>
    public ExecutionTier Tier { get; }

    private readonly int _jitThreshold;
    /// <summary>Most guest instructions kept compiled (MachineOptions.JitCodeLimit).</summary>
    private readonly int _jitCodeLimit;
    /// <summary>The blocks holding compiled code (region entries), and the guest instructions compiled for them.</summary>
    private readonly List<Block> _jitCompiled = new();
    private int _jitLiveInstructions;

    /// <summary>Regions (a hot block and the blocks of its page it reaches) compiled to IL since creation (a quick region's second compile counts in <see cref="JitRegionsPromoted"/> instead).</summary>
    public long JitBlocksCompiled { get; private set; }
    /// <summary>Blocks that reached the threshold but have an op the JIT does not implement.</summary>
    public long JitBlocksRejected { get; private set; }
    /// <summary>Regions cut to fewer blocks because their IL was over RyuJIT's limits for optimising (RegionCompiler.MaxILInstructions).</summary>
    public long JitRegionsCut { get; internal set; }
    /// <summary>Loops compiled with counted passes: a fast copy whose strided accesses take no window test (RegionCompiler.Strides.cs).</summary>
    public long JitCountedLoops { get; internal set; }
    /// <summary>Guest registers compiled regions keep in the register file rather than in locals: used only outside their region's hottest loops (RegionCompiler.ColdRegisters.cs).</summary>
    public long JitRegistersInFile { get; internal set; }
    /// <summary>cmovs compiled as a branch around a move rather than branch-free: their condition rarely flipped, or their result soon becomes an address (RegionCompiler.CmovAsBranch).</summary>
    public long JitCmovBranches { get; internal set; }
    /// <summary>Branch-free cmovs compiled without temporaries, in regions whose registers crowd the host's (RegionCompiler.EmitCmovXor).</summary>
    public long JitCmovXors { get; internal set; }
    /// <summary>Window tests in crowded loops compiled to go on from va - Lo, so va needs no host register past them (RegionCompiler.EmitWindowTest).</summary>
    public long JitCrowdedAccesses { get; internal set; }
    /// <summary>Guest instructions in the compiled regions, second compiles of quick regions included.</summary>
    public long JitInstructionsCompiled { get; private set; }
    /// <summary>Time this CPU's thread spent compiling: IL emission, and RyuJIT unless it works in the background.</summary>
    public TimeSpan JitCompileTime => TimeSpan.FromTicks((long)(_jitCompileTicks * ((double)TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
    /// <summary>Guest instructions in the compiled code kept now (at most MachineOptions.JitCodeLimit).</summary>
    public long JitLiveInstructions => _jitLiveInstructions;
    /// <summary>Times all compiled code was dropped because the limit was reached.</summary>
    public long JitFlushes => _jitFlushes;
    private long _jitFlushes;
    /// <summary>Time RyuJIT spent on the compile worker for this CPU's regions (background compilation; not in <see cref="JitCompileTime"/>).</summary>
    public TimeSpan JitBackgroundCompileTime => TimeSpan.FromTicks((long)(_jitBackgroundTicks * ((double)TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
    private long _jitBackgroundTicks;
    /// <summary>RyuJIT compiles regions on a compile worker thread while this CPU interprets (MachineOptions.JitBackgroundCompile).</summary>
    private readonly bool _jitBackground;
    /// <summary>Times compiled code was entered (a looping block's iterations count once).</summary>
    public long JitEntries => _jitEntries;
    /// <summary>Times compiled code tail-called another region's code (a linked exit or return), without the dispatcher.</summary>
    public long JitPasses => _jitPasses;
    /// <summary>Passes of copy, fill and byte-search loops run at once, as one memmove, fill or search (RegionCompiler.Bulk.cs).</summary>
    public long JitBulkPasses => _jitBulkPasses;
#pragma warning disable CS0649   // written by compiled code (IL stfld), which the C# compiler does not see
    private long _jitPasses;
    private long _jitBulkPasses;
#pragma warning restore CS0649

    private long _jitCompileTicks;
    private long _jitEntries;
    /// <summary>The last block compiled code ran: the block entered, then at a normal exit the block left (RunCode).</summary>
    private Block? _jitLast;
    /// <summary>The instruction budget compiled code runs on (set before a call, read back after it).</summary>
    private ulong _jitBudget;
    /// <summary>The region whose normal exit returned to the dispatcher last (null after other exits).</summary>
    private JitRegion? _jitRegion;
#pragma warning disable CS0649   // written by compiled code (IL stfld), which the C# compiler does not see
    /// <summary>The exit slot of that exit (JitRegion.Exits), -1 for none.</summary>
    private int _jitExitSlot;
    /// <summary>The row of <see cref="_jitRegion"/>'s exit whose count just reached HotExitPasses (JitLeave.Hits), else -1.</summary>
    private int _jitHotRow = -1;
    /// <summary>The block that exit left, as its index in the region's Blocks (an int: no GC write barrier; RunCode finds the block).</summary>
    private int _jitExitBlock;
#pragma warning restore CS0649

    /// <summary>
    /// A block that compiled code already covers as a member of another region is reached by the
    /// dispatcher only after an exit (a callee returning, a budget cut, an access the interpreter
    /// finished, a path out of the region that comes back into it), and from there the interpreter soon
    /// reaches compiled code again. Compiling its region again with it as an entry (<see cref="Reenter"/>),
    /// or a region rooted at it, compiles blocks again (about 5 ms, the time to interpret some 10^6
    /// instructions), so it waits for this many times the threshold: qsort-like and hash-table code
    /// compiled the same blocks up to six times. (bench emulator, 16 against 1: apps compiled 28 regions
    /// in 131 ms instead of 51 in 237 ms and ran 1.14 instead of 1.21 times qemu's time; mix 26 in 55 ms
    /// instead of 48 in 158 ms, 0.89 instead of 0.93. It costs apps' recursive n-queens, 1.2 to 1.3
    /// instead of 1.05: its first region starts at the function's first block, and the duplicates it
    /// no longer gets, entered in the loop, were the better code.)
    /// </summary>
    private const int MemberHeatFactor = 16;

    /// <summary>The interpreted runs that make a block warm: warm blocks join a region before others (CollectRegion).</summary>
    private int WarmHeat => Math.Max(1, _jitThreshold / 32);

    /// <summary>
    /// Called by the dispatcher for a block without compiled code: counts an entry and compiles the
    /// block when it reaches the threshold (<see cref="MemberHeatFactor"/> times it for a block compiled
    /// code covers already). Returns the compiled code, or null (not hot yet, rejected, or RyuJIT still
    /// at work on it in the background).
    /// </summary>
    private JitCode? TierUp(Block b)
    {
        if (b.Pending is PendingRegion pending) return pending.Ready ? Install(b, pending) : null;
        if (++b.Heat < (b.InRegion ? MemberHeatFactor * _jitThreshold : _jitThreshold)) return null;
        if (b.InRegion && Reenter(b)) return null;
        long t0 = Stopwatch.GetTimestamp();
        bool quick = _jitPromoteAfter != 0;
        // Quick code starts at the usual size; how often it leaves decides its optimised code's (Promote).
        int warmLimit = quick ? RegionCompiler.RegionBlocks : RegionCompiler.MaxRegionBlocks;
        Block[] region = CollectSizedRegion(b, out var foreign, ref warmLimit);
        // Flushed before compiling, not after: the new code's access windows come from the memory a flush reuses.
        if (OverCodeLimit(region)) FlushCompiledCode();
        JitCode? code = RegionCompiler.TryEmit(this, ref region, ref foreign, quick, out int ops);
        if (code == null)
        {
            _jitCompileTicks += Stopwatch.GetTimestamp() - t0;
            b.JitRejected = true;
            JitBlocksRejected++;
            return null;
        }
        var p = new PendingRegion(code, region, ops, _jitFlushes, replacing: null);
        // The pending code counts against the limit from now, as its access windows do.
        _jitLiveInstructions += p.Instructions(b);
        var compiled = (JitRegion)code.Target!;
        compiled.WarmBlockLimit = warmLimit;
        if (quick) compiled.PromoteCredit = compiled.QuickCredit = (long)_jitPromoteAfter * p.Instructions(b);
        if (!_jitBackground)
        {
            p.Compile();
            _jitCompileTicks += Stopwatch.GetTimestamp() - t0;
            return Install(b, p);
        }
        _jitCompileTicks += Stopwatch.GetTimestamp() - t0;
        b.Pending = p;
        // Members wait as if the code were installed, or a loop's other blocks, as hot as the entry,
        // would each queue their own copy of the region meanwhile.
        if (ops == b.Count)
            foreach (Block m in region) m.InRegion = true;
        CompileInBackground(p);
        return null;
    }

    /// <summary>Regions waiting for the compile worker, and whether a worker runs (both under the queue's lock).</summary>
    private readonly Queue<PendingRegion> _compileQueue = new();
    private bool _compileWorkerRunning;

    /// <summary>
    /// Has RyuJIT compile <paramref name="p"/> on this CPU's compile worker: a thread of its own that
    /// compiles the queued regions one after another and ends when the queue is empty, so it exists
    /// only while there is work. Not the thread pool: the server's pool threads serve connections, and
    /// a compile queued behind busy pool threads waited over a second (a test saw 14 regions wait while
    /// the CPU ran 10^9 instructions of quick code); and one compile at a time per CPU leaves the
    /// other cores to other sessions.
    /// </summary>
    private void CompileInBackground(PendingRegion p)
    {
        p.InBackground = true;
        lock (_compileQueue)
        {
            _compileQueue.Enqueue(p);
            if (_compileWorkerRunning) return;
            _compileWorkerRunning = true;
        }
        new Thread(CompileWorker) { IsBackground = true, Name = "Lab JIT compile" }.Start();
    }

    /// <summary>The compile worker's loop (<see cref="CompileInBackground"/>).</summary>
    private void CompileWorker()
    {
        while (true)
        {
            PendingRegion p;
            lock (_compileQueue)
            {
                if (!_compileQueue.TryDequeue(out p!)) { _compileWorkerRunning = false; return; }
            }
            p.Compile();
        }
    }

    /// <summary>
    /// A region whose IL is emitted (on the CPU's thread: emission reads and reserves CPU state) and
    /// whose machine code RyuJIT produces, on the CPU's compile worker when compiling in the background
    /// (MachineOptions.JitBackgroundCompile): the CPU goes on interpreting meanwhile, and the dispatcher
    /// installs the code the next time it reaches the entry after <see cref="Ready"/>. Compiled code is
    /// exact, so when it starts to run changes nothing the guest can see.
    /// </summary>
    internal sealed class PendingRegion(JitCode code, Block[] region, int ops, long flushes, JitRegion? replacing)
    {
        public readonly JitCode Code = code;
        public readonly Block[] Region = region;
        /// <summary>The entry's ops the code covers (all of them unless a prefix).</summary>
        public readonly int Ops = ops;
        /// <summary>Cpu.JitFlushes when emitted: code emitted before a flush is dropped (its access windows were reused).</summary>
        public readonly long Flushes = flushes;
        /// <summary>
        /// Per entry of the region (JitRegion.Entries): whether its block was a member of a compiled
        /// region already when this one was emitted (before its own members are marked). Such an entry
        /// is not installed: the other region's code holds the return site's callee whole, while this
        /// one may hold a cut copy that the code would bounce out of (binary trees' recursive mk,
        /// reached from a driver region: 0.9 million entries, not 26,000). The region this code
        /// replaces (<paramref name="replacing"/>) does not count.
        /// </summary>
        public readonly bool[] CoveredElsewhere = Array.ConvertAll(((JitRegion)code.Target!).Entries,
            e => e.Block.InRegion && (replacing == null || Array.IndexOf(replacing.Blocks, e.Block) < 0));
        /// <summary>RyuJIT's time (Stopwatch ticks), and its failure (our bug: invalid IL), rethrown on the CPU's thread.</summary>
        public long Ticks;
        public Exception? Error;
        private volatile bool _ready;
        public bool Ready => _ready;
        /// <summary>RyuJIT works on the CPU's compile worker (its time counts as Cpu.JitBackgroundCompileTime).</summary>
        public bool InBackground;

        public int Instructions(Block entry) => Ops < entry.Count ? Ops : Region.Sum(m => m.Count);

        /// <summary>Has RyuJIT compile the code (on whichever thread calls it), then publishes it.</summary>
        public void Compile()
        {
            long t0 = Stopwatch.GetTimestamp();
            try { System.Runtime.CompilerServices.RuntimeHelpers.PrepareDelegate(Code); }
            catch (Exception e) { Error = e; }
            Ticks = Stopwatch.GetTimestamp() - t0;
            _ready = true;
        }
    }

    /// <summary>RyuJIT's outcome for compiled region <paramref name="p"/>, on the CPU's thread: its failure (our bug) rethrown, its time on the compile worker counted.</summary>
    private void TakeOutcome(PendingRegion p)
    {
        if (p.Error != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(p.Error);
        if (p.InBackground) _jitBackgroundTicks += p.Ticks;
    }

    /// <summary>
    /// Makes a compiled region the entry's code, unless all compiled code was flushed since it was
    /// emitted or one of its blocks was invalidated meanwhile (then it is dropped, and the entry's
    /// heat starts again). Returns the code, or null. <paramref name="replacement"/>: the code replaces
    /// a region's (<see cref="Replace"/>; the caller counts it), else it is a first compile (counted in
    /// <see cref="JitBlocksCompiled"/>).
    /// </summary>
    private JitCode? Install(Block b, PendingRegion p, bool replacement = false)
    {
        b.Pending = null;
        TakeOutcome(p);
        if (p.Flushes != _jitFlushes) { b.Heat = 0; return null; }   // the flush uncounted it already
        if (Array.Exists(p.Region, m => !m.Valid))
        {
            _jitLiveInstructions -= p.Instructions(b);
            b.Heat = 0;
            return null;
        }
        int ops = p.Ops, instructions = p.Instructions(b);
        b.CompiledOps = ops;
        b.Compiled = p.Code;
        b.Chainable = ops == b.Count ? p.Code : null;
        b.JitEntryBudget = ops == b.Count ? ((JitRegion)p.Code.Target!).EntryBudget : b.Count;
        _jitCompiled.Add(b);
        if (ops == b.Count)
        {
            var region = (JitRegion)p.Code.Target!;
            // With an entry on another page, a write to the entry's page must drop that entry's code too.
            bool entriesOnSeveralPages = Array.Exists(region.Entries, e => ((e.Block.Va ^ b.Va) >> 12) != 0);
            foreach (Block m in p.Region)
            {
                m.InRegion = true;
                m.Home = region;
                if (entriesOnSeveralPages || ((m.Va ^ b.Va) >> 12) != 0 || m.SecondPage != ulong.MaxValue) (m.ForeignOf ??= new()).Add(region);
            }
            for (int e = 0; e < region.Entries.Length; e++)
            {
                var (m, entryCode, budget) = region.Entries[e];
                if (!p.CoveredElsewhere[e] && m.Compiled == null && m.Pending == null)
                {
                    m.Compiled = m.Chainable = entryCode;
                    m.CompiledOps = m.Count;
                    m.JitEntryBudget = budget;
                }
            }
        }
        if (!replacement) JitBlocksCompiled++;
        JitInstructionsCompiled += instructions;
        return p.Code;
    }

    /// <summary>The compiled code kept now, one delegate per compiled region (for diagnostics and tests).</summary>
    internal IEnumerable<JitCode> CompiledCode() => _jitCompiled.Select(b => b.Compiled).OfType<JitCode>().ToArray();

    /// <summary>
    /// Drops every block's compiled code (the limit is reached): with nothing referring to them any
    /// more, the garbage collector reclaims the methods. The blocks stay decoded, and their heat starts
    /// again, so code still hot compiles again. Only the dispatcher calls this, between runs of compiled
    /// code (none is on the stack): region exits that led to a dropped block find no code there and
    /// return to the dispatcher.
    /// </summary>
    private void FlushCompiledCode()
    {
        foreach (Block b in _jitCompiled)
        {
            if (b.Compiled?.Target is JitRegion region)
            {
                foreach (Block m in region.Blocks) { m.InRegion = false; m.ForeignOf = null; m.Home = null; }
                DropEntries(region);
            }
            b.Compiled = null;
            b.Chainable = null;
            b.CompiledOps = 0;
            b.Heat = 0;
        }
        _jitCompiled.Clear();
        _jitReplacements.Clear();   // their code is dropped with the rest (and was emitted for windows reused now)
        ReuseAccessWindows();
        _jitLiveInstructions = 0;
        _jitRegion = null;
        _jitFlushes++;
    }

    /// <summary>
    /// The region to compile for hot block <paramref name="entry"/>: the entry, then (breadth first) the
    /// blocks it reaches by direct jumps and calls, by falling through, by returning to the instruction
    /// after a call, and by the indirect jumps the dispatcher has seen, as long as they have run already
    /// (decoded, valid, whole in their page), can be compiled whole, and lie in the entry's page or in
    /// one of at most <see cref="RegionCompiler.MaxRegionPages"/> - 1 other pages that the TLB translates
    /// for fetching now; up to the compiler's size limits and the code limit (MachineOptions.JitCodeLimit:
    /// a region bigger than it would break it alone); not a block where another region's code has an
    /// entry that the dispatcher kept using (Block.WantsEntry): the region exits to it instead of
    /// copying what follows, unless it ends in a return (a function's shared epilogue: nothing follows
    /// it to copy, and the exit and the return each cost a pass between two regions' code; sglib's
    /// recursive red-black insert left its region 12.7 million times in a long run so, 7.0 million
    /// without, 7% faster), or it is a member of the region compiled again (<paramref name="replacing"/>):
    /// a promotion that dropped such members dropped the blocks reached only through them, and with
    /// them entries of the old code the dispatcher used; those blocks then rooted small regions of their
    /// own, and promoting those dropped members the same way. Whether that happened depended on which
    /// other region's code the compile worker had installed first: Embench's nsichneu formed 16 or 29
    /// regions (25 or 50 million passes between them, 2.1 or 2.6 s) about half and half between runs,
    /// and now 16 every time (stop 40). The entry's page is verified by the entry's own lookup; the other pages
    /// (<paramref name="foreign"/>: virtual page, physical page number) by the region's code each time it starts (Cpu.RegionPagesMapped), and a write to one of them drops
    /// the region's code (Block.ForeignOf). So a call-heavy program whose functions lie on a few pages
    /// runs its calls and returns inside one method instead of leaving compiled code at each. Warm
    /// blocks (run <see cref="WarmHeat"/> times in the interpreter, or covered by compiled code) are
    /// taken first (up to <paramref name="warmLimit"/>) and the rest after them (while the region
    /// has fewer than RegionCompiler.RegionBlocks), so blocks that ran once do not take the room of a hot
    /// callee (CoreMark's state machine loop left its region at each call: 22% fewer entries into
    /// compiled code).
    /// </summary>
    private Block[] CollectRegion(Block entry, out (ulong Va, ulong Page)[] foreign, int warmLimit, JitRegion? replacing = null)
    {
        var members = new List<Block> { entry };
        var pages = new List<(ulong Va, ulong Page)>();
        foreign = [];
        if (!RegionCompiler.Compilable(entry)) return [.. members];
        // An entry reaching into the next page: that page too is checked at every start, so the code
        // that branches back to the entry from another entry of the region runs its bytes only while mapped.
        if (entry.SecondPage != ulong.MaxValue) pages.Add(((entry.Va & ~0xFFFUL) + 0x1000, entry.SecondPage));
        var seen = new HashSet<ulong> { entry.Va };
        int ops = entry.Count;
        var targets = new List<ulong>();
        // Two passes: first only blocks that ran often in the interpreter (or that compiled code covers
        // already), then the rest while there is room for them, so rarely run blocks do not take the
        // room of hot ones.
        for (int pass = 0; pass < 2; pass++)
        for (int q = 0, room = pass == 0 ? warmLimit : RegionCompiler.RegionBlocks;
             q < members.Count && members.Count < room; q++)
        {
            Block b = members[q];
            b.Successors(targets);
            foreach (ulong va in targets)
            {
                if (seen.Contains(va)) continue;
                if (MemberAt(va, entry) is not Block m) continue;
                if (pass == 0 && m.Heat < WarmHeat && !m.InRegion) continue;
                seen.Add(va);
                if (!m.Valid) continue;
                if (m.SecondPage != ulong.MaxValue)
                {
                    // Not a member (taken as members, such blocks moved the cuts between the regions of
                    // sha256's unrolled rounds, and it ran 2.5% slower), but its pages are checked while
                    // there is room, so the exit to it can be linked (LinkExit).
                    TakePages(m, entry, pages, RegionCompiler.MaxRegionPages - 1);
                    continue;
                }
                if (ops + m.Count > Math.Min(RegionCompiler.MaxRegionOps, _jitCodeLimit) || !RegionCompiler.Compilable(m)) continue;
                // Another region's code has an entry here that the dispatcher kept using: exit to it
                // (but a region compiled again keeps its members: see the summary).
                if (m.WantsEntry && m.Chainable?.Target is JitRegion other && other.Main != replacing
                    && m.Ops[m.Count - 1].Kind != OpKind.Ret && (replacing == null || Array.IndexOf(replacing.Blocks, m) < 0)) continue;
                if (!TakePages(m, entry, pages, RegionCompiler.MaxRegionPages)) continue;
                members.Add(m);
                ops += m.Count;
                if (members.Count == room) break;
            }
        }
        foreign = [.. pages];
        return [.. members];
    }

    /// <summary>The block decoded at <paramref name="va"/> as the TLB maps it for fetching now (the entry's page as the entry was decoded), or null.</summary>
    private Block? MemberAt(ulong va, Block entry)
    {
        ulong vpage = va & ~0xFFFUL, pa;
        if (vpage == (entry.Va & ~0xFFFUL)) pa = (entry.Pa & ~0xFFFUL) | (va & 0xFFF);
        else
        {
            TlbEntry* e = TlbSlot(va);
            if (e->ExecTag != vpage) return null;
            pa = (e->PhysPage << 12) | (va & 0xFFF);
        }
        return _blocks.TryGetValue((va, pa), out Block? m) ? m : null;
    }

    /// <summary>
    /// Adds to <paramref name="pages"/> the pages of member <paramref name="m"/> (its own, and the next
    /// one when its last instruction reaches into it) other than the entry's, as the TLB translates them
    /// for fetching now; false, adding none, when one is not so mapped (or, the entry's page, maps
    /// elsewhere than the block was decoded from) or the region would have <paramref name="limit"/> pages or more.
    /// </summary>
    private bool TakePages(Block m, Block entry, List<(ulong Va, ulong Page)> pages, int limit)
    {
        ulong entryPage = entry.Va & ~0xFFFUL, vpage = m.Va & ~0xFFFUL;
        Span<(ulong Va, ulong Page)> need = stackalloc (ulong, ulong)[2];
        int n = 0;
        if (vpage != entryPage) need[n++] = (vpage, m.Pa >> 12);
        if (m.SecondPage != ulong.MaxValue)
        {
            if (vpage + 0x1000 == entryPage) { if (m.SecondPage != entry.Pa >> 12) return false; }
            else need[n++] = (vpage + 0x1000, m.SecondPage);
        }
        int added = 0;
        for (int k = 0; k < n; k++)
        {
            if (!FetchTranslates(need[k].Va, need[k].Page)) return false;
            if (!pages.Contains(need[k])) added++;
        }
        if (added != 0 && pages.Count + 1 + added > limit) return false;
        for (int k = 0; k < n; k++)
            if (!pages.Contains(need[k])) pages.Add(need[k]);
        return true;
    }

    /// <summary>
    /// Called by a region's code as it starts, when it has blocks outside its entry's page: whether the
    /// TLB still translates each such page for fetching to the physical page it was compiled from. When
    /// not (an address-space change, or the slot was reused), the code leaves before running anything
    /// (ExitResume) and the interpreter runs the entry block, refilling the TLB when it reaches those
    /// pages again. After many failures in a row the region's code is dropped, to compile again from
    /// what is mapped then.
    /// </summary>
    internal bool RegionPagesMapped(JitRegion region)
    {
        (ulong Va, ulong Page)[] pages = region.ForeignPages;
        for (int k = 0; k < pages.Length; k++)
        {
            if (!FetchTranslates(pages[k].Va, pages[k].Page))
            {
                if (++region.MapFailures > 64) DropRegion(region.Main);
                return false;
            }
        }
        region.MapFailures = 0;
        region.MappedGeneration = _tlbGeneration;
        return true;
    }

    /// <summary>Drops one region's code, all its entries (a write to a page it covers, or its pages no longer mapped): the entry block compiles again when hot.</summary>
    private static void DropRegion(JitRegion region)
    {
        Block entry = region.Blocks[0];
        DropEntries(region);
        // A home would keep the dropped code alive (its entries' delegates).
        foreach (Block m in region.Blocks)
            if (m.Home == region) m.Home = null;
        if (entry.Compiled?.Target is not JitRegion r || r.Main != region) return;
        entry.Compiled = null;
        entry.Chainable = null;
        entry.CompiledOps = 0;
        entry.Heat = 0;
    }

    /// <summary>Takes the region's code away from the member blocks it was installed on as entries (JitRegion.Entries).</summary>
    private static void DropEntries(JitRegion region)
    {
        foreach (var (m, entryCode, _) in region.Entries)
            if (m.Compiled == entryCode)
            {
                m.Compiled = null;
                m.Chainable = null;
                m.CompiledOps = 0;
            }
    }

    /// <summary>
    /// Runs a block's compiled code when that is exact: the budget covers the code's entry budget
    /// (<see cref="Block.JitEntryBudget"/>: the most it runs before its next budget check) and no
    /// address breakpoint is set (breakpoints and single steps use the interpreter). Returns -1 when
    /// the interpreter must run the block, else the code's <see cref="JitMembers"/> exit status;
    /// <see cref="_jitLast"/> is then the last block run (compiled code may have tail-called others).
    /// </summary>
    private int TryRunCompiled(Block b, ref ulong budget)
    {
        _jitLast = b;
        if (b.JitRejected || (ulong)b.Count > budget || _breakpoints.Count != 0) return -1;
        JitCode? code = b.Compiled ?? TierUp(b);
        if (code == null || (ulong)b.JitEntryBudget > budget) return -1;
        return RunCode(code, ref budget);
    }

    /// <summary>
    /// After compiled block <paramref name="b"/> ran to its end: runs the successors that are known
    /// (chained from b exactly as the dispatcher would find them: LinkA/LinkB, the indirect-target
    /// cache, or for a ret the predicted caller's ReturnBlock), wholly compiled and within the budget,
    /// straight from here, keeping the return-address stack (<see cref="_returnStack"/>, top
    /// <paramref name="rsbTop"/>) as the dispatcher does. Stops at the first block whose successor is
    /// not such a block, or on a stop request; that last block's own call/ret bookkeeping is left to
    /// the dispatcher. <paramref name="b"/> becomes the last block run. Returns the last exit status.
    /// </summary>
    private int RunCompiledChain(ref Block b, ref ulong budget, ref int rsbTop)
    {
        Block?[] rsb = _returnStack;
        while (_exitRequest == 0)
        {
            ulong rip = _rip;
            Block? next = null;
            if (b.EndKind == 2)
            {
                if (rsbTop != 0)
                {
                    Block? top = rsb[(rsbTop - 1) & (ReturnStackSize - 1)];
                    if (top != null && top.EndIp == rip && top.ReturnBlock is Block r && r.Va == rip) next = r;
                }
            }
            else if (b.IndirectLinks is Block?[] links)
            {
                for (int k = 0; k < links.Length; k++)
                {
                    Block? l = links[k];
                    if (l != null && l.Va == rip) { next = l; break; }
                }
            }
            else
            {
                next = b.LinkA;
                if (next == null || next.Va != rip)
                {
                    next = b.LinkB;
                    if (next == null || next.Va != rip) next = null;
                }
            }
            next ??= CachedBlockAt(rip);
            if (next == null) break;
            JitCode? code = next.Chainable;
            if (code == null || !next.Valid || (ulong)next.JitEntryBudget > budget) break;
            if (_jitRegion != null)
            {
                LinkExit(_jitRegion, _jitExitSlot, next);
                if (b.IndirectLinks != null) NoteIndirectMiss(_jitRegion, b, next);
            }
            // b's call/ret bookkeeping, as the dispatcher does after a whole block.
            if (b.EndKind == 1)
            {
                rsb[rsbTop & (ReturnStackSize - 1)] = b;
                rsbTop++;
            }
            else if (b.EndKind == 2 && rsbTop > 0) rsbTop--;
            _jitLast = next;
            int status = RunCode(code, ref budget);
            b = _jitLast!;
            if (status != JitMembers.ExitNormal) return status;
        }
        return JitMembers.ExitNormal;
    }

    /// <summary>
    /// Most instructions compiled code runs per call: its loops test no stop request (the dispatcher
    /// does, between calls), so this bounds how long a stop waits (about 0.1 ms of guest time).
    /// </summary>
    internal const ulong JitSlice = 1 << 18;

    /// <summary>Enters compiled code (counted) on at most <see cref="JitSlice"/> of the budget and charges what it retired.</summary>
    private int RunCode(JitCode code, ref ulong budget)
    {
        _jitEntries++;
        if (_windowPending != 0) RefillPendingWindow();
        _jitRegion = null;   // set again by the normal exit the code takes
        ulong slice = Math.Min(budget, JitSlice);
        _jitBudget = slice;
        int status = code(this);
        budget -= slice - _jitBudget;
        // Other exits leave _jitLast the block entered: a prefix's status needs it, the others none.
        if (status == JitMembers.ExitNormal)
        {
            _jitLast = _jitRegion!.Blocks[_jitExitBlock];
            if (_jitHotRow >= 0) NoteHotExit(_jitRegion, _jitHotRow);
        }
        if (_jitPromote != null) Promote(_jitPromote);
        if (_jitGroupMissed != null) NoteGroupMiss();
        if (_jitReplacements.Count != 0) InstallReplacements();
        return status;
    }

    /// <summary>
    /// Points the region's exit slot <paramref name="slot"/> (the exit it took last; -1 none) to
    /// <paramref name="next"/> (wholly compiled, the block the dispatcher runs after it), so the code
    /// tail-calls next from then on: at a direct exit always, at a return when it pops next's address.
    /// Unlike the dispatcher's links, which it follows only within one Execute, these persist across
    /// runs (the owner may remap pages in between): next on a page the region's code verifies
    /// (<see cref="RegionMaps"/>) is safe as it is; on another page the exit first asks the TLB
    /// (<see cref="FetchMapped"/>); a block whose last instruction reaches into the next page is linked
    /// only when the region verifies both its pages.
    /// </summary>
    private static void LinkExit(JitRegion region, int slot, Block next)
    {
        if ((uint)slot >= (uint)region.Exits.Length) return;
        // The slot the exit left through: a return's first (the epilogue notes that one whichever of
        // the return's ways matched), or a direct exit's, whose target is next.
        bool isReturn = region.ExitTargets[slot] == JitRegion.ReturnSlot;
        if (!isReturn && region.ExitTargets[slot] != next.Va) return;
        JitRegion main = region.Main;
        bool verified = RegionMaps(main, next.Va & ~0xFFFUL, next.Pa >> 12);
        if (next.SecondPage != ulong.MaxValue && !(verified && RegionMaps(main, (next.Va & ~0xFFFUL) + 0x1000, next.SecondPage))) return;
        if (isReturn)
        {
            // next becomes the return's first way, the others move down (the least recent drops out).
            int way = 0;
            while (way < JitRegion.ReturnWays - 1 && region.Exits[slot + way] != next) way++;
            for (; way > 0; way--)
            {
                region.Exits[slot + way] = region.Exits[slot + way - 1];
                region.ExitsUnverified[slot + way] = region.ExitsUnverified[slot + way - 1];
            }
        }
        region.Exits[slot] = next;
        region.ExitsUnverified[slot] = !verified;
    }

    /// <summary>
    /// Called by a region's code when the block in exit slot <paramref name="slot"/> does not start at
    /// <paramref name="rip"/>: for a return's slot, the way (slot index) whose block starts there, else -1.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]   // out of the regions' methods: RyuJIT's time grows with them
    internal static int ReturnWayOf(JitRegion region, int slot, ulong rip)
    {
        if (region.ExitTargets[slot] != JitRegion.ReturnSlot) return -1;
        for (int way = 1; way < JitRegion.ReturnWays; way++)
            if (region.Exits[slot + way] is Block b && b.Va == rip) return slot + way;
        return -1;
    }

    /// <summary>
    /// Called by a region's code before it tail-calls a block linked on a page the region does not
    /// verify: whether the TLB translates that page for fetching to the block's physical page (as the
    /// dispatcher's cache lookup asks).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]   // out of the regions' methods: RyuJIT's time grows with them
    internal bool FetchMapped(Block next) => FetchTranslates(next.Va & ~0xFFFUL, next.Pa >> 12);

    /// <summary>
    /// Whether the region's code runs only while virtual page <paramref name="vpage"/> maps to physical
    /// page <paramref name="page"/>: the entry's page (each entry's lookup, or the page check of an entry
    /// elsewhere, verifies it) or one of the pages its code checks as it starts (ForeignPages).
    /// </summary>
    private static bool RegionMaps(JitRegion main, ulong vpage, ulong page)
    {
        Block entry = main.Blocks[0];
        if (vpage == (entry.Va & ~0xFFFUL)) return page == entry.Pa >> 12;
        foreach (var (va, mapped) in main.ForeignPages)
            if (va == vpage) return mapped == page;
        return false;
    }
}
