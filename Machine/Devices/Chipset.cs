namespace Lab.Machine.Devices;

/// <summary>
/// The chipset parts a kernel uses to turn the PC off or reset it, modelled on QEMU's i440FX/PIIX4 PC:
/// PCI configuration mechanism #1 (address 0xCF8, data 0xCFC-0xCFF) with a host bridge (00:00.0,
/// 8086:1237), an ISA bridge (00:01.0, 8086:7000) and the PIIX4 power-management function (00:01.3,
/// 8086:7113) whose config register 0x40 holds its I/O base (0x600). In that I/O block, writing
/// PM1_CNT (base+4) with SLP_EN (bit 13) and sleep type 0 powers the machine off — what WeensyOS's
/// <c>poweroff()</c> does after finding the device on the PCI bus; the ACPI PM timer (base+8) counts
/// at 3.579545 MHz of machine time. Resets: port 0x92 bit 0 (fast reset) and the reset control
/// register 0xCF9 (bit 2). Other functions and config registers read as absent / zero.
/// </summary>
public sealed class Chipset : IPortDevice
{
    public const ushort DefaultPmBase = 0x600;
    private const ulong PmTimerHz = 3_579_545;

    private readonly PortBus _bus;
    private readonly IDeviceClock _clock;
    private readonly ulong _ips;
    private readonly Action _powerOff, _reset;
    private readonly PmBlock _pm;
    private uint _configAddress;
    private ushort _pmBase;
    private byte _port92;
    private ushort _pmStatus, _pmEnable, _pmControl;

    internal Chipset(PortBus bus, IDeviceClock clock, ulong instructionsPerSecond, Action powerOff, Action reset)
    {
        _bus = bus;
        _clock = clock;
        _ips = Math.Max(1, instructionsPerSecond);
        _powerOff = powerOff;
        _reset = reset;
        _pm = new PmBlock(this);
        bus.Map(0xCF8, 8, this);
        bus.Map(0x92, 1, this);
        Reset();
    }

    internal void Reset()
    {
        _configAddress = 0;
        _port92 = 0x02;                       // A20 on
        _pmStatus = _pmEnable = _pmControl = 0;
        MovePmBlock(DefaultPmBase);
    }

    /// <summary>The PM block's I/O base as the guest sees it in config register 0x40.</summary>
    public ushort PmBase => _pmBase;

    bool IPortDevice.WideAccess => true;

    /// <summary>Moves the PM I/O block; a base that would cover another device's ports (or the ISA range) is refused.</summary>
    private void MovePmBlock(ushort newBase)
    {
        newBase &= 0xFFC0;
        if (newBase == _pmBase) return;
        if (_pmBase != 0) _bus.Unmap(_pmBase, 64, _pm);
        if (newBase < 0x400 || newBase > 0xFFC0 || !_bus.IsFree(newBase, 64))
        {
            if (_pmBase != 0) _bus.Map(_pmBase, 64, _pm);
            return;
        }
        _pmBase = newBase;
        _bus.Map(_pmBase, 64, _pm);
    }

    public uint Read(ushort port, int size)
    {
        if (port == 0x92) return _port92;
        if (port >= 0xCFC)
        {
            if ((_configAddress & 0x8000_0000) == 0) return Ones(size);
            int offset = (int)(_configAddress & 0xFC) + (port - 0xCFC);
            uint v = 0;
            for (int i = size - 1; i >= 0; i--) v = (v << 8) | ConfigByte(offset + i);
            return v;
        }
        if (port == 0xCF8 && size == 4) return _configAddress;
        return Ones(size);
    }

    public void Write(ushort port, int size, uint value)
    {
        if (port == 0x92)
        {
            if ((value & 1) != 0 && (_port92 & 1) == 0) _reset();
            _port92 = (byte)value;
            return;
        }
        if (port == 0xCF9 && size == 1)
        {
            if ((value & 4) != 0) _reset();
            return;
        }
        if (port == 0xCF8 && size == 4) { _configAddress = value; return; }
        if (port >= 0xCFC && (_configAddress & 0x8000_0000) != 0 && Function() == 0x0B)
        {
            // Only the PM function's I/O base (0x40-0x41) is writable.
            int offset = (int)(_configAddress & 0xFC) + (port - 0xCFC);
            for (int i = 0; i < size; i++)
            {
                int at = offset + i;
                byte b = (byte)(value >> (8 * i));
                if (at == 0x40) MovePmBlock((ushort)((_pmBase & 0xFF00) | (b & 0xC0)));
                else if (at == 0x41) MovePmBlock((ushort)((b << 8) | (_pmBase & 0xFF)));
            }
        }
    }

    private static uint Ones(int size) => size == 4 ? uint.MaxValue : (1u << (8 * size)) - 1;

    /// <summary>Bus/device/function of the config address as bits 23..8 (bus 0 device 1 function 3 = 0x0B).</summary>
    private int Function() => (int)((_configAddress >> 8) & 0xFFFF);

    /// <summary>One byte of the addressed function's configuration space (0xFF for absent functions).</summary>
    private byte ConfigByte(int offset)
    {
        (ushort vendor, ushort device, uint classCode, byte header) = Function() switch
        {
            0x00 => ((ushort)0x8086, (ushort)0x1237, 0x060000u, (byte)0x00),    // host bridge (i440FX)
            0x08 => ((ushort)0x8086, (ushort)0x7000, 0x060100u, (byte)0x80),    // ISA bridge (PIIX3), multi-function
            0x0B => ((ushort)0x8086, (ushort)0x7113, 0x068000u, (byte)0x00),    // PIIX4 power management
            _ => ((ushort)0xFFFF, (ushort)0xFFFF, 0u, (byte)0xFF),
        };
        if (vendor == 0xFFFF) return 0xFF;
        return offset switch
        {
            0x00 => (byte)vendor,
            0x01 => (byte)(vendor >> 8),
            0x02 => (byte)device,
            0x03 => (byte)(device >> 8),
            0x09 => (byte)classCode,
            0x0A => (byte)(classCode >> 8),
            0x0B => (byte)(classCode >> 16),
            0x0E => header,
            0x40 when Function() == 0x0B => (byte)(_pmBase | 1),    // bit 0: I/O space indicator
            0x41 when Function() == 0x0B => (byte)(_pmBase >> 8),
            0x80 when Function() == 0x0B => 1,                      // PMIOSE: the block is enabled
            _ => 0,
        };
    }

    /// <summary>The ACPI PM1 registers and timer, mapped at the PM base.</summary>
    private sealed class PmBlock(Chipset owner) : IPortDevice
    {
        public bool WideAccess => true;

        public uint Read(ushort port, int size)
        {
            int reg = port - owner._pmBase;
            uint v = reg switch
            {
                0 or 1 => owner._pmStatus,
                2 or 3 => owner._pmEnable,
                4 or 5 => owner._pmControl,
                >= 8 and < 12 => (uint)((UInt128)owner._clock.Now * PmTimerHz / owner._ips) & 0xFF_FFFF,
                _ => 0,
            };
            int shift = 8 * (reg & 1);
            if (reg >= 8) shift = 8 * (reg - 8);
            v >>= shift;
            return size == 4 ? v : v & ((1u << (8 * size)) - 1);
        }

        public void Write(ushort port, int size, uint value)
        {
            int reg = port - owner._pmBase;
            switch (reg)
            {
                case 0: owner._pmStatus &= (ushort)~value; break;      // write 1 to clear
                case 2: owner._pmEnable = (ushort)value; break;
                case 4:
                    owner._pmControl = (ushort)(value & ~0x2000u);
                    if ((value & 0x2000) != 0 && ((value >> 10) & 7) == 0) owner._powerOff();
                    break;
            }
        }
    }

    internal void Save(BinaryWriter w)
    {
        w.Write(_configAddress); w.Write(_pmBase); w.Write(_port92);
        w.Write(_pmStatus); w.Write(_pmEnable); w.Write(_pmControl);
    }

    internal void Load(BinaryReader r)
    {
        _configAddress = r.ReadUInt32();
        ushort pmBase = r.ReadUInt16();
        _port92 = r.ReadByte();
        _pmStatus = r.ReadUInt16(); _pmEnable = r.ReadUInt16(); _pmControl = r.ReadUInt16();
        MovePmBlock(pmBase);
    }
}
