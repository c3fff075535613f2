using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Lab.Kernel.Posix;

namespace Lab.Kernel.Tests;

/// <summary>
/// Debian's busybox-static (/usr/bin/busybox, installed by test.sh), unchanged: the same `busybox sh
/// -c SCRIPT` runs natively on the host, in a temporary directory holding the fixture files, and on
/// the POSIX profile, in /work holding the same files, with the same environment. Stdout, stderr and
/// the exit status must be the same; only the working directory's path (and, for ls -l, the owner
/// and group names) is normalised. The kernel ends with no leaked page and its invariants holding.
/// Without busybox on the host the tests say so and are skipped.
/// </summary>
public class BusyboxTests
{
    private const string Busybox = "/usr/bin/busybox";

    private static readonly (string Name, string Text)[] Fixture =
    [
        ("words.txt", "pear\napple\nbanana\napple\nkernel\ncherry\n"),
        ("nums.txt", "10\n2\n33\n4\n"),
        ("data.csv", "a,b,c\n1,2,3\nx,,z\n"),
        ("sub/one.txt", "the kernel\n"),
        ("sub/deep/two.txt", "kernel and shell\nnothing\n"),
    ];

    private static readonly string[] Env = ["PATH=/bin", "HOME=/", "TZ=UTC", "LC_ALL=C"];

    private static void SkipWithoutBusybox() => Skip.IfNot(File.Exists(Busybox), $"{Busybox} is not installed (test.sh installs busybox-static)");

    private sealed record Run(int Code, string Out, string Err);

    /// <summary>The script natively, in a fresh directory holding the fixture; paths of that directory become /work.</summary>
    private static Run Native(string script)
    {
        string dir = Directory.CreateTempSubdirectory("lab-busybox-").FullName;
        try
        {
            foreach (var (name, text) in Fixture)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(dir, name))!);
                File.WriteAllText(Path.Combine(dir, name), text);
            }
            var psi = new ProcessStartInfo(Busybox) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false, WorkingDirectory = dir };
            psi.Environment.Clear();
            foreach (var e in Env) psi.Environment[e[..e.IndexOf('=')]] = e[(e.IndexOf('=') + 1)..];
            psi.Environment["PWD"] = dir;
            psi.ArgumentList.Add("sh");
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(script);
            using var p = Process.Start(psi)!;
            p.StandardInput.Close();
            var outTask = p.StandardOutput.ReadToEndAsync();
            var errTask = p.StandardError.ReadToEndAsync();
            Assert.True(p.WaitForExit(120_000), "native busybox did not finish");
            string Fix(string s) => s.Replace(dir, "/work");
            return new Run(p.ExitCode, Fix(outTask.Result), Fix(errTask.Result));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>The script on a fresh POSIX machine, /work holding the fixture and the current directory.</summary>
    private static Run Emulated(string script, Action<PosixMachine>? check = null)
    {
        using var m = new PosixMachine();
        m.Fs.WriteFile("/bin/busybox", File.ReadAllBytes(Busybox));
        Assert.Null(m.Fs.MakeDirectories("/work"));
        foreach (var (name, text) in Fixture) Assert.Null(m.Fs.Place("/work/" + name, Encoding.UTF8.GetBytes(text)));
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        m.Console.Output = (fd, bytes) => (fd == 2 ? stderr : stdout).Write(bytes.Span);
        m.Console.CloseInput();
        Assert.Null(m.Start("/bin/busybox", ["sh", "-c", "cd /work || exit 99; " + script], [.. Env, "PWD=/"]));
        bool done = m.RunUntilAllExit(50_000_000_000);
        string faults = string.Join("\n", m.Kernel.Faults.Select(f => $"pid {f.Pid} {f.Name}: {Signals.Name(f.Signal)} {f.Description}"));
        Assert.True(m.Kernel.KernelError is null, m.Kernel.KernelError);
        Assert.True(done, $"busybox did not finish; stdout so far:\n{Encoding.UTF8.GetString(stdout.ToArray())}\n{faults}");
        Assert.Equal(m.InitialFreePages, m.Kernel.FreePages);
        Assert.Null(m.Kernel.CheckInvariants());
        check?.Invoke(m);
        return new Run(m.ExitCode ?? -1, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }

    /// <summary>ls -l's owner and group columns (the host's user is not the guest's).</summary>
    private static string Owners(string s) =>
        Regex.Replace(s, @"^([-dlcp][-rwxsStT]{9}\s+\d+\s+)\S+\s+\S+\s+", "$1U G ", RegexOptions.Multiline);

    private static void SameAsNative(string script, Func<string, string>? normalise = null)
    {
        SkipWithoutBusybox();
        normalise ??= s => s;
        var native = Native(script);
        var emu = Emulated(script);
        string expected = normalise(native.Out), actual = normalise(emu.Out);
        if (expected != actual)
            Assert.Fail($"stdout differs.\n--- native\n{expected}\n--- emulated\n{actual}\n--- emulated stderr\n{emu.Err}");
        Assert.Equal(normalise(native.Err), normalise(emu.Err));
        Assert.Equal(native.Code, emu.Code);
    }

    public static TheoryData<string, string> Scripts => new()
    {
        { "cat echo wc", "cat words.txt; echo -n 'x y'; echo; echo -e 'a\\tb'; wc words.txt; wc -l < words.txt; wc -c words.txt nums.txt" },
        { "grep", "grep -n an words.txt; grep -c e words.txt; grep -v a words.txt; grep -i APPLE words.txt; grep -r kernel sub | sort; echo $?; grep nothing words.txt; echo $?; grep -q pear words.txt && echo found" },
        { "sort uniq", "sort words.txt; sort -r words.txt; sort -n nums.txt; sort words.txt | uniq -c; sort -u words.txt; sort words.txt | uniq -d" },
        { "head tail", "head -n 2 words.txt; tail -n 2 words.txt; head -c 5 words.txt; echo; tail -c 6 words.txt; seq 20 | tail -n +17; seq 100 | head -3" },
        { "cp mv rm mkdir", "mkdir -p a/b/c; cp words.txt a/b/; mv a/b/words.txt a/b/c/w; ls -R a; rm -r a; ls -1; mkdir d; rmdir d; cp -r sub sub2; find sub2 | sort; mv sub2 sub3; ls -1; rm -rf sub3; ls -1; mv nums.txt words.txt; cat words.txt; rm nope; echo $?" },
        { "find xargs", "find . -name '*.txt' | sort; find sub -type d | sort; find . -type f | sort | xargs wc -l; echo a b c | xargs -n 1 echo x; find . -newer nums.txt -name nothing" },
        { "sed awk", "sed 's/a/A/g' words.txt; sed -n 2p words.txt; sed -i 's/apple/APPLE/' words.txt; cat words.txt; awk -F, '{print $2, NF}' data.csv; awk '{s+=$1} END {print s}' nums.txt; awk 'BEGIN{printf \"%d %s\\n\", 3, \"x\"}'" },
        { "seq tr cut printf basename dirname", "seq 5; seq 2 3 11; echo hello | tr a-z A-Z; echo a:b:c | cut -d: -f2; cut -c1-3 words.txt; printf '%s-%d\\n' a 1 b 2; basename /a/b/c.txt .txt; dirname /a/b/c.txt; printf '%5.2f|%x|%o\\n' 3.14159 255 8" },
        { "test true false", "test 1 -lt 2 && echo lt; [ -f words.txt ] && echo file; [ -d sub ] && echo dir; [ -e nope ] || echo none; [ -s nums.txt ] && echo nonempty; true; echo $?; false; echo $?; [ abc = abc ]; echo $?; [ 3 -gt 4 ]; echo $?" },
        { "env", "env | grep -v OLDPWD | sort" },
        { "sh pipes redirections status", "echo one > f; echo two >> f; cat < f; ls nope 2>&1 | wc -l; ls nope 2>/dev/null; echo status=$?; (echo sub; exit 3); echo $?; false && echo no || echo yes; true || echo never; cat f | sort -r | head -1" },
        { "sh loops functions substitution heredoc", "for i in 1 2 3; do echo i=$i; done; n=0; while [ $n -lt 3 ]; do n=$((n+1)); done; echo n=$n; f() { echo \"fn $1\"; return 4; }; f arg; echo $?; x=$(echo cmd sub); echo \"$x\"; cat <<EOF\nhere $x\nEOF\ncase $x in cmd*) echo matched;; esac" },
        { "sh cd", "cd sub; pwd; cd deep; pwd; cd ../..; pwd; cd /nonexistent; echo $?; cd -; cd" },
        { "ls -l links times modes", "touch -d '2020-01-02 03:04:05' words.txt data.csv; chmod 640 words.txt; chmod 755 data.csv; ln -s words.txt link; touch -h -d '2021-05-06 07:08:09' link; ln data.csv hard; ls -l words.txt data.csv hard link; cat link; readlink link; rm data.csv; ls -l hard; ln -s nowhere dangling; cat dangling; echo $?; ls -l dangling | cut -c1-10" },
        { "dev null zero urandom", "echo x > /dev/null; cat /dev/null | wc -c; head -c 4 /dev/zero | od -An -tx1; head -c 16 /dev/urandom | wc -c; ls -l /dev/null /dev/zero /dev/urandom | awk '{print $1, $5, $6, $NF}'; readlink /dev/stdin; echo err > /dev/stderr; echo out > /dev/stdout; echo piped | cat /dev/stdin; echo y | wc -c /dev/stdin" },
        { "mv directories and errors", "mkdir x y; echo 1 > x/f; mv x y/; ls -R y; mv y y/x 2>&1 | sed 's/^mv: //'; mkdir e; echo 2 > g; mv g e; ls e; mv e nope/e; echo $?" },
        { "umask", "umask 077; touch u; mkdir v; ls -ld u v | cut -c1-10; umask" },
        { "proc", "cat /proc/self/cmdline | tr '\\0' ' '; echo; readlink /proc/self/cwd; [ -r /proc/meminfo ] && echo meminfo; head -1 /proc/self/status | cut -c1-5" },
    };

    [SkippableTheory, MemberData(nameof(Scripts))]
    public void An_applet_script_matches_the_host(string what, string script)
    {
        _ = what;
        SameAsNative(script, Owners);
    }

    /// <summary>Background jobs and `wait`: ash's wait sleeps in sigsuspend until SIGCHLD arrives.</summary>
    [SkippableFact]
    public void Background_jobs_and_wait_match_the_host() =>
        SameAsNative("sleep 0 & wait; echo bg=$?; (echo job1 > j1) & (echo job2 > j2) & wait; cat j1 j2; (exit 7) & wait $!; echo waited=$?");

    /// <summary>The lead from the last session: inside busybox sh, an applet that is not NOEXEC (wc)
    /// re-executes busybox through /proc/self/exe. Without /proc it fell back to Lab's own /bin/wc,
    /// which does not know -c ("wc: -c: No such file or directory").</summary>
    [SkippableFact]
    public void An_applet_inside_busybox_sh_reexecutes_busybox_through_proc_self_exe()
    {
        SkipWithoutBusybox();
        var r = Emulated("wc -c words.txt; readlink /proc/self/exe");
        Assert.Equal("", r.Err);
        Assert.Equal("38 words.txt\n/bin/busybox\n", r.Out);
    }

    /// <summary>The console is a terminal, and ttyname finds it (readlink /proc/self/fd/0 gives
    /// /dev/tty, whose inode and device number are the console's).</summary>
    [SkippableFact]
    public void Tty_names_the_console()
    {
        SkipWithoutBusybox();
        var r = Emulated("tty; test -t 1 && echo terminal; ls -l /proc/self/fd/0 | sed 's/.* -> //'");
        Assert.Equal("/dev/tty\nterminal\n/dev/tty\n", r.Out);
    }

    /// <summary>ps and free read /proc: the same header as natively, our processes listed (the
    /// shell and ps itself), and free's numbers the machine's memory.</summary>
    [SkippableFact]
    public void Ps_and_free_read_proc_with_the_hosts_layout()
    {
        SkipWithoutBusybox();
        var native = Native("ps; free");
        int total = 0;
        var emu = Emulated("ps; free", m => total = m.Kernel.PageCount * 4);
        string[] nl = native.Out.Split('\n'), el = emu.Out.Split('\n');
        Assert.Equal(nl[0], el[0]);                                        // PID   USER     TIME  COMMAND
        Assert.Matches(@"^\s+2 student\s.*/bin/busybox sh -c", el[1]);
        string freeHeader = nl.First(l => l.Contains("total"));
        Assert.Contains(freeHeader, el);
        var mem = el.Single(l => l.StartsWith("Mem:"));
        Assert.Equal(total.ToString(), mem.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        Assert.Contains(el, l => l.StartsWith("Swap:"));
        Assert.Equal(0, emu.Code);
    }
}
