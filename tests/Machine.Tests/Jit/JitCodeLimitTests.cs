using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Compiled code is bounded (MachineOptions.JitCodeLimit): past the limit the JIT drops all of it, the
/// methods become garbage, hot code compiles again, and the results stay the interpreter's.
/// </summary>
public class JitCodeLimitTests
{
    /// <summary>
    /// rounds × (12 functions, one per code page, each a short loop): every function's page is its own
    /// region, so the JIT keeps compiling more than a small limit holds.
    /// </summary>
    private static void ManyHotFunctions(Assembler a, int rounds)
    {
        var top = a.CreateLabel();
        var functions = new Label[12];
        for (int k = 0; k < functions.Length; k++) functions[k] = a.CreateLabel();
        a.mov(r15d, rounds);
        a.Label(ref top);
        foreach (var f in functions) a.call(f);
        a.dec(r15d);
        a.jne(top);
        a.int3();
        for (int k = 0; k < functions.Length; k++)
        {
            a.db(new byte[0x1000]);   // functions 4 KiB apart: each in a page (a region) of its own
            a.Label(ref functions[k]);
            var loop = a.CreateLabel();
            a.mov(ecx, 3 + k % 4);
            a.Label(ref loop);
            a.imul(rax, rax, 31 + k);
            a.add(rax, rcx);
            a.xor(rdx, rax);
            a.rcl(rdx, 7);          // an op run through its handler
            a.dec(ecx);
            a.jne(loop);
            a.ret();
        }
    }

    private static CpuFixture Run(ExecutionTier tier, int limit)
    {
        var f = new CpuFixture(tier, jitThreshold: 2, jitCodeLimit: limit);
        f.Load(a => ManyHotFunctions(a, 50));
        f[MReg.Rax] = 1;
        f.RunToEnd();
        return f;
    }

    [Fact]
    public void PastTheLimitCompiledCodeIsDroppedAndCompiledAgainWithTheSameResults()
    {
        using var interp = Run(ExecutionTier.Interp, 65_536);
        using var unbounded = Run(ExecutionTier.Jit, 65_536);
        using var bounded = Run(ExecutionTier.Jit, 40);
        foreach (var f in new[] { unbounded, bounded }) f.AssertSameStateAs(interp);
        Assert.Equal(0, unbounded.Cpu.JitFlushes);
        Assert.True(bounded.Cpu.JitFlushes > 10, $"{bounded.Cpu.JitFlushes} flushes");
        Assert.True(bounded.Cpu.JitLiveInstructions <= 40, $"{bounded.Cpu.JitLiveInstructions} instructions kept");
        Assert.True(bounded.Cpu.JitBlocksCompiled > unbounded.Cpu.JitBlocksCompiled, "hot code was compiled again after the flushes");
        Assert.True(bounded.Cpu.JitEntries > 0);
    }

    [Fact]
    public void DroppedCodeIsReclaimedByTheGarbageCollector()
    {
        using var f = new CpuFixture(ExecutionTier.Jit, jitThreshold: 2, jitCodeLimit: 40);
        f.Load(a => ManyHotFunctions(a, 3));
        f[MReg.Rax] = 1;
        f.RunToEnd();
        WeakReference[] dropped = WeakCompiledCode(f);
        Assert.NotEmpty(dropped);
        // Run the same machine on: compiling again passes the limit and drops all of the code above.
        f.Cpu.Rip = CpuFixture.CodeBase;
        f.RunToEnd();
        Assert.True(f.Cpu.JitFlushes > 0);
        for (int i = 0; i < 3 && dropped.Any(w => w.IsAlive); i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.DoesNotContain(dropped, w => w.IsAlive);
    }

    /// <summary>Weak references to the compiled code the machine holds now (made in a frame of its own, so no strong reference stays on this stack).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static WeakReference[] WeakCompiledCode(CpuFixture f) =>
        f.Cpu.CompiledCode().Select(c => new WeakReference(c)).ToArray();
}
