namespace Lab.Kernel.Tests;

/// <summary>
/// What the simple utilities must do, said once and checked twice: natively on the Linux host (the
/// oracle, <see cref="PosixUserlandNativeTests"/>) and in the emulator (<see cref="PosixKernelTests"/>).
/// </summary>
public abstract class PosixUtilityExpectations
{
    /// <summary>Runs a userland/posix program with arguments and stdin; its exit code and stdout.</summary>
    protected abstract (int? Code, string Out) RunUtility(string program, string[]? args = null, string? stdin = null);

    [Fact]
    public void True_false_echo()
    {
        Assert.Equal(0, RunUtility("true").Code);
        Assert.Equal(1, RunUtility("false").Code);
        Assert.Equal((0, "hello big world\n"), RunUtility("echo", ["hello", "big", "world"]));
        Assert.Equal("x y", RunUtility("echo", ["-n", "x", "y"]).Out);
        Assert.Equal("\n", RunUtility("echo").Out);
    }

    [Fact]
    public void Cat_and_wc_on_stdin()
    {
        Assert.Equal("abc\ndef\n", RunUtility("cat", stdin: "abc\ndef\n").Out);
        Assert.Equal("      2       3      12\n", RunUtility("wc", stdin: "one two\nsix\n").Out);
        Assert.Equal("      0       0       0\n", RunUtility("wc", stdin: "").Out);
    }
}
