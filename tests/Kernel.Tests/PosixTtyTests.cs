using System.Text;
using Lab.Kernel.Posix;
using Lab.TestSupport;

namespace Lab.Kernel.Tests;

/// <summary>
/// The console as a terminal in the kernel: keys fed to the console go through its line discipline
/// (echo and line editing, Ctrl-C/Ctrl-D/Ctrl-Z, raw mode) as on a Linux tty, with the Lab shell and
/// with an ordinary glibc program (LinuxPrograms/tty.c). Every scenario ends with all processes gone,
/// no page leaked and the invariants holding. Also busybox's sh, when the host has it, against the
/// host: background jobs, kill, wait and trap.
/// </summary>
public class PosixTtyTests
{
    /// <summary>Runs until <paramref name="done"/> holds: a bounded number of machine slices (each a
    /// few million instructions of machine time), never wall-clock time.</summary>
    private static void RunUntil(PosixMachine m, Func<bool> done, string what)
    {
        for (int i = 0; i < 4000 && !done(); i++)
        {
            Assert.Null(m.Kernel.KernelError);
            if (m.Kernel.AllExited) break;
            m.Machine.Run(2_000_000);
        }
        Assert.True(done(), $"waiting for {what}; console so far:\n{m.Console.OutputText}");
    }

    private static bool Reading(PosixMachine m, string name) =>
        m.Kernel.ProcessList().Any(p => p.Name == name && p.State == PState.Blocked);

    private static PosixMachine Terminal(string program, string[] args, Action<PosixMachine>? setup = null)
    {
        var m = new PosixMachine();
        m.Console.Typed = true;                      // as in a session: keys typed at the terminal
        setup?.Invoke(m);
        Assert.Null(m.Start(program, args));
        return m;
    }

    private static void Finish(PosixMachine m)
    {
        Assert.True(m.RunUntilAllExit(2_000_000_000), m.Console.OutputText);
        Assert.Null(m.Kernel.KernelError);
        Assert.Equal(m.InitialFreePages, m.Kernel.FreePages);
        Assert.Null(m.Kernel.CheckInvariants());
    }

    /// <summary>Ctrl-C while `cat` (a child of the shell) is blocked reading the console ends cat with
    /// SIGINT and leaves the shell, which ignores it, alive; the terminal echoes ^C. Ctrl-D on an
    /// empty line ends only the read it answers: cat sees end of file and exits 0, the shell reads on.
    /// Backspace (DEL) edits the line before the reader sees it.</summary>
    [Fact]
    public void Ctrl_C_ends_the_foreground_child_and_Ctrl_D_ends_only_the_reader()
    {
        using var m = Terminal("sh", ["-i"]);
        RunUntil(m, () => Reading(m, "sh"), "the prompt");
        m.Console.Feed("cat\r");
        RunUntil(m, () => Reading(m, "cat"), "cat reading");
        m.Console.Feed("helo\x7flo\r");
        RunUntil(m, () => m.Console.OutputText.EndsWith("helo\b \blo\nhello\n"), "cat's line");
        m.Console.Feed("\x04");
        RunUntil(m, () => m.Console.OutputText.EndsWith("hello\n$ ") && Reading(m, "sh"), "cat ended by Ctrl-D, the shell alive");
        m.Console.Feed("cat\r");
        RunUntil(m, () => Reading(m, "cat"), "cat reading again");
        m.Console.Feed("\x03");
        RunUntil(m, () => m.Console.OutputText.EndsWith("^C\nsh: cat: killed by signal 2\n$ "), "cat interrupted");
        m.Console.Feed("echo alive\r");
        RunUntil(m, () => m.Console.OutputText.EndsWith("alive\n$ "), "the shell still running commands");
        m.Console.Feed("exit 3\r");
        Finish(m);
        Assert.Equal(3, m.ExitCode);
    }

    /// <summary>Ctrl-Z stops the foreground (a SIGTSTP the shell does not catch here: sh -c runs
    /// cat as its child, both in the foreground group), a host SIGCONT and SIGKILL then end them.</summary>
    [Fact]
    public void Ctrl_Z_stops_the_foreground_group()
    {
        using var m = Terminal("cat", []);
        RunUntil(m, () => Reading(m, "cat"), "cat reading");
        m.Console.Feed("\x1a");
        RunUntil(m, () => m.Kernel.ProcessList().Count > 0 && m.Console.OutputText.EndsWith("^Z"), "the echo");
        m.Machine.Run(10_000_000);
        Assert.True(m.Kernel.IdleWaitingForInput);
        Assert.Equal(1, m.Kernel.KillWhere(_ => true, Signals.SIGCONT));
        m.Console.Feed("after\r");
        RunUntil(m, () => m.Console.OutputText.EndsWith("after\nafter\n"), "cat going on after SIGCONT");
        m.Console.Feed("\x04");
        Finish(m);
        Assert.Equal(0, m.ExitCode);
    }

    /// <summary>An ordinary glibc program on the terminal: it is the foreground group of an 80x25
    /// tty; a canonical read returns one edited line; Ctrl-C runs its SIGINT handler and the read
    /// returns EINTR; Ctrl-D gives one end of file; with ICANON, ECHO and ISIG off (VMIN 1) every
    /// key arrives alone, DEL and Ctrl-C included, not echoed; tcsetattr puts canonical mode back.</summary>
    [Fact]
    public void Canonical_and_raw_reads_of_a_glibc_program()
    {
        string bin = LinuxBinaryTests.Build("tty", LinuxBinaryTests.Libc.Glibc);
        using var m = Terminal("/bin/tty", [], m => m.Fs.WriteFile("/bin/tty", File.ReadAllBytes(bin)));
        RunUntil(m, () => m.Console.OutputText.Contains("ready canonical\n") && Reading(m, "tty"), "the first read");
        Assert.Contains("tty=1 fg-is-mine=1 rows=25 cols=80\n", m.Console.OutputText);
        m.Console.Feed("xz\x7fy\r");
        RunUntil(m, () => m.Console.OutputText.Contains("line 3: 78 79 0a\n"), "the edited line");
        RunUntil(m, () => m.Console.OutputText.Contains("ready interrupt\n") && Reading(m, "tty"), "the second read");
        m.Console.Feed("part\x03");
        RunUntil(m, () => m.Console.OutputText.Contains("^Cinterrupted read=-1 Interrupted system call interrupts=1\n"), "EINTR");
        RunUntil(m, () => m.Console.OutputText.Contains("ready eof\n") && Reading(m, "tty"), "the third read");
        m.Console.Feed("\x04");
        RunUntil(m, () => m.Console.OutputText.Contains("eof read=0\n"), "end of file");
        RunUntil(m, () => m.Console.OutputText.Contains("ready raw\n") && Reading(m, "tty"), "raw mode");
        int before = m.Console.OutputText.Length;
        m.Console.Feed("ab\x7f\x03q");
        Finish(m);
        Assert.Equal("key 1: 61\nkey 1: 62\nkey 1: 7f\nkey 1: 03\nkey 1: 71\nrestored canonical=1 echo=1\n",
            m.Console.OutputText[before..]);
    }

    /// <summary>Typed input survives a snapshot: the line being edited and the terminal's settings
    /// are saved and restored with the machine.</summary>
    [Fact]
    public void The_line_being_typed_is_in_the_snapshot()
    {
        using var m = Terminal("cat", []);
        RunUntil(m, () => Reading(m, "cat"), "cat reading");
        m.Console.Feed("half a li");
        m.Machine.Run(1_000_000);
        Assert.Equal(9, m.Kernel.TtyPendingBytes);
        byte[] state = m.SaveState();
        using var restored = new PosixMachine();
        restored.RestoreState(state);
        restored.Console.Typed = true;
        Assert.Equal(state, restored.SaveState());
        restored.Console.Feed("ne\r\x04");
        Finish(restored);
        Assert.EndsWith("half a line\n", restored.Console.OutputText);
    }

    /// <summary>busybox sh as an interactive shell on the terminal, as a session runs it: job control
    /// puts each pipeline in its own group and hands it the terminal (TIOCSPGRP) even when the first
    /// command has already exited (a zombie still holds its group, as on Linux: ESRCH here made ash
    /// fail with "can't set tty process group"); Ctrl-C ends a foreground cat and not the shell;
    /// Ctrl-Z stops a job and `fg` gives it the terminal again; `kill` ends a background job.</summary>
    [BusyboxFact]
    public void Busybox_sh_is_an_interactive_shell_with_job_control()
    {
        using var m = Terminal("/bin/busybox", ["sh", "-i"], m => m.Fs.WriteFile("/bin/busybox", File.ReadAllBytes(Busybox)));
        // (ash's line editor asks the terminal where the cursor is, ESC [ 6 n, after its prompt)
        string Text() => System.Text.RegularExpressions.Regex.Replace(m.Console.OutputText, "\x1b\\[[0-9;]*[A-Za-z]", "");
        bool Prompt() => Text().EndsWith("$ ") && Reading(m, "busybox");
        RunUntil(m, Prompt, "the prompt");
        m.Console.Feed("echo one | cat; seq 3 | tail -n 1\r");
        RunUntil(m, () => Text().Contains("one\n3\n") && Prompt(), "the pipelines' output");
        // an applet runs in the shell's forked child (its name stays busybox)
        bool ChildReading() => m.Kernel.ProcessList().Count(p => p.Name == "busybox" && p.State == PState.Blocked) >= 2;
        m.Console.Feed("cat\r");
        RunUntil(m, ChildReading, "cat reading");
        m.Console.Feed("\x03");
        RunUntil(m, () => Text().EndsWith("^C\n/ $ ") && Prompt(), "cat interrupted, the prompt back");
        m.Console.Feed("cat\r");
        RunUntil(m, ChildReading, "cat reading again");
        m.Console.Feed("\x1a");
        RunUntil(m, () => Text().Contains("Stopped") && Prompt(), "the job stopped by Ctrl-Z");
        m.Console.Feed("fg\r");                        // the terminal back to the job, SIGCONT
        RunUntil(m, ChildReading, "cat reading in the foreground again");
        m.Console.Feed("again\r\x04");
        RunUntil(m, () => Text().Contains("again\nagain\n") && Prompt(), "cat's echo and its end of input");
        m.Console.Feed("sleep 1000 & kill $!; wait $!; echo status=$?\r");
        RunUntil(m, () => Text().Contains("\nstatus=143\n") && Prompt(), "a background job killed");
        Assert.DoesNotContain("can't set tty process group", m.Console.OutputText);
        m.Console.Feed("exit 5\r");
        Finish(m);
        Assert.Equal(5, m.ExitCode);
    }

    internal const string Busybox = "/usr/bin/busybox";

    /// <summary>A theory that is skipped, saying why, where the host has no busybox.</summary>
    private sealed class BusyboxTheoryAttribute : TheoryAttribute
    {
        public BusyboxTheoryAttribute()
        {
            if (!File.Exists(Busybox)) Skip = $"{Busybox} is not installed on this host (Debian's busybox-static)";
        }
    }

    /// <summary>A fact that is skipped, saying why, where the host has no busybox.</summary>
    private sealed class BusyboxFactAttribute : FactAttribute
    {
        public BusyboxFactAttribute()
        {
            if (!File.Exists(Busybox)) Skip = $"{Busybox} is not installed on this host (Debian's busybox-static)";
        }
    }

    public static TheoryData<string> BusyboxScripts => new()
    {
        "sleep 5 & kill $! ; wait $!; echo $?",
        "trap 'echo got' INT; kill -INT $$; echo after",
        "sleep 5 & kill -STOP $!; kill -CONT $!; kill -TERM $!; wait $!; echo status $?",
        "(trap 'echo child got USR1; exit 4' USR1; kill -USR1 $$) ; echo sub $?",
    };

    /// <summary>busybox sh (Debian's static build) with background jobs, kill, wait and trap prints
    /// what it prints on the host, and ends with the same status.</summary>
    [BusyboxTheory, MemberData(nameof(BusyboxScripts))]
    public void Busybox_sh_job_signals_match_the_host(string script)
    {
        var native = NativeProcess.Run(Busybox, ["sh", "-c", script]);
        var emu = LinuxBinaryTests.Emulate(Busybox, ["sh", "-c", script], m =>
        {
            // what the script needs beyond the shell: sleep (busybox by another name) and /dev/null
            // (a background job's input; an empty file reads the same)
            m.Fs.WriteFile("/bin/sleep", File.ReadAllBytes(Busybox));
            if (m.Fs.Lookup("/dev/null") is null)
            {
                if (m.Fs.Lookup("/dev") is null) m.Fs.MkDir("/dev");
                m.Fs.WriteFile("/dev/null", []);
            }
        });
        Assert.True(Encoding.UTF8.GetString(native.Stdout) == emu.Out,
            $"native:\n{Encoding.UTF8.GetString(native.Stdout)}\nemulated:\n{emu.Out}\nstderr:\n{emu.Err}\n{emu.Faults}");
        Assert.Equal(native.ExitCode, emu.Code);
    }
}
