using System.Diagnostics;
using Lab.Server.Sessions;
using Microsoft.AspNetCore.SignalR;
using Lab.Shared.Wire;

namespace Lab.Server.Tests;

/// <summary>
/// Who may create sessions and how many: the session cap under concurrent creations, memory budgets
/// for the server and per client address, the creation limit per address (a new connection brings no
/// fresh allowance), and restored sessions beyond today's cap.
/// </summary>
public class AdmissionTests
{
    private static Task<CreateSessionResult> CreateAsync(TestClient client, string name, string profile = "weensyos", int memoryMiB = 0) =>
        client.Hub.CreateSession(new CreateSessionOptions(name, "", "cow", profile, false, memoryMiB));

    [Fact]
    public async Task Concurrent_creations_never_exceed_the_cap_and_a_restart_restores_sessions_over_a_lower_cap()
    {
        string data = Path.Combine(Path.GetTempPath(), "lab-admission-" + Guid.NewGuid().ToString("N"));
        const int cap = 10, attempts = 40;
        var server = await LabServerFixture.StartAsync(data, configure: o =>
        {
            o.MaxSessions = cap;
            o.CreationsPerAddressBurst = 100;
        });
        var clients = await Task.WhenAll(Enumerable.Range(0, attempts).Select(_ => TestClient.ConnectAsync(server.Url)));
        var results = await Task.WhenAll(clients.Select(async (c, i) =>
        {
            try { await CreateAsync(c, $"race{i}"); return null; }
            catch (HubException e) { return e.Message; }
        }));
        // The demo holds one place: exactly cap - 1 creations succeed, the others are told why.
        Assert.Equal(cap - 1, results.Count(r => r == null));
        Assert.All(results.Where(r => r != null), r => Assert.Contains($"at most {cap}", r));
        Assert.Equal(cap, server.Sessions.All.Count);
        foreach (var c in clients) await c.DisposeAsync();
        await server.StopAsync();
        await server.DisposeAsync();

        // Restarted with a lower cap: every saved session comes back (the cap is for new ones), and new ones are refused.
        await using var restarted = await LabServerFixture.StartAsync(data, configure: o => o.MaxSessions = 3);
        Assert.Equal(cap, restarted.Sessions.All.Count);
        Assert.Contains(restarted.Log.Entries, e => e.Text.StartsWith($"restored {cap} of {cap} saved sessions"));
        await using var late = await TestClient.ConnectAsync(restarted.Url);
        var refused = await Assert.ThrowsAsync<HubException>(() => CreateAsync(late, "one-more"));
        Assert.Contains("at most 3", refused.Message);
    }

    [Fact]
    public async Task Creations_are_limited_per_client_address_not_per_connection()
    {
        await using var server = await LabServerFixture.StartAsync(configure: o =>
        {
            o.CreationsPerAddressBurst = 3;
            o.CreationIntervalPerAddressSeconds = 3600;
        });
        for (int i = 0; i < 3; i++)
        {
            await using var c = await TestClient.ConnectAsync(server.Url);   // a fresh connection each time
            await CreateAsync(c, $"mine{i}");
        }
        await using var fresh = await TestClient.ConnectAsync(server.Url);
        var refused = await Assert.ThrowsAsync<HubException>(() => CreateAsync(fresh, "one-too-many"));
        Assert.Contains("too many session creations from your address", refused.Message);
        Assert.Null(server.Sessions.Find("one-too-many"));
    }

    [Fact]
    public async Task Sessions_are_admitted_against_the_server_memory_budget_and_the_per_address_budget()
    {
        long posix64 = SessionManager.CostMiB(new SessionSettings { Name = "x", Profile = "posix", MemoryMiB = 64, InstructorKey = "k" });
        long demo = SessionManager.CostMiB(new SessionSettings { Name = "x", InstructorKey = "k" });
        {
            // Room for the demo and two 64 MiB POSIX sessions on the whole server.
            await using var server = await LabServerFixture.StartAsync(configure: o => o.MemoryBudgetMiB = demo + 2 * posix64);
            await using var c = await TestClient.ConnectAsync(server.Url);
            await CreateAsync(c, "a", "posix", 64);
            await CreateAsync(c, "b", "posix", 64);
            var refused = await Assert.ThrowsAsync<HubException>(() => CreateAsync(c, "c", "posix", 64));
            Assert.Contains("the server's memory for sessions is spent", refused.Message);
            Assert.Contains($"needs {posix64} MiB", refused.Message);
            // Asking for less fits once a session is closed.
            server.Sessions.Close("b");
            await using var next = await TestClient.ConnectAsync(server.Url);
            await CreateAsync(next, "c", "posix", 32);
        }
        {
            // One address may use one 64 MiB session's worth; the server has plenty.
            await using var server = await LabServerFixture.StartAsync(configure: o => o.MemoryBudgetPerAddressMiB = posix64);
            await using var c = await TestClient.ConnectAsync(server.Url);
            await CreateAsync(c, "a", "posix", 64);
            await using var other = await TestClient.ConnectAsync(server.Url);
            var refused = await Assert.ThrowsAsync<HubException>(() => CreateAsync(other, "b", "posix", 64));
            Assert.Contains("sessions created from your address already use", refused.Message);
            Assert.Null(server.Sessions.Find("b"));
        }
    }
}

/// <summary>Guest RAM is committed as it is used: a 1 GiB POSIX session that runs a shell costs the
/// host what the shell touches, not 1 GiB, also after it is saved and restored. Measured as the
/// process's resident memory, so this runs alone.</summary>
[Collection(nameof(ResidentMemory))]
public class LazyGuestMemoryTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static long ResidentBytes()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }

    private static string Screen(SessionMirror m) => string.Join("\n", m.ScreenText().Select(l => l.TrimEnd()));

    [Fact]
    public async Task A_1_GiB_session_costs_only_the_memory_its_programs_touch()
    {
        string data = Path.Combine(Path.GetTempPath(), "lab-lazy-" + Guid.NewGuid().ToString("N"));
        const long limit = 256L << 20;
        long before = ResidentBytes();
        {
            var server = await LabServerFixture.StartAsync(data);
            await using var c = await TestClient.ConnectAsync(server.Url);
            var created = await c.Hub.CreateSession(new CreateSessionOptions("big", "", "cow", "posix", false, 1024));
            await c.JoinAsync("big", "prof", created.InstructorKey);
            await c.WaitForAsync(m => Screen(m).StartsWith("$"), "the shell's prompt");
            long grown = ResidentBytes() - before;
            output.WriteLine($"resident growth with a 1 GiB session at its shell prompt: {grown >> 20} MiB");
            Assert.True(grown < limit, $"a 1 GiB session running a shell grew the server by {grown >> 20} MiB");
            Assert.Null(await server.Sessions.SaveAsync(server.Sessions.Find("big")!));
            grown = ResidentBytes() - before;
            output.WriteLine($"after saving it: {grown >> 20} MiB");
            Assert.True(grown < limit, $"saving a 1 GiB session grew the server to {grown >> 20} MiB over the start");
            var session = server.Sessions.Find("big")!;
            await server.StopAsync();
            await server.DisposeAsync();
            Assert.True(session.MachineFreed.WaitOne(TimeSpan.FromSeconds(60)), "the closed session never freed its machine");
        }
        await using var restarted = await LabServerFixture.StartAsync(data);
        Assert.NotNull(restarted.Sessions.Find("big"));
        long afterRestore = ResidentBytes() - before;
        output.WriteLine($"after a restart that restored it: {afterRestore >> 20} MiB");
        Assert.True(afterRestore < limit, $"restoring a 1 GiB session grew the server by {afterRestore >> 20} MiB");
    }
}

[CollectionDefinition(nameof(ResidentMemory), DisableParallelization = true)]
public class ResidentMemory;
