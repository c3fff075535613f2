using Lab.Server.Sessions;
using Microsoft.AspNetCore.SignalR;
using Lab.Shared.Wire;

namespace Lab.Server.Tests;

/// <summary>POSIX-profile sessions on real Kestrel with real clients: the console, keys through the
/// line discipline, processes, wide pages, sparse virtual maps, the debugger and reboots.</summary>
public class PosixSessionTests
{
    private static async Task<TestClient> CreateAsync(LabServerFixture server, string name, string program = "", int memoryMiB = 0)
    {
        var instructor = await TestClient.ConnectAsync(server.Url);
        var created = await instructor.Hub.CreateSession(new CreateSessionOptions(name, program, "cow", "posix", false, memoryMiB));
        await instructor.JoinAsync(name, "prof", created.InstructorKey);
        return instructor;
    }

    private static string Screen(SessionMirror m) => string.Join("\n", m.ScreenText().Select(l => l.TrimEnd()));

    /// <summary>Types a line at about 20 keys a second (the server refuses floods faster than 30 a second).</summary>
    private static async Task TypeAsync(TestClient c, string line)
    {
        foreach (char ch in line) await KeyAsync(c, ch.ToString());
        await KeyAsync(c, "Enter");
    }

    private static async Task KeyAsync(TestClient c, string key)
    {
        await c.KeyAsync(key);
        await Task.Delay(50);
    }

    [Fact]
    public async Task A_driver_uploads_a_file_that_the_shell_then_reads_and_the_log_says_so()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var prof = await CreateAsync(server, "files", memoryMiB: 4);
        await using var student = await TestClient.ConnectAsync(server.Url);
        await student.JoinAsync("files", "ann");
        await prof.WaitForAsync(m => Screen(m).StartsWith("$"), "the shell's prompt");

        await prof.Hub.UploadFile("input.txt", "alpha\nbeta\ngamma\n"u8.ToArray());
        Assert.Equal("uploaded /home/student/notes/input.txt (17 bytes)", await prof.CommandAsync("put notes/input.txt"));
        await student.WaitForAsync(m => m.Events.Any(e => e.Text.Contains("prof uploaded /home/student/notes/input.txt (17 bytes)")), "the upload in the log");
        await prof.Hub.Type("wc /home/student/notes/input.txt\n");
        await student.WaitForAsync(m => Screen(m).Contains("      3       3      17 /home/student/notes/input.txt"), "wc of the uploaded file");

        // A viewer may not upload; nothing uploaded, a file in the way, or a file too big for the machine: refused with the reason.
        await student.Hub.UploadFile("x.txt", "x"u8.ToArray());
        Assert.Contains("viewers cannot upload files", (await Assert.ThrowsAsync<HubException>(() => student.CommandAsync("put"))).Message);
        Assert.Contains("upload the file first", (await Assert.ThrowsAsync<HubException>(() => prof.CommandAsync("put"))).Message);
        await prof.Hub.UploadFile("y.txt", "y"u8.ToArray());
        Assert.Contains("/home/student/notes/input.txt is a file", (await Assert.ThrowsAsync<HubException>(() => prof.CommandAsync("put notes/input.txt/y.txt"))).Message);
        await prof.Hub.UploadFile("big.bin", new byte[5 << 20]);
        Assert.Contains("does not fit", (await Assert.ThrowsAsync<HubException>(() => prof.CommandAsync("put"))).Message);
    }

    [Fact]
    public async Task A_shell_session_runs_typed_commands_and_everyone_sees_the_console()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var prof = await CreateAsync(server, "shell");
        await using var student = await TestClient.ConnectAsync(server.Url);
        await student.JoinAsync("shell", "ann");
        await prof.WaitForAsync(m => m.Status is { Profile: "posix", Program: "sh -i" } && Screen(m).StartsWith("$"), "the shell's prompt");

        await TypeAsync(prof, "echo hello from the lab | wc");
        await student.WaitForAsync(m => Screen(m).Contains("$ echo hello from the lab | wc\n      1       4      19\n$"), "the pipeline's output on the student's console");
        Assert.Contains(prof.Mirror.Events, e => e.Text.Contains("prof typed \"echo hello from the lab | wc\""));

        // A viewer may not type.
        var refused = await Assert.ThrowsAsync<HubException>(() => student.KeyAsync("x"));
        Assert.Contains("viewers cannot type", refused.Message);

        // A run of keys (a paste) goes in one call; a viewer may not, and a huge one is refused.
        await prof.Hub.Type("echo pasted in one go\n");
        await student.WaitForAsync(m => Screen(m).Contains("$ echo pasted in one go\npasted in one go\n$"), "the pasted line's output");
        await Assert.ThrowsAsync<HubException>(() => student.Hub.Type("ls\n"));
        var tooMuch = await Assert.ThrowsAsync<HubException>(() => prof.Hub.Type(new string('y', 5000)));
        Assert.Contains("at most 1024", tooMuch.Message);

        // Backspace edits the line before the program sees it.
        foreach (char ch in "echo abX") await KeyAsync(prof, ch.ToString());
        await prof.KeyAsync("Backspace");
        await prof.KeyAsync("c");
        await prof.KeyAsync("Enter");
        await student.WaitForAsync(m => Screen(m).Contains("$ echo abc\nabc\n$"), "the edited line's output");

        // Ctrl-C ends the program the shell waits for, and the shell reports it.
        await TypeAsync(prof, "cat");
        await prof.WaitForAsync(m => m.Processes.Any(p => p.Name == "cat"), "cat in the process table");
        var cat = prof.Mirror.Processes.First(p => p.Name == "cat");
        var sh = prof.Mirror.Processes.First(p => p.Name == "sh");
        Assert.Equal(sh.Pid, cat.Parent);
        await prof.KeyAsync("\u0003");
        await student.WaitForAsync(m => Screen(m).Contains("^C\nsh: cat: killed by signal 2\n$"), "the interrupted cat");
        await student.WaitForAsync(m => !m.Processes.Any(p => p.Name == "cat"), "cat gone from the process table");
        Assert.Contains(prof.Mirror.Events, e => e.Kind == EventKind.Fork && e.Text.Contains($"pid {sh.Pid} forked pid {cat.Pid}"));

        // Physical memory arrives in the wide form: 64 MiB, every user page owned by a live pid.
        Assert.Empty(student.Mirror.Pages);
        Assert.Equal(16384 * FrameCodec.WidePageSize, student.Mirror.WidePages.Length);
        static int Owned(SessionMirror m, int pid) =>
            Enumerable.Range(0, 16384).Count(p => FrameCodec.WidePage(m.WidePages, p) is { Owner: var o, Refcount: > 0 } && o == pid);
        // The page map may lag the process table by up to a quarter second (it is sent less often).
        await student.WaitForAsync(m => Owned(m, sh.Pid) == m.Processes.First(p => p.Pid == sh.Pid).Pages, "the page map and the table to agree");
        Assert.True(Owned(student.Mirror, sh.Pid) > 4, $"sh owns {Owned(student.Mirror, sh.Pid)} pages");

        // Ctrl-D on an empty line ends the shell's input: it exits with the last command's status
        // (130: cat was killed by SIGINT, as bash does) and the machine says so.
        await prof.KeyAsync("\u0004");
        await student.WaitForAsync(m => m.Status?.Halted?.Contains("sh exited with status 130") == true, "the shell's exit");
    }

    [Fact]
    public async Task The_virtual_map_of_a_posix_process_holds_only_its_mapped_rows()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var prof = await CreateAsync(server, "vmap");
        await prof.WaitForAsync(m => m.Processes.Any(p => p.Name == "sh"), "the shell");
        int sh = prof.Mirror.Processes.First(p => p.Name == "sh").Pid;
        await prof.Hub.ViewMemory(sh);
        await prof.WaitForAsync(m => m.VirtualMap is { } v && v.Pid == sh && v.PageCount > 0, "sh's virtual map");
        var map = prof.Mirror.VirtualMap!;
        Assert.Equal(VirtualMap.WideBytesPerPage, map.EntrySize);
        Assert.NotNull(map.RowStarts);
        Assert.Equal(map.RowStarts!.Length * 64, map.PageCount);
        // The program's image sits low (0x400000 and up) and its stack just below 0x7fff_ffff_0000.
        var mapped = Enumerable.Range(0, map.PageCount).Where(p => map[p].Perm != 0).Select(map.AddressOf).ToList();
        Assert.Contains(mapped, va => va >= 0x400000 && va < 0x1000_0000);
        Assert.Contains(mapped, va => va >= 0x7FFF_0000_0000 && va < 0x7FFF_FFFF_0000);
        Assert.All(Enumerable.Range(0, map.PageCount).Where(p => map[p].Perm != 0), p =>
        {
            var (owner, refs, perm) = map[p];
            Assert.True(refs >= 1);
            Assert.True((perm & 5) == 5, $"user page at 0x{map.AddressOf(p):x} has perm {perm}");
        });
        // A text page is not writable; a stack page is.
        Assert.Contains(Enumerable.Range(0, map.PageCount), p => map[p].Perm == 5 && map.AddressOf(p) < 0x1000_0000);
        Assert.Contains(Enumerable.Range(0, map.PageCount), p => map[p].Perm == 7 && map.AddressOf(p) >= 0x7FFF_0000_0000);
    }

    [Fact]
    public async Task Pair_debugging_a_posix_program_breaks_on_a_linux_syscall_and_lists_processes()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var prof = await CreateAsync(server, "debug");
        await prof.WaitForAsync(m => Screen(m).StartsWith("$"), "the prompt");
        Assert.Contains("breakpoint 1: on syscall execve", await prof.CommandAsync("break syscall execve"));
        await Assert.ThrowsAsync<HubException>(() => prof.CommandAsync("break syscall nosuchcall"));
        await TypeAsync(prof, "echo hi");
        await prof.WaitForAsync(m => m.Debugger is { Stopped: true } d && d.Reason.Contains("execve"), "the break on execve");
        await prof.WaitForAsync(m => m.Status is { Running: false }, "the stopped status");
        await prof.CommandAsync("ps");
        await prof.WaitForAsync(m => m.Debugger!.Output.Any(l => l.Contains(" sh")) && m.Debugger.Output.Count(l => l.Contains("<- current")) == 1, "ps output");
        await prof.CommandAsync("regs");
        await prof.WaitForAsync(m => m.Debugger!.Output.Any(l => l.StartsWith("rax")), "registers");
        await prof.CommandAsync("delete all");
        await prof.CommandAsync("continue");
        await prof.WaitForAsync(m => Screen(m).Contains("$ echo hi\nhi\n$"), "echo's output after continuing");
    }

    [Fact]
    public async Task A_session_reboots_into_a_test_program_and_bad_programs_are_refused()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var prof = await CreateAsync(server, "tests", program: "t-fork");
        await prof.WaitForAsync(m => m.Status?.Halted != null, "t-fork to finish");
        Assert.Contains("t-fork exited with status 0", prof.Mirror.Status!.Halted);
        Assert.Contains("PASS fork-returns", Screen(prof.Mirror));
        Assert.Equal(16384 * FrameCodec.WidePageSize, prof.Mirror.WidePages.Length);

        Assert.Equal("rebooting into t-pipe", await prof.CommandAsync("reboot t-pipe"));
        await prof.WaitForAsync(m => m.Status?.Program == "t-pipe" && m.Status.Halted != null, "t-pipe to finish");
        Assert.Contains("PASS pipe-basic", Screen(prof.Mirror));
        Assert.DoesNotContain("PASS fork-returns", Screen(prof.Mirror));

        // A track report shows in the event log as a Track event, beside the report on the console.
        await prof.CommandAsync("reboot track wc /etc/motd");
        await prof.WaitForAsync(m => m.Status?.Program == "track wc /etc/motd" && m.Status.Halted != null, "track to finish");
        Assert.Contains("=== track report ===", Screen(prof.Mirror));
        await prof.WaitForAsync(m => m.Events.Any(e => e.Kind == EventKind.Track && e.Text.Contains("collected the track report of pid") && e.Text.Contains("(wc, exit code 0)")), "the Track event");

        var bad = await Assert.ThrowsAsync<HubException>(() => prof.CommandAsync("reboot nosuch"));
        Assert.Contains("unknown program 'nosuch'", bad.Message);
        await using var other = await TestClient.ConnectAsync(server.Url);
        var refused = await Assert.ThrowsAsync<HubException>(() => other.Hub.CreateSession(new CreateSessionOptions("big", "sh", "cow", "posix", false, 100_000)));
        Assert.Contains("out of range", refused.Message);
    }

    /// <summary>A session's command line is split as a shell splits words, so a quoted script stays one argument.</summary>
    [Fact]
    public void A_command_line_splits_like_a_shell_and_round_trips()
    {
        Assert.Equal(["busybox", "sh", "-c", "echo a; ls -l", "x y"], SessionSettings.CommandWords("busybox sh -c 'echo a; ls -l' \"x y\""));
        Assert.Equal(["a\"b", "c d", "it's"], SessionSettings.CommandWords("\"a\\\"b\" c\\ d 'it'\\''s'"));
        Assert.Null(SessionSettings.CommandWords("sh -c 'unclosed"));
        string[] words = ["prog", "two words", "it's", "back\\slash", "\"q\"", ""];
        Assert.Equal(words, SessionSettings.CommandWords(SessionSettings.CommandLine(words)));
        Assert.Equal("sh -i", SessionSettings.CommandLine(["sh", "-i"]));
    }

    /// <summary>Debian's busybox-static on the server's host is offered as a POSIX session's program:
    /// it is copied in at /bin/busybox and its sh runs a quoted script.</summary>
    [Fact]
    public async Task A_session_runs_the_hosts_busybox_with_a_quoted_script()
    {
        Assert.True(SessionSettings.HostProgramPath("busybox") is not null, "busybox-static is not installed (test.sh installs it)");
        await using var server = await LabServerFixture.StartAsync();
        await using var prof = await CreateAsync(server, "bb", program: "busybox sh -c \"echo 'one  two'; seq 2 3\"");
        await prof.WaitForAsync(m => m.Status?.Halted != null, "busybox to finish");
        Assert.Contains("busybox exited with status 0", prof.Mirror.Status!.Halted);
        Assert.Contains("one  two\n2\n3", Screen(prof.Mirror));
    }

    [Fact]
    public async Task A_restart_brings_a_posix_session_back_with_its_shell_its_files_and_its_half_typed_line()
    {
        string data = Path.Combine(Path.GetTempPath(), "lab-posix-restart-" + Guid.NewGuid().ToString("N"));
        string key;
        ushort[] screen;
        ulong tick;
        {
            var server = await LabServerFixture.StartAsync(data);
            var prof = await TestClient.ConnectAsync(server.Url);
            var created = await prof.Hub.CreateSession(new CreateSessionOptions("persist", "", "cow", "posix", false, 16));
            key = created.InstructorKey;
            await prof.JoinAsync("persist", "prof", key);
            await prof.WaitForAsync(m => Screen(m).StartsWith("$"), "the prompt");
            await TypeAsync(prof, "echo kept across restarts > /tmp/note");
            // Wait for the next prompt: keys typed ahead echo at once, as on a terminal, and would mix with the prompt.
            await prof.WaitForAsync(m => Screen(m).TrimEnd().EndsWith("/tmp/note\n$"), "the next prompt");
            await TypeAsync(prof, "cat /tmp/note");
            await prof.WaitForAsync(m => Screen(m).Contains("cat /tmp/note\nkept across restarts\n$"), "the file's contents");
            foreach (char c in "cat /tmp/no") await KeyAsync(prof, c.ToString());   // typed, not yet sent
            await prof.WaitForAsync(m => Screen(m).TrimEnd().EndsWith("$ cat /tmp/no"), "the half-typed line");
            tick = server.Sessions.Find("persist")!.Latest.Tick;
            screen = server.Sessions.Find("persist")!.Latest.Screen;
            await prof.DisposeAsync();
            await server.StopAsync();   // graceful shutdown saves every session
            await server.DisposeAsync();
        }
        await using var restarted = await LabServerFixture.StartAsync(data);
        var session = restarted.Sessions.Find("persist");
        Assert.NotNull(session);
        Assert.Equal(screen, session!.Latest.Screen);
        Assert.True(session.Latest.Tick >= tick);
        await using var back = await TestClient.ConnectAsync(restarted.Url);
        Assert.Equal(Role.Instructor, (await back.JoinAsync("persist", "prof", key)).Role);
        // The shell is still waiting for that line: finishing it reads the file written before the restart.
        foreach (char c in "te") await KeyAsync(back, c.ToString());
        await back.KeyAsync("Enter");
        await back.WaitForAsync(m => Screen(m).Contains("$ cat /tmp/note\nkept across restarts\n$"), "the line finished after the restart");
    }

    [Fact]
    public async Task A_fork_bomb_stays_in_its_session_and_ctrl_c_ends_it_with_every_page_back()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var prof = await CreateAsync(server, "bomb", program: "s-forkbomb", memoryMiB: 16);
        await prof.WaitForAsync(m => m.Processes.Length > 300, "hundreds of processes");
        // The log stays readable: starts are summarised, not one line each.
        await prof.WaitForAsync(m => m.Events.Any(e => e.Kind == EventKind.Fork && e.Text.Contains("processes started (pids")), "a summarised fork line");
        Assert.True(prof.Mirror.Events.Count(e => e.Kind == EventKind.Fork) < 100, "fork lines are summarised");
        // Another session on the same server keeps running meanwhile.
        var demo = server.Sessions.Find("demo")!;
        ulong before = demo.Latest.Tick;
        await prof.WaitForAsync(_ => demo.Latest.Tick > before + 20, "the demo session to keep ticking");

        await prof.KeyAsync("\u0003");
        await prof.WaitForAsync(m => m.Status?.Halted?.Contains("s-forkbomb exited with status 130") == true, "the bomb ended by Ctrl-C");
        // The big parts (process table, page map) go at most 4 times a second, and still arrive once
        // the machine is quiet: no process is left, and every page is back but the reserved first MiB.
        await prof.WaitForAsync(m => m.Processes.Length == 0, "the empty process table");
        await prof.WaitForAsync(m => Enumerable.Range(256, m.WidePages.Length / FrameCodec.WidePageSize - 256)
            .All(p => FrameCodec.WidePage(m.WidePages, p).Refcount == 0), "every page free");
    }

    [Fact]
    public void A_posix_session_state_streams_to_a_file_and_the_first_length_prefixed_format_still_restores()
    {
        var settings = new SessionSettings { Name = "fmt", Program = "sh -i", Profile = SessionSettings.PosixProfile, MemoryMiB = 16, InstructorKey = "k" };
        using var original = (PosixSessionMachine)SessionMachine.Create(settings);
        for (int i = 0; i < 1000 && !original.WaitingForInput; i++) original.Run(1_000_000);
        Assert.True(original.WaitingForInput, "the shell waits for a line");
        foreach (char c in "echo hi") original.PressKey(c);
        var current = new MemoryStream();
        original.SaveState(current);

        // The first format: the same header, then the machine's length before it.
        current.Position = 0;
        var old = new MemoryStream();
        using (var r = new BinaryReader(current, System.Text.Encoding.UTF8, leaveOpen: true))
        using (var w = new BinaryWriter(old, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            Assert.Equal(0x3253_4C42u, r.ReadUInt32());
            w.Write(0x5053_4C42u);
            var screen = new ConsoleScreen();
            screen.Restore(r);
            screen.Save(w);
            w.Write(r.ReadString());
            byte[] machine = r.ReadBytes((int)(current.Length - current.Position));
            w.Write(machine.Length);
            w.Write(machine);
        }
        foreach (var state in new[] { current, old })
        {
            using var restored = (PosixSessionMachine)SessionMachine.Create(settings);
            state.Position = 0;
            restored.RestoreState(state);
            var again = new MemoryStream();
            restored.SaveState(again);
            Assert.Equal(current.ToArray(), again.ToArray());
        }
    }
}
