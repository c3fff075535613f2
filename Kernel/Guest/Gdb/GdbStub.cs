using System.Globalization;
using System.Text;

namespace Lab.Kernel.Guest.Gdb;

/// <summary>How a gdb session ended.</summary>
public enum GdbSessionEnd
{
    /// <summary>gdb detached (D): the target goes on running without it.</summary>
    Detached,
    /// <summary>gdb killed the target (k).</summary>
    Killed,
    /// <summary>The connection closed without either.</summary>
    Disconnected,
    /// <summary>The target exited or was terminated (power-off, triple fault) and gdb was told.</summary>
    TargetEnded,
}

/// <summary>
/// The GDB remote serial protocol's commands (all-stop, one thread), over a <see cref="GdbConnection"/>,
/// against an <see cref="IGdbTarget"/>: qSupported, target.xml, ?, g/G, p/P, m/M, c/s (and vCont),
/// Z0/Z1 and z0/z1 breakpoints, Ctrl-C, no-ack mode, D and k. A malformed or failing request gets an
/// <c>E</c> answer and the session goes on; an unknown one gets the empty answer the protocol asks for.
/// Compare QEMU's gdbstub.c and gdbserver's server.cc.
/// </summary>
public sealed class GdbStub
{
    private readonly GdbConnection _connection;
    private readonly IGdbTarget _target;
    private readonly Action<string>? _log;

    public GdbStub(GdbConnection connection, IGdbTarget target, Action<string>? log = null)
    {
        _connection = connection;
        _target = target;
        _log = log;
    }

    /// <summary>Serves gdb until it detaches, kills, disconnects, or the target ends.</summary>
    public GdbSessionEnd Serve()
    {
        while (true)
        {
            GdbPacket? packet = _connection.ReadPacket();
            if (packet is null) return GdbSessionEnd.Disconnected;
            if (packet.IsInterrupt) continue;   // the target is already stopped
            if (packet.Data is null)
            {
                if (!_connection.SendPacket("E01")) return GdbSessionEnd.Disconnected;
                continue;
            }
            string request = packet.Text;
            GdbSessionEnd? end = null;
            string? reply;
            try
            {
                reply = Handle(request, ref end);
            }
            catch (FormatException) { reply = "E02"; }
            catch (OverflowException) { reply = "E02"; }
            catch (ArgumentException) { reply = "E02"; }
            if (reply is not null && !_connection.SendPacket(reply)) return GdbSessionEnd.Disconnected;
            if (end is GdbSessionEnd e) return e;
        }
    }

    /// <summary>One request → its reply (null when already sent). Sets <paramref name="end"/> when the session ends after the reply.</summary>
    private string? Handle(string request, ref GdbSessionEnd? end)
    {
        if (request.Length == 0) return "";
        switch (request[0])
        {
            case '?': return StopReply(_target.CurrentStop);
            case 'g': return ReadAllRegisters();
            case 'G': return WriteAllRegisters(request[1..]);
            case 'p': return ReadOneRegister(request[1..]);
            case 'P': return WriteOneRegister(request[1..]);
            case 'm': return ReadMemory(request[1..]);
            case 'M': return WriteMemory(request[1..]);
            case 'c': return Resume(step: false, request[1..], ref end);
            case 's': return Resume(step: true, request[1..], ref end);
            case 'Z': return Breakpoint(insert: true, request[1..]);
            case 'z': return Breakpoint(insert: false, request[1..]);
            case 'H': return "OK";                 // one thread: every thread selection is it
            case 'T': return "OK";                 // thread 1 is alive
            case 'D': end = GdbSessionEnd.Detached; return "OK";
            case 'k': end = GdbSessionEnd.Killed; return null;   // k gets no reply
            case 'q': return Query(request);
            case 'Q':
                if (request == "QStartNoAckMode")
                {
                    // The OK is still acknowledged; from then on nothing is.
                    if (!_connection.SendPacket("OK")) end = GdbSessionEnd.Disconnected;
                    _connection.NoAck = true;
                    return null;
                }
                return "";
            case 'v': return VerbosePacket(request, ref end);
            default: return "";
        }
    }

    private string Query(string request)
    {
        if (request.StartsWith("qSupported", StringComparison.Ordinal))
            return $"PacketSize={GdbConnection.MaxPacketSize:x};qXfer:features:read+;QStartNoAckMode+";
        if (request.StartsWith("qXfer:features:read:", StringComparison.Ordinal)) return ReadFeatures(request);
        switch (request)
        {
            case "qAttached": return "1";          // gdb detaches (not kills) on quit, as with QEMU
            case "qC": return "QC1";
            case "qfThreadInfo": return "m1";
            case "qsThreadInfo": return "l";
            case "qSymbol::": return "OK";
            case "qTStatus": return "";
            default: return "";
        }
    }

    /// <summary>qXfer:features:read:ANNEX:OFFSET,LENGTH — a window of the target description.</summary>
    private string ReadFeatures(string request)
    {
        string rest = request["qXfer:features:read:".Length..];
        int colon = rest.IndexOf(':');
        if (colon < 0) return "E02";
        if (rest[..colon] != "target.xml") return "E00";
        var (offset, length) = ParsePair(rest[(colon + 1)..], ',');
        string xml = _target.TargetXml;
        if (offset >= (ulong)xml.Length) return "l";
        int start = (int)offset;
        int count = (int)Math.Min(length, (ulong)(xml.Length - start));
        return (start + count >= xml.Length ? "l" : "m") + xml.Substring(start, count);
    }

    private string VerbosePacket(string request, ref GdbSessionEnd? end)
    {
        if (request == "vCont?") return "vCont;c;C;s;S";
        if (request.StartsWith("vCont;", StringComparison.Ordinal))
        {
            // One thread: the first action applies to it ("vCont;s:1;c" steps thread 1).
            string action = request[6..].Split(';')[0];
            int colon = action.IndexOf(':');
            if (colon >= 0) action = action[..colon];
            return action.Length > 0 && action[0] is 's' or 'S' ? Resume(step: true, "", ref end)
                 : action.Length > 0 && action[0] is 'c' or 'C' ? Resume(step: false, "", ref end)
                 : "E02";
        }
        if (request == "vMustReplyEmpty") return "";
        if (request.StartsWith("vKill", StringComparison.Ordinal)) { end = GdbSessionEnd.Killed; return "OK"; }
        return "";
    }

    // ------------------------------------------------------------------------------------------
    // Registers.

    private string ReadAllRegisters()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < _target.RegisterCount; i++)
            AppendHex(sb, _target.ReadRegister(i)!);
        return sb.ToString();
    }

    private string WriteAllRegisters(string hex)
    {
        byte[] all = FromHex(hex);
        int at = 0;
        for (int i = 0; i < _target.RegisterCount && at < all.Length; i++)
        {
            int size = _target.ReadRegister(i)!.Length;
            if (at + size > all.Length) break;   // gdb may send fewer registers than it knows
            var value = all.AsSpan(at, size);
            // Registers that cannot change (segment selectors) are accepted when unchanged.
            if (!value.SequenceEqual(_target.ReadRegister(i)) && !_target.WriteRegister(i, value)) return "E03";
            at += size;
        }
        return "OK";
    }

    private string ReadOneRegister(string hex)
    {
        int n = int.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        byte[]? value = _target.ReadRegister(n);
        if (value is null) return "E01";
        var sb = new StringBuilder();
        AppendHex(sb, value);
        return sb.ToString();
    }

    private string WriteOneRegister(string args)
    {
        int eq = args.IndexOf('=');
        if (eq < 0) return "E02";
        int n = int.Parse(args[..eq], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return _target.WriteRegister(n, FromHex(args[(eq + 1)..])) ? "OK" : "E03";
    }

    // ------------------------------------------------------------------------------------------
    // Memory.

    private string ReadMemory(string args)
    {
        var (address, length) = ParsePair(args, ',');
        if (length > GdbConnection.MaxPacketSize / 2) length = GdbConnection.MaxPacketSize / 2;
        var buffer = new byte[length];
        if (!_target.ReadMemory(address, buffer)) return "E14";   // EFAULT, as gdbserver says it
        var sb = new StringBuilder();
        AppendHex(sb, buffer);
        return sb.ToString();
    }

    private string WriteMemory(string args)
    {
        int colon = args.IndexOf(':');
        if (colon < 0) return "E02";
        var (address, length) = ParsePair(args[..colon], ',');
        byte[] data = FromHex(args[(colon + 1)..]);
        if ((ulong)data.Length != length) return "E02";
        return _target.WriteMemory(address, data) ? "OK" : "E14";
    }

    // ------------------------------------------------------------------------------------------
    // Running.

    private string Resume(bool step, string address, ref GdbSessionEnd? end)
    {
        if (address.Length > 0)
        {
            // "c ADDR" / "s ADDR": resume at ADDR (rip is register 16 in the x86-64 description).
            ulong rip = ulong.Parse(address, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (!_target.WriteRegister(16, BitConverter.GetBytes(rip))) return "E03";
        }
        GdbStop stop = step ? _target.Step() : _target.Continue(_connection.InterruptRequested);
        _log?.Invoke($"stopped: {stop.Kind}");
        if (stop.Kind is GdbStopKind.Exited or GdbStopKind.Terminated) end = GdbSessionEnd.TargetEnded;
        return StopReply(stop);
    }

    private static string StopReply(GdbStop stop) => stop.Kind switch
    {
        GdbStopKind.Trap => "S05",
        GdbStopKind.Interrupted => "S02",
        GdbStopKind.Exited => $"W{stop.Code & 0xFF:x2}",
        _ => "X0b",
    };

    /// <summary>Z/z TYPE,ADDR,KIND: types 0 (software) and 1 (hardware) both become machine address
    /// breakpoints (nothing is written into guest memory); watchpoints are not supported (empty reply).</summary>
    private string Breakpoint(bool insert, string args)
    {
        string[] parts = args.Split(',');
        if (parts.Length < 3) return "E02";
        if (parts[0] is not ("0" or "1")) return "";
        ulong address = ulong.Parse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        if (insert) _target.AddBreakpoint(address);
        else _target.RemoveBreakpoint(address);
        return "OK";
    }

    // ------------------------------------------------------------------------------------------
    // Encoding helpers.

    private static (ulong, ulong) ParsePair(string s, char separator)
    {
        int at = s.IndexOf(separator);
        if (at < 0) throw new FormatException("expected a pair");
        return (ulong.Parse(s[..at], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                ulong.Parse(s[(at + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
    }

    private static void AppendHex(StringBuilder sb, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) sb.Append(b.ToString("x2", CultureInfo.InvariantCulture));
    }

    private static byte[] FromHex(string hex) => Convert.FromHexString(hex);
}
