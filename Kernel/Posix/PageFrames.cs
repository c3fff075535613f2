using Lab.Kernel.Common;
using Lab.Machine;

namespace Lab.Kernel.Posix;

/// <summary>
/// The POSIX kernel's physical-page allocator (Linux: the page allocator and struct page's
/// _refcount): for every page of the machine a reference count (0 = free) and an owner (the pid
/// whose kernel work allocated it, for the memory views; -1 reserved, 0 free). The first MiB (CGA,
/// BIOS area) is reserved. Allocation is next-fit from where the last one ended, so a machine with
/// a GiB of memory does not rescan the full part on every page; pages are zeroed as they are handed
/// out, so a freed page's old contents can never be seen again.
///
/// WeensyOS has its own (Weensy PageInfo): the handout's pageinfo array, 512 pages with byte-sized
/// owners and lowest-free allocation, which its screens and grading log depend on.
/// </summary>
public sealed class PageFrames : IPageRefcounts
{
    /// <summary>Pages below this (the first MiB) are never handed out.</summary>
    public const int FirstUsable = 256;

    private readonly PhysicalMemory _memory;
    private readonly int[] _ref;
    private readonly int[] _owner;
    /// <summary>Where the next search starts (next-fit).</summary>
    private int _hint;
    /// <summary>Pages with refcount 0 (kept by Allocate and Release so fork can test its reserve cheaply).</summary>
    private int _free;

    public PageFrames(PhysicalMemory memory)
    {
        _memory = memory;
        _ref = new int[(int)(memory.Size / PhysAddr.PageSize)];
        _owner = new int[_ref.Length];
        for (int i = 0; i < FirstUsable && i < _ref.Length; i++) { _ref[i] = 1; _owner[i] = -1; }
        _free = Math.Max(0, _ref.Length - FirstUsable);
        _hint = FirstUsable;
    }

    /// <summary>Physical pages in the machine (the reserved first MiB included).</summary>
    public int Count => _ref.Length;
    /// <summary>Pages free now.</summary>
    public int Free => _free;
    /// <summary>References to physical page <paramref name="page"/> (0 = free).</summary>
    public int Refcount(int page) => _ref[page];
    public int Refcount(PhysAddr pa) => _ref[pa.PageNumber];
    /// <summary>The pid that allocated page <paramref name="page"/>; -1 reserved, 0 free.</summary>
    public int Owner(int page) => _owner[page];

    /// <summary>A zeroed page with one reference, recorded as allocated for <paramref name="owner"/>;
    /// null when memory is full.</summary>
    public PhysAddr? Allocate(int owner)
    {
        int n = _ref.Length;
        for (int k = 0; k < n; k++)
        {
            int i = _hint + k;
            if (i >= n) i = FirstUsable + (i - n) % (n - FirstUsable);
            if (i < FirstUsable) continue;
            if (_ref[i] != 0) continue;
            _ref[i] = 1;
            _owner[i] = owner;
            _free--;
            _hint = i + 1 >= n ? FirstUsable : i + 1;
            var pa = PhysAddr.FromPage((ulong)i);
            _memory.Fill(pa, PhysAddr.PageSize, 0);
            return pa;
        }
        return null;
    }

    /// <summary>One more reference to a page in use (another mapping or table entry shares it).</summary>
    public void AddRef(PhysAddr pa) => _ref[pa.PageNumber]++;

    /// <summary>Drops one reference to a page; true when that was the last (the page is free again).</summary>
    public bool Release(PhysAddr pa)
    {
        int i = (int)pa.PageNumber;
        if (_ref[i] <= 0) throw new InvalidOperationException($"kernel bug: releasing free page {pa}");
        if (--_ref[i] > 0) return false;
        _owner[i] = 0;
        _free++;
        return true;
    }

    // ---- snapshots and checks -------------------------------------------------------------------

    internal ReadOnlySpan<int> Refcounts => _ref;
    internal ReadOnlySpan<int> Owners => _owner;
    internal int Hint => _hint;

    /// <summary>Replaces the whole state (snapshot restore; the arrays were checked by the caller). The
    /// free count is recomputed, not trusted from a file.</summary>
    internal void Restore(ReadOnlySpan<int> refs, ReadOnlySpan<int> owners, int hint)
    {
        refs.CopyTo(_ref);
        owners.CopyTo(_owner);
        _hint = hint;
        _free = CountFree();
    }

    /// <summary>Pages with refcount 0 beyond the reserved ones, counted (the invariant behind <see cref="Free"/>).</summary>
    internal int CountFree()
    {
        int free = 0;
        for (int i = FirstUsable; i < _ref.Length; i++) if (_ref[i] == 0) free++;
        return free;
    }
}
