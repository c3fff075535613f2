using Lab.Kernel.Posix;

namespace Lab.Kernel.Tests;

/// <summary>
/// The POSIX profile: userland/posix programs run IN THE EMULATOR (PosixMachine) and compared with
/// the expectations of the native run (PosixUserlandNativeTests). After every scenario all
/// processes have exited and no physical page is leaked.
/// </summary>
public class PosixKernelTests : PosixUtilityExpectations
{
    internal sealed record Result(int? Code, string Out, PosixMachine Machine);

    internal static Result Run(string program, string[]? args = null, string? stdin = null, Action<PosixMachine>? setup = null)
    {
        var m = new PosixMachine();
        setup?.Invoke(m);
        if (stdin != null) m.Console.Feed(stdin);
        m.Console.CloseInput();
        Assert.Null(m.Start(program, args));
        bool done = m.RunUntilAllExit();
        Assert.Null(m.Kernel.KernelError);
        Assert.True(done, $"{program} did not finish; output so far:\n{m.Console.OutputText}");
        Assert.Equal(m.InitialFreePages, m.Kernel.FreePages);   // no leaked pages
        Assert.Null(m.Kernel.CheckInvariants());
        return new Result(m.ExitCode, m.Console.OutputText, m);
    }

    [Fact]
    public void A_guest_overwriting_a_bin_program_changes_its_own_machine_only()
    {
        // /bin's programs start as the host's embedded copies, shared by every machine in the process.
        var r = Run("sh", ["-c", "echo garbage > /bin/true; true"]);
        Assert.Contains("true: Exec format error", r.Out);
        Assert.Equal(0, Run("true").Code);      // a new machine still has the real /bin/true
    }

    protected override (int? Code, string Out) RunUtility(string program, string[]? args = null, string? stdin = null)
    {
        var r = Run(program, args, stdin);
        return (r.Code, r.Out);
    }

    [Fact]
    public void Cat_wc_on_files()
    {
        void Files(PosixMachine m)
        {
            m.Fs.WriteFile("/a.txt", "alpha\nbeta\n"u8.ToArray());
            m.Fs.WriteFile("/b.txt", "gamma\n"u8.ToArray());
        }
        Assert.Equal("alpha\nbeta\ngamma\n", Run("cat", ["a.txt", "b.txt"], setup: Files).Out);
        Assert.Equal("      2       2      11 a.txt\n      1       1       6 b.txt\n      3       3      17 total\n",
            Run("wc", ["a.txt", "b.txt"], setup: Files).Out);
        var missing = Run("cat", ["nope.txt"]);
        Assert.Equal(1, missing.Code);
        Assert.Contains("nope.txt: No such file or directory", missing.Out);
    }

    [Fact]
    public void Sh_script_with_pipes_and_exit_status()
    {
        var r = Run("sh", stdin: "echo hello | wc\necho a b > /tmp/f\ncat /tmp/f\nexit 3\n");
        Assert.Equal(3, r.Code);
        Assert.Equal("      1       1       6\na b\n", r.Out);
    }

    [Fact]
    public void Track_prints_the_report()
    {
        var r = Run("track", ["echo", "hi"]);
        Assert.Equal(0, r.Code);
        Assert.StartsWith("hi\n=== track report ===\nPID: ", r.Out);
        Assert.Contains("Name: echo  Exit: 0", r.Out);
        Assert.Contains("  write           1      bytes:        3\n", r.Out);
        Assert.Contains("Page Tables (", r.Out);
    }
}

public class PosixKernelConformanceTests
{
    // Rules that only hold on Lab's kernel (the programs print SKIP for them natively).
    private static readonly Dictionary<string, string[]> LabOnlyPasses = new()
    {
        ["t-track"] = ["track-wait-echild", "track-report", "page-alloc"],
    };

    [Theory]
    [MemberData(nameof(PosixUserlandNativeTests.Programs), MemberType = typeof(PosixUserlandNativeTests))]
    public void Conformance_program_passes_in_the_emulator(string program, string passes)
    {
        var r = PosixKernelTests.Run(program);
        Assert.True(r.Code == 0, $"{program} exited {r.Code}\noutput:\n{r.Out}");
        Assert.DoesNotContain("FAIL", r.Out);
        var lines = r.Out.Split('\n');
        foreach (var name in passes.Split(' ').Where(n => n != "track-enosys-on-host").Concat(LabOnlyPasses.GetValueOrDefault(program, [])))
            Assert.Contains($"PASS {name}", lines);
    }
}
