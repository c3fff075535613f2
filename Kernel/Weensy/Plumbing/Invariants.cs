using Lab.Kernel.Common;
using Lab.Kernel.Weensy.Memory;
using Lab.Machine;

namespace Lab.Kernel.Weensy.Core;

/// <summary>
/// Plumbing: invariant checks.
/// <see cref="CheckVirtualMemory"/> is WeensyOS's own check_virtual_memory, run on every trap
/// (a failure panics, as the C kernel's asserts do). <see cref="CheckInvariants"/> is the full
/// host-side list of WEENSYOS.md §7 and DESIGN.md (console accessible, no owned-but-inaccessible
/// page, refcounts equal mappings, no leaked page), run per <see cref="KernelOptions.Invariants"/>
/// and by tests. <see cref="Stalled"/> tells a host that the kernel makes no progress any more.
/// </summary>
public sealed partial class WeensyKernel
{
    /// <summary>
    /// Why the kernel, though neither panicked nor powered off, will never run user code again
    /// on its own: no process is runnable (every one broke on a fault, or all exited). Null while
    /// some process can run. Only a key ('a', 'f', 'e') or a reboot gets it going again.
    /// </summary>
    public string? Stalled
    {
        get
        {
            if (Failed || PoweredOff) return null;
            int broken = 0;
            foreach (Process p in _procs)
            {
                if (p.State == ProcState.Runnable) return null;
                if (p.State == ProcState.Broken) broken++;
            }
            return broken > 0
                ? $"stalled: every process is broken ({broken} faulted); press a, f or e, or reboot"
                : "stalled: every process has exited; press a, f or e, or reboot";
        }
    }

    /// <summary>check_virtual_memory: panics with the first problem found. <paramref name="timer"/>: the trap is a timer tick.</summary>
    private void CheckVirtualMemory(bool timer)
    {
        // From step 1 on only this kernel writes page tables and pageinfo (user code cannot reach them),
        // so with no injected bug the check can fail only on a bug of the C# kernel itself: it then runs
        // at timer ticks, 100 times a second instead of on each of the thousands of traps (it was the
        // largest cost of a watched demo session). Where a student's program or choice can break it (the
        // handout step, whose user code can write the kernel's table; an injected bug; invariant checks
        // asked for) it runs on every trap, as in C.
        if (!timer && Step != LabStep.Handout && Options.Bug == LabBug.None && Options.Invariants == InvariantChecks.None) return;
        // The result depends only on pageinfo, process states and page tables: skip the walk when
        // none changed. (In the handout, user code can write the kernel page table itself, so
        // its bytes are compared too.)
        if (_changes.Value == _checkedVersion && (Step != LabStep.Handout || KernelTableUnchanged())) return;
        string? problem = VirtualMemoryProblem();
        if (problem is not null) { Panic(problem); return; }
        _checkedVersion = _changes.Value;
        if (Step == LabStep.Handout)
            _machine.Memory.View(Layout.KernelPageTable, _kernelTableCopy.Length).CopyTo(_kernelTableCopy);
    }

    private ulong _checkedVersion = ulong.MaxValue;
    private readonly byte[] _kernelTableCopy = new byte[Layout.KernelPageTablePages * (int)Layout.PageSize];

    private bool KernelTableUnchanged() =>
        _machine.Memory.View(Layout.KernelPageTable, _kernelTableCopy.Length).SequenceEqual(_kernelTableCopy);

    /// <summary>The first check_virtual_memory violation, or null.</summary>
    private string? VirtualMemoryProblem()
    {
        if (_procs[0].State != ProcState.Free) return "assertion 'processes[0].p_state == P_FREE' failed";
        string? r = PageTableMappingsProblem(Layout.KernelPageTable)
            ?? PageTableOwnershipProblem(Layout.KernelPageTable, PageInfo.KernelOwner);
        if (r is not null) return r;
        foreach (Process p in _procs)
        {
            if (p.State == ProcState.Free || p.PageTable == Layout.KernelPageTable) continue;
            r = PageTableMappingsProblem(p.PageTable) ?? PageTableOwnershipProblem(p.PageTable, (sbyte)p.Pid);
            if (r is not null) return r;
        }
        for (int pn = 0; pn < Layout.PhysicalPages; pn++)
        {
            int owner = Pages.Owner(pn);
            if (Pages.Refcount(pn) > 0 && owner >= 0 && (owner >= Layout.NProc || _procs[owner].State == ProcState.Free))
                return $"assertion 'page 0x{pn << 12:x} owner {owner} is a live process' failed";
        }
        return null;
    }

    /// <summary>check_page_table_mappings: the kernel image and stack are identity-mapped; data and stack writable.</summary>
    private string? PageTableMappingsProblem(PhysAddr pt)
    {
        if (!pt.IsPageAligned) return "assertion 'PAGEOFFSET(pt) == 0' failed";
        if (KernelImageMappedAsExpected(pt)) return null;
        for (ulong va = Layout.KernelStart; va < Layout.KernelEnd; va += Layout.PageSize)
        {
            Mapping? m = Tables.Lookup(pt, new VirtAddr(va));
            if (m is null || m.Value.Pa.Value != va)
            {
                ConsolePrintf(Display.Cpos(22, 0), 0xC000, $"{va:x} vs {(m is null ? ulong.MaxValue : m.Value.Pa.Value):x}\n");
                return "assertion 'vam.pa == va' failed";
            }
            if (va >= Layout.KernelStartData && !m.Value.Writable) return "assertion 'vam.perm & PTE_W' failed";
        }
        Mapping? s = Tables.Lookup(pt, new VirtAddr(Layout.KernelStackPage));
        if (s is null || s.Value.Pa.Value != Layout.KernelStackPage) return "assertion 'vam.pa == kstack' failed";
        if (!s.Value.Writable) return "assertion 'vam.perm & PTE_W' failed";
        return null;
    }

    /// <summary>
    /// The fast path of <see cref="PageTableMappingsProblem"/> (it runs whenever a page table
    /// changed): one walk over the kernel image instead of a lookup per page. False sends the caller
    /// to the page-by-page check, which finds and reports the first problem as WeensyOS does.
    /// </summary>
    private bool KernelImageMappedAsExpected(PhysAddr pt)
    {
        int expected = (int)((Layout.KernelEnd - Layout.KernelStart + Layout.PageSize - 1) / Layout.PageSize), good = 0;
        Tables.ForEach(pt, new VirtAddr(Layout.KernelStart), new VirtAddr(Layout.KernelEnd), (in Mapping m) =>
        {
            if (m.Pa.Value == m.Va.Value && (m.Va.Value < Layout.KernelStartData || m.Writable)) good++;
        });
        if (good != expected) return false;
        Mapping? s = Tables.Lookup(pt, new VirtAddr(Layout.KernelStackPage));
        return s is { } stack && stack.Pa.Value == Layout.KernelStackPage && stack.Writable;
    }

    /// <summary>
    /// check_page_table_ownership: every page-table page reachable from pt is owned by owner,
    /// with refcount 1 (the shared kernel table's top page: 1 + its sharers).
    /// </summary>
    private string? PageTableOwnershipProblem(PhysAddr pt, sbyte owner)
    {
        int expectedTop = 1;
        if (pt == Layout.KernelPageTable)
            foreach (Process p in _procs)
                if (p.State != ProcState.Free && p.PageTable == Layout.KernelPageTable) expectedTop++;
        return TableOwnershipProblem(pt, 4, owner, expectedTop);
    }

    private string? TableOwnershipProblem(PhysAddr table, int level, sbyte owner, int refcount)
    {
        if (table.PageNumber >= (ulong)Layout.PhysicalPages) return $"assertion 'PAGENUMBER(pt) < NPAGES' failed";
        if (Pages.Owner(table) != owner)
            return $"assertion 'pageinfo[0x{table.Value:x}].owner == {owner}' failed";
        if (Pages.Refcount(table) != refcount)
            return $"assertion 'pageinfo[0x{table.Value:x}].refcount == {refcount}' failed";
        if (level == 1) return null;
        ReadOnlySpan<byte> bytes = _machine.Memory.View(table, (int)Layout.PageSize);
        var entries = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(bytes);
        for (int i = PageTables.NextUsed(entries, 0, 511); i >= 0; i = PageTables.NextUsed(entries, i + 1, 511))
        {
            ulong e = entries[i];
            if ((e & 1) == 0) continue;
            string? r = TableOwnershipProblem(new PhysAddr(e & 0x000F_FFFF_FFFF_F000UL), level - 1, owner, 1);
            if (r is not null) return r;
        }
        return null;
    }

    /// <summary>
    /// Every invariant, as a list of problems (empty = all hold): check_virtual_memory; for every
    /// live process the console page is user-writable, kernel memory is not user-accessible from
    /// step 1 on, no page it owns at or above 0x100000 is inaccessible to it, no writable page of
    /// another process is accessible from step 2 on; refcount of every process-owned page equals
    /// the number of page tables mapping it (plus page-table use); no page is leaked (every
    /// referenced page is reachable from a live process or the kernel).
    /// </summary>
    public List<string> CheckInvariants()
    {
        var problems = new List<string>();
        if (VirtualMemoryProblem() is string vm) problems.Add("check_virtual_memory: " + vm);

        // One walk per distinct page table checks each mapping and counts references: one per
        // distinct page table mapping a page at >= 0x100000, one per page-table page of a
        // process's own table.
        var uses = new int[Layout.PhysicalPages];
        var cowMapped = new bool[Layout.PhysicalPages];
        var roots = new HashSet<PhysAddr>();
        foreach (Process p in _procs)
        {
            if (p.State == ProcState.Free) continue;
            if (p.PageTable == default) { problems.Add($"pid {p.Pid}: live process without a page table"); continue; }
            Mapping? console = Tables.Lookup(p.PageTable, new VirtAddr(Layout.Console));
            if (console is not Mapping c || c.Pa.Value != Layout.Console || !c.User || !c.Writable)
                problems.Add($"pid {p.Pid}: console page 0xb8000 is not user-writable");

            bool countUses = roots.Add(p.PageTable);
            Tables.ForEach(p.PageTable, new VirtAddr(0), new VirtAddr(Layout.MemSizeVirtual),
                (in Mapping m) => CheckMapping(p, m, countUses, uses, cowMapped, problems));
            if (countUses && p.PageTable != Layout.KernelPageTable)
                foreach (var (page, _) in Tables.TablePages(p.PageTable, _tablePagesScratch))
                    if (page.Value < Layout.MemSizePhysical) uses[page.PageNumber]++;
        }

        int cowReserve = CowReserveOf(cowMapped);
        int free = Pages.FreeCount();
        if (Pages.CowReserve != cowReserve)
            problems.Add($"copy-on-write reserve is {Pages.CowReserve} pages but the shared pages need {cowReserve}");
        if (free < Pages.CowReserve)
            problems.Add($"{free} free pages cannot cover the {Pages.CowReserve} promised to copy-on-write faults");
        for (int pn = 0; pn < Layout.PhysicalPages; pn++)
        {
            int owner = Pages.Owner(pn), refs = Pages.Refcount(pn);
            if (refs < 0) problems.Add($"page 0x{pn << 12:x}: negative refcount {refs}");
            if (refs == 0 || owner < 0) continue;
            if (owner == 0) { problems.Add($"page 0x{pn << 12:x}: leaked (refcount {refs}, no owner)"); continue; }
            if (uses[pn] == 0) problems.Add($"page 0x{pn << 12:x}: leaked (owner {owner}, refcount {refs}, reachable from no live process)");
            else if (uses[pn] != refs) problems.Add($"page 0x{pn << 12:x}: refcount {refs} but {uses[pn]} references");
        }
        return problems;
    }

    private readonly List<(PhysAddr Page, int Level)> _tablePagesScratch = new();

    /// <summary>
    /// The per-mapping part of <see cref="CheckInvariants"/> for live process p: kernel addresses
    /// are not user-accessible from step 1 on, user pages are in use, owned pages are accessible,
    /// writable pages belong to p. When <paramref name="countUses"/> (p's table is seen for the
    /// first time) it also counts the reference and notes copy-on-write pages.
    /// </summary>
    private void CheckMapping(Process p, in Mapping m, bool countUses, int[] uses, bool[] cowMapped, List<string> problems)
    {
        if (m.Pa.Value >= Layout.MemSizePhysical) { problems.Add($"pid {p.Pid}: {m.Va} maps {m.Pa} beyond RAM"); return; }
        int owner = Pages.Owner(m.Pa), refs = Pages.Refcount(m.Pa);
        if (m.Va.Value < Layout.ProcStartAddr)
        {
            if (Step >= LabStep.KernelIsolation && m.User && m.Va.Value != Layout.Console)
                problems.Add($"pid {p.Pid}: kernel address {m.Va} is user-accessible");
            return;
        }
        if (countUses)
        {
            uses[m.Pa.PageNumber]++;
            if (m.IsCow) cowMapped[m.Pa.PageNumber] = true;
        }
        if (refs == 0 && p.PageTable != Layout.KernelPageTable)   // the shared handout table maps all RAM
            problems.Add($"pid {p.Pid}: {m.Va} maps free page {m.Pa}");
        if (owner == p.Pid && !m.User) problems.Add($"pid {p.Pid}: owns {m.Va} but cannot access it");
        if (Step >= LabStep.PerProcessPageTables && Options.Bug != LabBug.ForkNoCopy
            && m.User && m.Writable && owner != p.Pid)
            problems.Add($"pid {p.Pid}: {m.Va} is writable but owned by {owner}");
    }

    /// <summary>
    /// The free pages copy-on-write faults may still need: for every page some live process maps
    /// copy-on-write, its refcount - 1 (the last sharer takes the page over without copying).
    /// Computed from the page tables, to restore <see cref="PageInfo.CowReserve"/> from a snapshot.
    /// </summary>
    private int CountCowReserve()
    {
        var cowMapped = new bool[Layout.PhysicalPages];
        var roots = new HashSet<PhysAddr>();
        foreach (Process p in _procs)
        {
            if (p.State == ProcState.Free || p.PageTable == default || !roots.Add(p.PageTable)) continue;
            Tables.ForEach(p.PageTable, new VirtAddr(Layout.ProcStartAddr), new VirtAddr(Layout.MemSizeVirtual), (in Mapping m) =>
            {
                if (m.IsCow && m.Pa.Value < Layout.MemSizePhysical) cowMapped[m.Pa.PageNumber] = true;
            });
        }
        return CowReserveOf(cowMapped);
    }

    /// <summary>refcount - 1 summed over the pages some live process maps copy-on-write.</summary>
    private int CowReserveOf(bool[] cowMapped)
    {
        int reserve = 0;
        for (int pn = 0; pn < Layout.PhysicalPages; pn++)
            if (cowMapped[pn]) reserve += Math.Max(0, Pages.Refcount(pn) - 1);
        return reserve;
    }

    /// <summary>Runs <see cref="CheckInvariants"/> as configured; the first failure stops the machine.</summary>
    private void AfterTrapChecks(in Trap trap)
    {
        bool check = Options.Invariants == InvariantChecks.EveryTrap
            || (Options.Invariants == InvariantChecks.EveryTick && trap.Kind == TrapKind.Timer);
        if (check && InvariantFailure is null && !PoweredOff)
        {
            List<string> problems = CheckInvariants();
            if (problems.Count > 0)
            {
                InvariantFailure = $"tick {_ticks}: {problems[0]}" + (problems.Count > 1 ? $" (+{problems.Count - 1} more)" : "");
                _machine.Stop();
            }
        }
        AfterTrap?.Invoke(this, trap);
    }
}
