using Lab.Server.Sessions;
using Lab.TuiClient.Net;
using Microsoft.AspNetCore.SignalR;
using Lab.Shared.Wire;
using Lab.TuiClient.Terminal;

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

    private static Dictionary<string, string?> Options(string[] args, int start, out List<string> positional)
    {
        var options = new Dictionary<string, string?>();
        positional = new List<string>();
        for (int i = start; i < args.Length; i++)
        {
            if (args[i].StartsWith("--"))
            {
                string name = args[i][2..];
                bool flag = name is "private" or "reboot";
                options[name] = flag || i + 1 >= args.Length ? null : args[++i];
            }
            else positional.Add(args[i]);
        }
        return options;
    }

    public static int Connect(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var opts = Options(args, 0, out var pos);
        if (pos.Count != 1 || ParseTarget(pos[0]) is not { Session: not null } target)
        {
            stderr.WriteLine("usage: tui connect HOST[:PORT]/SESSION [--name NAME] [--code CODE] [--key INSTRUCTOR_KEY]");
            return 2;
        }
        string name = opts.GetValueOrDefault("name") ?? Environment.UserName;
        string? code = opts.GetValueOrDefault("key") ?? opts.GetValueOrDefault("code");
        RemoteSession session;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            session = RemoteSession.ConnectAsync(target.BaseUrl, target.Session!, name, code, cts.Token).GetAwaiter().GetResult();
        }
        catch (CommandFailedException e)
        {
            stderr.WriteLine($"tui connect: {e.Message}");
            return 1;
        }
        return RunInteractive(session);
    }

    public static int Local(string[] args, TextWriter stdout, TextWriter stderr)
    {
        // Options come first; for the POSIX profile everything from the first other word on is the
        // command line to run (so its own options, like sh -i, are left alone).
        var opts = new Dictionary<string, string?>();
        int i = 0;
        for (; i < args.Length && args[i].StartsWith("--"); i++)
            opts[args[i][2..]] = i + 1 < args.Length ? args[++i] : null;
        var pos = args[i..].ToList();
        string profile = opts.GetValueOrDefault("profile") ?? (opts.ContainsKey("kernel") ? SessionSettings.KernelProfile : SessionSettings.WeensyProfile);
        var settings = new SessionSettings { Name = "local", InstructorKey = SessionSettings.NewSecret(), Profile = profile };
        if (profile == SessionSettings.KernelProfile)
        {
            // A kernel built from C (the WeensyOS handout's obj/kernel or weensyos.img) as guest code.
            string? file = opts.GetValueOrDefault("kernel");
            if (file is null)
            {
                stderr.WriteLine("usage: tui local --kernel FILE   (e.g. obj/kernel, obj/kernel.full or weensyos.img)");
                return 2;
            }
            byte[] image;
            try { image = File.ReadAllBytes(file); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"tui local: cannot read {file}: {e.Message}");
                return 1;
            }
            settings = settings with { Program = Path.GetFileName(file), KernelImage = image, TicksPerSecond = SessionSettings.DefaultSpeed(profile) };
        }
        else if (profile == SessionSettings.PosixProfile)
        {
            ulong mem = 64UL << 20;
            if (opts.TryGetValue("mem", out var size) && (size is null || !PosixRun.TryParseSize(size, out mem)))
            {
                stderr.WriteLine($"tui local: --mem needs a size such as 64M (got '{size}')");
                return 2;
            }
            settings = settings with
            {
                Program = SessionSettings.ProgramFor(profile, pos.Count > 0 ? string.Join(' ', pos) : null),
                MemoryMiB = (int)Math.Min(int.MaxValue, mem >> 20),
                TicksPerSecond = SessionSettings.DefaultSpeed(profile),
            };
        }
        else
        {
            string program = opts.GetValueOrDefault("weensyos") ?? (pos.Count > 0 ? pos[0] : "forkexit");
            settings = settings with { Program = program, Step = opts.GetValueOrDefault("step") ?? "cow" };
        }
        if (settings.Validate() is { } invalid)
        {
            stderr.WriteLine($"tui local: {invalid}");
            return 2;
        }
        LocalServer server;
        RemoteSession session;
        try
        {
            server = LocalServer.StartAsync(settings).GetAwaiter().GetResult();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            session = server.ConnectAsync(cts.Token).GetAwaiter().GetResult();
        }
        catch (CommandFailedException e)
        {
            stderr.WriteLine($"tui local: {e.Message}");
            return 1;
        }
        try { return RunInteractive(session); }
        finally { server.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
    }

    private static int RunInteractive(ISessionSource session)
    {
        try
        {
            using var terminal = new TerminalHost();
            return new TuiApp(session).RunAsync(terminal).GetAwaiter().GetResult();
        }
        finally
        {
            session.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    public static int Sessions(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length != 1 || ParseTarget(args[0]) is not { } target)
        {
            stderr.WriteLine("usage: tui sessions HOST[:PORT]");
            return 2;
        }
        return WithConnection(target.BaseUrl, "sessions", stderr, async c =>
        {
            var list = await c.ListSessions();
            stdout.WriteLine($"{"SESSION",-20} {"PROFILE",-8} {"PROGRAM",-14} {"STEP",-5} {"WHO",4} {"TICK",8}  STATE");
            foreach (var s in list)
            {
                string step = s.Profile == SessionSettings.PosixProfile ? "-" : s.Step;   // lab steps are WeensyOS's
                stdout.WriteLine($"{s.Name,-20} {s.Profile,-8} {s.Program,-14} {step,-5} {s.Participants,4} {s.Tick,8}  {(s.Halted ?? (s.Running ? "running" : "paused"))}{(s.Private ? " (private)" : "")}");
            }
            return 0;
        });
    }

    public static int Create(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var opts = Options(args, 0, out var pos);
        if (pos.Count != 1 || ParseTarget(pos[0]) is not { Session: not null } target)
        {
            stderr.WriteLine("usage: tui create HOST[:PORT]/SESSION [--program allocator|fork|forkexit] [--step 0..7|cow] [--private]\n" +
                             "       tui create HOST[:PORT]/SESSION --profile posix [--program \"sh -i\"] [--mem 64M] [--private]\n" +
                             "       tui create HOST[:PORT]/SESSION --kernel FILE [--private]");
            return 2;
        }
        string profile = opts.GetValueOrDefault("profile") ?? (opts.ContainsKey("kernel") ? SessionSettings.KernelProfile : SessionSettings.WeensyProfile);
        byte[]? kernel = null;
        if (profile == SessionSettings.KernelProfile && (kernel = ReadKernel(opts.GetValueOrDefault("kernel"), "create", stderr)) is null) return 2;
        ulong mem = 0;
        if (opts.TryGetValue("mem", out var size) && (size is null || !PosixRun.TryParseSize(size, out mem)))
        {
            stderr.WriteLine($"tui create: --mem needs a size such as 64M (got '{size}')");
            return 2;
        }
        // No program given: the server picks the profile's default (SessionSettings.ProgramFor).
        var options = new CreateSessionOptions(target.Session!, opts.GetValueOrDefault("program") ?? "",
            opts.GetValueOrDefault("step") ?? "cow", profile, opts.ContainsKey("private"), (int)Math.Min(int.MaxValue, mem >> 20));
        return WithConnection(target.BaseUrl, "create", stderr, async c =>
        {
            if (kernel != null) await c.UploadFile(Path.GetFileName(opts["kernel"]!), kernel);
            var created = await c.CreateSession(options);
            stdout.WriteLine($"session:        {created.Name}");
            stdout.WriteLine($"instructor key: {created.InstructorKey}   (keep it secret: tui connect {pos[0]} --key {created.InstructorKey})");
            if (created.JoinCode != null) stdout.WriteLine($"join code:      {created.JoinCode}   (students: tui connect {pos[0]} --code {created.JoinCode})");
            return 0;
        });
    }

    /// <summary>`tui push HOST/SESSION FILE`: replaces a kernel session's kernel with a new build; `reboot` boots it.</summary>
    public static int Push(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var opts = Options(args, 0, out var pos);
        if (pos.Count != 2 || ParseTarget(pos[0]) is not { Session: not null } target)
        {
            stderr.WriteLine("usage: tui push HOST[:PORT]/SESSION FILE [--key INSTRUCTOR_KEY | --code JOIN_CODE] [--name NAME] [--reboot]");
            return 2;
        }
        if (ReadKernel(pos[1], "push", stderr) is not { } kernel) return 2;
        string? code = opts.GetValueOrDefault("key") ?? opts.GetValueOrDefault("code");
        return WithConnection(target.BaseUrl, "push", stderr, async c =>
        {
            await c.Join(target.Session!, opts.GetValueOrDefault("name") ?? Environment.UserName, code);
            await c.UploadFile(Path.GetFileName(pos[1]), kernel);
            stdout.WriteLine(await c.Command("push"));
            if (opts.ContainsKey("reboot")) stdout.WriteLine(await c.Command("reboot"));
            return 0;
        });
    }

    /// <summary>
    /// `tui gdb HOST/SESSION [--port 1234]`: serves the GDB remote protocol on a loopback port, bridged to a
    /// kernel session's shared debugger (`gdb obj/kernel.full -ex 'target remote :1234'`, as with `make
    /// run-gdb`); everyone in the session sees gdb's stops. Serves one gdb, then ends.
    /// </summary>
    public static int Gdb(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var opts = Options(args, 0, out var pos);
        if (pos.Count != 1 || ParseTarget(pos[0]) is not { Session: not null } target
            || !int.TryParse(opts.GetValueOrDefault("port") ?? "1234", out int port) || port is < 0 or > 65535)
        {
            stderr.WriteLine("usage: tui gdb HOST[:PORT]/SESSION [--port 1234] [--key INSTRUCTOR_KEY | --code JOIN_CODE] [--name NAME]");
            return 2;
        }
        string? code = opts.GetValueOrDefault("key") ?? opts.GetValueOrDefault("code");
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
            var joined = await c.Join(target.Session!, opts.GetValueOrDefault("name") ?? $"gdb-{Environment.UserName}", code);
            if (joined.Role < Role.Driver)
            {
                stderr.WriteLine("tui gdb: gdb drives the machine: ask the instructor to grant you driving (or use --key)");
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
        });
    }

    /// <summary>`tui upload HOST/SESSION FILE [PATH]`: puts a file into a POSIX session's file system (drivers);
    /// PATH defaults to /home/student/NAME, and a relative PATH starts there.</summary>
    public static int UploadFile(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var opts = Options(args, 0, out var pos);
        if (pos.Count is < 2 or > 3 || ParseTarget(pos[0]) is not { Session: not null } target)
        {
            stderr.WriteLine("usage: tui upload HOST[:PORT]/SESSION FILE [PATH] [--key INSTRUCTOR_KEY | --code JOIN_CODE] [--name NAME]");
            return 2;
        }
        if (ReadForUpload(pos[1], "upload", "an upload", stderr) is not { } bytes) return 2;
        string? code = opts.GetValueOrDefault("key") ?? opts.GetValueOrDefault("code");
        return WithConnection(target.BaseUrl, "upload", stderr, async c =>
        {
            await c.Join(target.Session!, opts.GetValueOrDefault("name") ?? Environment.UserName, code);
            await c.UploadFile(Path.GetFileName(pos[1]), bytes);
            stdout.WriteLine(await c.Command(pos.Count == 3 ? $"put {pos[2]}" : "put"));
            return 0;
        });
    }

    /// <summary>A kernel file's bytes, or null after saying why not.</summary>
    private static byte[]? ReadKernel(string? file, string verb, TextWriter stderr)
    {
        if (file is null)
        {
            stderr.WriteLine($"tui {verb}: --kernel needs a file (obj/kernel, obj/kernel.full or weensyos.img)");
            return null;
        }
        return ReadForUpload(file, verb, "a kernel file", stderr);
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

    private static int WithConnection(string baseUrl, string verb, TextWriter stderr, Func<LabClient, Task<int>> body)
    {
        try
        {
            return Task.Run(async () =>
            {
                await using var c = new LabClient(baseUrl, reconnect: false);
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                await c.StartAsync(cts.Token);
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
