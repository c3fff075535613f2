using Lab.Shared.Wire;
using Lab.TuiClient.Terminal;

namespace Lab.TuiClient.App;

/// <summary>A rectangle of the screen a pane draws into.</summary>
public readonly record struct Rect(int X, int Y, int Width, int Height)
{
    public bool IsEmpty => Width <= 0 || Height <= 0;
}

/// <summary>The panes: each draws a part of the mirror into a rectangle of the screen buffer.</summary>
public static class Panes
{
    public const byte Grey = 7, White = 15, Black = 0, Cyan = 11, Yellow = 14, Red = 12;

    /// <summary>A frame line with a title; returns the inner rectangle.</summary>
    public static Rect Box(ScreenBuffer buf, Rect r, string title, bool focused)
    {
        if (r.IsEmpty) return r;
        byte color = focused ? Yellow : Grey;
        buf.Fill(r.X, r.Y, r.Width, 1, new Cell('─', color, Cell.DefaultColor));
        buf.Write(r.X + 1, r.Y, $" {title} ", focused ? Black : White, focused ? Yellow : Cell.DefaultColor, maxWidth: r.Width - 2);
        return new Rect(r.X, r.Y + 1, r.Width, r.Height - 1);
    }

    /// <summary>The CGA screen with its exact characters and colours (code page 437).</summary>
    public static void Cga(ScreenBuffer buf, Rect r, SessionMirror m)
    {
        lock (m.SyncRoot)
        {
            for (int row = 0; row < Math.Min(25, r.Height); row++)
                for (int col = 0; col < Math.Min(80, r.Width); col++)
                    buf[r.X + col, r.Y + row] = Cell.FromCga(m.Screen[row * 80 + col]);
        }
    }

    /// <summary>The owner character and colour WeensyOS uses for a page (K kernel, R reserved, . free,
    /// 1-9A-F pids; larger POSIX pids use their last base-36 digit, the detail line says which).</summary>
    public static Cell PageCell(int owner, int refcount)
    {
        if (refcount == 0) return new Cell('.', Grey, Black);
        if (owner == -2) return new Cell('K', 13, Black);
        if (owner == -1) return new Cell('R', Grey, Black);
        if (owner <= 0) return new Cell('?', Red, Black);
        byte[] colors = [12, 10, 9, 14, 15];
        int digit = owner < 36 ? owner : owner % 36;
        char ch = digit < 10 ? (char)('0' + digit) : (char)('A' + digit - 10);
        byte color = colors[(owner - 1) % 5];
        if (refcount > 1) color &= 7;   // shared pages are drawn dim, as in WeensyOS
        return new Cell(ch, color, Black);
    }

    /// <summary>
    /// Physical memory from pageinfo, 64 cells per row; the selected cell is detailed on the last line.
    /// A WeensyOS machine (512 pages) gets a cell per page. A POSIX machine has thousands of pages: each
    /// cell then stands for several (a power of two, as few as fit the pane), drawn as its most common
    /// owner, dim when any page in it is shared, '.' only when all are free.
    /// Returns the number of cells (the range of the selection).
    /// </summary>
    public static int Memory(ScreenBuffer buf, Rect r, SessionMirror m, int selected)
    {
        byte[] pages, wide;
        lock (m.SyncRoot) (pages, wide) = (m.Pages.ToArray(), m.WidePages.ToArray());
        if (wide.Length > 0) return WideMemory(buf, r, wide, selected);
        int count = pages.Length / 2;
        if (count == 0) { buf.Write(r.X, r.Y, "(no page information yet)", Grey); return 1; }
        string? detail = null;
        if (selected >= 0 && selected < count)
        {
            sbyte owner = (sbyte)pages[2 * selected];
            byte refs = pages[2 * selected + 1];
            string who = OwnerName(owner, refs);
            detail = $"page 0x{selected * 4096:X6}  owner {who}  refcount {refs}  (arrows move)";
        }
        PageGrid(buf, r, count, p => PageCell((sbyte)pages[2 * p], pages[2 * p + 1]), selected, detail, row => $"0x{row * 64 * 4096:X6}");
        return count;
    }

    /// <summary>How many pages one cell shows so that <paramref name="pages"/> fit <paramref name="rows"/> rows of 64.</summary>
    public static int PagesPerCell(int pages, int rows)
    {
        int perCell = 1;
        while ((long)perCell * 64 * Math.Max(1, rows) < pages) perCell *= 2;
        return perCell;
    }

    private static int WideMemory(ScreenBuffer buf, Rect r, byte[] wide, int selected)
    {
        int count = wide.Length / FrameCodec.WidePageSize;
        int perCell = PagesPerCell(count, r.Height - 2);   // a title line and a detail line besides the rows
        int cells = (count + perCell - 1) / perCell;
        Cell CellOf(int cell)
        {
            var owners = new Dictionary<int, int>();
            bool shared = false;
            for (int p = cell * perCell; p < Math.Min(count, (cell + 1) * perCell); p++)
            {
                var (owner, refs) = FrameCodec.WidePage(wide, p);
                if (refs == 0) continue;
                owners[owner] = owners.GetValueOrDefault(owner) + 1;
                shared |= refs > 1;
            }
            if (owners.Count == 0) return PageCell(0, 0);
            int top = owners.MaxBy(kv => kv.Value).Key;
            return PageCell(top, shared ? 2 : 1);
        }
        string? detail = null;
        if (selected >= 0 && selected < cells)
        {
            var owners = new Dictionary<string, (int Pages, int Shared)>();
            int first = selected * perCell, last = Math.Min(count, first + perCell) - 1;
            for (int p = first; p <= last; p++)
            {
                var (owner, refs) = FrameCodec.WidePage(wide, p);
                string who = OwnerName(owner, refs);
                var (n, sh) = owners.GetValueOrDefault(who);
                owners[who] = (n + 1, sh + (refs > 1 ? 1 : 0));
            }
            string parts = string.Join(", ", owners.OrderByDescending(kv => kv.Value.Pages)
                .Select(kv => $"{kv.Key} ×{kv.Value.Pages}{(kv.Value.Shared > 0 ? $" ({kv.Value.Shared} shared)" : "")}"));
            string range = perCell == 1 ? $"page 0x{(long)first * 4096:X7}" : $"0x{(long)first * 4096:X7}-0x{(long)(last + 1) * 4096 - 1:X7}";
            var (firstOwner, firstRefs) = FrameCodec.WidePage(wide, first);
            detail = perCell == 1 && last == first
                ? $"{range}  owner {OwnerName(firstOwner, firstRefs)}  refcount {firstRefs}"
                : $"{range} ({last - first + 1} pages): {parts}";
        }
        PageGrid(buf, r, cells, CellOf, selected, detail, row => $"0x{(long)row * 64 * perCell * 4096:X7}", labelWidth: 10,
            title: $"{count} pages ({count / 256} MiB), {perCell} page{(perCell == 1 ? "" : "s")} per cell");
        return cells;
    }

    /// <summary>A pageinfo owner in words (refcount 0 means free whatever the owner says).</summary>
    private static string OwnerName(int owner, int refcount) =>
        refcount == 0 ? "free" : owner switch { -2 => "kernel", -1 => "reserved", 0 => "unowned", _ => $"pid {owner}" };

    /// <summary>
    /// Draws cells 64 to a row (a row label, then one cell each, the selected one in reverse video)
    /// and the selected cell's description on the line below: WeensyOS's layout, shared by the
    /// physical and the virtual map. Rows scroll so the selection stays in view.
    /// </summary>
    private static void PageGrid(ScreenBuffer buf, Rect r, int count, Func<int, Cell> cellOf, int selected, string? detail,
        Func<int, string> rowLabel, int labelWidth = 9, string? title = null, Func<int, byte>? labelColor = null)
    {
        int perRow = 64, rows = (count + perRow - 1) / perRow;
        int top = title != null ? 1 : 0;
        if (title != null) buf.Write(r.X, r.Y, title, Grey, maxWidth: r.Width);
        int visible = Math.Max(0, r.Height - 1 - top);
        int first = selected >= 0 ? Math.Clamp(selected / perRow - visible + 1, 0, Math.Max(0, rows - visible)) : 0;
        for (int i = 0; i < Math.Min(rows - first, visible); i++)
        {
            int row = first + i;
            buf.Write(r.X, r.Y + top + i, rowLabel(row), labelColor?.Invoke(row) ?? White, maxWidth: labelWidth);
            for (int c = 0; c < perRow && row * perRow + c < count; c++)
            {
                int p = row * perRow + c;
                var cell = cellOf(p);
                if (p == selected) cell = cell with { Style = CellStyle.Reverse };
                if (labelWidth + c < r.Width) buf[r.X + labelWidth + c, r.Y + top + i] = cell;
            }
        }
        if (detail != null) buf.Write(r.X, r.Y + top + Math.Min(rows - first, visible), detail, Cyan, maxWidth: r.Width);
    }

    /// <summary>The shared debugger: why it stopped and who acted, registers, disassembly at rip, the last output, breakpoints.</summary>
    public static void Debugger(ScreenBuffer buf, Rect r, SessionMirror m)
    {
        var d = m.Debugger;
        if (d == null)
        {
            buf.Write(r.X, r.Y, "no debugger activity yet: try :break fork, :step 10, :regs, :walk 0x100000", Grey, maxWidth: r.Width);
            return;
        }
        int y = r.Y, bottom = r.Y + r.Height;
        buf.Write(r.X, y++, $"{(d.Stopped ? "STOPPED" : "running")} · {d.Reason}{(d.By.Length > 0 ? $" · by {d.By}" : "")} · pid {d.Pid} · tick {d.Tick}", d.Stopped ? Red : Cyan, maxWidth: r.Width);
        for (int i = 0; i + 1 < d.Registers.Length && y < bottom; i += 4)
        {
            var parts = Enumerable.Range(i, Math.Min(4, d.Registers.Length - i))
                .Select(k => $"{DebuggerState.RegisterNames[k],-6}{d.Registers[k]:x16}");
            buf.Write(r.X, y++, string.Join(" ", parts), Grey, maxWidth: r.Width);
        }
        foreach (var line in d.Disassembly)
        {
            if (y >= bottom) return;
            buf.Write(r.X, y++, line, line.StartsWith("=>") ? Yellow : Grey, maxWidth: r.Width);
        }
        foreach (var line in d.Output)
        {
            if (y >= bottom) return;
            buf.Write(r.X, y++, line, White, maxWidth: r.Width);
        }
        if (d.Breakpoints.Length > 0 && y < bottom)
            buf.Write(r.X, y, "breakpoints: " + string.Join("; ", d.Breakpoints), 10, maxWidth: r.Width);
    }

    /// <summary>
    /// A process's virtual address space as WeensyOS draws it: 64 pages per row, owner characters,
    /// reverse video for user-accessible pages, dim for shared ones, blank when unmapped; the selected
    /// page's owner, refcount and permissions on the last line. A POSIX process's map holds only the
    /// rows it maps (text and heap low, the stack near the top of the 47-bit space); a row whose
    /// address does not follow the one above is labelled in cyan (a gap). Returns the page count.
    /// </summary>
    public static int VirtualMemory(ScreenBuffer buf, Rect r, SessionMirror m, int pid, int selected)
    {
        var map = m.VirtualMap;
        if (map == null || map.Pid != pid)
        {
            buf.Write(r.X, r.Y, $"(waiting for pid {pid}'s virtual map; :pmap shows physical memory)", Grey, maxWidth: r.Width);
            return 1;
        }
        string? detail = null;
        if (selected >= 0 && selected < map.PageCount)
        {
            var (owner, refs, perm) = map[selected];
            string who = perm == 0 ? "not mapped" : OwnerName(owner, refs);
            string bits = perm == 0 ? "" : $"  perm {((perm & 1) != 0 ? "P" : "-")}{((perm & 2) != 0 ? "W" : "-")}{((perm & 4) != 0 ? "U" : "-")}";
            detail = $"va 0x{map.AddressOf(selected):X6}  {who}  refcount {refs}{bits}";
        }
        bool sparse = map.RowStarts != null;
        int labelWidth = sparse ? 15 : 9;
        PageGrid(buf, r, map.PageCount, p =>
        {
            var (owner, refs, perm) = map[p];
            if (perm == 0) return new Cell(' ', Black, Black);
            var cell = PageCell(owner, refs);
            // User-accessible pages in reverse video, as WeensyOS draws them.
            return (perm & 4) != 0 ? cell with { Foreground = cell.Background, Background = cell.Foreground } : cell;
        }, selected, detail, row => $"0x{map.AddressOf(row * 64):X6}", labelWidth,
            labelColor: row => sparse && row > 0 && map.AddressOf(row * 64) != map.AddressOf(row * 64 - 64) + 64 * 4096 ? Cyan : White);
        return map.PageCount;
    }

    public static void Processes(ScreenBuffer buf, Rect r, SessionMirror m)
    {
        buf.Write(r.X, r.Y, $"{"PID",4} {"PARENT",6} {"STATE",-9} {"PAGES",5} NAME", White, maxWidth: r.Width);
        var rows = m.Processes;
        int room = r.Height - 1, shown = rows.Length <= room ? rows.Length : Math.Max(0, room - 1);
        if (shown < rows.Length) buf.Write(r.X, r.Y + r.Height - 1, $"… and {rows.Length - shown} more processes (:ps lists all)", Grey, maxWidth: r.Width);
        for (int i = 0; i < shown; i++)
        {
            var p = rows[i];
            byte color = p.State == "broken" ? Red : Grey;
            buf.Write(r.X, r.Y + 1 + i, $"{p.Pid,4} {(p.Parent == 0 ? "-" : p.Parent.ToString()),6} {p.State,-9} {p.Pages,5} {p.Name}", color, maxWidth: r.Width);
        }
    }

    public static void Participants(ScreenBuffer buf, Rect r, SessionMirror m)
    {
        var list = m.Participants;
        for (int i = 0; i < Math.Min(list.Length, r.Height); i++)
        {
            var p = list[i];
            byte color = p.Role switch { Role.Instructor => Yellow, Role.Driver => 10, _ => Grey };
            // The id first: `grant p3` names exactly this participant, whatever the names look like.
            buf.Write(r.X, r.Y + i, $"{p.Id,-3} {p.Name} ({p.Role.ToString().ToLowerInvariant()})", color, maxWidth: r.Width);
        }
    }

    /// <summary>The newest events that pass the filter, newest at the bottom.</summary>
    public static void Events(ScreenBuffer buf, Rect r, SessionMirror m, EventFilter filter)
    {
        var shown = m.Events.Where(filter.Matches).TakeLast(r.Height).ToArray();
        for (int i = 0; i < shown.Length; i++)
        {
            var e = shown[i];
            byte color = e.Kind switch { EventKind.Fault => Red, EventKind.Fork => 10, EventKind.Exit => 9, EventKind.Action => Cyan, _ => Grey };
            buf.Write(r.X, r.Y + i, $"{e.Tick,6} {e.Kind,-8} {e.Text}", color, maxWidth: r.Width);
        }
    }
}

/// <summary>Which events the log shows: all, one pid, or one kind.</summary>
public sealed record EventFilter(int? Pid = null, EventKind? Kind = null)
{
    public bool Matches(LabEvent e) => (Pid is null || e.Pid == Pid) && (Kind is null || e.Kind == Kind);
    public override string ToString() => Pid is { } p ? $"pid {p}" : Kind is { } k ? k.ToString().ToLowerInvariant() : "all";
}
