using System.Text;

namespace Lab.Kernel.Guest.Gdb;

/// <summary>
/// The GDB remote serial protocol's framing over one byte stream (a TCP connection): packets
/// <c>$data#cc</c> with a two-hex-digit checksum, acknowledged with <c>+</c> (or <c>-</c> to ask for
/// a resend) until no-ack mode, and the out-of-band interrupt byte 0x03 (Ctrl-C in gdb). Knows
/// nothing of the commands inside packets (<see cref="GdbStub"/>) or of any machine.
/// </summary>
public sealed class GdbConnection
{
    /// <summary>The largest packet we accept (and announce as PacketSize); longer ones are refused with an error.</summary>
    public const int MaxPacketSize = 0x4000;

    private const byte Interrupt = 0x03;

    private readonly Stream _stream;
    private readonly Func<bool> _dataAvailable;
    private bool _interruptSeen;

    /// <summary>After QStartNoAckMode: no acks either way.</summary>
    public bool NoAck { get; set; }

    /// <param name="stream">The connection.</param>
    /// <param name="dataAvailable">Whether a byte can be read without blocking (polled while the target runs).</param>
    public GdbConnection(Stream stream, Func<bool> dataAvailable)
    {
        _stream = stream;
        _dataAvailable = dataAvailable;
    }

    /// <summary>
    /// Reads the next packet's data (unescaped), acknowledging it. A packet with a bad checksum is
    /// answered with <c>-</c> and skipped; stray acks are ignored; an interrupt byte between packets
    /// comes back as <see cref="GdbPacket.Interrupt"/>. Null when the peer closed the connection.
    /// </summary>
    public GdbPacket? ReadPacket()
    {
        while (true)
        {
            int b = _stream.ReadByte();
            if (b < 0) return null;
            if (b == Interrupt) return GdbPacket.Interrupt;
            if (b != '$') continue;   // '+', '-', noise between packets

            var data = new List<byte>();
            bool tooLong = false;
            byte sum = 0;
            while (true)
            {
                b = _stream.ReadByte();
                if (b < 0) return null;
                if (b == '#') break;
                sum += (byte)b;
                if (data.Count < MaxPacketSize) data.Add((byte)b); else tooLong = true;
            }
            int hi = _stream.ReadByte(), lo = _stream.ReadByte();
            if (hi < 0 || lo < 0) return null;
            bool checksumOk = HexValue(hi) is int h && HexValue(lo) is int l && (byte)(h << 4 | l) == sum;
            if (!NoAck)
            {
                _stream.WriteByte(checksumOk ? (byte)'+' : (byte)'-');
                _stream.Flush();
            }
            if (!checksumOk && !NoAck) continue;   // gdb resends it
            if (!checksumOk) return new GdbPacket(null, "bad checksum");
            if (tooLong) return new GdbPacket(null, "packet too long");
            return new GdbPacket(Unescape(data), null);
        }
    }

    /// <summary>Sends a packet (escaping what must be), then, unless in no-ack mode, waits for gdb's <c>+</c>
    /// (resending on <c>-</c>). False when the connection closed.</summary>
    public bool SendPacket(string data) => SendPacket(Encoding.Latin1.GetBytes(data));

    public bool SendPacket(ReadOnlySpan<byte> data)
    {
        var frame = new List<byte>(data.Length + 4) { (byte)'$' };
        byte sum = 0;
        foreach (byte c in data)
        {
            if (c is (byte)'$' or (byte)'#' or (byte)'}' or (byte)'*')
            {
                frame.Add((byte)'}'); sum += (byte)'}';
                frame.Add((byte)(c ^ 0x20)); sum += (byte)(c ^ 0x20);
            }
            else { frame.Add(c); sum += c; }
        }
        frame.Add((byte)'#');
        frame.Add(HexDigit(sum >> 4));
        frame.Add(HexDigit(sum & 15));
        byte[] bytes = frame.ToArray();
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                _stream.Write(bytes);
                _stream.Flush();
            }
            catch (IOException) { return false; }
            if (NoAck) return true;
            while (true)
            {
                int b;
                try { b = _stream.ReadByte(); }
                catch (IOException) { return false; }
                if (b < 0) return false;
                if (b == '+') return true;
                if (b == '-') break;                                 // resend
                if (b == Interrupt) _interruptSeen = true;           // Ctrl-C racing our stop reply
            }
            if (attempt >= 10) return false;                         // a peer that never takes it is gone
        }
    }

    /// <summary>
    /// While the target runs: true when gdb sent the interrupt byte. Never blocks; other bytes that
    /// arrive while running (acks) are dropped, as gdb sends no packets to a running all-stop target.
    /// </summary>
    public bool InterruptRequested()
    {
        if (_interruptSeen) { _interruptSeen = false; return true; }
        try
        {
            while (_dataAvailable())
            {
                int b = _stream.ReadByte();
                if (b < 0) return true;   // closed: stop the target so the session can end
                if (b == Interrupt) return true;
            }
        }
        catch (IOException) { return true; }
        catch (ObjectDisposedException) { return true; }
        return false;
    }

    /// <summary>Binary data in packets (X, vFile): <c>}</c> escapes the next byte XOR 0x20.</summary>
    private static byte[] Unescape(List<byte> data)
    {
        var result = new List<byte>(data.Count);
        for (int i = 0; i < data.Count; i++)
        {
            if (data[i] == '}' && i + 1 < data.Count) result.Add((byte)(data[++i] ^ 0x20));
            else result.Add(data[i]);
        }
        return result.ToArray();
    }

    private static int? HexValue(int c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => null,
    };

    private static byte HexDigit(int v) => (byte)"0123456789abcdef"[v & 15];
}

/// <summary>One received packet: its data, or why it could not be read (bad checksum in no-ack mode, too long).
/// <see cref="Interrupt"/> is the out-of-band Ctrl-C.</summary>
public sealed record GdbPacket(byte[]? Data, string? Error)
{
    public static GdbPacket Interrupt { get; } = new(null, null);
    public bool IsInterrupt => ReferenceEquals(this, Interrupt);
    public string Text => Data is null ? "" : Encoding.Latin1.GetString(Data);
}
