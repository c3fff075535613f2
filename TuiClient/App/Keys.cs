using Gui = Terminal.Gui.Drivers;

namespace Lab.TuiClient.App;

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

/// <summary>A key as the app routes it: what the controller and its tests see, whatever the terminal library.</summary>
public readonly record struct KeyEvent(KeyCode Code, char Char = '\0', KeyModifiers Modifiers = KeyModifiers.None)
{
    public static KeyEvent Printable(char c) => new(KeyCode.Char, c);
    public static KeyEvent Control(char letter) => new(KeyCode.Ctrl, char.ToLowerInvariant(letter));
    public bool Shift => Modifiers.HasFlag(KeyModifiers.Shift);

    public override string ToString() => Code switch
    {
        KeyCode.Char => Modifiers.HasFlag(KeyModifiers.Alt) ? $"Alt+{Char}" : Char.ToString(),
        KeyCode.Ctrl => $"Ctrl+{char.ToUpperInvariant(Char)}",
        _ => Modifiers == KeyModifiers.None ? Code.ToString() : $"{Modifiers}+{Code}",
    };

    /// <summary>Terminal.Gui's key as ours, or null for keys the app has no use for (lone modifiers, Alt+Ctrl chords).</summary>
    public static KeyEvent? From(Terminal.Gui.Input.Key key)
    {
        var mods = (key.IsShift ? KeyModifiers.Shift : 0) | (key.IsAlt ? KeyModifiers.Alt : 0) | (key.IsCtrl ? KeyModifiers.Ctrl : 0);
        var bare = key.KeyCode & ~(Gui.KeyCode.ShiftMask | Gui.KeyCode.AltMask | Gui.KeyCode.CtrlMask);
        KeyCode? special = bare switch
        {
            Gui.KeyCode.Enter => KeyCode.Enter, Gui.KeyCode.Tab => KeyCode.Tab, Gui.KeyCode.Backspace => KeyCode.Backspace,
            Gui.KeyCode.Esc => KeyCode.Escape, Gui.KeyCode.CursorUp => KeyCode.Up, Gui.KeyCode.CursorDown => KeyCode.Down,
            Gui.KeyCode.CursorLeft => KeyCode.Left, Gui.KeyCode.CursorRight => KeyCode.Right, Gui.KeyCode.Home => KeyCode.Home,
            Gui.KeyCode.End => KeyCode.End, Gui.KeyCode.PageUp => KeyCode.PageUp, Gui.KeyCode.PageDown => KeyCode.PageDown,
            Gui.KeyCode.Insert => KeyCode.Insert, Gui.KeyCode.Delete => KeyCode.Delete,
            >= Gui.KeyCode.F1 and <= Gui.KeyCode.F12 => KeyCode.F1 + (int)(bare - Gui.KeyCode.F1),
            _ => null,
        };
        if (special is { } s) return new KeyEvent(s, '\0', mods);
        if (key.IsCtrl && !key.IsAlt)
        {
            // Ctrl+letter (Terminal.Gui reports the letter's code with the Ctrl mask).
            if (bare is >= Gui.KeyCode.A and <= Gui.KeyCode.Z) return Control((char)('a' + (bare - Gui.KeyCode.A)));
            return null;
        }
        var rune = key.AsRune;
        if (rune.Value is < 0x20 or 0x7F || rune.Value > 0xFFFF) return null;
        return new KeyEvent(KeyCode.Char, (char)rune.Value, key.IsAlt ? KeyModifiers.Alt : KeyModifiers.None);
    }
}
