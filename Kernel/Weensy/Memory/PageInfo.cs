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

    /// <summary>
    /// Free pages promised to future copy-on-write faults: for every page shared copy-on-write,
    /// refcount - 1 (the last sharer takes the page over instead of copying it). Ordinary
    /// allocations never dip into these, so a copy-on-write fault always finds its page and
    /// running out of memory shows up where WeensyOS reports it: fork and page_alloc return -1.
    /// Invariant: <see cref="FreeCount"/> &gt;= <see cref="CowReserve"/>. Zero before the cow step.
    /// </summary>
    private int _cowReserve;

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
    /// <summary>Free pages promised to future copy-on-write copies (see the field's comment).</summary>
    public int CowReserve => _cowReserve;

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
        _cowReserve = 0;
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
    /// refcount 1 and filled with zeros. Null when memory is full, counting the pages promised to
    /// copy-on-write faults (<see cref="CowReserve"/>) as taken.
    /// </summary>
    public PhysAddr? Allocate(sbyte owner)
    {
        if (_cowReserve > 0 && FreeCount() <= _cowReserve) return null;
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

    /// <summary>
    /// Promises one free page to a future copy-on-write fault (fork is sharing a writable page).
    /// False, promising nothing, when every free page is already promised: fork must fail then.
    /// </summary>
    public bool ReserveCowCopy()
    {
        if (FreeCount() <= _cowReserve) return false;
        _cowReserve++;
        return true;
    }

    /// <summary>
    /// Withdraws one promise: a copy-on-write page lost a sharer (it exited, or copied the page
    /// at its write fault). Callers withdraw before allocating the copy, so the copy always fits.
    /// </summary>
    public void ReleaseCowCopy()
    {
        if (_cowReserve <= 0) throw new InvalidOperationException("kernel bug: copy-on-write reserve underflow");
        _cowReserve--;
    }

    /// <summary>Sets the promise count (a restored snapshot recomputes it from the page tables).</summary>
    internal void SetCowReserve(int pages) => _cowReserve = pages;

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
