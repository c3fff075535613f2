using Lab.Kernel.Memory;
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
            var pa = Alloc(p.Pid);
            if (pa is null || !MapPage(p.Pid, p.Root, va, pa.Value, PageTables.PWU))
            {
                if (pa is not null) Release(pa.Value);
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
        var pa = Alloc(p.Pid);
        if (pa is null) return -ENOMEM;
        if (UnmapRange(p, addr, addr + Page) != addr || !MapPage(p.Pid, p.Root, addr, pa.Value, PageTables.PWU))
        {
            Release(pa.Value);
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
                if (!UnshareLeafTable(p.Pid, p.Root, page)) break;
                var m = _pt.Lookup(p.Root, new VirtAddr(page))!.Value;   // the table may have moved
                Release(m.Pa);
                _pt.SetLeaf(p.Root, m, new PhysAddr(0), 0);
            }
            va = page;
        }
        _m.Cpu.FlushTlb();
        return va;
    }

    // =========================================================================================
    // address spaces

    private static bool Present(ulong entry) => (entry & (ulong)PteFlags.Present) != 0;

    /// <summary>Maps one page of the address space at <paramref name="root"/> (a perm of 0 unmaps);
    /// a shared leaf table is unshared first and new tables are allocated for <paramref name="owner"/>.
    /// False when memory is full.</summary>
    private bool MapPage(int owner, PhysAddr root, ulong va, PhysAddr pa, PteFlags perm)
    {
        if (!UnshareLeafTable(owner, root, va)) return false;
        _tableOwner = owner;
        return _pt.Map(root, new VirtAddr(va), pa, perm, _allocTable);
    }

    /// <summary>
    /// Frees an address space: its PML4, PDPTs and PDs (never shared) and one reference per leaf
    /// table; a leaf table's data pages lose their reference only when the table's last reference
    /// goes (until then another process still maps them through it).
    /// </summary>
    private void FreeSpace(PhysAddr root)
    {
        var l4 = _pt.TableEntries(root);
        for (int i4 = 0; i4 < 512; i4++)
        {
            if (!Present(l4[i4])) continue;
            var pdpt = PageTables.Target(l4[i4]);
            var l3 = _pt.TableEntries(pdpt);
            for (int i3 = 0; i3 < 512; i3++)
            {
                if (!Present(l3[i3])) continue;
                var pd = PageTables.Target(l3[i3]);
                var l2 = _pt.TableEntries(pd);
                for (int i2 = 0; i2 < 512; i2++)
                {
                    if (!Present(l2[i2])) continue;
                    var leaf = PageTables.Target(l2[i2]);
                    if (!Release(leaf)) continue;
                    var l1 = _pt.TableEntries(leaf);
                    for (int i1 = 0; i1 < 512; i1++)
                        if (Present(l1[i1])) Release(PageTables.Target(l1[i1]));
                }
                Release(pd);
            }
            Release(pdpt);
        }
        Release(root);
        if (_m.Cpu.Cr3 == root.Value) _m.Cpu.FlushTlb();
    }

    /// <summary>
    /// Makes the leaf table that maps <paramref name="va"/> in the space at <paramref name="root"/>
    /// private, so its entries may be changed. Called before any change to a leaf entry. A PD entry
    /// without Writable marks a table that fork shared (or once shared): if other PD entries still
    /// reference it, this space gets a copy, and every writable page in both copies becomes
    /// copy-on-write (each page is now mapped by two tables); a table referenced only here just gets
    /// Writable back. The copy is allocated for <paramref name="owner"/>. False when memory is full
    /// (nothing changed).
    /// </summary>
    private bool UnshareLeafTable(int owner, PhysAddr root, ulong va)
    {
        var pdeAddr = _pt.EntryAddress(root, new VirtAddr(va & ~(Page - 1)), 2);
        if (pdeAddr is null) return true;
        ulong pde = _m.Memory.ReadU64(pdeAddr.Value);
        if (!Present(pde) || (pde & (ulong)PteFlags.Writable) != 0) return true;
        var table = PageTables.Target(pde);
        int ti = (int)table.PageNumber;
        if (_ref[ti] > 1)
        {
            var fresh = Alloc(owner);
            if (fresh is null) return false;
            const ulong w = (ulong)PteFlags.Writable;
            var old = _pt.TableEntries(table);
            for (int i = 0; i < 512; i++)
            {
                ulong e = old[i];
                if (!Present(e)) continue;
                if ((e & w) != 0)
                {
                    // the other sharers' PD entries are read-only, so no TLB holds a writable copy of this entry
                    e = (e & ~w) | (ulong)Cow;
                    _pt.WriteEntry(table + (ulong)i * 8, e);
                }
                _m.Memory.WriteU64(fresh.Value + (ulong)i * 8, e);
                _ref[(int)PageTables.Target(e).PageNumber]++;
            }
            _ref[ti]--;
            table = fresh.Value;
        }
        _pt.WriteEntry(pdeAddr.Value, table.Value | (ulong)PageTables.PWU);
        if (_m.Cpu.Cr3 == root.Value) _m.Cpu.FlushTlb();
        return true;
    }

    /// <summary>
    /// Handles a write to present, user-accessible mapping <paramref name="m"/> that is not writable:
    /// unshares its leaf table and breaks copy-on-write as needed. False when the page is really
    /// read-only (its table is then left as it was) or memory is full.
    /// </summary>
    private bool MakeWritable(PProcess p, in Mapping m)
    {
        if ((m.Pte & (ulong)PteFlags.Writable) == 0 && !m.IsCow) return false;
        if (!UnshareLeafTable(p.Pid, p.Root, m.Va.Value)) return false;
        var now = _pt.Lookup(p.Root, m.Va)!.Value;       // the table may have moved
        if (now.Writable) return true;
        return now.IsCow && BreakCow(p, now);
    }

    /// <summary>Gives p a private, writable copy of copy-on-write page <paramref name="m"/> (the
    /// page itself when no one else maps it). Its leaf table must be private. False when memory is full.</summary>
    private bool BreakCow(PProcess p, in Mapping m)
    {
        var perm = PageTables.PWU;
        if (_ref[(int)m.Pa.PageNumber] == 1)
        {
            _pt.SetLeaf(p.Root, m, m.Pa, perm);
            return true;
        }
        var fresh = Alloc(p.Pid);
        if (fresh is null) return false;
        _m.Memory.Write(fresh.Value, _m.Memory.View(m.Pa, (int)Page));
        Release(m.Pa);
        _pt.SetLeaf(p.Root, m, fresh.Value, perm);
        return true;
    }

    /// <summary>
    /// Copy-on-write fork of p's address space into c's (empty) one: c gets its own PDPTs and PDs,
    /// whose entries point at p's leaf tables (each gains one reference), and both sides' PD entries
    /// lose Writable, so the first write through either faults and unshares that table
    /// (<see cref="UnshareLeafTable"/>). The cost is one pass over p's upper-level tables; no leaf
    /// entry and no data page is touched. False when memory is full (c's space is then partial but
    /// consistent; p's read-only PD entries are harmless: unsharing restores them).
    /// </summary>
    private bool ShareSpace(PProcess p, PProcess c)
    {
        const ulong w = (ulong)PteFlags.Writable;
        var l4 = _pt.TableEntries(p.Root);
        int userSlots = (int)(UserLimit >> 39);
        for (int i4 = 0; i4 < userSlots; i4++)
        {
            if (!Present(l4[i4])) continue;
            var pdpt = Alloc(c.Pid);
            if (pdpt is null) return false;
            _pt.WriteEntry(c.Root + (ulong)i4 * 8, pdpt.Value.Value | (ulong)PageTables.PWU);
            var l3 = _pt.TableEntries(PageTables.Target(l4[i4]));
            for (int i3 = 0; i3 < 512; i3++)
            {
                if (!Present(l3[i3])) continue;
                var pd = Alloc(c.Pid);
                if (pd is null) return false;
                _pt.WriteEntry(pdpt.Value + (ulong)i3 * 8, pd.Value.Value | (ulong)PageTables.PWU);
                var parentPd = PageTables.Target(l3[i3]);
                var l2 = _pt.TableEntries(parentPd);
                for (int i2 = 0; i2 < 512; i2++)
                {
                    ulong e = l2[i2];
                    if (!Present(e)) continue;
                    ulong shared = e & ~w;
                    if (shared != e) _pt.WriteEntry(parentPd + (ulong)i2 * 8, shared);
                    _pt.WriteEntry(pd.Value + (ulong)i2 * 8, shared);
                    _ref[(int)PageTables.Target(e).PageNumber]++;
                }
            }
        }
        return true;
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
                var copy = Alloc(c.Pid);
                if (copy is null) return false;
                _m.Memory.Write(copy.Value, _m.Memory.View(m.Pa, (int)Page));
                if (!MapPage(c.Pid, c.Root, m.Va.Value, copy.Value, PageTables.PWU)) { Release(copy.Value); return false; }
                continue;
            }
            if (!MapPage(c.Pid, c.Root, m.Va.Value, m.Pa, m.Perm & PageTables.PWU)) return false;
            _ref[(int)m.Pa.PageNumber]++;
        }
        return true;
    }

}
