using System.Globalization;
using Lab.Machine;
using LibObjectFile.Dwarf;
using LibObjectFile.Elf;

namespace Lab.Kernel.Guest;

/// <summary>A symbol of a kernel ELF: a function or object and the address range it covers.</summary>
public readonly record struct KernelSymbol(string Name, VirtAddr Address, ulong Size, bool IsFunction);

/// <summary>Where an address is in a symbol: <c>kernel_fork+12</c> (as gdb writes it, offset in decimal).</summary>
public readonly record struct SymbolOffset(KernelSymbol Symbol, ulong Offset)
{
    public override string ToString() => Offset == 0 ? Symbol.Name : $"{Symbol.Name}+{Offset}";
}

/// <summary>A line of a source file, from the DWARF line table.</summary>
public readonly record struct SourceLine(string File, int Line)
{
    public override string ToString() => $"{File}:{Line}";
}

/// <summary>
/// The symbol table and, when present, the DWARF line table of a kernel ELF (obj/kernel.full, or the
/// ELF inside weensyos.img), for the debugger: address → symbol+offset and back, file:line → addresses
/// and back. Reading is done by LibObjectFile (no ELF or DWARF parsing here); anything it cannot read —
/// garbage, a stripped kernel (obj/kernel has no .symtab), a DWARF version it does not know (gcc 12's
/// default DWARF 5 line tables; the handout and Lab's kernel build with -gdwarf-4 work) — gives fewer
/// symbols and a <see cref="Note"/> saying why, never an exception.
/// </summary>
public sealed class KernelSymbols
{
    /// <summary>No symbols at all.</summary>
    public static KernelSymbols Empty { get; } = new(Array.Empty<KernelSymbol>(), Array.Empty<LineRow>(), "no symbols");

    /// <summary>Symbols sorted by address.</summary>
    public IReadOnlyList<KernelSymbol> Symbols => _byAddress;
    /// <summary>The kernel has a DWARF line table we could read.</summary>
    public bool HasLines => _lines.Length > 0;
    /// <summary>Why symbols or lines are missing (null when both were read).</summary>
    public string? Note { get; }

    private readonly KernelSymbol[] _byAddress;
    private readonly Dictionary<string, KernelSymbol> _byName = new(StringComparer.Ordinal);
    private readonly LineRow[] _lines;   // sorted by address; End rows close a sequence

    /// <summary>One row of the line table: code from Address up to the next row is File:Line.</summary>
    private readonly record struct LineRow(ulong Address, string File, int Line, bool IsStatement, bool End);

    private KernelSymbols(KernelSymbol[] symbols, LineRow[] lines, string? note)
    {
        _byAddress = symbols;
        _lines = lines;
        Note = note;
        // A name defined twice (static functions of the same name in two files) keeps the global one, else the first.
        foreach (var s in symbols) _byName.TryAdd(s.Name, s);
    }

    /// <summary>Reads the symbols of a kernel image (the ELF of a disk image).</summary>
    public static KernelSymbols FromImage(GuestImage image) => FromElf(image.Disk.AsSpan(GuestImage.SectorSize).ToArray());

    /// <summary>Reads the symbols and line table of an ELF file. Never throws: what cannot be read is left out and said in <see cref="Note"/>.</summary>
    public static KernelSymbols FromElf(byte[] elfBytes)
    {
        ElfFile elf;
        try
        {
            using var stream = new MemoryStream(elfBytes, writable: false);
            if (!ElfFile.IsElf(stream)) return new KernelSymbols(Array.Empty<KernelSymbol>(), Array.Empty<LineRow>(), "not an ELF file");
            stream.Position = 0;
            if (!ElfFile.TryRead(stream, out ElfFile? read, out var diagnostics, new ElfReaderOptions()) || read is null)
                return new KernelSymbols(Array.Empty<KernelSymbol>(), Array.Empty<LineRow>(), $"unreadable ELF: {FirstMessage(diagnostics)}");
            elf = read;
        }
        catch (Exception e) when (IsLibraryFailure(e))
        {
            return new KernelSymbols(Array.Empty<KernelSymbol>(), Array.Empty<LineRow>(), $"unreadable ELF: {e.Message}");
        }

        var notes = new List<string>();
        KernelSymbol[] symbols = ReadSymbols(elf, notes);
        LineRow[] lines = ReadLines(elf, notes);
        return new KernelSymbols(symbols, lines, notes.Count == 0 ? null : string.Join("; ", notes));
    }

    private static string FirstMessage(LibObjectFile.Diagnostics.DiagnosticBag? bag) =>
        bag?.Messages.FirstOrDefault(m => m.Kind == LibObjectFile.Diagnostics.DiagnosticKind.Error).Message ?? "unknown error";

    /// <summary>The library reports a malformed file with these; anything else is our own bug and escapes.</summary>
    private static bool IsLibraryFailure(Exception e) =>
        e is InvalidOperationException or ArgumentException or IOException or NotSupportedException
            or IndexOutOfRangeException or OverflowException or InvalidCastException or NullReferenceException
            or LibObjectFile.ObjectFileException;

    private static KernelSymbol[] ReadSymbols(ElfFile elf, List<string> notes)
    {
        var tables = elf.Sections.OfType<ElfSymbolTable>().ToList();
        var table = tables.FirstOrDefault(t => t.Type == ElfSectionType.SymbolTable) ?? tables.FirstOrDefault();   // .symtab over .dynsym
        if (table is null) { notes.Add("no symbol table (a stripped kernel: use obj/kernel.full)"); return Array.Empty<KernelSymbol>(); }
        var list = new List<(KernelSymbol Symbol, bool Global)>();
        foreach (var e in table.Entries)
        {
            string name = e.Name.Value ?? "";
            if (name.Length == 0 || e.Value == 0 || e.Type is ElfSymbolType.File or ElfSymbolType.Section) continue;
            if (e.SectionLink.Section is null) continue;   // absolute values (constants), not places in the kernel
            list.Add((new KernelSymbol(name, new VirtAddr(e.Value), e.Size, e.Type == ElfSymbolType.Function), e.Bind != ElfSymbolBind.Local));
        }
        // Globals first so the by-name table prefers them; then by address, functions before labels.
        return list.OrderByDescending(s => s.Global).ThenBy(s => s.Symbol.Address.Value).ThenByDescending(s => s.Symbol.IsFunction)
            .Select(s => s.Symbol).ToArray();
    }

    private static LineRow[] ReadLines(ElfFile elf, List<string> notes)
    {
        var section = elf.Sections.OfType<ElfStreamSection>().FirstOrDefault(s => s.Name.Value == ".debug_line");
        if (section is null) { notes.Add("no DWARF line table (build with -g for file:line)"); return Array.Empty<LineRow>(); }
        try
        {
            section.Stream.Position = 0;
            var context = new DwarfReaderContext
            {
                IsLittleEndian = true,
                AddressSize = DwarfAddressSize.Bit64,
                DebugLineStream = section.Stream,
            };
            var dwarf = DwarfFile.Read(context);
            var rows = new List<LineRow>();
            foreach (var table in dwarf.LineSection.LineTables)
                foreach (var sequence in table.LineSequences)
                {
                    var lines = sequence.Lines;
                    for (int i = 0; i < lines.Count; i++)
                    {
                        var l = lines[i];
                        bool end = i == lines.Count - 1;   // the end_sequence row: the first address after the sequence
                        string file = l.File is null ? "?" : string.IsNullOrEmpty(l.File.Directory) ? l.File.Name : $"{l.File.Directory}/{l.File.Name}";
                        rows.Add(new LineRow(l.Address, file, (int)l.Line, l.IsStatement, end));
                    }
                }
            // Stable sort: an end row and the next sequence's first row at the same address keep their order.
            return rows.Select((r, i) => (r, i)).OrderBy(x => x.r.Address).ThenBy(x => x.r.End ? 0 : 1).ThenBy(x => x.i).Select(x => x.r).ToArray();
        }
        catch (Exception e) when (IsLibraryFailure(e))
        {
            notes.Add($"DWARF line table not read ({e.Message}; build with -gdwarf-4)");
            return Array.Empty<LineRow>();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Lookups.

    /// <summary>The address of a symbol, by exact name.</summary>
    public bool TryGetAddress(string name, out VirtAddr address)
    {
        bool found = _byName.TryGetValue(name, out var s);
        address = s.Address;
        return found;
    }

    /// <summary>The symbol covering <paramref name="address"/> (a sized symbol's range, or a label up to the next symbol), or null.</summary>
    public SymbolOffset? Lookup(VirtAddr address)
    {
        KernelSymbol? best = null;
        foreach (var s in _byAddress)
        {
            if (s.Address.Value > address.Value) continue;
            if (s.Size != 0 && address.Value - s.Address.Value >= s.Size) continue;
            // The closest start wins; at equal starts a sized function beats a label.
            if (best is not KernelSymbol b || s.Address.Value > b.Address.Value
                || (s.Address.Value == b.Address.Value && s.IsFunction && !b.IsFunction))
                best = s;
        }
        if (best is not KernelSymbol found) return null;
        // An unsized label covers only up to the next symbol.
        if (found.Size == 0 && _byAddress.Any(s => s.Address.Value > found.Address.Value && s.Address.Value <= address.Value)) return null;
        return new SymbolOffset(found, address.Value - found.Address.Value);
    }

    /// <summary>"kernel_fork+12" for an address in a symbol, else null: the <see cref="AddressSymbolizer"/> the disassembler takes.</summary>
    public string? Describe(ulong address) => Lookup(new VirtAddr(address))?.ToString();

    /// <summary>
    /// Disassembles <paramref name="count"/> instructions at <paramref name="at"/> in the address space
    /// the CPU is in, as gdb's <c>x/i</c> shows them: <c>=&gt; 0x41770 &lt;kernel&gt;:  push %rbp</c>, branch
    /// targets and rip-relative data named, the arrow on <paramref name="rip"/>. One line saying so when
    /// the address is not readable.
    /// </summary>
    public string[] Disassemble(Lab.Machine.Cpu.Cpu cpu, VirtAddr at, int count, ulong? rip = null)
    {
        var lines = Disassembler.DecodeVirtual(cpu, at, count, Describe);
        if (lines is null) return [$"0x{at.Value:x}: (not readable in the current address space)"];
        return lines.Select(l =>
            $"{(l.Address.Value == rip ? "=>" : "  ")} 0x{l.Address.Value:x}{(l.Symbol is null ? "" : $" <{l.Symbol}>")}:  {l.Text}").ToArray();
    }

    /// <summary>The source line of the code at <paramref name="address"/>, or null (no line table, or not in it).
    /// As gdb does, the line is that of the last statement row at or before the address (rows the
    /// compiler marks as not a statement boundary do not change it).</summary>
    public SourceLine? LineAt(VirtAddr address)
    {
        for (int i = LastRowAtOrBefore(address.Value); i >= 0; i--)
        {
            var row = _lines[i];
            if (row.End) return null;
            if (row.IsStatement) return new SourceLine(row.File, row.Line);
        }
        return null;
    }

    private int LastRowAtOrBefore(ulong a)
    {
        int lo = 0, hi = _lines.Length - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            if (_lines[mid].Address <= a) { found = mid; lo = mid + 1; }
            else hi = mid - 1;
        }
        return found;
    }

    /// <summary>
    /// Where a breakpoint on <paramref name="file"/>:<paramref name="line"/> goes, as gdb chooses: the
    /// statement rows of the first line at or after <paramref name="line"/> that has code, the lowest
    /// address of each contiguous run (a line the optimiser split or inlined has several). The file
    /// matches by path suffix ("kernel.c" finds ".../kernel.c"). Empty when there is no such code.
    /// </summary>
    public IReadOnlyList<VirtAddr> AddressesOfLine(string file, int line)
    {
        var rows = _lines.Where(r => !r.End && r.IsStatement && FileMatches(r.File, file)).ToArray();
        var candidates = rows.Where(r => r.Line >= line).Select(r => r.Line).ToArray();
        if (candidates.Length == 0) return Array.Empty<VirtAddr>();
        int target = candidates.Min();
        var result = new List<VirtAddr>();
        ulong? lastEnd = null;
        for (int i = 0; i < _lines.Length; i++)
        {
            var r = _lines[i];
            if (r.End || !r.IsStatement || r.Line != target || !FileMatches(r.File, file)) continue;
            // Rows at the same address, or continuing the previous row of this line, are one place.
            if (lastEnd is ulong e && r.Address <= e && result.Count > 0) { lastEnd = NextAddress(i); continue; }
            result.Add(new VirtAddr(r.Address));
            lastEnd = NextAddress(i);
        }
        return result;
    }

    private ulong NextAddress(int i)
    {
        for (int j = i + 1; j < _lines.Length; j++)
            if (_lines[j].Address > _lines[i].Address) return _lines[j].Address;
        return _lines[i].Address;
    }

    private static bool FileMatches(string path, string wanted) =>
        path == wanted || path.EndsWith("/" + wanted.TrimStart('/'), StringComparison.Ordinal) || Path.GetFileName(path) == wanted;

    /// <summary>
    /// Resolves what a person types for a place in the kernel: <c>0x40123</c>, <c>kernel_fork</c>,
    /// <c>kernel_fork+12</c> (decimal or 0x hex offset), or <c>kernel.c:123</c>. False with a message saying why not.
    /// </summary>
    public bool TryResolve(string spec, out VirtAddr address, out string? error)
    {
        address = default;
        error = null;
        spec = spec.Trim();
        if (spec.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            && ulong.TryParse(spec.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong hex))
        { address = new VirtAddr(hex); return true; }
        int colon = spec.LastIndexOf(':');
        if (colon > 0 && int.TryParse(spec.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int line))
        {
            if (!HasLines) { error = $"no line information ({Note})"; return false; }
            var places = AddressesOfLine(spec[..colon], line);
            if (places.Count == 0) { error = $"no code at or after line {line} of {spec[..colon]}"; return false; }
            address = places[0];
            return true;
        }
        string name = spec;
        ulong offset = 0;
        int plus = spec.IndexOf('+');
        if (plus > 0)
        {
            name = spec[..plus].Trim();
            string off = spec[(plus + 1)..].Trim();
            bool ok = off.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                ? ulong.TryParse(off.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out offset)
                : ulong.TryParse(off, NumberStyles.None, CultureInfo.InvariantCulture, out offset);
            if (!ok) { error = $"bad offset '{off}'"; return false; }
        }
        if (!TryGetAddress(name, out var start))
        {
            error = _byAddress.Length == 0 ? $"no symbol '{name}' ({Note})" : $"no symbol '{name}'";
            return false;
        }
        address = new VirtAddr(start.Value + offset);
        return true;
    }
}
