using Lab.Server.Sessions;
using Lab.TuiClient.Net;
using Microsoft.AspNetCore.SignalR;
using Lab.Shared.Wire;

namespace Lab.TuiClient.App;

/// <summary>
/// The interactive subcommands: connect, local, sessions, create. Connection problems give one clear
/// line on stderr and a non-zero exit status, never a stack trace.
/// </summary>
public static class SessionCommands
{
    public const int DefaultPort = 5080;

    /// <summary>Parses HOST[:PORT][/SESSION] into a base URL and the session name.</summary>
    public static (string BaseUrl, string? Session)? ParseTarget(string target)
    {
        string t = target;
        if (t.StartsWith("http://", StringComparison.OrdinalIgnoreCase)) t = t[7..];
        else if (t.StartsWith("https://", StringComparison.OrdinalIgnoreCase)) return null;
        int slash = t.IndexOf('/');
        string hostPort = slash < 0 ? t : t[..slash];
        string? session = slash < 0 ? null : t[(slash + 1)..].Trim('/');
        if (hostPort.Length == 0) return null;
        if (!hostPort.Contains(':')) hostPort += $":{DefaultPort}";
        if (!Uri.TryCreate($"http://{hostPort}", UriKind.Absolute, out var uri)) return null;
        return ($"http://{uri.Host}:{uri.Port}", string.IsNullOrEmpty(session) ? null : session);
    }

    /// <summary>A parsed HOST[:PORT]/SESSION: what the user typed, the server's base URL and the session.</summary>
    public sealed record Target(string Text, string BaseUrl, string Session);

    /// <summary>`tui connect`: joins the session (with a join code or the instructor key) and runs the app;
    /// without a target, a dialog asks for it first.</summary>
    public static int Connect(Target? target, string? name, string? code, TextWriter stderr)
    {
        if (target is null && (Console.IsInputRedirected || Console.IsOutputRedirected))
            return Cli.UsageError(stderr, "connect", "HOST[:PORT]/SESSION is missing (without it a dialog asks, which needs a terminal)");
        if (target is null)
            return TuiApp.RunConnecting(name, code, a => Join(a.Target, a.Name, a.Secret));
        RemoteSession session;
        try { session = Join(target, name ?? Environment.UserName, code); }
        catch (CommandFailedException e)
        {
            stderr.WriteLine($"tui connect: {e.Message}");
            return 1;
        }
        return RunInteractive(session, isLocal: false);
    }

    /// <summary>Connects and joins (20 s at most); a failure is a <see cref="CommandFailedException"/> saying why.</summary>
    private static RemoteSession Join(Target target, string name, string? code)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        return RemoteSession.ConnectAsync(target.BaseUrl, target.Session, name, code, cts.Token).GetAwaiter().GetResult();
    }

    /// <summary>A parsed `tui local`: at most one of the profile (posix), a kernel file or a WeensyOS
    /// program; the step (WeensyOS), the memory (posix) and the POSIX command line.</summary>
    public sealed record LocalArguments(string? Profile, string? KernelFile, string? WeensyProgram, Lab.Kernel.Weensy.LabStep? Step,
        ulong? Memory, string[] CommandLine, Lab.Machine.ExecutionTier? Tier = null);

    /// <summary>`tui local`: the interactive app with the machine running in this process (a private server on loopback).</summary>
    public static int Local(LocalArguments a, TextWriter stderr)
    {
        if (LocalSettings(a, stderr, out int failure) is not { } settings) return failure;
        LocalServer server;
        RemoteSession session;
        try
        {
            server = LocalServer.StartAsync(settings, a.Tier).GetAwaiter().GetResult();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            session = server.ConnectAsync(cts.Token).GetAwaiter().GetResult();
        }
        catch (CommandFailedException e)
        {
            stderr.WriteLine($"tui local: {e.Message}");
            return 1;
        }
        try { return RunInteractive(session, isLocal: true); }
        finally { server.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
    }

    /// <summary>The settings of the session `tui local` runs, or null (after saying why, with
    /// <paramref name="failure"/> the exit status) when they cannot be made.</summary>
    internal static SessionSettings? LocalSettings(LocalArguments a, TextWriter stderr, out int failure)
    {
        failure = 0;
        string profile = a.Profile ?? (a.KernelFile is not null ? SessionSettings.KernelProfile : SessionSettings.WeensyProfile);
        var settings = new SessionSettings { Name = "local", InstructorKey = SessionSettings.NewSecret(), Profile = profile };
        if (a.KernelFile is { } file)
        {
            // A kernel built from C (the WeensyOS handout's obj/kernel or weensyos.img) as guest code.
            byte[] image;
            try { image = File.ReadAllBytes(file); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"tui local: cannot read {file}: {e.Message}");
                failure = 1;
                return null;
            }
            settings = settings with { Program = Path.GetFileName(file), KernelImage = image, TicksPerSecond = SessionSettings.DefaultSpeed(profile) };
        }
        else if (profile == SessionSettings.PosixProfile)
        {
            // A host program (a path, as `tui run` takes: ./a.out, a gcc -static build) is copied in as /bin/NAME.
            var words = a.CommandLine;
            Dictionary<string, byte[]>? files = null;
            if (words.Length > 0 && words[0].Contains('/'))
            {
                string guest = "/bin/" + Path.GetFileName(words[0]);
                try { files = new() { [guest] = File.ReadAllBytes(words[0]) }; }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    stderr.WriteLine($"tui local: cannot read {words[0]}: {e.Message}");
                    failure = 127;
                    return null;
                }
                words = [guest, .. words[1..]];
            }
            settings = settings with
            {
                StartFiles = files,
                Program = SessionSettings.ProgramFor(profile, words.Length > 0 ? SessionSettings.CommandLine(words) : null),
                MemoryMiB = (int)Math.Min(int.MaxValue, (a.Memory ?? PosixRun.DefaultMemory) >> 20),
                TicksPerSecond = SessionSettings.DefaultSpeed(profile),
            };
        }
        else
        {
            settings = settings with
            {
                Program = a.WeensyProgram ?? "forkexit",
                Step = Lab.Kernel.Weensy.LabSteps.Name(a.Step ?? Lab.Kernel.Weensy.LabStep.CopyOnWrite),
            };
        }
        if (settings.Validate() is { } invalid)
        {
            stderr.WriteLine($"tui local: {invalid}");
            failure = 2;
            return null;
        }
        return settings;
    }

    private static int RunInteractive(ISessionSource session, bool isLocal)
    {
        try { return TuiApp.Run(session, isLocal); }
        finally { session.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
    }

    /// <summary>`tui sessions HOST`: one line per session.</summary>
    public static int Sessions(string host, TextWriter stdout, TextWriter stderr)
    {
        if (ParseTarget(host) is not { } target)
            return Cli.UsageError(stderr, "sessions", $"'{host}' is not HOST[:PORT]");
        return WithConnection(target.BaseUrl, "sessions", stderr, async c =>
        {
            var list = await c.ListSessions();
            // A cluster says which node runs each session (a single server names none).
            bool cluster = list.Any(s => s.Node != null);
            int nodeWidth = cluster ? Math.Max(4, list.Max(s => s.Node?.Length ?? 1)) : 0;
            string Node(string? node) => cluster ? (node ?? "-").PadRight(nodeWidth) + " " : "";
            stdout.WriteLine($"{"SESSION",-20} {Node("NODE")}{"PROFILE",-8} {"PROGRAM",-14} {"STEP",-5} {"WHO",4} {"TICK",8}  STATE");
            foreach (var s in list)
            {
                string step = s.Profile == SessionSettings.PosixProfile ? "-" : s.Step;   // lab steps are WeensyOS's
                stdout.WriteLine($"{s.Name,-20} {Node(s.Node)}{s.Profile,-8} {s.Program,-14} {step,-5} {s.Participants,4} {s.Tick,8}  {(s.Halted ?? (s.Running ? "running" : "paused"))}{(s.Private ? " (private)" : "")}");
            }
            return 0;
        });
    }

    /// <summary>A parsed `tui create`: where, the profile or kernel file, and the session's settings
    /// (null: the server's default).</summary>
    public sealed record CreateArguments(Target Target, string? Profile, string? KernelFile, string? Program, string? Step,
        ulong? Memory, bool Private);

    /// <summary>`tui create`: creates a session (uploading the kernel first for --kernel) and prints its secrets.</summary>
    public static int Create(CreateArguments a, TextWriter stdout, TextWriter stderr)
    {
        var target = a.Target;
        string profile = a.Profile ?? (a.KernelFile is not null ? SessionSettings.KernelProfile : SessionSettings.WeensyProfile);
        byte[]? kernel = null;
        if (a.KernelFile is { } file && (kernel = ReadForUpload(file, "create", "a kernel file", stderr)) is null) return 2;
        // No program given: the server picks the profile's default (SessionSettings.ProgramFor).
        var options = new CreateSessionOptions(target.Session, a.Program ?? "", a.Step ?? "cow", profile, a.Private,
            (int)Math.Min(int.MaxValue, (a.Memory ?? 0) >> 20));
        return WithConnection(target.BaseUrl, "create", stderr, async c =>
        {
            if (kernel != null) await c.UploadFile(Path.GetFileName(a.KernelFile!), kernel);
            var created = await c.CreateSession(options);
            stdout.WriteLine($"session:        {created.Name}");
            stdout.WriteLine($"instructor key: {created.InstructorKey}   (keep it secret: tui connect {target.Text} --key {created.InstructorKey})");
            if (created.JoinCode != null) stdout.WriteLine($"join code:      {created.JoinCode}   (students: tui connect {target.Text} --code {created.JoinCode})");
            return 0;
        });
    }

    /// <summary>`tui push HOST/SESSION FILE`: replaces a kernel session's kernel with a new build; `reboot` boots it.</summary>
    public static int Push(Target target, string file, string? name, string? code, bool reboot, TextWriter stdout, TextWriter stderr)
    {
        if (ReadForUpload(file, "push", "a kernel file", stderr) is not { } kernel) return 2;
        return WithConnection(target.BaseUrl, "push", stderr, async c =>
        {
            await c.Join(target.Session, name ?? Environment.UserName, code);
            await c.UploadFile(Path.GetFileName(file), kernel);
            stdout.WriteLine(await c.Command("push"));
            if (reboot) stdout.WriteLine(await c.Command("reboot"));
            return 0;
        }, target.Session);
    }

    /// <summary>
    /// `tui gdb HOST/SESSION [--port 1234]`: serves the GDB remote protocol on a loopback port, bridged to a
    /// kernel session's shared debugger (`gdb obj/kernel.full -ex 'target remote :1234'`, as with `make
    /// run-gdb`); everyone in the session sees gdb's stops. Serves one gdb, then ends.
    /// </summary>
    public static int Gdb(Target target, int port, string? name, string? code, TextWriter stderr)
    {
        return WithConnection(target.BaseUrl, "gdb", stderr, async c =>
        {
            var mirror = new SessionMirror();
            var gdbTarget = new Net.SessionGdbTarget(c, mirror);
            var firstFrame = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            c.OnFrame(frame =>
            {
                mirror.Apply(frame);
                gdbTarget.FrameApplied();
                firstFrame.TrySetResult();
            });
            var joined = await c.Join(target.Session, name ?? $"gdb-{Environment.UserName}", code);
            if (joined.Role < Role.Driver)
            {
                stderr.WriteLine($"tui gdb: gdb drives the machine, and a participant joining {target.Session} starts as a viewer: connect with the instructor key (--key KEY)");
                return 1;
            }
            await firstFrame.Task.WaitAsync(TimeSpan.FromSeconds(20));
            if (mirror.Status?.Profile != SessionSettings.KernelProfile)
            {
                stderr.WriteLine($"tui gdb: {target.Session} runs Lab's own {mirror.Status?.Profile} (C# on the host); gdb works on kernel sessions (tui create --kernel FILE)");
                return 1;
            }
            Lab.Kernel.Guest.Gdb.GdbServer server;
            try { server = new Lab.Kernel.Guest.Gdb.GdbServer(port); }
            catch (System.Net.Sockets.SocketException e)
            {
                stderr.WriteLine($"tui gdb: cannot listen on 127.0.0.1:{port}: {e.Message}");
                return 1;
            }
            using (server)
            {
                stderr.WriteLine($"tui gdb: {target.Session} (running {mirror.Status.Program}) is bridged to 127.0.0.1:{server.Port}; " +
                                 $"attach with: gdb obj/kernel.full -ex 'target remote 127.0.0.1:{server.Port}'");
                // The stub blocks on its socket: it runs on a thread of its own.
                var end = await Task.Factory.StartNew(() => server.ServeOne(gdbTarget, line => stderr.WriteLine($"tui gdb: {line}")),
                    TaskCreationOptions.LongRunning);
                stderr.WriteLine($"tui gdb: gdb {end.ToString().ToLowerInvariant()}; the session goes on");
            }
            return 0;
        }, target.Session);
    }

    /// <summary>`tui upload HOST/SESSION FILE [PATH]`: puts a file into a POSIX session's file system (drivers);
    /// PATH defaults to /home/student/NAME, and a relative PATH starts there.</summary>
    public static int UploadFile(Target target, string file, string? path, string? name, string? code, TextWriter stdout, TextWriter stderr)
    {
        if (ReadForUpload(file, "upload", "an upload", stderr) is not { } bytes) return 2;
        return WithConnection(target.BaseUrl, "upload", stderr, async c =>
        {
            await c.Join(target.Session, name ?? Environment.UserName, code);
            await c.UploadFile(Path.GetFileName(file), bytes);
            stdout.WriteLine(await c.Command(path is not null ? $"put {path}" : "put"));
            return 0;
        }, target.Session);
    }

    /// <summary>A file's bytes if it can be uploaded (1 byte to the server's upload limit), or null after saying why not.</summary>
    private static byte[]? ReadForUpload(string file, string verb, string what, TextWriter stderr)
    {
        try
        {
            var bytes = File.ReadAllBytes(file);
            if (bytes.Length is 0 or > LabHubRoute.MaxUploadBytes)
            {
                stderr.WriteLine($"tui {verb}: {file} is {bytes.Length} bytes; {what} is 1 byte to {LabHubRoute.MaxUploadBytes >> 20} MiB");
                return null;
            }
            return bytes;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"tui {verb}: cannot read {file}: {e.Message}");
            return null;
        }
    }

    /// <summary>Runs <paramref name="body"/> on a connection to the server; with <paramref name="session"/>, to the
    /// node of a cluster that runs that session (on a single server, the same).</summary>
    private static int WithConnection(string baseUrl, string verb, TextWriter stderr, Func<LabClient, Task<int>> body, string? session = null)
    {
        try
        {
            return Task.Run(async () =>
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                LabClient c;
                if (session is null)
                {
                    c = new LabClient(baseUrl, reconnect: false);
                    await c.StartAsync(cts.Token);
                }
                else c = (await LabClient.ConnectToSessionAsync([baseUrl], session, cts.Token)).Client;
                await using var _ = c;
                return await body(c);
            }).GetAwaiter().GetResult();
        }
        catch (HubException e)
        {
            stderr.WriteLine($"tui {verb}: {ServerErrors.Reason(e.Message)}");
            return 1;
        }
        catch (Exception e) when (RemoteSession.IsConnectionFailure(e))
        {
            stderr.WriteLine($"tui {verb}: cannot reach {baseUrl}: {ServerErrors.Innermost(e).Message}");
            return 1;
        }
    }
}
