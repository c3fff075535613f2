using Lab.Server;
using Lab.Server.Sessions;
using Lab.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Lab.TuiClient.Tests;

/// <summary>
/// The TUI as a person uses it: a real server on loopback, `tui connect` as the instructor and as a
/// student in two tmux panes (or `tui local` in one), keys sent with send-keys, mouse clicks as the
/// SGR sequences a terminal sends, screens read with capture-pane.
/// </summary>
public sealed class TmuxTests : IAsyncLifetime
{
    private readonly string _tmux = "lab-tui-" + Guid.NewGuid().ToString("N")[..8];
    private WebApplication? _server;
    private string _url = "";

    public async Task InitializeAsync()
    {
        string data = Path.Combine(Path.GetTempPath(), "lab-tmux-" + Guid.NewGuid().ToString("N"));
        _server = LabServerHost.Create(["--urls", "http://127.0.0.1:0", "--data", data]);
        await _server.StartAsync();
        _url = LabServerHost.BoundUrl(_server);
    }

    public async Task DisposeAsync()
    {
        Tmux("kill-session", "-t", _tmux);
        if (_server != null) { await _server.StopAsync(); await _server.DisposeAsync(); }
    }

    private static string Tmux(params string[] args)
    {
        var (code, stdout, stderr) = Gcc.Run("tmux", args);
        return code == 0 ? stdout : stderr;
    }

    private static string TuiCommand() => $"dotnet {Path.Combine(AppContext.BaseDirectory, "tui.dll")}";

    private string Pane(int index) => Tmux("capture-pane", "-p", "-t", $"{_tmux}.{index}");

    private void Keys(int pane, params string[] keys) => Tmux(["send-keys", "-t", $"{_tmux}.{pane}", .. keys]);

    /// <summary>Types text literally (no key names), as a paste or fast typing arrives.</summary>
    private void Type(int pane, string text) => Tmux("send-keys", "-t", $"{_tmux}.{pane}", "-l", text);

    /// <summary>A left click at a cell (0-based column and row of the pane), as an xterm in SGR mouse mode sends it.</summary>
    private void Click(int pane, int column, int row)
    {
        Type(pane, $"\x1b[<0;{column + 1};{row + 1}M");
        Type(pane, $"\x1b[<0;{column + 1};{row + 1}m");
    }

    private async Task<string> WaitForPane(int index, Func<string, bool> condition, string what)
    {
        string text = "";
        for (int i = 0; i < 300; i++)
        {
            text = Pane(index);
            if (condition(text)) return text;
            await Task.Delay(200);
        }
        throw new TimeoutException($"pane {index}: timed out waiting for {what}; the pane shows:\n{text}");
    }

    /// <summary>Where text first appears in a captured pane: its column and row.</summary>
    private static (int Column, int Row) Find(string pane, string text)
    {
        var lines = pane.Split('\n');
        for (int row = 0; row < lines.Length; row++)
            if (lines[row].IndexOf(text, StringComparison.Ordinal) is var col and >= 0)
                return (new System.Globalization.StringInfo(lines[row][..col]).LengthInTextElements, row);
        throw new InvalidOperationException($"'{text}' is not on the screen:\n{pane}");
    }

    /// <summary>Where text is on a pane, once it is there (a capture may catch a redraw half done).</summary>
    private async Task<(int Column, int Row)> FindOnPane(int index, string text) =>
        Find(await WaitForPane(index, p => p.Contains(text), $"'{text}'"), text);

    private static string Status(string pane) => pane.TrimEnd('\n').Split('\n').Last();

    /// <summary>Text without its white space: a message the status bar wraps onto several rows reads whole.</summary>
    private static string Squeezed(string text) => string.Concat(text.Where(ch => !char.IsWhiteSpace(ch)));

    /// <summary>The CGA screen inside its frame (wide layout: rows 2-26, columns 1-80).</summary>
    private static string CgaPart(string pane) =>
        string.Join("\n", pane.Split('\n').Skip(2).Take(25).Select(l => l.Length > 81 ? l[1..81] : l));

    [Fact]
    public async Task Instructor_and_student_drive_follow_and_debug_the_same_session()
    {
        var sessions = _server!.Services.GetRequiredService<SessionManager>();
        var (_, error) = sessions.Create(new SessionSettings
        {
            Name = "lecture", Program = "allocator", InstructorKey = "prof-key-123", Private = true, JoinCode = "JOIN-4242",
        });
        Assert.Null(error);

        string tui = TuiCommand();
        string target = _url.Replace("http://", "") + "/lecture";
        Tmux("new-session", "-d", "-s", _tmux, "-x", "260", "-y", "50", $"{tui} connect {target} --name prof --key prof-key-123; sleep 60");
        Tmux("split-window", "-h", "-t", _tmux, $"{tui} connect {target} --name student --code JOIN-4242; sleep 60");

        // Both see the WeensyOS screen, each with their role on the status line and "(you)" on their line.
        await WaitForPane(0, p => p.Contains("PHYSICAL MEMORY") && Status(p).Contains("instructor"), "the instructor's screen");
        await WaitForPane(1, p => p.Contains("PHYSICAL MEMORY") && Status(p).Contains("viewer"), "the student's screen");
        // Whoever joined first got p1: the two clients start together.
        var studentLine = new System.Text.RegularExpressions.Regex(@"p\d+  student \(viewer\)");
        string people = await WaitForPane(0, p => studentLine.IsMatch(p) && p.Contains("prof (instructor) (you)"), "the participants");
        string studentId = studentLine.Match(people).Value.Split(' ')[0];

        // The student is a viewer: a key is refused, and says why.
        Keys(1, "f");
        await WaitForPane(1, p => p.Contains("viewers cannot type"), "the refusal");

        // The instructor grants driving with the mouse and a key: click the student's line, press g.
        var (col, row) = await FindOnPane(0, $"{studentId}  student (viewer)");
        Click(0, col, row);
        Keys(0, "g");
        string student = await WaitForPane(1, p => Status(p).Contains("driver") && p.Contains("you may drive now"), "the driver role replacing the refusal");
        Assert.DoesNotContain("viewers cannot", student);
        Keys(1, "f");
        await WaitForPane(0, p => p.Contains("student pressed 'f'"), "the key press in the instructor's log");

        // Pause: both panes converge on the same screen.
        Keys(0, ":pause", "Enter");
        await WaitForPane(0, p => Status(p).Contains("paused"), "pause on the instructor's side");
        string b = await WaitForPane(1, p => Status(p).Contains("paused") && CgaPart(p) == CgaPart(Pane(0)), "the same paused screen");
        Assert.Contains("VIRTUAL ADDRESS SPACE", CgaPart(b));

        // Follow: the instructor shows pid 3's address space; the student's view and the instructor's own follow.
        Keys(0, ":follow vmap 3", "Enter");
        await WaitForPane(1, p => p.Contains("virtual memory of pid 3") && Status(p).Contains("following prof: vmap pid 3"), "the student following");
        await WaitForPane(0, p => p.Contains("virtual memory of pid 3"), "the instructor's own view");
        Keys(0, ":follow nosuch", "Enter");
        // The refusal itself (the command bar shows "nosuch" as it is typed, before the command runs).
        await WaitForPane(0, p => Squeezed(p).Contains(Squeezed("no pane named 'nosuch' to follow")), "the refused pane");
        Keys(0, ":unfollow", "Enter");
        await WaitForPane(1, p => !Status(p).Contains("following") && p.Contains("prof ended follow mode"), "follow mode ended on the student's side");

        // The student clicks a process: its virtual memory (a click on its line in the process table).
        (col, row) = await FindOnPane(1, "   1      - ");
        Click(1, col + 2, row);
        await WaitForPane(1, p => p.Contains("virtual memory of pid 1"), "pid 1's map after a click");

        // Pair-debug: the student steps; a breakpoint on fork set by the instructor stops the machine
        // after a reboot into p-fork, in both panes; continue runs on.
        Keys(1, "F8");
        Type(1, "step 3");
        Keys(1, "Enter");
        await WaitForPane(0, p => p.Contains("stepped 3 instructions"), "the student's step in the instructor's debugger pane");
        Keys(1, "F8");
        Type(1, "step abc");
        Keys(1, "Enter");
        await WaitForPane(1, p => p.Contains("usage: step"), "the refused step count");
        Keys(0, ":break fork", "Enter");
        await WaitForPane(1, p => p.Contains("breakpoints: 1: on fork"), "the breakpoint in the student's pane");
        Keys(0, ":reboot fork", "Enter");
        await WaitForPane(0, p => p.Contains("STOPPED") && p.Contains("breakpoint 1: on fork"), "the fork breakpoint hit (instructor)");
        string stopped = await WaitForPane(1, p => p.Contains("STOPPED") && p.Contains("breakpoint 1: on fork") && p.Contains("=> 0x"), "the fork breakpoint hit with disassembly (student)");
        var registers = Lab.Shared.Wire.DebuggerState.RegisterNames;
        Assert.All(registers, r => Assert.Matches($@"\b{r} +[0-9a-f]{{16}}\b", stopped));   // every register whole
        Keys(1, "F8");
        Type(1, "delete all");
        Keys(1, "Enter");
        await WaitForPane(0, p => p.Contains("deleted 1 breakpoint (1: on fork) · by student"), "the deleted breakpoint");
        Keys(1, "F8");
        Type(1, "continue");
        Keys(1, "Enter");
        await WaitForPane(0, p => p.Contains("continued") && Status(p).Contains("running"), "continue");

        // The instructor finds the join code again.
        Keys(0, ":info", "Enter");
        await WaitForPane(0, p => p.Contains("JOIN-4242") && p.Contains("prof-key-123"), "the session's secrets in a dialog");
        Keys(0, "Escape");
        await WaitForPane(0, p => !p.Contains("prof-key-123"), "the dialog closed");

        // The instructor's status line shows the join code; `code` changes it.
        await WaitForPane(0, p => Status(p).Contains("code JOIN-4242"), "the join code on the instructor's status line");
        Keys(0, ":code", "Enter");
        await WaitForPane(0, p => p.Contains("new join code") && !Status(p).Contains("JOIN-4242") && Status(p).Contains("│ code "), "a new join code");

        // The instructor removes the student (after a question); the student's client says so.
        (col, row) = await FindOnPane(0, $"{studentId}  student (driver)");
        Click(0, col, row);
        Keys(0, "x");
        await WaitForPane(0, p => p.Contains($"Remove {studentId} from lecture?"), "the question");
        Keys(0, "y");
        await WaitForPane(0, p => !p.Contains($"{studentId}  student"), "the student gone from the instructor's view");
        await WaitForPane(1, p => Status(p).Contains("removed from the session by prof"), "the student told");

        // Resize the window: the status line moves to the new bottom row.
        Tmux("resize-window", "-t", _tmux, "-x", "240", "-y", "42");
        await WaitForPane(0, p => p.TrimEnd('\n').Split('\n').Length <= 42 && Status(p).Contains("running"), "the status line after a resize");
    }

    [Fact]
    public async Task A_student_uses_the_posix_shell_in_tui_local_at_80x24()
    {
        static string Console(string pane) => string.Join("\n", pane.Split('\n').Skip(2).Take(21).Select(l => l.TrimEnd())).TrimEnd();
        // `tui local --profile posix` without any server, in the smallest supported terminal.
        Tmux("new-session", "-d", "-s", _tmux, "-x", "80", "-y", "24", $"{TuiCommand()} local --profile posix --mem 32M; echo TUI-ENDED; sleep 60");
        await WaitForPane(0, p => p.Contains("F2 screen") && Console(p).StartsWith("$"), "the shell prompt on the screen tab");

        // ':' is typed into the console (it does not open the command bar).
        Type(0, "echo root:x:0 | wc");
        Keys(0, "Enter");
        await WaitForPane(0, p => Console(p).Contains("$ echo root:x:0 | wc\n      1       1       9\n$"), "the pipeline with colons");

        // A typo is fixed with Backspace before the shell sees the line.
        Type(0, "ecgo");
        Keys(0, "BSpace", "BSpace");
        Type(0, "ho hi");
        Keys(0, "Enter");
        await WaitForPane(0, p => Console(p).Contains("$ echo hi\nhi\n$"), "the edited command's output");

        // A pasted line (more keys at once than the per-key rate limit allows) arrives whole.
        Type(0, "echo " + new string('x', 150));
        Keys(0, "Enter");
        await WaitForPane(0, p => Console(p).Contains("\n" + new string('x', 80) + "\n" + new string('x', 70) + "\n$"), "the pasted command's output");

        // A terminal's bracketed paste (tmux paste-buffer -p) reaches the shell too.
        Tmux("set-buffer", "-b", _tmux, "echo from:the clipboard");
        Tmux("paste-buffer", "-p", "-b", _tmux, "-t", $"{_tmux}.0");
        Keys(0, "Enter");
        await WaitForPane(0, p => Console(p).Contains("$ echo from:the clipboard\nfrom:the clipboard\n$"), "the bracketed paste's output");

        // Ctrl+C interrupts the program the shell waits for; Ctrl+D ends cat's input, not the shell.
        Type(0, "cat");
        Keys(0, "Enter");
        Keys(0, "F4");
        await WaitForPane(0, p => p.Contains(" cat") && p.Contains("blocked"), "cat waiting for input in the process table");
        Keys(0, "F2");
        Keys(0, "C-c");
        await WaitForPane(0, p => Console(p).Contains("^C\nsh: cat: killed by signal 2\n$"), "cat interrupted");
        Type(0, "cat");
        Keys(0, "Enter");
        Type(0, "typed");
        Keys(0, "Enter", "C-d");
        await WaitForPane(0, p => Console(p).EndsWith("$ cat\ntyped\ntyped\n$"), "cat ended by Ctrl+D");
        Type(0, "echo still here");
        Keys(0, "Enter");
        await WaitForPane(0, p => Console(p).Contains("typed\ntyped\n$ echo still here\nstill here\n$"), "the shell alive after Ctrl+D");

        // A long refusal is shown whole: the status bar grows rows for it instead of cutting it.
        Keys(0, "F8");
        Type(0, "frobnicate");
        Keys(0, "Enter");
        await WaitForPane(0, p => Squeezed(p).Contains(Squeezed("unknown command 'frobnicate' (try: info, pause,")) && Squeezed(p).Contains(Squeezed(LabSession.DebuggerHelp + ")")), "the whole refusal");

        // Outside the console Ctrl+C does not quit: it says how to.
        Keys(0, "F5");
        Keys(0, "C-c");
        await WaitForPane(0, p => p.Contains("F10 quits") && p.Contains("events:"), "Ctrl+C on the events tab");

        // A click on a tab switches to it; a click on the memory map selects a cell.
        var (col, row) = await FindOnPane(0, "F3 memory");
        Click(0, col + 1, row);
        // The ninth row's label, once the tab is drawn that far (a capture can catch a redraw half done).
        static string? NinthRow(string p) =>
            System.Text.RegularExpressions.Regex.Match(p, @"(\d+) pages per cell") is { Success: true } m
            && $"0x{8 * 64 * int.Parse(m.Groups[1].Value) * 4096:X7}" is var label && p.Contains(label) ? label : null;
        string memory = await WaitForPane(0, p => p.Contains("8192 pages (32 MiB)") && NinthRow(p) is not null, "the memory tab after a click");
        int perCell = int.Parse(System.Text.RegularExpressions.Regex.Match(memory, @"(\d+) pages per cell").Groups[1].Value);
        (col, row) = Find(memory, NinthRow(memory)!);
        Click(0, col + 10 + 5, row);                                           // its sixth cell
        await WaitForPane(0, p => p.Contains($"0x{(8 * 64 + 5) * perCell * 4096:X7}-"), "the clicked cell's range");

        // Too small: the app says what it needs; back to 80x24 it works again.
        Tmux("resize-window", "-t", _tmux, "-x", "70", "-y", "20");
        await WaitForPane(0, p => p.Contains("at least 80x24; this one is 70x20"), "the size it needs");
        Tmux("resize-window", "-t", _tmux, "-x", "80", "-y", "24");
        await WaitForPane(0, p => p.Contains("8192 pages (32 MiB)"), "the memory tab again");

        // F10 asks before throwing the machine away; No keeps it, Yes quits.
        Keys(0, "F10");
        await WaitForPane(0, p => p.Contains("Quit tui local?"), "the quit question");
        Keys(0, "Escape");
        await WaitForPane(0, p => !p.Contains("Quit tui local?") && p.Contains("8192 pages"), "the app still running");
        Keys(0, "F10");
        await WaitForPane(0, p => p.Contains("Quit tui local?"), "the quit question again");
        Keys(0, "y");
        await WaitForPane(0, p => p.Contains("TUI-ENDED"), "the TUI to exit");
    }

    [Fact]
    public async Task Tui_connect_without_a_session_asks_in_a_dialog_and_again_after_a_failure()
    {
        int closed = Network.FreeLoopbackPort();
        Tmux("new-session", "-d", "-s", _tmux, "-x", "120", "-y", "40", $"{TuiCommand()} connect --name dana; echo TUI-ENDED; sleep 60");
        await WaitForPane(0, p => p.Contains("Connect to a Lab session") && p.Contains("localhost/demo"), "the connect dialog");
        Keys(0, "C-u");
        Type(0, $"127.0.0.1:{closed}/demo");
        Keys(0, "Enter");
        await WaitForPane(0, p => p.Contains("Cannot connect") && p.Contains($"cannot reach http://127.0.0.1:{closed}"), "the reason it failed");
        Keys(0, "Enter");
        await WaitForPane(0, p => p.Contains("Connect to a Lab session") && p.Contains($"127.0.0.1:{closed}/demo"), "the dialog again, as filled in");
        Keys(0, "C-u");
        Type(0, _url.Replace("http://", "") + "/demo");
        Keys(0, "Enter");
        await WaitForPane(0, p => p.Contains("PHYSICAL MEMORY") && Status(p).Contains("viewer") && p.Contains("dana (viewer) (you)"), "the demo, watched as dana");
        Keys(0, "F10");
        await WaitForPane(0, p => p.Contains("TUI-ENDED"), "the TUI to exit without asking (the session goes on without it)");
    }
    /// <summary>Closing the terminal (tmux kills the pane: SIGHUP) ends `tui local` cleanly: the process
    /// exits and the private server's data directory is gone (it used to stay in /tmp, with the process).</summary>
    [Fact]
    public async Task Tui_local_cleans_up_when_its_terminal_closes()
    {
        string tmp = Directory.CreateTempSubdirectory("lab-hangup-").FullName;
        try
        {
            Tmux("new-session", "-d", "-s", _tmux, "-x", "160", "-y", "50", $"TMPDIR={tmp} exec {TuiCommand()} local");
            await WaitForPane(0, p => p.Contains("PHYSICAL MEMORY"), "the demo machine");
            int pid = int.Parse(Tmux("display-message", "-p", "-t", _tmux, "#{pane_pid}").Trim());
            Assert.Single(Directory.GetDirectories(tmp, "lab-local-*"));
            Tmux("kill-session", "-t", _tmux);
            await WaitUntil(() => !Alive(pid), "the tui process to end after the hang-up");
            Assert.Empty(Directory.GetDirectories(tmp, "lab-local-*"));
        }
        finally { Directory.Delete(tmp, recursive: true); }
    }

    private static bool Alive(int pid)
    {
        try { return !System.Diagnostics.Process.GetProcessById(pid).HasExited; }
        catch (ArgumentException) { return false; }
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        for (int i = 0; i < 300; i++)
        {
            if (condition()) return;
            await Task.Delay(200);
        }
        throw new TimeoutException($"timed out waiting for {what}");
    }
}
