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
    /// <summary>I/O privilege level (two bits): code at CPL &lt;= IOPL may use cli/sti/in/out.</summary>
    IOPL = 3 << 12,
    NT = 1 << 14,
    RF = 1 << 16,
    VM = 1 << 17,
    AC = 1 << 18,
    ID = 1 << 21,
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

/// <summary>Segment registers, numbered as the x86 encoding numbers them (mov Sreg, push/pop).</summary>
public enum SegmentRegister : byte { Es = 0, Cs, Ss, Ds, Fs, Gs }

/// <summary>CR0 bits the machine looks at (system mode).</summary>
[Flags]
public enum Cr0Flags : ulong
{
    None = 0,
    /// <summary>Protection enable: must stay set in long mode.</summary>
    PE = 1 << 0,
    MP = 1 << 1,
    EM = 1 << 2,
    TS = 1 << 3,
    /// <summary>Extension type: hard-wired to 1.</summary>
    ET = 1 << 4,
    NE = 1 << 5,
    /// <summary>Write protect: supervisor writes honour read-only pages.</summary>
    WP = 1 << 16,
    AM = 1 << 18,
    NW = 1 << 29,
    CD = 1 << 30,
    /// <summary>Paging: must stay set in long mode.</summary>
    PG = 1UL << 31,
}

/// <summary>CR4 bits the machine looks at (system mode).</summary>
[Flags]
public enum Cr4Flags : ulong
{
    None = 0,
    TSD = 1 << 2,
    PSE = 1 << 4,
    /// <summary>Physical address extension: must stay set in long mode.</summary>
    PAE = 1 << 5,
    PGE = 1 << 7,
    OSFXSR = 1 << 9,
    OSXMMEXCPT = 1 << 10,
    FSGSBASE = 1 << 16,
    /// <summary>Supervisor-mode execution prevention: CPL 0 may not fetch from user pages.</summary>
    SMEP = 1 << 20,
}

/// <summary>IA32_EFER bits.</summary>
[Flags]
public enum EferFlags : ulong
{
    None = 0,
    /// <summary>syscall/sysret enable.</summary>
    SCE = 1 << 0,
    /// <summary>Long mode enable.</summary>
    LME = 1 << 8,
    /// <summary>Long mode active (read-only).</summary>
    LMA = 1 << 10,
    /// <summary>No-execute enable: page-table bit 63 means NX (else it is reserved).</summary>
    NXE = 1 << 11,
}

/// <summary>Model-specific register numbers the machine implements (rdmsr/wrmsr).</summary>
public static class Msr
{
    public const uint Tsc = 0x10;
    public const uint ApicBase = 0x1B;
    public const uint Pat = 0x277;
    public const uint Efer = 0xC000_0080;
    public const uint Star = 0xC000_0081;
    public const uint Lstar = 0xC000_0082;
    public const uint Cstar = 0xC000_0083;
    public const uint Fmask = 0xC000_0084;
    public const uint FsBase = 0xC000_0100;
    public const uint GsBase = 0xC000_0101;
    public const uint KernelGsBase = 0xC000_0102;
    public const uint TscAux = 0xC000_0103;
}
