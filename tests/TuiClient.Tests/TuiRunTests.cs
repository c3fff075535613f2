using Lab.TestSupport;

namespace Lab.TuiClient.Tests;

/// <summary>`tui run` end to end (in-process): WeensyOS screens and logs, POSIX exit statuses.</summary>
public class TuiRunTests
{
    /// <summary>Runs `tui ARGS` in this process: its exit code and what it printed.</summary>
    internal static (int Code, string Out, string Err) Tui(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Cli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void Run_prints_the_screen_and_writes_the_log()
    {
        string log = Path.Combine(Path.GetTempPath(), $"weensy-{Guid.NewGuid():N}.log");
        try
        {
            var (code, output, err) = Tui("run", "--weensyos", "allocator", "--ticks", "300", "--no-slowdown",
                "--log", log, "--screen", "--instructions-per-tick", "300");
            Assert.True(code == 0, err);
            string[] lines = output.Split('\n');
            Assert.Equal("                                PHYSICAL MEMORY", lines[0]);
            Assert.StartsWith("   0x000000 R", lines[1]);
            var oracle = new GradingOracle(File.ReadAllText(log));
            Assert.Equal([0, 100, 200], oracle.Physical.Keys);
            Assert.True(oracle.Stage(1).Passed);
        }
        finally { File.Delete(log); }
    }

    [Fact]
    public void Ansi_screen_has_colours()
    {
        var (code, output, _) = Tui("run", "--weensyos", "fork", "--ticks", "50", "--screen=ansi");
        Assert.Equal(0, code);
        Assert.Contains("\x1b[0;95;40mK", output);                 // light magenta kernel page
    }

    [Fact]
    public void Panic_gives_non_zero_status_and_the_reason()
    {
        var (code, _, err) = Tui("run", "--weensyos", "fork", "--step", "0", "--ticks", "100");
        Assert.Equal(1, code);
        Assert.Contains("Unexpected exception 52!", err);
    }

    [Fact]
    public void Bad_usage_and_unreachable_servers_give_one_clear_line()
    {
        Assert.Equal(2, Tui("run", "--weensyos", "nope").Code);
        Assert.Equal(2, Tui("run", "--weensyos", "fork", "--step", "9").Code);
        // Without a session `tui connect` asks in a dialog, on a terminal; here (no terminal) it says what is missing.
        var (code, _, err) = Tui("connect");
        Assert.Equal(2, code);
        Assert.Contains("tui connect: HOST[:PORT]/SESSION is missing", err);
        // Nothing listens on port 1 of loopback: one line, no stack trace, non-zero exit.
        (code, _, err) = Tui("connect", "127.0.0.1:1/s1");
        Assert.Equal(1, code);
        Assert.Contains("cannot reach http://127.0.0.1:1", err);
        Assert.DoesNotContain("   at ", err);
        (code, _, err) = Tui("sessions", "127.0.0.1:1");
        Assert.Equal(1, code);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void Tui_run_posix_profile_exit_statuses()
    {
        static (int, string) Posix(string[] args, string stdin = "")
        {
            var o = new StringWriter(); var e = new StringWriter();
            int rc = Cli.Run(["run", .. args], o, e, () => new MemoryStream(System.Text.Encoding.UTF8.GetBytes(stdin)));
            return (rc, o.ToString() + e.ToString());
        }
        Assert.Equal((0, "      1       2       9\n"), Posix(["--profile", "posix", "wc"], "hi there\n"));
        Assert.Equal(1, Posix(["--profile", "posix", "false"]).Item1);
        Assert.Equal(127, Posix(["--profile", "posix", "nope"]).Item1);
        string notElf = Path.GetTempFileName();
        try
        {
            File.WriteAllText(notElf, "#!/bin/sh\n");
            var (rc, text) = Posix(["--profile", "posix", "--mem", "16M", notElf]);
            Assert.Equal(126, rc);
            Assert.Contains("not an ELF", text);
        }
        finally { File.Delete(notElf); }
    }

    /// <summary>`tui run --file/--dir` places a test's data files, natively built glibc program and all; a fatal signal is named.</summary>
    [Fact]
    public void Tui_run_places_files_and_directories_and_names_a_fatal_signal()
    {
        string source = Path.Combine(Path.GetDirectoryName(ThisFile())!, "Programs", "datafiles.c");
        string program = Gcc.Build([source], ["-static", "-O1"], "datafiles");
        string dir = Path.Combine(Path.GetTempPath(), "lab-datafiles-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "tree", "sub"));
        File.WriteAllText(Path.Combine(dir, "input.txt"), "first line\nsecond line\n");
        File.WriteAllText(Path.Combine(dir, "tree", "a.txt"), "in a\n");
        File.WriteAllText(Path.Combine(dir, "tree", "sub", "b.txt"), "in b\n");
        try
        {
            var (code, output, err) = Tui("run", "--profile", "posix", "--file", Path.Combine(dir, "input.txt"),
                "--dir", Path.Combine(dir, "tree") + "=data", program);
            Assert.True(code == 0, err);
            Assert.Equal("input.txt: first line\ninput.txt: second line\ndata/a.txt: in a\n/data/sub/b.txt: in b\n", output);

            (code, output, err) = Tui("run", "--profile", "posix", "--file", Path.Combine(dir, "input.txt") + "=/data/a.txt", program, "crash");
            Assert.Equal(139, code);
            Assert.Contains("data/a.txt: first line", output);
            Assert.Contains("datafiles was killed by SIGSEGV", err);

            (code, _, err) = Tui("run", "--profile", "posix", "--file", Path.Combine(dir, "nope.txt"), program);
            Assert.Equal(1, code);
            Assert.Contains("no such file on this machine", err);
            (code, _, err) = Tui("run", "--profile", "posix", "--file", Path.Combine(dir, "tree"), program);
            Assert.Equal(1, code);
            Assert.Contains("use --dir", err);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>Ctrl-C at the host's terminal (SIGINT to `tui run`) reaches the guest program as
    /// SIGINT, as qemu-user forwards it: a program that catches it runs its handler and goes on.</summary>
    [Fact]
    public async Task Ctrl_C_at_the_host_terminal_is_forwarded_to_the_guest()
    {
        string program = Gcc.Build([Path.Combine(Path.GetDirectoryName(ThisFile())!, "Programs", "sigint.c")], ["-static", "-O1"], "sigint");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "tui.dll"), "run", "--profile", "posix", program])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        };
        using var tui = System.Diagnostics.Process.Start(start)!;
        try
        {
            // (the waits are bounded so that a broken run fails instead of hanging; not a speed check)
            Assert.Equal("ready", await tui.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(2)));   // the handler is installed
            using (var kill = System.Diagnostics.Process.Start("kill", ["-INT", tui.Id.ToString()])!) kill.WaitForExit();
            Assert.Equal("got signal 2", await tui.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(2)));
            await tui.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
            Assert.Equal(3, tui.ExitCode);                                // the program's own status: tui was not killed
        }
        finally { if (!tui.HasExited) tui.Kill(); }
    }

    private static string ThisFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;
}
