namespace Lab.Machine;

/// <summary>General-purpose registers, numbered as the x86-64 encoding numbers them.</summary>
public enum Register : byte
{
    Rax = 0, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi,
    R8, R9, R10, R11, R12, R13, R14, R15,
}

/// <summary>RFLAGS bits.</summary>
[Flags]
public enum RFlags : ulong
{
    None = 0,
    CF = 1 << 0,
    Reserved1 = 1 << 1,   // always reads as 1
    PF = 1 << 2,
    AF = 1 << 4,
    ZF = 1 << 6,
    SF = 1 << 7,
    TF = 1 << 8,
    IF = 1 << 9,
    DF = 1 << 10,
    OF = 1 << 11,
    /// <summary>The six arithmetic status flags.</summary>
    Status = CF | PF | AF | ZF | SF | OF,
}

/// <summary>Page-table entry bits used by the MMU (x86-64 4-level paging).</summary>
[Flags]
public enum PteFlags : ulong
{
    None = 0,
    Present = 1UL << 0,
    Writable = 1UL << 1,
    User = 1UL << 2,
    WriteThrough = 1UL << 3,
    CacheDisable = 1UL << 4,
    Accessed = 1UL << 5,
    Dirty = 1UL << 6,
    PageSize = 1UL << 7,     // huge page (in level 2/3 entries)
    Global = 1UL << 8,
    NoExecute = 1UL << 63,
}

/// <summary>Page-fault error code bits (what the CPU pushes for #PF).</summary>
[Flags]
public enum PageFaultError : ulong
{
    None = 0,
    /// <summary>Set: protection violation on a present page. Clear: the page was not present.</summary>
    Present = 1 << 0,
    Write = 1 << 1,
    User = 1 << 2,
    ReservedBit = 1 << 3,
    InstructionFetch = 1 << 4,
}
