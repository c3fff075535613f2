using Lab.TestSupport;
using Lab.TuiClient.App;

namespace Lab.TuiClient.Tests;

/// <summary>
/// The `tui` command line as a user types it (System.CommandLine): --help answers for every command
/// without doing anything else, an unknown or misspelt option is refused by name (exit 2) instead of
/// being ignored, bad values name the option, and a POSIX program's own options reach the program.
/// </summary>
public class CliTests
{
    private static (int Code, string Out, string Err) Tui(params string[] args) => TuiRunTests.Tui(args);

    public static TheoryData<string> Commands => new() { "run", "cc", "connect", "local", "sessions", "create", "push", "upload", "gdb" };

    [Theory, MemberData(nameof(Commands))]
    public void Every_command_answers_help_and_does_nothing_else(string command)
    {
        var (code, output, err) = Tui(command, "--help");
        Assert.True(code == 0, err);
        Assert.Contains("Usage:", output);
        Assert.Contains($"tui {command}", output);
        Assert.Equal("", err);       // no host named --help was tried, no machine started
    }

    [Fact]
    public void The_top_level_help_lists_every_command()
    {
        var (code, output, _) = Tui("--help");
        Assert.Equal(0, code);
        foreach (var command in Commands) Assert.Contains($"  {command}", output);
        Assert.Equal(2, Tui().Code);
    }

    [Fact]
    public void A_misspelt_option_is_refused_by_name_not_ignored()
    {
        // Before: `--nmae dave` was skipped and the user joined under their login name.
        var (code, output, err) = Tui("connect", "127.0.0.1:1/s1", "--nmae", "dave");
        Assert.Equal(2, code);
        Assert.Contains("'--nmae'", err);
        Assert.DoesNotContain("cannot reach", err);              // refused before connecting
        Assert.Equal("", output);

        (code, _, err) = Tui("run", "--weensyos", "fork", "--tick", "5");
        Assert.Equal(2, code);
        Assert.Contains("'--tick'", err);
        (code, _, err) = Tui("create", "127.0.0.1:1/s1", "--privat");
        Assert.Equal(2, code);
        Assert.Contains("'--privat'", err);
    }

    [Fact]
    public void Bad_values_and_options_of_another_mode_name_the_option()
    {
        Assert.Contains("--step 9: expected 0..7 or cow", Tui("run", "--weensyos", "fork", "--step", "9").Err);
        Assert.Contains("--ticks needs a positive number", Tui("run", "--weensyos", "fork", "--ticks", "0").Err);
        Assert.Contains("--mem needs a size from 4M to 4G", Tui("run", "--profile", "posix", "--mem", "1K", "true").Err);
        var (code, _, err) = Tui("run", "--weensyos", "fork", "--gdb", "1234");
        Assert.Equal(2, code);
        Assert.Contains("--gdb does not apply to run --weensyos", err);
        (code, _, err) = Tui("run", "--weensyos", "fork", "--kernel", "k");
        Assert.Equal(2, code);
        Assert.Contains("give one of --weensyos PROGRAM, --kernel FILE or --profile posix PROGRAM", err);
        (code, _, err) = Tui("connect", "nohost");
        Assert.Equal(2, code);
        Assert.Contains("'nohost' is not HOST[:PORT]/SESSION", err);
        (code, _, err) = Tui("gdb", "127.0.0.1:1/s1", "--port", "70000");
        Assert.Equal(2, code);
        Assert.Contains("--port needs a TCP port", err);
        (code, _, err) = Tui("local", "--profile", "posix", "--step", "3");
        Assert.Equal(2, code);
        Assert.Contains("--step applies to WeensyOS", err);
    }

    /// <summary>`--tier interp|jit` picks the CPU's execution tier; both give the same run, and a wrong name is refused.</summary>
    [Fact]
    public void Run_takes_the_execution_tier()
    {
        var interp = Tui("run", "--tier", "interp", "--weensyos", "forkexit", "--ticks", "300", "--screen");
        var jit = Tui("run", "--tier", "jit", "--weensyos", "forkexit", "--ticks", "300", "--screen");
        Assert.True(interp.Code == 0, interp.Err);
        Assert.Equal(interp.Out, jit.Out);
        Assert.Contains("PHYSICAL MEMORY", jit.Out);
        var posix = Tui("run", "--tier", "interp", "--profile", "posix", "echo", "tiers");
        Assert.Equal("tiers\n", posix.Out);
        var (code, _, err) = Tui("run", "--tier", "fast", "--weensyos", "fork");
        Assert.Equal(2, code);
        Assert.Contains("--tier fast: expected interp or jit", err);
        (code, _, err) = Tui("local", "--tier", "fast");
        Assert.Equal(2, code);
        Assert.Contains("tui local: --tier fast: expected interp or jit", err);
    }

    [Fact]
    public void A_posix_programs_own_options_reach_it_untouched()
    {
        var (code, output, err) = Tui("run", "--profile", "posix", "echo", "--help", "-n", "--mem", "x");
        Assert.True(code == 0, err);
        Assert.Equal("--help -n --mem x\n", output);
        (code, output, _) = Tui("run", "--profile", "posix", "--mem", "16M", "--", "echo", "after", "--");
        Assert.Equal(0, code);
        Assert.Equal("after --\n", output);
    }

    [Fact]
    public void A_bare_weensyos_run_says_how_it_ended()
    {
        var (code, output, err) = Tui("run", "--weensyos", "fork", "--ticks", "20");
        Assert.Equal(0, code);
        Assert.Equal("", output);
        Assert.Contains("fork ran 20 ticks: no panic, the kernel's invariants held", err);
        Assert.Contains("--screen prints the final screen", err);
    }

    /// <summary>`tui local --profile posix ./prog ARGS` takes a host program as `tui run` does (it was
    /// refused: only /bin names were known): the session's console shows the program's output.</summary>
    [Fact]
    public async Task Tui_local_runs_a_host_program_as_tui_run_does()
    {
        string source = Path.Combine(Path.GetDirectoryName(ThisFile())!, "Programs", "datafiles.c");
        string program = Gcc.Build([source], ["-static", "-O1"], "datafiles");
        var err = new StringWriter();
        var settings = SessionCommands.LocalSettings(new SessionCommands.LocalArguments("posix", null, null, null, null, [program, "hello"]), err, out int failure);
        Assert.True(settings is not null, err.ToString());
        Assert.Equal("/bin/datafiles hello", settings.Program);
        await using var server = await LocalServer.StartAsync(settings);
        await using var session = await server.ConnectAsync(CancellationToken.None);
        for (int i = 0; i < 600 && session.Mirror.Status?.Halted is null; i++) await Task.Delay(100);
        Assert.Contains("/bin/datafiles exited with status 0", session.Mirror.Status?.Halted);
        Assert.Contains("input.txt: cannot open", string.Join("\n", session.Mirror.ScreenText()));   // nothing was placed beside it

        Assert.Null(SessionCommands.LocalSettings(new SessionCommands.LocalArguments("posix", null, null, null, null, ["./no-such-program"]), err, out failure));
        Assert.Equal(127, failure);
        Assert.Contains("cannot read ./no-such-program", err.ToString());
    }

    private static string ThisFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;
}
