namespace Lab.Machine.Devices;

/// <summary>
/// The CGA text buffer: 80x25 16-bit cells at physical 0xB8000 (low byte character, high byte
/// attribute, attribute low nibble foreground, high nibble background). The buffer is ordinary RAM,
/// so the guest writes it with plain stores; this class is the read-out view.
/// </summary>
public sealed class CgaText
{
    public const int Columns = 80;
    public const int Rows = 25;
    public const int Cells = Columns * Rows;
    public static readonly PhysAddr BufferAddress = new(0xB8000);

    private readonly PhysicalMemory _memory;

    internal CgaText(PhysicalMemory memory) => _memory = memory;

    /// <summary>True when RAM is large enough to hold the buffer.</summary>
    public bool IsPresent => _memory.Contains(BufferAddress, Cells * 2);

    /// <summary>The raw cell (attribute &lt;&lt; 8 | character) at row, column.</summary>
    public ushort this[int row, int column]
    {
        get
        {
            if ((uint)row >= Rows || (uint)column >= Columns) throw new ArgumentOutOfRangeException(nameof(row));
            return _memory.ReadU16(BufferAddress + (ulong)(2 * (row * Columns + column)));
        }
    }

    /// <summary>Copies all 2000 cells into <paramref name="cells"/>.</summary>
    public void CopyTo(Span<ushort> cells)
    {
        if (cells.Length < Cells) throw new ArgumentException("need 2000 cells", nameof(cells));
        _memory.Read(BufferAddress, System.Runtime.InteropServices.MemoryMarshal.AsBytes(cells[..Cells]));
    }

    /// <summary>The screen as 25 lines of plain text (characters only, code page 437 printable subset).</summary>
    public string[] ToTextLines()
    {
        Span<ushort> cells = stackalloc ushort[Cells];
        CopyTo(cells);
        var lines = new string[Rows];
        Span<char> line = stackalloc char[Columns];
        for (int r = 0; r < Rows; r++)
        {
            for (int c = 0; c < Columns; c++)
            {
                byte ch = (byte)cells[r * Columns + c];
                line[c] = ch >= 0x20 && ch < 0x7F ? (char)ch : ch == 0 ? ' ' : '?';
            }
            lines[r] = new string(line);
        }
        return lines;
    }
}
