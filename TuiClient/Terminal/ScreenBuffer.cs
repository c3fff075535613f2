namespace Lab.TuiClient.Terminal;

/// <summary>
/// A rectangle of cells that panes draw into. The renderer compares two buffers and writes only what
/// changed. Drawing outside the buffer is clipped, never an error (panes may be larger than the terminal).
/// </summary>
public sealed class ScreenBuffer
{
    private Cell[] _cells;

    public int Width { get; private set; }
    public int Height { get; private set; }

    public ScreenBuffer(int width, int height)
    {
        Width = Math.Max(0, width);
        Height = Math.Max(0, height);
        _cells = new Cell[Width * Height];
        Clear();
    }

    public Cell this[int x, int y]
    {
        get => (uint)x < (uint)Width && (uint)y < (uint)Height ? _cells[y * Width + x] : Cell.Blank;
        set
        {
            if ((uint)x < (uint)Width && (uint)y < (uint)Height) _cells[y * Width + x] = value;
        }
    }

    public void Resize(int width, int height)
    {
        Width = Math.Max(0, width);
        Height = Math.Max(0, height);
        _cells = new Cell[Width * Height];
        Clear();
    }

    public void Clear() => Array.Fill(_cells, Cell.Blank);

    /// <summary>Fills a rectangle (clipped) with one cell.</summary>
    public void Fill(int x, int y, int width, int height, Cell cell)
    {
        for (int row = Math.Max(0, y); row < Math.Min(Height, y + height); row++)
            for (int col = Math.Max(0, x); col < Math.Min(Width, x + width); col++)
                _cells[row * Width + col] = cell;
    }

    /// <summary>Writes text from (x, y), clipped at <paramref name="maxWidth"/> columns and the buffer edge. Returns the columns written.</summary>
    public int Write(int x, int y, ReadOnlySpan<char> text, byte fg = Cell.DefaultColor, byte bg = Cell.DefaultColor,
        CellStyle style = CellStyle.None, int maxWidth = int.MaxValue)
    {
        int n = 0;
        foreach (char c in text)
        {
            if (n >= maxWidth) break;
            char shown = char.IsControl(c) ? ' ' : c;
            this[x + n, y] = new Cell(shown, fg, bg, style);
            n++;
        }
        return n;
    }

    public void CopyFrom(ScreenBuffer other)
    {
        if (other.Width != Width || other.Height != Height) Resize(other.Width, other.Height);
        Array.Copy(other._cells, _cells, _cells.Length);
    }

    /// <summary>The characters of one row (for tests and plain-text output).</summary>
    public string RowText(int y)
    {
        var chars = new char[Width];
        for (int x = 0; x < Width; x++) chars[x] = this[x, y].Char;
        return new string(chars);
    }
}
