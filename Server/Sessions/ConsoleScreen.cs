namespace Lab.Server.Sessions;

/// <summary>
/// The POSIX profile's console as a text screen: what programs write to descriptors 1 and 2 (and the
/// echo of typed input) laid out on 80×25 CGA cells, as a plain terminal would: newline, carriage
/// return, backspace and tabs move the cursor, long lines wrap, the screen scrolls. The VT100 cursor
/// and erase sequences line editors use to redraw (busybox sh's history and cursor keys) are
/// followed: CSI n A/B/C/D (up, down, right, left), CSI n G (column), CSI r;c H or f (position),
/// CSI n K (erase in line), CSI n J (erase in display); other escape sequences (colours, modes) are
/// skipped. The cursor cell is drawn in reverse video so everyone sees where typing goes.
/// </summary>
public sealed class ConsoleScreen
{
    public const int Columns = 80, Rows = 25;
    private const ushort Blank = 0x0720;          // space, grey on black
    private const byte Attribute = 0x07, CursorAttribute = 0x70;

    private readonly ushort[] _cells = new ushort[Columns * Rows];
    private int _row, _col;
    private EscapeState _escape;
    // a CSI sequence's numeric parameters so far (at most two are used; more are ignored)
    private int _param0, _param1, _params;
    private bool _privateCsi;

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
                (_param0, _param1, _params, _privateCsi) = (0, 0, 0, false);
                return;
            case EscapeState.Csi:
                if (b is >= (byte)'0' and <= (byte)'9')
                {
                    if (_params == 0) _params = 1;
                    if (_params == 1) _param0 = Math.Min(_param0 * 10 + (b - '0'), 9999);
                    else if (_params == 2) _param1 = Math.Min(_param1 * 10 + (b - '0'), 9999);
                }
                else if (b == ';') _params = Math.Max(_params, 1) + 1;
                else if (b is (byte)'?' or (byte)'>' or (byte)'=') _privateCsi = true;
                else if (b is >= 0x40 and <= 0x7E)          // the final byte ends the sequence
                {
                    _escape = EscapeState.None;
                    if (!_privateCsi) Csi((char)b);
                }
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

    /// <summary>Carries out a finished CSI sequence (parameters in _param0/_param1; 0 or absent means
    /// the default, 1 for moves).</summary>
    private void Csi(char final)
    {
        int n = Math.Max(1, _param0);
        switch (final)
        {
            case 'A': _row = Math.Max(0, _row - n); break;
            case 'B': _row = Math.Min(Rows - 1, _row + n); break;
            case 'C': _col = Math.Min(Columns - 1, _col + n); break;
            case 'D': _col = Math.Max(0, Math.Min(_col, Columns - 1) - n); break;
            case 'G': _col = Math.Min(Columns - 1, n - 1); break;
            case 'H' or 'f':
                _row = Math.Min(Rows - 1, Math.Max(1, _param0) - 1);
                _col = Math.Min(Columns - 1, Math.Max(1, _param1) - 1);
                break;
            case 'K':
                {
                    int line = _row * Columns, col = Math.Min(_col, Columns);
                    if (_param0 == 0) Array.Fill(_cells, Blank, line + col, Columns - col);
                    else if (_param0 == 1) Array.Fill(_cells, Blank, line, Math.Min(col + 1, Columns));
                    else Array.Fill(_cells, Blank, line, Columns);
                    break;
                }
            case 'J':
                {
                    int at = _row * Columns + Math.Min(_col, Columns);
                    if (_param0 == 0) Array.Fill(_cells, Blank, at, _cells.Length - at);
                    else if (_param0 == 1) Array.Fill(_cells, Blank, 0, Math.Min(at + 1, _cells.Length));
                    else Array.Fill(_cells, Blank);
                    break;
                }
        }
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
