using Lab.Kernel.Posix;

namespace Lab.Kernel.Tests;

/// <summary>
/// Stress and robustness of the POSIX profile (userland/posix/tests/s-*.c): a 363-process fork tree,
/// a fork bomb stopped from the host, and a garbage-arguments syscall fuzzer. After each the kernel
/// has no error, its invariants hold and every physical page is free again.
/// </summary>
public class PosixStressTests
{
    private static void AssertHealthy(PosixMachine m)
    {
        Assert.Null(m.Kernel.KernelError);
        Assert.Null(m.Kernel.CheckInvariants());
    }

    [Fact]
    public void Fork_tree_of_363_processes_all_reaped()
    {
        var r = PosixKernelTests.Run("s-forktree");
        Assert.Equal(0, r.Code);
        Assert.Equal("fork tree: 363 processes\nPASS fork-tree-363\n", r.Out);
        Assert.Empty(r.Machine.Kernel.Faults);
    }

    [Fact]
    public void Fork_bomb_leaves_the_kernel_healthy_and_is_killed_without_leaks()
    {
        var m = new PosixMachine();
        m.Console.CloseInput();
        Assert.Null(m.Start("s-forkbomb"));
        int peak = 0;
        for (int slice = 0; slice < 6; slice++)
        {
            Assert.False(m.RunUntilAllExit(maxInstructions: 5_000_000));
            AssertHealthy(m);
            peak = Math.Max(peak, m.Kernel.ProcessCount);
        }
        Assert.StartsWith("bomb started\n", m.Console.OutputText);
        Assert.True(peak > 100, $"the bomb only reached {peak} processes");
        Assert.True(m.Kernel.FreePages < m.InitialFreePages);

        int killed = m.Kernel.KillProgram("s-forkbomb");
        Assert.True(killed > 100, $"killed {killed}");
        AssertHealthy(m);
        Assert.True(m.Kernel.AllExited, $"{m.Kernel.ProcessCount} processes left");
        Assert.Equal(m.InitialFreePages, m.Kernel.FreePages);
        // killed by the host (SIGKILL), or earlier by the kernel when a copy-on-write break found no memory
        Assert.Contains(m.ExitCode, new int?[] { 128 + 9, 128 + 11 });

        // the kernel still works after the bomb: a new program runs to completion
        Assert.Null(m.Start("echo", ["after", "bomb"]));
        Assert.True(m.RunUntilAllExit());
        AssertHealthy(m);
        Assert.EndsWith("after bomb\n", m.Console.OutputText);
        Assert.Equal(m.InitialFreePages, m.Kernel.FreePages);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("1")]
    [InlineData("2")]
    [InlineData("3")]
    public void Syscall_fuzzer_with_garbage_arguments_cannot_hurt_the_kernel(string? seed)
    {
        var r = PosixKernelTests.Run("s-fuzz", seed is null ? null : [seed]);   // asserts no kernel error, invariants, no leaked page
        Assert.True(r.Code == 0, $"s-fuzz exited {r.Code}\n{r.Out}\n{string.Join("\n", r.Machine.Kernel.Faults)}");
        Assert.Matches(@"^fuzz: \d+ calls\nPASS syscall-fuzz\n$", r.Out);
        Assert.DoesNotContain(r.Machine.Kernel.Faults, f => f.Name == "s-fuzz");
    }

    [Fact]
    public void Host_kill_of_a_program_spares_the_others()
    {
        var m = new PosixMachine();
        m.Console.CloseInput();
        Assert.Null(m.Start("s-forkbomb"));
        Assert.False(m.RunUntilAllExit(maxInstructions: 2_000_000));
        Assert.Equal(0, m.Kernel.KillProgram("no-such-program"));
        Assert.True(m.Kernel.ProcessCount > 0);
        Assert.True(m.Kernel.KillProgram("s-forkbomb") > 0);
        Assert.True(m.Kernel.AllExited);
        AssertHealthy(m);
        Assert.Equal(m.InitialFreePages, m.Kernel.FreePages);
    }
}
