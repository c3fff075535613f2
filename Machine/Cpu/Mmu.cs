using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Lab.Machine.Cpu;

/// <summary>One software-TLB entry (QEMU style): a tag per access kind and a host addend.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TlbEntry
{
    /// <summary>Page-aligned VA when reads are allowed, else <see cref="Cpu.NoTag"/>.</summary>
    public ulong ReadTag;
    /// <summary>Page-aligned VA when writes may go straight to RAM (writable, dirty, no decoded code).</summary>
    public ulong WriteTag;
    /// <summary>Page-aligned VA when instruction fetch is allowed.</summary>
    public ulong ExecTag;
    /// <summary>host pointer = VA + Addend.</summary>
    public long Addend;
    /// <summary>Physical page number the entry maps to.</summary>
    public ulong PhysPage;
    /// <summary>Effective permissions: bit 1 writable, bit 2 user, bit 63 no-execute, bit 6 dirty.</summary>
    public ulong Perm;
    /// <summary>Equal to Cpu._windowEpoch while an access window covers the slot (AccessWindows.cs).</summary>
    public ulong WindowEpoch;
    /// <summary>Padding to 64 bytes: a slot's offset is a shift, and an entry is one cache line.</summary>
    private readonly ulong _pad1;
}

/// <summary>
/// The MMU: x86-64 4-level page walk over guest physical memory with P/W/U/NX checks, A/D bits and
/// architectural #PF error codes, a direct-mapped software TLB, and guest memory access helpers.
/// Accesses return false after recording a fault (no exceptions on guest-visible paths).
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>log2 of the fewest and the most slots a TLB has (<see cref="TlbBitsFor"/>).</summary>
    internal const int MinTlbBits = 12, MaxTlbBits = 16;
    /// <summary>log2 of the slots per TLB, and the slots per TLB (<see cref="TlbBitsFor"/>; fixed for the CPU's life).</summary>
    private readonly int _tlbBits, _tlbSize;
    internal const ulong NoTag = ulong.MaxValue;
    private const ulong AddrMask = 0x000F_FFFF_FFFF_F000UL;

    /// <summary>The TLB used by the current privilege level (the fast paths index it).</summary>
    private TlbEntry* _tlb;
    /// <summary>The TLB for CPL 3 accesses, and the one for supervisor accesses (the same in HLE mode).</summary>
    private TlbEntry* _tlbUser, _tlbSupervisor;
    /// <summary>Entries in both TLBs together (one block starting at _tlbUser).</summary>
    private readonly int _tlbCount;
    /// <summary>
    /// Counts changes to the TLB's translations: every fill, invalidation and flush, and a switch of the
    /// current TLB. A compiled region that found its pages mapped at one count need not look again
    /// while it stays (<see cref="RegionPagesMapped"/>).
    /// </summary>
    private ulong _tlbGeneration;

    // What the page walk checks. HLE: always a user access, NX always honoured, as before system mode.
    /// <summary>Accesses are made with user privilege (CPL 3); false for CPL 0-2 and implicit supervisor accesses.</summary>
    private bool _userAccess = true;
    /// <summary>CR0.WP: supervisor writes honour read-only pages.</summary>
    private bool _writeProtect;
    /// <summary>EFER.NXE: bit 63 of an entry means no-execute (else it is a reserved bit).</summary>
    private bool _noExecuteEnabled = true;
    /// <summary>CR4.SMEP: the supervisor may not fetch from user pages.</summary>
    private bool _smep;
    /// <summary>Slots (of both TLBs, counted from _tlbUser) filled since the last flush, each listed once; see <see cref="FlushTlb"/>.</summary>
    private readonly int[] _tlbFilled;
    private readonly bool[] _tlbListed;
    private int _tlbFilledCount;

    // The pending trap recorded by a failing access or handler.
    private TrapKind _trapKind;
    private byte _trapVector;
    private ulong _trapError;
    private ulong _trapAddr;
    private string? _trapDetail;

    private enum Access { Read, Write, Execute }

    /// <summary>
    /// The TLB's size for a machine with <paramref name="memoryBytes"/> of RAM: a slot per page of RAM
    /// (rounded up to a power of two), at least 4,096 slots (256 KiB, reaching 16 MiB) and at most
    /// 65,536 (4 MiB, reaching 256 MiB). A slot is 64 bytes per 4 KiB page, 1.6% of the RAM it
    /// reaches. A program whose working set is larger than the TLB's reach (random accesses over 32
    /// MiB: a hash table, a histogram, a tree of nodes from a large heap) left compiled code on each
    /// miss for the interpreter's walk, and ran at 2.5 to 6 times qemu-user's time; with every page
    /// of RAM in the TLB, a compiled access's window (AccessWindows.cs) grows over the whole array.
    /// </summary>
    internal static int TlbBitsFor(ulong memoryBytes) =>
        Math.Clamp(64 - System.Numerics.BitOperations.LeadingZeroCount(Math.Max(memoryBytes >> 12, 1) - 1), MinTlbBits, MaxTlbBits);

    /// <summary>log2 of the slots per TLB (compiled code folds it into its slot computation).</summary>
    internal int TlbBits => _tlbBits;

    /// <summary>
    /// The TLB slot index of a virtual address: its page number's low <see cref="TlbBits"/> bits XORed
    /// with the next as many (the page number folded once). The pages of one aligned block of the
    /// TLB's reach still take different slots, so a run of consecutive pages never shares a slot, but
    /// pages a multiple of the TLB's reach apart no longer always do: with the low bits alone, two
    /// arrays of that size side by side (a copy from a[i] to b[i]) took the same slot for every i and
    /// missed on every access. Compiled code finds a slot in four instructions (two shifts, a xor and
    /// a mask). With 1,024 slots the benchmark's data workload (a sieve over 8 MB, a 16 MiB hash
    /// table, a grid search) ran at 4 times qemu-user's time, 1.2 with 4,096.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong TlbIndex(ulong va) => ((va >> 12) ^ (va >> (12 + _tlbBits))) & (ulong)(_tlbSize - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TlbEntry* TlbSlot(ulong va) => _tlb + TlbIndex(va);

    /// <summary>Whether the TLB translates virtual page <paramref name="vpage"/> for fetching to physical page number <paramref name="page"/> now (no walk, no fill).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool FetchTranslates(ulong vpage, ulong page)
    {
        TlbEntry* e = TlbSlot(vpage);
        return e->ExecTag == vpage && e->PhysPage == page;
    }

    /// <summary>Whether the TLB holds every page of [lo, hi) with a fast read (or, <paramref name="write"/>, write) tag now (the JIT's grouping of static data asks: see RegionCompiler.Join).</summary>
    internal bool FastAccessibleNow(ulong lo, ulong hi, bool write)
    {
        for (ulong page = lo & ~0xFFFUL; page < hi; page += 0x1000)
            if (Tag(TlbSlot(page), write) != page) return false;
        return true;
    }

    /// <summary>
    /// Whether a page's slot is also the slot of the page before it. Such a page gets no fast data
    /// path (filled by a walk or restored from a snapshot): compiled code's one-compare TLB test is
    /// exact only if no slot can hold the page after its own. With TlbIndex that is only the first page
    /// of a block of the TLB's reach at some multiples of its square (4,096 slots: 16 MiB blocks at
    /// multiples of 32 GiB, a page number whose folded bits are 0 or 2,048).
    /// </summary>
    private bool SharesPredecessorSlot(ulong vpage) => TlbIndex(vpage - 0x1000) == TlbIndex(vpage);

    /// <summary>
    /// Drops every TLB entry (CR3 write, or the kernel changed mappings). The block lookup cache
    /// stays: every hit there is checked against the physical address that the fetch translation
    /// (through the freshly emptied TLB) gives, so it cannot run code from the old address space,
    /// and a kernel that switches address spaces on every yield does not pay for refilling it.
    /// </summary>
    public void FlushTlb()
    {
        _tlbGeneration++;
        if (_windowsListedCount != 0) InvalidateWindows();
        // Only the slots filled since the last flush can hold a translation: a kernel that
        // switches address spaces on every yield empties a handful of slots, not all of them.
        for (int k = 0; k < _tlbFilledCount; k++)
        {
            int i = _tlbFilled[k];
            _tlbUser[i] = new TlbEntry { ReadTag = NoTag, WriteTag = NoTag, ExecTag = NoTag };
            _tlbListed[i] = false;
        }
        _tlbFilledCount = 0;
    }

    /// <summary>Empties every slot of both TLBs, listed or not (a new TLB's memory holds garbage).</summary>
    private void ResetTlb()
    {
        _tlbGeneration++;
        InvalidateWindows();
        for (int i = 0; i < _tlbCount; i++)
        {
            _tlbUser[i] = new TlbEntry { ReadTag = NoTag, WriteTag = NoTag, ExecTag = NoTag };
            _tlbListed[i] = false;
        }
        _tlbFilledCount = 0;
    }

    /// <summary>Records that slot <paramref name="e"/> is about to hold a translation, so the next flush empties it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void NoteTlbFill(TlbEntry* e)
    {
        _tlbGeneration++;
        int i = (int)(e - _tlbUser);
        if (_tlbListed[i]) return;
        _tlbListed[i] = true;
        _tlbFilled[_tlbFilledCount++] = i;
    }

    /// <summary>Drops the TLB entries for one virtual page (invlpg), in both TLBs.</summary>
    public void InvalidatePage(VirtAddr va)
    {
        InvalidateSlot(_tlbUser, va);
        if (_tlbSupervisor != _tlbUser) InvalidateSlot(_tlbSupervisor, va);
        ClearBlockLookupCache();
    }

    private void InvalidateSlot(TlbEntry* tlb, VirtAddr va)
    {
        TlbEntry* e = tlb + TlbIndex(va.Value);
        if (e->ReadTag == va.PageBase.Value || e->ExecTag == va.PageBase.Value || e->WriteTag == va.PageBase.Value)
        {
            BeforeSlotChange(e);
            *e = new TlbEntry { ReadTag = NoTag, WriteTag = NoTag, ExecTag = NoTag };
            _tlbGeneration++;
        }
    }

    private void RecordPageFault(ulong va, ulong error)
    {
        _trapKind = TrapKind.PageFault;
        _trapVector = 14;
        _trapError = error;
        _trapAddr = va;
        Cr2 = va;
    }

    private void RecordGeneralProtection(ulong error = 0)
    {
        _trapKind = TrapKind.GeneralProtection;
        _trapVector = 13;
        _trapError = error;
        _trapAddr = 0;
    }

    /// <summary>
    /// Walks the page tables for an access at the current privilege (<see cref="_userAccess"/>) and
    /// fills the current TLB. Returns false after recording #PF (or #GP for a non-canonical address).
    /// User accesses need U, and W for writes, at every level; supervisor accesses may read anything
    /// present and write read-only pages unless CR0.WP. NX forbids fetches (when EFER.NXE; without it
    /// bit 63 is reserved), SMEP forbids supervisor fetches from user pages.
    /// </summary>
    private bool Walk(ulong va, Access access, out TlbEntry* entry)
    {
        entry = null;
        if ((ulong)((long)va << 16 >> 16) != va)
        {
            RecordGeneralProtection();
            return false;
        }
        ulong errBase = (_userAccess ? (ulong)PageFaultError.User : 0)
            | (access == Access.Write ? (ulong)PageFaultError.Write : 0)
            | (access == Access.Execute ? (ulong)PageFaultError.InstructionFetch : 0);

        byte* ram = _memory.Base;
        ulong ramSize = _memory.Size;
        ulong table = _cr3;
        bool writable = true, user = true, noExec = false;
        ulong* entryPtrs = stackalloc ulong[4];
        int levels = 0;
        ulong leaf = 0, pageBase = 0, pageMask = 0xFFF;
        for (int level = 4; level >= 1; level--)
        {
            int index = (int)((va >> (12 + 9 * (level - 1))) & 511);
            ulong pteAddr = table + (ulong)index * 8;
            if (pteAddr + 8 > ramSize)
            {
                RecordPageFault(va, errBase);   // table outside RAM: treated as not present
                return false;
            }
            ulong pte = *(ulong*)(ram + pteAddr);
            if ((pte & (ulong)PteFlags.Present) == 0)
            {
                RecordPageFault(va, errBase);
                return false;
            }
            entryPtrs[levels++] = pteAddr;
            writable &= (pte & (ulong)PteFlags.Writable) != 0;
            user &= (pte & (ulong)PteFlags.User) != 0;
            noExec |= (pte & (ulong)PteFlags.NoExecute) != 0;
            if (level == 1 || (level <= 3 && (pte & (ulong)PteFlags.PageSize) != 0))
            {
                leaf = pte;
                pageMask = (1UL << (12 + 9 * (level - 1))) - 1;
                pageBase = pte & AddrMask & ~pageMask;
                break;
            }
            table = pte & AddrMask;
        }

        if (noExec && !_noExecuteEnabled)
        {
            RecordPageFault(va, errBase | (ulong)(PageFaultError.Present | PageFaultError.ReservedBit));
            return false;
        }
        bool canWrite = writable || (!_userAccess && !_writeProtect);
        bool canExec = !noExec && (_userAccess || !_smep || !user);
        bool allowed = (user || !_userAccess)
            && (access != Access.Write || canWrite)
            && (access != Access.Execute || canExec);
        if (!allowed)
        {
            RecordPageFault(va, errBase | (ulong)PageFaultError.Present);
            return false;
        }

        // Set Accessed on every level and Dirty on the leaf for writes.
        for (int i = 0; i < levels; i++)
        {
            ulong* p = (ulong*)(ram + entryPtrs[i]);
            ulong want = *p | (ulong)PteFlags.Accessed;
            if (i == levels - 1 && access == Access.Write) want |= (ulong)PteFlags.Dirty;
            if (want != *p)
            {
                if (_memory.CodePages[entryPtrs[i] >> 12] != 0) OnCodePageWritten(entryPtrs[i] >> 12);
                *p = want;
            }
        }
        bool dirty = access == Access.Write || (leaf & (ulong)PteFlags.Dirty) != 0;

        ulong pa = pageBase | (va & pageMask & ~0xFFFUL);
        ulong vpage = va & ~0xFFFUL;
        TlbEntry* e = TlbSlot(va);
        BeforeSlotChange(e);
        NoteTlbFill(e);
        e->PhysPage = pa >> 12;
        e->Perm = (writable ? (ulong)PteFlags.Writable : 0) | (user ? (ulong)PteFlags.User : 0)
                  | (noExec ? (ulong)PteFlags.NoExecute : 0) | (dirty ? (ulong)PteFlags.Dirty : 0);
        if (pa + 0x1000 > ramSize)
        {
            // Mapped beyond RAM: no fast path; the slow path reads all-ones and drops writes.
            e->ReadTag = e->WriteTag = e->ExecTag = NoTag;
            e->Addend = 0;
        }
        else
        {
            e->Addend = (long)(ram + pa) - (long)vpage;
            bool sharesPredecessorSlot = SharesPredecessorSlot(vpage);
            e->ReadTag = sharesPredecessorSlot ? NoTag : vpage;
            e->ExecTag = canExec ? vpage : NoTag;
            e->WriteTag = canWrite && dirty && _memory.CodePages[pa >> 12] == 0 && !sharesPredecessorSlot ? vpage : NoTag;
        }
        entry = e;
        return true;
    }

    /// <summary>Translates one byte address for an access, through the TLB or a walk. Returns a host pointer or null (fault recorded / beyond RAM).</summary>
    private bool TranslateByte(ulong va, Access access, out byte* host)
    {
        host = null;
        TlbEntry* e = TlbSlot(va);
        ulong vpage = va & ~0xFFFUL;
        bool hit = access switch
        {
            Access.Read => e->ReadTag == vpage,
            Access.Write => e->WriteTag == vpage,
            _ => e->ExecTag == vpage,
        };
        if (!hit)
        {
            // A write to a present, writable page that holds code (or is not dirty yet) also comes here.
            if (!Walk(va, access, out e)) return false;
        }
        ulong pa = (e->PhysPage << 12) | (va & 0xFFF);
        if (pa >= _memory.Size) return true;   // beyond RAM: host stays null
        if (access == Access.Write && _memory.CodePages[e->PhysPage] != 0)
            OnCodePageWritten(e->PhysPage);
        host = _memory.Base + pa;
        return true;
    }

    // ------------------------------------------------------------------------------------------
    // Fast paths (inlined into handlers) and their slow paths.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Read64(ulong va, out ulong v)
    {
        TlbEntry* e = TlbSlot(va);
        if (e->ReadTag == (va & ~0xFFFUL) && (va & 0xFFF) <= 0xFF8)
        {
            v = Unsafe.ReadUnaligned<ulong>((void*)((long)va + e->Addend));
            return true;
        }
        return ReadSlow(va, 8, out v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Read32(ulong va, out ulong v)
    {
        TlbEntry* e = TlbSlot(va);
        if (e->ReadTag == (va & ~0xFFFUL) && (va & 0xFFF) <= 0xFFC)
        {
            v = Unsafe.ReadUnaligned<uint>((void*)((long)va + e->Addend));
            return true;
        }
        return ReadSlow(va, 4, out v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Read16(ulong va, out ulong v)
    {
        TlbEntry* e = TlbSlot(va);
        if (e->ReadTag == (va & ~0xFFFUL) && (va & 0xFFF) <= 0xFFE)
        {
            v = Unsafe.ReadUnaligned<ushort>((void*)((long)va + e->Addend));
            return true;
        }
        return ReadSlow(va, 2, out v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Read8(ulong va, out ulong v)
    {
        TlbEntry* e = TlbSlot(va);
        if (e->ReadTag == (va & ~0xFFFUL))
        {
            v = *(byte*)((long)va + e->Addend);
            return true;
        }
        return ReadSlow(va, 1, out v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Read(ulong va, int size, out ulong v)
    {
        switch (size)
        {
            case 8: return Read64(va, out v);
            case 4: return Read32(va, out v);
            case 2: return Read16(va, out v);
            default: return Read8(va, out v);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Write64(ulong va, ulong v)
    {
        TlbEntry* e = TlbSlot(va);
        if (e->WriteTag == (va & ~0xFFFUL) && (va & 0xFFF) <= 0xFF8)
        {
            Unsafe.WriteUnaligned((void*)((long)va + e->Addend), v);
            return true;
        }
        return WriteSlow(va, 8, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Write32(ulong va, ulong v)
    {
        TlbEntry* e = TlbSlot(va);
        if (e->WriteTag == (va & ~0xFFFUL) && (va & 0xFFF) <= 0xFFC)
        {
            Unsafe.WriteUnaligned((void*)((long)va + e->Addend), (uint)v);
            return true;
        }
        return WriteSlow(va, 4, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Write16(ulong va, ulong v)
    {
        TlbEntry* e = TlbSlot(va);
        if (e->WriteTag == (va & ~0xFFFUL) && (va & 0xFFF) <= 0xFFE)
        {
            Unsafe.WriteUnaligned((void*)((long)va + e->Addend), (ushort)v);
            return true;
        }
        return WriteSlow(va, 2, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Write8(ulong va, ulong v)
    {
        TlbEntry* e = TlbSlot(va);
        if (e->WriteTag == (va & ~0xFFFUL))
        {
            *(byte*)((long)va + e->Addend) = (byte)v;
            return true;
        }
        return WriteSlow(va, 1, v);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Write(ulong va, int size, ulong v)
    {
        switch (size)
        {
            case 8: return Write64(va, v);
            case 4: return Write32(va, v);
            case 2: return Write16(va, v);
            default: return Write8(va, v);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool ReadSlow(ulong va, int size, out ulong v)
    {
        v = 0;
        Span<byte> buf = stackalloc byte[8];
        if (!ReadBytes(va, buf[..size])) return false;
        v = Unsafe.ReadUnaligned<ulong>(ref buf[0]);
        if (size < 8) v &= (1UL << (size * 8)) - 1;
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool WriteSlow(ulong va, int size, ulong v)
    {
        Span<byte> buf = stackalloc byte[8];
        Unsafe.WriteUnaligned(ref buf[0], v);
        return WriteBytes(va, buf[..size]);
    }

    /// <summary>Reads guest virtual memory with user permissions; false after recording a fault.</summary>
    internal bool ReadBytes(ulong va, Span<byte> dest)
    {
        int done = 0;
        while (done < dest.Length)
        {
            ulong addr = va + (ulong)done;
            int chunk = (int)Math.Min((ulong)(dest.Length - done), 0x1000 - (addr & 0xFFF));
            if (!TranslateByte(addr, Access.Read, out byte* host)) return false;
            if (host == null) dest.Slice(done, chunk).Fill(0xFF);
            else new ReadOnlySpan<byte>(host, chunk).CopyTo(dest.Slice(done, chunk));
            done += chunk;
        }
        return true;
    }

    /// <summary>
    /// Writes guest virtual memory with user permissions. Every page is checked before any byte is
    /// written, so a faulting write changes nothing. False after recording a fault.
    /// </summary>
    internal bool WriteBytes(ulong va, ReadOnlySpan<byte> src)
    {
        // Check (and dirty) every page first.
        ulong end = va + (ulong)src.Length;
        for (ulong page = va & ~0xFFFUL; page < end; page += 0x1000)
        {
            ulong probe = page < va ? va : page;
            if (!TranslateByte(probe, Access.Write, out _)) return false;
        }
        int done = 0;
        while (done < src.Length)
        {
            ulong addr = va + (ulong)done;
            int chunk = (int)Math.Min((ulong)(src.Length - done), 0x1000 - (addr & 0xFFF));
            if (!TranslateByte(addr, Access.Write, out byte* host)) return false;
            if (host != null) src.Slice(done, chunk).CopyTo(new Span<byte>(host, chunk));
            done += chunk;
        }
        return true;
    }

    /// <summary>Translates an instruction-fetch address to a physical address (fills the TLB).</summary>
    private bool TranslateFetch(ulong va, out ulong pa)
    {
        TlbEntry* e = TlbSlot(va);
        if (e->ExecTag != (va & ~0xFFFUL))
        {
            if (!Walk(va, Access.Execute, out e)) { pa = 0; return false; }
            if (e->ExecTag == NoTag)
            {
                // Executable but mapped beyond RAM: nothing to fetch.
                RecordPageFault(va, (_userAccess ? (ulong)PageFaultError.User : 0) | (ulong)(PageFaultError.InstructionFetch | PageFaultError.Present));
                pa = 0;
                return false;
            }
        }
        pa = (e->PhysPage << 12) | (va & 0xFFF);
        return true;
    }

    /// <summary>Makes every TLB entry that maps physical page <paramref name="page"/> take the slow path on writes.</summary>
    private void RevokeFastWrites(ulong page)
    {
        for (int i = 0; i < _tlbCount; i++)
            if (_tlbUser[i].PhysPage == page)
            {
                BeforeSlotChange(_tlbUser + i);
                _tlbUser[i].WriteTag = NoTag;
            }
    }

    // ------------------------------------------------------------------------------------------
    // Host-side access to guest virtual memory (for the kernel and debugger): same checks as guest
    // code at the current privilege (user code in HLE mode), but the result is a value, not a trap.

    /// <summary>Reads memory as guest code at the current privilege would; on failure returns the fault it would raise.</summary>
    public bool TryReadVirtual(VirtAddr va, Span<byte> destination, out Trap fault)
    {
        _trapKind = TrapKind.None;
        bool ok = ReadBytes(va.Value, destination);
        fault = ok ? default : TakeRecordedTrap(va.Value);
        return ok;
    }

    /// <summary>Writes memory as guest code at the current privilege would; on failure nothing is written and the fault is returned.</summary>
    public bool TryWriteVirtual(VirtAddr va, ReadOnlySpan<byte> source, out Trap fault)
    {
        _trapKind = TrapKind.None;
        bool ok = WriteBytes(va.Value, source);
        fault = ok ? default : TakeRecordedTrap(va.Value);
        return ok;
    }

    private Trap TakeRecordedTrap(ulong instructionAddress)
    {
        var t = new Trap
        {
            Kind = _trapKind,
            Vector = _trapVector,
            ErrorCode = _trapError,
            FaultAddress = new VirtAddr(_trapAddr),
            InstructionAddress = new VirtAddr(instructionAddress),
            Detail = _trapDetail,
        };
        _trapKind = TrapKind.None;
        _trapDetail = null;
        return t;
    }
}
