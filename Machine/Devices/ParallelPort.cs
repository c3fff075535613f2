namespace Lab.Machine.Devices;

/// <summary>
/// LPT1 at 0x378 (data), 0x379 (status), 0x37A (control), wired to a byte log the way QEMU's
/// <c>-parallel file:</c> is: a byte is printed when the guest raises STROBE (control bit 0) while
/// SELECT (bit 3) and INIT (bit 2, active low reset) are set. The printer is always ready (status
/// BUSY# set), so a driver that waits for it never waits. WeensyOS's <c>log_printf</c> writes the
/// grading log this way. The output is kept (up to <see cref="MaxOutput"/> bytes; more are counted
/// as dropped) and each printed byte is also passed to <see cref="Printed"/>.
/// </summary>
public sealed class ParallelPort : IPortDevice
{
    public const int MaxOutput = 64 << 20;
    private const byte Strobe = 0x01, Init = 0x04, Select = 0x08;

    private readonly MemoryStream _output = new();
    private byte _data;
    private byte _control;

    /// <summary>Called for every byte printed (after it is appended to <see cref="Output"/>).</summary>
    public Action<byte>? Printed;

    bool IPortDevice.WideAccess => false;

    /// <summary>Everything printed so far.</summary>
    public ReadOnlySpan<byte> Output => _output.GetBuffer().AsSpan(0, (int)_output.Length);
    /// <summary>Bytes printed after the output reached <see cref="MaxOutput"/>.</summary>
    public long Dropped { get; private set; }

    internal void Reset()
    {
        _data = 0;
        _control = Init | Select;
    }

    internal ParallelPort() => Reset();

    /// <summary>Forgets the printed output (a new boot starts a new log).</summary>
    public void ClearOutput()
    {
        _output.SetLength(0);
        Dropped = 0;
    }

    public uint Read(ushort port, int size) => (port - 0x378) switch
    {
        0 => _data,
        1 => 0xD8u,                        // not busy, no ack pending, selected, no error
        _ => (uint)(_control | 0xE0),
    };

    public void Write(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        switch (port - 0x378)
        {
            case 0: _data = v; break;
            case 2:
                bool rising = (v & Strobe) != 0 && (_control & Strobe) == 0;
                if (rising && (v & (Init | Select)) == (Init | Select)) Print(_data);
                _control = v;
                break;
        }
    }

    private void Print(byte b)
    {
        if (_output.Length < MaxOutput) _output.WriteByte(b);
        else Dropped++;
        Printed?.Invoke(b);
    }

    internal void Save(BinaryWriter w)
    {
        w.Write(_data); w.Write(_control); w.Write(Dropped);
        w.Write((int)_output.Length);
        w.Write(Output);
    }

    internal void Load(BinaryReader r)
    {
        _data = r.ReadByte(); _control = r.ReadByte(); Dropped = r.ReadInt64();
        int n = r.ReadInt32();
        if (n < 0 || n > MaxOutput) throw new InvalidDataException($"bad parallel-port log length {n} in snapshot");
        byte[] b = r.ReadBytes(n);
        if (b.Length != n) throw new EndOfStreamException("snapshot truncated");
        _output.SetLength(0);
        _output.Write(b);
    }
}
