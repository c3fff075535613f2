using System.Runtime.InteropServices;
using Lab.Kernel.Common;
using Lab.Kernel.Weensy.Memory;
using Lab.Machine;

namespace Lab.Kernel.Weensy.Core;

/// <summary>Console geometry and the memory-map glyphs (WEENSYOS.md §3).</summary>
public static class Display
{
    public const int Columns = 80;
    public const int Rows = 25;
    public const int Cells = Columns * Rows;

    /// <summary>Cell index of (row, column).</summary>
    public static int Cpos(int row, int col) => row * Columns + col;

    private const string PidChars = "123456789ABCDEF";
    private static ReadOnlySpan<byte> PidColors => [0x0C, 0x0A, 0x09, 0x0E, 0x0F];

    /// <summary>
    /// The cell for a page with this owner and refcount (refcount 0 shows as free): 'K' light
    /// magenta, 'R' grey, '.' grey, pids 1-9 A-F cycling red, green, blue, yellow, white.
    /// </summary>
    public static ushort OwnerCell(int owner, int refcount) =>
        refcount == 0 ? OwnerCells[PageInfo.Free + 128] : (uint)(owner + 128) < 256 ? OwnerCells[owner + 128] : CellOf(owner);

    /// <summary><see cref="OwnerCell"/> for every sbyte owner, computed once: the memory views look up
    /// hundreds of pages on each trap.</summary>
    private static readonly ushort[] OwnerCells = Enumerable.Range(-128, 256).Select(CellOf).ToArray();

    private static ushort CellOf(int owner)
    {
        (char ch, byte attr) = owner switch
        {
            PageInfo.KernelOwner => ('K', (byte)0x0D),
            PageInfo.Reserved => ('R', (byte)0x07),
            PageInfo.Free => ('.', (byte)0x07),
            >= 1 and <= 15 => (PidChars[owner - 1], PidColors[(owner - 1) % 5]),
            _ => ('?', (byte)0x07),
        };
        return (ushort)(ch | attr << 8);
    }

    /// <summary>Swaps foreground and background (reverse video for user-accessible pages).</summary>
    public static ushort Reverse(ushort cell) =>
        (ushort)((cell & 0x00FF) | ((cell & 0x0F00) << 4) | ((cell & 0xF000) >> 4));

    /// <summary>Clears the bright bits (shared pages, refcount &gt; 1).</summary>
    public static ushort Dim(ushort cell) => (ushort)(cell & 0x77FF);
}

/// <summary>Plumbing: the CGA console and the memory views.</summary>
public sealed partial class WeensyKernel
{
    private int _showing = 1;      // memshow_virtual_animate statics: survive a soft reboot
    private ulong _lastTicks;

    /// <summary>console_clear: every cell a grey space, cursor at 0.</summary>
    private void ConsoleClear()
    {
        Span<ushort> cells = stackalloc ushort[Display.Cells];
        cells.Fill(0x0720);
        WriteCells(0, cells);
        _machine.Memory.WriteU32(new PhysAddr(Layout.CursorPos), 0);
    }

    private void WriteCells(int pos, ReadOnlySpan<ushort> cells) =>
        _machine.Memory.Write(new PhysAddr(Layout.Console + (ulong)pos * 2), MemoryMarshal.AsBytes(cells));

    /// <summary>
    /// console_printf: writes text at cell pos in attribute color (high byte); "\n" pads the row
    /// with spaces; past cell 1999 wraps to 0. Returns the next cell.
    /// </summary>
    [System.Runtime.CompilerServices.SkipLocalsInit]   // every cell is read from the screen first
    internal int ConsolePrintf(int pos, ushort color, string text)
    {
        Span<ushort> cells = stackalloc ushort[Display.Cells];
        _machine.Cga.CopyTo(cells);
        foreach (char c in text)
        {
            if (pos < 0 || pos >= Display.Cells) pos = 0;
            if (c == '\n')
            {
                do cells[pos++] = (ushort)(' ' | color);
                while (pos % Display.Columns != 0);
            }
            else cells[pos++] = (ushort)((byte)c | color);
        }
        WriteCells(0, cells);
        return pos;
    }

    private static void PutString(Span<ushort> cells, int pos, ushort color, string text)
    {
        foreach (char c in text) cells[pos++] = (ushort)((byte)c | color);
    }

    /// <summary>"0x000000 ", "0x040000 ", ...: the address label of each 64-page row (built once, not per redraw).</summary>
    private static readonly string[] RowLabels =
        Enumerable.Range(0, Layout.VirtualPages / 64).Select(r => $"0x{r * 64 << 12:X6} ").ToArray();

    /// <summary>memshow_physical: "PHYSICAL MEMORY" on row 0, then 64 pages per row on rows 1-8.</summary>
    [System.Runtime.CompilerServices.SkipLocalsInit]   // every cell is read from the screen first
    private void ShowPhysicalMemory()
    {
        Span<ushort> cells = stackalloc ushort[Display.Cpos(9, 0)];
        _machine.Memory.Read(new PhysAddr(Layout.Console), MemoryMarshal.AsBytes(cells));
        PutString(cells, Display.Cpos(0, 32), 0x0F00, "PHYSICAL MEMORY");
        for (int pn = 0; pn < Layout.PhysicalPages; pn++)
        {
            if (pn % 64 == 0)
                PutString(cells, Display.Cpos(1 + pn / 64, 3), 0x0F00, RowLabels[pn / 64]);
            ushort cell = Display.OwnerCell(Pages.Owner(pn), Pages.Refcount(pn));
            if (Pages.Refcount(pn) > 1) cell = Display.Dim(cell);
            cells[Display.Cpos(1 + pn / 64, 12 + pn % 64)] = cell;
        }
        WriteCells(0, cells);
    }

    /// <summary>
    /// memshow_virtual: row 10 names the process, rows 11-22 show its 768 virtual pages:
    /// blank if unmapped, else the owner of the physical page, reversed if user-accessible,
    /// dimmed if shared.
    /// </summary>
    [System.Runtime.CompilerServices.SkipLocalsInit]   // every cell is read from the screen first
    private void ShowVirtualMemory(Process p)
    {
        // Rows 10-22 only (read first: columns the view does not draw keep what is there).
        int first = Display.Cpos(10, 0);
        Span<ushort> cells = stackalloc ushort[Display.Cpos(23, 0) - first];
        _machine.Memory.Read(new PhysAddr(Layout.Console + (ulong)first * 2), MemoryMarshal.AsBytes(cells));
        PutString(cells, Display.Cpos(10, 26) - first, 0x0F00, VirtualTitles[p.Pid]);
        for (int r = 0; r < Layout.VirtualPages / 64; r++)
            PutString(cells, Display.Cpos(11 + r, 3) - first, 0x0F00, RowLabels[r]);
        var pages = Pages;
        ushort[] row = _vmCells;
        Array.Fill(row, (ushort)' ');
        Tables.ForEach(p.PageTable, new VirtAddr(0), new VirtAddr(Layout.MemSizeVirtual), (in Mapping m) =>
        {
            if (m.Pa.Value >= Layout.MemSizePhysical) return;   // WeensyOS asserts this cannot happen
            int pn = (int)m.Pa.PageNumber;
            ushort cell = Display.OwnerCell(pages.Owner(pn), pages.Refcount(pn));
            if (m.User) cell = Display.Reverse(cell);
            if (pages.Refcount(pn) > 1) cell = Display.Dim(cell);
            row[m.Va.PageNumber] = cell;
        });
        for (int vpn = 0; vpn < Layout.VirtualPages; vpn++)
            cells[Display.Cpos(11 + vpn / 64, 12 + vpn % 64) - first] = row[vpn];
        WriteCells(first, cells);
    }

    private static readonly string[] VirtualTitles =
        Enumerable.Range(0, Layout.NProc).Select(pid => $"VIRTUAL ADDRESS SPACE FOR {pid} ").ToArray();

    private readonly ushort[] _vmCells = new ushort[Layout.VirtualPages];

    /// <summary>
    /// The memory views, redrawn on every trap: memshow_physical, then
    /// memshow_virtual_animate. When neither pageinfo, page tables, process states nor the
    /// shown process changed, and rows 0-22 still hold exactly what was drawn last, a redraw
    /// would write the same cells, so it is skipped (a pure speed-up).
    /// </summary>
    private void ShowMemory()
    {
        AdvanceAnimation();
        if (_changes.Value == _drawnVersion && _showing == _drawnShowing && DrawnRowsIntact())
            return;
        ShowPhysicalMemory();
        if (_procs[_showing].State != ProcState.Free)
            ShowVirtualMemory(_procs[_showing]);
        DrawnRows().CopyTo(_drawnCells);
        _drawnVersion = _changes.Value;
        _drawnShowing = _showing;
    }

    /// <summary>Rows 0-22 of the CGA buffer as they are in guest RAM now (read in place: this runs on every trap).</summary>
    private ReadOnlySpan<ushort> DrawnRows() =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(
            _machine.Memory.View(Machine.Devices.CgaText.BufferAddress, _drawnCells.Length * sizeof(ushort)));

    /// <summary>True when no one (a user program, a stray store) changed rows 0-22 since they were drawn.</summary>
    private bool DrawnRowsIntact() => DrawnRows().SequenceEqual(_drawnCells);

    private ulong _drawnVersion = ulong.MaxValue;
    private int _drawnShowing = -1;
    private readonly ushort[] _drawnCells = new ushort[Display.Cpos(23, 0)];

    /// <summary>
    /// memshow_virtual_animate's choice of process: the next non-free slot every HZ/2 ticks (and,
    /// before the first tick, on every trap). Slot 0 is always skipped.
    /// </summary>
    private void AdvanceAnimation()
    {
        if (_lastTicks == 0 || _ticks - _lastTicks >= KernelOptions.Hz / 2)
        {
            _lastTicks = _ticks;
            ++_showing;
        }
        while (_showing <= 2 * Layout.NProc && _procs[_showing % Layout.NProc].State == ProcState.Free)
            ++_showing;
        _showing %= Layout.NProc;
    }

    /// <summary>The 2000 screen cells (attribute &lt;&lt; 8 | character).</summary>
    public ushort[] ScreenSnapshot()
    {
        var cells = new ushort[Display.Cells];
        _machine.Cga.CopyTo(cells);
        return cells;
    }
}
