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
        await Task.WhenAny(stderr.Seen.Task, bridge).WaitAsync(TimeSpan.FromMinutes(2));   // a failure guard, not a speed limit
        Assert.True(stderr.Seen.Task.IsCompleted, stderr.ToString());
        int port = int.Parse((await stderr.Seen.Task).Groups[1].Value);

        string gdb = GdbBatch.Run(kernel, port, "break exception", "continue", "info registers rip", "x/2i $pc", "stepi", "info registers rip", "bt 1", "detach");
        Assert.Contains("Breakpoint 1, exception (", gdb);
        // rip after the step differs from rip at the breakpoint (the first "info registers rip").
        var rips = Regex.Matches(gdb, @"^rip\s+0x([0-9a-f]+)", RegexOptions.Multiline);
        Assert.Equal(2, rips.Count);
        Assert.NotEqual(rips[0].Groups[1].Value, rips[1].Groups[1].Value);
        Assert.Contains("<exception", gdb);
        Assert.Contains("[Inferior 1 (Remote target) detached]", gdb);
        Assert.Equal(0, await bridge.WaitAsync(TimeSpan.FromMinutes(2)));   // tui gdb ends once gdb detached

        // The classmate saw gdb's stop in exception and its step, in the shared debugger.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);   // a failure guard, not a speed limit
        while (!mirror.Events.Any(e => e.Text.Contains("stepped 1 instruction")) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Contains(mirror.Events, e => e.Text.Contains("stopped: breakpoint") && e.Text.Contains("in exception"));
        Assert.Contains(mirror.Events, e => e.Text.Contains("stepped 1 instruction"));
        await app.StopAsync();
    }
}
