using Lab.Kernel;

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
        if (program is not ("allocator" or "fork" or "forkexit") && !Lab.Kernel.Plumbing.EmbeddedPrograms.Exists(program, ProgramFlavour.Standard))
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

    /// <summary>"0".."7" or "cow".</summary>
    public static LabStep ParseStep(string s)
    {
        if (s == "cow") return LabStep.CopyOnWrite;
        if (int.TryParse(s, out int n) && n is >= 0 and <= 7) return (LabStep)n;
        throw new ArgumentException($"--step {s}: expected 0..7 or cow");
    }
}
