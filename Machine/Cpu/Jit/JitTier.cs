using System.Diagnostics;

namespace Lab.Machine.Cpu;

/// <summary>
/// Tier-up glue between the dispatcher (Interpreter.cs) and the block compiler: a block entered more
/// than the threshold is compiled once (synchronously, on the executing thread); blocks the compiler
/// cannot take stay interpreted. After compiled code returns, known compiled successors run straight
/// from here (RunCompiledChain), which also links compiled blocks' direct exits to each other so the
/// code tail-calls them next time. Compiled code hangs off the <see cref="Block"/>, so the per-page
/// invalidation that drops a block drops its code too, and a snapshot never sees it.
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>The execution tier this CPU was built with.</summary>
    public ExecutionTier Tier { get; }

    private readonly int _jitThreshold;

    /// <summary>Blocks compiled to IL since creation.</summary>
    public long JitBlocksCompiled { get; private set; }
    /// <summary>Blocks that reached the threshold but have an op the JIT does not implement.</summary>
    public long JitBlocksRejected { get; private set; }
    /// <summary>Guest instructions in the compiled blocks.</summary>
    public long JitInstructionsCompiled { get; private set; }
    /// <summary>Total time spent compiling (IL emission and RyuJIT).</summary>
    public TimeSpan JitCompileTime => TimeSpan.FromTicks((long)(_jitCompileTicks * ((double)TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
    /// <summary>Times compiled code was entered (a looping block's iterations count once).</summary>
    public long JitEntries => _jitEntries;

    private long _jitCompileTicks;
    private long _jitEntries;
    /// <summary>The last block compiled code ran: compiled code that tail-calls a successor notes it here.</summary>
    private Block? _jitLast;

    /// <summary>
    /// Called by the dispatcher for a block without compiled code: counts an entry and compiles the
    /// block when it reaches the threshold. Returns the compiled code, or null (not hot yet, or rejected).
    /// </summary>
    private JitCode? TierUp(Block b)
    {
        if (++b.Heat < _jitThreshold) return null;
        long t0 = Stopwatch.GetTimestamp();
        JitCode? code = BlockCompiler.TryCompile(b, out int ops);
        _jitCompileTicks += Stopwatch.GetTimestamp() - t0;
        if (code == null)
        {
            b.JitRejected = true;
            JitBlocksRejected++;
            return null;
        }
        b.CompiledOps = ops;
        b.Compiled = code;
        b.Chainable = ops == b.Count ? code : null;
        JitBlocksCompiled++;
        JitInstructionsCompiled += ops;
        return code;
    }

    /// <summary>
    /// Runs a block's compiled code when that is exact: the budget covers the whole block and no
    /// address breakpoint is set (breakpoints and single steps use the interpreter). Returns -1 when
    /// the interpreter must run the block, else the code's <see cref="JitMembers"/> exit status;
    /// <see cref="_jitLast"/> is then the last block run (compiled code may have tail-called others).
    /// </summary>
    private int TryRunCompiled(Block b, ref ulong budget)
    {
        _jitLast = b;
        if (b.JitRejected || (ulong)b.Count > budget || _breakpoints.Count != 0) return -1;
        JitCode? code = b.Compiled ?? TierUp(b);
        if (code == null) return -1;
        _jitEntries++;
        return code(this, _regs, ref budget);
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
                if (rsbTop == 0) break;
                Block? top = rsb[(rsbTop - 1) & (ReturnStackSize - 1)];
                if (top == null || top.EndIp != rip) break;
                next = top.ReturnBlock;
                if (next == null || next.Va != rip) break;
            }
            else if (b.IndirectLinks is Block?[] links)
            {
                for (int k = 0; k < links.Length; k++)
                {
                    Block? l = links[k];
                    if (l != null && l.Va == rip) { next = l; break; }
                }
                if (next == null) break;
            }
            else
            {
                next = b.LinkA;
                if (next == null || next.Va != rip)
                {
                    next = b.LinkB;
                    if (next == null || next.Va != rip) break;
                }
            }
            JitCode? code = next.Chainable;
            if (code == null || !next.Valid || (ulong)next.Count > budget) break;
            LinkExit(b, next);
            // b's call/ret bookkeeping, as the dispatcher does after a whole block.
            if (b.EndKind == 1)
            {
                rsb[rsbTop & (ReturnStackSize - 1)] = b;
                rsbTop++;
            }
            else if (b.EndKind == 2) rsbTop--;
            _jitLast = next;
            _jitEntries++;
            int status = code(this, _regs, ref budget);
            b = _jitLast!;
            if (status != JitMembers.ExitNormal) return status;
        }
        return JitMembers.ExitNormal;
    }

    /// <summary>
    /// Points b's direct exit to <paramref name="next"/> (wholly compiled) when one of b's exits targets
    /// it, so b's code tail-calls it from then on. Unlike the dispatcher's links, which it follows only
    /// within one Execute, these persist across runs (the owner may remap pages in between): safe
    /// because next lies in b's page, which b's own lookup verified, except for a block whose last
    /// instruction reaches into the next page, which is therefore never linked.
    /// </summary>
    private static void LinkExit(Block b, Block next)
    {
        ulong[]? targets = b.ExitTargets;
        if (targets == null || next.SecondPage != ulong.MaxValue) return;
        for (int e = 0; e < targets.Length; e++)
            if (targets[e] == next.Va) b.Exits![e] = next;
    }
}
