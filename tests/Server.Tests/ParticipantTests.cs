using Lab.Shared.Wire;
using Lab.TuiClient.App;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;

namespace Lab.Server.Tests;

/// <summary>
/// What an instructor does to the people in a session, on real Kestrel with real clients: remove a
/// participant, change the join code, read the session's info (join code and instructor key) again, and
/// grants that survive a dropped connection and a server restart (rejoin tokens).
/// </summary>
public class ParticipantTests
{
    private static async Task<(TestClient Instructor, CreateSessionResult Created)> CreateAsync(LabServerFixture server, string name, bool isPrivate = false)
    {
        var instructor = await TestClient.ConnectAsync(server.Url);
        var created = await instructor.Hub.CreateSession(new CreateSessionOptions(name, "allocator", "cow", "weensyos", isPrivate));
        Assert.Equal(Role.Instructor, (await instructor.JoinAsync(name, "prof", created.InstructorKey)).Role);
        return (instructor, created);
    }

    private static async Task<string> Refusal(Func<Task> call) => (await Assert.ThrowsAsync<HubException>(call)).Message;

    [Fact]
    public async Task The_instructor_removes_a_participant_who_is_told_stays_out_and_cannot_rejoin_with_its_token()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (prof, created) = await CreateAsync(server, "removal");
        await using var _p = prof;
        await using var student = await TestClient.ConnectAsync(server.Url);
        var joined = await student.JoinAsync("removal", "student");
        Assert.False(string.IsNullOrEmpty(joined.RejoinToken));
        await using var other = await TestClient.ConnectAsync(server.Url);
        await other.JoinAsync("removal", "Student2");
        await using var coProf = await TestClient.ConnectAsync(server.Url);
        await coProf.JoinAsync("removal", "ta", created.InstructorKey);
        await student.WaitForAsync(m => m.FramesApplied > 0, "the student's first frame");

        // Wrong uses are refused and say why (the lookup is grant's: ids, exact names, did-you-mean).
        Assert.Contains("only the instructor may remove participants", await Refusal(() => other.CommandAsync("remove student")));
        Assert.Contains("usage: remove ID|NAME", await Refusal(() => prof.CommandAsync("remove")));
        Assert.Contains("nobody with the id or name 'nobody'", await Refusal(() => prof.CommandAsync("remove nobody")));
        Assert.Contains("nobody is named exactly 'STUDENT'; did you mean student (id p2)? Use the id", await Refusal(() => prof.CommandAsync("remove STUDENT")));
        Assert.Contains("ta is an instructor: instructors cannot be removed", await Refusal(() => prof.CommandAsync("remove ta")));
        Assert.Contains("you cannot remove yourself", await Refusal(() => prof.CommandAsync("remove p1")));

        Assert.Equal("removed student", await prof.CommandAsync("remove p2"));
        Assert.Equal("prof", await student.RemovedBy.Task.WaitAsync(TimeSpan.FromSeconds(60)));
        await prof.WaitForAsync(m => m.Events.Any(e => e.Text == "prof removed student") && m.Participants.All(p => p.Name != "student"), "the removal in the log and the list");
        // Every later call of that connection is refused, and its frames have stopped.
        long frames = student.Mirror.FramesApplied;
        foreach (var call in new Func<Task>[] { () => student.CommandAsync("info"), () => student.Hub.Info(), () => student.KeyAsync("a"),
                     () => student.Hub.ViewMemory(0), () => student.JoinAsync("removal", "student"), () => student.Hub.Leave() })
            Assert.Contains("you were removed from this session by prof", await Refusal(call));
        await prof.CommandAsync("pause");
        await prof.WaitForAsync(m => m.Status is { Running: false }, "the pause");
        Assert.Equal(frames, student.Mirror.FramesApplied);
        // Its rejoin token is void, from any connection.
        await using var again = await TestClient.ConnectAsync(server.Url);
        Assert.Contains("you were removed from this session by prof", await Refusal(() => again.Hub.Rejoin("removal", "student", null, joined.RejoinToken!)));

        // The TUI's session: the status says who removed it, and it does not come back by itself.
        var tui = await RemoteSession.ConnectAsync(server.Url, "removal", "tuistudent", null, CancellationToken.None);
        await using (tui)
        {
            Assert.Equal("removed tuistudent", await prof.CommandAsync("remove tuistudent"));
            for (int i = 0; i < 300 && tui.ConnectionStatus != "removed from the session by prof"; i++) await Task.Delay(100);
            Assert.Equal("removed from the session by prof", tui.ConnectionStatus);
            Assert.Contains("you were removed from this session by prof", (await Assert.ThrowsAsync<CommandFailedException>(() => tui.CommandAsync("info"))).Message);
        }
    }

    [Fact]
    public async Task The_instructor_changes_the_join_code_and_the_new_one_survives_a_restart()
    {
        string data = Path.Combine(Path.GetTempPath(), "lab-code-" + Guid.NewGuid().ToString("N"));
        var server = await LabServerFixture.StartAsync(data);
        string newCode;
        CreateSessionResult created;
        try
        {
            TestClient prof;
            (prof, created) = await CreateAsync(server, "private-class", isPrivate: true);
            await using var _p = prof;
            await using var student = await TestClient.ConnectAsync(server.Url);
            await student.JoinAsync("private-class", "sam", created.JoinCode);
            Assert.Contains("only the instructor may change the join code", await Refusal(() => student.CommandAsync("code")));
            Assert.Contains("usage: code", await Refusal(() => prof.CommandAsync("code now")));

            string answer = await prof.CommandAsync("code");
            newCode = answer.Split(' ')[3].TrimEnd(':');
            Assert.Equal($"new join code {newCode}: the old one no longer works (who is in stays)", answer);
            Assert.Matches("^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$", newCode);
            Assert.NotEqual(created.JoinCode, newCode);
            await prof.WaitForAsync(m => m.Events.Any(e => e.Text == "prof changed the join code (the old one no longer works)"), "the change in the log");
            // The old code stops working; the new one works; who is in stays.
            await using var late = await TestClient.ConnectAsync(server.Url);
            Assert.Contains("wrong join code", await Refusal(() => late.JoinAsync("private-class", "lee", created.JoinCode)));
            Assert.Equal(Role.Viewer, (await late.JoinAsync("private-class", "lee", newCode)).Role);
            Assert.Equal("sam", (await student.Hub.Info()).Name);
            Assert.Equal(newCode, (await prof.Hub.Info()).JoinCode);

            // A public session has no code to change: say so, and how a private one is made.
            var (pub, _) = await CreateAsync(server, "public-class");
            await using var _pub = pub;
            string refusal = await Refusal(() => pub.CommandAsync("code"));
            Assert.Contains("session 'public-class' is public: anyone may join without a code", refusal);
            Assert.Contains("tui create", refusal);
            Assert.Contains("--private", refusal);
        }
        finally { await server.DisposeAsync(); }

        // After a restart the new code works, the old one does not, and the instructor reads the code again.
        await using var restarted = await LabServerFixture.StartAsync(data);
        await using var viewer = await TestClient.ConnectAsync(restarted.Url);
        Assert.Contains("wrong join code", await Refusal(() => viewer.JoinAsync("private-class", "lee", created.JoinCode)));
        Assert.Equal(Role.Viewer, (await viewer.JoinAsync("private-class", "lee", newCode)).Role);
        await using var profAgain = await TestClient.ConnectAsync(restarted.Url);
        await profAgain.JoinAsync("private-class", "prof", created.InstructorKey);
        var info = await profAgain.Hub.Info();
        Assert.Equal(newCode, info.JoinCode);
        Assert.Equal(created.InstructorKey, info.InstructorKey);
    }

    [Fact]
    public async Task Info_tells_everyone_the_session_and_their_role_and_only_instructors_the_secrets()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (prof, created) = await CreateAsync(server, "infoclass", isPrivate: true);
        await using var _p = prof;
        await using var student = await TestClient.ConnectAsync(server.Url);
        await student.JoinAsync("infoclass", "sam", created.JoinCode);
        await using var stranger = await TestClient.ConnectAsync(server.Url);
        Assert.Contains("join a session first", await Refusal(() => stranger.Hub.Info()));

        var mine = await prof.Hub.Info();
        Assert.Equal(new SessionInfo("infoclass", "weensyos", "allocator", "cow", true, "p1", "prof", Role.Instructor, created.JoinCode, created.InstructorKey), mine);
        var theirs = await student.Hub.Info();
        Assert.Equal(new SessionInfo("infoclass", "weensyos", "allocator", "cow", true, "p2", "sam", Role.Viewer, null, null), theirs);

        string text = await prof.CommandAsync("info");
        Assert.Contains("session infoclass: weensyos allocator at step cow, private; you are prof (p1), instructor", text);
        Assert.Contains($"join code {created.JoinCode}", text);
        Assert.Contains($"instructor key {created.InstructorKey} (tui connect 127.0.0.1:{server.Port}/infoclass --key {created.InstructorKey})", text);
        string studentText = await student.CommandAsync("info");
        Assert.Equal("session infoclass: weensyos allocator at step cow, private; you are sam (p2), viewer", studentText);
        Assert.Contains("usage: info", await Refusal(() => student.CommandAsync("info all")));
    }

    [Fact]
    public async Task A_granted_driver_is_a_driver_again_after_a_server_restart_and_can_type()
    {
        string data = Path.Combine(Path.GetTempPath(), "lab-rejoin-" + Guid.NewGuid().ToString("N"));
        int port = Lab.TestSupport.Network.FreeLoopbackPort();
        var server = await LabServerFixture.StartAsync(data, port);
        RemoteSession student, instructor;
        try
        {
            var (prof, created) = await CreateAsync(server, "pairs", isPrivate: true);
            await using var _p = prof;
            // The TUI's own session objects, which reconnect by themselves.
            student = await RemoteSession.ConnectAsync(server.Url, "pairs", "student", created.JoinCode, CancellationToken.None);
            instructor = await RemoteSession.ConnectAsync(server.Url, "pairs", "ta", created.InstructorKey, CancellationToken.None);
            Assert.Equal("granted student", await prof.CommandAsync("grant student"));
            for (int i = 0; i < 300 && student.Mirror.Role != Role.Driver; i++) await Task.Delay(100);
            Assert.Equal(Role.Driver, student.Mirror.Role);
            // A later `code` does not lock out who is in: their token needs no join code.
            await prof.CommandAsync("code");
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        await using var _s = student;
        await using var _i = instructor;
        await server.StopAsync();   // saves the session with its roster
        await server.DisposeAsync();
        for (int i = 0; i < 300 && !student.ConnectionStatus.Contains("reconnecting"); i++) await Task.Delay(100);

        await using var restarted = await LabServerFixture.StartAsync(data, port);
        for (int i = 0; i < 600 && !(student.ConnectionStatus == "reconnected" && instructor.ConnectionStatus == "reconnected"); i++) await Task.Delay(100);
        Assert.True(student.ConnectionStatus == "reconnected", student.ConnectionStatus);
        Assert.True(instructor.ConnectionStatus == "reconnected", instructor.ConnectionStatus);
        Assert.Equal((Role.Driver, "student"), (student.Joined!.Role, student.Joined.Name));
        Assert.Equal(Role.Instructor, instructor.Joined!.Role);
        await student.CommandAsync("pause");
        await student.KeyAsync('f');
        var session = restarted.Sessions.Find("pairs")!;
        for (int i = 0; i < 300 && !session.EventsSince(0).Any(e => e.Text.StartsWith("student pressed 'f'")); i++) await Task.Delay(100);
        Assert.Contains(session.EventsSince(0), e => e.Text.StartsWith("student pressed 'f'"));
        Assert.Contains(session.EventsSince(0), e => e.Text == "student rejoined as driver");
        // The instructor rejoined with its key too, so it can read the key and the (new) join code again.
        var info = await instructor.InfoAsync();
        Assert.NotNull(info.InstructorKey);
        Assert.NotNull(info.JoinCode);
    }

    [Fact]
    public async Task A_dropped_connection_rejoins_with_its_token_as_the_same_participant()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (prof, _) = await CreateAsync(server, "drop");
        await using var _p = prof;
        var first = await TestClient.ConnectAsync(server.Url);
        var joined = await first.JoinAsync("drop", "student");
        await prof.CommandAsync("grant p2");
        await first.WaitForAsync(m => m.Role == Role.Driver, "driving");

        // A second connection takes the participant over while the first is still open (the server has not
        // seen it drop yet): same id, name and role, one participant, and the old connection is detached.
        await using var second = await TestClient.ConnectAsync(server.Url);
        var again = await second.Hub.Rejoin("drop", "whoever", null, joined.RejoinToken!);
        Assert.Equal(("p2", "student", Role.Driver, joined.RejoinToken), (again.ParticipantId, again.Name, again.Role, again.RejoinToken));
        await prof.WaitForAsync(m => m.Participants.Count(p => p.Name == "student") == 1 && m.Events.Any(e => e.Text == "student rejoined as driver"), "one student, rejoined");
        Assert.Contains("join a session first", await Refusal(() => first.KeyAsync("a")));
        await second.Hub.Key("a");
        // When the old connection closes, the participant (now the second connection's) stays.
        var connections = server.App.Services.GetRequiredService<Lab.Server.Hubs.ConnectionTracker>();
        int before = connections.Count;
        await first.DisposeAsync();
        for (int i = 0; i < 300 && connections.Count >= before; i++) await Task.Delay(100);
        Assert.Equal(before - 1, connections.Count);
        Assert.Contains(server.Sessions.Find("drop")!.Participants(), p => p.Name == "student" && p.Role == Role.Driver);
        await second.Hub.Key("b");

        // An unknown token joins as Join would; an empty one is refused with what to do.
        await using var third = await TestClient.ConnectAsync(server.Url);
        Assert.Equal((Role.Viewer, "newcomer"), ((await third.Hub.Rejoin("drop", "newcomer", null, "not-a-token")).Role, "newcomer"));
        Assert.Contains("Rejoin needs the rejoin token", await Refusal(() => third.Hub.Rejoin("drop", "x", null, "")));
    }

    [Fact]
    public async Task An_older_servers_saved_session_restores_and_keeps_roles_from_then_on()
    {
        // settings.json as an older server wrote it: plain secrets, no roster, no sealed code.
        string data = Path.Combine(Path.GetTempPath(), "lab-oldsettings-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(data, "sessions", "oldie"));
        File.WriteAllText(Path.Combine(data, "sessions", "oldie", "settings.json"),
            """{"Name":"oldie","Program":"forkexit","Step":"cow","Profile":"weensyos","MemoryMiB":64,"Private":true,"InstructorKey":"old-key","JoinCode":"123456","TicksPerSecond":100,"Paused":false,"Pinned":false}""");
        string token;
        await using (var server = await LabServerFixture.StartAsync(data))
        {
            await using var prof = await TestClient.ConnectAsync(server.Url);
            Assert.Equal(Role.Instructor, (await prof.JoinAsync("oldie", "prof", "old-key")).Role);
            Assert.Equal("123456", (await prof.Hub.Info()).JoinCode);   // its plain code was sealed with its key when it was converted
            await using var student = await TestClient.ConnectAsync(server.Url);
            token = (await student.JoinAsync("oldie", "student", "123456")).RejoinToken!;
            await prof.CommandAsync("grant student");
            string saved = File.ReadAllText(Path.Combine(data, "sessions", "oldie", "settings.json"));
            Assert.DoesNotContain("old-key", saved);
            Assert.DoesNotContain("123456", saved);
            Assert.DoesNotContain(token, saved);
        }
        await using (var server = await LabServerFixture.StartAsync(data))
        {
            await using var student = await TestClient.ConnectAsync(server.Url);
            var again = await student.Hub.Rejoin("oldie", "student", null, token);
            Assert.Equal((Role.Driver, "p2", "student"), (again.Role, again.ParticipantId, again.Name));
            // A newcomer gets the next id, not one of the saved participants'.
            await using var newcomer = await TestClient.ConnectAsync(server.Url);
            Assert.Equal("p3", (await newcomer.JoinAsync("oldie", "lee", "123456")).ParticipantId);
        }
    }
    /// <summary>A lecture hall: beyond <see cref="Hubs.ClientSender.RosterLimit"/> participants, a viewer is sent
    /// the instructors, drivers and the first viewers (always itself), the instructor everyone, and the
    /// status counts them all.</summary>
    [Fact]
    public async Task In_a_lecture_hall_viewers_get_part_of_the_roster_and_the_instructor_all_of_it()
    {
        await using var server = await LabServerFixture.StartAsync();
        var (prof, _) = await CreateAsync(server, "lecture");
        await using var _p = prof;
        int hall = Hubs.ClientSender.RosterLimit + 20;
        var students = new List<TestClient>();
        try
        {
            for (int i = 0; i < hall; i++)
            {
                var s = await TestClient.ConnectAsync(server.Url);
                students.Add(s);
                await s.JoinAsync("lecture", $"student{i}");
            }
            await prof.WaitForAsync(m => m.Participants.Length == hall + 1, "the whole roster at the instructor's");
            var last = students[^1];
            await last.WaitForAsync(m => m.Status?.Participants == hall + 1 && m.Participants.Any(p => p.Name == $"student{hall - 1}"),
                "the total and itself at the last student's");
            Assert.Equal(Hubs.ClientSender.RosterLimit + 1, last.Mirror.Participants.Length);   // the first 100 (the instructor first) and itself
            Assert.Equal("prof", last.Mirror.Participants[0].Name);
            Assert.Equal(hall + 1, server.Sessions.Find("lecture")!.ParticipantCount);
        }
        finally
        {
            foreach (var s in students) await s.DisposeAsync();
        }
        await prof.WaitForAsync(m => m.Participants.Length == 1 && m.Status?.Participants == 1, "everyone gone but the instructor");
    }
}
