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

    /// <summary>Runs a parsed `tui run --weensyos` (see <see cref="Cli"/>).</summary>
    public static int Execute(Arguments a, TextWriter stdout, TextWriter stderr)
    {
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
        // Said even when nothing else is asked for, so a bare run is not silent.
        stderr.WriteLine($"tui run: {a.Program} ran {k.Ticks} ticks: no panic, {(a.Options.Invariants == InvariantChecks.None ? "invariants not checked" : "the kernel's invariants held")}"
            + (a.Screen == ScreenFormat.None && a.LogFile is null ? " (--screen prints the final screen, --log FILE writes the grading log)" : ""));
        return 0;
    }
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
    public const ulong DefaultMemory = 64UL << 20;

    /// <summary>A file or directory tree to place before the run: `--file HOST[=GUEST]` or `--dir HOST=GUEST`.</summary>
    public sealed record Placement(string Option, string Host, string? Guest)
    {
        public static Placement Of(string option, string spec)
        {
            int eq = spec.IndexOf('=');
            return new Placement(option, eq < 0 ? spec : spec[..eq], eq < 0 ? null : spec[(eq + 1)..]);
        }
    }

    /// <summary>A parsed `tui run --profile posix` (see <see cref="Cli"/>).</summary>
    public sealed record Arguments(string Program, string[] ProgramArguments, ulong Memory, IReadOnlyList<Placement> Places,
        Lab.Machine.ExecutionTier? Tier = null);

    public static int Execute(Arguments a, TextWriter stdout, TextWriter stderr, Func<Stream> stdin)
    {
        string program = a.Program;
        var rest = a.ProgramArguments;
        ulong mem = a.Memory;
        var places = a.Places;
        using var machine = new Lab.Kernel.Posix.PosixMachine(new Lab.Kernel.Posix.PosixOptions { MemorySize = mem, Tier = a.Tier });
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
        // Ctrl-C at the host's terminal goes to the guest, as qemu-user forwards it: SIGINT to the
        // console's foreground process group (a program that catches or ignores it runs on).
        int interrupts = 0;
        ConsoleCancelEventHandler onCtrlC = (_, e) => { e.Cancel = true; Interlocked.Increment(ref interrupts); };
        Console.CancelKeyPress += onCtrlC;
        try
        {
            while (!machine.RunUntilAllExit(50_000_000, idleWait: () => { Thread.Sleep(5); return Volatile.Read(ref interrupts) == 0; })
                   && machine.Kernel.KernelError is null)
                if (Interlocked.Exchange(ref interrupts, 0) > 0) machine.Kernel.Interrupt();
        }
        finally { Console.CancelKeyPress -= onCtrlC; }
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
