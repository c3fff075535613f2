using Lab.Machine;

namespace Lab.TestSupport;

/// <summary>
/// Builds x86-64 4-level page tables in a machine's physical memory for tests: table pages come from
/// a bump allocator over a reserved physical range; <see cref="Map"/> installs 4 KiB mappings.
/// </summary>
public sealed class PageTableBuilder
{
    private readonly PhysicalMemory _memory;
    private ulong _nextTablePage;
    private readonly ulong _tableLimit;

    public PhysAddr Root { get; }

    /// <param name="tableArea">Physical range reserved for page-table pages (start, length).</param>
    public PageTableBuilder(PhysicalMemory memory, PhysAddr tableAreaStart, ulong tableAreaLength)
    {
        _memory = memory;
        _nextTablePage = tableAreaStart.Value;
        _tableLimit = tableAreaStart.Value + tableAreaLength;
        Root = AllocateTable();
    }

    private PhysAddr AllocateTable()
    {
        if (_nextTablePage + 4096 > _tableLimit) throw new InvalidOperationException("page-table area exhausted");
        var p = new PhysAddr(_nextTablePage);
        _nextTablePage += 4096;
        _memory.Fill(p, 4096, 0);
        return p;
    }

    /// <summary>Maps [va, va+length) to [pa, pa+length) with the given leaf flags (Present is implied).
    /// Intermediate entries are Present|Writable|User so the leaf decides.</summary>
    public void Map(VirtAddr va, PhysAddr pa, ulong length, PteFlags flags)
    {
        for (ulong off = 0; off < length; off += 4096)
            MapPage(new VirtAddr(va.Value + off), new PhysAddr(pa.Value + off), flags);
    }

    public void MapPage(VirtAddr va, PhysAddr pa, PteFlags flags, PteFlags intermediate = PteFlags.Present | PteFlags.Writable | PteFlags.User)
    {
        PhysAddr table = Root;
        for (int level = 4; level > 1; level--)
        {
            var entryAddr = table + (ulong)va.TableIndex(level) * 8;
            ulong e = _memory.ReadU64(entryAddr);
            if ((e & (ulong)PteFlags.Present) == 0)
            {
                PhysAddr next = AllocateTable();
                e = next.Value | (ulong)intermediate;
                _memory.WriteU64(entryAddr, e);
            }
            table = new PhysAddr(e & 0x000F_FFFF_FFFF_F000UL);
        }
        _memory.WriteU64(table + (ulong)va.TableIndex(1) * 8, (pa.Value & ~0xFFFUL) | (ulong)(flags | PteFlags.Present));
    }

    /// <summary>Physical address of the level-1 entry for va (the page must have been mapped).</summary>
    public PhysAddr LeafEntryAddress(VirtAddr va) => EntryAddress(va, 1);

    /// <summary>Physical address of the entry for va at the given level (4 = PML4).</summary>
    public PhysAddr EntryAddress(VirtAddr va, int level)
    {
        PhysAddr table = Root;
        for (int l = 4; l > level; l--)
        {
            ulong e = _memory.ReadU64(table + (ulong)va.TableIndex(l) * 8);
            if ((e & 1) == 0) throw new InvalidOperationException($"{va} not mapped at level {l}");
            table = new PhysAddr(e & 0x000F_FFFF_FFFF_F000UL);
        }
        return table + (ulong)va.TableIndex(level) * 8;
    }
}
