namespace Lab.Machine.Devices;

/// <summary>A device on the I/O port bus.</summary>
internal interface IPortDevice
{
    /// <summary>False: the bus splits 16/32-bit accesses into byte accesses at consecutive ports
    /// (8-bit ISA devices); true: the device takes every size itself (PCI configuration, ACPI PM).</summary>
    bool WideAccess { get; }
    uint Read(ushort port, int size);
    void Write(ushort port, int size, uint value);
}

/// <summary>
/// The 64 KiB I/O port space: a table from port to device. A port no device answers reads as all
/// ones (0xFF per byte) and ignores writes, and is reported once (the first read or write of it)
/// through <see cref="Unanswered"/>.
/// </summary>
internal sealed class PortBus
{
    private readonly IPortDevice?[] _map = new IPortDevice?[65536];
    private readonly HashSet<ushort> _reported = new();

    /// <summary>Called the first time a port nobody answers is used (port, is a write).</summary>
    public Action<ushort, bool>? Unanswered;

    public void Map(ushort first, int count, IPortDevice device)
    {
        for (int i = 0; i < count; i++) _map[first + i] = device;
    }

    /// <summary>True when no device answers any port of the range.</summary>
    public bool IsFree(ushort first, int count)
    {
        for (int i = 0; i < count; i++) if (_map[first + i] is not null) return false;
        return true;
    }

    /// <summary>Removes <paramref name="device"/> from the ports of the range it answers.</summary>
    public void Unmap(ushort first, int count, IPortDevice device)
    {
        for (int i = 0; i < count; i++) if (ReferenceEquals(_map[first + i], device)) _map[first + i] = null;
    }

    public uint Read(ushort port, int size)
    {
        IPortDevice? d = _map[port];
        if (d is null || (size > 1 && !d.WideAccess))
        {
            uint v = 0;
            for (int i = size - 1; i >= 0; i--) v = (v << 8) | ReadByte((ushort)(port + i));
            return v;
        }
        return d.Read(port, size);
    }

    public void Write(ushort port, int size, uint value)
    {
        IPortDevice? d = _map[port];
        if (d is null || (size > 1 && !d.WideAccess))
        {
            for (int i = 0; i < size; i++) WriteByte((ushort)(port + i), (byte)(value >> (8 * i)));
            return;
        }
        d.Write(port, size, value);
    }

    private byte ReadByte(ushort port)
    {
        IPortDevice? d = _map[port];
        if (d is null) { Report(port, false); return 0xFF; }
        return (byte)d.Read(port, 1);
    }

    private void WriteByte(ushort port, byte value)
    {
        IPortDevice? d = _map[port];
        if (d is null) { Report(port, true); return; }
        d.Write(port, 1, value);
    }

    private void Report(ushort port, bool write)
    {
        if (_reported.Add(port)) Unanswered?.Invoke(port, write);
    }

    public void Save(BinaryWriter w)
    {
        w.Write(_reported.Count);
        foreach (ushort p in _reported.Order()) w.Write(p);
    }

    public void Load(BinaryReader r)
    {
        int n = r.ReadInt32();
        if (n < 0 || n > 65536) throw new InvalidDataException($"bad unanswered-port count {n} in snapshot");
        _reported.Clear();
        for (int i = 0; i < n; i++) _reported.Add(r.ReadUInt16());
    }
}
