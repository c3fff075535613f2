using Microsoft.Extensions.DependencyInjection;
using Lab.Server.Persistence;
using Lab.Server.Sessions;
using Microsoft.AspNetCore.SignalR;
using Lab.Shared.Wire;
using Microsoft.Extensions.Logging;

namespace Lab.Server.Tests;

/// <summary>
/// Bad disks and damaged files, on real Kestrel with real clients: a session folder or the sessions
/// directory that cannot be written, a full disk, damaged snapshots, and a restart with many sessions.
/// A folder "cannot be written" by putting a regular file where it should be (tests run as root, so
/// permissions would not stop them); a full disk is a temporary file that is a link to /dev/full.
/// </summary>
public class PersistenceTests
{
    private static string NewDataDirectory() => Path.Combine(Path.GetTempPath(), "lab-persist-" + Guid.NewGuid().ToString("N"));

    private static async Task<(TestClient Client, CreateSessionResult Created)> CreateAsync(LabServerFixture server, string name, string program = "allocator", bool join = true)
    {
        var client = await TestClient.ConnectAsync(server.Url);
        var created = await client.Hub.CreateSession(new CreateSessionOptions(name, program, "cow", "weensyos", false));
        if (join) await client.JoinAsync(name, "prof", created.InstructorKey);
        return (client, created);
    }

    private static void ReplaceWithFile(string directory)
    {
        Directory.Delete(directory, recursive: true);
        File.WriteAllText(directory, "not a directory");
    }

    [Fact]
    public async Task An_unwritable_session_folder_fails_alone_is_logged_and_retried_and_shutdown_reports_it()
    {
        string data = NewDataDirectory();
        var server = await LabServerFixture.StartAsync(data, configure: o =>
        {
            o.SaveInterval = TimeSpan.FromMilliseconds(500);
            o.IdleTimeout = TimeSpan.FromSeconds(2);
        });
        var (brokenClient, _) = await CreateAsync(server, "broken");
        var (healthyClient, _) = await CreateAsync(server, "healthy");
        await CreateAsync(server, "idle", join: false);   // nobody in it: reaped after the idle timeout
        string brokenFolder = Path.Combine(data, "sessions", "broken"), healthyMachine = Path.Combine(data, "sessions", "healthy", "machine.bin");
        await server.Log.WaitForAsync(_ => File.Exists(Path.Combine(brokenFolder, "machine.bin")) && File.Exists(healthyMachine), "the first saves");
        ReplaceWithFile(brokenFolder);

        // The broken session's save fails with a log line; the healthy one is still saved after that,
        // idle reaping goes on, and the failure is retried.
        var failure = await server.Log.WaitForAsync(e => e.Text.StartsWith("session broken could not be saved"), "the failed save");
        Assert.Equal(LogLevel.Error, failure.Level);
        Assert.Null(failure.Exception);   // one line, no stack trace
        var failedAt = DateTime.UtcNow;
        await server.Log.WaitForAsync(_ => File.GetLastWriteTimeUtc(healthyMachine) > failedAt, "a save of the healthy session after the failure");
        await server.Log.WaitForAsync(_ => server.Sessions.Find("idle") == null, "the idle session reaped");
        await server.Log.WaitForAsync(e => e.Text.StartsWith("session broken could not be saved") && e.Text.Contains("failure 2"), "a retry");

        // Once the folder can be written again, the retry succeeds.
        File.Delete(brokenFolder);
        await server.Log.WaitForAsync(e => e.Text.StartsWith("session broken saved again after"), "the successful retry");
        Assert.True(File.Exists(Path.Combine(brokenFolder, "machine.bin")));

        // Shutdown with the folder broken again: no crash, and an honest count.
        ReplaceWithFile(brokenFolder);
        await server.StopAsync();
        var summary = await server.Log.WaitForAsync(e => e.Text.Contains("sessions to") && e.Text.StartsWith("saved"), "the shutdown summary");
        Assert.StartsWith("saved 2 of 3 sessions", summary.Text);
        Assert.Contains("NOT saved: broken (", summary.Text);
        Assert.Equal(LogLevel.Error, summary.Level);
        await brokenClient.DisposeAsync();
        await healthyClient.DisposeAsync();
        await server.DisposeAsync();
    }

    [Fact]
    public async Task A_server_stopping_with_no_session_logs_no_save_summary()
    {
        // As a cluster node that handed all its sessions over: nothing saved, nothing to say.
        var server = await LabServerFixture.StartAsync(NewDataDirectory(), configure: o => o.DemoSession = null);
        await server.StopAsync();
        Assert.DoesNotContain(server.Log.Entries, e => e.Text.StartsWith("saved") && e.Text.Contains("sessions to"));
        await server.DisposeAsync();
    }

    [Fact]
    public async Task An_unwritable_sessions_directory_refuses_creation_and_leaves_no_session_running()
    {
        string data = NewDataDirectory();
        await using var server = await LabServerFixture.StartAsync(data);
        string sessions = Path.Combine(data, "sessions");
        ReplaceWithFile(sessions);
        await using var client = await TestClient.ConnectAsync(server.Url);
        var refused = await Assert.ThrowsAsync<HubException>(() => client.Hub.CreateSession(new CreateSessionOptions("orphan", "allocator", "cow", "weensyos", false)));
        Assert.Contains("cannot save sessions right now", refused.Message);
        Assert.Contains("nothing was created", refused.Message);
        Assert.Null(server.Sessions.Find("orphan"));
        var listed = await client.Hub.ListSessions();
        Assert.DoesNotContain(listed, s => s.Name == "orphan");

        // The name is not left reserved: once the directory is back, the same creation works.
        File.Delete(sessions);
        Directory.CreateDirectory(sessions);
        var created = await client.Hub.CreateSession(new CreateSessionOptions("orphan", "allocator", "cow", "weensyos", false));
        Assert.Equal("orphan", created.Name);
        Assert.NotNull(server.Sessions.Find("orphan"));
    }

    /// <summary>`--tier interp|jit` sets every session's execution tier; a wrong name stops the server at start.</summary>
    [Fact]
    public async Task The_server_runs_its_sessions_on_the_tier_it_is_given()
    {
        await using var server = await LabServerFixture.StartAsync(NewDataDirectory(), configure: o => o.Tier = Lab.Machine.ExecutionTier.Interp);
        var (client, _) = await CreateAsync(server, "slow");
        await using var _c = client;
        Assert.Equal(Lab.Machine.ExecutionTier.Interp, server.Sessions.Find("slow")!.Tier);
        Assert.Equal(Lab.Machine.ExecutionTier.Interp, server.App.Services.GetRequiredService<LabServerOptions>().Tier);
        var e = Assert.Throws<ArgumentException>(() => LabServerHost.Create(["--tier", "fast", "--urls", "http://127.0.0.1:0"]));
        Assert.Contains("--tier takes interp or jit, not 'fast'", e.Message);
        await using var parsed = LabServerHost.Create(["--tier", "jit", "--urls", "http://127.0.0.1:0", "--data", NewDataDirectory()]);
        Assert.Equal(Lab.Machine.ExecutionTier.Jit, parsed.Services.GetRequiredService<LabServerOptions>().Tier);
    }

    /// <summary>A paused machine (or a shell at its prompt) is not written to disk again and again: the
    /// snapshot stands until the machine runs or takes a command; a store that lost it gets it on request.</summary>
    [Fact]
    public async Task An_unchanged_machine_is_not_written_again()
    {
        string data = NewDataDirectory();
        await using var server = await LabServerFixture.StartAsync(data);   // periodic saves every 30 s: none in the test
        var (client, _) = await CreateAsync(server, "still");
        await using var _c = client;
        string machine = Path.Combine(data, "sessions", "still", "machine.bin");
        var session = server.Sessions.Find("still")!;
        await client.CommandAsync("pause");
        await client.WaitForAsync(m => m.Status is { Running: false }, "the pause");
        Assert.Null(await server.Sessions.SaveAsync(session));
        byte[] snapshot = File.ReadAllBytes(machine);

        // A marker in place of the file shows whether a save writes it.
        File.WriteAllText(machine, "not rewritten");
        Assert.Null(await server.Sessions.SaveAsync(session));
        Assert.Equal("not rewritten", File.ReadAllText(machine));
        Assert.Null(await server.Sessions.SaveAsync(session, force: true));
        Assert.Equal(snapshot, File.ReadAllBytes(machine));

        // It ran: written again.
        File.WriteAllText(machine, "not rewritten");
        await client.CommandAsync("resume");
        ulong tick = client.Mirror.Status!.Tick;
        await client.WaitForAsync(m => m.Status!.Tick > tick, "ticks after the resume");
        Assert.Null(await server.Sessions.SaveAsync(session));
        Assert.NotEqual("not rewritten", File.ReadAllText(machine));
    }

    [Fact]
    public async Task A_full_disk_leaves_no_temporary_file_and_leftovers_are_removed_at_start()
    {
        string data = NewDataDirectory();
        var server = await LabServerFixture.StartAsync(data, configure: o => o.SaveInterval = TimeSpan.FromMilliseconds(500));
        var (client, _) = await CreateAsync(server, "full");
        string folder = Path.Combine(data, "sessions", "full"), machine = Path.Combine(folder, "machine.bin"), tmp = machine + ".tmp";
        await server.Log.WaitForAsync(_ => File.Exists(machine), "the first save");
        byte[] saved = File.ReadAllBytes(machine);

        // The next write of machine.bin goes to /dev/full: ENOSPC, like a full disk.
        while (true)
        {
            // A periodic save may own the temporary file right now: try again once it has renamed it.
            try { File.CreateSymbolicLink(tmp, "/dev/full"); break; }
            catch (IOException) { await Task.Delay(10); }
        }
        var failure = await server.Log.WaitForAsync(e => e.Text.StartsWith("session full could not be saved"), "the failed save");
        Assert.Contains("No space left on device", failure.Text);
        Assert.Null(new FileInfo(tmp).LinkTarget);   // the failed write's temporary file is gone (a retry may be writing a new one)
        Assert.True(File.Exists(machine), "the previous snapshot was lost");
        await server.Log.WaitForAsync(e => e.Text.StartsWith("session full saved again"), "the retry once there is room");
        await client.DisposeAsync();
        await server.StopAsync();
        await server.DisposeAsync();

        // A crash mid-save leaves temporary files: the next start removes them.
        File.WriteAllBytes(tmp, saved[..100]);
        File.WriteAllText(Path.Combine(folder, "settings.json.tmp"), "{");
        await using var restarted = await LabServerFixture.StartAsync(data);
        Assert.Empty(Directory.GetFiles(folder, "*.tmp"));
        Assert.Single(restarted.Log.Containing("removed 2 temporary files"));
        Assert.NotNull(restarted.Sessions.Find("full"));
    }

    [Fact]
    public async Task A_damaged_snapshot_is_refused_with_a_log_line_and_every_other_session_is_restored()
    {
        string data = NewDataDirectory();
        ulong goodTick;
        {
            var server = await LabServerFixture.StartAsync(data);
            var (good, _) = await CreateAsync(server, "good");
            var (bad, _) = await CreateAsync(server, "bad");
            var (legacy, _) = await CreateAsync(server, "legacy");
            await good.WaitForAsync(m => m.Tick > 20, "some ticks");
            await good.CommandAsync("pause");
            await good.WaitForAsync(m => m.Status is { Running: false }, "the pause");
            goodTick = server.Sessions.Find("good")!.Latest.Tick;
            foreach (var c in new[] { good, bad, legacy }) await c.DisposeAsync();
            await server.StopAsync();
            await server.DisposeAsync();
        }
        // One flipped byte in the middle of a hashed snapshot; and an older server's unhashed snapshot
        // with 5 bytes of a length field overwritten (the crash reported in issue 16).
        string badMachine = Path.Combine(data, "sessions", "bad", "machine.bin");
        byte[] bytes = File.ReadAllBytes(badMachine);
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(badMachine, bytes);
        string legacyMachine = Path.Combine(data, "sessions", "legacy", "machine.bin");
        byte[] payload = SnapshotFile.Unwrap(File.ReadAllBytes(legacyMachine), out _).ToArray();
        int machineAt = payload.AsSpan().IndexOf("LABM"u8);   // the machine part, after its length field
        payload.AsSpan(machineAt - 4, 5).Fill(0xFF);
        File.WriteAllBytes(legacyMachine, payload);

        await using var restarted = await LabServerFixture.StartAsync(data);
        var good2 = restarted.Sessions.Find("good");
        Assert.NotNull(good2);
        Assert.Equal(goodTick, good2!.Latest.Tick);
        Assert.Null(restarted.Sessions.Find("bad"));
        Assert.Null(restarted.Sessions.Find("legacy"));
        Assert.NotNull(restarted.Sessions.Find("demo"));
        var refusedBad = Assert.Single(restarted.Log.Containing("session bad not restored"));
        Assert.Equal(LogLevel.Error, refusedBad.Level);
        Assert.Contains("SHA-256 does not match", refusedBad.Text);
        Assert.Contains("quarantine", refusedBad.Text);
        Assert.Single(restarted.Log.Containing("session legacy not restored"));
        Assert.Contains(restarted.Log.Entries, e => e.Text.StartsWith("restored 2 of 4 saved sessions (2 not restored"));   // good and the demo
        // The damaged files are kept aside, and the names are free again.
        var kept = Directory.GetDirectories(Path.Combine(data, "quarantine")).Select(Path.GetFileName).ToArray();
        Assert.Contains(kept, k => k!.StartsWith("bad-"));
        Assert.Contains(kept, k => k!.StartsWith("legacy-"));
        Assert.False(Directory.Exists(Path.Combine(data, "sessions", "bad")));

        // The server serves: a client joins the restored session.
        await using var client = await TestClient.ConnectAsync(restarted.Url);
        await client.JoinAsync("good", "ann");
        await client.WaitForAsync(m => m.Tick == goodTick, "the restored session's frames");
    }

    [Fact]
    public void Any_flipped_byte_of_a_WeensyOS_snapshot_file_is_refused()
    {
        using var machine = new WeensySessionMachine(new SessionSettings { Name = "x", Program = "forkexit", InstructorKey = "k" });
        machine.Run(200_000);
        var written = new MemoryStream();
        SnapshotFile.Write(written, machine.SaveState);   // as the store writes machine.bin: streamed, hashed on the way
        byte[] file = written.ToArray();
        int refused = 0, positions = 0;
        for (int i = 0; i < file.Length; i += i < 64 ? 1 : 997)
        {
            positions++;
            byte[] damaged = (byte[])file.Clone();
            damaged[i] ^= 0x01;
            try
            {
                using var stream = new MemoryStream(damaged);
                SnapshotFile.Verify(stream, out bool legacy);
                // A damaged magic makes the file look like an older unhashed one: its own parser refuses it.
                Assert.True(legacy, $"a flip at byte {i} passed the hash");
                using var target = new WeensySessionMachine(new SessionSettings { Name = "x", Program = "forkexit", InstructorKey = "k" });
                Assert.ThrowsAny<Exception>(() => target.RestoreState(stream));
                refused++;
            }
            catch (InvalidDataException) { refused++; }
        }
        Assert.Equal(positions, refused);
        Assert.True(positions > 100);
    }

    [Fact]
    public async Task The_server_listens_before_saved_sessions_are_restored_and_says_which_are_still_restoring()
    {
        string data = NewDataDirectory();
        string key;
        {
            var server = await LabServerFixture.StartAsync(data);
            var (c, created) = await CreateAsync(server, "slow", join: false);
            key = created.InstructorKey;
            await c.DisposeAsync();
            await server.StopAsync();
            await server.DisposeAsync();
        }
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var restarted = await LabServerFixture.StartAsync(data, waitForRestore: false,
            configure: o => o.BeforeRestore = name => name == "slow" ? gate.Task : Task.CompletedTask);
        // Listening and answering while "slow" waits to be restored.
        await using var client = await TestClient.ConnectAsync(restarted.Url);
        var listed = await client.Hub.ListSessions();
        var slow = Assert.Single(listed, s => s.Name == "slow");
        Assert.Equal("restoring after a server restart", slow.Halted);
        Assert.False(slow.Running);
        var refused = await Assert.ThrowsAsync<HubException>(() => client.JoinAsync("slow", "prof", key));
        Assert.Contains("still being restored", refused.Message);
        Assert.Contains("try again", refused.Message);
        var taken = await Assert.ThrowsAsync<HubException>(() => client.Hub.CreateSession(new CreateSessionOptions("slow", "allocator", "cow", "weensyos", false)));
        Assert.Contains("already exists", taken.Message);

        gate.SetResult();
        await restarted.Sessions.Restored;
        Assert.Equal(Role.Instructor, (await client.JoinAsync("slow", "prof", key)).Role);
    }
}
