using System.Runtime.InteropServices;
using Lab.Machine;

namespace Lab.Kernel.Common;

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
/// What the walker needs from a kernel's physical-page allocator for the operations that share,
/// copy and free whole tables (<see cref="PageTables.ShareLeafTables"/>,
/// <see cref="PageTables.UnshareLeafTable"/>, <see cref="PageTables.FreeTree"/>).
/// </summary>
public interface IPageRefcounts
{
    /// <summary>References to the page (0 = free).</summary>
    int Refcount(PhysAddr page);
    /// <summary>One more reference to a page in use.</summary>
    void AddRef(PhysAddr page);
    /// <summary>Drops one reference; true when that was the last (the page is free again).</summary>
    bool Release(PhysAddr page);
}

/// <summary>Visits one present entry during <see cref="PageTables.VisitEntries"/>: the table page it is
/// in, that table's level, its index and value. Returns whether to descend into the table it points
/// to (ignored for leaves, level 1).</summary>
public delegate bool EntryVisitor(PhysAddr table, int level, int index, ulong entry);

/// <summary>
/// THE page-table walker: every piece of kernel code that reads or changes page tables goes
/// through here, in both kernels. Tables are real x86-64 4-level tables in guest physical memory.
/// Levels are numbered as the hardware does: 4 is the top (WeensyOS calls it L1), 1 holds the leaves
/// (WeensyOS's L4). Interior entries made here are always P|W|U so the leaf decides; the effective
/// permission is nevertheless computed as the AND over all levels, like the MMU: the POSIX kernel's
/// copy-on-write fork shares whole leaf tables between address spaces and marks them read-only by
/// clearing Writable in the PD entries that point at them (<see cref="ShareLeafTables"/>,
/// <see cref="UnshareLeafTable"/>).
/// Changing a leaf of the table currently in CR3 invalidates that TLB entry.
/// </summary>
public sealed class PageTables
{
    public const PteFlags PW = PteFlags.Present | PteFlags.Writable;
    public const PteFlags PU = PteFlags.Present | PteFlags.User;
    public const PteFlags PWU = PteFlags.Present | PteFlags.Writable | PteFlags.User;
    /// <summary>Software bit 9 (ignored by the MMU): the page is shared copy-on-write.</summary>
    public const PteFlags Cow = (PteFlags)(1UL << 9);
    /// <summary>Software bit 10 (ignored by the MMU): the page is shared on purpose (POSIX's
    /// MAP_SHARED), so unsharing a leaf table leaves it writable instead of copy-on-write.</summary>
    public const PteFlags Shared = (PteFlags)(1UL << 10);

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
        MemoryMarshal.Cast<byte, ulong>(Memory.View(table, (int)PhysAddr.PageSize));

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
        // Only the slots that overlap [start, end); runs of empty entries are skipped at vector speed
        // (a WeensyOS table is mostly zeros and the memory views walk one on every trap).
        int first = start <= baseVa ? 0 : (int)Math.Min(512UL, (start - baseVa) >> shift);
        int last = end <= baseVa ? -1 : (int)Math.Min(511UL, (end - 1 - baseVa) >> shift);
        ReadOnlySpan<ulong> entries = Entries(table);
        for (int i = NextUsed(entries, first, last); i >= 0; i = NextUsed(entries, i + 1, last))
        {
            ulong e = entries[i];
            if (!Present(e)) continue;
            ulong va = baseVa + ((ulong)i << shift);
            ulong p = perm & e;
            if (level == 1)
                visit(new Mapping(new VirtAddr(va), new PhysAddr(e & AddrMask), (PteFlags)p, table + (ulong)i * 8, e));
            else
                Visit(new PhysAddr(e & AddrMask), level - 1, va, p, start, end, visit);
        }
    }

    /// <summary>The index of the first non-zero entry in entries[from..last], or -1 when they are all zero.</summary>
    public static int NextUsed(ReadOnlySpan<ulong> entries, int from, int last)
    {
        if (from > last) return -1;
        if (entries[from] != 0) return from;   // dense tables (the kernel's identity map): no vector search per entry
        int i = entries[from..(last + 1)].IndexOfAnyExcept(0UL);
        return i < 0 ? -1 : from + i;
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
        ReadOnlySpan<ulong> entries = Entries(table);
        for (int i = NextUsed(entries, 0, 511); i >= 0; i = NextUsed(entries, i + 1, 511))
        {
            ulong e = entries[i];
            if ((e & (ulong)PteFlags.Present) != 0 && (e & AddrMask) < Memory.Size)
                CollectTables(new PhysAddr(e & AddrMask), level - 1, list);
        }
    }

    // ---- whole tables: sharing, unsharing, freeing, visiting -------------------------------

    private static bool Present(ulong entry) => (entry & (ulong)PteFlags.Present) != 0;
    private static PhysAddr Target(ulong entry) => new(entry & AddrMask);

    /// <summary>
    /// Writes one raw entry (any level) at <paramref name="entryAddr"/>: for a kernel that builds a
    /// static table by hand (WeensyOS's kernel_pagetable links its five pages). The caller keeps the
    /// TLB coherent: this cannot know which address spaces or virtual pages the entry serves.
    /// </summary>
    public void WriteEntry(PhysAddr entryAddr, ulong entry)
    {
        Memory.WriteU64(entryAddr, entry);
        _changes.Bump();
    }

    /// <summary>
    /// Copy-on-write fork at the table level: gives the (empty) space at <paramref name="to"/> its own
    /// PDPTs and PDs for [0, <paramref name="end"/>) of <paramref name="from"/> (end a multiple of
    /// 512 GiB), whose entries point at <paramref name="from"/>'s leaf tables; each leaf table gains a
    /// reference, and both sides' PD entries lose Writable, so the first write through either faults
    /// and the kernel unshares that table (<see cref="UnshareLeafTable"/>). One pass over the
    /// upper-level tables: no leaf entry and no data page is touched. The caller flushes the TLB.
    /// False when <paramref name="allocateTable"/> found no memory (the new space is then partial but
    /// consistent; the read-only PD entries left in <paramref name="from"/> are harmless: unsharing
    /// restores them).
    /// </summary>
    public bool ShareLeafTables(PhysAddr from, PhysAddr to, VirtAddr end, Func<PhysAddr?> allocateTable, IPageRefcounts refs)
    {
        if ((end.Value & ((1UL << 39) - 1)) != 0) throw new ArgumentException($"kernel bug: {end} is not a multiple of 512 GiB");
        const ulong w = (ulong)PteFlags.Writable;
        var l4 = Entries(from);
        int slots = (int)(end.Value >> 39);
        for (int i4 = 0; i4 < slots; i4++)
        {
            if (!Present(l4[i4])) continue;
            var pdpt = allocateTable();
            if (pdpt is null) return false;
            WriteEntry(to + (ulong)i4 * 8, pdpt.Value.Value | PermMask);
            var l3 = Entries(Target(l4[i4]));
            for (int i3 = 0; i3 < 512; i3++)
            {
                if (!Present(l3[i3])) continue;
                var pd = allocateTable();
                if (pd is null) return false;
                WriteEntry(pdpt.Value + (ulong)i3 * 8, pd.Value.Value | PermMask);
                var fromPd = Target(l3[i3]);
                var l2 = Entries(fromPd);
                for (int i2 = 0; i2 < 512; i2++)
                {
                    ulong e = l2[i2];
                    if (!Present(e)) continue;
                    ulong shared = e & ~w;
                    if (shared != e) WriteEntry(fromPd + (ulong)i2 * 8, shared);
                    WriteEntry(pd.Value + (ulong)i2 * 8, shared);
                    refs.AddRef(Target(e));
                }
            }
        }
        return true;
    }

    /// <summary>
    /// Makes the leaf table that maps <paramref name="va"/> in the space at <paramref name="root"/>
    /// private, so its entries may be changed: call it before changing a leaf entry of a space whose
    /// tables may be shared. A PD entry without Writable marks a leaf table that
    /// <see cref="ShareLeafTables"/> shared (or once shared): if other PD entries still reference it,
    /// this space gets a copy (from <paramref name="allocateTable"/>), and every writable page in both
    /// copies becomes copy-on-write (read-only with <see cref="Cow"/>: each page is now mapped by two
    /// tables and gains a reference) except pages marked <see cref="Shared"/>, which stay writable; a table referenced only here just gets Writable back. Flushes the
    /// TLB when <paramref name="root"/> is in CR3. False when memory is full (nothing changed).
    /// </summary>
    public bool UnshareLeafTable(PhysAddr root, VirtAddr va, Func<PhysAddr?> allocateTable, IPageRefcounts refs)
    {
        var pdeAddr = EntryAddress(root, va.PageBase, 2);
        if (pdeAddr is null) return true;
        ulong pde = Memory.ReadU64(pdeAddr.Value);
        if (!Present(pde) || (pde & (ulong)PteFlags.Writable) != 0) return true;
        var table = Target(pde);
        if (refs.Refcount(table) > 1)
        {
            var fresh = allocateTable();
            if (fresh is null) return false;
            const ulong w = (ulong)PteFlags.Writable;
            var old = Entries(table);
            for (int i = 0; i < 512; i++)
            {
                ulong e = old[i];
                if (!Present(e)) continue;
                if ((e & w) != 0 && (e & (ulong)Shared) == 0)
                {
                    // the other sharers' PD entries are read-only, so no TLB holds a writable copy of this entry
                    e = (e & ~w) | (ulong)Cow;
                    WriteEntry(table + (ulong)i * 8, e);
                }
                WriteEntry(fresh.Value + (ulong)i * 8, e);
                refs.AddRef(Target(e));
            }
            refs.Release(table);             // others still hold it
            table = fresh.Value;
        }
        WriteEntry(pdeAddr.Value, table.Value | PermMask);
        if (_machine.Cpu.Cr3 == root.Value) _machine.Cpu.FlushTlb();
        return true;
    }

    /// <summary>
    /// Frees the address space at <paramref name="root"/>: one reference to each of its PML4, PDPTs,
    /// PDs and leaf tables; a leaf table's pages lose their reference only when the table's last
    /// reference goes (until then another space still maps them through it). Flushes the TLB when
    /// <paramref name="root"/> is in CR3.
    /// </summary>
    public void FreeTree(PhysAddr root, IPageRefcounts refs)
    {
        var l4 = Entries(root);
        for (int i4 = 0; i4 < 512; i4++)
        {
            if (!Present(l4[i4])) continue;
            var pdpt = Target(l4[i4]);
            var l3 = Entries(pdpt);
            for (int i3 = 0; i3 < 512; i3++)
            {
                if (!Present(l3[i3])) continue;
                var pd = Target(l3[i3]);
                var l2 = Entries(pd);
                for (int i2 = 0; i2 < 512; i2++)
                {
                    if (!Present(l2[i2])) continue;
                    var leaf = Target(l2[i2]);
                    if (!refs.Release(leaf)) continue;
                    var l1 = Entries(leaf);
                    for (int i1 = 0; i1 < 512; i1++)
                        if (Present(l1[i1])) refs.Release(Target(l1[i1]));
                }
                refs.Release(pd);
            }
            refs.Release(pdpt);
        }
        refs.Release(root);
        if (_machine.Cpu.Cr3 == root.Value) _machine.Cpu.FlushTlb();
    }

    /// <summary>
    /// Visits every present entry of the tables under <paramref name="root"/>, depth first: each
    /// entry of a table, and the table it points to where <paramref name="visit"/> returns true (so a
    /// table several entries share can be visited once, and an entry pointing beyond memory not
    /// followed). For checks that look at the raw entries at every level.
    /// </summary>
    public void VisitEntries(PhysAddr root, EntryVisitor visit) => VisitEntries(root, 4, visit);

    private void VisitEntries(PhysAddr table, int level, EntryVisitor visit)
    {
        for (int i = 0; i < 512; i++)
        {
            ulong e = Memory.ReadU64(table + (ulong)i * 8);
            if (!Present(e)) continue;
            if (visit(table, level, i, e) && level > 1) VisitEntries(Target(e), level - 1, visit);
        }
    }

    /// <summary>The physical page an entry points to (a table, or the page a leaf maps).</summary>
    public static PhysAddr EntryTarget(ulong entry) => Target(entry);

    /// <summary>
    /// Physical address of the entry at <paramref name="level"/> (4 = PML4 ... 1 = leaf) that
    /// covers <paramref name="va"/>, or null when a table above that level is missing.
    /// </summary>
    private PhysAddr? EntryAddress(PhysAddr root, VirtAddr va, int level)
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
