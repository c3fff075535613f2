using System.Runtime.CompilerServices;
using Lab.Machine.Tests.Programs;
using Lab.TestSupport;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// The emulator benchmark's C workloads (bench/workloads: bench.c, mix.c, hard.c, apps.c, float.c, idioms.c, data.c, loops.c), built as the
/// benchmark builds them, print the same checksums in the Machine as on the host, with the JIT
/// compiling blocks on their first run (single-block regions, mostly; fully optimised at once) and
/// after 50 runs (regions of many blocks; quick code first, compiled again optimised after it retired
/// 10 instructions per instruction it holds, so every phase of the program promotes some code): the
/// host CPU is the oracle for compiled code on ordinary C.
/// </summary>
public class JitWorkloadTests
{
    private static string WorkloadsDir([CallerFilePath] string thisFile = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "..", "..", "bench", "workloads"));

    [Theory]
    [InlineData("bench", 1)]
    [InlineData("bench", 50)]
    [InlineData("mix", 1)]
    [InlineData("mix", 50)]
    [InlineData("hard", 1)]
    [InlineData("hard", 50)]
    [InlineData("apps", 1)]
    [InlineData("apps", 50)]
    [InlineData("float", 1)]
    [InlineData("float", 50)]
    [InlineData("idioms", 1)]
    [InlineData("idioms", 50)]
    [InlineData("data", 1)]
    [InlineData("data", 50)]
    [InlineData("loops", 1)]
    [InlineData("loops", 50)]
    public void BenchmarkWorkloadsPrintTheHostsChecksumsOnTheJit(string workload, int threshold)
    {
        string dir = WorkloadsDir();
        string exe = FreestandingGcc.Build([Path.Combine(dir, workload + ".c")], [.. FreestandingGcc.WorkloadFlags, "-I", dir],
            workload + ".elf", headers: [Path.Combine(dir, "rt.h")]);
        string[] args = ["1"];
        var native = NativeProcess.Run(exe, args);
        Assert.Equal(0, native.ExitCode);
        var r = BareElfRunner.Run(exe, args, new BareElfOptions { Tier = ExecutionTier.Jit, JitThreshold = threshold, JitPromoteAfter = threshold == 1 ? 0 : 10 });
        Assert.True(r.Outcome == BareElfOutcome.Exited, $"{workload} in the Machine: {r.Describe()}");
        Assert.True(native.Stdout.AsSpan().SequenceEqual(r.Stdout), ProgramTests.FirstDifference(native.Stdout, r.Stdout));
        Assert.Contains("=", r.StdoutText);
    }
}
