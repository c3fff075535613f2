namespace Lab.Machine.Devices;

/// <summary>
/// The PC's two cascaded 8259A interrupt controllers: the master at ports 0x20/0x21 (IRQ 0-7), the
/// slave at 0xA0/0xA1 (IRQ 8-15) on the master's IRQ 2. Edge-triggered: a rising line sets its IRR
/// bit, which stays set while masked. Implements the initialisation words (ICW1-4: vector base,
/// cascade, auto-EOI), the mask (OCW1), EOI (OCW2, non-specific and specific), reading IRR/ISR (OCW3),
/// fixed priority (IRQ 0 highest). Special mask mode, polling, rotation and level triggering are not
/// emulated. Before the guest initialises it, it is as a BIOS leaves it: vectors 0x08 and 0x70, all masked.
/// </summary>
public sealed class Pic : IPortDevice
{
    private struct Chip
    {
        public byte Irr, Isr, Imr;
        public byte VectorBase;
        /// <summary>Which initialisation word the data port expects next: 0 none (normal), 2, 3, 4.</summary>
        public byte InitStep;
        public bool NeedIcw4, Single, AutoEoi, ReadIsr;
    }

    private Chip _master, _slave;

    internal Pic() => Reset();

    /// <summary>Power-on state, as a BIOS leaves it.</summary>
    internal void Reset()
    {
        _master = new Chip { VectorBase = 0x08, Imr = 0xFF };
        _slave = new Chip { VectorBase = 0x70, Imr = 0xFF };
    }

    bool IPortDevice.WideAccess => false;

    /// <summary>Raises IRQ line 0-15 (an edge): sets its request bit.</summary>
    public void RaiseIrq(int irq)
    {
        if (irq < 8) _master.Irr |= (byte)(1 << irq);
        else _slave.Irr |= (byte)(1 << (irq - 8));
    }

    /// <summary>The mask register of the master (low byte) and slave (high byte).</summary>
    public ushort Masks => (ushort)(_master.Imr | (_slave.Imr << 8));
    /// <summary>The vector bases the guest programmed (ICW2), master and slave.</summary>
    public (byte Master, byte Slave) VectorBases => (_master.VectorBase, _slave.VectorBase);

    /// <summary>The highest-priority unmasked request not blocked by an in-service one of equal or higher priority, or -1.</summary>
    private static int Highest(in Chip c, byte irr)
    {
        byte pending = (byte)(irr & ~c.Imr);
        for (int i = 0; i < 8; i++)
        {
            byte bit = (byte)(1 << i);
            if ((c.Isr & bit) != 0) return -1;      // an equal or higher priority interrupt is being serviced
            if ((pending & bit) != 0) return i;
        }
        return -1;
    }

    private byte MasterRequests => (byte)(_master.Irr | (Highest(in _slave, _slave.Irr) >= 0 ? 1 << 2 : 0));

    /// <summary>True when the PIC pair asserts INTR (an interrupt is waiting for the CPU).</summary>
    public bool InterruptPending => Highest(in _master, MasterRequests) >= 0;

    /// <summary>
    /// The CPU acknowledges INTR: returns the vector and the IRQ line, moving the request from IRR
    /// to ISR (unless auto-EOI). With nothing pending this is a spurious IRQ 7.
    /// </summary>
    public byte Acknowledge(out int irq)
    {
        int m = Highest(in _master, MasterRequests);
        if (m < 0) { irq = 7; return (byte)(_master.VectorBase + 7); }
        if (m == 2 && Highest(in _slave, _slave.Irr) is int s and >= 0)
        {
            _slave.Irr &= (byte)~(1 << s);
            if (!_slave.AutoEoi) _slave.Isr |= (byte)(1 << s);
            if (!_master.AutoEoi) _master.Isr |= 1 << 2;
            irq = 8 + s;
            return (byte)(_slave.VectorBase + s);
        }
        _master.Irr &= (byte)~(1 << m);
        if (!_master.AutoEoi) _master.Isr |= (byte)(1 << m);
        irq = m;
        return (byte)(_master.VectorBase + m);
    }

    public uint Read(ushort port, int size)
    {
        ref Chip c = ref port >= 0xA0 ? ref _slave : ref _master;
        if ((port & 1) == 0) return c.ReadIsr ? c.Isr : c.Irr;
        return c.Imr;
    }

    public void Write(ushort port, int size, uint value)
    {
        ref Chip c = ref port >= 0xA0 ? ref _slave : ref _master;
        byte v = (byte)value;
        if ((port & 1) == 0)
        {
            if ((v & 0x10) != 0)
            {
                // ICW1: start initialisation; the data port then takes ICW2, ICW3 (cascaded), ICW4 (if asked).
                c = new Chip { VectorBase = c.VectorBase, InitStep = 2, NeedIcw4 = (v & 1) != 0, Single = (v & 2) != 0 };
            }
            else if ((v & 0x08) != 0)
            {
                // OCW3: choose what the command port reads back.
                if ((v & 2) != 0) c.ReadIsr = (v & 1) != 0;
            }
            else
            {
                // OCW2: bit 5 EOI; bit 6 specific (level in bits 0-2).
                if ((v & 0x20) == 0) return;
                if ((v & 0x40) != 0) c.Isr &= (byte)~(1 << (v & 7));
                else
                {
                    for (int i = 0; i < 8; i++)
                        if ((c.Isr & (1 << i)) != 0) { c.Isr &= (byte)~(1 << i); break; }
                }
            }
            return;
        }
        switch (c.InitStep)
        {
            case 2:
                c.VectorBase = (byte)(v & 0xF8);
                c.InitStep = c.Single ? (byte)(c.NeedIcw4 ? 4 : 0) : (byte)3;
                break;
            case 3:
                c.InitStep = c.NeedIcw4 ? (byte)4 : (byte)0;
                break;
            case 4:
                c.AutoEoi = (v & 2) != 0;
                c.InitStep = 0;
                break;
            default:
                c.Imr = v;
                break;
        }
    }

    internal void Save(BinaryWriter w)
    {
        SaveChip(w, in _master);
        SaveChip(w, in _slave);
    }

    internal void Load(BinaryReader r)
    {
        _master = LoadChip(r);
        _slave = LoadChip(r);
    }

    private static void SaveChip(BinaryWriter w, in Chip c)
    {
        w.Write(c.Irr); w.Write(c.Isr); w.Write(c.Imr); w.Write(c.VectorBase); w.Write(c.InitStep);
        w.Write(c.NeedIcw4); w.Write(c.Single); w.Write(c.AutoEoi); w.Write(c.ReadIsr);
    }

    private static Chip LoadChip(BinaryReader r) => new()
    {
        Irr = r.ReadByte(), Isr = r.ReadByte(), Imr = r.ReadByte(), VectorBase = r.ReadByte(), InitStep = r.ReadByte(),
        NeedIcw4 = r.ReadBoolean(), Single = r.ReadBoolean(), AutoEoi = r.ReadBoolean(), ReadIsr = r.ReadBoolean(),
    };
}
