using Lab.Kernel.Common;
using Lab.Machine;
using static Lab.Kernel.Posix.Errno;

namespace Lab.Kernel.Posix;

// The memory family: the system calls brk, mmap, munmap, mprotect, madvise and page_alloc, and the
// address-space mechanics under them and under fork and the page-fault handler: mapping and
// unmapping pages, copy-on-write, and the leaf page tables fork shares between parent and child.
//
// There are no separate region records (Linux's vm_area_struct): the page tables are the truth.
// Anonymous private memory from mmap maps every page to one reserved, always-zero page, read-only
// and copy-on-write, so the first write to a page gets it a private copy (as Linux's zero page);
// memory costs a page only once written. PROT_NONE keeps a page present but not user-accessible,
// so its contents survive until mprotect makes it accessible again. MAP_SHARED anonymous memory is
// allocated at once and marked PageTables.Shared: fork shares those pages writable, not copy-on-write.
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
        if (newTop > oldTop && !RangeFree(p, oldTop, newTop)) return (long)p.Brk;   // an mmap is in the way
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
    /// Only mapped pages are visited (the walker skips absent tables), so a huge range costs what is
    /// mapped in it, not its length.
    /// </summary>
    private ulong UnmapRange(PProcess p, ulong start, ulong end)
    {
        var mapped = _pt.Mappings(p.Root, new VirtAddr(start), new VirtAddr(end));
        for (int i = mapped.Count - 1; i >= 0; i--)
        {
            var page = mapped[i].Va;
            if (!UnshareLeafTable(p.Pid, p.Root, page)) { _m.Cpu.FlushTlb(); return page.Value + Page; }
            var m = _pt.Lookup(p.Root, page)!.Value;   // the table may have moved
            _pages.Release(m.Pa);
            _pt.SetLeaf(p.Root, m, new PhysAddr(0), 0);
        }
        _m.Cpu.FlushTlb();
        return start;
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
            if (((m.Pte & (ulong)PteFlags.Writable) != 0 || m.IsCow) && (m.Pte & (ulong)PageTables.Shared) == 0 && m.User)
            {
                var copy = _pages.Allocate(c.Pid);
                if (copy is null) return false;
                _m.Memory.Write(copy.Value, _m.Memory.View(m.Pa, (int)Page));
                if (!MapPage(c.Pid, c.Root, m.Va, copy.Value, PageTables.PWU)) { _pages.Release(copy.Value); return false; }
                continue;
            }
            var perm = (m.Pte & (ulong)PageTables.Shared) != 0 ? (PteFlags)m.Pte & (PageTables.PWU | PageTables.Shared)
                : (PteFlags)m.Pte & PageTables.PWU & ~PteFlags.Writable;    // read-only or PROT_NONE: kept as it was
            if (!MapPage(c.Pid, c.Root, m.Va, m.Pa, perm)) return false;
            _pages.AddRef(m.Pa);
        }
        return true;
    }


    // =========================================================================================
    // mmap, munmap, mprotect, mremap, madvise

    /// <summary>The reserved page (in the first MiB, never allocated, always zero) that fresh anonymous
    /// private memory maps read-only and copy-on-write until written.</summary>
    private static readonly PhysAddr ZeroPage = new(0x2000);
    /// <summary>mmap without an address places mappings top-down from here (below the stack's room).</summary>
    public const ulong MmapTop = 0x0000_7F00_0000_0000UL;
    /// <summary>The lowest address a mapping may have (Linux's vm.mmap_min_addr).</summary>
    private const ulong MmapMin = 0x10000;

    private const int PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4;
    private const int MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_SHARED_VALIDATE = 0x03, MAP_TYPE = 0x0f,
        MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20, MAP_FIXED_NOREPLACE = 0x100000;
    /// <summary>Flags accepted and not needing anything here (no swap, no huge pages, no locking).</summary>
    private const int MapIgnored = 0x0100 /* GROWSDOWN */ | 0x0800 /* DENYWRITE */ | 0x1000 /* EXECUTABLE */
        | 0x2000 /* LOCKED */ | 0x4000 /* NORESERVE */ | 0x8000 /* POPULATE */ | 0x10000 /* NONBLOCK */
        | 0x20000 /* STACK */ | 0x40000 /* HUGETLB */ | 0x80000 /* SYNC */ | 0x40 /* MAP_32BIT */;

    /// <summary>True when nothing is mapped in [start, end) of p.</summary>
    private bool RangeFree(PProcess p, ulong start, ulong end)
    {
        bool free = true;
        _pt.ForEach(p.Root, new VirtAddr(start), new VirtAddr(end), (in Mapping _) => free = false);
        return free;
    }

    /// <summary>The highest free range of <paramref name="len"/> bytes below <see cref="MmapTop"/>
    /// (Linux's top-down get_unmapped_area); 0 when there is none.</summary>
    private ulong FindFreeRange(PProcess p, ulong len)
    {
        ulong hi = MmapTop;
        while (hi >= MmapMin + len)
        {
            ulong lo = hi - len;
            ulong highest = 0;
            bool any = false;
            _pt.ForEach(p.Root, new VirtAddr(lo), new VirtAddr(hi), (in Mapping m) => { any = true; highest = Math.Max(highest, m.Va.Value); });
            if (!any) return lo;
            hi = highest & ~(Page - 1);      // below the highest page in the way
        }
        return 0;
    }

    /// <summary>The leaf permission for <paramref name="prot"/>: none (present, not user-accessible),
    /// read (and exec), or read-write; a private page others still map stays copy-on-write.</summary>
    private PteFlags ProtPerm(int prot, bool shared, PhysAddr pa)
    {
        if ((prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) == 0) return PteFlags.Present | (shared ? PageTables.Shared : 0);
        if ((prot & PROT_WRITE) == 0) return PageTables.PU | (shared ? PageTables.Shared : 0);
        if (shared) return PageTables.PWU | PageTables.Shared;
        return pa == ZeroPage || _pages.Refcount(pa) > 1 ? PageTables.PU | PageTables.Cow : PageTables.PWU;
    }

    /// <summary>
    /// mmap(addr, len, prot, flags, fd, off): maps <paramref name="len"/> bytes (rounded up to pages)
    /// and returns the address. Anonymous private memory reads as zeros and costs a page only when
    /// written; anonymous shared memory (MAP_SHARED|MAP_ANONYMOUS) is allocated at once and stays
    /// shared with children across fork; a private file mapping (MAP_PRIVATE with fd) is a private
    /// copy of the file's bytes from <paramref name="off"/> (zeros past the end). Without MAP_FIXED the
    /// address is <paramref name="addr"/> when that range is free, else the highest free range below
    /// <see cref="MmapTop"/>; MAP_FIXED replaces whatever was mapped there; MAP_FIXED_NOREPLACE fails
    /// with -EEXIST instead. prot: PROT_NONE, PROT_READ, PROT_WRITE (PROT_EXEC is PROT_READ: no NX).
    /// Linux: mmap(2).
    /// Fails: -EINVAL (len 0, misaligned addr with MAP_FIXED or misaligned off, neither or both of
    /// MAP_SHARED and MAP_PRIVATE, unknown flags, a fixed range outside user space), -EBADF (no
    /// anonymous flag and fd not open), -EACCES (fd not a regular file open for reading), -ENODEV
    /// (MAP_SHARED of a file: not supported yet), -EEXIST, -ENOMEM (no room or no memory; nothing mapped).
    /// </summary>
    private long Mmap(PProcess p, UserPtr addrPtr, ulong len, int prot, int flags, int fd, long off)
    {
        ulong addr = addrPtr.Value;
        int type = flags & MAP_TYPE;
        int known = MAP_TYPE | MAP_FIXED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MapIgnored;
        if (len == 0 || len > UserLimit || (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE)) return -EINVAL;
        if ((flags & ~known) != 0 && type == MAP_SHARED_VALIDATE) return -EINVAL;   // Linux: EOPNOTSUPP
        if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) != 0) return -EINVAL;
        bool shared = type != MAP_PRIVATE, anon = (flags & MAP_ANONYMOUS) != 0;
        bool atFixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0;
        ulong size = (len + Page - 1) & ~(Page - 1);
        // More than the machine's memory can never be backed (Linux's overcommit heuristic refuses it
        // too), and would only cost page tables and time.
        if (size > (ulong)_pages.Count * Page) return -ENOMEM;
        if (!anon && (((ulong)off & (Page - 1)) != 0 || off < 0)) return -EINVAL;
        OpenFile? file = null;
        if (!anon)
        {
            file = Fd(p, (ulong)(uint)fd);
            if (fd < 0 || file is null) return -EBADF;
            if (file.Kind != FileKind.File || !file.Readable) return -EACCES;
            if (shared) return -ENODEV;
        }
        if (atFixed)
        {
            if ((addr & (Page - 1)) != 0 || addr < MmapMin || addr >= UserLimit || size > UserLimit - addr) return -EINVAL;
            if (!RangeFree(p, addr, addr + size))
            {
                if ((flags & MAP_FIXED_NOREPLACE) != 0) return -EEXIST;
                if (UnmapRange(p, addr, addr + size) != addr) return -ENOMEM;
            }
        }
        else
        {
            addr &= ~(Page - 1);
            if (addr < MmapMin || addr >= UserLimit || size > UserLimit - addr || !RangeFree(p, addr, addr + size))
                addr = FindFreeRange(p, size);
            if (addr == 0) return -ENOMEM;
        }
        if (!anon && _pages.Free < (long)(size / Page) + ForkReserve) return -ENOMEM;
        if (anon && shared && _pages.Free < (long)(size / Page) + ForkReserve) return -ENOMEM;
        for (ulong va = addr; va < addr + size; va += Page)
        {
            PhysAddr pa = ZeroPage;
            if (shared || !anon)
            {
                if (_pages.Allocate(p.Pid) is not { } fresh) { UnmapRange(p, addr, va); return -ENOMEM; }
                pa = fresh;
                if (file is not null)
                {
                    long at = off + (long)(va - addr);
                    int n = (int)Math.Clamp(file.Node!.Length - at, 0, (long)Page);
                    if (n > 0) _m.Memory.Write(pa, file.Node.Data.AsSpan((int)at, n));
                }
            }
            else _pages.AddRef(pa);
            if (!MapPage(p.Pid, p.Root, new VirtAddr(va), pa, ProtPerm(prot, shared, pa)))
            {
                _pages.Release(pa);
                UnmapRange(p, addr, va);
                return -ENOMEM;
            }
        }
        return (long)addr;
    }

    /// <summary>
    /// munmap(addr, len): unmaps every page of [addr, addr+len) (rounded up to pages); unmapped parts
    /// are fine. Later accesses there fault (SIGSEGV). Linux: munmap(2).
    /// Fails: -EINVAL (addr misaligned, len 0, outside user space), -ENOMEM (no memory to unshare a
    /// page table fork shares; the range is then unmapped only from some address up).
    /// </summary>
    private long Munmap(PProcess p, UserPtr addrPtr, ulong len)
    {
        ulong addr = addrPtr.Value;
        if ((addr & (Page - 1)) != 0 || len == 0 || addr >= UserLimit || len > UserLimit - addr) return -EINVAL;
        ulong end = Math.Min((addr + len + Page - 1) & ~(Page - 1), UserLimit);
        return UnmapRange(p, addr, end) == addr ? 0 : -ENOMEM;
    }

    /// <summary>
    /// mprotect(addr, len, prot): changes the access of the mapped pages of [addr, addr+len):
    /// PROT_NONE (any access faults, the contents are kept), PROT_READ (a write faults), read-write
    /// (a page still shared with another process stays copy-on-write, so the first write copies it).
    /// Linux: mprotect(2).
    /// Fails: -EINVAL (addr misaligned, unknown prot bits), -ENOMEM (a page of the range is not mapped,
    /// or no memory to unshare a page table; pages before it were changed, as on Linux).
    /// </summary>
    private long Mprotect(PProcess p, UserPtr addrPtr, ulong len, int prot)
    {
        ulong addr = addrPtr.Value;
        if ((addr & (Page - 1)) != 0 || (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) != 0) return -EINVAL;
        if (addr >= UserLimit || len > UserLimit - addr) return -ENOMEM;
        ulong end = (addr + len + Page - 1) & ~(Page - 1);
        for (ulong va = addr; va < end; va += Page)
        {
            if (_pt.Lookup(p.Root, new VirtAddr(va)) is null) return -ENOMEM;
            if (!UnshareLeafTable(p.Pid, p.Root, new VirtAddr(va))) return -ENOMEM;
            var m = _pt.Lookup(p.Root, new VirtAddr(va))!.Value;
            bool shared = (m.Pte & (ulong)PageTables.Shared) != 0;
            _pt.SetLeaf(p.Root, m, m.Pa, ProtPerm(prot, shared, m.Pa));
        }
        _m.Cpu.FlushTlb();
        return 0;
    }

    private const int MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2;

    /// <summary>
    /// mremap(old, oldLen, newLen, flags, newAddr): resizes the mapping at [old, old+oldLen). Shrinking
    /// unmaps the tail; growing maps the new pages after it when they are free (anonymous private
    /// memory reads as zeros, shared memory gets fresh shared pages (Linux's shared object keeps its
    /// size, and the grown part faults with SIGBUS), with the access of the mapping's last page); otherwise, with MREMAP_MAYMOVE, the pages move (their frames and their
    /// copy-on-write or shared state, nothing is copied) to a free range, or to
    /// <paramref name="newAddrPtr"/> with MREMAP_FIXED (what was there is unmapped). Returns the
    /// mapping's address. glibc's realloc of a large block uses it. Linux: mremap(2).
    /// Fails: -EINVAL (misaligned addresses, newLen 0, unknown flags, MREMAP_FIXED without MAYMOVE,
    /// overlapping ranges, oldLen 0), -EFAULT (a page of the old range is not mapped), -ENOMEM (no
    /// room to grow in place without MAYMOVE, no free range, or no memory; the old mapping stays).
    /// </summary>
    private long Mremap(PProcess p, UserPtr oldPtr, ulong oldLen, ulong newLen, int flags, UserPtr newAddrPtr)
    {
        ulong old = oldPtr.Value, fixedAt = newAddrPtr.Value;
        if ((old & (Page - 1)) != 0 || newLen == 0 || oldLen == 0 || (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)) != 0) return -EINVAL;
        if ((flags & MREMAP_FIXED) != 0 && (flags & MREMAP_MAYMOVE) == 0) return -EINVAL;
        ulong oldSize = (oldLen + Page - 1) & ~(Page - 1), newSize = (newLen + Page - 1) & ~(Page - 1);
        if (old >= UserLimit || oldSize > UserLimit - old || newSize > UserLimit) return -EINVAL;
        if (newSize > (ulong)_pages.Count * Page) return -ENOMEM;
        for (ulong va = old; va < old + oldSize; va += Page)
            if (_pt.Lookup(p.Root, new VirtAddr(va)) is null) return -EFAULT;
        bool moveTo = (flags & MREMAP_FIXED) != 0;
        if (moveTo)
        {
            if ((fixedAt & (Page - 1)) != 0 || fixedAt < MmapMin || fixedAt >= UserLimit || newSize > UserLimit - fixedAt) return -EINVAL;
            if (fixedAt < old + oldSize && old < fixedAt + newSize) return -EINVAL;
        }
        else if (newSize <= oldSize)
        {
            return UnmapRange(p, old + newSize, old + oldSize) == old + newSize ? (long)old : -ENOMEM;
        }
        else if (old + newSize <= UserLimit && RangeFree(p, old + oldSize, old + newSize))
        {
            return Extend(p, old, oldSize, newSize) ? (long)old : -ENOMEM;
        }
        if ((flags & MREMAP_MAYMOVE) == 0) return -ENOMEM;

        ulong dest = moveTo ? fixedAt : FindFreeRange(p, newSize);
        if (dest == 0) return -ENOMEM;
        if (moveTo && UnmapRange(p, dest, dest + newSize) != dest) return -ENOMEM;
        ulong keep = Math.Min(oldSize, newSize);
        const PteFlags permBits = PteFlags.Present | PteFlags.Writable | PteFlags.User | PageTables.Cow | PageTables.Shared;
        for (ulong off = 0; off < keep; off += Page)
        {
            var m = _pt.Lookup(p.Root, new VirtAddr(old + off))!.Value;
            _pages.AddRef(m.Pa);                       // the old mapping's reference goes with UnmapRange below
            if (!MapPage(p.Pid, p.Root, new VirtAddr(dest + off), m.Pa, (PteFlags)m.Pte & permBits))
            {
                _pages.Release(m.Pa);
                UnmapRange(p, dest, dest + off);
                return -ENOMEM;
            }
        }
        if (newSize > oldSize && !Extend(p, dest, oldSize, newSize))
        {
            UnmapRange(p, dest, dest + oldSize);
            return -ENOMEM;
        }
        UnmapRange(p, old, old + oldSize);
        return (long)dest;
    }

    /// <summary>mremap's growth: maps [at+oldSize, at+newSize) like the mapping's last page (its
    /// access; shared memory with fresh shared pages, private memory with the zero page). False, with
    /// nothing added, when memory is full.</summary>
    private bool Extend(PProcess p, ulong at, ulong oldSize, ulong newSize)
    {
        var last = _pt.Lookup(p.Root, new VirtAddr(at + oldSize - Page))!.Value;
        bool shared = (last.Pte & (ulong)PageTables.Shared) != 0;
        int prot = !last.User ? 0 : last.Writable || last.IsCow ? PROT_READ | PROT_WRITE : PROT_READ;
        if (shared && _pages.Free < (long)((newSize - oldSize) / Page) + ForkReserve) return false;
        for (ulong va = at + oldSize; va < at + newSize; va += Page)
        {
            PhysAddr pa = ZeroPage;
            if (shared)
            {
                if (_pages.Allocate(p.Pid) is not { } fresh) { UnmapRange(p, at + oldSize, va); return false; }
                pa = fresh;
            }
            else _pages.AddRef(pa);
            if (!MapPage(p.Pid, p.Root, new VirtAddr(va), pa, ProtPerm(prot, shared, pa)))
            {
                _pages.Release(pa);
                UnmapRange(p, at + oldSize, va);
                return false;
            }
        }
        return true;
    }

    /// <summary>madvise(addr, len, advice): advice only. MADV_DONTNEED (4) and MADV_FREE (8) on private
    /// memory give the pages back (they read as zeros afterwards, as on Linux); other advice is
    /// accepted and has no effect here. Linux: madvise(2). Fails: -EINVAL (addr misaligned), -ENOMEM
    /// (outside user space).</summary>
    private long Madvise(PProcess p, UserPtr addrPtr, ulong len, int advice)
    {
        ulong addr = addrPtr.Value;
        if ((addr & (Page - 1)) != 0) return -EINVAL;
        if (addr >= UserLimit || len > UserLimit - addr) return -ENOMEM;
        if (advice != 4 && advice != 8) return 0;
        ulong end = (addr + len + Page - 1) & ~(Page - 1);
        foreach (var m0 in _pt.Mappings(p.Root, new VirtAddr(addr), new VirtAddr(end)))
        {
            if ((m0.Pte & (ulong)PageTables.Shared) != 0 || m0.Pa == ZeroPage) continue;
            if (!UnshareLeafTable(p.Pid, p.Root, m0.Va)) return -ENOMEM;
            var m = _pt.Lookup(p.Root, m0.Va)!.Value;
            bool writable = m.Writable || m.IsCow, none = !m.User;
            _pages.Release(m.Pa);
            _pages.AddRef(ZeroPage);
            var perm = none ? PteFlags.Present : writable ? PageTables.PU | PageTables.Cow : PageTables.PU;
            _pt.SetLeaf(p.Root, m, ZeroPage, perm);
        }
        _m.Cpu.FlushTlb();
        return 0;
    }
}
