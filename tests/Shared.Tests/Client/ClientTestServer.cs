using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Lab.Shared.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Lab.Shared.Tests.Client;

/// <summary>What the test hub reports back to the test (one instance per server).</summary>
public sealed class HubTestState
{
    public TaskCompletionSource StreamCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource HangStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>The hub the client tests talk to.</summary>
public sealed class ClientTestHub(HubTestState state) : Hub
{
    public string Echo(string text) => text;

    public int Add(int a, int b) => a + b;

    public void Fail() => throw new HubException("boom from the hub");

    public void Nothing()
    {
    }

    public string WhoAmI() => Context.ConnectionId;

    /// <summary>Calls the caller's "Notify" client method, then returns.</summary>
    public Task NotifyMe(string text, int number) => Clients.Caller.SendAsync("Notify", text, number);

    /// <summary>Sends <paramref name="count"/> notifications without waiting for anything.</summary>
    public async Task NotifyMany(int count)
    {
        for (int i = 0; i < count; i++)
            await Clients.Caller.SendAsync("Tick", i);
    }

    /// <summary>Never returns on its own; ends when the connection goes away.</summary>
    public async Task<string> Hang()
    {
        state.HangStarted.TrySetResult();
        await Task.Delay(Timeout.Infinite, Context.ConnectionAborted);
        return "unreachable";
    }

    public void Abort() => Context.Abort();

    public string Big(int length) => new('x', length);

    /// <summary>Asks the caller for a client result; returns the outcome as text.</summary>
    public async Task<string> AskCaller()
    {
        try
        {
            return "answered " + await Clients.Caller.InvokeAsync<int>("Question", CancellationToken.None);
        }
        catch (Exception ex)
        {
            return ex.Message;
        }
    }

    public async IAsyncEnumerable<int> Counter(int count, int delayMs, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            for (int i = 0; i < count; i++)
            {
                yield return i;
                if (delayMs > 0)
                    await Task.Delay(delayMs, cancellationToken);
            }
        }
        finally
        {
            if (cancellationToken.IsCancellationRequested)
                state.StreamCancelled.TrySetResult();
        }
    }

    public ChannelReader<string> Words(int count)
    {
        var channel = Channel.CreateUnbounded<string>();
        _ = Task.Run(async () =>
        {
            for (int i = 0; i < count; i++)
                await channel.Writer.WriteAsync("w" + i);
            channel.Writer.Complete();
        });
        return channel.Reader;
    }

    public async IAsyncEnumerable<int> CounterThenFail(int count)
    {
        for (int i = 0; i < count; i++)
        {
            yield return i;
            await Task.Yield();
        }
        throw new HubException("stream broke");
    }
}

/// <summary>Counts the Pings the server parses, to prove the client's keep-alive reaches it.</summary>
internal sealed class PingCountingProtocol : IHubProtocol
{
    private readonly MsgPackHubProtocol _inner = new();
    private int _pings;

    public int Pings => Volatile.Read(ref _pings);

    public string Name => _inner.Name;

    public int Version => _inner.Version;

    public TransferFormat TransferFormat => _inner.TransferFormat;

    public bool IsVersionSupported(int version) => _inner.IsVersionSupported(version);

    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder, [NotNullWhen(true)] out HubMessage? message)
    {
        bool parsed = _inner.TryParseMessage(ref input, binder, out message);
        if (parsed && message is PingMessage)
            Interlocked.Increment(ref _pings);
        return parsed;
    }

    public void WriteMessage(HubMessage message, IBufferWriter<byte> output) => _inner.WriteMessage(message, output);

    public ReadOnlyMemory<byte> GetMessageBytes(HubMessage message) => _inner.GetMessageBytes(message);
}

/// <summary>A real ASP.NET Core SignalR server on loopback Kestrel, hub at /hub.</summary>
internal sealed class ClientTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ClientTestServer(WebApplication app, HubTestState state, int port)
    {
        _app = app;
        State = state;
        Port = port;
    }

    public HubTestState State { get; }

    public int Port { get; }

    public Uri HubUrl => new($"http://127.0.0.1:{Port}/hub");

    /// <param name="port">0 picks a free port; a fixed port is used to restart "the same" server.</param>
    public static async Task<ClientTestServer> StartAsync(int port = 0, Action<HubOptions>? hubOptions = null,
        IHubProtocol? protocol = null, ITestOutputHelper? output = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        if (output is not null)
            builder.Logging.AddProvider(new TestOutputLoggerProvider(output, "server")).SetMinimumLevel(LogLevel.Debug);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        var state = new HubTestState();
        builder.Services.AddSingleton(state);
        var signalR = builder.Services.AddSignalR(o =>
        {
            o.EnableDetailedErrors = false;
            hubOptions?.Invoke(o);
        });
        if (protocol is null)
            signalR.AddLabMessagePackProtocol();
        else
            builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton(protocol));

        var app = builder.Build();
        app.MapHub<ClientTestHub>("/hub");
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ClientTestServer(app, state, new Uri(address).Port);
    }

    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _app.StopAsync();
        }
        catch (Exception)
        {
            // Already stopped.
        }
        await _app.DisposeAsync();
    }
}

/// <summary>
/// A scripted WebSocket "hub" for hostile and edge-case servers: it accepts the upgrade at /raw and hands the
/// socket to a script; /bad/negotiate answers with a canned body.
/// </summary>
internal sealed class RawWebSocketServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RawWebSocketServer(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public Uri RawUrl => new($"http://127.0.0.1:{Port}/raw");

    public Uri BadNegotiateUrl => new($"http://127.0.0.1:{Port}/bad");

    public static async Task<RawWebSocketServer> StartAsync(Func<WebSocket, Task> script, string negotiateBody = "{}")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.UseWebSockets();
        app.Map("/raw", async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = 400;
                return;
            }
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            try
            {
                await script(socket);
            }
            catch (Exception) when (socket.State != WebSocketState.Open)
            {
                // The client went away mid-script; that is what some tests provoke.
            }
        });
        app.MapPost("/bad/negotiate", async context =>
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(negotiateBody);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new RawWebSocketServer(app, new Uri(address).Port);
    }

    /// <summary>Reads the client's handshake request (up to and including 0x1E) and returns its JSON text.</summary>
    public static async Task<string> ReadHandshakeAsync(WebSocket socket)
    {
        var received = new List<byte>();
        var buffer = new byte[1024];
        while (!received.Contains(0x1e))
        {
            var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close)
                throw new InvalidOperationException("Client closed during handshake.");
            received.AddRange(buffer.AsSpan(0, result.Count).ToArray());
        }
        return System.Text.Encoding.UTF8.GetString(received.ToArray(), 0, received.IndexOf(0x1e));
    }

    /// <summary>Keeps reading until the client closes, answering its close.</summary>
    public static async Task DrainUntilCloseAsync(WebSocket socket)
    {
        var buffer = new byte[4096];
        while (socket.State == WebSocketState.Open)
        {
            var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                return;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Routes client/server logs to the xunit output of the test (helps when a test fails on a loaded machine).</summary>
internal sealed class TestOutputLoggerProvider(ITestOutputHelper output, string prefix) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(output, prefix, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(ITestOutputHelper output, string prefix, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            try
            {
                output.WriteLine($"[{prefix} {logLevel} {category.Split('.').Last()}] {formatter(state, exception)}{(exception is null ? "" : " :: " + exception.GetType().Name + ": " + exception.Message)}");
            }
            catch (InvalidOperationException)
            {
                // The test already finished.
            }
        }
    }
}
