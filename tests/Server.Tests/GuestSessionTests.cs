using Lab.Server.Sessions;
using Lab.Shared.Wire;
using Lab.TestSupport;
using Microsoft.AspNetCore.SignalR;

namespace Lab.Server.Tests;

/// <summary>
/// A session on a kernel built from C (Lab's own C WeensyOS, step 7, built by `dotnet build`), watched
/// through a real server: its screen, its address spaces as processes, maps from its page tables,
/// IDT events, the debugger on them, and a restart that brings it back.
/// </summary>
public class GuestSessionTests
{
    private static SessionSettings KernelSession(string name) => new()
    {
        Name = name,
        Profile = SessionSettings.KernelProfile,
        Program = "kernel",
        KernelImage = File.ReadAllBytes(LabKernelBuild.PathOf("step7")),
        InstructorKey = SessionSettings.NewSecret(),
        TicksPerSecond = 0,   // as fast as it goes: the test waits for what it needs to see
    };

    [Fact]
    public async Task A_kernel_built_from_C_is_a_session_with_views_from_its_page_tables()
    {
        string data = Path.Combine(Path.GetTempPath(), "lab-guest-" + Guid.NewGuid().ToString("N"));
        var settings = KernelSession("cs202");
        {
            await using var server = await LabServerFixture.StartAsync(data);
            var (session, error) = server.Sessions.Create(settings);
            Assert.True(session != null, error);
            await using var prof = await TestClient.ConnectAsync(server.Url);
            Assert.Equal(Role.Instructor, (await prof.JoinAsync("cs202", "prof", settings.InstructorKey)).Role);

            // The kernel draws its own screen.
            await prof.WaitForAsync(m => m.ScreenText()[0].Contains("PHYSICAL MEMORY"), "the kernel's memory display");
            // Its processes are the address spaces its user code runs in (the four allocators).
            await prof.WaitForAsync(m => m.Processes.Length == 4 && m.Processes.All(p => p.Name.StartsWith("cr3 0x")) && m.Processes.All(p => p.Pages > 0),
                "four address spaces owning pages");
            var pids = prof.Mirror.Processes.Select(p => p.Pid).ToArray();
            Assert.Equal([1, 2, 3, 4], pids.Order());
            // The physical map: pages of each address space, kernel-only pages, free pages.
            var pages = prof.Mirror.Pages;
            Assert.Equal(512 * 2, pages.Length);
            var owners = Enumerable.Range(0, 512).Select(p => (sbyte)pages[2 * p]).ToHashSet();
            Assert.Contains((sbyte)-2, owners);
            Assert.Contains((sbyte)0, owners);
            Assert.True(pids.All(p => owners.Contains((sbyte)p)), "every address space owns physical pages");

            // A process's virtual map from its page tables: user pages (P|U) above the kernel, kernel pages without U.
            await prof.Hub.ViewMemory(2);
            await prof.WaitForAsync(m => m.VirtualMap is { Pid: 2, PageCount: 768 } v
                && Enumerable.Range(0, 768).Any(p => v[p].Perm == 7 && v[p].Owner == 2)
                && Enumerable.Range(0, 256).Any(p => (v[p].Perm & 4) == 0 && v[p].Perm != 0), "pid 2's virtual map");

            // Events at the IDT: system calls (int 48..63) and timer interrupts, summarised by address space.
            await prof.WaitForAsync(m => m.Events.Any(e => e.Text.Contains("int 51")) && m.Events.Any(e => e.Text.Contains("irq 0")),
                "system call and interrupt events");

            // The debugger stops at a system call by its vector: page_alloc is int 51.
            Assert.Contains("not a number", (await Assert.ThrowsAsync<HubException>(() => prof.CommandAsync("break syscall page_alloc"))).Message);
            await prof.CommandAsync("break syscall 51");
            await prof.WaitForAsync(m => m.Debugger is { Stopped: true } d && d.Reason.Contains("int 51"), "a stop at int 51");
            Assert.Contains(prof.Mirror.Debugger!.Pid, pids);
            await prof.CommandAsync("ps");
            await prof.WaitForAsync(m => m.Debugger!.Output.Any(l => l.Contains("<- current")), "ps listing the address spaces");
            await prof.CommandAsync("delete all");
            await prof.CommandAsync("continue");
            await prof.CommandAsync("pause");
            await prof.WaitForAsync(m => m.Status is { Running: false }, "pause");
        }

        // A restart brings the session back from its saved kernel file and machine.
        await using var restarted = await LabServerFixture.StartAsync(data);
        var back = restarted.Sessions.Find("cs202");
        Assert.NotNull(back);
        Assert.Equal(SessionSettings.KernelProfile, back!.Settings.Profile);
        await using var again = await TestClient.ConnectAsync(restarted.Url);
        await again.JoinAsync("cs202", "prof", settings.InstructorKey);
        await again.CommandAsync("resume");
        await again.WaitForAsync(m => m.ScreenText()[0].Contains("PHYSICAL MEMORY") && m.Processes.Length == 4, "the restored kernel running");
    }

    [Fact]
    public async Task Garbage_kernels_are_refused_with_a_reason_and_the_hub_says_how_to_run_one()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (session, error) = server.Sessions.Create(KernelSession("junk") with { KernelImage = [1, 2, 3, 4, 5] });
        Assert.Null(session);
        Assert.Contains("kernel", error);
        await using var c = await TestClient.ConnectAsync(server.Url);
        var refused = await Assert.ThrowsAsync<HubException>(() => c.Hub.CreateSession(new CreateSessionOptions("k", "kernel", "cow", SessionSettings.KernelProfile)));
        Assert.Contains("tui local --kernel FILE", refused.Message);
    }
}
