using System.Diagnostics;
using Lab.Kernel.Posix;

namespace Lab.Bench;

/// <summary>
/// `bench processes`: the POSIX profile's process primitives, timed on the host (wall clock) with the
/// guest workload userland/posix/tests/s-procs.c: fork+exit+wait per second, exec per second, and
/// copy-on-write fork against copying fork (PosixKernel.CopyOnWriteFork = false) for a parent with
/// 1, 8 and 64 MiB of touched heap. Each figure is (time of N operations - time of 0) / N, median of
/// several runs, so program start-up and touching the memory are not counted. The same workload
/// built with the host's `gcc -static` (glibc) times fork+exec+wait of an ordinary Linux binary,
/// in the emulator and natively, so the row reads as a ratio.
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
        if (GlibcBuild() is { } glibc)
        {
            int n = N(300);
            double emulated = PerOp(["spawn"], n, repeats, cow: true, mem: 64, hostBinary: glibc);
            double native = Stats.Median(Enumerable.Range(0, repeats).Select(_ =>
                Math.Max(0.001, (TimeNative(glibc, ["spawn", (n * 10).ToString()]) - TimeNative(glibc, ["spawn", "0"])) / (n * 10))));
            Row("fork+exec+wait, gcc -static (glibc)", n, emulated);
            Row("  the same natively on the host", n * 10, native);
            Console.WriteLine($"{"",-34} emulated/native = {emulated / native:F1}x");
            summary += $" glibc_spawn_per_s={1e6 / emulated:F0} native_spawn_per_s={1e6 / native:F0}";
        }
        else Console.WriteLine("fork+exec+wait, gcc -static (glibc): skipped (gcc with a static glibc is not installed)");
        Console.WriteLine(summary);
        return 0;
    }

    /// <summary>s-procs.c (copied beside the benchmark) built by the host's gcc -static, or null when
    /// there is no gcc with a static glibc.</summary>
    private static string? GlibcBuild()
    {
        string source = Path.Combine(AppContext.BaseDirectory, "s-procs.c");
        try { return Lab.TestSupport.Gcc.Build([source], ["-static", "-O2", "-w"], "s-procs.glibc"); }
        catch (Exception e) when (e is InvalidOperationException or FileNotFoundException)
        {
            Console.Error.WriteLine(e.Message);
            return null;
        }
    }

    /// <summary>Wall-clock microseconds of one native run of <paramref name="binary"/>.</summary>
    private static double TimeNative(string binary, string[] args)
    {
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(new ProcessStartInfo(binary, args) { RedirectStandardOutput = true })!;
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new BenchmarkException($"{binary} {string.Join(' ', args)} exited {p.ExitCode} natively");
        return sw.Elapsed.TotalMicroseconds;
    }

    private static void Row(string name, int n, double us) =>
        Console.WriteLine($"{name,-34} {n,6} {us,10:F1} {1e6 / us,10:F0}");

    /// <summary>Microseconds per operation: median over repeats of (t(N) - t(0)) / N.</summary>
    private static double PerOp(string[] workload, int n, int repeats, bool cow, ulong mem, string? hostBinary = null)
    {
        var samples = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            double full = Time([.. workload, n.ToString()], cow, mem, hostBinary);
            double empty = Time([.. workload, "0"], cow, mem, hostBinary);
            samples.Add(Math.Max(0.001, (full - empty) / n));
        }
        return Stats.Median(samples);
    }

    /// <summary>Wall-clock microseconds of one emulated run: the embedded s-procs, or
    /// <paramref name="hostBinary"/> placed at /bin/s-procs.</summary>
    private static double Time(string[] args, bool cow, ulong memMiB, string? hostBinary = null)
    {
        using var m = new PosixMachine(new PosixOptions { MemorySize = memMiB << 20 });
        m.Kernel.CopyOnWriteFork = cow;
        m.Console.CloseInput();
        string program = "s-procs";
        if (hostBinary is not null)
        {
            program = "/bin/s-procs";
            m.Fs.WriteFile(program, File.ReadAllBytes(hostBinary));
        }
        if (m.Start(program, args) is { } err) throw new BenchmarkException(err);
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
