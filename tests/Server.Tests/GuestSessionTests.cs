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
    public async Task The_shared_debugger_knows_the_kernels_symbols_and_source_lines()
    {
        await using var server = await LabServerFixture.StartAsync();
        var settings = KernelSession("symbols") with { Program = "kernel.full", KernelImage = File.ReadAllBytes(LabKernelBuild.PathOf("step7", full: true)) };
        Assert.NotNull(server.Sessions.Create(settings).Session);
        await using var prof = await TestClient.ConnectAsync(server.Url);
        await prof.JoinAsync("symbols", "prof", settings.InstructorKey);

        Assert.Contains("no symbol", (await Assert.ThrowsAsync<HubException>(() => prof.CommandAsync("break no_such_function"))).Message);
        // exception() runs at every trap (the timer's too).
        await prof.CommandAsync("break exception");
        await prof.WaitForAsync(m => m.Debugger is { Stopped: true }, "a stop");
        var stop = prof.Mirror.Debugger!;
        Assert.True(stop.Reason.Contains("in exception (") && stop.Reason.Contains("kernel.c:"), stop.Reason);
        Assert.Contains(stop.Disassembly, l => l.StartsWith("=>") && l.Contains("<exception>"));
        // The kernel is built at -O2 without frame pointers: the backtrace's first frame is sure, the rest is what the chain says.
        await prof.CommandAsync("bt");
        await prof.WaitForAsync(m => m.Debugger!.Output.Length >= 1 && m.Debugger.Output[0].StartsWith("#0") && m.Debugger.Output[0].Contains("exception (kernel.c:"), "a backtrace");
        await prof.CommandAsync("disas assign_physical_page");
        await prof.WaitForAsync(m => m.Debugger!.Output.Any(l => l.Contains("<assign_physical_page>")), "disassembly of a function by name");
    }

    [Fact]
    public async Task Garbage_kernels_are_refused_with_a_reason()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (session, error) = server.Sessions.Create(KernelSession("junk") with { KernelImage = [1, 2, 3, 4, 5] });
        Assert.Null(session);
        Assert.Contains("kernel", error);
        await using var c = await TestClient.ConnectAsync(server.Url);
        var refused = await Assert.ThrowsAsync<HubException>(() => c.Hub.CreateSession(new CreateSessionOptions("k", "kernel", "cow", SessionSettings.KernelProfile)));
        Assert.Contains("upload it first", refused.Message);
    }
}

/// <summary>Kernel sessions over the hub: created from an upload, a new build pushed, garbage refused.</summary>
public class KernelUploadTests
{
    [Fact]
    public async Task A_kernel_is_uploaded_to_create_a_session_and_a_new_build_is_pushed_and_booted()
    {
        await using var server = await LabServerFixture.StartAsync();
        await using var prof = await TestClient.ConnectAsync(server.Url);
        byte[] step4 = File.ReadAllBytes(LabKernelBuild.PathOf("step4")), step7 = File.ReadAllBytes(LabKernelBuild.PathOf("step7"));
        Assert.True(step4.Length > LabHubRoute.MaxChunkBytes, "the test wants a kernel of several chunks");

        // Without an upload the hub says what to do; out-of-order chunks are refused.
        Assert.Contains("upload it first", (await Assert.ThrowsAsync<HubException>(() =>
            prof.Hub.CreateSession(new CreateSessionOptions("lab4", "", "cow", SessionSettings.KernelProfile)))).Message);
        await prof.Hub.Upload("kernel", 0, step4[..100], step4.Length);
        Assert.Contains("expected 100", (await Assert.ThrowsAsync<HubException>(() => prof.Hub.Upload("kernel", 200, step4[200..300], step4.Length))).Message);
        Assert.Contains("1 byte to 8 MiB", (await Assert.ThrowsAsync<HubException>(() => prof.Hub.Upload("big", 0, [1], 100 << 20))).Message);

        Assert.Contains("received kernel", await prof.Hub.UploadFile("kernel", step4));
        var created = await prof.Hub.CreateSession(new CreateSessionOptions("lab4", "", "cow", SessionSettings.KernelProfile, Private: true));
        await prof.JoinAsync("lab4", "prof", created.InstructorKey);
        await prof.WaitForAsync(m => m.Status is { Profile: SessionSettings.KernelProfile, Program: "kernel" } && m.ScreenText()[0].Contains("PHYSICAL MEMORY"),
            "the uploaded kernel running");

        // A student may watch but not push; a driver pushes; garbage is refused and changes nothing.
        await using var student = await TestClient.ConnectAsync(server.Url);
        await student.JoinAsync("lab4", "sam", created.JoinCode);
        await student.Hub.UploadFile("kernel", step7);
        Assert.Contains("viewers cannot push a kernel", (await Assert.ThrowsAsync<HubException>(() => student.CommandAsync("push"))).Message);
        await prof.Hub.UploadFile("notes.txt", "not a kernel at all, just some text"u8.ToArray());
        Assert.Contains("the session keeps its kernel", (await Assert.ThrowsAsync<HubException>(() => prof.CommandAsync("push"))).Message);
        Assert.Contains("upload the new kernel first", (await Assert.ThrowsAsync<HubException>(() => prof.CommandAsync("push"))).Message);

        await prof.Hub.UploadFile("kernel.step7", step7);
        Assert.Contains("reboot to boot it", await prof.CommandAsync("push"));
        await prof.WaitForAsync(m => m.Events.Any(e => e.Text.Contains("prof pushed a new kernel (kernel.step7")), "the push in the log");
        Assert.Equal("rebooting kernel.step7", await prof.CommandAsync("reboot"));
        await prof.WaitForAsync(m => m.Status is { Program: "kernel.step7" } && m.Events.Any(e => e.Text.Contains("rebooted into kernel.step7")), "the new build booted");
        Assert.Contains("say just `reboot`", (await Assert.ThrowsAsync<HubException>(() => prof.CommandAsync("reboot fork"))).Message);
        Assert.Equal(step7, server.Sessions.Find("lab4")!.Settings.KernelImage);
    }
}
