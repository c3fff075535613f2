using Lab.Server.Sessions;
using Lab.Shared.Wire;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lab.Server.Tests;

/// <summary>
/// A session's machine memory is freed by its own loop thread once the loop has ended (never by
/// Dispose from another thread while a slice may still run), and a client's view requests from hub
/// threads never leave its sender with a stale virtual map.
/// </summary>
public class SessionLifetimeTests
{
    [Fact]
    public void Dispose_returns_at_once_and_the_loop_frees_the_machine_when_it_ends()
    {
        for (int i = 0; i < 8; i++)
        {
            var session = new LabSession(new SessionSettings { Name = $"busy{i}", Profile = "posix", Program = "s-forkbomb", MemoryMiB = 16, TicksPerSecond = 0, InstructorKey = "k" },
                null, NullLogger.Instance);
            // A step of millions of instructions in flight on the loop thread while Dispose comes from this one.
            var step = session.DebugAsync("me", ["step", "5000000"]);
            while (session.Latest.Tick == 0 && !step.IsCompleted) Thread.Sleep(1);
            session.Dispose();
            Assert.True(session.Closed);
            Assert.True(session.MachineFreed.WaitOne(TimeSpan.FromSeconds(60)), "the loop never freed the machine");
            // What clients read stays valid after the machine is gone.
            Assert.Equal(FrameCodec.ScreenCells, session.Latest.Screen.Length);
            if (step.IsCompletedSuccessfully) Assert.StartsWith("stepped", step.Result);
        }
    }

    [Fact]
    public async Task Switching_the_viewed_pid_quickly_always_ends_with_the_last_pids_map()
    {
        await using var server = await LabServerFixture.StartAsync();
        // The allocators live as long as the machine: the demo's forkexit children may exit between
        // reading the process table and asking for a map, which is refused (no such process).
        var (_, error) = server.Sessions.Create(new Lab.Server.Sessions.SessionSettings { Name = "alloc", Program = "allocator", InstructorKey = "k" });
        Assert.Null(error);
        await using var client = await TestClient.ConnectAsync(server.Url);
        await client.JoinAsync("alloc", "viewer");
        await client.WaitForAsync(m => m.Processes.Length >= 2, "the allocators");
        int[] pids = client.Mirror.Processes.Select(p => p.Pid).Where(p => p > 0).Take(2).ToArray();
        for (int round = 0; round < 3; round++)
        {
            // Flip between two pids as fast as the connection goes (within the view-change burst), then settle on one.
            for (int i = 0; i < 5; i++) await client.Hub.ViewMemory(pids[i % 2]);
            int last = pids[round % 2];
            await client.Hub.ViewMemory(last);
            await client.WaitForAsync(m => m.VirtualMap is { } v && v.Pid == last && v.Entries.Length > 0, $"pid {last}'s map");
        }
    }
}
