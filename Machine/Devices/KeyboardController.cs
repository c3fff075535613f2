namespace Lab.Machine.Devices;

/// <summary>Keys that have no character (they send E0-prefixed scancodes).</summary>
public enum SpecialKey : byte { Up, Down, Left, Right, Home, End, PageUp, PageDown, Insert, Delete }

/// <summary>
/// The 8042 keyboard controller at ports 0x60 (data) and 0x64 (status / command), with a keyboard
/// that sends scan-code set 1 (what a PC BIOS leaves on: the translated set WeensyOS's keymap reads).
/// Host keys become make/break sequences (Shift around upper-case letters and shifted symbols, Ctrl
/// around control characters) in a bounded queue; one byte at a time sits in the output buffer
/// (status bit 0) until the guest reads port 0x60, and IRQ 1 rises for each byte when the command
/// byte enables it. Controller commands: read/write the command byte (0x20/0x60), self-tests
/// (0xAA/0xAB), disable/enable the keyboard (0xAD/0xAE), the output port (0xD1, the A20 line), and
/// pulse reset (0xFE, which resets the machine). Keyboard commands are acknowledged (0xFA), reset
/// (0xFF) answers 0xAA.
/// </summary>
public sealed class KeyboardController : IPortDevice
{
    public const int Capacity = 256;

    private readonly Queue<byte> _queue = new();
    private readonly Pic _pic;
    private readonly Action _reset;
    private byte _output;
    private bool _outputFull;
    private byte _commandByte;
    /// <summary>The controller command whose parameter the next data-port write is (0 = none).</summary>
    private byte _pendingCommand;
    private bool _keyboardDisabled;
    private byte _keyboardCommandPending;

    internal KeyboardController(Pic pic, Action reset)
    {
        _pic = pic;
        _reset = reset;
        Reset();
    }

    internal void Reset()
    {
        _queue.Clear();
        _output = 0;
        _outputFull = false;
        _commandByte = 0x65;        // IRQ 1 on, system flag, keyboard clock on, translation on (BIOS default)
        _pendingCommand = 0;
        _keyboardDisabled = false;
        _keyboardCommandPending = 0;
    }

    bool IPortDevice.WideAccess => false;

    /// <summary>Scancode bytes waiting (not counting the one in the output buffer).</summary>
    public int Pending => _queue.Count;

    /// <summary>
    /// Types one host key: its make and break codes (with Shift or Ctrl around it when needed).
    /// False (and nothing queued) when the key has no set-1 scancode or the queue is full.
    /// </summary>
    public bool TypeKey(char key)
    {
        if (!Scancodes.TryGet(key, out byte code, out bool shift, out bool ctrl)) return false;
        Span<byte> seq = stackalloc byte[6];
        int n = 0;
        if (ctrl) seq[n++] = Scancodes.LeftCtrl;
        if (shift) seq[n++] = Scancodes.LeftShift;
        seq[n++] = code;
        seq[n++] = (byte)(code | 0x80);
        if (shift) seq[n++] = Scancodes.LeftShift | 0x80;
        if (ctrl) seq[n++] = Scancodes.LeftCtrl | 0x80;
        return Enqueue(seq[..n]);
    }

    /// <summary>Types a key without a character (E0 prefix, make, E0 prefix, break).</summary>
    public bool TypeKey(SpecialKey key)
    {
        byte code = Scancodes.Special(key);
        return Enqueue([0xE0, code, 0xE0, (byte)(code | 0x80)]);
    }

    /// <summary>Queues raw scancode bytes (all or none).</summary>
    public bool Enqueue(ReadOnlySpan<byte> bytes)
    {
        if (_queue.Count + bytes.Length > Capacity) return false;
        foreach (byte b in bytes) _queue.Enqueue(b);
        Refill();
        return true;
    }

    /// <summary>Moves the next queued byte into the empty output buffer and raises IRQ 1 if enabled.</summary>
    private void Refill()
    {
        if (_outputFull || _keyboardDisabled || _queue.Count == 0) return;
        Deliver(_queue.Dequeue());
    }

    private void Deliver(byte b)
    {
        _output = b;
        _outputFull = true;
        if ((_commandByte & 1) != 0) _pic.RaiseIrq(1);
    }

    public uint Read(ushort port, int size)
    {
        if (port == 0x64)
            return (uint)((_outputFull ? 1 : 0) | 0x04 | 0x10);   // output full, system flag, not inhibited
        byte v = _output;
        _outputFull = false;
        Refill();
        return v;
    }

    public void Write(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        if (port == 0x64) { Command(v); return; }
        if (_pendingCommand != 0)
        {
            byte command = _pendingCommand;
            _pendingCommand = 0;
            if (command == 0x60) _commandByte = v;   // 0xD1 (output port: A20, reset line) is accepted and ignored
            else if (command == 0xD1 && (v & 1) == 0) _reset();
            return;
        }
        KeyboardCommand(v);
    }

    private void Command(byte v)
    {
        switch (v)
        {
            case 0x20: Answer(_commandByte); break;
            case 0x60: case 0xD1: _pendingCommand = v; break;
            case 0xAA: Answer(0x55); break;             // controller self-test passed
            case 0xAB: Answer(0x00); break;             // keyboard interface test passed
            case 0xAD: _keyboardDisabled = true; break;
            case 0xAE: _keyboardDisabled = false; Refill(); break;
            case 0xFE: _reset(); break;                 // pulse the CPU reset line
        }
    }

    /// <summary>Bytes sent to the keyboard itself: acknowledge everything; reset answers its self-test.</summary>
    private void KeyboardCommand(byte v)
    {
        if (_keyboardCommandPending != 0) { _keyboardCommandPending = 0; Answer(0xFA); return; }
        switch (v)
        {
            case 0xFF: Answer(0xFA); Enqueue([0xAA]); break;
            case 0xED: case 0xF0: case 0xF3: _keyboardCommandPending = v; Answer(0xFA); break;
            case 0xEE: Answer(0xEE); break;
            default: Answer(0xFA); break;
        }
    }

    /// <summary>A controller or keyboard reply goes ahead of queued keys.</summary>
    private void Answer(byte b)
    {
        if (_outputFull)
        {
            var rest = _queue.ToArray();
            _queue.Clear();
            _queue.Enqueue(b);
            foreach (byte x in rest) _queue.Enqueue(x);
            return;
        }
        Deliver(b);
    }

    internal void Save(BinaryWriter w)
    {
        byte[] q = _queue.ToArray();
        w.Write(q.Length); w.Write(q);
        w.Write(_output); w.Write(_outputFull); w.Write(_commandByte); w.Write(_pendingCommand);
        w.Write(_keyboardDisabled); w.Write(_keyboardCommandPending);
    }

    internal void Load(BinaryReader r)
    {
        int n = r.ReadInt32();
        if (n < 0 || n > Capacity) throw new InvalidDataException($"bad keyboard queue length {n} in snapshot");
        byte[] q = r.ReadBytes(n);
        if (q.Length != n) throw new EndOfStreamException("snapshot truncated");
        _queue.Clear();
        foreach (byte b in q) _queue.Enqueue(b);
        _output = r.ReadByte(); _outputFull = r.ReadBoolean(); _commandByte = r.ReadByte(); _pendingCommand = r.ReadByte();
        _keyboardDisabled = r.ReadBoolean(); _keyboardCommandPending = r.ReadByte();
    }
}

/// <summary>Scan-code set 1 make codes for the keys of a US keyboard (break code = make | 0x80).</summary>
internal static class Scancodes
{
    public const byte LeftCtrl = 0x1D, LeftShift = 0x2A;

    // Unshifted and shifted characters of each key, indexed by make code (0 = no character).
    private const string Plain =
        "\0\x1b" + "1234567890-=" + "\b\t" + "qwertyuiop[]" + "\n\0" + "asdfghjkl;'`" + "\0\\" + "zxcvbnm,./" + "\0*\0 ";
    private const string Shifted =
        "\0\x1b" + "!@#$%^&*()_+" + "\b\t" + "QWERTYUIOP{}" + "\n\0" + "ASDFGHJKL:\"~" + "\0|" + "ZXCVBNM<>?" + "\0*\0 ";

    /// <summary>The key that types <paramref name="c"/>, and whether Shift or Ctrl must be held.</summary>
    public static bool TryGet(char c, out byte code, out bool shift, out bool ctrl)
    {
        shift = ctrl = false;
        code = 0;
        if (c == '\0') return false;
        if (c == '\r') c = '\n';
        if (c == (char)0x7F) c = '\b';
        int i = Plain.IndexOf(c, 1);
        if (i > 0) { code = (byte)i; return true; }
        i = Shifted.IndexOf(c, 1);
        if (i > 0) { code = (byte)i; shift = true; return true; }
        if (c >= (char)1 && c <= (char)26)
        {
            // Control characters other than the ones with their own key (Tab, Enter, Backspace): Ctrl + letter.
            code = (byte)Plain.IndexOf((char)('a' + c - 1));
            ctrl = true;
            return true;
        }
        return false;
    }

    public static byte Special(SpecialKey key) => key switch
    {
        SpecialKey.Up => 0x48, SpecialKey.Down => 0x50, SpecialKey.Left => 0x4B, SpecialKey.Right => 0x4D,
        SpecialKey.Home => 0x47, SpecialKey.End => 0x4F, SpecialKey.PageUp => 0x49, SpecialKey.PageDown => 0x51,
        SpecialKey.Insert => 0x52, _ => 0x53,
    };
}
