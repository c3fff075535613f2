namespace Lab.TuiClient.App;

/// <summary>
/// Scrollback for the POSIX console: the server sends the 80x25 screen, and lines that scroll off its
/// top are kept here, as a terminal keeps them. After each frame, <see cref="Update"/> compares the new
/// screen with the last one: when the new screen's top rows are the old screen's rows moved up by n
/// (the console scrolled n lines), the old top n rows join the scrollback. A cleared or redrawn screen
/// (no such shift) adds nothing.
/// </summary>
public sealed class ConsoleScrollback
{
    public const int Columns = 80, Rows = 25, MaxLines = 2000;
    private readonly List<ushort[]> _lines = new();
    private ushort[][]? _last;

    /// <summary>The scrolled-off lines, oldest first.</summary>
    public IReadOnlyList<ushort[]> Lines => _lines;

    /// <summary>Takes the current screen (80x25 CGA words); returns how many lines scrolled off.</summary>
    public int Update(ReadOnlySpan<ushort> screen)
    {
        var rows = new ushort[Rows][];
        for (int r = 0; r < Rows; r++) rows[r] = screen.Slice(r * Columns, Columns).ToArray();
        int scrolled = 0;
        if (_last != null && !Same(rows, _last, 0))
        {
            // The smallest shift that explains the new screen (at least the top half of it must match,
            // so a mostly redrawn screen is not taken for a scroll).
            for (int n = 1; n <= Rows / 2; n++)
                if (Same(rows, _last, n)) { scrolled = n; break; }
            for (int r = 0; r < scrolled; r++) _lines.Add(_last[r]);
            if (_lines.Count > MaxLines) _lines.RemoveRange(0, _lines.Count - MaxLines);
        }
        _last = rows;
        return scrolled;
    }

    /// <summary>Whether rows 0..Rows-n-1 of the new screen, except the last changed row, are rows n.. of the old
    /// one. The bottom row of the new screen may differ (new output); the compared rows must not all be blank.</summary>
    private static bool Same(ushort[][] now, ushort[][] before, int n)
    {
        bool content = false;
        for (int r = 0; r + n < Rows - 1; r++)
        {
            if (!now[r].AsSpan().SequenceEqual(before[r + n])) return false;
            content |= now[r].Any(w => (w & 0xFF) is not (0 or 0x20));
        }
        return n == 0 || content;
    }

    /// <summary>Scrollback then the screen: what the console pane scrolls through.</summary>
    public IReadOnlyList<ushort[]> WithScreen() => _last is null ? _lines : [.. _lines, .. _last];
}
