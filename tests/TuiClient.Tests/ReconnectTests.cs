using System.Net;
using System.Net.Sockets;
using Lab.Server;
using Lab.Server.Sessions;
using Lab.TuiClient.App;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Lab.TuiClient.Tests;

public class ReconnectTests
{

    private static async Task WaitFor(Func<bool> condition, string what)
    {
        for (int i = 0; i < 600 && !condition(); i++) await Task.Delay(100);
        Assert.True(condition(), $"timed out waiting for {what}");
    }

    [Fact]
    public async Task ADroppedConnectionReconnectsAndSaysSoOnTheStatusLine()
    {
        int port = Lab.TestSupport.Network.FreeLoopbackPort();
        string data = Path.Combine(Path.GetTempPath(), "lab-reconnect-" + Guid.NewGuid().ToString("N"));
        string url = $"http://127.0.0.1:{port}";
        WebApplication Start() => LabServerHost.Create(["--urls", url, "--data", data], quiet: true);

        var server = Start();
        await server.StartAsync();
        await using var session = await RemoteSession.ConnectAsync(url, "demo", "sam", null, CancellationToken.None);
        var app = new LabController(session, isLocal: false);
        await WaitFor(() => session.Mirror.FramesApplied > 0, "a first frame");

        await server.StopAsync();            // the server goes away (saving its sessions)
        await server.DisposeAsync();
        await WaitFor(() => session.ConnectionStatus.Contains("reconnecting"), "the reconnecting status");
        Assert.Contains("reconnecting", app.StatusFields());

        server = Start();                    // back on the same port with the same data
        await server.StartAsync();
        try
        {
            long frames = session.Mirror.FramesApplied;
            await WaitFor(() => session.ConnectionStatus == "reconnected" && session.Mirror.FramesApplied > frames, "frames after reconnecting");
            Assert.Contains("reconnected", app.StatusFields());
        }
        finally
        {
            await server.StopAsync();
            await server.DisposeAsync();
        }
    }
}
