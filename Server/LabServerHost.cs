using Lab.Server.Cluster;
using Lab.Server.Hubs;
using Lab.Server.Persistence;
using Lab.Server.Sessions;
using Lab.Shared.Wire;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Lab.Server;

/// <summary>Builds the server application (used by Program and by tests that start a real server on loopback).</summary>
public static class LabServerHost
{
    public const string DefaultUrl = "http://localhost:5080";

    /// <summary>The name SignalR's MessagePack hub protocol announces in the handshake.</summary>
    public const string MessagePackProtocolName = "messagepack";

    /// <param name="args">Command line: --urls URL, --data DIR, --demo-key KEY, --save-interval SECONDS, and for a
    /// cluster --redis HOST:PORT, --node NAME, --public-url URL; --tier interp|jit; and ASP.NET Core's usual settings.</param>
    /// <exception cref="ClusterUnreachableException">--redis names a Redis that cannot be reached.</exception>
    /// <param name="configure">Adjusts options after the command line (tests use it for short intervals).</param>
    /// <param name="quiet">No log output at all (the TUI hosts a server in-process for `tui local`).</param>
    /// <param name="logging">Adds log providers (tests read what the server logs).</param>
    public static WebApplication Create(string[] args, Action<LabServerOptions>? configure = null, bool quiet = false, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        if (quiet) builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]) && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ASPNETCORE_URLS")))
            builder.WebHost.UseUrls(DefaultUrl);

        var options = new LabServerOptions();
        builder.Configuration.GetSection("Lab").Bind(options);
        if (builder.Configuration["data"] is { } dataDir) options.DataDirectory = dataDir;
        if (builder.Configuration["demo-key"] is { } demoKey) options.DemoKey = demoKey;
        if (builder.Configuration["redis"] is { Length: > 0 } redis) options.Redis = redis;
        if (builder.Configuration["node"] is { Length: > 0 } node) options.NodeName = node;
        if (builder.Configuration["public-url"] is { Length: > 0 } publicUrl) options.PublicUrl = publicUrl;
        if (builder.Configuration["save-interval"] is { Length: > 0 } interval)
            options.SaveInterval = double.TryParse(interval, System.Globalization.CultureInfo.InvariantCulture, out double seconds) && seconds > 0
                ? TimeSpan.FromSeconds(seconds) : throw new ArgumentException($"--save-interval takes a number of seconds, not '{interval}'");
        if (builder.Configuration["tier"] is { Length: > 0 } tier)
            options.Tier = Lab.Machine.MachineOptions.ParseTier(tier) ?? throw new ArgumentException($"--tier takes interp or jit, not '{tier}'");
        configure?.Invoke(options);

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(sp => new SessionStore(options.DataDirectory, sp.GetRequiredService<ILogger<SessionStore>>()));
        // A cluster node: its Redis is reached now (a clear error at start, not at the first request).
        ClusterDirectory? cluster = options.Redis is { } endpoint
            ? ClusterDirectory.Connect(endpoint, options.NodeName ?? DefaultNodeName(builder.Configuration["urls"]), options.LeaseTime)
            : null;
        if (cluster != null) builder.Services.AddSingleton(cluster);
        builder.Services.AddSingleton(sp => new SessionManager(sp.GetRequiredService<SessionStore>(), options, sp.GetRequiredService<ILoggerFactory>(), cluster));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SessionManager>());
        if (cluster != null)
        {
            // Registered after the manager, so it stops first: the sessions are handed over before the manager's last save.
            builder.Services.AddSingleton<ClusterNode>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<ClusterNode>());
            if (!quiet) builder.Services.AddSingleton<IHostLifetime, ClusterLifetime>();
        }
        builder.Services.AddSingleton<ConnectionTracker>();
        builder.Services.AddSingleton(sp => new AddressLimits(options, cluster: cluster != null ? new ClusterLimits(cluster) : null));
        builder.Services.AddSingleton<RefusalLogFilter>();
        // SignalR's dispatcher logs every failed call (a refused key too) as an error with a stack
        // trace; RefusalLogFilter logs refusals as one line and real failures with their stack instead.
        builder.Logging.AddFilter("Microsoft.AspNetCore.SignalR.Internal.DefaultHubDispatcher", LogLevel.None);
        var signalR = builder.Services.AddSignalR(o =>
        {
            o.MaximumReceiveMessageSize = 32 * 1024;   // hub calls are small; anything bigger closes the connection
            o.EnableDetailedErrors = false;
            o.MaximumParallelInvocationsPerClient = 1;
            o.AddFilter<RefusalLogFilter>();
        }).AddMessagePackProtocol(o => o.SerializerOptions = LabMessagePack.Options);
        // SignalR's Redis backplane: a message to a group or connection reaches it on whichever node it is connected
        // to (a session's new node tells the viewers still on its old node where it went: ClusterNode.Adopt).
        if (cluster != null)
            signalR.AddStackExchangeRedis(cluster.Endpoint, o => o.Configuration.ChannelPrefix = StackExchange.Redis.RedisChannel.Literal("lab-signalr"));
        // docs/PROTOCOL.md: MessagePack over WebSockets, nothing else (no JSON protocol, no long polling or SSE).
        builder.Services.Configure<HubOptions>(o => o.SupportedProtocols = [MessagePackProtocolName]);

        var app = builder.Build();
        app.UseWebSockets();
        app.MapHub<LabHub>(LabHubRoute.Path, o => o.Transports = HttpTransportType.WebSockets);
        // Whoever runs the server learns the demo's instructor key once it listens (with the address to use).
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            string url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? DefaultUrl;
            string host = new Uri(url.Replace("[::]", "localhost").Replace("0.0.0.0", "localhost").Replace("*", "localhost").Replace("+", "localhost")).Authority;
            app.Services.GetService<ClusterNode>()?.Listening(new Uri(url.Replace("[::]", "localhost").Replace("0.0.0.0", Environment.MachineName)
                .Replace("*", Environment.MachineName).Replace("+", Environment.MachineName)).GetLeftPart(UriPartial.Authority));
            app.Services.GetRequiredService<SessionManager>().LogDemoKey(host);
        });
        app.MapGet("/", () => Results.Text("Lab server: connect with `tui connect HOST/SESSION`; the SignalR hub is at /hubs/lab (messagepack).\n"));
        return app;
    }

    /// <summary>A node's name when --node is not given: the host name and the port it listens on.</summary>
    private static string DefaultNodeName(string? urls)
    {
        string? first = urls?.Split(';', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        int port = first != null && Uri.TryCreate(first.Replace("*", "localhost").Replace("+", "localhost"), UriKind.Absolute, out var uri) ? uri.Port : 5080;
        return port == 0 ? $"{Environment.MachineName}-{Environment.ProcessId}" : $"{Environment.MachineName}-{port}";
    }

    /// <summary>The address a started app listens on (the real port when it was started with port 0).</summary>
    public static string BoundUrl(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()
            .Replace("[::]", "127.0.0.1").Replace("localhost", "127.0.0.1");
}
