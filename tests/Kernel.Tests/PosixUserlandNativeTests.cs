using System.Diagnostics;
using System.Text;
using Lab.TestSupport;

namespace Lab.Kernel.Tests;

/// <summary>
/// The POSIX userland (userland/posix: libc, utilities, conformance programs) built with make and
/// run NATIVELY on the Linux host, which is the oracle: the same programs and expectations are later
/// run against the emulated kernel. Rules where Linux and the course disagree print SKIP natively.
/// </summary>
public class PosixUserlandNativeTests : PosixUtilityExpectations
{
    private static readonly Lazy<string> BuildDir = new(Build, LazyThreadSafetyMode.ExecutionAndPublication);

    private static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string thisFile = "")
    {
        var dir = new DirectoryInfo(Path.GetDirectoryName(thisFile)!);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Lab.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return dir!.FullName;
    }

    private static string Build()
    {
        string root = RepoRoot();
        var (code, stdout, stderr) = Gcc.Run("make", ["-s", "-C", Path.Combine(root, "userland", "posix")]);
        if (code != 0) throw new InvalidOperationException($"make -C userland/posix failed ({code}):\n{stderr}{stdout}");
        return Path.Combine(root, "userland", "build", "posix");
    }

    private static string Bin(string name) => Path.Combine(BuildDir.Value, name);

    private sealed record Result(int Code, string Out, string Err);

    /// <summary>Runs a built program in a fresh working directory with PATH = the build directory.</summary>
    private static Result Run(string program, IEnumerable<string>? args = null, string? stdin = null, string? workDir = null)
    {
        string dir = workDir ?? Directory.CreateTempSubdirectory("lab-posix-").FullName;
        try
        {
            var psi = new ProcessStartInfo(Bin(program))
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
                WorkingDirectory = dir,
            };
            psi.Environment.Clear();
            psi.Environment["PATH"] = BuildDir.Value;
            if (args != null) foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var outTask = p.StandardOutput.ReadToEndAsync();
            var errTask = p.StandardError.ReadToEndAsync();
            if (stdin != null) p.StandardInput.Write(stdin);
            p.StandardInput.Close();
            p.WaitForExit();
            return new Result(p.ExitCode, outTask.Result, errTask.Result);
        }
        finally
        {
            if (workDir == null) Directory.Delete(dir, recursive: true);
        }
    }

    // The PASS lines each conformance program must print natively (SKIPs are the Lab-only rules).
    public static TheoryData<string, string> Programs => new()
    {
        { "t-printf", "printf-formats stdio-output string stdlib malloc headers" },
        { "t-fork", "fork-returns fork-private-memory fork-shared-offset fork-interleave-no-duplicates fork-atomics-on-copied-pages fork-tree-255" },
        { "t-wait", "wait-exit-status wait-wnohang wait-any-blocks wait-twice-echild wait-not-a-child-echild wait-bad-options-einval wait-efault wait-null-status wait-2000-zombies" },
        { "t-pids", "pids-monotonic pids-not-reused-while-zombie pids-absurd-absent" },
        { "t-orphan", "orphan-keeps-running" },
        { "t-exec", "exec-argv-envp-layout exec-60k-of-arguments exec-single-65500-arg exec-e2big exec-enoent exec-efault exec-enoexec exec-keeps-fds-pid-parent" },
        { "t-files", "files-std-descriptors-open files-lowest-free-descriptor files-ebadf files-enoent files-efault files-eof files-creat-trunc-append-unlink files-dup-dup2-share-offset" },
        { "t-pipe", "pipe-basic pipe-blocks-then-eof pipe-large-transfer pipe-epipe pipe-eof-after-last-writer" },
        { "t-faults", "fault-null-deref-sigsegv fault-kernel-address-sigsegv fault-write-text-sigsegv fault-invalid-opcode-sigill fault-divide-error-sigfpe fault-privileged-instruction-sigsegv fault-jump-into-void-sigsegv fault-bad-stack-sigsegv fault-only-kills-the-faulting-process fault-endless-loop-preempted" },
        { "t-track", "track-enosys-on-host" },
        { "t-signals", "signals-handler-runs-and-returns signals-siginfo-names-the-sender signals-blocked-stay-pending-until-unblocked signals-sa-resethand signals-sigchld-wakes-sigsuspend signals-alarm-and-itimer-interrupt-pause signals-segv-handler-leaves-by-siglongjmp signals-kill-a-process-group signals-setsid-makes-a-new-session" },
        { "t-dirs", "dirs-mkdir-chdir-getcwd dirs-rename dirs-hard-links dirs-symlinks dirs-truncate-fsync-cloexec dirs-readdir-remove-rmdir" },
    };

    [Theory]
    [MemberData(nameof(Programs))]
    public void Conformance_program_passes_natively(string program, string passes)
    {
        var r = Run(program);
        Assert.True(r.Code == 0, $"{program} exited {r.Code}\nstdout:\n{r.Out}\nstderr:\n{r.Err}");
        Assert.DoesNotContain("FAIL", r.Out);
        var lines = r.Out.Split('\n');
        foreach (var name in passes.Split(' '))
            Assert.Contains($"PASS {name}", lines);
        // Every PASS/SKIP line is one of the expected ones or a SKIP (nothing unexpected passes silently).
        foreach (var line in lines.Where(l => l.StartsWith("PASS ")))
            Assert.Contains(line[5..], passes.Split(' '));
    }

    [Fact]
    public void Every_conformance_source_has_a_theory_row()
    {
        var sources = Directory.GetFiles(Path.Combine(RepoRoot(), "userland", "posix", "tests"), "t-*.c")
            .Select(f => Path.GetFileNameWithoutExtension(f)).Order().ToArray();
        var rows = Programs.Select(row => (string)row[0]).Order().ToArray();
        Assert.Equal(sources, rows);
    }

    [Fact]
    public void Printf_output_goes_straight_to_stdout()
    {
        var r = Run("t-printf");
        Assert.Contains("printf: [   42] [42   ] [00042] [bee] [str] [z] [%]\nfprintf: 123 -5\nputs line\npc\n", r.Out);
    }

    protected override (int? Code, string Out) RunUtility(string program, string[]? args = null, string? stdin = null)
    {
        var r = Run(program, args, stdin);
        return (r.Code, r.Out);
    }

    [Fact]
    public void Grep_and_files()
    {
        var g = Run("grep", ["oo"], stdin: "foo\nbar\nboot\n");
        Assert.Equal((0, "foo\nboot\n"), (g.Code, g.Out));
        Assert.Equal(1, Run("grep", ["zz"], stdin: "foo\n").Code);
        Assert.Equal("bar\n", Run("grep", ["-v", "oo"], stdin: "foo\nbar\nboot\n").Out);
        Assert.Equal("2\n", Run("grep", ["-c", "oo"], stdin: "foo\nbar\nboot").Out);
        Assert.Equal("3:boot\n", Run("grep", ["-n", "boo"], stdin: "foo\nbar\nboot").Out);
        Assert.Equal(2, Run("grep", []).Code);

        string dir = Directory.CreateTempSubdirectory("lab-posix-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "a.txt"), "alpha\nbeta\n");
            File.WriteAllText(Path.Combine(dir, "b.txt"), "gamma\n");
            Assert.Equal("alpha\nbeta\ngamma\n", Run("cat", ["a.txt", "b.txt"], workDir: dir).Out);
            var missing = Run("cat", ["nope.txt"], workDir: dir);
            Assert.Equal(1, missing.Code);
            Assert.Contains("nope.txt: No such file or directory", missing.Err);
            Assert.Equal("      2       2      11 a.txt\n      1       1       6 b.txt\n      3       3      17 total\n",
                Run("wc", ["a.txt", "b.txt"], workDir: dir).Out);
            Assert.Equal("a.txt:beta\n", Run("grep", ["et", "a.txt", "b.txt"], workDir: dir).Out);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Ls_lists_a_directory_sorted()
    {
        string dir = Directory.CreateTempSubdirectory("lab-posix-").FullName;
        try
        {
            foreach (var n in new[] { "zeta", "alpha", "mid", ".hidden" }) File.WriteAllText(Path.Combine(dir, n), n);
            Directory.CreateDirectory(Path.Combine(dir, "sub"));
            Assert.Equal("alpha\nmid\nsub\nzeta\n", Run("ls", workDir: dir).Out);
            Assert.Equal(".\n..\n.hidden\nalpha\nmid\nsub\nzeta\n", Run("ls", ["-a"], workDir: dir).Out);
            var l = Run("ls", ["-l", "."], workDir: dir).Out;
            Assert.Contains("-        5 alpha\n", l);
            Assert.Contains("d ", l);
            Assert.Equal(1, Run("ls", ["missing-dir"], workDir: dir).Code);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Sh_runs_a_script_from_stdin()
    {
        const string script = """
            echo hello | wc
            echo one two three | cat | cat | wc
            echo "quoted  arg" 'and|this' > out.txt
            cat < out.txt
            echo more >> out.txt
            wc < out.txt
            grep more out.txt | wc
            false
            nosuchprogram
            true &
            echo a; echo b
            # a comment
            exit 7
            echo not reached
            """;
        var r = Run("sh", stdin: script + "\n");
        Assert.Equal(7, r.Code);
        Assert.Equal(
            "      1       1       6\n" +
            "      1       3      14\n" +
            "quoted  arg and|this\n" +
            "      2       4      26\n" +
            "      1       1       5\n" +
            "a\nb\n", r.Out);
        Assert.Contains("sh: false: exit status 1\n", r.Err);
        Assert.Contains("sh: nosuchprogram: not found\n", r.Err);
        Assert.Contains("sh: nosuchprogram: exit status 127\n", r.Err);
        Assert.DoesNotContain("not reached", r.Out);
    }

    [Fact]
    public void Sh_dash_c_and_exit_status()
    {
        var r = Run("sh", ["-c", "echo x | grep y"]);
        Assert.Equal(1, r.Code);
        Assert.Contains("sh: grep: exit status 1", r.Err);
        Assert.Equal(0, Run("sh", ["-c", "true"]).Code);
        Assert.Equal("$ hi\n$ \n", Run("sh", ["-i"], stdin: "echo hi\n").Out);
        var killed = Run("sh", ["-c", "t-faults-nonexistent"]);
        Assert.Equal(127, killed.Code);
    }

    [Fact]
    public void Init_runs_a_program_and_reaps_orphans()
    {
        var r = Run("init", ["-v", "t-orphan"]);
        Assert.Equal(0, r.Code);
        Assert.Contains("PASS orphan-keeps-running", r.Out);
        Assert.Contains("orphan writes to the console", r.Out);
        Assert.Matches(@"init: reaped orphan \d+ status 0", r.Err);
        Assert.Equal(1, Run("init", ["false"]).Code);
        Assert.Equal("hi\n", Run("init", ["sh", "-c", "echo hi"]).Out);
    }

    [Fact]
    public void Track_without_the_kernel_still_runs_the_command()
    {
        var usage = Run("track");
        Assert.Equal(1, usage.Code);
        Assert.Equal("usage: track <cmd> [args...]\n", usage.Err);
        var r = Run("track", ["echo", "hi", "there"]);
        Assert.Equal(0, r.Code);
        Assert.Equal("hi there\n", r.Out);
        Assert.Contains("track: track_self: Function not implemented", r.Err);
        Assert.Equal(1, Run("track", ["false"]).Code);
    }

    [Fact]
    public void Track_report_format_matches_the_conformance_layout()
    {
        var r = Run("track", ["--demo-report"]);
        Assert.Equal(0, r.Code);
        Assert.Equal(
            "=== track report ===\n" +
            "PID: 5  Name: echo  Exit: 3\n" +
            "\n" +
            "System Calls (total: 9)\n" +
            "  read            2      bytes:      123\n" +
            "  write           1      bytes: 12345678\n" +
            "  brk             4\n" +
            "  exit_group      1\n" +
            "  track_wait      1\n" +
            "\n" +
            "Memory (total: 16384 bytes)\n" +
            "  TEXT  :   2 pages\n" +
            "  DATA  :   1 pages\n" +
            "  HEAP  :   0 pages\n" +
            "  STACK :   1 pages\n" +
            "\n" +
            "Page Tables (5 pages, 20480 bytes)\n" +
            "  PML4: 1\n" +
            "  PDPT: 1\n" +
            "  PD: 1\n" +
            "  PT: 2\n", r.Out);
    }

    [Fact]
    public void Programs_are_static_freestanding_elfs()
    {
        foreach (var name in new[] { "sh", "init", "t-fork" })
        {
            byte[] head = File.ReadAllBytes(Bin(name))[..20];
            Assert.Equal(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F', 2, 1 }, head[..6]);
            Assert.Equal(2, head[16]);        // ET_EXEC: not position independent
            Assert.Equal(0x3e, head[18]);     // x86-64
        }
    }
}
