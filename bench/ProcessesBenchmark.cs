using System.Diagnostics;
using Lab.Kernel.Posix;

namespace Lab.Bench;

/// <summary>
/// `bench processes`: the POSIX profile's process primitives, timed on the host (wall clock) with the
/// guest workload userland/posix/tests/s-procs.c: fork+exit+wait per second, exec per second, and
/// copy-on-write fork against copying fork (PosixKernel.CopyOnWriteFork = false) for a parent with
/// 1, 8 and 64 MiB of touched heap. Each figure is (time of N operations - time of 0) / N, median of
/// several runs, so program start-up and touching the memory are not counted.
/// </summary>
public static class ProcessesBenchmark
{
    public static int Run(string[] args)
    {
        int repeats = 3;
        double scale = 1;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--repeats": repeats = int.Parse(args[++i]); break;
                case "--scale": scale = double.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--help":
                    Console.WriteLine("usage: bench processes [--repeats 3] [--scale 1.0]   (scale multiplies the iteration counts)");
                    return 0;
                default: throw new BenchmarkException($"unknown option '{args[i]}'");
            }
        }
        if (!PosixMachine.Programs.Contains("s-procs")) throw new BenchmarkException("s-procs is not embedded (build userland/posix)");
        int N(int n) => Math.Max(1, (int)(n * scale));

        Console.WriteLine($"processes: POSIX profile, host wall time, median of {repeats} runs, start-up subtracted");
        Console.WriteLine($"{"operation",-34} {"count",6} {"us/op",10} {"ops/s",10}");
        double forkExit = PerOp(["forkexit"], N(2000), repeats, cow: true, mem: 64);
        Row("fork+exit+wait", N(2000), forkExit);
        double exec = PerOp(["exec"], N(500), repeats, cow: true, mem: 64);
        Row("exec (self, chained)", N(500), exec);

        var summary = $"processes fork_exit_wait_per_s={1e6 / forkExit:F0} exec_per_s={1e6 / exec:F0}";
        foreach (int mib in new[] { 1, 8, 64 })
        {
            int cowN = N(mib switch { 1 => 400, 8 => 200, _ => 50 });
            int copyN = N(mib switch { 1 => 100, 8 => 20, _ => 4 });
            ulong machineMem = mib == 64 ? 256UL << 20 : 64UL << 20;
            double cow = PerOp(["fork", mib.ToString()], cowN, repeats, cow: true, mem: machineMem >> 20);
            double copy = PerOp(["fork", mib.ToString()], copyN, repeats, cow: false, mem: machineMem >> 20);
            Row($"fork, {mib,2} MiB touched, copy-on-write", cowN, cow);
            Row($"fork, {mib,2} MiB touched, copying", copyN, copy);
            Console.WriteLine($"{"",-34} copying/cow = {copy / cow:F1}x");
            summary += $" cow_{mib}m_us={cow:F1} copy_{mib}m_us={copy:F1}";
        }
        Console.WriteLine(summary);
        return 0;
    }

    private static void Row(string name, int n, double us) =>
        Console.WriteLine($"{name,-34} {n,6} {us,10:F1} {1e6 / us,10:F0}");

    /// <summary>Microseconds per operation: median over repeats of (t(N) - t(0)) / N.</summary>
    private static double PerOp(string[] workload, int n, int repeats, bool cow, ulong mem)
    {
        var samples = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            double full = Time([.. workload, n.ToString()], cow, mem);
            double empty = Time([.. workload, "0"], cow, mem);
            samples.Add(Math.Max(0.001, (full - empty) / n));
        }
        return Stats.Median(samples);
    }

    private static double Time(string[] args, bool cow, ulong memMiB)
    {
        using var m = new PosixMachine(new PosixOptions { MemorySize = memMiB << 20 });
        m.Kernel.CopyOnWriteFork = cow;
        m.Console.CloseInput();
        if (m.Start("s-procs", args) is { } err) throw new BenchmarkException(err);
        var sw = Stopwatch.StartNew();
        bool done = m.RunUntilAllExit(ulong.MaxValue / 2);
        double us = sw.Elapsed.TotalMicroseconds;
        if (m.Kernel.KernelError is { } ke) throw new BenchmarkException("kernel error: " + ke);
        if (!done || m.ExitCode != 0)
            throw new BenchmarkException($"s-procs {string.Join(' ', args)} failed (exit {m.ExitCode}): {m.Console.OutputText}");
        if (m.Kernel.FreePages != m.InitialFreePages) throw new BenchmarkException("pages leaked");
        return us;
    }
}
