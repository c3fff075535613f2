using System.Diagnostics;

namespace Lab.Machine.Cpu;

/// <summary>
/// Compiling a region again while its code runs (JitTier.cs compiles it the first time): quick code
/// promoted to optimised code once it has run enough (<see cref="Promote"/>), a region given the
/// entries the dispatcher kept entering it at (<see cref="Reenter"/>), or the indirect targets it
/// kept leaving for (<see cref="NoteIndirectMiss"/>). <see cref="Replace"/> emits the IL here and
/// RyuJIT compiles it on the compile worker; <see cref="InstallReplacements"/> swaps the code when it is ready.
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>Retired instructions per guest instruction after which quick code is compiled again, optimised (MachineOptions.JitPromoteAfter; 0: no quick code).</summary>
    private readonly int _jitPromoteAfter;
    /// <summary>The quick region whose code ran out of credit (its epilogue notes it and returns instead of chaining on).</summary>
    private JitRegion? _jitPromote;
    /// <summary>Replacements under way (<see cref="Replace"/>): the region, the code RyuJIT compiles for it on the compile worker, and whether it is a reentry (else a promotion).</summary>
    private readonly List<(JitRegion Old, PendingRegion New, bool Reentry)> _jitReplacements = new();
    /// <summary>Replacements (promotions and reentries) whose code is not installed yet (for tests).</summary>
    internal int JitReplacementsPending => _jitReplacements.Count;
    /// <summary>
    /// Quick code that left its region (for another region's code or the dispatcher) at least once
    /// every this many instructions retired is promoted to a bigger region (<see cref="Promote"/>).
    /// </summary>
    private const int InstructionsPerLeaveToGrow = 300;
    /// <summary>Quick regions replaced by optimised code.</summary>
    public long JitRegionsPromoted { get; private set; }
    /// <summary>Regions replaced by their code compiled again with more entries (<see cref="Reenter"/>).</summary>
    public long JitRegionsReentered { get; private set; }
    /// <summary>Such compiles started (for tests: when they start depends only on the guest's run).</summary>
    internal long JitReentriesStarted { get; private set; }

    /// <summary>
    /// Starts the second compile of quick region <paramref name="region"/>, whose code has retired its
    /// credit: the region of its entry block is collected again (from what has run by now) and its IL
    /// emitted here, and RyuJIT optimises it on the compile worker while the quick code goes on
    /// running; <see cref="InstallReplacements"/> swaps the code when it is ready. So the CPU's thread
    /// pays only the quick compile and the IL. Called by the dispatcher between runs of compiled code.
    /// Nothing when the quick code was dropped meanwhile (a write to its page, a flush). A region whose
    /// quick code left it more often than every <see cref="InstructionsPerLeaveToGrow"/> instructions
    /// retired takes up to RegionCompiler.MaxRegionBlocks hot blocks from now on when they close a loop
    /// (<see cref="CollectSizedRegion"/>), others RegionBlocks.
    /// </summary>
    private void Promote(JitRegion region)
    {
        _jitPromote = null;
        long retired = region.QuickCredit - region.PromoteCredit;
        if (region.QuickLeaves * InstructionsPerLeaveToGrow > retired) region.WarmBlockLimit = RegionCompiler.MaxRegionBlocks;
        region.PromoteCredit = long.MaxValue;   // promoted once
        if (InstalledRegion(region) && !BeingReplaced(region)) Replace(region, mustHold: null);
    }

    /// <summary>
    /// Member block <paramref name="b"/> reached the member threshold: the dispatcher keeps entering
    /// the code of its region in the middle, where a path out of the region comes back into it (an
    /// if's body laid out on another page, an out-of-line cold path). A region rooted at b would copy
    /// most of that region, and its own end would land in the middle of another one: Embench's
    /// nsichneu compiled 362 regions so, 72% of its run. Instead b's home region (Block.Home) is
    /// compiled again with b, and every member the dispatcher entered as often as the threshold, as
    /// entries (Block.WantsEntry), to replace its code when RyuJIT is done (as a promotion does).
    /// False when b has no installed home, or the home's region collected again does not hold b: b
    /// then roots a region of its own.
    /// </summary>
    private bool Reenter(Block b)
    {
        JitRegion? home = b.Home;
        if (home == null || !InstalledRegion(home)) return false;
        var byVa = ByVa(home.Blocks);
        if (OnLoop(byVa, b)) return false;
        b.Heat = 0;
        if (BeingReplaced(home)) return true;   // wait for the code being compiled now
        b.WantsEntry = true;
        foreach (Block m in home.Blocks)
            if (m.InRegion && m.Compiled == null && m.Heat >= _jitThreshold && !OnLoop(byVa, m)) m.WantsEntry = true;
        return Replace(home, mustHold: b);
    }

    /// <summary>The region whose access group check found neither its window nor the TLB holding the group's range, and left (RegionCompiler.EmitGroupCheck).</summary>
    private JitRegion? _jitGroupMissed;
    /// <summary>Such misses of one region within <see cref="GroupMissSpan"/> retired instructions after which its code is compiled again with member tests.</summary>
    private const int GroupMissesToTest = 32;
    private const ulong GroupMissSpan = 1_000_000;
    /// <summary>Regions replaced by their code compiled again with member tests (<see cref="NoteGroupMiss"/>).</summary>
    public long JitRegionsRetested { get; private set; }

    /// <summary>
    /// A group check of <see cref="_jitGroupMissed"/>'s code left for the interpreter: its range lay in
    /// neither the window nor one page of the TLB (a TLB flush, or a range across two pages that lie
    /// apart in memory, which no window holds: a stack frame across a page boundary, the pages
    /// faulted in downwards). When that keeps happening (<see cref="GroupMissesToTest"/> within
    /// <see cref="GroupMissSpan"/> instructions) the region's entry tests the group's pointer at each
    /// member from then on (Block.GroupMembersTested: each member takes the TLB fast path itself when
    /// the check misses), and the region is compiled again so.
    /// </summary>
    private void NoteGroupMiss()
    {
        JitRegion main = _jitGroupMissed!.Main;
        _jitGroupMissed = null;
        if (main.GroupMembersTested) return;
        if (_retired - main.GroupMissesSince > GroupMissSpan) (main.GroupMisses, main.GroupMissesSince) = (0, _retired);
        if (++main.GroupMisses < GroupMissesToTest) return;
        main.GroupMisses = 0;
        main.Blocks[0].GroupMembersTested = true;
        if (InstalledRegion(main) && !BeingReplaced(main)) Replace(main, mustHold: null);
    }

    /// <summary>A region's members by address (the first of two at one address), for <see cref="OnLoop"/>.</summary>
    private static Dictionary<ulong, Block> ByVa(Block[] members)
    {
        var byVa = new Dictionary<ulong, Block>(members.Length);
        foreach (Block m in members) byVa.TryAdd(m.Va, m);
        return byVa;
    }

    /// <summary>
    /// Whether member <paramref name="b"/> lies on a loop of a region's members (<paramref name="members"/>,
    /// by address): it reaches itself through their successors (<see cref="Block.Successors"/>). An entry there
    /// would make the loop irreducible, and RyuJIT allocates registers worse in such loops: with
    /// entries on loops, CoreMark ran 1.90 → 2.30 s (stop 28); a region rooted at the block serves it.
    /// </summary>
    private static bool OnLoop(Dictionary<ulong, Block> members, Block b)
    {
        var seen = new HashSet<Block>();
        var work = new Stack<Block>();
        var targets = new List<ulong>();
        work.Push(b);
        while (work.Count != 0)
        {
            work.Pop().Successors(targets);
            foreach (ulong va in targets)
            {
                if (!members.TryGetValue(va, out Block? next)) continue;
                if (next == b) return true;
                if (seen.Add(next)) work.Push(next);
            }
        }
        return false;
    }

    /// <summary>
    /// Compiles installed region <paramref name="region"/> again: optimised for a promotion, as the old
    /// code was for a reentry (<paramref name="mustHold"/> set). Collects its entry's region again
    /// (from what has run by now), emits its IL here and has RyuJIT compile it on the compile worker
    /// while the old code goes on running; <see cref="InstallReplacements"/> swaps the code
    /// when it is ready. So the CPU's thread pays only the IL. False, and nothing compiled, when the
    /// region collected again lacks <paramref name="mustHold"/>, or the code limit flushed all code.
    /// </summary>
    private bool Replace(JitRegion region, Block? mustHold)
    {
        Block entry = region.Blocks[0];
        long t0 = Stopwatch.GetTimestamp();
        Block[] blocks = CollectSizedRegion(entry, out var foreign, ref region.WarmBlockLimit, replacing: region);
        bool quick = mustHold != null && region.Quick;
        bool Holds(Block[] members) => mustHold == null || Array.IndexOf(members, mustHold) >= 0;
        bool queued = false;
        if (!Holds(blocks))
        {
            _jitCompileTicks += Stopwatch.GetTimestamp() - t0;
            return false;
        }
        // Over the limit the flush drops the old code too; the entry compiles again when hot.
        if (OverCodeLimit(blocks)) FlushCompiledCode();
        // (TryEmit may cut the region for size: the windows it reserved then wait for the next flush.)
        // A promotion compiles optimised code; a reentry compiles code like the old (quick code keeps its credit).
        else if (RegionCompiler.TryEmit(this, ref blocks, ref foreign, quick, out int ops, quick ? null : region.Runs ?? CountedRuns(region)) is JitCode code
            && Holds(blocks))
        {
            var compiled = (JitRegion)code.Target!;
            compiled.WarmBlockLimit = region.WarmBlockLimit;
            if (quick)
            {
                (compiled.PromoteCredit, compiled.QuickCredit, compiled.QuickLeaves) = (region.PromoteCredit, region.QuickCredit, region.QuickLeaves);
                if (CountedRuns(region) is { } runs)   // the count goes on
                    for (int j = 0; j < compiled.BlockRuns.Length; j++) compiled.BlockRuns[j] = runs.GetValueOrDefault(compiled.Blocks[j].Va);
            }
            var p = new PendingRegion(code, blocks, ops, _jitFlushes, replacing: region);
            _jitLiveInstructions += p.Instructions(entry);
            _jitReplacements.Add((region, p, Reentry: mustHold != null));
            if (mustHold != null) JitReentriesStarted++;
            CompileInBackground(p);
            queued = true;
        }
        _jitCompileTicks += Stopwatch.GetTimestamp() - t0;
        return queued;
    }

    /// <summary>The runs quick region <paramref name="quick"/>'s code counted, by block address (JitRegion.BlockRuns); null for other code.</summary>
    private static Dictionary<ulong, long>? CountedRuns(JitRegion quick)
    {
        if (quick.BlockRuns.Length == 0) return null;
        var runs = new Dictionary<ulong, long>(quick.BlockRuns.Length);
        for (int j = 0; j < quick.BlockRuns.Length; j++) runs[quick.Blocks[j].Va] = quick.BlockRuns[j];
        return runs;
    }

    /// <summary>
    /// <see cref="CollectRegion"/> with up to <paramref name="warmLimit"/> warm blocks, but more than
    /// RegionCompiler.RegionBlocks only when the blocks past them close a loop (<see cref="GrowthClosesLoop"/>);
    /// else the region of the usual size, and <paramref name="warmLimit"/> becomes that size.
    /// </summary>
    private Block[] CollectSizedRegion(Block entry, out (ulong Va, ulong Page)[] foreign, ref int warmLimit, JitRegion? replacing = null)
    {
        Block[] blocks = CollectRegion(entry, out foreign, warmLimit, replacing);
        if (blocks.Length <= RegionCompiler.RegionBlocks || GrowthClosesLoop(blocks)) return blocks;
        warmLimit = RegionCompiler.RegionBlocks;
        return CollectRegion(entry, out foreign, warmLimit, replacing);
    }

    /// <summary>
    /// Whether a region collected past RegionCompiler.RegionBlocks (<paramref name="members"/>, in
    /// CollectRegion's order: the first RegionBlocks are what the usual limit takes) grew to hold a loop: a
    /// block past them lies on a cycle of members. Else the growth only copies the start of the code that
    /// follows, which other regions hold already, and its exits land in their middle: Embench's
    /// nsichneu (a state machine of 1,300 straight blocks run in turn) compiled 64 regions instead of 13
    /// and ran twice as long in a short run. slre's regex matcher, whose loops close past 64 blocks, grows.
    /// (A block past them that only jumps back to one of the first is no loop: an if's body joining the
    /// path that breadth-first order took first.)
    /// </summary>
    private static bool GrowthClosesLoop(Block[] members)
    {
        var byVa = ByVa(members);
        for (int k = RegionCompiler.RegionBlocks; k < members.Length; k++)
            if (OnLoop(byVa, members[k])) return true;
        return false;
    }

    /// <summary>Whether compiling <paramref name="region"/> would pass the limit on compiled code (MachineOptions.JitCodeLimit): then all of it is flushed first.</summary>
    private bool OverCodeLimit(Block[] region) => _jitLiveInstructions + region.Sum(m => m.Count) > _jitCodeLimit;

    /// <summary>Whether <paramref name="region"/>'s code is being compiled again to replace it (<see cref="Replace"/>): then no second replacement starts.</summary>
    private bool BeingReplaced(JitRegion region) => _jitReplacements.Exists(r => r.Old == region);

    /// <summary>Whether region <paramref name="region"/>'s code is still its entry block's code.</summary>
    private static bool InstalledRegion(JitRegion region) =>
        region.Blocks[0] is { Valid: true, Compiled.Target: JitRegion r } && r.Main == region;

    /// <summary>
    /// Replaces code by the code compiled to replace it where RyuJIT has finished (<see cref="Replace"/>:
    /// a promotion or a reentry). The new code is dropped instead when the old is gone (a write to one
    /// of its pages: the new code may hold the old bytes) or a block of it was invalidated meanwhile. Called by the
    /// dispatcher between runs of compiled code. (Stop 40 tried installing at a set retired count
    /// instead, the worker modelled as 2,000 instructions per IL instruction and the CPU waiting for it
    /// when slower, so that every run forms the same regions: guest speed (1 to 3 instructions per ns)
    /// and RyuJIT's (1 to 3 µs per IL instruction) vary too much for one figure; aha-mont64 waited 40 to
    /// 60 ms a run, and a figure that never waits would keep nsichneu's optimised code back for a
    /// billion instructions.)
    /// </summary>
    private void InstallReplacements()
    {
        for (int k = _jitReplacements.Count - 1; k >= 0; k--)
        {
            var (old, full, reentry) = _jitReplacements[k];
            if (!full.Ready) continue;
            _jitReplacements.RemoveAt(k);
            Block entry = old.Blocks[0];
            if (!InstalledRegion(old) || Array.Exists(full.Region, m => !m.Valid))
            {
                TakeOutcome(full);
                _jitLiveInstructions -= full.Instructions(entry);
                continue;
            }
            DropRegion(old);
            _jitCompiled.Remove(entry);
            if (Install(entry, full, replacement: true) == null) continue;
            if (reentry) JitRegionsReentered++;
            else if (((JitRegion)full.Code.Target!).GroupMembersTested && !old.GroupMembersTested) JitRegionsRetested++;
            else JitRegionsPromoted++;
        }
    }

    /// <summary>Exits at an indirect jump or call after which a region is compiled again with the targets seen by then (<see cref="NoteIndirectMiss"/>).</summary>
    private const int IndirectMissesToRecompile = 1024;
    /// <summary>Most such compiles of the region rooted at one block when the site has more than <see cref="FewIndirectTargets"/> targets: a call site with many targets (an interpreter's handlers) keeps its exits.</summary>
    private const int MaxIndirectRecompiles = 2;
    /// <summary>
    /// A site with at most this many targets seen so far gets up to <see cref="MaxFewTargetRecompiles"/>
    /// such compiles: targets that come one phase at a time (MiBench's bitcount calls each of its seven
    /// counters through one pointer for 75,000 counts, then the next) join one per compile; with two
    /// compiles, five of the seven phases left compiled code at each call (twice as slow).
    /// </summary>
    private const int FewIndirectTargets = 8;
    /// <summary>See <see cref="FewIndirectTargets"/>.</summary>
    private const int MaxFewTargetRecompiles = 8;

    /// <summary>
    /// Compiled code of <paramref name="region"/> left it at block <paramref name="b"/>'s indirect jump or
    /// call, for <paramref name="target"/>: a target the region did not hold when it was compiled
    /// (a sort's comparator passed as a pointer, the other one on the next call), so each call and its
    /// return went through the dispatcher (a fifth of such a heapsort's run). After
    /// <see cref="IndirectMissesToRecompile"/> such exits the region is compiled again with the
    /// targets seen since (<see cref="Replace"/>, as a reentry), at most <see cref="MaxIndirectRecompiles"/>
    /// or, while the site has few targets, <see cref="MaxFewTargetRecompiles"/> times per entry block.
    /// </summary>
    private void NoteIndirectMiss(JitRegion region, Block b, Block target)
    {
        JitRegion main = region.Main;
        if (++main.IndirectMisses < IndirectMissesToRecompile) return;
        main.IndirectMisses = 0;
        Block entry = main.Blocks[0];
        b.NoteIndirectTarget(target.Va);   // a target the chain found, not the dispatcher's slow path
        int limit = b.IndirectTargets!.Count <= FewIndirectTargets ? MaxFewTargetRecompiles : MaxIndirectRecompiles;
        if (entry.IndirectRecompiles >= limit || !InstalledRegion(main) || BeingReplaced(main)) return;
        if (!Replace(main, mustHold: target)) return;
        entry.IndirectRecompiles++;
        JitIndirectRecompilesStarted++;
    }

    /// <summary>Times a region's code leaves by one direct exit, within <see cref="HotExitSpan"/> instructions retired, before the region is compiled again with the exit's target as a member (<see cref="NoteHotExit"/>).</summary>
    internal const int HotExitPasses = 1 << 14;
    /// <summary>At least one such exit every 256 instructions: a pass costs about a hundred host instructions.</summary>
    private const ulong HotExitSpan = (ulong)HotExitPasses * 256;
    /// <summary>Most such compiles of the region rooted at one block.</summary>
    private const int MaxHotExitRecompiles = 4;
    /// <summary>Regions compiled again to take in the target of an exit they kept leaving by (<see cref="NoteHotExit"/>; when they start depends only on the guest's run).</summary>
    public long JitHotExitRecompilesStarted { get; private set; }

    /// <summary>
    /// <paramref name="region"/>'s code left <see cref="HotExitPasses"/> times more by the direct exit
    /// of row <paramref name="row"/> (JitLeave.Hits), to a block that was cold or not yet run when the
    /// region was collected (malloc's free-list path, taken only once frees begin): each pass writes
    /// back the registers and tail-calls the target's own code. When the last such count took at most
    /// <see cref="HotExitSpan"/> instructions, the region is compiled again (<see cref="Replace"/>, as a
    /// reentry) with the target as a member if its collection now takes it; at most
    /// <see cref="MaxHotExitRecompiles"/> times per entry block. A rarer exit stays: MiBench's blowfish
    /// leaves its caller's region for the decryption path once per buffer, and taking that path in
    /// made it 5% slower. The first count only starts the clock.
    /// </summary>
    private void NoteHotExit(JitRegion region, int row)
    {
        _jitHotRow = -1;
        JitRegion main = region.Main;
        ref JitLeave leave = ref main.Leaves[row];
        ulong va = main.ExitTargets[leave.Slot];
        Block entry = main.Blocks[0];
        if (va >= JitRegion.ReturnWay || entry.HotExitRecompiles >= MaxHotExitRecompiles || !InstalledRegion(main) || BeingReplaced(main)) return;
        ulong since = leave.HitsSince;
        (leave.HitsSince, leave.Hits) = (_retired, 0);
        if (since == 0 || _retired - since > HotExitSpan) return;
        if (MemberAt(va, entry) is not Block target || !target.Valid) return;
        if (!Replace(main, mustHold: target)) return;
        entry.HotExitRecompiles++;
        JitHotExitRecompilesStarted++;
    }

    /// <summary>Regions compiled again for their indirect targets (<see cref="NoteIndirectMiss"/>; when they start depends only on the guest's run).</summary>
    public long JitIndirectRecompilesStarted { get; private set; }
}
