using Lab.Kernel.Guest;
using Lab.TestSupport;

namespace Lab.Kernel.Tests.Guest;

/// <summary>Lab's own C WeensyOS kernel (userland/kernel), as built by `dotnet build` into userland/build/kernel.</summary>
internal static class LabKernel
{
    /// <summary>Guest speed for tests: 100 M instructions a second, so 1,000,000 per 100 Hz tick (the
    /// kernel spends 100-170 thousand on the displays at every trap).</summary>
    public const ulong TestInstructionsPerSecond = 100_000_000;

    /// <summary>The path of a variant's kernel (stripped like obj/kernel, or kernel.full with symbols).</summary>
    public static string PathOf(string variant, bool full = false) => LabKernelBuild.PathOf(variant, full);

    public static GuestKernelMachine Boot(string variant, bool full = false, ulong instructionsPerSecond = TestInstructionsPerSecond) =>
        GuestKernelMachine.Load(PathOf(variant, full), new GuestKernelOptions { InstructionsPerSecond = instructionsPerSecond });
}
