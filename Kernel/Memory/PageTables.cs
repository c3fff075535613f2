using System.Runtime.InteropServices;
using Lab.Machine;

namespace Lab.Kernel.Memory;

/// <summary>One present leaf entry found by a walk.</summary>
/// <param name="Va">Virtual page address.</param>
/// <param name="Pa">Physical page address the entry points to.</param>
/// <param name="Perm">Effective permission: P, W and U ANDed over all four levels.</param>
/// <param name="PteAddress">Physical address of the leaf entry itself.</param>
/// <param name="Pte">The raw leaf entry (including software bits such as <see cref="PageTables.Cow"/>).</param>
public readonly record struct Mapping(VirtAddr Va, PhysAddr Pa, PteFlags Perm, PhysAddr PteAddress, ulong Pte)
{
    public bool Writable => (Perm & PteFlags.Writable) != 0;
    public bool User => (Perm & PteFlags.User) != 0;
    public bool IsCow => (Pte & (ulong)PageTables.Cow) != 0;
}

/// <summary>Visits one mapping; see <see cref="PageTables.ForEach"/>.</summary>
public delegate void MappingVisitor(in Mapping mapping);

/// <summary>
/// THE page-table walker: every piece of kernel code that reads or changes page tables goes
/// through here. Tables are real x86-64 4-level tables in guest physical memory. Levels are
/// numbered as the hardware does: 4 is the top (WeensyOS calls it L1), 1 holds the leaves
/// (WeensyOS's L4). Interior entries made here are always P|W|U so the leaf decides; the effective
/// permission is nevertheless computed as the AND over all levels, like the MMU (the POSIX kernel
/// clears Writable in the PD entries of leaf tables that fork shares).
/// Changing a leaf of the table currently in CR3 invalidates that TLB entry.
/// </summary>
public sealed class PageTables
{
    public const PteFlags PW = PteFlags.Present | PteFlags.Writable;
    public const PteFlags PU = PteFlags.Present | PteFlags.User;
    public const PteFlags PWU = PteFlags.Present | PteFlags.Writable | PteFlags.User;
    /// <summary>Software bit 9 (ignored by the MMU): the page is shared copy-on-write.</summary>
    public const PteFlags Cow = (PteFlags)(1UL << 9);

    private const ulong AddrMask = 0x000F_FFFF_FFFF_F000UL;
    private const ulong PermMask = (ulong)PWU;

    private readonly X64Machine _machine;
    private PhysicalMemory Memory => _machine.Memory;

    private readonly ChangeCounter _changes;

    public PageTables(X64Machine machine, ChangeCounter changes)
    {
        _machine = machine;
        _changes = changes;
    }

    /// <summary>The 512 entries of a table page (a live view of guest memory; read-only).</summary>
    private ReadOnlySpan<ulong> Entries(PhysAddr table) =>
        MemoryMarshal.Cast<byte, ulong>(Memory.View(table, (int)Layout.PageSize));

    /// <summary>virtual_memory_lookup: the present leaf for <paramref name="va"/>, or null if unmapped.</summary>
    public Mapping? Lookup(PhysAddr root, VirtAddr va)
    {
        PhysAddr table = root;
        ulong perm = PermMask;
        for (int level = 4; level >= 1; level--)
        {
            PhysAddr entryAddr = table + (ulong)va.TableIndex(level) * 8;
            ulong e = Memory.ReadU64(entryAddr);
            if ((e & (ulong)PteFlags.Present) == 0) return null;
            perm &= e;
            if (level == 1)
                return new Mapping(va.PageBase, new PhysAddr(e & AddrMask), (PteFlags)perm, entryAddr, e);
            table = new PhysAddr(e & AddrMask);
        }
        return null;
    }

    /// <summary>
    /// virtual_memory_map: makes <paramref name="va"/> map <paramref name="pa"/> with
    /// <paramref name="perm"/> (a leaf of 0 unmaps). Missing interior tables come from
    /// <paramref name="allocateTable"/> (which must return a zeroed page, or null when memory is
    /// full) and are linked P|W|U. Returns false if a table could not be allocated; the tables
    /// allocated so far stay linked (they belong to the page table and are freed with it).
    /// </summary>
    public bool Map(PhysAddr root, VirtAddr va, PhysAddr pa, PteFlags perm, Func<PhysAddr?> allocateTable)
    {
        if (!va.IsPageAligned || !pa.IsPageAligned) throw new ArgumentException($"kernel bug: unaligned map {va} -> {pa}");
        PhysAddr table = root;
        for (int level = 4; level > 1; level--)
        {
            PhysAddr entryAddr = table + (ulong)va.TableIndex(level) * 8;
            ulong e = Memory.ReadU64(entryAddr);
            if ((e & (ulong)PteFlags.Present) == 0)
            {
                if ((perm & PteFlags.Present) == 0) return true;       // unmapping something absent
                PhysAddr? fresh = allocateTable();
                if (fresh is null) return false;
                e = fresh.Value.Value | PermMask;
                Memory.WriteU64(entryAddr, e);
                _changes.Bump();
            }
            table = new PhysAddr(e & AddrMask);
        }
        ulong leaf = (perm & PteFlags.Present) == 0 ? 0 : pa.Value | (ulong)perm;
        WriteLeaf(root, va, table + (ulong)va.TableIndex(1) * 8, leaf);
        return true;
    }

    /// <summary>Rewrites an existing leaf (e.g. to change its permission) and keeps the TLB coherent.</summary>
    public void SetLeaf(PhysAddr root, in Mapping m, PhysAddr pa, PteFlags perm) =>
        WriteLeaf(root, m.Va, m.PteAddress, pa.Value | (ulong)perm);

    private void WriteLeaf(PhysAddr root, VirtAddr va, PhysAddr entryAddr, ulong leaf)
    {
        Memory.WriteU64(entryAddr, leaf);
        _changes.Bump();
        if (_machine.Cpu.Cr3 == root.Value) _machine.Cpu.InvalidatePage(va);
    }

    /// <summary>
    /// The iterator: calls <paramref name="visit"/> for every present leaf with
    /// <paramref name="start"/> &lt;= va &lt; <paramref name="end"/>, in address order,
    /// skipping absent subtrees without visiting them.
    /// </summary>
    public void ForEach(PhysAddr root, VirtAddr start, VirtAddr end, MappingVisitor visit) =>
        Visit(root, 4, 0, PermMask, start.Value, end.Value, visit);

    private void Visit(PhysAddr table, int level, ulong baseVa, ulong perm, ulong start, ulong end, MappingVisitor visit)
    {
        int shift = 12 + 9 * (level - 1);
        ulong span = 1UL << shift;
        for (int i = 0; i < 512; i++)
        {
            ulong va = baseVa + (ulong)i * span;
            if (va + span <= start) continue;
            if (va >= end) return;
            PhysAddr entryAddr = table + (ulong)i * 8;
            ulong e = Memory.ReadU64(entryAddr);
            if ((e & (ulong)PteFlags.Present) == 0) continue;
            ulong p = perm & e;
            if (level == 1)
                visit(new Mapping(new VirtAddr(va), new PhysAddr(e & AddrMask), (PteFlags)p, entryAddr, e));
            else
                Visit(new PhysAddr(e & AddrMask), level - 1, va, p, start, end, visit);
        }
    }

    /// <summary>The mappings of [start, end) as a list (convenient outside hot paths).</summary>
    public List<Mapping> Mappings(PhysAddr root, VirtAddr start, VirtAddr end)
    {
        var list = new List<Mapping>();
        ForEach(root, start, end, (in Mapping m) => list.Add(m));
        return list;
    }

    /// <summary>Every page-table page reachable from <paramref name="root"/> (root first, then depth first), with its level.</summary>
    public List<(PhysAddr Page, int Level)> TablePages(PhysAddr root) => TablePages(root, new List<(PhysAddr, int)>());

    /// <summary>As <see cref="TablePages(PhysAddr)"/>, into <paramref name="list"/> (cleared first; checks that run every tick reuse one).</summary>
    public List<(PhysAddr Page, int Level)> TablePages(PhysAddr root, List<(PhysAddr Page, int Level)> list)
    {
        list.Clear();
        CollectTables(root, 4, list);
        return list;
    }

    private void CollectTables(PhysAddr table, int level, List<(PhysAddr, int)> list)
    {
        list.Add((table, level));
        if (level == 1) return;
        for (int i = 0; i < 512; i++)
        {
            ulong e = Memory.ReadU64(table + (ulong)i * 8);
            if ((e & (ulong)PteFlags.Present) != 0 && (e & AddrMask) < Memory.Size)
                CollectTables(new PhysAddr(e & AddrMask), level - 1, list);
        }
    }

    // ---- raw entry access (for kernels that share or clone table pages themselves) -------------

    /// <summary>The page an interior or leaf entry points to.</summary>
    public static PhysAddr Target(ulong entry) => new(entry & AddrMask);

    /// <summary>The 512 entries of table page <paramref name="table"/>: a live, read-only view of guest memory.</summary>
    public ReadOnlySpan<ulong> TableEntries(PhysAddr table) => Entries(table);

    /// <summary>
    /// Physical address of the entry at <paramref name="level"/> (4 = PML4 ... 1 = leaf) that
    /// covers <paramref name="va"/>, or null when a table above that level is missing.
    /// </summary>
    public PhysAddr? EntryAddress(PhysAddr root, VirtAddr va, int level)
    {
        PhysAddr table = root;
        for (int l = 4; l > level; l--)
        {
            ulong e = Memory.ReadU64(table + (ulong)va.TableIndex(l) * 8);
            if ((e & (ulong)PteFlags.Present) == 0) return null;
            table = new PhysAddr(e & AddrMask);
        }
        return table + (ulong)va.TableIndex(level) * 8;
    }

    /// <summary>
    /// Writes one raw entry at <paramref name="entryAddr"/> (any level). The caller keeps the TLB
    /// coherent: this cannot know which address spaces or virtual pages the entry serves.
    /// </summary>
    public void WriteEntry(PhysAddr entryAddr, ulong entry)
    {
        Memory.WriteU64(entryAddr, entry);
        _changes.Bump();
    }

    /// <summary>Copies the kernel's mappings of [start, end) into another table, with the same permissions.</summary>
    public bool CopyMappings(PhysAddr from, PhysAddr to, VirtAddr start, VirtAddr end, Func<PhysAddr?> allocateTable)
    {
        bool ok = true;
        ForEach(from, start, end, (in Mapping m) =>
        {
            if (ok) ok = Map(to, m.Va, m.Pa, m.Perm & PWU, allocateTable);
        });
        return ok;
    }
}
