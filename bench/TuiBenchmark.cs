using System.Diagnostics;
using Lab.Shared.Wire;
using Lab.TuiClient.Net;

namespace Lab.Bench;

/// <summary>
/// `bench tui`: the interactive client as a person sees it, through tmux, with real processes (issue 13).
///
/// 0. The floor: the same typing through a SignalR client without the TUI or tmux (the server's share).
/// 1. Key-press-to-screen latency: `tui local --profile posix --mem 32M` in a detached tmux session per
///    terminal size; one printable key at a time goes in with send-keys -l and capture-pane is polled
///    back to back until the shell's echo of it is on the screen. Also a key whose effect is the UI's
///    own (F5 to the event log and F2 back: until the focus marker moves). The stopwatch starts before
///    send-keys, so each sample includes starting one tmux client and at least one capture-pane; the
///    cost of capture-pane alone is measured on a still screen and printed so the reader can subtract it.
/// 2. Idle CPU: the same `tui local` (machine in the process) with the shell idle at its prompt and with
///    the machine paused from the command bar (the client's cost when nothing changes); then, against a
///    server in a child process (this program with `tui --serve`, the demo session running forkexit),
///    `tui connect HOST/demo` as a viewer at each size once the demo is on the screen: the client's CPU
///    (/proc utime+stime), the bytes it writes (mostly to the terminal) and the server's CPU over the
///    same window.
/// </summary>
public static class TuiBenchmark
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    // Before each CPU window: measurement hygiene, not correctness. Start-up, the typing just before and
    // .NET's tiered compilation cost more in the first seconds (a 3 s window right after start-up read
    // twice the steady figure).
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(5);
    private const int LineLength = 40;   // typed keys per line before Ctrl+U clears it (no wrap at 80 columns)

    private sealed record Options(int Samples, int UiSamples, int Seconds, (int W, int H)[] Sizes, int Captures, int PollMs);

    private sealed record Latency(double[] Ms, double PollsPerSample);

    private sealed record Cpu(double ClientPercent, double WrittenKBps, double? ServerPercent);

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "--serve")
        {
            Lab.Server.LabServerHost.Create(args[1..]).Run();
            return 0;
        }
        var o = new Options(200, 40, 10, [(160, 50), (80, 24)], 100, 0);
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new BenchmarkException($"option '{args[i]}' needs a value");
            switch (args[i])
            {
                case "--samples": o = o with { Samples = PositiveInt(Next()) }; break;
                case "--ui-samples": o = o with { UiSamples = PositiveInt(Next()) }; break;
                case "--seconds": o = o with { Seconds = PositiveInt(Next()) }; break;
                case "--poll-ms": o = o with { PollMs = int.TryParse(Next(), out int ms) && ms >= 0 ? ms : throw new BenchmarkException("--poll-ms needs a number of milliseconds") }; break;
                case "--sizes": o = o with { Sizes = Next().Split(',').Select(ParseSize).ToArray() }; break;
                case "--help":
                    Console.WriteLine("usage: bench tui [--samples 200] [--ui-samples 40] [--seconds 10] [--sizes 160x50,80x24] [--poll-ms 0]");
                    Console.WriteLine("  typed-key and F5/F2 latency through tmux in `tui local --profile posix`, then the idle CPU of");
                    Console.WriteLine("  `tui connect` watching the demo and of `tui local` idle and paused, per terminal size;");
                    Console.WriteLine("  --poll-ms: a pause between two capture-pane polls (0: back to back)");
                    return 0;
                default: throw new BenchmarkException($"unknown option '{args[i]}'");
            }
        }
        Tmux.Require();
        string tuiDll = Path.Combine(AppContext.BaseDirectory, "tui.dll");
        if (!File.Exists(tuiDll)) throw new BenchmarkException($"{tuiDll} is missing (build the bench project, which builds TuiClient)");
        string tui = $"dotnet {tuiDll}";

        Console.WriteLine($"tui: {Environment.ProcessorCount} cores, load average {LoadAverage()} at start; client = `{tui}`");
        var server = ServerProcess.StartAsync("tui").GetAwaiter().GetResult();
        try
        {
            Measure(o, tui, server);
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        return 0;
    }

    private static void Measure(Options o, string tui, ServerProcess server)
    {
        var summary = new List<string>();
        var cpuRows = new List<string>();
        double captureMs = double.NaN;
        Console.WriteLine($"{"size",-7} {"key",-28} {"N",4} {"p50 ms",7} {"p90 ms",7} {"p99 ms",7} {"max ms",7} {"polls",6}");
        var echo = new Latency(MeasureServerEcho(server, o.Samples).GetAwaiter().GetResult(), 0);
        PrintLatency("-", "typed key, no TUI (SignalR)", echo);
        summary.Add($"server_key_p50_ms={Stats.Percentile(echo.Ms, 0.5):F1}");
        foreach (var (w, h) in o.Sizes)
        {
            string size = $"{w}x{h}";
            using var t = new Tmux(w, h, $"{tui} local --profile posix --mem 32M");
            int pid = t.FindProcess("tui.dll");
            t.WaitFor(s => PromptLine(s) != null, "the shell prompt of tui local", Timeout);
            // A few unmeasured keys first: the first keys pay for .NET's just-in-time compilation.
            MeasureTyping(t, 10, o.PollMs);
            var typed = MeasureTyping(t, o.Samples, o.PollMs);
            PrintLatency(size, "typed key (shell echo)", typed);
            var ui = MeasureTabs(t, o.UiSamples, o.PollMs);
            PrintLatency(size, "F5/F2 (focus marker moves)", ui);
            if (double.IsNaN(captureMs))
            {
                captureMs = MeasureCapture(t, o.Captures);
                Console.WriteLine($"{size,-7} {"capture-pane alone",-28} {o.Captures,4} {captureMs,7:F1}  (median of a still screen; every sample includes at least one)");
            }
            summary.Add($"key{size}_p50_ms={Stats.Percentile(typed.Ms, 0.5):F1} key{size}_p99_ms={Stats.Percentile(typed.Ms, 0.99):F1} ui{size}_p50_ms={Stats.Percentile(ui.Ms, 0.5):F1}");

            // The same tui local, idle: the shell waits at its prompt, then the machine is paused.
            Thread.Sleep(Settle);
            var idle = MeasureCpu(pid, null, o.Seconds);
            cpuRows.Add(CpuRow(size, "tui local, shell at prompt", idle));
            t.Keys("F8");
            t.Type("pause");
            t.Keys("Enter");
            t.WaitFor(s => StatusLine(s).Contains("│ paused │"), "the paused status", Timeout);
            Thread.Sleep(Settle);
            var paused = MeasureCpu(pid, null, o.Seconds);
            cpuRows.Add(CpuRow(size, "tui local, machine paused", paused));
            summary.Add($"local{size}_cpu_pct={idle.ClientPercent:F1} paused{size}_cpu_pct={paused.ClientPercent:F1}");
            QuitLocal(t, pid);
        }

        Console.WriteLine();
        Console.WriteLine($"idle client CPU, {o.Seconds} s per row (% of one core; KB/s = bytes the client wrote: the terminal, its socket and, for tui local, the in-process server's files):");
        Console.WriteLine($"{"size",-7} {"client",-28} {"CPU %",7} {"KB/s",7} {"server CPU %",13}");
        foreach (string row in cpuRows) Console.WriteLine(row);
        string target = server.Url.Replace("http://", "") + "/demo";
        foreach (var (w, h) in o.Sizes)
        {
            string size = $"{w}x{h}";
            using var t = new Tmux(w, h, $"{tui} connect {target} --name watcher");
            int pid = t.FindProcess("tui.dll");
            t.WaitFor(s => s.Contains("PHYSICAL MEMORY"), "the demo's screen in tui connect", Timeout);
            Thread.Sleep(Settle);
            var watch = MeasureCpu(pid, server, o.Seconds);
            Console.WriteLine(CpuRow(size, "tui connect, watching demo", watch));
            summary.Add($"watch{size}_cpu_pct={watch.ClientPercent:F1} watch{size}_server_cpu_pct={watch.ServerPercent:F1}");
        }
        Console.WriteLine($"load average {LoadAverage()} at the end");
        Console.WriteLine($"tui {string.Join(' ', summary)} capture_ms={captureMs:F1}");
    }

    // ------------------------------------------------------------------------------------------
    // Latency.

    /// <summary>
    /// Types <paramref name="samples"/> keys one at a time; each is timed from before send-keys until the
    /// prompt line shows it. Every <see cref="LineLength"/> keys Ctrl+U (the guest tty's line kill)
    /// clears the line, unmeasured, so it never wraps.
    /// </summary>
    private static Latency MeasureTyping(Tmux t, int samples, int pollMs)
    {
        var ms = new double[samples];
        long polls = 0;
        string typed = "";
        for (int i = 0; i < samples; i++)
        {
            if (typed.Length == LineLength) typed = ClearLine(t, typed);
            char c = (char)('a' + (i * 7 + typed.Length) % 26);
            string expected = "$ " + typed + c;
            var clock = Stopwatch.StartNew();
            t.Type(c.ToString());
            polls += PollUntil(t, s => s.Contains(expected, StringComparison.Ordinal), $"'{c}' echoed on the prompt line", pollMs);
            ms[i] = clock.Elapsed.TotalMilliseconds;
            typed += c;
        }
        ClearLine(t, typed);
        return new Latency(ms, (double)polls / samples);
    }

    private static string ClearLine(Tmux t, string typed)
    {
        t.Keys("C-u");
        t.WaitFor(s => !s.Contains("$ " + typed, StringComparison.Ordinal) && PromptLine(s) != null, "the prompt line cleared by Ctrl+U", Timeout);
        return "";
    }

    /// <summary>
    /// The same typing without the TUI or tmux: a SignalR client (<see cref="LabClient"/>, as the TUI's)
    /// creates a POSIX session like tui local's on <paramref name="server"/>, sends one key at a time and
    /// times until a frame whose console shows its echo has arrived. The TUI's figure minus this one is
    /// the share of the TUI (input, redraw), tmux and the polling.
    /// </summary>
    private static async Task<double[]> MeasureServerEcho(ServerProcess server, int samples)
    {
        await using var client = new LabClient(server.Url, reconnect: false);
        var mirror = new SessionMirror();
        var waiting = new object();
        Func<string[], bool>? condition = null;
        TaskCompletionSource? seen = null;
        client.OnFrame(f =>
        {
            mirror.Apply(f);
            lock (waiting)
                if (condition != null && condition(mirror.ScreenText())) seen!.TrySetResult();
        });
        async Task Until(Func<string[], bool> what, string description)
        {
            var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (waiting)
            {
                condition = what;
                seen = tcs;
                if (what(mirror.ScreenText())) tcs.TrySetResult();
            }
            if (await Task.WhenAny(tcs.Task, Task.Delay(Timeout)) != tcs.Task)
                throw new BenchmarkException($"no frame showed {description} within {Timeout.TotalSeconds:F0} s; the console shows:\n{string.Join('\n', mirror.ScreenText())}");
        }
        static bool Shows(string[] lines, string text) => lines.Any(l => l.TrimEnd().EndsWith(text, StringComparison.Ordinal));

        await client.StartAsync();
        var created = await client.CreateSession(new CreateSessionOptions("bench-keys", "sh -i", "cow", "posix", false, 32));
        await client.Join(created.Name, "bench", created.InstructorKey);
        await Until(lines => Shows(lines, "$"), "the shell prompt");
        var ms = new List<double>();
        string typed = "";
        for (int i = 0; i < samples + 10; i++)   // the first 10 warm up (JIT), unmeasured
        {
            if (typed.Length == LineLength)
            {
                await client.Type("\u0015");
                await Until(lines => Shows(lines, "$") && !lines.Any(l => l.Contains("$ " + typed, StringComparison.Ordinal)), "the line cleared by Ctrl+U");
                typed = "";
            }
            char c = (char)('a' + (i * 7 + typed.Length) % 26);
            string expected = "$ " + typed + c;
            var clock = Stopwatch.StartNew();
            await client.Key(c.ToString());
            await Until(lines => Shows(lines, expected), $"'{c}' echoed");
            if (i >= 10) ms.Add(clock.Elapsed.TotalMilliseconds);
            typed += c;
        }
        await client.Command("close");   // the server's CPU below is the demo's and its viewer's only
        return ms.ToArray();
    }

    /// <summary>F5 (focus the event log) and F2 (back to the console), alternately; each until the focus marker moves.</summary>
    private static Latency MeasureTabs(Tmux t, int samples, int pollMs)
    {
        var ms = new double[samples];
        long polls = 0;
        for (int i = 0; i < samples; i++)
        {
            bool toEvents = i % 2 == 0;
            var clock = Stopwatch.StartNew();
            t.Keys(toEvents ? "F5" : "F2");
            polls += toEvents
                ? PollUntil(t, s => s.Contains("▶ F5 events", StringComparison.Ordinal), "the event log focused (F5)", pollMs)
                : PollUntil(t, s => !s.Contains("▶ F5", StringComparison.Ordinal) && PromptLine(s) != null, "the console back (F2)", pollMs);
            ms[i] = clock.Elapsed.TotalMilliseconds;
        }
        if (samples % 2 == 1)
        {
            t.Keys("F2");
            t.WaitFor(s => !s.Contains("▶ F5", StringComparison.Ordinal), "the console back (F2)", Timeout);
        }
        return new Latency(ms, (double)polls / samples);
    }

    /// <summary>Captures (back to back, or <paramref name="pollMs"/> apart) until <paramref name="condition"/> holds; returns how many captures it took.</summary>
    private static int PollUntil(Tmux t, Func<string, bool> condition, string what, int pollMs)
    {
        var clock = Stopwatch.StartNew();
        string screen = "";
        for (int polls = 1; ; polls++)
        {
            screen = t.Capture();
            if (condition(screen)) return polls;
            if (clock.Elapsed > Timeout)
                throw new BenchmarkException($"a key was lost: no {what} after {Timeout.TotalSeconds:F0} s; the screen shows:\n{screen}");
            if (pollMs > 0) Thread.Sleep(pollMs);
        }
    }

    /// <summary>The median cost of one capture-pane of a screen that does not change.</summary>
    private static double MeasureCapture(Tmux t, int captures)
    {
        var ms = new double[captures];
        for (int i = 0; i < captures; i++)
        {
            var clock = Stopwatch.StartNew();
            t.Capture();
            ms[i] = clock.Elapsed.TotalMilliseconds;
        }
        return Stats.Median(ms);
    }

    private static void PrintLatency(string size, string what, Latency l) =>
        Console.WriteLine($"{size,-7} {what,-28} {l.Ms.Length,4} {Stats.Percentile(l.Ms, 0.5),7:F1} {Stats.Percentile(l.Ms, 0.9),7:F1} " +
                          $"{Stats.Percentile(l.Ms, 0.99),7:F1} {l.Ms.Max(),7:F1} {l.PollsPerSample,6:F1}");

    /// <summary>The console row holding the shell's prompt ("$", maybe with typed text), or null.</summary>
    private static string? PromptLine(string screen) =>
        screen.Split('\n').SelectMany(l => l.Split('│')).Select(part => part.Trim())
            .LastOrDefault(part => part == "$" || part.StartsWith("$ ", StringComparison.Ordinal));

    private static string StatusLine(string screen) => screen.TrimEnd('\n').Split('\n').Last();

    /// <summary>
    /// F10 and Yes to the quit question: tui local ends and removes its machine's data folder itself (the
    /// hang-up when the tmux server is killed leaves that folder behind in /tmp).
    /// </summary>
    private static void QuitLocal(Tmux t, int pid)
    {
        using var process = Process.GetProcessById(pid);
        t.Keys("F10");
        t.WaitFor(s => s.Contains("Quit tui local?"), "the quit question", Timeout);
        t.Keys("y");
        if (!process.WaitForExit(Timeout)) throw new BenchmarkException($"tui local (pid {pid}) did not exit after F10 and y");
    }

    // ------------------------------------------------------------------------------------------
    // CPU.

    /// <summary>
    /// The client's CPU (% of one core) and bytes written per second over <paramref name="seconds"/>, and
    /// the server's CPU over the same window when there is one.
    /// </summary>
    private static Cpu MeasureCpu(int pid, ServerProcess? server, int seconds)
    {
        using var client = Process.GetProcessById(pid);
        var cpu0 = client.TotalProcessorTime;
        long written0 = WrittenBytes(pid);
        var server0 = server?.CpuTime;
        var clock = Stopwatch.StartNew();
        Thread.Sleep(TimeSpan.FromSeconds(seconds));   // the measured window
        client.Refresh();
        if (client.HasExited) throw new BenchmarkException($"the client (pid {pid}) exited while measured");
        double elapsed = clock.Elapsed.TotalSeconds;
        var cpu = (client.TotalProcessorTime - cpu0).TotalSeconds / elapsed * 100;
        double written = (WrittenBytes(pid) - written0) / elapsed / 1024;
        double? serverCpu = server0 is { } s0 ? (server!.CpuTime - s0).TotalSeconds / elapsed * 100 : null;
        return new Cpu(cpu, written, serverCpu);
    }

    /// <summary>Bytes the process has passed to write-like system calls (/proc/PID/io wchar).</summary>
    private static long WrittenBytes(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/io"))
            if (line.StartsWith("wchar:", StringComparison.Ordinal)) return long.Parse(line[6..].Trim());
        throw new BenchmarkException($"/proc/{pid}/io has no wchar");
    }

    private static string CpuRow(string size, string what, Cpu c) =>
        $"{size,-7} {what,-28} {c.ClientPercent,7:F1} {c.WrittenKBps,7:F1} {(c.ServerPercent is { } s ? $"{s,13:F1}" : $"{"(in client)",13}")}";

    private static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static int PositiveInt(string s) =>
        int.TryParse(s, out int n) && n > 0 ? n : throw new BenchmarkException($"'{s}' is not a positive number");

    private static (int, int) ParseSize(string s)
    {
        var parts = s.Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int w) || !int.TryParse(parts[1], out int h) || w < 80 || h < 24)
            throw new BenchmarkException($"'{s}' is not a terminal size WIDTHxHEIGHT of at least 80x24");
        return (w, h);
    }
}
