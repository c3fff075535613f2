using Lab.Kernel.Weensy;

namespace Lab.TuiClient;

/// <summary>
/// `tui run --weensyos PROGRAM`: a headless WeensyOS run. Runs until the tick limit (a power-off,
/// as WeensyOS's TICK_LIMIT) or an earlier power-off/panic/invariant failure, writes the grading
/// log, optionally prints the final screen. Exit status 0, or 1 with the reason on stderr when
/// the kernel panicked or an invariant failed; 2 for usage errors.
/// </summary>
public static class RunCommand
{
    public sealed record Arguments(
        string Program, KernelOptions Options, string? LogFile, ScreenFormat Screen);

    public enum ScreenFormat { None, Text, Ansi }

    public static int Execute(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length > 0 && (args[0] == "--profile" || args[0].StartsWith("--profile=", StringComparison.Ordinal)))
            return PosixRun.Execute(args, stdout, stderr, Console.OpenStandardInput);
        if (KernelRunCommand.Wants(args)) return KernelRunCommand.Execute(args, stdout, stderr);
        Arguments a;
        try { a = Parse(args); }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"tui run: {e.Message}");
            stderr.WriteLine(Cli.Usage);
            return 2;
        }

        using var machine = new WeensyMachine(a.Options);
        TextWriter? log = null;
        try
        {
            if (a.LogFile is not null)
            {
                log = new StreamWriter(a.LogFile, append: false) { NewLine = "\n" };
                machine.Kernel.GradingLog = log;
            }
            machine.RunUntilHalt();
        }
        finally
        {
            log?.Dispose();
        }

        if (a.Screen == ScreenFormat.Text) ScreenRenderer.WriteText(machine.Machine.Cga, stdout);
        else if (a.Screen == ScreenFormat.Ansi) ScreenRenderer.WriteAnsi(machine.Machine.Cga, stdout);

        var k = machine.Kernel;
        if (k.InvariantFailure is not null)
        {
            stderr.WriteLine($"tui run: invariant failed: {k.InvariantFailure}");
            return 1;
        }
        if (k.PanicMessage is not null)
        {
            stderr.WriteLine($"tui run: kernel panic at tick {k.Ticks}: {k.PanicMessage}");
            return 1;
        }
        return 0;
    }

    /// <summary>Parses the options of `tui run`; throws ArgumentException with a message for the user.</summary>
    public static Arguments Parse(string[] args)
    {
        string? program = null;
        LabStep step = LabStep.CopyOnWrite;
        ulong ticks = 1000;
        bool noSlowdown = false;
        string? logFile = null;
        var screen = ScreenFormat.None;
        ulong? instructionsPerTick = null;
        var invariants = InvariantChecks.EveryTick;
        LabBug bug = LabBug.None;
        var flavourInt = false;

        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string? inline = null;
            int eq = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0) { inline = arg[(eq + 1)..]; arg = arg[..eq]; }
            string Value()
            {
                if (inline is not null) return inline;
                if (i + 1 >= args.Length) throw new ArgumentException($"{arg} needs a value");
                return args[++i];
            }
            switch (arg)
            {
                case "--weensyos": program = Value(); break;
                case "--step": step = ParseStep(Value()); break;
                case "--ticks":
                    if (!ulong.TryParse(Value(), out ticks) || ticks == 0) throw new ArgumentException("--ticks needs a positive number");
                    break;
                case "--no-slowdown": noSlowdown = true; break;
                case "--log": logFile = Value(); break;
                case "--screen":
                    screen = (inline ?? "text") switch
                    {
                        "text" => ScreenFormat.Text,
                        "ansi" => ScreenFormat.Ansi,
                        var s => throw new ArgumentException($"--screen={s}: expected text or ansi"),
                    };
                    break;
                case "--instructions-per-tick":
                    if (!ulong.TryParse(Value(), out ulong n) || n == 0) throw new ArgumentException("--instructions-per-tick needs a positive number");
                    instructionsPerTick = n;
                    break;
                case "--bug":
                    bug = Value() switch
                    {
                        "none" => LabBug.None,
                        "fork-no-copy" => LabBug.ForkNoCopy,
                        "fork-leaks-page-tables" => LabBug.ForkLeaksPageTables,
                        var s => throw new ArgumentException($"--bug {s}: expected none, fork-no-copy or fork-leaks-page-tables"),
                    };
                    break;
                case "--int-abi": flavourInt = true; break;
                case "--no-invariants": invariants = InvariantChecks.None; break;
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }
        if (program is null) throw new ArgumentException("--weensyos allocator|fork|forkexit is required");
        if (program is not ("allocator" or "fork" or "forkexit") && !Lab.Kernel.Weensy.Plumbing.EmbeddedPrograms.Exists(program, ProgramFlavour.Standard))
            throw new ArgumentException($"--weensyos {program}: expected allocator, fork or forkexit");
        if (noSlowdown && flavourInt) throw new ArgumentException("--no-slowdown and --int-abi cannot be combined");

        var options = new KernelOptions
        {
            Step = step,
            Bug = bug,
            Boot = program,
            Flavour = flavourInt ? ProgramFlavour.IntAbi : noSlowdown ? ProgramFlavour.NoSlowdown : ProgramFlavour.Standard,
            TickLimit = ticks,
            Invariants = invariants,
            InstructionsPerTick = instructionsPerTick ?? KernelOptions.DefaultInstructionsPerTick,
        };
        return new Arguments(program, options, logFile, screen);
    }

    /// <summary>"0".."7" or "cow" (see <see cref="LabSteps"/>).</summary>
    public static LabStep ParseStep(string s) =>
        LabSteps.Parse(s) ?? throw new ArgumentException($"--step {s}: expected {LabSteps.Choices}");
}

/// <summary>
/// `tui run --profile posix [--mem SIZE] [--file HOST[=GUEST]]... [--dir HOST=GUEST]... PROGRAM [ARGS...]`:
/// boots the POSIX profile, places the files and directories (a test's data beside it), and runs
/// PROGRAM (a /bin name, or a host ELF copied into the file system) with the console on
/// stdout/stdin. Exit status: the program's, 128+signal if killed (and a line saying which signal, as
/// a shell says), 126 not an executable, 127 not found, 2 usage, 1 files that cannot be placed.
/// </summary>
public static class PosixRun
{
    public static int Execute(string[] args, TextWriter stdout, TextWriter stderr, Func<Stream> stdin)
    {
        string? profile = null;
        ulong mem = 64UL << 20;
        var places = new List<(string Option, string Host, string? Guest)>();
        int i = 0;
        for (; i < args.Length; i++)
        {
            string arg = args[i];
            if (arg.StartsWith("--profile=", StringComparison.Ordinal)) profile = arg["--profile=".Length..];
            else if (arg == "--profile" && i + 1 < args.Length) profile = args[++i];
            else if (arg.StartsWith("--mem=", StringComparison.Ordinal) && TryParseSize(arg[6..], out ulong m1)) mem = m1;
            else if (arg == "--mem" && i + 1 < args.Length && TryParseSize(args[i + 1], out ulong m2)) { mem = m2; i++; }
            else if (arg is "--file" or "--dir" && i + 1 < args.Length)
            {
                string spec = args[++i];
                int eq = spec.IndexOf('=');
                places.Add((arg, eq < 0 ? spec : spec[..eq], eq < 0 ? null : spec[(eq + 1)..]));
            }
            else if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                stderr.WriteLine($"tui run: bad option '{arg}'");
                stderr.WriteLine(Cli.Usage);
                return 2;
            }
            else break;
        }
        if (profile != "posix" || i >= args.Length || mem < (4UL << 20) || mem > (4UL << 30))
        {
            stderr.WriteLine(profile != "posix" ? $"tui run: unknown profile '{profile}' (only 'posix')"
                : i >= args.Length ? "tui run: PROGRAM is missing" : "tui run: --mem must be between 4M and 4G");
            stderr.WriteLine(Cli.Usage);
            return 2;
        }
        string program = args[i];
        var rest = args[(i + 1)..];

        using var machine = new Lab.Kernel.Posix.PosixMachine(new Lab.Kernel.Posix.PosixOptions { MemorySize = mem });
        string path;
        if (program.Contains('/'))
        {
            if (!File.Exists(program)) { stderr.WriteLine($"tui run: {program}: No such file or directory"); return 127; }
            path = "/bin/" + Path.GetFileName(program);
            machine.Fs.WriteFile(path, File.ReadAllBytes(program));
        }
        else
        {
            path = "/bin/" + program;
            if (machine.Fs.Lookup(path) is null) { stderr.WriteLine($"tui run: {program}: not found in /bin"); return 127; }
        }
        foreach (var (option, host, guest) in places)
            if (GuestFiles.Place(machine.Fs, option == "--dir", host, guest) is { } placeError)
            {
                stderr.WriteLine($"tui run: {option} {host}: {placeError}");
                return 1;
            }
        var data = machine.Fs.Lookup(path)!;
        if (data.Length < 4 || data.Data[0] != 0x7F || data.Data[1] != (byte)'E' || data.Data[2] != (byte)'L' || data.Data[3] != (byte)'F')
        {
            stderr.WriteLine($"tui run: {program}: not an ELF executable");
            return 126;
        }

        machine.Console.CaptureOutput = false;
        var decoder = System.Text.Encoding.UTF8.GetDecoder();
        var outLock = new object();
        machine.Console.Output = (fd, bytes) =>
        {
            lock (outLock)
            {
                var chars = new char[bytes.Length + 4];
                int n = decoder.GetChars(bytes.Span, chars, flush: false);
                var w = fd == 2 ? stderr : stdout;
                w.Write(chars, 0, n);
                w.Flush();
            }
        };
        var reader = new Thread(() =>
        {
            try
            {
                using var s = stdin();
                var buf = new byte[4096];
                int n;
                while ((n = s.Read(buf, 0, buf.Length)) > 0) machine.Console.Feed(buf.AsSpan(0, n));
            }
            catch (IOException) { }
            machine.Console.CloseInput();
        }) { IsBackground = true, Name = "posix-stdin" };
        reader.Start();

        string? error = machine.Start(path, rest);
        if (error is not null)
        {
            stderr.WriteLine($"tui run: {error}");
            return error.Contains("not an ELF") ? 126 : 127;
        }
        machine.RunUntilAllExit(ulong.MaxValue, idleWait: () => { Thread.Sleep(5); return true; });
        if (machine.Kernel.KernelError is not null)
        {
            stderr.WriteLine($"tui run: kernel error: {machine.Kernel.KernelError}");
            return 1;
        }
        if (machine.Kernel.MainStatus is int status && (status & 0x7f) != 0)
            stderr.WriteLine($"tui run: {program} was killed by {Lab.Kernel.Posix.Signals.Name(status & 0x7f)}");
        return machine.ExitCode ?? 1;
    }

    /// <summary>Parses a memory size: bytes, or a number with K, M or G.</summary>
    internal static bool TryParseSize(string s, out ulong bytes)
    {
        bytes = 0;
        if (s.Length == 0) return false;
        ulong mult = char.ToUpperInvariant(s[^1]) switch { 'K' => 1UL << 10, 'M' => 1UL << 20, 'G' => 1UL << 30, _ => 1 };
        if (mult != 1) s = s[..^1];
        if (!ulong.TryParse(s, out ulong v)) return false;
        bytes = v * mult;
        return true;
    }
}
