using Lab.Kernel.Memory;
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
    /// reference, and exactly the free pages have owner 0.
    /// </summary>
    public string? CheckInvariants()
    {
        int n = _ref.Length;
        var expected = new int[n];
        var writableRefs = new int[n];       // Writable upper-level entries referencing a table page
        var visited = new bool[n];
        var writableLeaf = new bool[n];      // a data page some leaf entry maps writable
        string? error = null;
        for (int i = 0; i < _firstUsable; i++) expected[i] = 1;

        void Walk(PhysAddr table, int level)
        {
            var entries = _pt.TableEntries(table);
            for (int i = 0; i < 512 && error is null; i++)
            {
                ulong e = entries[i];
                if (!Present(e)) continue;
                ulong page = PageTables.Target(e).PageNumber;
                if (page >= (ulong)n) { error = $"table {table} entry {i} points beyond RAM"; return; }
                expected[page]++;
                bool writable = (e & (ulong)PteFlags.Writable) != 0;
                if (level == 1) { if (writable) writableLeaf[page] = true; continue; }
                if (writable) writableRefs[page]++;
                if (visited[page]) continue;
                visited[page] = true;
                Walk(PageTables.Target(e), level - 1);
            }
        }

        foreach (var p in _procs)
        {
            if (p.State == PState.Zombie) continue;
            int r = (int)p.Root.PageNumber;
            expected[r]++;
            if (visited[r]) return $"process {p.Pid}: root {p.Root} is shared";
            visited[r] = true;
            Walk(p.Root, 4);
            if (error is not null) return error;
        }
        int free = 0;
        for (int i = _firstUsable; i < n; i++) if (_ref[i] == 0) free++;
        if (free != _free) return $"free-page count {_free}, but {free} pages are free";
        for (int i = 0; i < n; i++)
        {
            if (expected[i] != _ref[i]) return $"page {i:x}: refcount {_ref[i]}, mappings {expected[i]}";
            if (visited[i] && expected[i] > 1 && writableRefs[i] > 0)
                return $"table page {i:x}: shared by {expected[i]} entries, {writableRefs[i]} of them writable";
            if (writableLeaf[i] && expected[i] != 1) return $"page {i:x}: mapped writable but has {expected[i]} references";
            int owner = _owner[i];
            if (i < _firstUsable ? owner != -1 : (owner == 0) != (_ref[i] == 0))
                return $"page {i:x}: owner {owner} with refcount {_ref[i]}";
        }
        return null;
    }
}
