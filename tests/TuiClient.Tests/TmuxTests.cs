using System.Diagnostics;
using Lab.Server;
using Lab.Server.Sessions;
using Lab.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Lab.TuiClient.Tests;

/// <summary>
/// The TUI as a person uses it: a real server on loopback, `tui connect` as the instructor and as a
/// student in two tmux panes, keys sent with send-keys, screens read with capture-pane.
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

    private static string TuiCommand()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "tui.dll");
        return $"dotnet {dll}";
    }

    private string Pane(int index) => Tmux("capture-pane", "-p", "-t", $"{_tmux}.{index}");

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

    private static string Status(string pane) => pane.TrimEnd('\n').Split('\n').Last();

    private static string CgaPart(string pane) =>
        string.Join("\n", pane.Split('\n').Skip(1).Take(25).Select(l => l.Length > 80 ? l[..80] : l));

    [Fact]
    public async Task InstructorAndStudentDriveAndWatchTheSameSession()
    {
        var sessions = _server!.Services.GetRequiredService<SessionManager>();
        var (session, error) = sessions.Create(new SessionSettings { Name = "lecture", Program = "allocator", InstructorKey = "prof-key-123" });
        Assert.Null(error);

        string tui = TuiCommand();
        string target = _url.Replace("http://", "") + "/lecture";
        Tmux("new-session", "-d", "-s", _tmux, "-x", "220", "-y", "45", $"{tui} connect {target} --name prof --key prof-key-123; sleep 30");
        Tmux("split-window", "-h", "-t", _tmux, $"{tui} connect {target} --name student; sleep 30");

        // Both see the WeensyOS screen.
        await WaitForPane(0, p => p.Contains("PHYSICAL MEMORY") && Status(p).Contains("instructor"), "the instructor's screen");
        await WaitForPane(1, p => p.Contains("PHYSICAL MEMORY") && Status(p).Contains("viewer"), "the student's screen");

        // The student is a viewer: a key is refused, and says why.
        Tmux("send-keys", "-t", $"{_tmux}.1", "f");
        await WaitForPane(1, p => Status(p).Contains("viewers cannot type"), "the refusal");

        // The instructor grants driving; the student presses 'f' and both see fork's memory map.
        Tmux("send-keys", "-t", $"{_tmux}.0", ":grant student", "Enter");
        await WaitForPane(1, p => Status(p).Contains("driver"), "the driver role");
        Tmux("send-keys", "-t", $"{_tmux}.1", "f");
        await WaitForPane(0, p => p.Contains("student pressed 'f'"), "the key press in the instructor's log");

        // Pause: both panes converge on the same screen.
        Tmux("send-keys", "-t", $"{_tmux}.0", ":pause", "Enter");
        string a = await WaitForPane(0, p => Status(p).Contains("paused"), "pause on the instructor's side");
        string b = await WaitForPane(1, p => Status(p).Contains("paused") && CgaPart(p) == CgaPart(Pane(0)), "the same paused screen");
        Assert.Contains("VIRTUAL ADDRESS SPACE", CgaPart(b));

        // Pair-debug: the student steps; a breakpoint on fork set by the instructor stops the machine
        // after a reboot into p-fork, in both panes; continue runs on.
        Tmux("send-keys", "-t", $"{_tmux}.1", ":step 3", "Enter");
        await WaitForPane(0, p => p.Contains("stepped 3 instructions") && p.Contains("by student"), "the student's step in the instructor's debugger pane");
        Tmux("send-keys", "-t", $"{_tmux}.0", ":break fork", "Enter");
        await WaitForPane(1, p => p.Contains("breakpoints: 1: on fork"), "the breakpoint in the student's pane");
        Tmux("send-keys", "-t", $"{_tmux}.0", ":reboot fork", "Enter");
        await WaitForPane(0, p => p.Contains("STOPPED") && p.Contains("breakpoint 1: on fork"), "the fork breakpoint hit (instructor)");
        await WaitForPane(1, p => p.Contains("STOPPED") && p.Contains("breakpoint 1: on fork") && p.Contains("=> 0x"), "the fork breakpoint hit with disassembly (student)");
        Tmux("send-keys", "-t", $"{_tmux}.1", ":delete all", "Enter");
        await WaitForPane(0, p => p.Contains("student deleted 1 breakpoint"), "the deleted breakpoint");
        Tmux("send-keys", "-t", $"{_tmux}.1", ":continue", "Enter");
        await WaitForPane(0, p => p.Contains("continued by student") && Status(p).Contains("running"), "continue");

        // Resize the window: the status line moves to the new bottom row.
        Tmux("resize-window", "-t", _tmux, "-x", "200", "-y", "34");
        await WaitForPane(0, p => p.TrimEnd('\n').Split('\n').Length <= 34 && Status(p).Contains("running"), "the status line after a resize");
    }

    [Fact]
    public async Task A_student_uses_the_posix_shell_in_tui_local()
    {
        static string Console(string pane) => string.Join("\n", CgaPart(pane).Split('\n').Select(l => l.TrimEnd()));
        // `tui local --profile posix` without any server: the console pane runs an interactive shell.
        Tmux("new-session", "-d", "-s", _tmux, "-x", "160", "-y", "50", $"{TuiCommand()} local --profile posix --mem 32M; sleep 30");
        await WaitForPane(0, p => p.Contains("console · local · sh -i") && Console(p).StartsWith("$"), "the shell prompt in the console pane");
        Assert.Contains("8192 pages (32 MiB)", Pane(0));

        Tmux("send-keys", "-t", _tmux, "echo one two | wc", "Enter");
        await WaitForPane(0, p => Console(p).Contains("$ echo one two | wc\n      1       2       8\n$"), "the pipeline's output");

        // A typo is fixed with Backspace before the shell sees the line.
        Tmux("send-keys", "-t", _tmux, "ecgo", "BSpace", "BSpace", "ho hi", "Enter");
        await WaitForPane(0, p => Console(p).Contains("$ echo hi\nhi\n$"), "the edited command's output");

        // A pasted line (more keys at once than the per-key rate limit allows) arrives whole.
        Tmux("send-keys", "-t", _tmux, "-l", "echo " + new string('x', 150));
        Tmux("send-keys", "-t", _tmux, "Enter");
        await WaitForPane(0, p => Console(p).Contains("\n" + new string('x', 80) + "\n" + new string('x', 70) + "\n$"), "the pasted command's output");

        // Ctrl-C interrupts the program the shell waits for (and does not quit the TUI).
        Tmux("send-keys", "-t", _tmux, "cat", "Enter");
        await WaitForPane(0, p => p.Contains(" cat") && p.Contains("blocked"), "cat waiting for input in the process table");
        Tmux("send-keys", "-t", _tmux, "C-c");
        await WaitForPane(0, p => Console(p).Contains("^C\nsh: cat: killed by signal 2\n$"), "cat interrupted");

        // The scaled physical memory view shows who owns the pages under the cursor.
        Tmux("send-keys", "-t", _tmux, "Tab");
        await WaitForPane(0, p => p.Contains("pages): reserved ×"), "the selected cell's owners");

        // F10 quits.
        Tmux("send-keys", "-t", _tmux, "F10");
        await WaitForPane(0, p => !p.Contains("console · local"), "the TUI to exit");
    }
}
