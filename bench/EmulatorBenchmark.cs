using System.Diagnostics;
using System.Globalization;
using System.Text;
using Lab.Machine;
using Lab.TestSupport;

namespace Lab.Bench;

/// <summary>
/// `bench emulator`: builds the freestanding C workload (workloads/bench.c: sieve, fib, bytecode
/// interpreter, memcpy, hash), then runs it natively, under qemu-x86_64 and in our Machine
/// (<see cref="BareElfProcess"/>), interleaved over several rounds, checking that all three print the
/// same output. The instruction count is the exact number our Machine retires; the program is
/// deterministic, so the same count applies natively and under qemu. MIPS = count / median wall time.
/// Native and qemu times are whole process runs (start-up included, reported separately); ours is
/// the guest run only (loading excluded), after a warm-up so .NET tiering has settled. Ours runs on
/// each execution tier asked for (--tier interp|jit|both; default both: the interpreter and the JIT
/// side by side); the final line is for the last of them (the JIT by default).
/// </summary>
public static class EmulatorBenchmark
{
    private sealed record Options(int Rounds, double TargetSeconds, ulong? Scale, bool AllowInstall, ExecutionTier[] Tiers, string Workload, string[] Extra);

    private enum Engine { Native, Qemu, Interp, Jit }

    private static Engine EngineOf(ExecutionTier t) => t == ExecutionTier.Jit ? Engine.Jit : Engine.Interp;
    private static ExecutionTier TierOf(Engine e) => e == Engine.Jit ? ExecutionTier.Jit : ExecutionTier.Interp;

    public static int Run(string[] args)
    {
        var o = ParseOptions(args);
        if (o is null) return 0;
        var inv = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = inv;

        Console.WriteLine($"== emulator benchmark: {Environment.ProcessorCount} CPUs, .NET {Environment.Version}, {RuntimeInfo()}");

        // 1. Build the workload.
        string source = WorkloadPath(o.Workload);
        if (!File.Exists(source)) throw new BenchmarkException($"workload source not found: {source}");
        // A workload anywhere may include workloads/rt.h; headers beside it or there feed the build cache's key.
        string shared = Path.Combine(AppContext.BaseDirectory, "workloads");
        string[] headers = [.. new[] { Path.GetDirectoryName(Path.GetFullPath(source))!, shared }.Distinct().SelectMany(d => Directory.GetFiles(d, "*.h"))];
        string elf;
        try
        {
            elf = FreestandingGcc.Build([source], [.. FreestandingGcc.WorkloadFlags, "-I", shared], Path.GetFileNameWithoutExtension(source) + ".elf", headers);
        }
        catch (InvalidOperationException e)   // gcc's own message: the user's C file does not build
        {
            throw new BenchmarkException(e.Message);
        }
        Console.WriteLine($"workload: {source}\n  gcc {string.Join(' ', FreestandingGcc.BaseFlags.Concat(FreestandingGcc.WorkloadFlags))} ... -lgcc -> {elf}");

        // 2. qemu-user.
        string qemu = Qemu.FindOrInstall(o.AllowInstall);
        Console.WriteLine($"qemu: {qemu} ({Qemu.Version(qemu)})");

        // 3. Warm up each of our tiers: .NET promotes hot methods after about 30 calls (plus a
        //    background compile), so do at least 40 short runs and 1.5 s. Then size the workload for
        //    the last tier (the one the final line reports): a probe gives a first guess, one run at
        //    that size refines it.
        foreach (var tier in o.Tiers)
        {
            var warm = Stopwatch.StartNew();
            var warmMips = new List<double>();
            while (warmMips.Count < 40 || warm.Elapsed.TotalSeconds < 1.5)
            {
                var (r, t, _) = RunOurs(elf, 1, tier, o.Extra);
                warmMips.Add(r.InstructionsRetired / t.TotalSeconds / 1e6);
            }
            Console.WriteLine($"warm-up {Name(EngineOf(tier))}: {warmMips.Count} runs at scale 1 in {warm.Elapsed.TotalSeconds:F2} s; "
                + $"MIPS first {warmMips[0]:F0}, median of the last 10 {Stats.Median(warmMips.TakeLast(10)):F0}");
        }

        ExecutionTier primary = o.Tiers[^1];
        ulong scale;
        if (o.Scale is ulong fixedScale) scale = fixedScale;
        else
        {
            // A run costs a fixed part (loading, and compiling the hot code, which does not grow with the
            // scale) plus a part in proportion to the scale. Sizing by proportion alone undershoots when
            // the fixed part dominates the probe (CoreMark: 0.47 s for a 3 s target), so each further
            // run fits both parts to the last two runs, until a run lands within a quarter of the target.
            const ulong probeScale = 6;
            var runs = new List<(ulong Scale, double Seconds)> { (probeScale, RunOurs(elf, probeScale, primary, o.Extra).Time.TotalSeconds) };
            scale = ScaleFor(o.TargetSeconds, runs);
            for (int refine = 0; refine < 4; refine++)
            {
                runs.Add((scale, RunOurs(elf, scale, primary, o.Extra).Time.TotalSeconds));
                scale = ScaleFor(o.TargetSeconds, runs);
                if (Math.Abs(runs[^1].Seconds - o.TargetSeconds) < o.TargetSeconds / 4) break;
            }
            Console.WriteLine($"calibration: {string.Join(", ", runs.Select(r => $"scale {r.Scale} took {r.Seconds:F3} s"))}; "
                + $"using scale {scale} for ~{o.TargetSeconds:F1} s in our Machine ({Name(EngineOf(primary))})");
        }
        string[] workloadArgs = [scale.ToString(CultureInfo.InvariantCulture), .. o.Extra];

        // 4. Start-up cost of a process (scale 0: load, print, exit), for reference.
        double nativeStartup = Stats.Median(Enumerable.Range(0, 5).Select(_ => RunProcess(elf, ["0"]).WallTime.TotalSeconds));
        double qemuStartup = Stats.Median(Enumerable.Range(0, 5).Select(_ => RunProcess(qemu, [elf, "0"]).WallTime.TotalSeconds));
        Console.WriteLine($"process start-up (scale 0, median of 5): native {nativeStartup * 1e3:F1} ms, qemu {qemuStartup * 1e3:F1} ms (included in their times below)");

        // 5. Interleaved rounds.
        byte[]? expected = null;
        ulong instructions = 0;
        Engine[] order = [Engine.Native, Engine.Qemu, .. o.Tiers.Select(EngineOf)];
        var times = order.ToDictionary(e => e, _ => new List<double>());
        JitStats? jitStats = null;
        for (int round = 1; round <= o.Rounds; round++)
        {
            var roundTimes = new Dictionary<Engine, double>();
            for (int k = 0; k < order.Length; k++)
            {
                var engine = order[(k + round - 1) % order.Length];   // rotate who goes first
                byte[] stdout;
                double seconds;
                switch (engine)
                {
                    case Engine.Interp:
                    case Engine.Jit:
                        var (r, t, js) = RunOurs(elf, scale, TierOf(engine), o.Extra);
                        if (engine == Engine.Jit) jitStats = js;
                        if (instructions != 0 && r.InstructionsRetired != instructions)
                            throw new BenchmarkException($"our instruction count changed between runs: {instructions:N0} then {r.InstructionsRetired:N0}");
                        instructions = r.InstructionsRetired;
                        stdout = r.Stdout;
                        seconds = t.TotalSeconds;
                        break;
                    default:
                        var n = engine == Engine.Native ? RunProcess(elf, workloadArgs) : RunProcess(qemu, [elf, .. workloadArgs]);
                        if (n.ExitCode != 0) throw new BenchmarkException($"{engine} run exited with {n.ExitCode}: {Encoding.UTF8.GetString(n.Stderr)}");
                        stdout = n.Stdout;
                        seconds = n.WallTime.TotalSeconds;
                        break;
                }
                expected ??= stdout;
                if (!stdout.AsSpan().SequenceEqual(expected))
                    throw new BenchmarkException($"outputs differ: {engine} printed\n{Encoding.UTF8.GetString(stdout)}\nbut an earlier run printed\n{Encoding.UTF8.GetString(expected)}");
                roundTimes[engine] = seconds;
                times[engine].Add(seconds);
            }
            PrintTable($"round {round}/{o.Rounds} (scale {scale}, {instructions:N0} instructions)", instructions, roundTimes);
        }

        Console.WriteLine($"output (identical for every engine):\n  {Encoding.UTF8.GetString(expected!).TrimEnd().Replace("\n", "\n  ")}");
        var medians = times.ToDictionary(kv => kv.Key, kv => Stats.Median(kv.Value));
        PrintTable($"median of {o.Rounds} rounds", instructions, medians);

        double Mips(Engine e) => instructions / medians[e] / 1e6;
        if (jitStats is JitStats j)
        {
            Console.WriteLine($"jit (last round): {j.Blocks} regions compiled ({j.Instructions} guest instructions, {j.Rejected} blocks left to the interpreter, {j.Cut} cut to fit RyuJIT's size limit, {j.Promoted} quick regions compiled again optimised, {j.Reentered} compiled again with entries where the dispatcher kept entering them, for new targets of indirect calls and jumps or for the target of an exit they kept leaving by ({j.IndirectRecompiles} and {j.HotExitRecompiles} such compiles started), {j.Retested} with a test at each access group member, {j.CountedLoops} loops with counted passes, {j.RegistersInFile} registers kept in the register file, used only outside their region's hottest loops, {j.CmovBranches} cmovs compiled as branches, {j.CmovXors} without temporaries, {j.CrowdedAccesses} accesses in crowded loops tested from va - Lo), {j.BulkPasses:N0} passes of copy and fill loops run at once, "
                + $"compile time {(j.CompileTime + j.BackgroundTime).TotalMilliseconds:F1} ms = {(j.CompileTime + j.BackgroundTime).TotalMicroseconds / Math.Max(1, j.Blocks + j.Promoted + j.Reentered + j.Retested):F0} µs per compile, "
                + $"{(j.CompileTime + j.BackgroundTime).TotalMicroseconds / Math.Max(1, j.Instructions):F1} µs per guest instruction "
                + $"({j.CompileTime.TotalMilliseconds:F1} ms on the CPU's thread, {j.CompileTime / j.RunTime:P0} of that run; {j.BackgroundTime.TotalMilliseconds:F1} ms by RyuJIT in the background); "
                + $"{j.Entries:N0} entries into compiled code, {j.Passes:N0} passes from one region's code straight to another's; "
                + $"{j.Flushes} flushes of all compiled code (limit {new MachineOptions().JitCodeLimit:N0} instructions); "
                + $"{j.WindowsBuilt:N0} access windows built ({j.WindowsShared:N0} taking another's run), all emptied {j.WindowInvalidations:N0} times, {j.WindowsEmptied:N0} emptied one by one");
        }
        if (o.Tiers.Length == 2)
            Console.WriteLine($"jit_over_interp={Mips(Engine.Jit) / Mips(Engine.Interp):F2}");
        Engine ours = EngineOf(primary);
        Console.WriteLine($"emulator mips={Mips(ours):F1} qemu_mips={Mips(Engine.Qemu):F1} native_mips={Mips(Engine.Native):F1} qemu_over_ours={Mips(Engine.Qemu) / Mips(ours):F2}");
        return 0;
    }

    /// <summary>
    /// Most a calibration run may multiply the largest scale run so far by: a fit of two runs whose times
    /// are close (noise) extrapolates far, and a run it sized could take minutes. The five calibration
    /// runs still reach a scale of 6·10^8 from the probe's 6, for a workload whose unit takes nanoseconds.
    /// </summary>
    private const double MaxScaleStep = 100;

    /// <summary>
    /// Largest scale the bench asks of a workload (rt.h's parse_u64 takes any u64). Until stop 44 this
    /// was 100,000, so a workload whose unit of scale runs under 40 µs ran shorter than asked and
    /// measured mostly its start-up and compiling (BEEBS programs without a repeat: 0.02 to 0.2 s for
    /// a 4 s target).
    /// </summary>
    private const ulong MaxScale = 1_000_000_000_000;

    /// <summary>
    /// The scale expected to run <paramref name="targetSeconds"/>: from the last two runs, a fixed
    /// time plus a time per unit of scale (when the two runs differ in scale and the longer took
    /// longer), else in proportion to the last run alone; at most <see cref="MaxScaleStep"/> times the
    /// largest scale run so far.
    /// </summary>
    private static ulong ScaleFor(double targetSeconds, IReadOnlyList<(ulong Scale, double Seconds)> runs)
    {
        var (s1, t1) = runs[^1];
        double perUnit = t1 / s1, fixedPart = 0;
        if (runs.Count > 1)
        {
            var (s0, t0) = runs[^2];
            double slope = (t1 - t0) / ((double)s1 - s0);
            if (s1 != s0 && slope > 0 && t1 - slope * s1 >= 0) (perUnit, fixedPart) = (slope, t1 - slope * s1);
        }
        double largest = runs.Max(r => (double)r.Scale);
        double scale = Math.Round(Math.Max(targetSeconds - fixedPart, targetSeconds / 4) / perUnit);
        return (ulong)Math.Clamp(scale, 1, Math.Min(MaxScale, largest * MaxScaleStep));
    }

    private static void PrintTable(string title, ulong instructions, IReadOnlyDictionary<Engine, double> seconds)
    {
        Console.WriteLine();
        Console.WriteLine(title);
        Console.WriteLine($"  {"engine",-8} {"wall s",9} {"MIPS",10} {"vs native",10}");
        foreach (var e in new[] { Engine.Native, Engine.Qemu, Engine.Interp, Engine.Jit })
        {
            if (!seconds.TryGetValue(e, out double s)) continue;
            Console.WriteLine($"  {Name(e),-8} {s,9:F3} {instructions / s / 1e6,10:F1} {s / seconds[Engine.Native],9:F2}x");
        }
    }

    private static string Name(Engine e) => e switch
    {
        Engine.Native => "native", Engine.Qemu => "qemu", Engine.Interp => "interp", _ => "jit",
    };

    /// <summary>What the JIT did in one run.</summary>
    private readonly record struct JitStats(long Blocks, long Instructions, long Rejected, long Cut, long Promoted, long Reentered, long IndirectRecompiles, long HotExitRecompiles, long Retested, TimeSpan CompileTime, TimeSpan BackgroundTime, long Entries, long Passes, long Flushes, long WindowsBuilt, long WindowInvalidations, long WindowsEmptied, long WindowsShared, long CountedLoops, long RegistersInFile, long CmovBranches, long CmovXors, long CrowdedAccesses, long BulkPasses, TimeSpan RunTime);

    /// <summary>Loads the ELF (untimed), then times only the guest run (JIT compilation included) on one tier.</summary>
    private static (BareElfResult Result, TimeSpan Time, JitStats Jit) RunOurs(string elf, ulong scale, ExecutionTier tier, string[] extra)
    {
        byte[] image = File.ReadAllBytes(elf);
        var options = new BareElfOptions { InstructionBudget = 200_000_000_000UL, Tier = tier };
        // RAM for whatever the workload declares (the default 64 MiB held no more than about 50 MiB of arrays).
        options = options with { MemorySize = Math.Max(options.MemorySize, BareElfProcess.MemoryNeeded(image, options)) };
        using var process = BareElfProcess.Load(image, ["bench", scale.ToString(CultureInfo.InvariantCulture), .. extra], options);
        var sw = Stopwatch.StartNew();
        var r = process.Run();
        sw.Stop();
        if (r.Outcome != BareElfOutcome.Exited || r.ExitCode != 0)
            throw new BenchmarkException($"the workload failed in our Machine: {r.Describe()}\n{r.StdoutText}");
        var cpu = process.Machine.Cpu;
        return (r, sw.Elapsed, new JitStats(cpu.JitBlocksCompiled, cpu.JitInstructionsCompiled, cpu.JitBlocksRejected, cpu.JitRegionsCut, cpu.JitRegionsPromoted, cpu.JitRegionsReentered, cpu.JitIndirectRecompilesStarted, cpu.JitHotExitRecompilesStarted, cpu.JitRegionsRetested, cpu.JitCompileTime, cpu.JitBackgroundCompileTime, cpu.JitEntries, cpu.JitPasses, cpu.JitFlushes, cpu.WindowsBuilt, cpu.WindowInvalidations, cpu.WindowsEmptied, cpu.WindowsShared, cpu.JitCountedLoops, cpu.JitRegistersInFile, cpu.JitCmovBranches, cpu.JitCmovXors, cpu.JitCrowdedAccesses, cpu.JitBulkPasses, sw.Elapsed));
    }

    private static NativeResult RunProcess(string program, IReadOnlyList<string> args)
    {
        var r = NativeProcess.Run(program, args, timeoutMs: 600_000);
        if (r.ExitCode != 0) throw new BenchmarkException($"{program} {string.Join(' ', args)} exited with {r.ExitCode}: {Encoding.UTF8.GetString(r.Stderr)}");
        return r;
    }

    private static string RuntimeInfo()
    {
        var flags = new List<string>();
        foreach (var v in new[] { "DOTNET_TieredPGO", "DOTNET_TieredCompilation", "DOTNET_TC_QuickJitForLoops", "DOTNET_ReadyToRun" })
            if (Environment.GetEnvironmentVariable(v) is string s) flags.Add($"{v}={s}");
#if DEBUG
        flags.Add("DEBUG build: use -c Release");
#endif
        return flags.Count == 0 ? "default runtime settings" : string.Join(", ", flags);
    }

    private static Options? ParseOptions(string[] args)
    {
        int rounds = 5;
        double seconds = 4.0;
        ulong? scale = null;
        bool install = true;
        ExecutionTier[] tiers = [ExecutionTier.Interp, ExecutionTier.Jit];
        string workload = "bench";
        var extra = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new BenchmarkException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--rounds": rounds = int.TryParse(Value(), out int r) && r > 0 ? r : throw new BenchmarkException("--rounds takes a positive integer"); break;
                case "--seconds": seconds = double.TryParse(Value(), CultureInfo.InvariantCulture, out double s) && s > 0 ? s : throw new BenchmarkException("--seconds takes a positive number"); break;
                case "--scale": scale = ulong.TryParse(Value(), out ulong sc) && sc > 0 ? sc : throw new BenchmarkException("--scale takes a positive integer"); break;
                case "--no-install": install = false; break;
                case "--workload": workload = Value(); break;
                case "--arg": extra.Add(Value()); break;
                case "--tier":
                    {
                        string t = Value();
                        tiers = t == "both" ? [ExecutionTier.Interp, ExecutionTier.Jit]
                            : MachineOptions.ParseTier(t) is ExecutionTier one ? [one]
                            : throw new BenchmarkException("--tier takes interp, jit or both");
                        break;
                    }
                case "-h" or "--help":
                    Console.WriteLine("""
                        usage: bench emulator [--workload NAME|FILE.c] [--rounds N] [--seconds S] [--scale N] [--tier interp|jit|both] [--no-install]
                          --workload W   bench (default: sieve, fib, bytecode VM, memcpy, hash), mix (sort, matrix, tree,
                                         search, divide, bits, compress, lexer), hard (sha256, list, text), apps (qsort,
                                         hash, queens, struct, lcs, heap, bignum), float (nbody, mandel, spectral, matf, poly),
                                         idioms (bitscan, zeroed, copies, rotate, histogram, bitset, life),
                                         data (sieve, hash, msort, bfs, copy: arrays of megabytes),
                                         loops (matmul ijk/ikj, floyd, stencil, prefix, transpose: integer arrays),
                                         or a C file written like them (integer or floating point): freestanding
                                         (#include "rt.h" from bench/workloads, or its own _start), taking a scale argument
                          --rounds N     interleaved rounds of native / qemu / ours (default 5); medians are reported
                          --seconds S    size the workload so our Machine runs about S seconds (default 4)
                          --scale N      use this workload scale instead of calibrating
                          --arg A        pass A to the workload after the scale (repeatable); bench.c takes a kernel
                                         mask (1 sieve, 2 fib, 4 interp, 8 memcpy, 16 hash), the others likewise
                          --tier T       our execution tier(s): interp, jit or both (default both, side by side)
                          --no-install   fail instead of installing qemu-user with apt-get when qemu-x86_64 is missing
                        The last line is: emulator mips=<ours> qemu_mips=<qemu-user> native_mips=<native> qemu_over_ours=<ratio>
                        where ours is the last tier asked for (the JIT by default)
                        """);
                    return null;
                default: throw new BenchmarkException($"unknown option '{args[i]}' (see --help)");
            }
        }
        return new Options(rounds, seconds, scale, install, tiers, workload, extra.ToArray());
    }

    /// <summary>A workload's source: a name in workloads/ (bench, mix) or a path to a C file.</summary>
    private static string WorkloadPath(string workload) =>
        workload.EndsWith(".c", StringComparison.Ordinal) ? Path.GetFullPath(workload)
        : Path.Combine(AppContext.BaseDirectory, "workloads", workload + ".c");
}
