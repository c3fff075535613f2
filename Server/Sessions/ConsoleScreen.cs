namespace Lab.Server.Sessions;

/// <summary>
/// The POSIX profile's console as a text screen: what programs write to descriptors 1 and 2 (and the
/// echo of typed input) laid out on 80×25 CGA cells, as a plain terminal would: newline, carriage
/// return, backspace and tabs move the cursor, long lines wrap, the screen scrolls. ANSI escape
/// sequences are skipped (the screen has no colours to set). The cursor cell is drawn in reverse
/// video so everyone sees where typing goes.
/// </summary>
public sealed class ConsoleScreen
{
    public const int Columns = 80, Rows = 25;
    private const ushort Blank = 0x0720;          // space, grey on black
    private const byte Attribute = 0x07, CursorAttribute = 0x70;

    private readonly ushort[] _cells = new ushort[Columns * Rows];
    private int _row, _col;
    private EscapeState _escape;

    private enum EscapeState : byte { None, Escape, Csi }

    public ConsoleScreen() => Array.Fill(_cells, Blank);

    public int CursorRow => _row;
    public int CursorColumn => _col;

    /// <summary>Writes bytes as a terminal shows them.</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) Put(b);
    }

    public void Write(string text) => Write(System.Text.Encoding.UTF8.GetBytes(text));

    private void Put(byte b)
    {
        switch (_escape)
        {
            case EscapeState.Escape:
                _escape = b == '[' ? EscapeState.Csi : EscapeState.None;
                return;
            case EscapeState.Csi:
                if (b is >= 0x40 and <= 0x7E) _escape = EscapeState.None;   // the final byte ends the sequence
                return;
        }
        switch (b)
        {
            case 0x1b: _escape = EscapeState.Escape; return;
            case (byte)'\n': NewLine(); return;
            case (byte)'\r': _col = 0; return;
            case (byte)'\b': if (_col > 0) _col--; return;
            case (byte)'\t':
                for (int spaces = 8 - _col % 8; spaces > 0; spaces--) Put((byte)' ');
                return;
            case < 0x20 or 0x7f: return;          // other control characters show nothing
        }
        if (_col >= Columns) NewLine();
        _cells[_row * Columns + _col] = (ushort)(b | Attribute << 8);
        _col++;
    }

    private void NewLine()
    {
        _col = 0;
        if (++_row < Rows) return;
        Array.Copy(_cells, Columns, _cells, 0, Columns * (Rows - 1));
        Array.Fill(_cells, Blank, Columns * (Rows - 1), Columns);
        _row = Rows - 1;
    }

    /// <summary>The screen with the cursor shown.</summary>
    public void CopyTo(Span<ushort> cells)
    {
        _cells.CopyTo(cells);
        int at = _row * Columns + Math.Min(_col, Columns - 1);
        cells[at] = (ushort)((cells[at] & 0xff) | CursorAttribute << 8);
    }

    /// <summary>Screen contents and cursor, for session snapshots.</summary>
    public void Save(BinaryWriter w)
    {
        foreach (ushort c in _cells) w.Write(c);
        w.Write(_row);
        w.Write(_col);
    }

    public void Restore(BinaryReader r)
    {
        var cells = new ushort[_cells.Length];
        for (int i = 0; i < cells.Length; i++) cells[i] = r.ReadUInt16();
        int row = r.ReadInt32(), col = r.ReadInt32();
        if (row is < 0 or >= Rows || col is < 0 or > Columns) throw new InvalidDataException("console cursor out of range");
        cells.CopyTo(_cells, 0);
        (_row, _col, _escape) = (row, col, EscapeState.None);
    }
}
