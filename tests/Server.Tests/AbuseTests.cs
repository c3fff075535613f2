using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lab.Server.Hubs;
using Lab.Server.Sessions;
using Microsoft.AspNetCore.SignalR;
using Lab.Shared.Wire;
using Microsoft.Extensions.Logging;

namespace Lab.Server.Tests;

/// <summary>
/// What a hostile or careless client tries, on real Kestrel with real clients: guessing join codes,
/// floods of refused keys, unthrottled queries, endless breakpoints, typing into a paused machine,
/// passing for someone else, reading secrets from disk, and transports the protocol does not name.
/// </summary>
public class AbuseTests
{
    private static async Task<(TestClient Instructor, CreateSessionResult Created)> CreateAsync(LabServerFixture server, string name,
        bool isPrivate = false, string profile = "weensyos", string program = "allocator")
    {
        var instructor = await TestClient.ConnectAsync(server.Url);
        var created = await instructor.Hub.CreateSession(new CreateSessionOptions(name, program, "cow", profile, isPrivate, profile == "posix" ? 16 : 0));
        await instructor.JoinAsync(name, "prof", created.InstructorKey);
        return (instructor, created);
    }

    private static string Screen(SessionMirror m) => string.Join("\n", m.ScreenText().Select(l => l.TrimEnd()));

    [Fact]
    public async Task Join_codes_are_long_and_typeable_and_wrong_guesses_lock_the_address_out_and_are_logged()
    {
        // The per-address clock stands still, so the lockout cannot end while the test looks at it
        // however slow the machine is.
        var frozen = new FrozenClock(DateTimeOffset.UtcNow);
        await using var server = await LabServerFixture.StartAsync(configure: o => o.Clock = frozen);
        var (instructor, created) = await CreateAsync(server, "exam", isPrivate: true);
        await using var _i = instructor;
        Assert.Matches(new Regex("^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$"), created.JoinCode);

        // Typed in lower case, without dashes, with O for 0 and l for 1: still the code.
        string sloppy = created.JoinCode!.Replace("-", " ").ToLowerInvariant().Replace('0', 'o').Replace('1', 'l');
        await using (var student = await TestClient.ConnectAsync(server.Url))
            Assert.Equal(Role.Viewer, (await student.JoinAsync("exam", "sam", sloppy)).Role);

        // Guesses from fresh connections (the limit is per address): the fifth starts a lockout, and
        // then even the right code is refused until it ends.
        var answers = new List<string>();
        for (int i = 0; i < AddressLimits.FreeFailures; i++)
        {
            await using var guesser = await TestClient.ConnectAsync(server.Url);
            var e = await Assert.ThrowsAsync<HubException>(() => guesser.JoinAsync("exam", $"eve{i}", $"AAAA-AAAA-AAAA-AAA{i}"));
            answers.Add(e.Message);
        }
        Assert.All(answers, a => Assert.Contains("wrong join code or instructor key", a));
        Assert.Contains("too many wrong codes: try again in 10 s", answers[^1]);
        await using (var late = await TestClient.ConnectAsync(server.Url))
        {
            var e = await Assert.ThrowsAsync<HubException>(() => late.JoinAsync("exam", "eve", created.JoinCode));
            Assert.Contains("too many wrong codes from your address", e.Message);
        }
        // Every wrong code is one warning line naming the session and the address.
        var warnings = server.Log.Entries.Where(e => e.Text.StartsWith("wrong code for session exam from 127.0.0.1")).ToList();
        Assert.Equal(AddressLimits.FreeFailures, warnings.Count);
        Assert.All(warnings, w => Assert.Equal(LogLevel.Warning, w.Level));
        Assert.Contains("locked out for 10 s", warnings[^1].Text);
    }

    [Fact]
    public void Failed_joins_back_off_per_address_and_are_capped_per_session()
    {
        var now = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var limits = new AddressLimits(new LabServerOptions(), () => now);
        TimeSpan last = TimeSpan.Zero;
        for (int i = 1; i <= AddressLimits.FreeFailures + 3; i++)
        {
            var (lockout, failures) = limits.JoinFailed("10.0.0.1", "exam");
            Assert.Equal(i, failures);
            if (i < AddressLimits.FreeFailures) Assert.Equal(TimeSpan.Zero, lockout);
            else Assert.Equal(last == TimeSpan.Zero ? AddressLimits.LockoutBase : last * 2, lockout);   // 10 s, 20 s, 40 s, ...
            if (lockout > TimeSpan.Zero) last = lockout;
            Assert.Equal(lockout > TimeSpan.Zero, limits.JoinRefusal("10.0.0.1", "other") != null);
            now += lockout;   // wait it out
        }
        // A right code clears the address.
        limits.JoinSucceeded("10.0.0.1");
        Assert.Equal((TimeSpan.Zero, 1), limits.JoinFailed("10.0.0.1", "exam2"));

        // Many addresses guessing at one session: the session refuses code attempts for a minute.
        for (int i = 0; i < AddressLimits.SessionFailuresPerMinute; i++) limits.JoinFailed($"10.1.0.{i}", "target");
        Assert.Contains("too many wrong codes for session 'target'", limits.JoinRefusal("10.2.0.1", "target"));
        Assert.Null(limits.JoinRefusal("10.2.0.1", "elsewhere"));
        now += TimeSpan.FromSeconds(61);
        Assert.Null(limits.JoinRefusal("10.2.0.1", "target"));
    }

    [Fact]
    public async Task A_viewers_refused_keys_are_rate_limited_summarised_in_the_event_log_and_logged_as_single_lines()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (instructor, _) = await CreateAsync(server, "keys");
        await using var _i = instructor;
        await using var viewer = await TestClient.ConnectAsync(server.Url);
        await viewer.JoinAsync("keys", "val");
        // Keys as fast as the connection goes, until the rate limit refuses one (burst 60, 30 a second).
        int refusedRole = 0;
        bool throttled = false;
        var started = DateTime.UtcNow;
        for (int i = 0; i < 1000 && !throttled; i++)
        {
            try { await viewer.KeyAsync("x"); }
            catch (HubException e) when (e.Message.Contains("viewers cannot type")) { refusedRole++; }
            catch (HubException e) when (e.Message.Contains("too many keys")) { throttled = true; }
        }
        Assert.True(throttled, "a viewer's refused keys were never throttled");
        double allowed = 60 + 30 * (DateTime.UtcNow - started).TotalSeconds + 1;
        Assert.True(refusedRole <= allowed, $"{refusedRole} refused keys got past a rate limit that allows {allowed:0}");

        // The session's event log got one line for the attempt, not one per key.
        await instructor.WaitForAsync(m => m.Events.Any(e => e.Text.Contains("val tried to type into the machine")), "the refusal in the log");
        Assert.Single(server.Sessions.Find("keys")!.EventsSince(0), e => e.Text.Contains("val tried to type"));
        // The server log has one line per refusal run, no stack traces, and no error.
        Assert.DoesNotContain(server.Log.Entries, e => e.Exception != null || e.Level >= LogLevel.Error);
        var lines = server.Log.Entries.Where(e => e.Text.StartsWith("refused Key")).ToList();
        Assert.InRange(lines.Count, 1, 2);
        Assert.All(lines, l => Assert.Equal(LogLevel.Information, l.Level));
    }

    [Fact]
    public async Task Queries_views_and_breakpoints_are_bounded()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (instructor, _) = await CreateAsync(server, "bounds");
        await using var _i = instructor;

        async Task<string?> FloodAsync(Func<Task> call, int times)
        {
            for (int i = 0; i < times; i++)
            {
                try { await call(); }
                catch (HubException e) { return e.Message; }
            }
            return null;
        }
        await using (var c = await TestClient.ConnectAsync(server.Url))
            Assert.Contains("too many session lists", await FloodAsync(() => c.Hub.ListSessions(), 40));
        await using (var c = await TestClient.ConnectAsync(server.Url))
        {
            await c.JoinAsync("bounds", "v");
            await c.WaitForAsync(m => m.Processes.Any(p => p.Pid == 1), "pid 1 (only a live pid's map may be asked for)");
            Assert.Contains("too many view changes", await FloodAsync(() => c.Hub.ViewMemory(1), 60));
        }
        await using (var c = await TestClient.ConnectAsync(server.Url))
        {
            await c.JoinAsync("bounds", "w");
            Assert.Contains("too many view changes", await FloodAsync(() => c.Hub.Watch(new[] { 1 }), 60));
        }

        // Breakpoints: 64, then a clear refusal (commands are 10/s, so pace them).
        for (int i = 0; i < LabSession.MaxBreakpoints; i++)
        {
            while (true)
            {
                try { await instructor.CommandAsync($"break 0x{0x100000 + i:x}"); break; }
                catch (HubException e) when (e.Message.Contains("too many commands")) { await Task.Delay(100); }
            }
        }
        string? refused = null;
        while (refused == null)
        {
            try { await instructor.CommandAsync("break fork"); Assert.Fail("a 65th breakpoint was accepted"); }
            catch (HubException e) when (e.Message.Contains("too many commands")) { await Task.Delay(100); }
            catch (HubException e) { refused = e.Message; }
        }
        Assert.Contains($"already has {LabSession.MaxBreakpoints} breakpoints", refused);
        Assert.Contains("delete", refused);
    }

    [Fact]
    public async Task Typing_into_a_paused_posix_session_is_bounded_and_accepted_again_once_read()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (prof, _) = await CreateAsync(server, "paused", profile: "posix", program: "sh -i");
        await using var _p = prof;
        await prof.WaitForAsync(m => Screen(m).StartsWith("$"), "the prompt");
        await prof.CommandAsync("pause");
        await prof.WaitForAsync(m => m.Status is { Running: false }, "the pause");

        string line = "echo " + new string('y', 1000) + "\n";
        string? refusal = null;
        int accepted = 0;
        while (refusal == null && accepted < 200)
        {
            try { await prof.Hub.Type(line); accepted++; }
            catch (HubException e) when (e.Message.Contains("too many keys")) { await Task.Delay(100); }
            catch (HubException e) { refusal = e.Message; }
        }
        Assert.NotNull(refusal);
        Assert.Contains("not reading its input", refusal);
        Assert.InRange(accepted * line.Length, LabSession.MaxPendingInput - 2 * line.Length, LabSession.MaxPendingInput);

        // Resumed, the shell reads the lines and typing is accepted again.
        await prof.CommandAsync("resume");
        await prof.WaitForAsync(m => m.Status is { Running: true }, "running again");
        while (true)
        {
            try { await prof.Hub.Type("echo done\n"); break; }
            catch (HubException e) when (e.Message.Contains("not reading its input") || e.Message.Contains("too many keys")) { await Task.Delay(100); }
        }
        // (The typed line echoes where the cursor is when it is typed, so only the output's end is certain.)
        await prof.WaitForAsync(m => Screen(m).TrimEnd().EndsWith("done\n$"), "the last line's output", 120);
    }

    [Fact]
    public async Task Grant_names_one_participant_by_id_and_look_alike_names_are_refused()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (instructor, _) = await CreateAsync(server, "names");
        await using var _i = instructor;
        await using var upper = await TestClient.ConnectAsync(server.Url);
        var joined = await upper.JoinAsync("names", "BOB");
        Assert.Matches("^p[0-9]+$", joined.ParticipantId);

        // Another case, Cyrillic letters in a Latin name, an all-Cyrillic look-alike, invisible characters, an id-like name.
        await using var other = await TestClient.ConnectAsync(server.Url);
        foreach (var (name, reason) in new[]
        {
            ("bob", "looks too much like 'BOB'"),
            ("Т\u0435acher", "mixes Latin and Cyrillic letters"),
            ("prof\u200b", "invisible"),
            ("p7", "looks like a participant id"),
        })
        {
            var e = await Assert.ThrowsAsync<HubException>(() => other.JoinAsync("names", name));
            Assert.Contains(reason, e.Message);
        }
        await using var teacher = await TestClient.ConnectAsync(server.Url);
        await teacher.JoinAsync("names", "Teacher");
        await using var fake = await TestClient.ConnectAsync(server.Url);
        var spoof = await Assert.ThrowsAsync<HubException>(() => fake.JoinAsync("names", "Теасһег"));   // every letter Cyrillic
        Assert.Contains("looks too much like 'Teacher'", spoof.Message);

        // grant by a name that is not exact says who is meant and asks for the id; the id grants exactly that one.
        var near = await Assert.ThrowsAsync<HubException>(() => instructor.CommandAsync("grant bob"));
        Assert.Contains($"did you mean BOB (id {joined.ParticipantId})", near.Message);
        Assert.Equal("granted BOB", await instructor.CommandAsync($"grant {joined.ParticipantId}"));
        await upper.WaitForAsync(m => m.Role == Role.Driver, "BOB driving");
        Assert.Equal("granted Teacher", await instructor.CommandAsync("grant Teacher"));   // an exact name still works
        await instructor.WaitForAsync(m => m.Participants.Any(p => p.Name == "BOB" && p.Id == joined.ParticipantId && p.Role == Role.Driver), "the id in the participants list");
    }

    [Fact]
    public async Task Settings_files_hold_only_hashes_with_private_permissions_and_old_plain_files_still_load()
    {
        string data = Path.Combine(Path.GetTempPath(), "lab-secrets-" + Guid.NewGuid().ToString("N"));
        string key, code;
        {
            await using var server = await LabServerFixture.StartAsync(data);
            var (c, created) = await CreateAsync(server, "secret", isPrivate: true);
            (key, code) = (created.InstructorKey, created.JoinCode!);
            await c.DisposeAsync();
        }
        string folder = Path.Combine(data, "sessions", "secret"), settings = Path.Combine(folder, "settings.json");
        string text = File.ReadAllText(settings);
        Assert.DoesNotContain(key, text);
        Assert.DoesNotContain(code, text);
        Assert.DoesNotContain(SessionSettings.CanonicalJoinCode(code), text);
        Assert.Contains("\"InstructorKeyHash\": \"sha256:", text);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(settings));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(folder, "machine.bin")));
        foreach (var dir in new[] { data, Path.Combine(data, "sessions"), folder })
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(dir));

        // An older server's file: plain key and a 6-digit code, world-readable.
        var json = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(text)!;
        json.Remove("InstructorKeyHash");
        json.Remove("JoinCodeHash");
        json["InstructorKey"] = JsonSerializer.SerializeToElement("old-plain-key");
        json["JoinCode"] = JsonSerializer.SerializeToElement("123456");
        File.WriteAllText(settings, JsonSerializer.Serialize(json));
        File.SetUnixFileMode(settings, (UnixFileMode)0b110_100_100);
        await using var restarted = await LabServerFixture.StartAsync(data);
        await using var prof = await TestClient.ConnectAsync(restarted.Url);
        Assert.Equal(Role.Instructor, (await prof.JoinAsync("secret", "prof", "old-plain-key")).Role);
        await using var student = await TestClient.ConnectAsync(restarted.Url);
        Assert.Equal(Role.Viewer, (await student.JoinAsync("secret", "sam", "123456")).Role);
        // Converted on restore: hashes only, 0600.
        string converted = File.ReadAllText(settings);
        Assert.DoesNotContain("old-plain-key", converted);
        Assert.DoesNotContain("123456", converted);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(settings));
    }

    [Fact]
    public async Task Only_MessagePack_over_WebSockets_is_accepted()
    {
        await using var server = await LabServerFixture.StartAsync();
        using var http = new HttpClient();
        var negotiate = await http.PostAsync($"{server.Url}/hubs/lab/negotiate?negotiateVersion=1", null);
        negotiate.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await negotiate.Content.ReadAsStringAsync());
        var transports = doc.RootElement.GetProperty("availableTransports").EnumerateArray().Select(t => t.GetProperty("transport").GetString()).ToArray();
        Assert.Equal(["WebSockets"], transports);
        string token = doc.RootElement.GetProperty("connectionToken").GetString()!;
        var poll = await http.GetAsync($"{server.Url}/hubs/lab?id={token}");   // long polling
        Assert.False(poll.IsSuccessStatusCode, $"long polling answered {poll.StatusCode}");
        var sse = new HttpRequestMessage(HttpMethod.Get, $"{server.Url}/hubs/lab?id={token}");
        sse.Headers.Accept.ParseAdd("text/event-stream");
        Assert.False((await http.SendAsync(sse)).IsSuccessStatusCode, "server-sent events were accepted");

        // The JSON hub protocol's handshake is refused with an error over the WebSocket.
        using var ws = new ClientWebSocket();
        await ws.ConnectAsync(new Uri(server.Url.Replace("http", "ws") + "/hubs/lab"), CancellationToken.None);
        await ws.SendAsync(Encoding.UTF8.GetBytes("{\"protocol\":\"json\",\"version\":1}\u001e"), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var r = await ws.ReceiveAsync(buffer, cts.Token);
        string answer = Encoding.UTF8.GetString(buffer, 0, r.Count);
        Assert.Contains("\"error\"", answer);
        Assert.Contains("json", answer);
    }
}

/// <summary>A clock that does not move (for limits whose expiry a test must not race).</summary>
internal sealed class FrozenClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
