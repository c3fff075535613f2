using Lab.Kernel.Common;
using Lab.Machine;
using static Lab.Kernel.Posix.Errno;

namespace Lab.Kernel.Posix;

// The memory family: the system calls brk and page_alloc, and the address-space mechanics under
// them and under fork and the page-fault handler: mapping and unmapping pages, copy-on-write, and
// the leaf page tables fork shares between parent and child.
public sealed partial class PosixKernel
{
    // =========================================================================================
    // system calls

    /// <summary>
    /// brk(addr): moves the end of the heap (the program break) to <paramref name="addrPtr"/>, mapping
    /// fresh zeroed pages as it grows and unmapping them as it shrinks, within 1 GiB above the end of
    /// the program's segments. Returns the new break. Linux: the raw brk system call (brk(2) notes).
    /// Fails as Linux's does, with no errno: returns the old break (out of range, or memory full:
    /// nothing mapped), or a break part way down (shrinking found no memory to unshare a table).
    /// brk(0) asks for the current break.
    /// </summary>
    private long Brk(PProcess p, UserPtr addrPtr)
    {
        ulong addr = addrPtr.Value;
        if (addr < p.BrkStart || addr > p.BrkStart + (1UL << 30)) return (long)p.Brk;
        ulong oldTop = (p.Brk + Page - 1) & ~(Page - 1), newTop = (addr + Page - 1) & ~(Page - 1);
        for (ulong va = oldTop; va < newTop; va += Page)
        {
            var pa = _pages.Allocate(p.Pid);
            if (pa is null || !MapPage(p.Pid, p.Root, new VirtAddr(va), pa.Value, PageTables.PWU))
            {
                if (pa is not null) _pages.Release(pa.Value);
                UnmapRange(p, oldTop, va);     // just mapped, so their tables are private: cannot fail
                return (long)p.Brk;
            }
        }
        if (newTop < oldTop)
        {
            ulong left = UnmapRange(p, newTop, oldTop);
            if (left != newTop) { p.Brk = left; return (long)left; }   // out of memory to unshare: shrunk part way
        }
        p.Brk = addr;
        return (long)addr;
    }

    /// <summary>
    /// page_alloc(addr), Lab's private call as in WeensyOS (sys_page_alloc): maps a fresh zeroed page,
    /// readable and writable by the user, at the page-aligned user address <paramref name="addrPtr"/>,
    /// replacing any page mapped there. No Linux counterpart (mmap with MAP_FIXED comes closest).
    /// Returns 0. Fails: -EINVAL (misaligned, the null page, or not user space), -ENOMEM.
    /// </summary>
    private long PageAlloc(PProcess p, UserPtr addrPtr)
    {
        ulong addr = addrPtr.Value;
        if ((addr & (Page - 1)) != 0 || addr < Page || addr >= UserLimit) return -EINVAL;
        var pa = _pages.Allocate(p.Pid);
        if (pa is null) return -ENOMEM;
        if (UnmapRange(p, addr, addr + Page) != addr || !MapPage(p.Pid, p.Root, new VirtAddr(addr), pa.Value, PageTables.PWU))
        {
            _pages.Release(pa.Value);
            return -ENOMEM;   // no memory to unshare the page's table: nothing changed but maybe the old page's mapping
        }
        return 0;
    }

    /// <summary>
    /// Unmaps [start, end) of p (page aligned), top down, dropping each page's reference. A shared
    /// leaf table is copied first; when that finds no memory it stops and returns the address from
    /// which everything up to <paramref name="end"/> is unmapped (else <paramref name="start"/>).
    /// </summary>
    private ulong UnmapRange(PProcess p, ulong start, ulong end)
    {
        ulong va = end;
        while (va > start)
        {
            ulong page = va - Page;
            if (_pt.Lookup(p.Root, new VirtAddr(page)) is not null)
            {
                if (!UnshareLeafTable(p.Pid, p.Root, new VirtAddr(page))) break;
                var m = _pt.Lookup(p.Root, new VirtAddr(page))!.Value;   // the table may have moved
                _pages.Release(m.Pa);
                _pt.SetLeaf(p.Root, m, new PhysAddr(0), 0);
            }
            va = page;
        }
        _m.Cpu.FlushTlb();
        return va;
    }

    // =========================================================================================
    // address spaces

    /// <summary>Maps one page of the address space at <paramref name="root"/> (a perm of 0 unmaps);
    /// a shared leaf table is unshared first and new tables are allocated for <paramref name="owner"/>.
    /// False when memory is full.</summary>
    private bool MapPage(int owner, PhysAddr root, VirtAddr va, PhysAddr pa, PteFlags perm)
    {
        if (!UnshareLeafTable(owner, root, va)) return false;
        _tableOwner = owner;
        return _pt.Map(root, va, pa, perm, _allocTable);
    }

    /// <summary>Frees an address space (see <see cref="PageTables.FreeTree"/>: a leaf table fork
    /// shares keeps its pages until its last sharer goes).</summary>
    private void FreeSpace(PhysAddr root) => _pt.FreeTree(root, _pages);

    /// <summary>Makes the leaf table that maps <paramref name="va"/> in the space at
    /// <paramref name="root"/> private before one of its entries changes (see
    /// <see cref="PageTables.UnshareLeafTable"/>); a copy is allocated for <paramref name="owner"/>.
    /// False when memory is full (nothing changed).</summary>
    private bool UnshareLeafTable(int owner, PhysAddr root, VirtAddr va)
    {
        _tableOwner = owner;
        return _pt.UnshareLeafTable(root, va, _allocTable, _pages);
    }

    /// <summary>
    /// Handles a write to present, user-accessible mapping <paramref name="m"/> that is not writable:
    /// unshares its leaf table and breaks copy-on-write as needed. False when the page is really
    /// read-only (its table is then left as it was) or memory is full.
    /// </summary>
    private bool MakeWritable(PProcess p, in Mapping m)
    {
        if ((m.Pte & (ulong)PteFlags.Writable) == 0 && !m.IsCow) return false;
        if (!UnshareLeafTable(p.Pid, p.Root, m.Va)) return false;
        var now = _pt.Lookup(p.Root, m.Va)!.Value;       // the table may have moved
        if (now.Writable) return true;
        return now.IsCow && BreakCow(p, now);
    }

    /// <summary>Gives p a private, writable copy of copy-on-write page <paramref name="m"/> (the
    /// page itself when no one else maps it). Its leaf table must be private. False when memory is full.</summary>
    private bool BreakCow(PProcess p, in Mapping m)
    {
        var perm = PageTables.PWU;
        if (_pages.Refcount(m.Pa) == 1)
        {
            _pt.SetLeaf(p.Root, m, m.Pa, perm);
            return true;
        }
        var fresh = _pages.Allocate(p.Pid);
        if (fresh is null) return false;
        _m.Memory.Write(fresh.Value, _m.Memory.View(m.Pa, (int)Page));
        _pages.Release(m.Pa);
        _pt.SetLeaf(p.Root, m, fresh.Value, perm);
        return true;
    }

    /// <summary>
    /// Copy-on-write fork of p's address space into c's (empty) one: c gets its own PDPTs and PDs,
    /// whose entries point at p's leaf tables, read-only on both sides (see
    /// <see cref="PageTables.ShareLeafTables"/>); the first write through either side faults and
    /// unshares that table (<see cref="UnshareLeafTable"/>). The cost is one pass over p's upper-level
    /// tables; no leaf entry and no data page is touched. False when memory is full (c's space is
    /// then partial but consistent).
    /// </summary>
    private bool ShareSpace(PProcess p, PProcess c)
    {
        _tableOwner = c.Pid;
        return _pt.ShareLeafTables(p.Root, c.Root, new VirtAddr(UserLimit), _allocTable, _pages);
    }

    /// <summary>Eager fork (<see cref="CopyOnWriteFork"/> false): c gets a private copy of every page
    /// p may write; read-only pages are shared. False when memory is full (c's space is partial).</summary>
    private bool CopySpace(PProcess p, PProcess c)
    {
        var maps = _pt.Mappings(p.Root, new VirtAddr(0), new VirtAddr(UserLimit));
        foreach (var m in maps)
        {
            // the leaf's own bits: the effective permission is read-only under a shared table
            if ((m.Pte & (ulong)PteFlags.Writable) != 0 || m.IsCow)
            {
                var copy = _pages.Allocate(c.Pid);
                if (copy is null) return false;
                _m.Memory.Write(copy.Value, _m.Memory.View(m.Pa, (int)Page));
                if (!MapPage(c.Pid, c.Root, m.Va, copy.Value, PageTables.PWU)) { _pages.Release(copy.Value); return false; }
                continue;
            }
            if (!MapPage(c.Pid, c.Root, m.Va, m.Pa, m.Perm & PageTables.PWU)) return false;
            _pages.AddRef(m.Pa);
        }
        return true;
    }

}
