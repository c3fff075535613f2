using Lab.Kernel.Common;
using Lab.Kernel.Weensy;
using Lab.Kernel.Weensy.Core;
using Lab.Machine;
using static Lab.Kernel.Tests.KernelRun;

namespace Lab.Kernel.Tests;

/// <summary>
/// The demo must run forever: each program at each lab step runs 50,000 ticks (about eight minutes
/// of a realtime session) at the demo's speed of 2,000 instructions a tick, with every invariant
/// checked at every tick. A program the step cannot run yet panics exactly as the handout does;
/// every other run must end with no fault, no panic and processes still running. One class per
/// program so that xunit runs the three in parallel.
/// </summary>
public abstract class SoakTests
{
    private const ulong SoakTicks = 50_000;

    /// <summary>What a soak run saw: kernel events counted over the whole run and over its last fifth.</summary>
    protected sealed record Soak(WeensyMachine Machine, int Faults, int LateForks, int LateExits) : IDisposable
    {
        public void Dispose() => Machine.Dispose();
    }

    protected static Soak Run(string program, LabStep step)
    {
        var m = new WeensyMachine(Options(program, step, ProgramFlavour.NoSlowdown,
            instructionsPerTick: KernelOptions.DefaultInstructionsPerTick, invariants: InvariantChecks.EveryTick));
        int faults = 0, lateForks = 0, lateExits = 0;
        m.Kernel.Observer = e =>
        {
            bool late = e.Tick >= SoakTicks * 4 / 5;
            if (e.Kind == KernelEventKind.Fault) faults++;
            else if (late && e.Kind == KernelEventKind.Syscall && e.Name == "fork" && e.Result > 0) lateForks++;
            else if (late && e.Kind == KernelEventKind.Syscall && e.Name == "exit") lateExits++;
        };
        m.RunUntilTick(SoakTicks);
        return new Soak(m, faults, lateForks, lateExits);
    }

    /// <summary>The checks every run that the step supports must pass.</summary>
    protected static void AssertRanForever(Soak s)
    {
        var k = s.Machine.Kernel;
        Assert.Null(k.InvariantFailure);
        Assert.Null(k.PanicMessage);
        Assert.Equal(SoakTicks, s.Machine.Ticks);
        Assert.Empty(k.CheckInvariants());
        Assert.Equal(0, s.Faults);
        Assert.Null(k.Stalled);
        Assert.DoesNotContain(k.Processes, p => p.State == ProcState.Broken);
        Assert.Equal("", Row(s.Machine, 24).Trim());    // no fault message on the screen
    }

    public static IEnumerable<object[]> Steps() => AllSteps();
}

public sealed class AllocatorSoakTests : SoakTests
{
    [Theory]
    [MemberData(nameof(Steps))]
    public void Allocator_runs_50000_ticks(LabStep step)
    {
        using var s = Run("allocator", step);
        AssertRanForever(s);
        // Memory is full long before the end; all four keep yielding.
        Assert.Equal(4, s.Machine.Kernel.Processes.Count(p => p.State == ProcState.Runnable));
    }
}

public sealed class ForkSoakTests : SoakTests
{
    [Theory]
    [MemberData(nameof(Steps))]
    public void Fork_runs_50000_ticks(LabStep step)
    {
        using var s = Run("fork", step);
        if (step < LabStep.ForkCopy)
        {
            Assert.Equal("Unexpected exception 52!", s.Machine.Kernel.PanicMessage);
            Assert.Null(s.Machine.Kernel.InvariantFailure);
            return;
        }
        AssertRanForever(s);
        Assert.Equal(4, s.Machine.Kernel.Processes.Count(p => p.State == ProcState.Runnable));
    }
}

public sealed class ForkexitSoakTests : SoakTests
{
    [Theory]
    [MemberData(nameof(Steps))]
    public void Forkexit_runs_50000_ticks(LabStep step)
    {
        using var s = Run("forkexit", step);
        var k = s.Machine.Kernel;
        if (step < LabStep.ForkCopy)
        {
            Assert.Equal("Unexpected exception 52!", k.PanicMessage);
            Assert.Null(k.InvariantFailure);
            return;
        }
        if (step < LabStep.Exit)
        {
            Assert.Equal("Unexpected exception 53!", k.PanicMessage);
            Assert.Null(k.InvariantFailure);
            return;
        }
        AssertRanForever(s);
        // Still forking and exiting at the end, and memory ran out on the way (fork said -1).
        Assert.True(s.LateForks > 0 && s.LateExits > 0, $"last 10,000 ticks: {s.LateForks} forks, {s.LateExits} exits");
        Assert.True(k.ForkFailures > 0, "memory never ran out, so the soak proved nothing about it");
    }
}
