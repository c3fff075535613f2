using System.Text;

namespace Lab.TuiClient.Terminal;

public enum KeyCode
{
    Char,           // a printable character (KeyEvent.Char)
    Enter, Tab, Backspace, Escape,
    Up, Down, Left, Right, Home, End, PageUp, PageDown, Insert, Delete,
    F1, F2, F3, F4, F5, F6, F7, F8, F9, F10, F11, F12,
    /// <summary>Ctrl + letter (KeyEvent.Char holds the lower-case letter).</summary>
    Ctrl,
}

[Flags]
public enum KeyModifiers : byte { None = 0, Shift = 1, Alt = 2, Ctrl = 4 }

public readonly record struct KeyEvent(KeyCode Code, char Char = '\0', KeyModifiers Modifiers = KeyModifiers.None)
{
    public static KeyEvent Printable(char c) => new(KeyCode.Char, c);
    public override string ToString() => Code switch
    {
        KeyCode.Char => Modifiers.HasFlag(KeyModifiers.Alt) ? $"Alt+{Char}" : Char.ToString(),
        KeyCode.Ctrl => $"Ctrl+{char.ToUpperInvariant(Char)}",
        _ => Modifiers == KeyModifiers.None ? Code.ToString() : $"{Modifiers}+{Code}",
    };
}

/// <summary>
/// Parses the raw bytes a terminal sends in raw mode into key events: UTF-8 text, control keys,
/// CSI and SS3 escape sequences (arrows, Home/End, PgUp/PgDn, Insert/Delete, F1-F12, with xterm
/// modifier parameters) and Alt+key. Bytes may arrive split anywhere; an incomplete sequence waits
/// for more input, and <see cref="Flush"/> turns a lone pending ESC into the Escape key (call it when
/// no more bytes arrived within a short time). Unknown sequences are dropped, never an error.
/// </summary>
public sealed class KeyParser
{
    private readonly List<byte> _pending = new();

    /// <summary>Feeds bytes; returns the complete key events they finish.</summary>
    public IReadOnlyList<KeyEvent> Feed(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) _pending.Add(b);
        var events = new List<KeyEvent>();
        int i = 0;
        while (i < _pending.Count)
        {
            int used = TryParse(i, events);
            if (used == 0) break;   // incomplete: wait for more bytes
            i += used;
        }
        _pending.RemoveRange(0, i);
        return events;
    }

    /// <summary>Resolves pending input after a pause: a lone ESC is the Escape key; other partial input is dropped.</summary>
    public IReadOnlyList<KeyEvent> Flush()
    {
        var events = new List<KeyEvent>();
        if (_pending.Count > 0 && _pending[0] == 0x1B)
        {
            events.Add(new KeyEvent(KeyCode.Escape));
            _pending.RemoveAt(0);
            events.AddRange(Feed(ReadOnlySpan<byte>.Empty));
        }
        _pending.Clear();
        return events;
    }

    /// <summary>Parses one event at index i; returns bytes consumed (0 = incomplete).</summary>
    private int TryParse(int i, List<KeyEvent> events)
    {
        byte b = _pending[i];
        switch (b)
        {
            case 0x1B: return ParseEscape(i, events);
            case 0x0D: case 0x0A: events.Add(new KeyEvent(KeyCode.Enter)); return 1;
            case 0x09: events.Add(new KeyEvent(KeyCode.Tab)); return 1;
            case 0x7F: case 0x08: events.Add(new KeyEvent(KeyCode.Backspace)); return 1;
        }
        if (b < 0x20)
        {
            events.Add(new KeyEvent(KeyCode.Ctrl, (char)('a' + b - 1), KeyModifiers.Ctrl));
            return 1;
        }
        return ParseUtf8(i, events, KeyModifiers.None);
    }

    private int ParseUtf8(int i, List<KeyEvent> events, KeyModifiers mods)
    {
        byte b = _pending[i];
        int len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
        if (i + len > _pending.Count) return 0;
        var bytes = new byte[len];
        for (int k = 0; k < len; k++) bytes[k] = _pending[i + k];
        string s = Encoding.UTF8.GetString(bytes);
        foreach (char c in s)
            if (!char.IsControl(c)) events.Add(new KeyEvent(KeyCode.Char, c, mods));
        return len;
    }

    private int ParseEscape(int i, List<KeyEvent> events)
    {
        if (i + 1 >= _pending.Count) return 0;          // lone ESC so far: wait (Flush decides)
        byte next = _pending[i + 1];
        if (next == (byte)'[') return ParseCsi(i, events);
        if (next == (byte)'O')
        {
            if (i + 2 >= _pending.Count) return 0;
            KeyCode? code = (char)_pending[i + 2] switch
            {
                'P' => KeyCode.F1, 'Q' => KeyCode.F2, 'R' => KeyCode.F3, 'S' => KeyCode.F4,
                'A' => KeyCode.Up, 'B' => KeyCode.Down, 'C' => KeyCode.Right, 'D' => KeyCode.Left,
                'H' => KeyCode.Home, 'F' => KeyCode.End,
                _ => null,
            };
            if (code != null) events.Add(new KeyEvent(code.Value));
            return 3;
        }
        if (next == 0x1B)
        {
            events.Add(new KeyEvent(KeyCode.Escape));
            return 1;
        }
        // Alt+key: ESC followed by the key.
        if (next >= 0x20)
        {
            int used = ParseUtf8(i + 1, events, KeyModifiers.Alt);
            return used == 0 ? 0 : used + 1;
        }
        events.Add(new KeyEvent(KeyCode.Escape));
        return 1;
    }

    /// <summary>CSI: ESC [ params final. Params are digits and ';'. Final byte is 0x40..0x7E.</summary>
    private int ParseCsi(int i, List<KeyEvent> events)
    {
        int j = i + 2;
        while (j < _pending.Count && _pending[j] >= 0x20 && _pending[j] < 0x40) j++;
        if (j >= _pending.Count) return 0;
        if (j - i > 32) return j - i + 1;                 // absurdly long: drop it
        char final = (char)_pending[j];
        var text = new StringBuilder();
        for (int k = i + 2; k < j; k++) text.Append((char)_pending[k]);
        string[] parts = text.ToString().Split(';');
        int p1 = parts.Length > 0 && int.TryParse(parts[0], out int a) ? a : 0;
        int modParam = parts.Length > 1 && int.TryParse(parts[1], out int m) ? m : 1;
        KeyModifiers mods = Modifiers(modParam);
        KeyCode? code = final switch
        {
            'A' => KeyCode.Up, 'B' => KeyCode.Down, 'C' => KeyCode.Right, 'D' => KeyCode.Left,
            'H' => KeyCode.Home, 'F' => KeyCode.End,
            'P' => KeyCode.F1, 'Q' => KeyCode.F2, 'R' => KeyCode.F3, 'S' => KeyCode.F4,
            'Z' => KeyCode.Tab,
            '~' => p1 switch
            {
                1 or 7 => KeyCode.Home, 2 => KeyCode.Insert, 3 => KeyCode.Delete, 4 or 8 => KeyCode.End,
                5 => KeyCode.PageUp, 6 => KeyCode.PageDown,
                11 => KeyCode.F1, 12 => KeyCode.F2, 13 => KeyCode.F3, 14 => KeyCode.F4,
                15 => KeyCode.F5, 17 => KeyCode.F6, 18 => KeyCode.F7, 19 => KeyCode.F8,
                20 => KeyCode.F9, 21 => KeyCode.F10, 23 => KeyCode.F11, 24 => KeyCode.F12,
                _ => null,
            },
            _ => null,
        };
        if (final == 'Z') mods |= KeyModifiers.Shift;     // back-tab
        if (code != null) events.Add(new KeyEvent(code.Value, '\0', mods));
        return j - i + 1;
    }

    /// <summary>xterm modifier parameter: 1 + (shift 1 | alt 2 | ctrl 4).</summary>
    private static KeyModifiers Modifiers(int param)
    {
        int bits = Math.Max(0, param - 1);
        var mods = KeyModifiers.None;
        if ((bits & 1) != 0) mods |= KeyModifiers.Shift;
        if ((bits & 2) != 0) mods |= KeyModifiers.Alt;
        if ((bits & 4) != 0) mods |= KeyModifiers.Ctrl;
        return mods;
    }
}
