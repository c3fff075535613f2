using Lab.Kernel.Weensy;
using static Lab.Kernel.Tests.KernelRun;

namespace Lab.Kernel.Tests;

/// <summary>Machine + kernel snapshots: a restored run continues exactly as the original.</summary>
public class SnapshotTests
{
    [Theory]
    [InlineData("forkexit", LabStep.CopyOnWrite)]
    [InlineData("allocator", LabStep.Handout)]
    [InlineData("fork", LabStep.Exit)]
    public void Restored_run_continues_exactly_as_the_original(string program, LabStep step)
    {
        using var original = new WeensyMachine(Options(program, step, invariants: InvariantChecks.None));
        original.RunUntilTick(150);
        byte[] snapshot = original.SaveState();

        original.RunUntilTick(450);
        ushort[] screenA = original.Kernel.ScreenSnapshot();
        byte[] stateA = original.SaveState();

        // A machine booted differently, then restored.
        using var copy = new WeensyMachine(Options("allocator", LabStep.Handout, invariants: InvariantChecks.None));
        copy.RunUntilTick(10);
        copy.RestoreState(snapshot);
        Assert.Equal(150UL, copy.Ticks);
        Assert.Equal(program, copy.Kernel.BootCommand);
        Assert.Equal(step, copy.Kernel.Options.Step);
        copy.RunUntilTick(450);

        Assert.Equal(screenA, copy.Kernel.ScreenSnapshot());
        Assert.Equal(stateA, copy.SaveState());
    }

    [Fact]
    public void Snapshot_round_trips_to_identical_bytes()
    {
        using var m = new WeensyMachine(Options("forkexit", LabStep.Exit, invariants: InvariantChecks.None));
        m.RunUntilTick(300);
        byte[] a = m.SaveState();
        m.RestoreState(a);
        Assert.Equal(a, m.SaveState());
    }
}
