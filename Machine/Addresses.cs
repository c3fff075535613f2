namespace Lab.Machine;

/// <summary>A guest physical address: an offset into the machine's RAM.</summary>
public readonly record struct PhysAddr(ulong Value) : IComparable<PhysAddr>
{
    public const int PageShift = 12;
    public const ulong PageSize = 1UL << PageShift;

    /// <summary>Physical page number (address / 4096).</summary>
    public ulong PageNumber => Value >> PageShift;
    public PhysAddr PageBase => new(Value & ~(PageSize - 1));
    public ulong PageOffset => Value & (PageSize - 1);
    public bool IsPageAligned => (Value & (PageSize - 1)) == 0;

    public static PhysAddr FromPage(ulong pageNumber) => new(pageNumber << PageShift);
    public static PhysAddr operator +(PhysAddr a, ulong offset) => new(a.Value + offset);
    public int CompareTo(PhysAddr other) => Value.CompareTo(other.Value);
    public override string ToString() => $"0x{Value:x}";
}

/// <summary>A guest virtual address, translated through the page tables rooted at CR3.</summary>
public readonly record struct VirtAddr(ulong Value) : IComparable<VirtAddr>
{
    public const ulong PageSize = PhysAddr.PageSize;

    public ulong PageNumber => Value >> PhysAddr.PageShift;
    public VirtAddr PageBase => new(Value & ~(PageSize - 1));
    public ulong PageOffset => Value & (PageSize - 1);
    public bool IsPageAligned => (Value & (PageSize - 1)) == 0;

    /// <summary>True if bits 63..47 are all equal (the address is canonical in 4-level paging).</summary>
    public bool IsCanonical => (ulong)((long)Value << 16 >> 16) == Value;

    /// <summary>Index into the page table at <paramref name="level"/> (4 = PML4 ... 1 = PT).</summary>
    public int TableIndex(int level) => (int)((Value >> (PhysAddr.PageShift + 9 * (level - 1))) & 511);

    public static VirtAddr operator +(VirtAddr a, ulong offset) => new(a.Value + offset);
    public int CompareTo(VirtAddr other) => Value.CompareTo(other.Value);
    public override string ToString() => $"0x{Value:x}";
}
