using System.Net;
using System.Net.Sockets;

namespace Lab.TestSupport;

public static class Network
{
    /// <summary>A loopback TCP port that was free a moment ago (for servers that must come back on the same port).</summary>
    public static int FreeLoopbackPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
