using System.Buffers.Binary;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lab.Bench;

/// <summary>
/// One node of `bench backplane`: a real Kestrel app with SignalR, the MessagePack protocol and the
/// Redis backplane (StackExchange.Redis), as Lab's nodes would run. Its hub only tells a viewer its
/// connection id (and puts it in a group); a pusher, started and stopped over HTTP by the benchmark,
/// sends frame-sized byte arrays at a fixed rate to given connection ids (wherever they are connected)
/// or to one group. Each payload starts with the send time (UTC ticks) so viewers measure latency.
/// </summary>
public static class BackplaneNode
{
    public const string HubPath = "/frames";
    public const string Group = "all";
    public const string Method = "Frame";

    /// <summary>The viewers' hub: Hello joins the group and answers the caller's connection id.</summary>
    public sealed class FrameHub : Hub
    {
        public async Task<string> Hello(string group)
        {
            await Groups.AddToGroupAsync(Context.ConnectionId, group);
            return Context.ConnectionId;
        }
    }

    /// <summary>Runs the node until killed: `--urls URL --redis HOST:PORT` (other options are ignored).</summary>
    public static void Run(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        string redis = builder.Configuration["redis"] ?? throw new BenchmarkException("a node needs --redis HOST:PORT");
        builder.Services.AddSignalR().AddMessagePackProtocol().AddStackExchangeRedis(redis);
        // As Lab's server: MessagePack only. (With JSON also enabled, the backplane serializes every
        // message for both protocols, and a byte array goes through Redis a second time as base64.)
        builder.Services.Configure<HubOptions>(o => o.SupportedProtocols = ["messagepack"]);
        builder.Services.AddSingleton<Pusher>();
        var app = builder.Build();
        app.UseWebSockets();
        app.MapHub<FrameHub>(HubPath, o => o.Transports = Microsoft.AspNetCore.Http.Connections.HttpTransportType.WebSockets);
        app.MapGet("/", () => "backplane node");
        app.MapPost("/start", async (HttpRequest request, Pusher pusher) =>
        {
            string mode = request.Query["mode"].ToString();
            int size = int.Parse(request.Query["size"].ToString());
            double hz = double.Parse(request.Query["hz"].ToString(), System.Globalization.CultureInfo.InvariantCulture);
            string body = await new StreamReader(request.Body).ReadToEndAsync();
            var ids = body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            pusher.Start(mode == "group", ids, size, hz);
            return "started";
        });
        app.MapPost("/stop", async (Pusher pusher) => await pusher.StopAsync());
        app.Run();
    }

    /// <summary>Sends one payload per period to every connection id (or once to the group). A tick whose
    /// sends have not all completed delays the next (PeriodicTimer skips missed ticks), so a path that
    /// cannot keep up shows as fewer messages delivered, not as an unbounded queue.</summary>
    public sealed class Pusher(IHubContext<FrameHub> hub)
    {
        private CancellationTokenSource? _stop;
        private Task<string>? _loop;

        public void Start(bool group, string[] ids, int size, double hz)
        {
            if (_loop != null) throw new InvalidOperationException("already pushing");
            _stop = new CancellationTokenSource();
            var token = _stop.Token;
            _loop = Task.Run(() => Loop(group, ids, Math.Max(size, 8), hz, token));
        }

        /// <summary>Stops the pusher and says how many ticks it ran and how many sends failed.</summary>
        public async Task<string> StopAsync()
        {
            if (_loop == null) return "not running";
            _stop!.Cancel();
            string result = await _loop;
            _loop = null;
            return result;
        }

        private async Task<string> Loop(bool group, string[] ids, int size, double hz, CancellationToken token)
        {
            long ticks = 0, failed = 0;
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1 / hz));
            var sends = new Task[ids.Length];
            try
            {
                while (await timer.WaitForNextTickAsync(token))
                {
                    var payload = new byte[size];
                    Random.Shared.NextBytes(payload);
                    BinaryPrimitives.WriteInt64LittleEndian(payload, DateTime.UtcNow.Ticks);
                    ticks++;
                    try
                    {
                        if (group) await hub.Clients.Group(Group).SendAsync(Method, payload);
                        else
                        {
                            for (int i = 0; i < ids.Length; i++) sends[i] = hub.Clients.Client(ids[i]).SendAsync(Method, payload);
                            await Task.WhenAll(sends);
                        }
                    }
                    catch (Exception) { failed++; }
                }
            }
            catch (OperationCanceledException) { }
            return $"ticks={ticks} failed={failed}";
        }
    }
}
