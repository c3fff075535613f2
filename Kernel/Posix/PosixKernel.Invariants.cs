using Lab.Kernel.Common;
using Lab.Machine;

namespace Lab.Kernel.Posix;

// Plumbing: the kernel's consistency check (tests and sessions run it; a session stops on the
// first failure), kept apart from the core.
public sealed partial class PosixKernel
{
    /// <summary>
    /// Checks refcounts against the page tables; null when everything is consistent. Walks the
    /// distinct table pages reachable from the live processes: a table page's count must equal the
    /// upper-level entries referencing it, a data page's the leaf entries (in distinct leaf tables)
    /// referencing it, +1 for the reserved first MiB. A table referenced more than once must be
    /// read-only in every referencing entry, a writable leaf entry's page must have no other
    /// reference (unless the entry is marked <see cref="PageTables.Shared"/>: MAP_SHARED memory), and exactly the free pages have owner 0.
    /// </summary>
    public string? CheckInvariants()
    {
        int n = _pages.Count;
        var expected = new int[n];
        var writableRefs = new int[n];       // Writable upper-level entries referencing a table page
        var visited = new bool[n];
        var writableLeaf = new bool[n];      // a data page some leaf entry maps writable
        string? error = null;
        for (int i = 0; i < PageFrames.FirstUsable; i++) expected[i] = 1;

        // Each entry counts one reference to the page it points to; a table is entered once.
        bool Visit(PhysAddr table, int level, int index, ulong e)
        {
            if (error is not null) return false;
            ulong page = PageTables.EntryTarget(e).PageNumber;
            if (page >= (ulong)n) { error = $"table {table} entry {index} points beyond RAM"; return false; }
            expected[page]++;
            bool writable = (e & (ulong)PteFlags.Writable) != 0;
            if (level == 1) { if (writable && (e & (ulong)PageTables.Shared) == 0) writableLeaf[page] = true; return false; }
            if (writable) writableRefs[page]++;
            if (visited[page]) return false;
            visited[page] = true;
            return true;
        }

        foreach (var p in _procs)
        {
            if (p.State == PState.Zombie) continue;
            int r = (int)p.Root.PageNumber;
            expected[r]++;
            if (visited[r]) return $"process {p.Pid}: root {p.Root} is shared";
            visited[r] = true;
            _pt.VisitEntries(p.Root, Visit);
            if (error is not null) return error;
        }
        int free = _pages.CountFree();
        if (free != _pages.Free) return $"free-page count {_pages.Free}, but {free} pages are free";
        for (int i = 0; i < n; i++)
        {
            int refs = _pages.Refcount(i);
            if (expected[i] != refs) return $"page {i:x}: refcount {refs}, mappings {expected[i]}";
            if (visited[i] && expected[i] > 1 && writableRefs[i] > 0)
                return $"table page {i:x}: shared by {expected[i]} entries, {writableRefs[i]} of them writable";
            if (writableLeaf[i] && expected[i] != 1) return $"page {i:x}: mapped writable but has {expected[i]} references";
            int owner = _pages.Owner(i);
            if (i < PageFrames.FirstUsable ? owner != -1 : (owner == 0) != (refs == 0))
                return $"page {i:x}: owner {owner} with refcount {refs}";
        }
        return null;
    }
}
