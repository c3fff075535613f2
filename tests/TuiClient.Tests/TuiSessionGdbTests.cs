using System.Text;
using System.Text.RegularExpressions;
using Lab.Server;
using Lab.Server.Sessions;
using Lab.Shared.Wire;
using Lab.TestSupport;
using Lab.TuiClient.Net;

namespace Lab.TuiClient.Tests;

/// <summary>`tui gdb HOST/SESSION`: real gdb bridged to a kernel session's shared debugger; the others in the session see its stops.</summary>
public class TuiSessionGdbTests
{
    /// <summary>A writer that signals when a line matching a pattern has been written.</summary>
    private sealed class WatchedWriter(Regex pattern) : TextWriter
    {
        private readonly StringBuilder _text = new();
        public TaskCompletionSource<Match> Seen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public override Encoding Encoding => Encoding.UTF8;
        public override void Write(char value)
        {
            lock (_text)
            {
                _text.Append(value);
                var m = pattern.Match(_text.ToString());
                if (m.Success) Seen.TrySetResult(m);
            }
        }
        public override string ToString() { lock (_text) return _text.ToString(); }
    }

    [Fact]
    public async Task Gdb_attaches_to_a_shared_kernel_session_and_everyone_sees_its_stops()
    {
        string kernel = LabKernelBuild.PathOf("step7", full: true);
        string data = Path.Combine(Path.GetTempPath(), "lab-tui-gdb-" + Guid.NewGuid().ToString("N"));
        await using var app = LabServerHost.Create(["--urls", "http://127.0.0.1:0", "--data", data], quiet: true);
        await app.StartAsync();
        string url = LabServerHost.BoundUrl(app), host = new Uri(url).Authority;
        var settings = new SessionSettings
        {
            Name = "lab4", Profile = SessionSettings.KernelProfile, Program = "kernel.full", KernelImage = File.ReadAllBytes(kernel),
            InstructorKey = SessionSettings.NewSecret(), TicksPerSecond = 0,
        };
        Assert.NotNull(app.Services.GetService(typeof(SessionManager)) is SessionManager sessions ? sessions.Create(settings).Session : null);

        // A classmate watches the same session.
        await using var watcher = new LabClient(url, reconnect: false);
        var mirror = new SessionMirror();
        watcher.OnFrame(mirror.Apply);
        await watcher.StartAsync();
        await watcher.Join("lab4", "sam", settings.InstructorKey);

        var stderr = new WatchedWriter(new Regex(@"attach with: gdb .* -ex 'target remote 127\.0\.0\.1:(\d+)'"));
        var bridge = Task.Run(() => Cli.Run(["gdb", $"{host}/lab4", "--port", "0", "--key", settings.InstructorKey!], TextWriter.Null, stderr));
        Assert.True(Task.WhenAny(stderr.Seen.Task, bridge).Wait(TimeSpan.FromMinutes(2)), "tui gdb said nothing");
        Assert.True(stderr.Seen.Task.IsCompleted, stderr.ToString());
        int port = int.Parse(stderr.Seen.Task.Result.Groups[1].Value);

        string gdb = GdbBatch.Run(kernel, port, "break exception", "continue", "info registers rip", "x/2i $pc", "stepi", "info registers rip", "bt 1", "detach");
        Assert.Contains("Breakpoint 1, exception (", gdb);
        // rip after the step differs from rip at the breakpoint (the first "info registers rip").
        var rips = Regex.Matches(gdb, @"^rip\s+0x([0-9a-f]+)", RegexOptions.Multiline);
        Assert.Equal(2, rips.Count);
        Assert.NotEqual(rips[0].Groups[1].Value, rips[1].Groups[1].Value);
        Assert.Contains("<exception", gdb);
        Assert.Contains("[Inferior 1 (Remote target) detached]", gdb);
        Assert.True(bridge.Wait(TimeSpan.FromMinutes(2)), "tui gdb did not end after gdb detached");
        Assert.Equal(0, bridge.Result);

        // The classmate saw gdb's stop in exception and its step, in the shared debugger.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);   // a failure guard, not a speed limit
        while (!mirror.Events.Any(e => e.Text.Contains("stepped 1 instruction")) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Contains(mirror.Events, e => e.Text.Contains("stopped: breakpoint") && e.Text.Contains("in exception"));
        Assert.Contains(mirror.Events, e => e.Text.Contains("stepped 1 instruction"));
        await app.StopAsync();
    }
}
