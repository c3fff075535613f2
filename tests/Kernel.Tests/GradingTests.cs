using Lab.Kernel.Weensy;
using static Lab.Kernel.Tests.KernelRun;
using Lab.TestSupport;

namespace Lab.Kernel.Tests;

/// <summary>The course's grading (WEENSYOS.md §7) against this kernel: stage k passes for every step ≥ k.</summary>
public class GradingTests
{
    [Theory]
    [MemberData(nameof(AllSteps), MemberType = typeof(KernelRun))]
    public void Allocator_run_passes_exactly_the_stages_its_step_implements(LabStep step)
    {
        var oracle = new GradingOracle(GradingLog("allocator", step));
        Assert.Null(oracle.InvariantProblem());
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i * 100), oracle.Physical.Keys);
        Assert.All(oracle.Virtual.Values, procs => Assert.Equal([1, 2, 3, 4], procs.Select(p => p.Pid)));
        for (int stage = 1; stage <= 4; stage++)
        {
            var (passed, message) = oracle.Stage(stage);
            Assert.True(passed == ((int)step >= stage), $"step {step}: {message}");
        }
    }

    [Theory]
    [MemberData(nameof(AllSteps), MemberType = typeof(KernelRun))]
    public void Fork_run_passes_stage_5_from_step_5(LabStep step)
    {
        string log = GradingLog("fork", step);
        var oracle = new GradingOracle(log);
        Assert.Null(oracle.InvariantProblem());
        var (passed, message) = oracle.Stage(5);
        Assert.True(passed == (step >= LabStep.ForkCopy), $"step {step}: {message}");
        if (step < LabStep.ForkCopy) Assert.Contains("PANIC: Unexpected exception 52!\n", log);
        else Assert.All(oracle.Virtual.Values, procs => Assert.Equal(4, procs.Count));
    }

    [Fact]
    public void Handout_fails_kernel_isolation_at_tick_0()
    {
        var oracle = new GradingOracle(GradingLog("allocator", LabStep.Handout));
        Assert.StartsWith("Kernel isolation failed at tick 0", oracle.Stage(1).Message);
    }

    [Fact]
    public void Fork_without_copying_fails_stage_5()
    {
        using var m = new WeensyMachine(Options("fork", LabStep.ForkCopy, ProgramFlavour.NoSlowdown, 300, 1000,
            InvariantChecks.None, LabBug.ForkNoCopy));
        var log = new StringWriter();
        m.Kernel.GradingLog = log;
        m.RunUntilHalt();
        var oracle = new GradingOracle(log.ToString());
        Assert.False(oracle.Stage(5).Passed);
    }

    [Fact]
    public void Log_lines_have_the_exact_format()
    {
        string log = GradingLog("allocator", LabStep.CopyOnWrite);
        string[] lines = log.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("PM_DUMP 0 255 1 1 1 ", lines[0]);        // page 0 reserved, page 1 is pid 1's page table
        Assert.StartsWith("VM_DUMP 1  0 ", lines[1]);
        Assert.EndsWith(" ", lines[0]);
        // vpn 0 of pid 1: reserved page, refcount 1, P|W (no U from step 1 on)
        Assert.StartsWith("VM_DUMP 1  0 255 1 3 ", lines[1]);
        Assert.Equal(50, lines.Length);                              // 10 rounds x (PM + 4 VM)
    }

    [Fact]
    public void Int_abi_programs_pass_every_stage()
    {
        var allocator = new GradingOracle(GradingLog("allocator", LabStep.CopyOnWrite, ProgramFlavour.IntAbi));
        Assert.Null(allocator.InvariantProblem());
        for (int stage = 1; stage <= 4; stage++) Assert.True(allocator.Stage(stage).Passed, allocator.Stage(stage).Message);
        var fork = new GradingOracle(GradingLog("fork", LabStep.CopyOnWrite, ProgramFlavour.IntAbi));
        Assert.True(fork.Stage(5).Passed, fork.Stage(5).Message);
    }
}
