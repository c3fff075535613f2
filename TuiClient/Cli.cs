using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using Lab.Kernel.Weensy;
using Lab.TuiClient.App;

namespace Lab.TuiClient;

/// <summary>
/// The `tui` command line on System.CommandLine: one tree of subcommands, each with its options
/// declared once. Every command answers --help; an unknown option or a bad value is a usage error
/// (one line naming it, exit status 2), never ignored. The actions hand typed values to the
/// commands (RunCommand, KernelRunCommand, PosixRun, SessionCommands, CcCommand).
/// Two command lines are not all options: `run --profile posix PROGRAM ARGS` and `local --profile
/// posix PROGRAM ARGS` pass everything from PROGRAM on to the guest program untouched, and `cc`
/// passes its words to gcc.
/// </summary>
public static class Cli
{
    /// <summary>Runs `tui ARGS`: the command's exit status (2 for usage errors).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr, Func<Stream>? stdin = null)
    {
        var root = Build(stdout, stderr, stdin ?? Console.OpenStandardInput);
        if (args.Length == 0)
        {
            stderr.WriteLine("usage: tui <command> [options]   (tui --help lists the commands)");
            return 2;
        }
        // cc hands every word to gcc (its own options included); only a lone --help is ours.
        if (args[0] == "cc" && !(args.Length == 2 && args[1] is "--help" or "-h" or "-?"))
            return CcCommand.Execute(args[1..], stdout, stderr);

        var (words, unknown) = GuestCommandAfterOptions(root, args);
        var parsed = root.Parse(words, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Errors.Count > 0 || unknown is not null)
        {
            string command = parsed.CommandResult.Command == root ? "tui" : $"tui {parsed.CommandResult.Command.Name}";
            // The first error only: later ones tend to follow from it.
            stderr.WriteLine($"{command}: {unknown ?? parsed.Errors[0].Message}");
            stderr.WriteLine($"usage: {Synopsis(parsed.CommandResult.Command)}   ({command} --help shows the options)");
            return 2;
        }
        return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
    }

    /// <summary>A usage error found by an action (a value the parser cannot judge alone): one line, status 2.</summary>
    internal static int UsageError(TextWriter stderr, string command, string message)
    {
        stderr.WriteLine($"tui {command}: {message}   (tui {command} --help shows the options)");
        return 2;
    }

    private static string Synopsis(Command c) => c.Parents.Any() is false ? "tui <command> [options]" : $"tui {c.Name} {c.Description?.Split('\n')[0]}";

    // ---- the command tree ----

    private static Command Build(TextWriter stdout, TextWriter stderr, Func<Stream> stdin)
    {
        // A plain command named tui (a RootCommand takes the executable's name, dotnet's or a test host's).
        var root = new Command("tui", "watch and drive Lab sessions (x86-64 machines running teaching kernels), or run one here")
        {
            new HelpOption { Recursive = true },
        };
        root.Subcommands.Add(RunCommandLine(stdout, stderr, stdin));
        root.Subcommands.Add(new Command("cc", "[GCC OPTIONS] FILE.c... -o OUT\ncompile a C program against the POSIX profile's libc (needs gcc); run the result with `tui run --profile posix OUT`"));
        root.Subcommands.Add(Connect(stdout, stderr));
        root.Subcommands.Add(Local(stdout, stderr));
        root.Subcommands.Add(Sessions(stdout, stderr));
        root.Subcommands.Add(Create(stdout, stderr));
        root.Subcommands.Add(Push(stdout, stderr));
        root.Subcommands.Add(Upload(stdout, stderr));
        root.Subcommands.Add(Gdb(stdout, stderr));
        return root;
    }

    private static Command RunCommandLine(TextWriter stdout, TextWriter stderr, Func<Stream> stdin)
    {
        var weensyos = new Option<string?>("--weensyos") { Description = "run Lab's WeensyOS with this program (allocator, fork, forkexit)", HelpName = "PROGRAM" };
        var kernel = new Option<string?>("--kernel") { Description = "boot a kernel built from C (obj/kernel, obj/kernel.full or weensyos.img)", HelpName = "FILE" };
        var profile = new Option<string?>("--profile") { Description = "run a program on the POSIX profile (posix)", HelpName = "posix" };
        var step = StepOption();
        var ticks = Positive("--ticks", "run for N timer ticks (WeensyOS: default 1000, a power-off as TICK_LIMIT; --kernel: N timer interrupts)");
        var noSlowdown = new Option<bool>("--no-slowdown") { Description = "WeensyOS: programs without the handout's slow-down loops" };
        var log = new Option<string?>("--log") { Description = "write the grading log (WeensyOS) or the parallel-port output (--kernel) to FILE", HelpName = "FILE" };
        var screen = new Option<string?>("--screen") { Description = "print the final screen (text, the default, or ansi)", HelpName = "text|ansi", Arity = ArgumentArity.ZeroOrOne };
        var perTick = Positive("--instructions-per-tick", "WeensyOS: instructions between timer ticks");
        var bug = new Option<string?>("--bug") { Description = "WeensyOS: run a known-buggy kernel (none, fork-no-copy, fork-leaks-page-tables)", HelpName = "BUG" };
        var intAbi = new Option<bool>("--int-abi") { Description = "WeensyOS: programs that make system calls with int" };
        var noInvariants = new Option<bool>("--no-invariants") { Description = "WeensyOS: do not check the kernel's invariants every tick" };
        var perSecond = Positive("--instructions-per-second", "--kernel: the guest's speed (1000000 to 100000000000)");
        var gdb = new Option<int?>("--gdb") { Description = "--kernel: wait at the kernel's entry for gdb on 127.0.0.1:PORT (0 picks one)", HelpName = "PORT" };
        var mem = SizeOption("--profile posix: guest memory (4M to 4G, default 64M)");
        var files = new Option<string[]>("--file") { Description = "--profile posix: place a host file in the guest before the run", HelpName = "HOST[=GUEST]" };
        var dirs = new Option<string[]>("--dir") { Description = "--profile posix: place a host directory tree in the guest", HelpName = "HOST=GUEST" };
        var program = new Argument<string[]>("PROGRAM") { Description = "--profile posix: the program (a /bin name or a host ELF) and its arguments", Arity = ArgumentArity.ZeroOrMore };
        var tier = TierOption();

        var run = new Command("run", "--weensyos PROGRAM | --kernel FILE | --profile posix PROGRAM [ARGS...]\n" +
            "run a machine headless: Lab's WeensyOS until the tick limit or a panic; a kernel built from C until it powers off " +
            "(as QEMU -nographic); or a POSIX program (a /bin name or a host ELF such as gcc -static) with the console on stdin/stdout, " +
            "exiting with its status (128+signal if killed)")
        { weensyos, kernel, profile, step, ticks, noSlowdown, log, screen, perTick, bug, intAbi, noInvariants, perSecond, gdb, mem, files, dirs, tier, program };
        run.SetAction(p =>
        {
            string? w = p.GetValue(weensyos), k = p.GetValue(kernel), pr = p.GetValue(profile);
            int modes = (w is null ? 0 : 1) + (k is null ? 0 : 1) + (pr is null ? 0 : 1);
            if (modes != 1) return UsageError(stderr, "run", "give one of --weensyos PROGRAM, --kernel FILE or --profile posix PROGRAM");
            var screenFormat = p.GetResult(screen) is null ? RunCommand.ScreenFormat.None
                : (p.GetValue(screen) ?? "text") switch { "text" => RunCommand.ScreenFormat.Text, "ansi" => RunCommand.ScreenFormat.Ansi, _ => (RunCommand.ScreenFormat?)null };
            if (screenFormat is null) return UsageError(stderr, "run", $"--screen {p.GetValue(screen)}: expected text or ansi");
            if (!TryTier(p, tier, out var cpuTier, out string? badTier)) return UsageError(stderr, "run", badTier!);
            string? misplaced = Misplaced(p, w is not null ? [step, noSlowdown, perTick, bug, intAbi, noInvariants, ticks, log, screen]
                : k is not null ? [ticks, log, screen, perSecond, gdb] : [mem, files, dirs, program]);
            if (misplaced is not null) return UsageError(stderr, "run", $"{misplaced} does not apply to run {(w is not null ? "--weensyos" : k is not null ? "--kernel" : "--profile posix")}");

            if (pr is not null)
            {
                if (pr != "posix") return UsageError(stderr, "run", $"unknown profile '{pr}' (only 'posix')");
                var words = p.GetValue(program) ?? [];
                if (words.Length == 0) return UsageError(stderr, "run", "PROGRAM is missing (a /bin name such as sh, or a host ELF such as ./a.out)");
                var places = (p.GetValue(files) ?? []).Select(f => PosixRun.Placement.Of("--file", f))
                    .Concat((p.GetValue(dirs) ?? []).Select(d => PosixRun.Placement.Of("--dir", d))).ToList();
                return PosixRun.Execute(new PosixRun.Arguments(words[0], words[1..], p.GetValue(mem) ?? PosixRun.DefaultMemory, places, cpuTier), stdout, stderr, stdin);
            }
            if (k is not null)
            {
                int? port = p.GetValue(gdb);
                if (port is < 0 or > 65535) return UsageError(stderr, "run", "--gdb needs a TCP port (0 to 65535; 0 picks a free one)");
                ulong ips = p.GetValue(perSecond) ?? new Lab.Kernel.Guest.GuestKernelOptions().InstructionsPerSecond;
                if (ips is < 1_000_000 or > 100_000_000_000) return UsageError(stderr, "run", "--instructions-per-second needs a number from 1000000 to 100000000000");
                return KernelRunCommand.Execute(new KernelRunCommand.Arguments(k, p.GetValue(ticks), p.GetValue(log), screenFormat.Value, ips, port, cpuTier), stdout, stderr);
            }
            if (w is not ("allocator" or "fork" or "forkexit") && !Lab.Kernel.Weensy.Plumbing.EmbeddedPrograms.Exists(w!, ProgramFlavour.Standard))
                return UsageError(stderr, "run", $"--weensyos {w}: expected allocator, fork or forkexit");
            if (p.GetValue(noSlowdown) && p.GetValue(intAbi)) return UsageError(stderr, "run", "--no-slowdown and --int-abi cannot be combined");
            LabBug? labBug = (p.GetValue(bug) ?? "none") switch
            {
                "none" => LabBug.None, "fork-no-copy" => LabBug.ForkNoCopy, "fork-leaks-page-tables" => LabBug.ForkLeaksPageTables, _ => null,
            };
            if (labBug is null) return UsageError(stderr, "run", $"--bug {p.GetValue(bug)}: expected none, fork-no-copy or fork-leaks-page-tables");
            var options = new KernelOptions
            {
                Step = p.GetValue(step) ?? LabStep.CopyOnWrite,
                Bug = labBug.Value,
                Boot = w!,
                Flavour = p.GetValue(intAbi) ? ProgramFlavour.IntAbi : p.GetValue(noSlowdown) ? ProgramFlavour.NoSlowdown : ProgramFlavour.Standard,
                TickLimit = p.GetValue(ticks) ?? 1000,
                Invariants = p.GetValue(noInvariants) ? InvariantChecks.None : InvariantChecks.EveryTick,
                InstructionsPerTick = p.GetValue(perTick) ?? KernelOptions.DefaultInstructionsPerTick,
                Tier = cpuTier,
            };
            return RunCommand.Execute(new RunCommand.Arguments(w!, options, p.GetValue(log), screenFormat.Value), stdout, stderr);
        });
        return run;
    }

    private static Command Connect(TextWriter stdout, TextWriter stderr)
    {
        var target = SessionTarget();
        target.Arity = ArgumentArity.ZeroOrOne;   // none: a dialog asks
        var (name, code, key) = Identity();
        var c = new Command("connect", "[HOST[:PORT]/SESSION] [--name NAME] [--code CODE | --key KEY]\n" +
            "watch and drive a session on a server (port 5080 by default); a join code makes you a participant, the instructor key the instructor; " +
            "without a session, a dialog asks for it")
        { target, name, code, key };
        c.SetAction(p => SessionCommands.Connect(p.GetValue(target), p.GetValue(name), p.GetValue(key) ?? p.GetValue(code), stderr));
        return c;
    }

    private static Command Local(TextWriter stdout, TextWriter stderr)
    {
        var weensyos = new Option<string?>("--weensyos") { Description = "Lab's WeensyOS with this program (allocator, fork, forkexit; the default is forkexit)", HelpName = "PROGRAM" };
        var profile = new Option<string?>("--profile") { Description = "posix: a console running PROGRAM (by default the shell `sh -i`)", HelpName = "posix" };
        var kernel = new Option<string?>("--kernel") { Description = "a kernel built from C, its processes being the address spaces its user code runs in", HelpName = "FILE" };
        var step = StepOption();
        var mem = SizeOption("--profile posix: guest memory (4M to 4G, default 64M)");
        var program = new Argument<string[]>("PROGRAM") { Description = "what the machine runs: a WeensyOS program, or a POSIX command line (a /bin name or a host ELF, and its arguments)", Arity = ArgumentArity.ZeroOrMore };
        var tier = TierOption();
        var c = new Command("local", "[--weensyos PROGRAM [--step S] | --profile posix [--mem SIZE] [PROGRAM ARGS...] | --kernel FILE]\n" +
            "the interactive interface with the machine running in this process")
        { weensyos, profile, kernel, step, mem, tier, program };
        c.SetAction(p =>
        {
            string? pr = p.GetValue(profile), k = p.GetValue(kernel), w = p.GetValue(weensyos);
            var words = p.GetValue(program) ?? [];
            if ((pr is null ? 0 : 1) + (k is null ? 0 : 1) + (w is null ? 0 : 1) > 1)
                return UsageError(stderr, "local", "give at most one of --weensyos, --profile posix and --kernel");
            if (pr is not null && pr != "posix") return UsageError(stderr, "local", $"unknown profile '{pr}' (only 'posix')");
            if (k is not null && words.Length > 0) return UsageError(stderr, "local", $"--kernel FILE runs the kernel; '{words[0]}' is not for it");
            if (pr is null && p.GetResult(mem) is not null) return UsageError(stderr, "local", "--mem applies to --profile posix");
            if (pr is not null && p.GetResult(step) is not null) return UsageError(stderr, "local", "--step applies to WeensyOS");
            if (w is not null && words.Length > 0) return UsageError(stderr, "local", $"--weensyos {w} already names the program; '{words[0]}' is extra");
            if (pr is null && k is null && words.Length > 1) return UsageError(stderr, "local", $"WeensyOS runs one program; '{words[1]}' is extra");
            if (!TryTier(p, tier, out var cpuTier, out string? badTier)) return UsageError(stderr, "local", badTier!);
            return SessionCommands.Local(new SessionCommands.LocalArguments(pr, k, w ?? (pr is null && k is null && words.Length > 0 ? words[0] : null),
                p.GetValue(step), p.GetValue(mem), words, cpuTier), stderr);
        });
        return c;
    }

    private static Command Sessions(TextWriter stdout, TextWriter stderr)
    {
        var host = new Argument<string>("HOST[:PORT]") { Description = "the server (port 5080 by default)" };
        var c = new Command("sessions", "HOST[:PORT]\nlist a server's sessions") { host };
        c.SetAction(p => SessionCommands.Sessions(p.GetValue(host)!, stdout, stderr));
        return c;
    }

    private static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var target = SessionTarget();
        var program = new Option<string?>("--program") { Description = "what it runs: allocator, fork or forkexit (WeensyOS); a command line such as \"sh -i\" (posix)", HelpName = "PROGRAM" };
        var step = StepOption();
        var profile = new Option<string?>("--profile") { Description = "posix for a POSIX session (a console, up to thousands of processes)", HelpName = "posix" };
        var kernel = new Option<string?>("--kernel") { Description = "upload a kernel built from C and run it", HelpName = "FILE" };
        var mem = SizeOption("--profile posix: guest memory (4M to 4G, default 64M)");
        var isPrivate = new Option<bool>("--private") { Description = "not listed; students join with the join code printed" };
        var c = new Command("create", "HOST[:PORT]/SESSION [--program P] [--step S] | --profile posix [--program \"sh -i\"] [--mem SIZE] | --kernel FILE   [--private]\n" +
            "create a session; prints the instructor key (and the join code)")
        { target, program, step, profile, kernel, mem, isPrivate };
        c.SetAction(p =>
        {
            string? pr = p.GetValue(profile), k = p.GetValue(kernel);
            if (pr is not null && k is not null) return UsageError(stderr, "create", "--profile and --kernel cannot be combined");
            if (pr is not null && pr != "posix") return UsageError(stderr, "create", $"unknown profile '{pr}' (only 'posix')");
            return SessionCommands.Create(new SessionCommands.CreateArguments(p.GetValue(target)!, pr, k, p.GetValue(program),
                p.GetValue(step) is { } st ? LabSteps.Name(st) : null, p.GetValue(mem), p.GetValue(isPrivate)), stdout, stderr);
        });
        return c;
    }

    private static Command Push(TextWriter stdout, TextWriter stderr)
    {
        var target = SessionTarget();
        var file = new Argument<string>("FILE") { Description = "the new kernel (obj/kernel, obj/kernel.full or weensyos.img)" };
        var (name, code, key) = Identity();
        var reboot = new Option<bool>("--reboot") { Description = "boot the new kernel at once" };
        var c = new Command("push", "HOST[:PORT]/SESSION FILE [--key KEY | --code CODE] [--name NAME] [--reboot]\n" +
            "replace a kernel session's kernel with a new build (drivers); `reboot` (or --reboot) boots it")
        { target, file, name, code, key, reboot };
        c.SetAction(p => SessionCommands.Push(p.GetValue(target)!, p.GetValue(file)!, p.GetValue(name), p.GetValue(key) ?? p.GetValue(code), p.GetValue(reboot), stdout, stderr));
        return c;
    }

    private static Command Upload(TextWriter stdout, TextWriter stderr)
    {
        var target = SessionTarget();
        var file = new Argument<string>("FILE") { Description = "the host file" };
        var path = new Argument<string?>("PATH") { Description = "where it goes in the guest (default /home/student/NAME; a relative PATH starts there)", Arity = ArgumentArity.ZeroOrOne };
        var (name, code, key) = Identity();
        var c = new Command("upload", "HOST[:PORT]/SESSION FILE [PATH] [--key KEY | --code CODE] [--name NAME]\n" +
            "put a file into a POSIX session (drivers)")
        { target, file, path, name, code, key };
        c.SetAction(p => SessionCommands.UploadFile(p.GetValue(target)!, p.GetValue(file)!, p.GetValue(path), p.GetValue(name), p.GetValue(key) ?? p.GetValue(code), stdout, stderr));
        return c;
    }

    private static Command Gdb(TextWriter stdout, TextWriter stderr)
    {
        var target = SessionTarget();
        var port = new Option<int>("--port") { Description = "the loopback port gdb attaches to (0 picks one)", HelpName = "PORT", DefaultValueFactory = _ => 1234 };
        var (name, code, key) = Identity();
        var c = new Command("gdb", "HOST[:PORT]/SESSION [--port 1234] [--key KEY | --code CODE] [--name NAME]\n" +
            "serve gdb on a local port, bridged to a kernel session's shared debugger (gdb obj/kernel.full -ex 'target remote :1234')")
        { target, port, name, code, key };
        c.SetAction(p =>
        {
            if (p.GetValue(port) is < 0 or > 65535) return UsageError(stderr, "gdb", "--port needs a TCP port (0 to 65535)");
            return SessionCommands.Gdb(p.GetValue(target)!, p.GetValue(port), p.GetValue(name), p.GetValue(key) ?? p.GetValue(code), stderr);
        });
        return c;
    }

    // ---- options used by several commands ----

    /// <summary>HOST[:PORT]/SESSION, checked when parsed.</summary>
    private static Argument<SessionCommands.Target> SessionTarget() => new("HOST[:PORT]/SESSION")
    {
        Description = "the server (port 5080 by default) and the session's name",
        CustomParser = r =>
        {
            if (r.Tokens.Count == 0) return null;
            string text = r.Tokens[0].Value;
            if (SessionCommands.ParseTarget(text) is { Session: not null } t) return new SessionCommands.Target(text, t.BaseUrl, t.Session);
            r.AddError($"'{text}' is not HOST[:PORT]/SESSION (e.g. lab.example.org/demo or localhost:5080/lab4)");
            return null;
        },
    };

    /// <summary>--tier for the commands that run a machine here (run, local).</summary>
    private static Option<string?> TierOption() => new("--tier")
    {
        Description = "the CPU's execution tier: jit (the default: hot blocks compiled) or interp (the interpreter alone); LAB_TIER sets the default",
        HelpName = "interp|jit",
    };

    /// <summary>The tier --tier names (null when not given); false with the usage error for an unknown name.</summary>
    private static bool TryTier(ParseResult p, Option<string?> option, out Lab.Machine.ExecutionTier? tier, out string? error)
    {
        tier = null;
        error = null;
        if (p.GetValue(option) is not { } name) return true;
        tier = Lab.Machine.MachineOptions.ParseTier(name);
        if (tier is null) error = $"--tier {name}: expected interp or jit";
        return tier is not null;
    }

    private static (Option<string?> Name, Option<string?> Code, Option<string?> Key) Identity() => (
        new Option<string?>("--name") { Description = "the name others see (default: your login name)", HelpName = "NAME" },
        new Option<string?>("--code") { Description = "the session's join code (students of a private session)", HelpName = "CODE" },
        new Option<string?>("--key") { Description = "the instructor key printed by tui create", HelpName = "KEY" });

    private static Option<LabStep?> StepOption() => new("--step")
    {
        Description = $"WeensyOS: the lab step the kernel has reached ({LabSteps.Choices}; default cow)",
        HelpName = "STEP",
        CustomParser = r =>
        {
            if (LabSteps.Parse(r.Tokens[0].Value) is { } s) return s;
            r.AddError($"--step {r.Tokens[0].Value}: expected {LabSteps.Choices}");
            return null;
        },
    };

    private static Option<ulong?> Positive(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "N",
        CustomParser = r =>
        {
            if (ulong.TryParse(r.Tokens[0].Value, out ulong n) && n > 0) return n;
            r.AddError($"{name} needs a positive number (got '{r.Tokens[0].Value}')");
            return null;
        },
    };

    private static Option<ulong?> SizeOption(string description) => new("--mem")
    {
        Description = description,
        HelpName = "SIZE",
        CustomParser = r =>
        {
            if (PosixRun.TryParseSize(r.Tokens[0].Value, out ulong bytes) && bytes >= (4UL << 20) && bytes <= (4UL << 30)) return bytes;
            r.AddError($"--mem needs a size from 4M to 4G such as 64M (got '{r.Tokens[0].Value}')");
            return null;
        },
    };

    /// <summary>The first of <paramref name="allowed"/>'s complement that was given: an option meant
    /// for another mode of the same command.</summary>
    private static string? Misplaced(ParseResult p, Symbol[] allowed)
    {
        foreach (var child in p.CommandResult.Children)
        {
            Symbol s = child switch { OptionResult o => o.Option, ArgumentResult a => a.Argument, _ => null! };
            if (s is null || allowed.Contains(s) || child is OptionResult { Implicit: true }) continue;
            if (s is Option o2 && o2.Name is "--weensyos" or "--kernel" or "--profile" or "--tier") continue;   // every mode's
            if (child is ArgumentResult ar && ar.Tokens.Count == 0) continue;
            return s is Option opt ? opt.Name : s.Name;
        }
        return null;
    }

    /// <summary>
    /// For `run` and `local`: everything from the first word that is neither an option nor an
    /// option's value is the guest's command line, so a `--` goes before it (its own options, such
    /// as `sh -i` or `prog --help`, are then left alone). An unknown option before it is an error
    /// (the guest's argument list would otherwise swallow it). Other commands are returned as they are.
    /// </summary>
    private static (string[] Args, string? Error) GuestCommandAfterOptions(Command root, string[] args)
    {
        if (args.Length < 2 || args[0] is not ("run" or "local")) return (args, null);
        var command = root.Subcommands.First(c => c.Name == args[0]);
        for (int i = 1; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--") return (args, null);
            if (!a.StartsWith('-') || a == "-") return ([.. args[..i], "--", .. args[i..]], null);
            string name = a.Contains('=') ? a[..a.IndexOf('=')] : a;
            var option = command.Options.Concat(root.Options.Where(o => o.Recursive))
                .FirstOrDefault(o => o.Name == name || o.Aliases.Contains(name));
            if (option is null) return (args, $"Unrecognized command or argument '{a}'.");
            if (!a.Contains('=') && option.Arity.MinimumNumberOfValues > 0) i++;   // its value
        }
        return (args, null);
    }
}
