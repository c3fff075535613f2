using System.Runtime.InteropServices;

namespace Lab.Machine.Cpu;

/// <summary>
/// One compiled memory access's window (56 bytes of unmanaged memory; a region's windows are
/// consecutive, and its code addresses them from one base register, JitRegion.Windows): a run of consecutive virtual pages that the current TLB holds, each under the access's
/// tag (read, or fast write), mapped to consecutive host memory, so that one addend serves them all.
/// The access tests <c>va - Lo &lt; Span</c> and adds <see cref="Addend"/> (in a crowded loop it goes on
/// from d = va - Lo at <see cref="HostLo"/>): no TLB slot on the path of a chain of dependent loads (a
/// linked list walk), which is what qemu-user's direct mapping gives it.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct AccessWindow
{
    /// <summary>The run's first byte.</summary>
    public ulong Lo;
    /// <summary>The run's length less (access size - 1), so a hit lies wholly inside the run; 0: empty.</summary>
    public ulong Span;
    /// <summary>host pointer = va + Addend, for every page of the run.</summary>
    public long Addend;
    /// <summary>
    /// The host pointer of Lo (Lo + Addend): in a loop whose guest registers crowd the host's, compiled
    /// code goes on from d = va - Lo, the value its test compared, so va need not stay live past the
    /// test (RyuJIT kept it on the stack there: a store and a reload on every access's path).
    /// </summary>
    public long HostLo;
    /// <summary>Misses left before the next attempt to rebuild the window (compiled code counts them down).</summary>
    public ushort Countdown;
    /// <summary>The bytes each use covers: the access's size, or a group's whole range (at most four pages).</summary>
    public ushort Size;
    /// <summary>log2 of the countdown a rebuild sets: grows while rebuilt windows die young (a site that roams).</summary>
    public byte Backoff;
    /// <summary>Built from fast write tags (a write window serves reads too: a write tag implies the read tag).</summary>
    public byte Write;
    /// <summary>When the window was last built (instructions retired / 1024, wrapping, with bit 0 set; 0 = never).</summary>
    public ushort Built;
    /// <summary>The run the window held before its last build, [PrevLo, PrevEnd): a rebuild back into it is a site alternating between two places.</summary>
    public ulong PrevLo, PrevEnd;

    /// <summary>An empty window for an access of <paramref name="size"/> bytes; its first miss tries to build it.</summary>
    public static AccessWindow Empty(int size, bool write) =>
        new() { Countdown = 1, Size = (ushort)size, Write = write ? (byte)1 : (byte)0 };
}

/// <summary>
/// The access windows of compiled code (<see cref="AccessWindow"/>). A window only ever copies what
/// the TLB holds, so an access through it does exactly what the TLB fast path would (no walk, no A/D
/// update, the same host bytes): the TLB stays the one cache of translations, and both tiers keep the
/// same TLB contents. The rule that keeps it so: a slot covered by a window carries the current
/// window epoch, and any change to such a slot (a fill, invlpg, a fast write revoked for code) first
/// empties the windows whose run holds its page (<see cref="BeforeSlotChange"/>); a flush or a switch
/// to the other TLB empties every window (<see cref="InvalidateWindows"/>). A window rebuilt where
/// another's run already lies takes that run, with no scan (<see cref="SharedRun"/>).
/// Windows live in chunks owned by the CPU, reused when compiled code is flushed, freed with the CPU.
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>Windows per chunk of unmanaged memory (64 KiB).</summary>
    private const int WindowsPerChunk = 2048;
    /// <summary>
    /// The most pages one window covers (the TLB's reach). Until stop 25 a window that kept dying young
    /// scanned less (down to a 64th of this), so that a loop streaming through a large array would not
    /// scan the whole TLB at each new page; a random access over 32 MiB then stayed with a window of a
    /// few MiB for good, and missed it nearly every time. A rebuild now steps over the window's own
    /// run instead (<see cref="Refill"/>).
    /// </summary>
    private int MaxWindowPages => _tlbSize;
    /// <summary>A window rebuilt within this many instructions (in units of 1,024), plus 64 per miss its countdown allowed, of its last build died young.</summary>
    private const int YoungWindow = 16;
    /// <summary>Above this many windows, a covered slot's change empties them all rather than look through them.</summary>
    private const int MaxWindowsScanned = 256;

    private readonly List<nint> _windowChunks = new();
    /// <summary>Windows handed out from the current chunk.</summary>
    private int _windowsUsed = WindowsPerChunk, _windowChunk = -1;
    /// <summary>Windows that are not empty (each listed once: it is listed exactly while its Span is not 0).</summary>
    private nint[] _windowsListed = new nint[64];
    private int _windowsListedCount;
    /// <summary>Slots whose <see cref="TlbEntry.WindowEpoch"/> equals this are covered by a window.</summary>
    private ulong _windowEpoch = 1;
    /// <summary>The TLB the listed windows were built from.</summary>
    private TlbEntry* _windowsTlb;

    /// <summary>Windows built since creation (diagnostics: `bench emulator` prints it).</summary>
    public long WindowsBuilt { get; private set; }
    /// <summary>Times every window was emptied (a flush, a TLB switch, a slot change with too many windows to look through).</summary>
    public long WindowInvalidations { get; private set; }
    /// <summary>Windows emptied one by one, because a TLB slot in their run changed.</summary>
    public long WindowsEmptied { get; private set; }
    /// <summary>Windows built by taking another window's run (<see cref="SharedRun"/>), with no scan of the TLB.</summary>
    public long WindowsShared { get; private set; }

    /// <summary>The bytes of the longest run a window holds now (diagnostics and tests: 0 when every window is empty).</summary>
    internal ulong LongestWindowBytes()
    {
        ulong longest = 0;
        for (int k = 0; k < _windowsListedCount; k++) longest = Math.Max(longest, RunBytes((AccessWindow*)_windowsListed[k]));
        return longest;
    }

    /// <summary>
    /// Room for up to <paramref name="max"/> consecutive windows (a region's, which it addresses from
    /// one base register); <see cref="CommitWindows"/> then keeps the ones used. Valid until compiled
    /// code is flushed.
    /// </summary>
    internal AccessWindow* ReserveWindows(int max)
    {
        if (max > WindowsPerChunk) throw new ArgumentOutOfRangeException(nameof(max), $"a region has at most {WindowsPerChunk} accesses");
        if (_windowsUsed + max > WindowsPerChunk)
        {
            _windowChunk++;
            if (_windowChunk == _windowChunks.Count)
                _windowChunks.Add((nint)NativeMemory.AlignedAlloc((nuint)(WindowsPerChunk * sizeof(AccessWindow)), 64));
            _windowsUsed = 0;
        }
        return (AccessWindow*)_windowChunks[_windowChunk] + _windowsUsed;
    }

    /// <summary>Keeps the first <paramref name="used"/> windows reserved at <paramref name="start"/> (the last reservation).</summary>
    internal void CommitWindows(AccessWindow* start, int used) =>
        _windowsUsed = (int)(start - (AccessWindow*)_windowChunks[_windowChunk]) + used;

    /// <summary>Empties every window and hands their memory out again (compiled code was flushed: no code refers to them).</summary>
    private void ReuseAccessWindows()
    {
        InvalidateWindows();
        _windowPending = 0;
        _windowChunk = _windowChunks.Count == 0 ? -1 : 0;
        _windowsUsed = _windowChunks.Count == 0 ? WindowsPerChunk : 0;
    }

    private void FreeAccessWindows()
    {
        foreach (nint chunk in _windowChunks) NativeMemory.AlignedFree((void*)chunk);
        _windowChunks.Clear();
        _windowsListedCount = 0;
    }

    /// <summary>Empties every window: a slot some window covers is about to change.</summary>
    private void InvalidateWindows()
    {
        for (int k = 0; k < _windowsListedCount; k++) ((AccessWindow*)_windowsListed[k])->Span = 0;
        _windowsListedCount = 0;
        _windowEpoch++;
        WindowInvalidations++;
    }

    /// <summary>
    /// Called before TLB slot <paramref name="e"/> changes: empties the windows that cover it, and only
    /// those. A window covers only slots that hold their page under its tag, so they are the windows
    /// whose run holds the slot's page. Emptying them all instead (as before stop 22) made one slot a
    /// random probe keeps refilling (a 16 MiB table sharing the TLB with the stack) take down every
    /// window, and the rebuilds scanned thousands of slots each.
    /// </summary>
    private void BeforeSlotChange(TlbEntry* e)
    {
        if (e->WindowEpoch != _windowEpoch) return;
        ulong page = e->ReadTag != NoTag ? e->ReadTag : e->WriteTag;
        if (page == NoTag) return;   // an empty slot is in no window
        if (_windowsListedCount > MaxWindowsScanned) { InvalidateWindows(); return; }
        for (int k = 0; k < _windowsListedCount;)
        {
            var w = (AccessWindow*)_windowsListed[k];
            if (RunHolds(w, page))
            {
                w->Span = 0;
                _windowsListed[k] = _windowsListed[--_windowsListedCount];
                WindowsEmptied++;
            }
            else k++;
        }
    }

    /// <summary>Makes <paramref name="tlb"/> the current TLB (a privilege change, an implicit supervisor access): windows built from the other one go.</summary>
    private void SelectTlb(TlbEntry* tlb)
    {
        if (_tlb != tlb) _tlbGeneration++;
        _tlb = tlb;
        if (_windowsListedCount != 0 && _tlb != _windowsTlb) InvalidateWindows();
    }

    /// <summary>
    /// The window whose countdown ran out (compiled code left before the access that missed it, at
    /// <see cref="_windowPendingVa"/>), rebuilt by <see cref="RefillPendingWindow"/> before compiled code
    /// next runs, after the interpreter has made that access (and so filled the TLB if it had to).
    /// </summary>
    private nint _windowPending;
#pragma warning disable CS0649   // written only by compiled code (JitMembers.WindowPendingVa)
    private ulong _windowPendingVa;
#pragma warning restore CS0649

    /// <summary>Rebuilds the pending window, if any (the dispatcher calls this before entering compiled code).</summary>
    private void RefillPendingWindow()
    {
        Refill((AccessWindow*)_windowPending, _windowPendingVa);
        _windowPending = 0;
    }

    /// <summary>
    /// Makes window <paramref name="w"/> the run of TLB slots around <paramref name="va"/>'s page that
    /// hold consecutive pages under the access's tag with one addend. When va's page is not in the TLB,
    /// tries again on the next miss. A window rebuilt soon after its last build (counted in guest
    /// instructions, so the policy is the same on any host) lengthens the countdown (up to 2^16
    /// misses), so a site roaming over many pages costs little more than the TLB alone.
    /// Changes nothing guest-visible.
    /// </summary>
    private void Refill(AccessWindow* w, ulong va)
    {
        bool write = w->Write != 0;
        int size = w->Size;
        ulong page = va & ~0xFFFUL;
        TlbEntry* e = TlbSlot(va);
        if (Tag(e, write) != page)
        {
            // A write window over a page the TLB holds for reads only (not written yet, or read-only:
            // a group of a load from a table's end and a store past it) grows its countdown as a young
            // window, so the check takes its other paths between rebuilds (the TLB, or for a group,
            // leaving until its region tests at each member); it left for a rebuild at every pass.
            if (write && e->ReadTag == page) PostponeRebuild(w);
            else w->Countdown = 1;
            return;
        }
        long addend = e->Addend;
        // Young: its countdown ran out at more than one miss per 64 instructions since it was built.
        // Or back: va lies in the run it held before, a site that alternates between two places (a
        // memset of a stack buffer and of a static one, call after call): each rebuild leaves compiled
        // code, while a miss takes the TLB fast path, so such a site's countdown grows as a young one's.
        ushort now = (ushort)(_retired >> 10 | 1);
        bool young = w->Built != 0 && (ushort)(now - w->Built) < YoungWindow + (1 << w->Backoff >> 4)
            || va - w->PrevLo < w->PrevEnd - w->PrevLo;
        w->Backoff = young ? (byte)Math.Min(w->Backoff + 2, 16) : (byte)0;
        ulong lo, bytes;
        AccessWindow* other = SharedRun(w, page, write, addend);
        if (other != null)
        {
            // Another site's window already holds the run around the page (two accesses to one
            // array, a load and a store to a table): take it whole, with no scan. Its slots carry
            // the epoch already, and a change to one empties both windows.
            lo = other->Lo;
            bytes = RunBytes(other);
            WindowsShared++;
        }
        else
        {
            // The window's own run, when it still holds one under this addend, is known good (a change
            // to any of its slots would have emptied it): the scan steps over it, and its slots carry
            // the epoch already. A loop streaming through a large array extends its window by the new
            // page at each rebuild instead of scanning back over every page it covers.
            bool keep = w->Span != 0 && w->Addend == addend;
            ulong keptLo = keep ? w->Lo : 0, keptEnd = keep ? w->Lo + RunBytes(w) : 0;
            // Grow the run both ways while the neighbouring slots hold the neighbouring pages with the same addend.
            int below = 0, above = 0;
            while (below + above + 1 < MaxWindowPages)
            {
                ulong want = page - (ulong)(below + 1) * 0x1000;
                if (keep && want + 0x1000 == keptEnd) { below += (int)((want + 0x1000 - keptLo) >> 12); continue; }
                TlbEntry* n = TlbSlot(want);
                if (want > page || Tag(n, write) != want || n->Addend != addend) break;
                below++;
            }
            while (below + above + 1 < MaxWindowPages)
            {
                ulong want = page + (ulong)(above + 1) * 0x1000;
                if (keep && want == keptLo) { above += (int)((keptEnd - want) >> 12); continue; }
                TlbEntry* n = TlbSlot(want);
                if (want < page || Tag(n, write) != want || n->Addend != addend) break;
                above++;
            }
            _windowsTlb = _tlb;   // the listed windows are all from this TLB (SelectTlb)
            for (int k = -below; k <= above; k++)
            {
                ulong p = page + (ulong)(long)k * 0x1000;
                if (p - keptLo >= keptEnd - keptLo) TlbSlot(p)->WindowEpoch = _windowEpoch;
            }
            lo = page - ((ulong)below << 12);
            bytes = (ulong)(below + above + 1) << 12;
        }
        if (bytes < (ulong)size)
        {
            // A group's range over pages that do not lie in one run (one of them maps elsewhere, or
            // is not in the TLB yet): no window can hold it. The window stays as it was, and its
            // countdown grows as a young one's; the check meanwhile takes its other paths.
            PostponeRebuild(w);
            return;
        }
        if (w->Span == 0)
        {
            if (_windowsListedCount == _windowsListed.Length) Array.Resize(ref _windowsListed, _windowsListed.Length * 2);
            _windowsListed[_windowsListedCount++] = (nint)w;
        }
        if (w->Span != 0 && (lo != w->Lo || w->Addend != addend)) { w->PrevLo = w->Lo; w->PrevEnd = w->Lo + RunBytes(w); }
        w->Lo = lo;
        w->Span = bytes - (ulong)(size - 1);
        w->Addend = addend;
        w->HostLo = (long)lo + addend;
        w->Countdown = (ushort)Math.Min(1 << w->Backoff, ushort.MaxValue);
        w->Built = now;
        WindowsBuilt++;
    }

    /// <summary>A window that cannot be built now: its next attempt waits for a countdown grown as a young window's.</summary>
    private static void PostponeRebuild(AccessWindow* w)
    {
        w->Backoff = (byte)Math.Min(w->Backoff + 2, 16);
        w->Countdown = (ushort)Math.Min(1 << w->Backoff, ushort.MaxValue);
    }

    /// <summary>
    /// A listed window other than <paramref name="w"/> whose run holds <paramref name="page"/> under the
    /// addend the page's slot has, built from tags that serve <paramref name="write"/> (a write window's
    /// run serves reads too); null when there is none, or too many windows to look through.
    /// </summary>
    private AccessWindow* SharedRun(AccessWindow* w, ulong page, bool write, long addend)
    {
        if (_windowsListedCount > MaxWindowsScanned) return null;
        for (int k = 0; k < _windowsListedCount; k++)
        {
            var o = (AccessWindow*)_windowsListed[k];
            if (o == w || (write && o->Write == 0) || o->Addend != addend) continue;
            if (RunHolds(o, page)) return o;
        }
        return null;
    }

    /// <summary>The bytes of the run a non-empty window was built from (its Span counts only where an access may start).</summary>
    private static ulong RunBytes(AccessWindow* w) => w->Span + (ulong)(w->Size - 1);

    /// <summary>Whether window <paramref name="w"/>'s run holds page <paramref name="page"/> (never, when it is empty).</summary>
    private static bool RunHolds(AccessWindow* w, ulong page) => w->Span != 0 && page - w->Lo < RunBytes(w);

    private static ulong Tag(TlbEntry* e, bool write) => write ? e->WriteTag : e->ReadTag;
}
