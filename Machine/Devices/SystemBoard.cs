using Lab.Machine.Cpu;

namespace Lab.Machine.Devices;

/// <summary>Why the guest asked the machine to stop or restart.</summary>
public enum PowerRequest : byte
{
    None,
    /// <summary>ACPI soft-off through the PIIX4 PM device.</summary>
    PowerOff,
    /// <summary>A reset through port 0x92, 0xCF9 or the keyboard controller.</summary>
    Reset,
}

/// <summary>
/// The devices of a system-mode machine on its I/O port bus, all driven by the machine's
/// deterministic instruction-count clock:
/// <list type="bullet">
/// <item>0x20-0x21, 0xA0-0xA1: the 8259A PIC pair (<see cref="Pic"/>);</item>
/// <item>0x40-0x43, 0x61: the 8254 PIT (<see cref="Pit"/>), channel 0 on IRQ 0;</item>
/// <item>0x60, 0x64: the 8042 keyboard controller (<see cref="KeyboardController"/>), IRQ 1;</item>
/// <item>0x3D4-0x3D5, 0x3DA: the CGA CRT controller (<see cref="CgaCrtc"/>, the cursor);</item>
/// <item>0x378-0x37A: the parallel port (<see cref="ParallelPort"/>, the kernel's log);</item>
/// <item>0x92, 0xCF8-0xCFF, the PM block at 0x600: PCI configuration, power-off and reset (<see cref="Chipset"/>).</item>
/// </list>
/// Every other port reads as all ones and is reported once (<see cref="PortBus.Unanswered"/>).
/// </summary>
public sealed class SystemBoard : IPortIo
{
    internal PortBus Bus { get; } = new();
    public Pic Pic { get; }
    public Pit Pit { get; }
    public KeyboardController Keyboard { get; }
    public CgaCrtc Crtc { get; }
    public ParallelPort Parallel { get; }
    public Chipset Chipset { get; }

    /// <summary>Set by a device when the guest powers off or resets the machine; the machine acts on it and clears it.</summary>
    public PowerRequest Request { get; private set; }

    internal SystemBoard(IDeviceClock clock, ulong instructionsPerSecond)
    {
        Pic = new Pic();
        Pit = new Pit(clock, Pic, instructionsPerSecond);
        Keyboard = new KeyboardController(Pic, RequestReset);
        Crtc = new CgaCrtc();
        Parallel = new ParallelPort();
        Chipset = new Chipset(Bus, clock, instructionsPerSecond, () => Request = PowerRequest.PowerOff, RequestReset);
        Bus.Map(0x20, 2, Pic);
        Bus.Map(0xA0, 2, Pic);
        Bus.Map(0x40, 4, Pit);
        Bus.Map(0x61, 1, Pit);
        Bus.Map(0x60, 1, Keyboard);
        Bus.Map(0x64, 1, Keyboard);
        Bus.Map(0x3D4, 2, Crtc);
        Bus.Map(0x3DA, 1, Crtc);
        Bus.Map(0x378, 3, Parallel);
    }

    private void RequestReset()
    {
        if (Request == PowerRequest.None) Request = PowerRequest.Reset;
    }

    internal void ClearRequest() => Request = PowerRequest.None;

    /// <summary>Every device back to its power-on state (a reset). The parallel-port log is kept.</summary>
    internal void Reset()
    {
        Pic.Reset();
        Pit.Reset();
        Keyboard.Reset();
        Crtc.Reset();
        Parallel.Reset();
        Chipset.Reset();
        Request = PowerRequest.None;
    }

    uint IPortIo.ReadPort(ushort port, int size) => Bus.Read(port, size);
    void IPortIo.WritePort(ushort port, int size, uint value) => Bus.Write(port, size, value);

    internal void Save(BinaryWriter w)
    {
        Pic.Save(w);
        Pit.Save(w);
        Keyboard.Save(w);
        Crtc.Save(w);
        Parallel.Save(w);
        Chipset.Save(w);
        Bus.Save(w);
        w.Write((byte)Request);
    }

    internal void Load(BinaryReader r)
    {
        Pic.Load(r);
        Pit.Load(r);
        Keyboard.Load(r);
        Crtc.Load(r);
        Parallel.Load(r);
        Chipset.Load(r);
        Bus.Load(r);
        byte req = r.ReadByte();
        if (req > (byte)PowerRequest.Reset) throw new InvalidDataException("bad power request in snapshot");
        Request = (PowerRequest)req;
    }
}
