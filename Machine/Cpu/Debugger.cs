namespace Lab.Machine.Cpu;

/// <summary>One level of a page-table walk, for the debugger.</summary>
public readonly record struct WalkStep(int Level, PhysAddr EntryAddress, ulong Entry)
{
    public PteFlags Flags => (PteFlags)(Entry & 0x8000_0000_0000_0FFFUL);
    public bool Present => (Entry & 1) != 0;
    public PhysAddr Target => new(Entry & 0x000F_FFFF_FFFF_F000UL);
    public string LevelName => Level switch { 4 => "PML4", 3 => "PDPT", 2 => "PD", _ => "PT" };

    public override string ToString()
    {
        if (!Present) return $"{LevelName,-4} entry @{EntryAddress}: {Entry:x16}  not present";
        var f = Flags;
        string flags = string.Concat(
            (f & PteFlags.Present) != 0 ? "P" : "-", (f & PteFlags.Writable) != 0 ? "W" : "-",
            (f & PteFlags.User) != 0 ? "U" : "-", (f & PteFlags.Accessed) != 0 ? "A" : "-",
            (f & PteFlags.Dirty) != 0 ? "D" : "-", (f & PteFlags.PageSize) != 0 ? "S" : "-",
            (f & PteFlags.NoExecute) != 0 ? " NX" : "");
        return $"{LevelName,-4} entry @{EntryAddress}: {Entry:x16}  {flags}  -> {Target}";
    }
}

/// <summary>
/// Debugger support: address breakpoints checked at block granularity (blocks are cut at a
/// breakpoint, so only code with breakpoints pays), and a side-effect-free page-table walk.
/// </summary>
public sealed unsafe partial class Cpu
{
    private readonly HashSet<ulong> _breakpoints = new();
    private ulong _skipBreakpointAt = ulong.MaxValue;

    /// <summary>Set when Execute stopped because the next instruction is at a breakpoint.</summary>
    internal bool BreakpointHit;

    public IReadOnlyCollection<ulong> Breakpoints => _breakpoints;
    public bool AddBreakpoint(VirtAddr va) => _breakpoints.Add(va.Value);
    public bool RemoveBreakpoint(VirtAddr va) => _breakpoints.Remove(va.Value);
    public void ClearBreakpoints() => _breakpoints.Clear();

    /// <summary>A run that starts on a breakpoint executes that instruction (continue/step semantics).</summary>
    internal void SkipBreakpointAt(ulong rip) => _skipBreakpointAt = rip;

    /// <summary>Index of the first op in [0, n) at a breakpoint, or -1.</summary>
    private int FirstBreakpoint(Block b, int n)
    {
        for (int i = 0; i < n; i++)
        {
            ulong ip = b.Ops[i].Ip;
            if (_breakpoints.Contains(ip) && !(i == 0 && ip == _skipBreakpointAt)) return i;
        }
        return -1;
    }

    /// <summary>
    /// Walks the page tables for <paramref name="va"/> like the MMU would, without setting A/D bits,
    /// and returns every level's entry (stopping at a non-present entry or a large page).
    /// </summary>
    public IReadOnlyList<WalkStep> DescribeWalk(VirtAddr va)
    {
        var steps = new List<WalkStep>();
        ulong table = _cr3;
        for (int level = 4; level >= 1; level--)
        {
            ulong addr = table + (ulong)va.TableIndex(level) * 8;
            if (addr + 8 > _memory.Size) break;
            ulong entry = _memory.ReadU64(new PhysAddr(addr));
            steps.Add(new WalkStep(level, new PhysAddr(addr), entry));
            if ((entry & 1) == 0 || (level <= 3 && (entry & (ulong)PteFlags.PageSize) != 0)) break;
            table = entry & 0x000F_FFFF_FFFF_F000UL;
        }
        return steps;
    }
}
