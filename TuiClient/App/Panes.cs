using Lab.Shared.Wire;

namespace Lab.TuiClient.App;

/// <summary>
/// The panes' contents: each draws a part of the mirror onto a canvas from its top-left corner. They
/// know nothing of Terminal.Gui (a <see cref="PaneView"/> draws them into a <see cref="CellGrid"/> and
/// copies what changed to the terminal; tests read such a grid), and the clickable ones say what is where.
/// </summary>
public static class Panes
{
    public const byte Grey = 7, White = 15, Black = 0, Cyan = 11, Yellow = 14, Red = 12, Green = 10;

    /// <summary>The CGA screen with its exact characters and colours (code page 437), from row
    /// <paramref name="firstRow"/> of the 25 (a terminal smaller than the screen scrolls it).</summary>
    public static void Cga(ICanvas c, SessionMirror m, int firstRow = 0)
    {
        lock (m.SyncRoot)
        {
            for (int y = 0; y < c.Height && firstRow + y < 25; y++)
                for (int x = 0; x < Math.Min(80, c.Width); x++)
                    c.Put(x, y, Cell.FromCga(m.Screen[(firstRow + y) * 80 + x]));
        }
    }

    /// <summary>The POSIX console: <paramref name="lines"/> (scrollback, then the screen), the last
    /// visible one <paramref name="fromBottom"/> lines above the newest (as far as the oldest line allows),
    /// line <paramref name="highlight"/> in reverse video.</summary>
    public static void Console(ICanvas c, IReadOnlyList<ushort[]> lines, int fromBottom, int highlight = -1)
    {
        int newest = NewestLine(lines, c.Height);
        int last = Math.Max(Math.Min(newest, c.Height - 1), newest - fromBottom), first = Math.Max(0, last - c.Height + 1);
        for (int y = 0; first + y <= last && y < c.Height; y++)
        {
            var row = lines[first + y];
            var style = first + y == highlight ? CellStyle.Reverse : CellStyle.None;   // the line `find` found
            for (int x = 0; x < Math.Min(row.Length, c.Width); x++) c.Put(x, y, Cell.FromCga(row[x]) with { Style = style });
        }
        if (fromBottom > 0)
        {
            string note = $" scrollback: {fromBottom} lines up · Shift+PgDn or wheel down returns ";
            c.Write(Math.Max(0, c.Width - note.Length), 0, note, Black, Yellow);
        }
    }

    /// <summary>The console's newest line: the last one with text (a 25-row screen shown in fewer rows
    /// keeps its written part, with the cursor, in view, as a shorter terminal would), but never one of
    /// the first <paramref name="rows"/>.</summary>
    public static int NewestLine(IReadOnlyList<ushort[]> lines, int rows)
    {
        int newest = lines.Count - 1;
        while (newest >= rows && lines[newest].All(w => (w & 0xFF) is 0 or 0x20)) newest--;
        return newest;
    }

    /// <summary>A console line's text.</summary>
    public static string LineText(ushort[] line) => new(line.Select(w => CodePage437.ToChar((byte)w)).ToArray());

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

    /// <summary>Where a memory map put its cells: the first cell row on the canvas, the first map row
    /// shown, the label width and the cell count. <see cref="CellAt"/> turns a click into a cell.</summary>
    public readonly record struct GridLayout(int Top, int FirstRow, int LabelWidth, int Count)
    {
        public int? CellAt(int x, int y)
        {
            int col = x - LabelWidth, row = y - Top;
            if (col is < 0 or >= 64 || row < 0) return null;
            int cell = (FirstRow + row) * 64 + col;
            return cell < Count ? cell : null;
        }
    }

    /// <summary>
    /// Physical memory from pageinfo, 64 cells per row; the selected cell is detailed on the last line.
    /// A WeensyOS machine (512 pages) gets a cell per page. A POSIX machine has thousands of pages: each
    /// cell then stands for several (a power of two, as few as fit the pane), drawn as its most common
    /// owner, dim when any page in it is shared, '.' only when all are free.
    /// </summary>
    public static GridLayout Memory(ICanvas c, SessionMirror m, int selected)
    {
        byte[] pages, wide;
        lock (m.SyncRoot) (pages, wide) = (m.Pages.ToArray(), m.WidePages.ToArray());
        if (wide.Length > 0) return WideMemory(c, wide, selected);
        int count = pages.Length / 2;
        if (count == 0) { c.Write(0, 0, "(no page information yet)", Grey); return new GridLayout(0, 0, 9, 0); }
        string? detail = null;
        if (selected >= 0 && selected < count)
        {
            sbyte owner = (sbyte)pages[2 * selected];
            byte refs = pages[2 * selected + 1];
            detail = $"page 0x{selected * 4096:X6}  owner {OwnerName(owner, refs)}  refcount {refs}  (arrows or a click select)";
        }
        return PageGrid(c, count, p => PageCell((sbyte)pages[2 * p], pages[2 * p + 1]), selected, detail, row => $"0x{row * 64 * 4096:X6}");
    }

    /// <summary>How many pages one cell shows so that <paramref name="pages"/> fit <paramref name="rows"/> rows of 64.</summary>
    public static int PagesPerCell(int pages, int rows)
    {
        int perCell = 1;
        while ((long)perCell * 64 * Math.Max(1, rows) < pages) perCell *= 2;
        return perCell;
    }

    private static GridLayout WideMemory(ICanvas c, byte[] wide, int selected)
    {
        int count = wide.Length / FrameCodec.WidePageSize;
        int perCell = PagesPerCell(count, c.Height - 2);   // a title line and a detail line besides the rows
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
        return PageGrid(c, cells, CellOf, selected, detail, row => $"0x{(long)row * 64 * perCell * 4096:X7}", labelWidth: 10,
            title: $"{count} pages ({count / 256} MiB), {perCell} page{(perCell == 1 ? "" : "s")} per cell");
    }

    /// <summary>A pageinfo owner in words (refcount 0 means free whatever the owner says).</summary>
    private static string OwnerName(int owner, int refcount) =>
        refcount == 0 ? "free" : owner switch { -2 => "kernel", -1 => "reserved", 0 => "unowned", _ => $"pid {owner}" };

    /// <summary>
    /// Draws cells 64 to a row (a row label, then one cell each, the selected one in reverse video)
    /// and the selected cell's description on the line below: WeensyOS's layout, shared by the
    /// physical and the virtual map. Rows scroll so the selection stays in view.
    /// </summary>
    private static GridLayout PageGrid(ICanvas c, int count, Func<int, Cell> cellOf, int selected, string? detail,
        Func<int, string> rowLabel, int labelWidth = 9, string? title = null, Func<int, byte>? labelColor = null)
    {
        int perRow = 64, rows = (count + perRow - 1) / perRow;
        int top = title != null ? 1 : 0;
        if (title != null) c.Write(0, 0, title, Grey);
        int visible = Math.Max(0, c.Height - 1 - top);
        int first = selected >= 0 ? Math.Clamp(selected / perRow - visible + 1, 0, Math.Max(0, rows - visible)) : 0;
        for (int i = 0; i < Math.Min(rows - first, visible); i++)
        {
            int row = first + i;
            c.Write(0, top + i, rowLabel(row), labelColor?.Invoke(row) ?? White, maxWidth: labelWidth);
            for (int col = 0; col < perRow && row * perRow + col < count; col++)
            {
                int p = row * perRow + col;
                var cell = cellOf(p);
                if (p == selected) cell = cell with { Style = CellStyle.Reverse };
                c.Put(labelWidth + col, top + i, cell);
            }
        }
        if (detail != null) c.Write(0, top + Math.Min(rows - first, visible), detail, Cyan);
        return new GridLayout(top, first, labelWidth, count);
    }

    /// <summary>
    /// A process's virtual address space as WeensyOS draws it: 64 pages per row, owner characters,
    /// reverse video for user-accessible pages, dim for shared ones, blank when unmapped; the selected
    /// page's owner, refcount and permissions on the last line. A POSIX process's map holds only the
    /// rows it maps (text and heap low, the stack near the top of the 47-bit space); a row whose
    /// address does not follow the one above is labelled in cyan (a gap).
    /// </summary>
    public static GridLayout VirtualMemory(ICanvas c, SessionMirror m, int pid, int selected)
    {
        var map = m.VirtualMap;
        if (map == null || map.Pid != pid)
        {
            c.Write(0, 0, $"(waiting for pid {pid}'s virtual map; :pmap shows physical memory)", Grey);
            return new GridLayout(0, 0, 9, 0);
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
        return PageGrid(c, map.PageCount, p =>
        {
            var (owner, refs, perm) = map[p];
            if (perm == 0) return new Cell(' ', Black, Black);
            var cell = PageCell(owner, refs);
            // User-accessible pages in reverse video, as WeensyOS draws them.
            return (perm & 4) != 0 ? cell with { Foreground = cell.Background, Background = cell.Foreground } : cell;
        }, selected, detail, row => $"0x{map.AddressOf(row * 64):X6}", sparse ? 15 : 9,
            labelColor: row => sparse && row > 0 && map.AddressOf(row * 64) != map.AddressOf(row * 64 - 64) + 64 * 4096 ? Cyan : White);
    }

    /// <summary>The shared debugger: why it stopped and who acted, every register in full (as many per
    /// row as fit; never cut), breakpoints, the last output, disassembly at rip. Long lines wrap.</summary>
    public static void Debugger(ICanvas c, SessionMirror m)
    {
        var d = m.Debugger;
        if (d == null)
        {
            Wrapped(c, 0, "no debugger activity yet: try :break fork, :step 10, :regs, :walk 0x100000", Grey);
            return;
        }
        int y = 0;
        y = Wrapped(c, y, $"{(d.Stopped ? "STOPPED" : "running")} · {d.Reason}{(d.By.Length > 0 && !d.Reason.Contains($"by {d.By}") ? $" · by {d.By}" : "")} · pid {d.Pid} · tick {d.Tick}", d.Stopped ? Red : Cyan);
        const int cellWidth = 24;   // "rflags " + 16 hex digits + a space
        int perRow = Math.Max(1, (c.Width + 1) / cellWidth);
        for (int i = 0; i < d.Registers.Length && y < c.Height; i += perRow, y++)
            for (int k = i; k < Math.Min(d.Registers.Length, i + perRow); k++)
                c.Write((k - i) * cellWidth, y, $"{DebuggerState.RegisterNames[k],-6} {d.Registers[k]:x16}", Grey);
        // Breakpoints and the last command's output before the disassembly, which takes the rows left.
        if (d.Breakpoints.Length > 0) y = Wrapped(c, y, "breakpoints: " + string.Join("; ", d.Breakpoints), Green);
        foreach (var line in d.Output) y = Wrapped(c, y, line, White);
        foreach (var line in d.Disassembly) y = Wrapped(c, y, line, line.StartsWith("=>") ? Yellow : Grey);
    }

    /// <summary>Writes text from row <paramref name="y"/>, continuing on the next rows (at a space when
    /// there is one) when it is wider than the canvas; returns the row after it.</summary>
    public static int Wrapped(ICanvas c, int y, string text, byte fg, byte bg = Cell.DefaultColor)
    {
        int width = Math.Max(1, c.Width), at = 0;
        do
        {
            if (y >= c.Height) return y;
            int take = Math.Min(width, text.Length - at);
            if (at + take < text.Length && text.LastIndexOf(' ', at + take - 1, take) is var space and > 0 && space > at)
                take = space - at + 1;   // break after the last space that fits
            c.Write(0, y++, text.AsSpan(at, take).TrimEnd(), fg, bg);
            at += take;
        } while (at < text.Length);
        return y;
    }

    /// <summary>The process table; the selected row (a click, or arrows with the pane focused) is in
    /// reverse video and Enter shows its virtual memory. Returns the first process row shown.</summary>
    public static int Processes(ICanvas c, SessionMirror m, int selected)
    {
        c.Write(0, 0, $"{"PID",4} {"PARENT",6} {"STATE",-9} {"PAGES",5} NAME", White);
        var rows = m.Processes;
        int room = Math.Max(0, c.Height - 1);
        int first = Math.Clamp(selected - room + 1, 0, Math.Max(0, rows.Length - room));
        for (int i = 0; i < room && first + i < rows.Length; i++)
        {
            var p = rows[first + i];
            byte color = p.State == "broken" ? Red : Grey;
            var style = first + i == selected ? CellStyle.Reverse : CellStyle.None;
            c.Write(0, 1 + i, $"{p.Pid,4} {(p.Parent == 0 ? "-" : p.Parent.ToString()),6} {p.State,-9} {p.Pages,5} {p.Name}".PadRight(c.Width), color, style: style);
        }
        if (rows.Length > room && room > 0)
            c.Write(Math.Max(0, c.Width - 16), 0, $" {first + 1}-{Math.Min(rows.Length, first + room)} of {rows.Length} ", Black, Grey);
        return first;
    }

    /// <summary>The participants: id, name, role, "(you)" on your own line; the selected one (for the
    /// instructor's grant, revoke and remove) in reverse video.</summary>
    public static void Participants(ICanvas c, SessionMirror m, string? myId, int selected)
    {
        var list = m.Participants;
        for (int i = 0; i < Math.Min(list.Length, c.Height); i++)
        {
            var p = list[i];
            byte color = p.Role switch { Role.Instructor => Yellow, Role.Driver => Green, _ => Grey };
            // The id first: `grant p3` names exactly this participant, whatever the names look like.
            string line = $"{p.Id,-3} {p.Name} ({p.Role.ToString().ToLowerInvariant()}){(p.Id == myId ? " (you)" : "")}";
            c.Write(0, i, line.PadRight(c.Width), color, style: i == selected ? CellStyle.Reverse : CellStyle.None);
        }
        // A lecture hall's viewers are not all sent to other viewers: the status has the total.
        int more = (m.Status?.Participants ?? 0) - list.Length;
        if (more > 0 && list.Length < c.Height)
            c.Write(0, list.Length, $"… and {more} more viewers".PadRight(c.Width), Grey);
    }

    /// <summary>The events that pass the filter, newest at the bottom, <paramref name="fromBottom"/>
    /// lines scrolled back; lines containing <paramref name="search"/> are highlighted. Returns how many
    /// events pass the filter (the scroll range).</summary>
    public static int Events(ICanvas c, SessionMirror m, EventFilter filter, int fromBottom, string? search)
    {
        var passing = m.Events.Where(filter.Matches).ToArray();
        int last = passing.Length - 1 - fromBottom, first = Math.Max(0, last - c.Height + 1);
        for (int y = 0; first + y <= last && y < c.Height; y++)
        {
            var e = passing[first + y];
            byte color = e.Kind switch { EventKind.Fault => Red, EventKind.Fork => Green, EventKind.Exit => 9, EventKind.Action => Cyan, EventKind.System => Yellow, _ => Grey };
            string text = $"{e.Tick,6} {EventFilter.KindName(e.Kind),-8} {e.Text}";
            bool hit = !string.IsNullOrEmpty(search) && text.Contains(search, StringComparison.OrdinalIgnoreCase);
            c.Write(0, y, text.PadRight(c.Width), hit ? Black : color, hit ? Yellow : Cell.DefaultColor);
        }
        if (fromBottom > 0)
        {
            string note = $" {fromBottom} newer below · End returns ";
            c.Write(Math.Max(0, c.Width - note.Length), 0, note, Black, Yellow);
        }
        return passing.Length;
    }
}

/// <summary>Which events the log shows: by default everything but the per-call syscall lines (they
/// come faster than anyone reads: `filter syscalls` or `filter pid N` shows them); or one pid; or one kind.</summary>
public sealed record EventFilter(int? Pid = null, EventKind? Kind = null, bool AllKinds = false)
{
    /// <summary>The kinds by the names `filter kind K` takes.</summary>
    public static readonly (string Name, EventKind Kind)[] Kinds =
    [
        ("action", EventKind.Action), ("syscall", EventKind.Syscall), ("fork", EventKind.Fork), ("exit", EventKind.Exit),
        ("fault", EventKind.Fault), ("track", EventKind.Track), ("summary", EventKind.SyscallSummary), ("system", EventKind.System),
    ];

    public static string KindName(EventKind kind) => Kinds.FirstOrDefault(k => k.Kind == kind).Name ?? kind.ToString().ToLowerInvariant();

    public static EventKind? ParseKind(string name) =>
        Kinds.FirstOrDefault(k => string.Equals(k.Name, name, StringComparison.OrdinalIgnoreCase)) is { Name: not null } hit ? hit.Kind : null;

    public bool Matches(LabEvent e)
    {
        if (Pid is { } p) return e.Pid == p && (Kind is null || e.Kind == Kind);
        if (Kind is { } k) return e.Kind == k || (k == EventKind.Syscall && e.Kind == EventKind.SyscallSummary);
        return AllKinds || e.Kind is not (EventKind.Syscall or EventKind.SyscallSummary);
    }

    public override string ToString() =>
        Pid is { } p ? $"pid {p}" : Kind is { } k ? KindName(k) : AllKinds ? "all" : "all but syscalls";
}
