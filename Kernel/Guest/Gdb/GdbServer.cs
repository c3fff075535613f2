using System.Net;
using System.Net.Sockets;

namespace Lab.Kernel.Guest.Gdb;

/// <summary>
/// Listens for gdb on a loopback TCP port (as QEMU's <c>-gdb tcp::1234</c>, but never on other
/// interfaces: whoever attaches controls the machine) and serves one connection at a time with a
/// <see cref="GdbStub"/>. Port 0 picks a free port (<see cref="Port"/> says which).
/// </summary>
public sealed class GdbServer : IDisposable
{
    private readonly TcpListener _listener;

    /// <summary>The port listened on.</summary>
    public int Port { get; }

    /// <summary>Starts listening; throws <see cref="SocketException"/> when the port is taken.</summary>
    public GdbServer(int port)
    {
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start(1);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
    }

    /// <summary>Waits for gdb to connect, then serves it until it detaches, kills, disconnects or the target ends.</summary>
    public GdbSessionEnd ServeOne(IGdbTarget target, Action<string>? log = null)
    {
        using Socket socket = _listener.AcceptSocket();
        socket.NoDelay = true;
        log?.Invoke($"gdb connected from {socket.RemoteEndPoint}");
        using var stream = new NetworkStream(socket, ownsSocket: false);
        var connection = new GdbConnection(stream, () => Readable(socket));
        try
        {
            return new GdbStub(connection, target, log).Serve();
        }
        catch (IOException)
        {
            return GdbSessionEnd.Disconnected;
        }
    }

    /// <summary>A read would not block: bytes are waiting, or the peer closed (a closed connection polls readable).</summary>
    private static bool Readable(Socket socket)
    {
        try { return socket.Available > 0 || socket.Poll(0, SelectMode.SelectRead); }
        catch (SocketException) { return true; }
        catch (ObjectDisposedException) { return true; }
    }

    public void Dispose() => _listener.Stop();
}
