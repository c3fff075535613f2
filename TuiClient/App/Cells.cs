namespace Lab.TuiClient.App;

/// <summary>Text attributes of a cell besides its colours.</summary>
[Flags]
public enum CellStyle : byte
{
    None = 0,
    Bold = 1,
    Underline = 2,
    Reverse = 4,
}

/// <summary>
/// One character cell: a character and its colours. Colours are CGA palette indices 0..15
/// (the WeensyOS screen's own palette) or <see cref="DefaultColor"/> for the terminal's default.
/// </summary>
public readonly record struct Cell(char Char, byte Foreground, byte Background, CellStyle Style = CellStyle.None)
{
    public const byte DefaultColor = 0xFF;
    public static readonly Cell Blank = new(' ', DefaultColor, DefaultColor);

    /// <summary>A cell from a CGA text-mode word: low byte character (code page 437), high byte attribute.</summary>
    public static Cell FromCga(ushort word)
    {
        byte ch = (byte)word, attr = (byte)(word >> 8);
        return new Cell(CodePage437.ToChar(ch), (byte)(attr & 0x0F), (byte)(attr >> 4));
    }
}

/// <summary>Code page 437 (the CGA character ROM) to Unicode.</summary>
public static class CodePage437
{
    private const string High =
        "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀" +
        "αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00A0";
    private const string Low = "\u0020☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼";

    public static char ToChar(byte b) => b switch
    {
        < 0x20 => Low[b],
        < 0x7F => (char)b,
        0x7F => '⌂',
        _ => High[b - 0x80],
    };
}

/// <summary>
/// Where a pane draws: a rectangle of cells, a <see cref="CellGrid"/> (which a <see cref="PaneView"/>
/// copies to the terminal, and tests read) or a <see cref="SubCanvas"/> of one. Drawing outside is
/// clipped, never an error.
/// </summary>
public interface ICanvas
{
    int Width { get; }
    int Height { get; }
    void Put(int x, int y, Cell cell);
}

/// <summary>Text and fills on any canvas.</summary>
public static class CanvasDrawing
{
    /// <summary>Writes text from (x, y), clipped at <paramref name="maxWidth"/> columns and the canvas edge;
    /// control characters show as spaces. Returns the columns written.</summary>
    public static int Write(this ICanvas canvas, int x, int y, ReadOnlySpan<char> text, byte fg = Cell.DefaultColor,
        byte bg = Cell.DefaultColor, CellStyle style = CellStyle.None, int maxWidth = int.MaxValue)
    {
        int n = 0;
        foreach (char c in text)
        {
            if (n >= maxWidth || x + n >= canvas.Width) break;
            canvas.Put(x + n, y, new Cell(char.IsControl(c) ? ' ' : c, fg, bg, style));
            n++;
        }
        return n;
    }

    /// <summary>Fills a rectangle (clipped) with one cell.</summary>
    public static void Fill(this ICanvas canvas, int x, int y, int width, int height, Cell cell)
    {
        for (int row = Math.Max(0, y); row < Math.Min(canvas.Height, y + height); row++)
            for (int col = Math.Max(0, x); col < Math.Min(canvas.Width, x + width); col++)
                canvas.Put(col, row, cell);
    }
}

/// <summary>A canvas in memory: what tests read, row by row.</summary>
public sealed class CellGrid(int width, int height) : ICanvas
{
    private readonly Cell[] _cells = Enumerable.Repeat(Cell.Blank, Math.Max(0, width) * Math.Max(0, height)).ToArray();

    public int Width { get; } = Math.Max(0, width);
    public int Height { get; } = Math.Max(0, height);

    public Cell this[int x, int y] => (uint)x < (uint)Width && (uint)y < (uint)Height ? _cells[y * Width + x] : Cell.Blank;

    public void Put(int x, int y, Cell cell)
    {
        if ((uint)x < (uint)Width && (uint)y < (uint)Height) _cells[y * Width + x] = cell;
    }

    /// <summary>The smallest rectangle holding every cell that differs from <paramref name="before"/> (a
    /// grid of the same size), or null when none does.</summary>
    public System.Drawing.Rectangle? ChangedBounds(CellGrid before)
    {
        int left = Width, top = Height, right = -1, bottom = -1;
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
                if (_cells[y * Width + x] != before._cells[y * Width + x])
                {
                    (left, right) = (Math.Min(left, x), Math.Max(right, x));
                    (top, bottom) = (Math.Min(top, y), Math.Max(bottom, y));
                }
        return right < 0 ? null : new System.Drawing.Rectangle(left, top, right - left + 1, bottom - top + 1);
    }

    /// <summary>The characters of one row.</summary>
    public string RowText(int y) => new(Enumerable.Range(0, Width).Select(x => this[x, y].Char).ToArray());

    /// <summary>Every row, trailing spaces trimmed, joined with newlines.</summary>
    public string Text() => string.Join("\n", Enumerable.Range(0, Height).Select(y => RowText(y).TrimEnd()));
}
