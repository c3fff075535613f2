namespace Lab.Machine.Devices;

/// <summary>
/// The CGA's 6845 CRT controller registers at 0x3D4 (index) / 0x3D5 (data): the guest moves the
/// hardware cursor by writing registers 14 (high byte) and 15 (low byte) of the cell position.
/// Port 0x3DA (input status) alternates between "in retrace" and "displaying" on each read, so
/// code that waits for a retrace edge always sees one. The text itself is RAM at 0xB8000 (<see cref="CgaText"/>).
/// </summary>
public sealed class CgaCrtc : IPortDevice
{
    private readonly byte[] _regs = new byte[18];
    private byte _index;
    private bool _retrace;

    bool IPortDevice.WideAccess => false;

    /// <summary>The cursor's cell index (row * 80 + column) as the guest last set it.</summary>
    public int CursorPosition => (_regs[14] << 8) | _regs[15];

    /// <summary>Cursor start register bit 5 hides the cursor.</summary>
    public bool CursorVisible => (_regs[10] & 0x20) == 0;

    internal void Reset()
    {
        Array.Clear(_regs);
        _regs[10] = 0x0D;     // cursor scan lines 13-14, visible (what a BIOS sets for text mode)
        _regs[11] = 0x0E;
        _index = 0;
        _retrace = false;
    }

    internal CgaCrtc() => Reset();

    public uint Read(ushort port, int size)
    {
        switch (port)
        {
            case 0x3D4: return _index;
            case 0x3D5: return _index < _regs.Length ? _regs[_index] : 0u;
            default:
                _retrace = !_retrace;
                return _retrace ? 0x09u : 0x00u;
        }
    }

    public void Write(ushort port, int size, uint value)
    {
        if (port == 0x3D4) _index = (byte)(value & 0x1F);
        else if (port == 0x3D5 && _index < _regs.Length) _regs[_index] = (byte)value;
    }

    internal void Save(BinaryWriter w)
    {
        w.Write(_regs); w.Write(_index); w.Write(_retrace);
    }

    internal void Load(BinaryReader r)
    {
        byte[] regs = r.ReadBytes(_regs.Length);
        if (regs.Length != _regs.Length) throw new EndOfStreamException("snapshot truncated");
        regs.CopyTo(_regs, 0);
        _index = r.ReadByte(); _retrace = r.ReadBoolean();
    }
}
