using System.Net.Sockets;
using System.Text;
using Lab.Kernel.Guest;
using Lab.Kernel.Guest.Gdb;
using Lab.Machine;

namespace Lab.Kernel.Tests.Guest;

/// <summary>
/// The stub at the protocol level, with a client that says exactly what we want (including what gdb
/// never says): acks and checksums, no-ack mode, Ctrl-C while the kernel runs, malformed and failing
/// requests answered with E, breakpoints that never touch guest memory, kill and a client that goes away.
/// </summary>
public sealed class GdbProtocolTests : IDisposable
{
    private readonly GuestKernelMachine _machine = LabKernel.Boot("step5");
    private readonly GdbServer _server = new(0);
    private readonly Task<GdbSessionEnd> _serving;
    private readonly TcpClient _client = new();
    private readonly NetworkStream _stream;
    private bool _noAck;

    public GdbProtocolTests()
    {
        _serving = Task.Run(() => _server.ServeOne(new GuestGdbTarget(_machine)));
        _client.NoDelay = true;   // as gdb: an ack and the next request must not wait for each other
        _client.Connect("127.0.0.1", _server.Port);
        _stream = _client.GetStream();
    }

    public void Dispose()
    {
        _client.Dispose();
        _serving.Wait(TimeSpan.FromMinutes(5));
        _server.Dispose();
        _machine.Dispose();
    }

    private static string Frame(string data) =>
        $"${data}#{data.Aggregate(0, (sum, c) => (sum + c) & 0xFF):x2}";

    private void SendRaw(string s) => _stream.Write(Encoding.Latin1.GetBytes(s));

    /// <summary>Sends a request and returns the reply's data (checking its ack and checksum, acking it).</summary>
    private string Request(string data)
    {
        SendRaw(Frame(data));
        if (!_noAck) Assert.Equal('+', (char)_stream.ReadByte());
        return ReadReply();
    }

    private string ReadReply()
    {
        int b;
        while ((b = _stream.ReadByte()) != '$') Assert.True(b >= 0, "connection closed");
        var sb = new StringBuilder();
        while ((b = _stream.ReadByte()) != '#') { Assert.True(b >= 0); sb.Append((char)b); }
        string sum = $"{(char)_stream.ReadByte()}{(char)_stream.ReadByte()}";
        Assert.Equal(Frame(sb.ToString())[^2..], sum);
        if (!_noAck) _stream.WriteByte((byte)'+');
        return sb.ToString();
    }

    [Fact]
    public void RequestsGetTheirAnswersAndBadOnesGetErrors()
    {
        Assert.Contains("qXfer:features:read+", Request("qSupported:multiprocess+;swbreak+;xmlRegisters=i386"));
        Assert.Equal("S05", Request("?"));
        // target.xml in windows, as gdb reads it.
        string first = Request("qXfer:features:read:target.xml:0,28");   // 0x28 = 40 characters
        Assert.StartsWith("m<?xml", first);
        Assert.Equal(41, first.Length);
        string whole = Request("qXfer:features:read:target.xml:0,3000");
        Assert.StartsWith("l", whole);
        Assert.Contains("<architecture>i386:x86-64</architecture>", whole);
        Assert.Equal("E00", Request("qXfer:features:read:other.xml:0,100"));
        // g: 67 registers, 608 bytes; rip (register 16) is the entry.
        string g = Request("g");
        Assert.Equal(1216, g.Length);
        Assert.Equal($"{_machine.Image.Elf.Entry:x16}", Reverse(g.Substring(16 * 16, 16)));
        // Writes: P rax, then p reads it back; selectors cannot change.
        Assert.Equal("OK", Request("P0=efcdab8967452301"));
        Assert.Equal("efcdab8967452301", Request("p0"));
        Assert.Equal(0x0123456789ABCDEFUL, _machine.Machine.Cpu[Register.Rax]);
        Assert.Equal("E03", Request("P12=23000000"));
        Assert.Equal("E01", Request("p999"));
        // Memory: mapped, unmapped, malformed.
        Assert.Equal(16, Request($"m{_machine.Image.Elf.Entry:x},8").Length);
        Assert.Equal("E14", Request("m7fff00000000,8"));
        Assert.Equal("E14", Request("mffffffffffffffff,8"));   // non-canonical and wrapping
        Assert.Equal("E02", Request("mzz,8"));
        Assert.Equal("E02", Request("m40000"));
        Assert.Equal("E02", Request("M40000,2:abc"));
        Assert.Equal("E14", Request("M7fff00000000,1:00"));
        Assert.Equal("E02", Request("Z0,zz,1"));
        Assert.Equal("E02", Request("P"));
        Assert.Equal("", Request("Z2,40000,8"));               // watchpoints: not supported
        Assert.Equal("", Request("qNoSuchThing"));
        Assert.Equal("E02", Request("Gabc"));
        // A corrupted packet is refused with '-' (gdb resends it); the session goes on.
        SendRaw("$g#00");
        Assert.Equal('-', (char)_stream.ReadByte());
        Assert.Equal("S05", Request("?"));
        // A packet longer than PacketSize.
        Assert.StartsWith("E", Request("M40000,1:" + new string('0', 20000)));
        Assert.Equal("OK", Request("D"));
        Assert.True(_serving.Wait(TimeSpan.FromMinutes(5)));
        Assert.Equal(GdbSessionEnd.Detached, _serving.Result);
    }

    [Fact]
    public void CtrlCStopsARunningKernelAndBreakpointsLeaveMemoryAlone()
    {
        Assert.True(KernelSymbols.FromImage(_machine.Image).TryGetAddress("exception", out var exception));
        var before = new byte[16];
        _machine.Machine.Memory.Read(new PhysAddr(exception.Value), before);
        Assert.Equal("OK", Request($"Z0,{exception.Value:x},1"));
        Assert.Equal("S05", Request("c"));   // the first trap (the timer, or a system call) enters exception()
        Assert.Equal(exception.Value, _machine.Machine.Cpu.Rip);
        Assert.Equal("OK", Request($"z0,{exception.Value:x},1"));
        var after = new byte[16];
        _machine.Machine.Memory.Read(new PhysAddr(exception.Value), after);
        Assert.Equal(before, after);

        Assert.Equal("OK", Request("QStartNoAckMode"));
        _noAck = true;
        // Running with no breakpoint: only Ctrl-C stops it (step5 runs its allocators forever).
        ulong clock = _machine.Machine.Clock;
        SendRaw(Frame("c"));
        // Wait until the kernel has visibly run on (a condition, not a sleep; the clock is a 64-bit
        // counter the serving thread advances, read here only to know when to interrupt).
        SpinWait.SpinUntil(() => _machine.Machine.Clock > clock + 10 * GuestGdbTarget.Slice, TimeSpan.FromMinutes(5));
        _stream.WriteByte(0x03);
        Assert.Equal("S02", ReadReply());
        Assert.True(_machine.Machine.Clock > clock);
        Assert.Equal(1216, Request("g").Length);   // no acks either way now
        Assert.Equal("S05", Request("s"));
        SendRaw(Frame("k"));                       // no reply: the session ends
        Assert.True(_serving.Wait(TimeSpan.FromMinutes(5)));
        Assert.Equal(GdbSessionEnd.Killed, _serving.Result);
    }

    [Fact]
    public void RandomRequestsAllGetAnswersAndTheSessionGoesOn()
    {
        // Requests that do not resume or end the session, with random arguments: each gets a reply.
        var random = new Random(3);
        const string commands = "gGpPmMZzHTqQX", junk = "0123456789abcdefxyz,:;=-+ ";
        for (int i = 0; i < 2000; i++)
        {
            var sb = new StringBuilder().Append(commands[random.Next(commands.Length)]);
            for (int n = random.Next(0, 40); n > 0; n--) sb.Append(junk[random.Next(junk.Length)]);
            string request = sb.ToString();
            if (request.StartsWith("QStartNoAckMode", StringComparison.Ordinal)) continue;
            string reply = Request(request);
            Assert.True(reply.Length == 0 || reply[0] is 'E' or 'O' or 'l' or 'm' or 'Q' || char.IsAsciiHexDigit(reply[0]), $"{request} -> {reply}");
        }
        Assert.Equal("S05", Request("?"));
        Assert.Equal("OK", Request("D"));
        Assert.True(_serving.Wait(TimeSpan.FromMinutes(5)));
        Assert.Equal(GdbSessionEnd.Detached, _serving.Result);
    }

    [Fact]
    public void AClientThatGoesAwayWhileTheKernelRunsEndsTheSessionCleanly()
    {
        Assert.Equal("S05", Request("?"));
        SendRaw(Frame("c"));
        Assert.Equal('+', (char)_stream.ReadByte());
        _client.Client.Shutdown(SocketShutdown.Both);
        _client.Close();
        Assert.True(_serving.Wait(TimeSpan.FromMinutes(5)));
        Assert.Equal(GdbSessionEnd.Disconnected, _serving.Result);
        Assert.False(_machine.Stopped);
    }

    private static string Reverse(string littleEndianHex) =>
        string.Concat(Enumerable.Range(0, littleEndianHex.Length / 2).Reverse().Select(i => littleEndianHex.Substring(2 * i, 2)));
}
