using Lab.Kernel.Weensy;
using Lab.Kernel.Weensy.Core;
using static Lab.Kernel.Tests.KernelRun;

namespace Lab.Kernel.Tests;

/// <summary>'a', 'f', 'e' soft-reboot into allocator, fork, forkexit; 'q' powers off.</summary>
public class KeyboardTests
{
    [Fact]
    public void Keys_soft_reboot_and_power_off()
    {
        using var m = new WeensyMachine(Options("allocator", LabStep.CopyOnWrite));
        m.RunUntilTick(100);
        m.PressKey('f');
        m.RunUntilTick(200);
        Assert.Equal("fork", m.Kernel.BootCommand);
        Assert.Equal(200UL, m.Ticks);                      // ticks survive a soft reboot
        Assert.Equal(4, m.Kernel.Processes.Count(p => p.State == ProcState.Runnable));

        m.PressKey('e');
        m.RunUntilTick(300);
        Assert.Equal("forkexit", m.Kernel.BootCommand);

        m.PressKey('a');
        m.RunUntilTick(400);
        Assert.Equal("allocator", m.Kernel.BootCommand);
        Assert.Equal([1, 2, 3, 4], m.Kernel.Processes.Where(p => p.State != ProcState.Free).Select(p => p.Pid));

        m.PressKey('x');                                   // ignored
        m.PressKey('q');
        m.RunUntilTick(1000);
        Assert.True(m.Kernel.PoweredOff);
        Assert.True(m.Ticks < 1000);
    }

    [Fact]
    public void A_key_reboots_out_of_a_panic()
    {
        using var m = new WeensyMachine(Options("fork", LabStep.Handout));
        m.RunUntilTick(50);
        Assert.True(m.Kernel.Failed);
        m.PressKey('a');
        m.Run(10_000);
        Assert.False(m.Kernel.Failed);
        Assert.Equal("allocator", m.Kernel.BootCommand);
    }
}
