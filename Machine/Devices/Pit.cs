namespace Lab.Machine.Devices;

/// <summary>
/// The 8253/8254 programmable interval timer (ports 0x40-0x43) and port 0x61, on the machine's
/// deterministic clock: its 1.193182 MHz input is derived from the instruction count
/// (<see cref="MachineOptions.InstructionsPerSecond"/>), so a guest programming divisor N gets IRQ 0
/// every N * InstructionsPerSecond / 1193182 instructions, exactly, on every run.
/// Channel 0 raises IRQ 0: modes 2 and 3 (rate generator, square wave) periodically, modes 0 and 4
/// once when the count runs out. Counts can be read back (current or latched, LSB/MSB access);
/// channels 1 and 2 count the same way without an interrupt. BCD counting, the gate inputs and the
/// read-back command are not emulated.
/// </summary>
public sealed class Pit : IPortDevice
{
    public const ulong InputHz = 1_193_182;

    private struct Channel
    {
        public byte Mode, Access;          // Access: 1 LSB, 2 MSB, 3 LSB then MSB
        public uint Reload;                // 1..65536
        public bool Counting;
        public ulong Start;                // clock when the count was loaded
        public ulong NextEdge;             // index of the next output edge (1 = first)
        public bool WriteHigh, ReadHigh;   // LSB/MSB toggles
        public byte PendingLow;
        public bool Latched;
        public ushort Latch;
    }

    private readonly Channel[] _ch = new Channel[3];
    private readonly IDeviceClock _clock;
    private readonly Pic _pic;
    private readonly ulong _ips;
    private byte _port61;

    internal Pit(IDeviceClock clock, Pic pic, ulong instructionsPerSecond)
    {
        _clock = clock;
        _pic = pic;
        _ips = Math.Max(1, instructionsPerSecond);
        Reset();
    }

    internal void Reset()
    {
        Array.Clear(_ch);
        for (int i = 0; i < 3; i++) _ch[i] = new Channel { Mode = 3, Access = 3, Reload = 65536 };
        _port61 = 0;
    }

    bool IPortDevice.WideAccess => false;

    /// <summary>Channel 0's divisor (0 = not counting).</summary>
    public uint Divisor => _ch[0].Counting ? _ch[0].Reload : 0;
    /// <summary>Channel 0's mode (0-5).</summary>
    public int Mode => _ch[0].Mode;

    private bool Periodic(in Channel c) => c.Mode is 2 or 3 or 6 or 7;

    /// <summary>Clock time of output edge k (k &gt;= 1) of a channel: start + ceil(k * reload * ips / 1193182).</summary>
    private ulong EdgeTime(in Channel c, ulong k) =>
        c.Start + (ulong)(((UInt128)k * c.Reload * _ips + (InputHz - 1)) / InputHz);

    /// <summary>Clock time at which channel 0 next raises IRQ 0, or ulong.MaxValue.</summary>
    internal ulong NextEventAt
    {
        get
        {
            ref Channel c = ref _ch[0];
            if (!c.Counting || c.NextEdge == 0) return ulong.MaxValue;
            return EdgeTime(in c, c.NextEdge);
        }
    }

    /// <summary>Raises IRQ 0 if channel 0's output rose at or before <paramref name="now"/> (once, however many periods passed).</summary>
    internal void AdvanceTo(ulong now)
    {
        ref Channel c = ref _ch[0];
        if (!c.Counting || c.NextEdge == 0 || now < EdgeTime(in c, c.NextEdge)) return;
        _pic.RaiseIrq(0);
        if (!Periodic(in c)) { c.NextEdge = 0; return; }
        // Edges up to now: k <= (now - start) * 1193182 / (reload * ips).
        ulong passed = (ulong)((UInt128)(now - c.Start) * InputHz / ((UInt128)c.Reload * _ips));
        c.NextEdge = passed + 1;
    }

    /// <summary>The counter's current value (what a latch captures).</summary>
    private ushort CurrentCount(in Channel c)
    {
        if (!c.Counting) return (ushort)c.Reload;
        ulong ticks = (ulong)((UInt128)(_clock.Now - c.Start) * InputHz / _ips);
        if (Periodic(in c)) return (ushort)(c.Reload - ticks % c.Reload);
        return (ushort)(c.Reload - ticks);
    }

    public uint Read(ushort port, int size)
    {
        if (port == 0x61)
        {
            // Bit 4 toggles with the DRAM refresh (every ~15 us); bit 5 is channel 2's output.
            ulong ticks = (ulong)((UInt128)_clock.Now * InputHz / _ips);
            return (uint)((_port61 & 0x0F) | (int)((ticks / 18) & 1) << 4 | (Out2() ? 0x20 : 0));
        }
        if (port == 0x43) return 0xFF;
        ref Channel c = ref _ch[port - 0x40];
        ushort v = c.Latched ? c.Latch : CurrentCount(in c);
        switch (c.Access)
        {
            case 1: c.Latched = false; return (byte)v;
            case 2: c.Latched = false; return (byte)(v >> 8);
            default:
                if (!c.ReadHigh) { c.ReadHigh = true; return (byte)v; }
                c.ReadHigh = false;
                c.Latched = false;
                return (byte)(v >> 8);
        }
    }

    /// <summary>Channel 2's output (square wave half-periods, or high once a one-shot ran out).</summary>
    private bool Out2()
    {
        ref Channel c = ref _ch[2];
        if (!c.Counting) return false;
        ushort count = CurrentCount(in c);
        return c.Mode == 3 ? count > c.Reload / 2 : !Periodic(in c) && (UInt128)(_clock.Now - c.Start) * InputHz / _ips >= c.Reload;
    }

    public void Write(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        if (port == 0x61) { _port61 = v; return; }
        if (port == 0x43)
        {
            int sel = v >> 6;
            if (sel == 3) return;                      // read-back: not emulated
            ref Channel c = ref _ch[sel];
            int access = (v >> 4) & 3;
            if (access == 0)
            {
                if (!c.Latched) { c.Latch = CurrentCount(in c); c.Latched = true; c.ReadHigh = false; }
                return;
            }
            // A new control word stops the counter until its count is written.
            c = new Channel { Mode = (byte)((v >> 1) & 7), Access = (byte)access, Reload = c.Reload };
            return;
        }
        ref Channel ch = ref _ch[port - 0x40];
        switch (ch.Access)
        {
            case 1: Load(ref ch, v); break;
            case 2: Load(ref ch, (uint)v << 8); break;
            default:
                if (!ch.WriteHigh) { ch.PendingLow = v; ch.WriteHigh = true; }
                else { ch.WriteHigh = false; Load(ref ch, ch.PendingLow | ((uint)v << 8)); }
                break;
        }
    }

    /// <summary>A count written: the channel (re)starts now; 0 means 65536.</summary>
    private void Load(ref Channel c, uint count)
    {
        c.Reload = count == 0 ? 65536 : count;
        c.Counting = true;
        c.Start = _clock.Now;
        c.NextEdge = 1;
    }

    internal void Save(BinaryWriter w)
    {
        foreach (var c in _ch)
        {
            w.Write(c.Mode); w.Write(c.Access); w.Write(c.Reload); w.Write(c.Counting); w.Write(c.Start);
            w.Write(c.NextEdge); w.Write(c.WriteHigh); w.Write(c.ReadHigh); w.Write(c.PendingLow);
            w.Write(c.Latched); w.Write(c.Latch);
        }
        w.Write(_port61);
    }

    internal void Load(BinaryReader r)
    {
        for (int i = 0; i < 3; i++)
        {
            var c = new Channel
            {
                Mode = r.ReadByte(), Access = r.ReadByte(), Reload = r.ReadUInt32(), Counting = r.ReadBoolean(),
                Start = r.ReadUInt64(), NextEdge = r.ReadUInt64(), WriteHigh = r.ReadBoolean(), ReadHigh = r.ReadBoolean(),
                PendingLow = r.ReadByte(), Latched = r.ReadBoolean(), Latch = r.ReadUInt16(),
            };
            if (c.Reload is 0 or > 65536) throw new InvalidDataException("bad PIT reload value in snapshot");
            _ch[i] = c;
        }
        _port61 = r.ReadByte();
    }
}

/// <summary>The machine's deterministic clock, as devices read it.</summary>
internal interface IDeviceClock
{
    ulong Now { get; }
}
