using System.Text;

namespace Lab.TuiClient.Terminal;

/// <summary>How colours are written.</summary>
public enum ColorMode
{
    /// <summary>The 16 ANSI colours (works everywhere, including tmux with any TERM).</summary>
    Ansi16,
    /// <summary>24-bit colour with the exact CGA palette.</summary>
    TrueColor,
}

/// <summary>
/// Turns a <see cref="ScreenBuffer"/> into ANSI escape sequences, writing only the cells that differ
/// from the previous frame (so nothing flickers): a cursor move where a run of changes starts, an SGR
/// only when the colours change, then the characters. The first frame and a resize redraw everything.
/// </summary>
public sealed class AnsiRenderer
{
    // CGA palette order -> ANSI colour numbers (CGA 1 is blue, ANSI 4 is blue, ...).
    private static readonly byte[] CgaToAnsi = [0, 4, 2, 6, 1, 5, 3, 7];
    private static readonly (byte R, byte G, byte B)[] CgaRgb =
    [
        (0x00, 0x00, 0x00), (0x00, 0x00, 0xAA), (0x00, 0xAA, 0x00), (0x00, 0xAA, 0xAA),
        (0xAA, 0x00, 0x00), (0xAA, 0x00, 0xAA), (0xAA, 0x55, 0x00), (0xAA, 0xAA, 0xAA),
        (0x55, 0x55, 0x55), (0x55, 0x55, 0xFF), (0x55, 0xFF, 0x55), (0x55, 0xFF, 0xFF),
        (0xFF, 0x55, 0x55), (0xFF, 0x55, 0xFF), (0xFF, 0xFF, 0x55), (0xFF, 0xFF, 0xFF),
    ];

    private readonly ScreenBuffer _previous = new(0, 0);
    private bool _valid;

    public ColorMode Colors { get; set; } = ColorMode.Ansi16;

    /// <summary>Forgets the previous frame: the next render redraws everything (after a resize or an external clear).</summary>
    public void Invalidate() => _valid = false;

    /// <summary>Returns the escape sequences that bring the terminal from the previous frame to <paramref name="next"/>.</summary>
    public string Render(ScreenBuffer next)
    {
        var sb = new StringBuilder();
        bool full = !_valid || _previous.Width != next.Width || _previous.Height != next.Height;
        if (full) sb.Append("\e[0m\e[2J");
        (byte fg, byte bg, CellStyle style)? pen = null;
        int cursorX = -1, cursorY = -1;
        for (int y = 0; y < next.Height; y++)
        {
            for (int x = 0; x < next.Width; x++)
            {
                Cell c = next[x, y];
                if (!full && c == _previous[x, y]) continue;
                if (cursorY != y || cursorX != x) sb.Append("\e[").Append(y + 1).Append(';').Append(x + 1).Append('H');
                if (pen is not { } p || p.fg != c.Foreground || p.bg != c.Background || p.style != c.Style)
                {
                    AppendSgr(sb, c);
                    pen = (c.Foreground, c.Background, c.Style);
                }
                sb.Append(c.Char);
                cursorX = x + 1;
                cursorY = y;
            }
        }
        if (pen != null) sb.Append("\e[0m");
        _previous.CopyFrom(next);
        _valid = true;
        return sb.ToString();
    }

    private void AppendSgr(StringBuilder sb, Cell c)
    {
        sb.Append("\e[0");
        if ((c.Style & CellStyle.Bold) != 0) sb.Append(";1");
        if ((c.Style & CellStyle.Underline) != 0) sb.Append(";4");
        if ((c.Style & CellStyle.Reverse) != 0) sb.Append(";7");
        AppendColor(sb, c.Foreground, foreground: true);
        AppendColor(sb, c.Background, foreground: false);
        sb.Append('m');
    }

    private void AppendColor(StringBuilder sb, byte color, bool foreground)
    {
        if (color == Cell.DefaultColor) return;
        color &= 15;
        if (Colors == ColorMode.TrueColor)
        {
            var (r, g, b) = CgaRgb[color];
            sb.Append(foreground ? ";38;2;" : ";48;2;").Append(r).Append(';').Append(g).Append(';').Append(b);
            return;
        }
        int ansi = CgaToAnsi[color & 7];
        bool bright = color >= 8;
        int code = foreground ? (bright ? 90 : 30) + ansi : (bright ? 100 : 40) + ansi;
        sb.Append(';').Append(code);
    }
}
