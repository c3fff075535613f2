using Lab.Kernel.Common;
using Lab.Machine;

namespace Lab.Kernel.Weensy.Memory;

/// <summary>
/// pageinfo: for every physical page, who owns it and how many references it has
/// (WEENSYOS.md §2). refcount 0 means free, whatever the owner says.
/// Owners: <see cref="Free"/> 0, <see cref="Reserved"/> -1, <see cref="KernelOwner"/> -2, or a pid.
/// </summary>
public sealed class PageInfo
{
    public const sbyte Free = 0;
    public const sbyte Reserved = -1;
    public const sbyte KernelOwner = -2;

    private readonly sbyte[] _owner = new sbyte[Layout.PhysicalPages];
    private readonly sbyte[] _refcount = new sbyte[Layout.PhysicalPages];
    private readonly PhysicalMemory _memory;

    private readonly ChangeCounter _changes;

    public PageInfo(PhysicalMemory memory, ChangeCounter changes)
    {
        _memory = memory;
        _changes = changes;
    }

    public int Count => Layout.PhysicalPages;
    public sbyte Owner(int page) => _owner[page];
    public sbyte Refcount(int page) => _refcount[page];
    public sbyte Owner(PhysAddr pa) => _owner[pa.PageNumber];
    public sbyte Refcount(PhysAddr pa) => _refcount[pa.PageNumber];

    /// <summary>pageinfo_init: reserved, kernel and free pages of the boot layout, refcount 1 unless free.</summary>
    public void Initialize()
    {
        _changes.Bump();
        for (int pn = 0; pn < Layout.PhysicalPages; pn++)
        {
            ulong pa = (ulong)pn * Layout.PageSize;
            sbyte owner = Layout.IsReserved(pa) ? Reserved : Layout.IsKernel(pa) ? KernelOwner : Free;
            _owner[pn] = owner;
            _refcount[pn] = owner == Free ? (sbyte)0 : (sbyte)1;
        }
    }

    /// <summary>
    /// assign_physical_page: gives the page at <paramref name="pa"/> to <paramref name="owner"/>
    /// with refcount 1. Fails (false) if pa is unaligned, beyond physical memory, or not free.
    /// The handout uses this for "physical address = virtual address" allocation.
    /// </summary>
    public bool Assign(PhysAddr pa, sbyte owner)
    {
        if (!pa.IsPageAligned || pa.Value >= Layout.MemSizePhysical || _refcount[pa.PageNumber] != 0)
            return false;
        _refcount[pa.PageNumber] = 1;
        _owner[pa.PageNumber] = owner;
        _changes.Bump();
        return true;
    }

    /// <summary>
    /// The physical page allocator: the lowest free page, given to <paramref name="owner"/> with
    /// refcount 1 and filled with zeros. Null when memory is full.
    /// </summary>
    public PhysAddr? Allocate(sbyte owner)
    {
        for (int pn = 0; pn < Layout.PhysicalPages; pn++)
        {
            if (_refcount[pn] != 0) continue;
            var pa = PhysAddr.FromPage((ulong)pn);
            Assign(pa, owner);
            _memory.Fill(pa, Layout.PageSize, 0);
            return pa;
        }
        return null;
    }

    /// <summary>Adds a reference to a page that is already in use (sharing it).</summary>
    public void AddRef(PhysAddr pa)
    {
        _refcount[pa.PageNumber]++;
        _changes.Bump();
    }

    /// <summary>Drops one reference; the page becomes free (owner 0) when none are left.
    /// Returns the remaining count.</summary>
    public int Release(PhysAddr pa)
    {
        int pn = (int)pa.PageNumber;
        _changes.Bump();
        if (_refcount[pn] <= 0) throw new InvalidOperationException($"kernel bug: releasing free page {pa}");
        if (--_refcount[pn] == 0) _owner[pn] = Free;
        return _refcount[pn];
    }

    /// <summary>Gives a page in use to another owner (exit re-owns shared pages to a live sharer).</summary>
    public void SetOwner(PhysAddr pa, sbyte owner)
    {
        _owner[pa.PageNumber] = owner;
        _changes.Bump();
    }

    /// <summary>Sets the refcount directly (boot: the shared kernel page table counts its sharers).</summary>
    public void SetRefcount(PhysAddr pa, sbyte refcount)
    {
        _refcount[pa.PageNumber] = refcount;
        _changes.Bump();
    }

    /// <summary>Number of free pages.</summary>
    public int FreeCount()
    {
        int n = 0;
        foreach (sbyte r in _refcount) if (r == 0) n++;
        return n;
    }

    internal void Save(BinaryWriter w)
    {
        w.Write((byte[])(Array)_owner);
        w.Write((byte[])(Array)_refcount);
    }

    internal void Load(BinaryReader r)
    {
        _changes.Bump();
        r.ReadBytes(Layout.PhysicalPages).CopyTo((byte[])(Array)_owner, 0);
        r.ReadBytes(Layout.PhysicalPages).CopyTo((byte[])(Array)_refcount, 0);
    }
}
