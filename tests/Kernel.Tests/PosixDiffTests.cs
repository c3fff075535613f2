using System.Diagnostics;
using System.Text.RegularExpressions;
using Lab.Kernel.Posix;
using Lab.TestSupport;

namespace Lab.Kernel.Tests;

/// <summary>
/// Byte-for-byte comparison of the emulated stdout (POSIX profile) with the native stdout of the same
/// userland/posix program on the Linux host. Hex addresses and pids are normalised; a rule the host
/// cannot check (SKIP natively, PASS in the emulator, or the reverse) compares as the same line.
/// </summary>
public partial class PosixDiffTests
{
    private static readonly Lazy<string> BuildDir = new(() =>
    {
        string root = RepoRoot();
        var (code, o, e) = Gcc.Run("make", ["-s", "-C", Path.Combine(root, "userland", "posix")]);
        if (code != 0) throw new InvalidOperationException($"make -C userland/posix failed:\n{e}{o}");
        return Path.Combine(root, "userland", "build", "posix");
    }, LazyThreadSafetyMode.ExecutionAndPublication);

    private static string RepoRoot([System.Runtime.CompilerServices.CallerFilePath] string thisFile = "")
    {
        var dir = new DirectoryInfo(Path.GetDirectoryName(thisFile)!);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Lab.sln"))) dir = dir.Parent;
        return dir!.FullName;
    }

    private static (int Code, string Out) Native(string program, string[] args, string stdin, Dictionary<string, string> files)
    {
        string dir = Directory.CreateTempSubdirectory("lab-posix-diff-").FullName;
        try
        {
            foreach (var (name, text) in files) File.WriteAllText(Path.Combine(dir, name.TrimStart('/')), text);
            var psi = new ProcessStartInfo(Path.Combine(BuildDir.Value, program))
            {
                RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
                UseShellExecute = false, WorkingDirectory = dir,
            };
            psi.Environment.Clear();
            psi.Environment["PATH"] = BuildDir.Value;
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var o = p.StandardOutput.ReadToEndAsync();
            var e = p.StandardError.ReadToEndAsync();
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
            p.WaitForExit();
            _ = e.Result;
            return (p.ExitCode, o.Result);
        }
        finally { Directory.Delete(dir, true); }
    }

    private static (int? Code, string Out) Emulated(string program, string[] args, string stdin, Dictionary<string, string> files)
    {
        var r = PosixKernelTests.Run(program, args, stdin, m =>
        {
            foreach (var (name, text) in files) m.Fs.WriteFile("/" + name.TrimStart('/'), System.Text.Encoding.UTF8.GetBytes(text));
        });
        return (r.Code, r.Out);
    }

    [GeneratedRegex(@"0x[0-9a-fA-F]+")] private static partial Regex Hex();
    [GeneratedRegex(@"\b(pid|PID|child|parent)( ?[:=]? ?)\d+")] private static partial Regex Pid();
    [GeneratedRegex(@"^(?:PASS|SKIP) (\S+).*$", RegexOptions.Multiline)] private static partial Regex Verdict();

    internal static string Normalize(string s) =>
        Verdict().Replace(Pid().Replace(Hex().Replace(s, "0xADDR"), "$1$2N"), "CHECKED $1");

    public static TheoryData<string, string[], string> Cases => new()
    {
        { "echo", ["hello", "big", "world"], "" },
        { "echo", ["-n", "no", "newline"], "" },
        { "echo", [], "" },
        { "cat", [], "abc\ndef\n\nlast line without newline" },
        { "cat", ["a.txt", "b.txt"], "" },
        { "wc", [], "one two\nsix\n  spaced   words  \n" },
        { "wc", ["a.txt", "b.txt"], "" },
        { "grep", ["oo"], "foo\nbar\nboot\n" },
        { "grep", ["-v", "oo"], "foo\nbar\nboot\n" },
        { "grep", ["-c", "oo"], "foo\nbar\nboot" },
        { "grep", ["-n", "et"], "alpha\nbeta\nzeta\n" },
        { "grep", ["et", "a.txt", "b.txt"], "" },
        { "sh", ["-c", "echo hello | wc"], "" },
        { "sh", [], "echo one two three | cat | cat | wc\necho x > f.txt\necho y >> f.txt\ncat f.txt\nwc < f.txt\nexit 3\n" },
        { "true", [], "" },
        { "false", [], "" },
        { "t-printf", [], "" },
        { "t-fork", [], "" },
        { "t-wait", [], "" },
        { "t-pids", [], "" },
        { "t-exec", [], "" },
        { "t-files", [], "" },
        { "t-pipe", [], "" },
        { "t-faults", [], "" },
        { "t-signals", [], "" },
        { "t-dirs", [], "" },
        { "s-forktree", [], "" },
    };

    private static readonly Dictionary<string, string> Files = new() { ["a.txt"] = "alpha\nbeta\n", ["b.txt"] = "gamma\n" };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Emulated_stdout_equals_native_stdout(string program, string[] args, string stdin)
    {
        var native = Native(program, args, stdin, Files);
        var emulated = Emulated(program, args, stdin, Files);
        Assert.Equal(native.Code, emulated.Code);
        Assert.Equal(Normalize(native.Out), Normalize(emulated.Out));
    }

    [Fact]
    public void Normalisation_only_touches_pids_addresses_and_verdicts()
    {
        Assert.Equal("pid N at 0xADDR\nCHECKED x\nCHECKED y\nPASSED 3\n",
            Normalize("pid 42 at 0xdeadbeef\nPASS x\nSKIP y (Lab kernel only)\nPASSED 3\n"));
    }
}
