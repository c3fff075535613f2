using Lab.Shared.Client;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Lab.Shared.Tests.Client;

/// <summary>
/// LabHubConnection against a real ASP.NET Core SignalR server (Kestrel on loopback) using our
/// "messagepack" protocol. Timeouts here only guard against hangs; nothing asserts on elapsed time.
/// </summary>
public class LabHubConnectionTests(ITestOutputHelper output)
{
    internal static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    private LabHubConnectionOptions Options(bool skipNegotiation = false) => new()
    {
        SkipNegotiation = skipNegotiation,
        LoggerFactory = LoggerFactory.Create(b => b.AddProvider(new TestOutputLoggerProvider(output, "client")).SetMinimumLevel(LogLevel.Debug)),
    };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Connects_and_invokes_with_results(bool skipNegotiation)
    {
        await using var server = await ClientTestServer.StartAsync();
        await using var connection = new LabHubConnection(server.HubUrl, Options(skipNegotiation));
        Assert.Equal(LabHubConnectionState.Disconnected, connection.State);

        await connection.StartAsync().WaitAsync(Guard);
        Assert.Equal(LabHubConnectionState.Connected, connection.State);

        Assert.Equal("hello", await connection.InvokeAsync<string>("Echo", ["hello"]).WaitAsync(Guard));
        Assert.Equal(5, await connection.InvokeAsync<int>("Add", [2, 3]).WaitAsync(Guard));
        await connection.InvokeAsync("Nothing", []).WaitAsync(Guard);
        Assert.Null(await connection.InvokeAsync<string?>("Echo", [null]).WaitAsync(Guard));

        // Method names are matched case-insensitively by the server.
        Assert.Equal(-1, await connection.InvokeAsync<int>("add", [2, -3]).WaitAsync(Guard));

        var serverSideId = await connection.InvokeAsync<string>("WhoAmI", []).WaitAsync(Guard);
        if (skipNegotiation)
            Assert.Null(connection.ConnectionId);
        else
            Assert.Equal(serverSideId, connection.ConnectionId);

        await connection.StopAsync().WaitAsync(Guard);
        Assert.Equal(LabHubConnectionState.Disconnected, connection.State);
    }

    [Fact]
    public async Task Concurrent_invocations_each_get_their_own_result()
    {
        await using var server = await ClientTestServer.StartAsync();
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        await connection.StartAsync().WaitAsync(Guard);

        var calls = Enumerable.Range(0, 50).Select(i => connection.InvokeAsync<int>("Add", [i, 1000])).ToArray();
        var results = await Task.WhenAll(calls).WaitAsync(Guard);
        Assert.Equal(Enumerable.Range(1000, 50), results);
    }

    [Fact]
    public async Task Sends_from_many_threads_are_serialized_and_large_results_span_many_receives()
    {
        await using var server = await ClientTestServer.StartAsync();
        var options = Options();
        options.ReceiveBufferSize = 1024;
        await using var connection = new LabHubConnection(server.HubUrl, options);
        await connection.StartAsync().WaitAsync(Guard);

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
        {
            int sum = 0;
            for (int i = 0; i < 25; i++)
            {
                await connection.SendAsync("Nothing", []);
                sum += await connection.InvokeAsync<int>("Add", [t, i]);
            }
            return sum;
        }))).WaitAsync(Guard);
        Assert.Equal(Enumerable.Range(0, 8).Select(t => 25 * t + 300), results);

        var big = await connection.InvokeAsync<string>("Big", [300_000]).WaitAsync(Guard);
        Assert.Equal(300_000, big.Length);
        Assert.Equal(7, await connection.InvokeAsync<int>("Add", [3, 4]).WaitAsync(Guard));
    }

    [Fact]
    public async Task Message_over_the_server_limit_gets_the_server_close_error()
    {
        await using var server = await ClientTestServer.StartAsync(hubOptions: o =>
        {
            o.MaximumReceiveMessageSize = 1024;
            o.EnableDetailedErrors = true;
        });
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += e => { closed.TrySetResult(e); return Task.CompletedTask; };
        await connection.StartAsync().WaitAsync(Guard);

        var lost = await Assert.ThrowsAsync<HubConnectionLostException>(
            () => connection.InvokeAsync<string>("Echo", [new string('y', 5000)]).WaitAsync(Guard));
        output.WriteLine(lost.Message);
        var reason = Assert.IsType<HubServerClosedException>(await closed.Task.WaitAsync(Guard));
        Assert.Contains("maximum message size", reason.ServerError);
        Assert.Contains(reason.ServerError, lost.Message);
    }

    [Fact]
    public async Task Hub_error_reaches_the_caller_with_the_server_text()
    {
        await using var server = await ClientTestServer.StartAsync();
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        await connection.StartAsync().WaitAsync(Guard);

        var error = await Assert.ThrowsAsync<HubInvocationException>(() => connection.InvokeAsync("Fail", []).WaitAsync(Guard));
        Assert.Equal("Fail", error.Method);
        Assert.Contains("boom from the hub", error.ServerError);
        Assert.Equal(error.ServerError, error.Message);

        // Unknown method and wrong arguments are hub errors too, not connection failures.
        var unknown = await Assert.ThrowsAsync<HubInvocationException>(() => connection.InvokeAsync("NoSuchMethod", []).WaitAsync(Guard));
        Assert.Contains("NoSuchMethod", unknown.ServerError);
        await Assert.ThrowsAsync<HubInvocationException>(() => connection.InvokeAsync<int>("Add", [1]).WaitAsync(Guard));

        Assert.Equal(LabHubConnectionState.Connected, connection.State);
        Assert.Equal("still here", await connection.InvokeAsync<string>("Echo", ["still here"]).WaitAsync(Guard));
    }

    [Fact]
    public async Task Server_calls_client_methods_with_typed_arguments()
    {
        await using var server = await ClientTestServer.StartAsync();
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        var notified = new TaskCompletionSource<(string, int)>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.On<string, int>("Notify", (text, number) => notified.TrySetResult((text, number)));
        await connection.StartAsync().WaitAsync(Guard);

        await connection.InvokeAsync("NotifyMe", ["ping!", 42]).WaitAsync(Guard);
        Assert.Equal(("ping!", 42), await notified.Task.WaitAsync(Guard));

        // Many callbacks arrive in order, and async handlers run one at a time.
        var ticks = new List<int>();
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int running = 0;
        bool overlapped = false;
        using (connection.On<int>("tick", async i =>
        {
            if (Interlocked.Increment(ref running) > 1)
                overlapped = true;
            await Task.Yield();
            ticks.Add(i);
            Interlocked.Decrement(ref running);
            if (ticks.Count == 100)
                all.TrySetResult();
        }))
        {
            await connection.SendAsync("NotifyMany", [100]).WaitAsync(Guard);
            await all.Task.WaitAsync(Guard);
        }
        Assert.Equal(Enumerable.Range(0, 100), ticks);
        Assert.False(overlapped);
    }

    [Fact]
    public async Task Client_result_requests_get_an_error_completion()
    {
        // The server's AskCaller waits for a client result, which needs a second invocation slot.
        await using var server = await ClientTestServer.StartAsync(hubOptions: o => o.MaximumParallelInvocationsPerClient = 2);
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        var asked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.On("Question", () => asked.TrySetResult());
        await connection.StartAsync().WaitAsync(Guard);

        var answer = await connection.InvokeAsync<string>("AskCaller", []).WaitAsync(Guard);
        await asked.Task.WaitAsync(Guard);
        Assert.Contains("Client didn't provide a result.", answer);
    }

    [Fact]
    public async Task Send_is_fire_and_forget()
    {
        await using var server = await ClientTestServer.StartAsync();
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        var notified = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.On<string, int>("Notify", (text, _) => notified.TrySetResult(text));
        await connection.StartAsync().WaitAsync(Guard);

        // No completion comes back for a send, even for a failing method; the connection stays healthy.
        await connection.SendAsync("Fail", []).WaitAsync(Guard);
        await connection.SendAsync("NotifyMe", ["sent", 1]).WaitAsync(Guard);
        Assert.Equal("sent", await notified.Task.WaitAsync(Guard));
    }

    [Fact]
    public async Task Streams_items_from_IAsyncEnumerable_and_ChannelReader_methods()
    {
        await using var server = await ClientTestServer.StartAsync();
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        await connection.StartAsync().WaitAsync(Guard);

        var numbers = new List<int>();
        await foreach (var n in connection.StreamAsync<int>("Counter", [25, 0]).WithCancellation(new CancellationTokenSource(Guard).Token))
            numbers.Add(n);
        Assert.Equal(Enumerable.Range(0, 25), numbers);

        var words = new List<string>();
        await foreach (var w in connection.StreamAsync<string>("Words", [3]).WithCancellation(new CancellationTokenSource(Guard).Token))
            words.Add(w);
        Assert.Equal(["w0", "w1", "w2"], words);

        var empty = new List<int>();
        await foreach (var n in connection.StreamAsync<int>("Counter", [0, 0]).WithCancellation(new CancellationTokenSource(Guard).Token))
            empty.Add(n);
        Assert.Empty(empty);
    }

    [Fact]
    public async Task Stream_error_ends_the_enumeration_with_the_server_text()
    {
        await using var server = await ClientTestServer.StartAsync();
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        await connection.StartAsync().WaitAsync(Guard);

        var received = new List<int>();
        var error = await Assert.ThrowsAsync<HubInvocationException>(async () =>
        {
            await foreach (var n in connection.StreamAsync<int>("CounterThenFail", [2]).WithCancellation(new CancellationTokenSource(Guard).Token))
                received.Add(n);
        });
        Assert.Equal([0, 1], received);
        Assert.Contains("stream broke", error.ServerError);
    }

    [Fact]
    public async Task Leaving_a_stream_early_cancels_it_on_the_server()
    {
        await using var server = await ClientTestServer.StartAsync();
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        await connection.StartAsync().WaitAsync(Guard);

        var received = new List<int>();
        await foreach (var n in connection.StreamAsync<int>("Counter", [1_000_000, 10]).WithCancellation(new CancellationTokenSource(Guard).Token))
        {
            received.Add(n);
            if (received.Count == 3)
                break;
        }
        Assert.Equal([0, 1, 2], received);
        await server.State.StreamCancelled.Task.WaitAsync(Guard);

        // The connection is unaffected.
        Assert.Equal(7, await connection.InvokeAsync<int>("Add", [3, 4]).WaitAsync(Guard));
    }

    [Fact]
    public async Task Cancelling_a_stream_token_cancels_it_on_the_server()
    {
        await using var server = await ClientTestServer.StartAsync();
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        await connection.StartAsync().WaitAsync(Guard);

        using var cts = new CancellationTokenSource();
        int count = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var n in connection.StreamAsync<int>("Counter", [1_000_000, 10], cts.Token))
            {
                if (++count == 2)
                    cts.Cancel();
            }
        });
        await server.State.StreamCancelled.Task.WaitAsync(Guard);
    }

    [Fact]
    public async Task Keep_alive_pings_flow_both_ways()
    {
        // The server pings every ~1 s (its heartbeat granularity) and drops clients silent for 2 s once they
        // have pinged; the client pings every 100 ms and would time out after 3 s of silence from the server.
        var counting = new PingCountingProtocol();
        await using var server = await ClientTestServer.StartAsync(
            hubOptions: o =>
            {
                o.KeepAliveInterval = TimeSpan.FromMilliseconds(200);
                o.ClientTimeoutInterval = TimeSpan.FromSeconds(2);
            },
            protocol: counting);
        var options = Options();
        options.KeepAliveInterval = TimeSpan.FromMilliseconds(100);
        options.ServerTimeout = TimeSpan.FromSeconds(3);
        await using var connection = new LabHubConnection(server.HubUrl, options);
        var dropped = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += e => { dropped.TrySetResult(e); return Task.CompletedTask; };
        await connection.StartAsync().WaitAsync(Guard);

        // Idle for longer than both timeouts: only pings keep the connection alive. The client
        // sends at most one ping per 100 ms, so 50 of them span at least 5 s (more than the 2 s
        // and 3 s timeouts) however slow the machine is; no wall-clock wait is needed.
        using (var guard = new CancellationTokenSource(Guard))
        {
            while (counting.Pings < 50 && !dropped.Task.IsCompleted)
                await Task.Delay(50, guard.Token);
        }

        Assert.False(dropped.Task.IsCompleted, "the connection dropped despite keep-alive pings");
        Assert.Equal(LabHubConnectionState.Connected, connection.State);
        Assert.Equal("alive", await connection.InvokeAsync<string>("Echo", ["alive"]).WaitAsync(Guard));
    }

    [Fact]
    public async Task Server_timeout_closes_a_connection_that_hears_nothing()
    {
        // The server pings only every 15 s (default); the client expects something every 500 ms.
        await using var server = await ClientTestServer.StartAsync();
        var options = Options();
        options.KeepAliveInterval = TimeSpan.FromMilliseconds(100);
        options.ServerTimeout = TimeSpan.FromMilliseconds(500);
        await using var connection = new LabHubConnection(server.HubUrl, options);
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += e => { closed.TrySetResult(e); return Task.CompletedTask; };
        await connection.StartAsync().WaitAsync(Guard);

        var reason = await closed.Task.WaitAsync(Guard);
        Assert.IsType<TimeoutException>(reason);
        Assert.Equal(LabHubConnectionState.Disconnected, connection.State);
        await Assert.ThrowsAsync<InvalidOperationException>(() => connection.InvokeAsync("Nothing", []));
    }

    [Fact]
    public async Task Server_initiated_close_fails_pending_calls_and_raises_Closed()
    {
        // Hang holds an invocation slot while Abort runs, so the client needs two.
        await using var server = await ClientTestServer.StartAsync(hubOptions: o => o.MaximumParallelInvocationsPerClient = 2);
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Closed += e => { closed.TrySetResult(e); return Task.CompletedTask; };
        await connection.StartAsync().WaitAsync(Guard);

        var pending = connection.InvokeAsync<string>("Hang", []);
        await server.State.HangStarted.Task.WaitAsync(Guard);
        await connection.SendAsync("Abort", []).WaitAsync(Guard);

        await Assert.ThrowsAsync<HubConnectionLostException>(() => pending.WaitAsync(Guard));
        await closed.Task.WaitAsync(Guard);
        Assert.Equal(LabHubConnectionState.Disconnected, connection.State);
    }

    [Fact]
    public async Task Closed_handler_may_restart_the_connection()
    {
        await using var server = await ClientTestServer.StartAsync();
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        var restarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int closures = 0;
        connection.Closed += async _ =>
        {
            if (Interlocked.Increment(ref closures) == 1)
            {
                await connection.StartAsync();
                restarted.TrySetResult();
            }
        };
        await connection.StartAsync().WaitAsync(Guard);
        var firstId = connection.ConnectionId;

        await connection.SendAsync("Abort", []).WaitAsync(Guard);
        await restarted.Task.WaitAsync(Guard);
        Assert.Equal(LabHubConnectionState.Connected, connection.State);
        Assert.NotEqual(firstId, connection.ConnectionId);
        Assert.Equal("restarted", await connection.InvokeAsync<string>("Echo", ["restarted"]).WaitAsync(Guard));
    }

    [Fact]
    public async Task Stop_fails_pending_calls_and_the_connection_can_start_again()
    {
        await using var server = await ClientTestServer.StartAsync(hubOptions: o => o.MaximumParallelInvocationsPerClient = 2);
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        var closedEvents = new SemaphoreSlim(0);
        connection.Closed += e => { closedEvents.Release(); return Task.CompletedTask; };
        await connection.StartAsync().WaitAsync(Guard);

        var pending = connection.InvokeAsync<string>("Hang", []);
        await server.State.HangStarted.Task.WaitAsync(Guard);
        await connection.StopAsync().WaitAsync(Guard);
        var lost = await Assert.ThrowsAsync<HubConnectionLostException>(() => pending.WaitAsync(Guard));
        Assert.Contains("stopped", lost.Message);
        Assert.Equal(LabHubConnectionState.Disconnected, connection.State);
        await connection.StopAsync().WaitAsync(Guard); // idempotent
        // Closed handlers run after StopAsync has returned (so they may restart the connection).
        Assert.True(await closedEvents.WaitAsync(Guard));

        await connection.StartAsync().WaitAsync(Guard);
        Assert.Equal("again", await connection.InvokeAsync<string>("Echo", ["again"]).WaitAsync(Guard));
        await connection.DisposeAsync();
        Assert.True(await closedEvents.WaitAsync(Guard));
        await Task.Delay(100);
        Assert.Equal(0, closedEvents.CurrentCount);
    }

    [Fact]
    public async Task Reconnects_after_the_server_restarts_on_the_same_port()
    {
        var first = await ClientTestServer.StartAsync();
        int port = first.Port;
        var options = Options();
        options.ReconnectPolicy = new LabReconnectPolicy([TimeSpan.FromMilliseconds(100)], repeatLast: true, maxElapsed: Guard);
        await using var connection = new LabHubConnection(first.HubUrl, options);
        var reconnecting = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reconnectedIds = new List<string?>();
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Reconnecting += e => { reconnecting.TrySetResult(e); return Task.CompletedTask; };
        connection.Reconnected += id => { lock (reconnectedIds) reconnectedIds.Add(id); return Task.CompletedTask; };
        connection.Closed += e => { closed.TrySetResult(e); return Task.CompletedTask; };
        await connection.StartAsync().WaitAsync(Guard);
        var firstId = connection.ConnectionId;

        var pending = connection.InvokeAsync<string>("Hang", []);
        await first.State.HangStarted.Task.WaitAsync(Guard);
        await first.DisposeAsync();

        var lost = await Assert.ThrowsAsync<HubConnectionLostException>(() => pending.WaitAsync(Guard));
        output.WriteLine($"pending call failed with: {lost.Message}");
        await reconnecting.Task.WaitAsync(Guard);

        // While the first server shuts down it may still accept one more connection, which then drops too;
        // so wait until the connection works against the second server rather than for the first Reconnected.
        await using var second = await ClientTestServer.StartAsync(port);
        string? serverSideId = null;
        using (var guard = new CancellationTokenSource(Guard))
        {
            while (serverSideId is null)
            {
                try
                {
                    if (connection.State == LabHubConnectionState.Connected)
                        serverSideId = await connection.InvokeAsync<string>("WhoAmI", [], guard.Token);
                }
                catch (HubConnectionLostException)
                {
                }
                if (serverSideId is null)
                    await Task.Delay(50, guard.Token);
            }
        }

        Assert.Equal(LabHubConnectionState.Connected, connection.State);
        Assert.NotEqual(firstId, serverSideId);
        Assert.Equal(serverSideId, connection.ConnectionId);
        lock (reconnectedIds)
            Assert.Equal(serverSideId, reconnectedIds.Last());
        Assert.Equal("back", await connection.InvokeAsync<string>("Echo", ["back"]).WaitAsync(Guard));
        Assert.False(closed.Task.IsCompleted);
    }

    [Fact]
    public async Task Gives_up_reconnecting_when_the_policy_says_so()
    {
        var server = await ClientTestServer.StartAsync();
        var options = Options();
        options.ReconnectPolicy = new LabReconnectPolicy([TimeSpan.Zero, TimeSpan.FromMilliseconds(50)]);
        await using var connection = new LabHubConnection(server.HubUrl, options);
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var reconnectingCount = 0;
        connection.Reconnecting += _ => { Interlocked.Increment(ref reconnectingCount); return Task.CompletedTask; };
        connection.Closed += e => { closed.TrySetResult(e); return Task.CompletedTask; };
        await connection.StartAsync().WaitAsync(Guard);

        await server.DisposeAsync();
        var reason = await closed.Task.WaitAsync(Guard);
        Assert.IsType<HubConnectFailedException>(reason);
        // Usually 1; 2 when a reconnect reached the old server while it was still shutting down.
        Assert.InRange(Volatile.Read(ref reconnectingCount), 1, 2);
        Assert.Equal(LabHubConnectionState.Disconnected, connection.State);
    }

    [Fact]
    public async Task Stop_during_reconnect_ends_in_Disconnected()
    {
        var server = await ClientTestServer.StartAsync();
        var options = Options();
        options.ReconnectPolicy = new LabReconnectPolicy([TimeSpan.FromMilliseconds(50)], repeatLast: true);
        await using var connection = new LabHubConnection(server.HubUrl, options);
        var reconnecting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.Reconnecting += _ => { reconnecting.TrySetResult(); return Task.CompletedTask; };
        connection.Closed += e => { closed.TrySetResult(e); return Task.CompletedTask; };
        await connection.StartAsync().WaitAsync(Guard);

        await server.DisposeAsync();
        await reconnecting.Task.WaitAsync(Guard);
        await connection.StopAsync().WaitAsync(Guard);
        Assert.Equal(LabHubConnectionState.Disconnected, connection.State);
        Assert.Null(await closed.Task.WaitAsync(Guard));
    }

    [Fact]
    public async Task Handshake_error_from_a_real_server_is_a_clear_exception()
    {
        // The hub accepts only JSON, so the server refuses "messagepack" in the handshake.
        await using var server = await ClientTestServer.StartAsync(hubOptions: o => o.SupportedProtocols = ["json"]);
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        var error = await Assert.ThrowsAsync<HubConnectFailedException>(() => connection.StartAsync().WaitAsync(Guard));
        Assert.NotNull(error.ServerError);
        Assert.Contains("messagepack", error.ServerError);
        Assert.Contains(error.ServerError!, error.Message);
        Assert.Equal(LabHubConnectionState.Disconnected, connection.State);
    }

    [Fact]
    public async Task Wrong_hub_path_fails_negotiate_clearly()
    {
        await using var server = await ClientTestServer.StartAsync();
        await using var connection = new LabHubConnection(new Uri($"http://127.0.0.1:{server.Port}/nohub"), Options());
        var error = await Assert.ThrowsAsync<HubConnectFailedException>(() => connection.StartAsync().WaitAsync(Guard));
        Assert.Contains("404", error.Message);

        await using var direct = new LabHubConnection(new Uri($"http://127.0.0.1:{server.Port}/nohub"), Options(skipNegotiation: true));
        await Assert.ThrowsAsync<HubConnectFailedException>(() => direct.StartAsync().WaitAsync(Guard));
    }

    [Fact]
    public async Task Unserializable_argument_fails_the_call_but_not_the_connection()
    {
        await using var server = await ClientTestServer.StartAsync();
        await using var connection = new LabHubConnection(server.HubUrl, Options());
        await connection.StartAsync().WaitAsync(Guard);

        await Assert.ThrowsAsync<NotSupportedException>(() => connection.InvokeAsync("Echo", [new object()]).WaitAsync(Guard));
        Assert.Equal("fine", await connection.InvokeAsync<string>("Echo", ["fine"]).WaitAsync(Guard));
    }

    [Fact]
    public void Reconnect_policy_delays()
    {
        var policy = LabReconnectPolicy.Default;
        Assert.Equal(TimeSpan.Zero, policy.NextRetryDelay(new(0, TimeSpan.Zero, null)));
        Assert.Equal(TimeSpan.FromSeconds(30), policy.NextRetryDelay(new(3, TimeSpan.Zero, null)));
        Assert.Null(policy.NextRetryDelay(new(4, TimeSpan.Zero, null)));

        var repeating = new LabReconnectPolicy([TimeSpan.FromSeconds(1)], repeatLast: true, maxElapsed: TimeSpan.FromMinutes(1));
        Assert.Equal(TimeSpan.FromSeconds(1), repeating.NextRetryDelay(new(100, TimeSpan.FromSeconds(59), null)));
        Assert.Null(repeating.NextRetryDelay(new(100, TimeSpan.FromMinutes(1), null)));
    }

    [Fact]
    public async Task Calls_before_start_throw_InvalidOperationException()
    {
        await using var connection = new LabHubConnection("http://127.0.0.1:1/hub", Options());
        await Assert.ThrowsAsync<InvalidOperationException>(() => connection.InvokeAsync("Nothing", []));
        await Assert.ThrowsAsync<InvalidOperationException>(() => connection.SendAsync("Nothing", []));
        await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await foreach (var _ in connection.StreamAsync<int>("Counter", [1, 0]))
            {
            }
        });
        Assert.Throws<InvalidOperationException>(() =>
        {
            connection.On<int>("x", _ => { });
            connection.On<string>("X", _ => { });
        });
    }
}
