using Lab.Kernel.Common;
using Lab.Kernel.Weensy.Memory;
using Lab.Kernel.Weensy.Plumbing;
using Lab.Machine;

namespace Lab.Kernel.Weensy.Core;

/// <summary>
/// The WeensyOS kernel, written in C# and run when the CPU traps (high-level emulation).
///
/// This file is the core students read: boot, process setup, the trap handler, system calls,
/// the scheduler, fork, exit, page faults and user-page allocation. Everything else is plumbing
/// in other files of the same class: ELF loading (Plumbing/Loader.cs), the CGA display
/// (Plumbing/Display.cs), the grading log (Plumbing/GradingLog.cs), invariant checks
/// (Plumbing/Invariants.cs) and snapshots (Plumbing/Snapshot.cs).
///
/// Memory is the guest's: page tables are real x86-64 tables in guest physical memory, and
/// <see cref="Pages"/> (pageinfo) records who owns every physical page. Which lab step the kernel
/// implements is <see cref="KernelOptions.Step"/>: each `if (Step ...)` below is one lab exercise.
/// </summary>
public sealed partial class WeensyKernel : ITrapHandler
{
    private readonly X64Machine _machine;
    private Machine.Cpu.Cpu Cpu => _machine.Cpu;

    public KernelOptions Options { get; private set; }
    private LabStep Step => Options.Step;

    /// <summary>pageinfo: owner and refcount of every physical page.</summary>
    public PageInfo Pages { get; }
    /// <summary>The page-table walker every page-table operation goes through.</summary>
    public PageTables Tables { get; }

    private readonly Process[] _procs = new Process[Layout.NProc];
    /// <summary>Bumped by every change to pageinfo, page tables and process states.</summary>
    private readonly ChangeCounter _changes = new();
    /// <summary>The running process (or, while idle, the one that ran last).</summary>
    private int _current;
    /// <summary>Nothing is running: the CPU waits for the next timer interrupt.</summary>
    private bool _idle;
    private ulong _ticks;
    private string _bootCommand = "allocator";

    /// <summary>Timer interrupts since the cold boot (not reset by a soft reboot).</summary>
    public ulong Ticks => _ticks;
    public IReadOnlyList<Process> Processes => _procs;
    public Process? Current => _idle ? null : _procs[_current];
    public string BootCommand => _bootCommand;

    /// <summary>The machine was powered off ('q', Ctrl-C, the tick limit, or a panic with a tick limit).</summary>
    public bool PoweredOff { get; private set; }
    /// <summary>The kernel panicked and now only polls the keyboard (WeensyOS <c>fail()</c>).</summary>
    public bool Failed { get; private set; }
    /// <summary>The panic text ("Unexpected exception 52!"), or null.</summary>
    public string? PanicMessage { get; private set; }
    /// <summary>The first host-side invariant failure (see <see cref="KernelOptions.Invariants"/>), or null.</summary>
    public string? InvariantFailure { get; private set; }

    /// <summary>Forks that failed (no free slot or out of memory) since the cold boot. Diagnostic.</summary>
    public int ForkFailures { get; private set; }

    /// <summary>Where the grading log (PM_DUMP / VM_DUMP lines) goes; null = no log. Not machine state.</summary>
    public TextWriter? GradingLog { get; set; }
    /// <summary>Called at the end of every trap (tests use it to check invariants). Not machine state.</summary>
    public Action<WeensyKernel, Trap>? AfterTrap { get; set; }

    /// <summary>
    /// Sees what the kernel does, for event logs: every system call with its argument and result,
    /// copy-on-write faults fixed up, and user faults. Called on the machine's thread; keep it cheap.
    /// </summary>
    public Action<KernelEvent>? Observer { get; set; }

    public WeensyKernel(X64Machine machine, KernelOptions options)
    {
        if (options.InstructionsPerTick == 0) throw new ArgumentException("InstructionsPerTick must be > 0", nameof(options));
        if (machine.Memory.Size != Layout.MemSizePhysical)
            throw new ArgumentException($"the WeensyOS profile needs {Layout.MemSizePhysical} bytes of RAM", nameof(machine));
        _machine = machine;
        Options = options;
        Pages = new PageInfo(machine.Memory, _changes);
        Tables = new PageTables(machine, _changes);
        for (int i = 0; i < Layout.NProc; i++) _procs[i] = new Process(i, _changes);
        machine.TrapHandler = this;
        Boot(options.Boot);
    }

    // =========================================================================================
    // Boot

    /// <summary>
    /// kernel(command): (re)initialises the kernel page table, pageinfo, the console, the timer
    /// and the process table, creates the initial processes and runs pid 1. A soft reboot
    /// ('a', 'f', 'e') comes back here; <see cref="Ticks"/> and the display's animation state
    /// survive it, as in WeensyOS.
    /// </summary>
    private void Boot(string command)
    {
        _bootCommand = command;
        PoweredOff = Failed = false;
        PanicMessage = null;

        BuildKernelPageTable();
        Pages.Initialize();
        ConsoleClear();
        _machine.TimerInterval = Options.InstructionsPerTick;
        _machine.ResetTimer();
        foreach (var p in _procs) p.Reset();
        _current = 0;
        _idle = true;

        switch (command)
        {
            case "allocator":
                for (int pid = 1; pid <= 4; pid++)
                    ProcessSetup(pid, pid == 1 ? "p-allocator" : $"p-allocator{pid}");
                break;
            case "fork": ProcessSetup(1, "p-fork"); break;
            case "forkexit": ProcessSetup(1, "p-forkexit"); break;
            default: ProcessSetup(1, command); break;
        }
        if (Failed || PoweredOff) return;
        RunProcess(_procs[1]);
    }

    /// <summary>
    /// The kernel's own page table (kernel_pagetable, five pages in the kernel image):
    /// 0..2 MiB identity-mapped. In the handout everything is user-accessible (P|W|U).
    /// Step 1 (kernel isolation): [0, 0x100000) becomes P|W, except the console page.
    /// </summary>
    private void BuildKernelPageTable()
    {
        PhysAddr top = Layout.KernelPageTable;
        for (int i = 0; i < Layout.KernelPageTablePages; i++)
            _machine.Memory.Fill(top + (ulong)i * Layout.PageSize, Layout.PageSize, 0);
        const ulong link = (ulong)PageTables.PWU;
        Tables.WriteEntry(top, (top.Value + 0x1000) | link);                 // L1[0] -> L2
        Tables.WriteEntry(top + 0x1000, (top.Value + 0x2000) | link);        // L2[0] -> L3
        Tables.WriteEntry(top + 0x2000, (top.Value + 0x3000) | link);        // L3[0] -> L4 (0-2 MiB)
        Tables.WriteEntry(top + 0x2000 + 8, (top.Value + 0x4000) | link);    // L3[1] -> L4 (2-4 MiB)
        Cpu.Cr3 = top.Value;

        for (ulong va = 0; va < Layout.MemSizePhysical; va += Layout.PageSize)
            MapKernel(va, PageTables.PWU);

        if (Step >= LabStep.KernelIsolation)
        {
            for (ulong va = 0; va < Layout.ProcStartAddr; va += Layout.PageSize)
                MapKernel(va, PageTables.PW);
            MapKernel(Layout.Console, PageTables.PWU);
        }
    }

    private void MapKernel(ulong va, PteFlags perm) =>
        Tables.Map(Layout.KernelPageTable, new VirtAddr(va), new PhysAddr(va), perm,
            () => throw new InvalidOperationException("kernel bug: the kernel page table is static"));

    /// <summary>
    /// process_setup: gives slot <paramref name="pid"/> a page table, loads the program and
    /// sets up the stack. Before step 2 every process shares kernel_pagetable, whose top page
    /// counts one reference per sharer; from step 2 on each process gets its own table.
    /// </summary>
    private void ProcessSetup(int pid, string program)
    {
        Process p = _procs[pid];
        p.Reset();
        p.Name = program;
        if (Step < LabStep.PerProcessPageTables)
        {
            p.PageTable = Layout.KernelPageTable;
            Pages.AddRef(Layout.KernelPageTable);
        }
        else
        {
            PhysAddr? pt = NewProcessPageTable(pid);
            if (!Assert(pt is not null, "pagetable != NULL")) return;
            p.PageTable = pt!.Value;
        }

        ElfImage image = EmbeddedPrograms.Load(program, Options.Flavour);
        if (!Assert(LoadProgram(p, image), "program_load(p, program) >= 0")) return;
        if (!Assert(SetupStack(p), "stack page allocated")) return;
        p.State = ProcState.Runnable;
    }

    /// <summary>
    /// A new process page table (step 2): a fresh top-level page owned by the process, plus the
    /// kernel's mappings of [0, 0x100000) with the same permissions (the tables they need come
    /// from free pages too). Null when memory runs out; nothing is left allocated then.
    /// </summary>
    private PhysAddr? NewProcessPageTable(int pid)
    {
        PhysAddr? root = Pages.Allocate((sbyte)pid);
        if (root is null) return null;
        if (!Tables.CopyMappings(Layout.KernelPageTable, root.Value, new VirtAddr(0),
                new VirtAddr(Layout.ProcStartAddr), () => Pages.Allocate((sbyte)pid)))
        {
            FreePageTable(root.Value);
            return null;
        }
        return root;
    }

    /// <summary>
    /// The user stack: one page. Before step 4 it sits at the top of the process's 0x40000 slice
    /// (rsp = 0x100000 + 0x40000 * pid); from step 4 on at virtual 0x2FF000 (rsp = 0x300000).
    /// </summary>
    private bool SetupStack(Process p)
    {
        ulong top = Step >= LabStep.OverlappingAddressSpaces
            ? Layout.MemSizeVirtual
            : Layout.ProcStartAddr + Layout.ProcSize * (ulong)p.Pid;
        p[Register.Rsp] = top;
        return AllocateUserPage(p, new VirtAddr(top - Layout.PageSize), PageTables.PWU);
    }

    // =========================================================================================
    // Physical pages for processes

    /// <summary>
    /// Gives process <paramref name="p"/> a zeroed physical page mapped at <paramref name="va"/>
    /// with <paramref name="perm"/>. Before step 3 the physical page is the one whose address
    /// equals va (it must be free); from step 3 on it is the lowest free page. False when no page
    /// (or no page-table page) is available; nothing is left allocated then.
    /// </summary>
    internal bool AllocateUserPage(Process p, VirtAddr va, PteFlags perm)
    {
        sbyte owner = (sbyte)p.Pid;
        PhysAddr pa;
        if (Step < LabStep.AnyFreePage)
        {
            pa = new PhysAddr(va.Value);
            if (!Pages.Assign(pa, owner)) return false;
            _machine.Memory.Fill(pa, Layout.PageSize, 0);
        }
        else
        {
            PhysAddr? free = Pages.Allocate(owner);
            if (free is null) return false;
            pa = free.Value;
        }
        if (!Tables.Map(p.PageTable, va, pa, perm, () => Pages.Allocate(owner)))
        {
            Pages.Release(pa);
            return false;
        }
        return true;
    }

    /// <summary>
    /// Drops process <paramref name="pid"/>'s reference to the user page that mapping
    /// <paramref name="m"/> names. If others still share the page and pid owned it, ownership
    /// passes to a live sharer (pageinfo must never name a dead process). A copy-on-write page
    /// that loses a sharer needs one copy fewer: its promise of a free page is withdrawn.
    /// </summary>
    private void ReleaseUserPage(int pid, in Mapping m)
    {
        PhysAddr pa = m.Pa;
        if (m.IsCow && Pages.Refcount(pa) > 1) Pages.ReleaseCowCopy();
        int left = Pages.Release(pa);
        if (left > 0 && Pages.Owner(pa) == pid)
            Pages.SetOwner(pa, (sbyte)FindSharer(pa, excludePid: pid));
    }

    /// <summary>A live process other than excludePid that maps physical page pa, or 0.</summary>
    private int FindSharer(PhysAddr pa, int excludePid)
    {
        foreach (Process q in _procs)
        {
            if (q.State == ProcState.Free || q.Pid == excludePid || q.PageTable == default) continue;
            bool found = false;
            Tables.ForEach(q.PageTable, new VirtAddr(Layout.ProcStartAddr), new VirtAddr(Layout.MemSizeVirtual),
                (in Mapping m) => found |= m.Pa == pa);
            if (found) return q.Pid;
        }
        return 0;
    }

    // =========================================================================================
    // Traps

    /// <summary>
    /// exception(): every trap from user mode arrives here. Save the registers, redraw the
    /// memory views, run the grading hooks, poll the keyboard, handle the trap, then resume the
    /// current process if it can still run, else schedule another.
    /// </summary>
    public void OnTrap(X64Machine machine, in Trap trap)
    {
        if (PoweredOff) { machine.Stop(); Idle(); return; }
        if (Failed) { FailLoop(); return; }

        Process? p = _idle ? null : _procs[_current];
        p?.SaveFrom(Cpu);

        CheckVirtualMemory(timer: trap.Kind == TrapKind.Timer);
        if (Failed || PoweredOff) return;
        ShowMemory();

        if (Options.TickLimit != 0 && _ticks == Options.TickLimit) { PowerOff(); return; }
        if (trap.Kind == TrapKind.Timer && _ticks % 100 == 0) WriteGradingDump();

        if (CheckKeyboard()) return;

        bool rescheduled = false;
        switch (trap.Kind)
        {
            case TrapKind.Timer:
                ++_ticks;
                Schedule();
                rescheduled = true;
                break;
            case TrapKind.Syscall:
                {
                    var call = DecodeLinuxSyscall(p![Register.Rax]);
                    ulong arg = p[Register.Rdi];
                    rescheduled = Syscall(p, call, arg);
                    Observe(p, call, arg);
                    break;
                }
            case TrapKind.SoftwareInterrupt when trap.Vector is >= 48 and <= 53:
                {
                    var call = (WeensyCall)trap.Vector;
                    ulong arg = p![Register.Rdi];
                    rescheduled = Syscall(p, call, arg);
                    Observe(p, call, arg);
                    break;
                }
            case TrapKind.SoftwareInterrupt when trap.Vector is >= 54 and <= 63:
                Panic($"Unexpected exception {trap.Vector}!");
                break;
            case TrapKind.SoftwareInterrupt:   // the gate has DPL 0: a user `int` there is #GP
                Panic("Unexpected exception 13!");
                break;
            case TrapKind.PageFault:
                PageFault(p!, trap);
                break;
            default:
                Panic($"Unexpected exception {trap.Vector}!");
                break;
        }

        if (!rescheduled && !Failed && !PoweredOff)
        {
            if (p is not null && p.State == ProcState.Runnable) RunProcess(p);
            else Schedule();
        }
        AfterTrapChecks(trap);
    }

    /// <summary>Reports a finished system call to the observer (results are in the caller's saved rax).</summary>
    private void Observe(Process p, WeensyCall call, ulong arg)
    {
        if (Observer is not { } observer) return;
        string name = call switch
        {
            WeensyCall.GetPid => "getpid", WeensyCall.Yield => "yield", WeensyCall.PageAlloc => "page_alloc",
            WeensyCall.Fork => "fork", WeensyCall.Exit => "exit", WeensyCall.Panic => "panic", _ => "unknown",
        };
        bool hasResult = call is WeensyCall.GetPid or WeensyCall.PageAlloc or WeensyCall.Fork or WeensyCall.Unknown;
        long result = hasResult ? (long)p[Register.Rax] : 0;
        observer(new KernelEvent(KernelEventKind.Syscall, p.Pid, name, arg, result, hasResult, _ticks));
    }

    /// <summary>The system calls, numbered by their WeensyOS interrupt vector.</summary>
    private enum WeensyCall
    {
        Panic = 48, GetPid = 49, Yield = 50, PageAlloc = 51, Fork = 52, Exit = 53,
        Unknown = -1,
    }

    /// <summary>Maps a Linux-ABI number (in rax) to a call. Unknown numbers return -ENOSYS.</summary>
    private static WeensyCall DecodeLinuxSyscall(ulong number) => number switch
    {
        SyscallNumbers.SYS_getpid => WeensyCall.GetPid,
        SyscallNumbers.SYS_sched_yield => WeensyCall.Yield,
        SyscallNumbers.SYS_page_alloc => WeensyCall.PageAlloc,
        SyscallNumbers.SYS_fork => WeensyCall.Fork,
        SyscallNumbers.SYS_exit or SyscallNumbers.SYS_exit_group => WeensyCall.Exit,
        SyscallNumbers.SYS_panic => WeensyCall.Panic,
        _ => WeensyCall.Unknown,
    };

    /// <summary>
    /// One system call from process p with argument arg. The result goes in p's rax.
    /// Returns true if it already switched processes (yield, exit).
    /// Calls the current lab step does not implement panic as the handout does.
    /// </summary>
    private bool Syscall(Process p, WeensyCall call, ulong arg)
    {
        switch (call)
        {
            case WeensyCall.Panic:
                Panic(null);                      // the user already printed its message
                return false;
            case WeensyCall.GetPid:
                p[Register.Rax] = (ulong)p.Pid;
                return false;
            case WeensyCall.Yield:
                Schedule();
                return true;
            case WeensyCall.PageAlloc:
                p[Register.Rax] = (ulong)(long)SysPageAlloc(p, new VirtAddr(arg));
                return false;
            case WeensyCall.Fork:
                if (Step < LabStep.ForkCopy) { Panic("Unexpected exception 52!"); return false; }
                p[Register.Rax] = (ulong)(long)Fork(p);
                return false;
            case WeensyCall.Exit:
                if (Step < LabStep.Exit) { Panic("Unexpected exception 53!"); return false; }
                Exit(p);
                Schedule();
                return true;
            default:
                p[Register.Rax] = unchecked((ulong)-SyscallNumbers.ENOSYS);
                return false;
        }
    }

    /// <summary>
    /// sys_page_alloc(va): a fresh zeroed page at va, user-accessible and writable. Returns 0 or -1.
    /// From step 3 on, va must be page-aligned and inside [0x100000, 0x300000); a page already
    /// mapped there is released first.
    /// </summary>
    private int SysPageAlloc(Process p, VirtAddr va)
    {
        if (Step >= LabStep.AnyFreePage)
        {
            if (!va.IsPageAligned || va.Value < Layout.ProcStartAddr || va.Value >= Layout.MemSizeVirtual)
                return -1;
            if (Tables.Lookup(p.PageTable, va) is Mapping old && old.User)
            {
                Tables.Map(p.PageTable, va, default, PteFlags.None, () => null);
                ReleaseUserPage(p.Pid, old);
            }
        }
        return AllocateUserPage(p, va, PageTables.PWU) ? 0 : -1;
    }

    /// <summary>
    /// A page fault from user mode. Copy-on-write (step cow): a write to a shared read-only page
    /// marked COW is fixed up and the process resumes. Anything else is the process's bug: print
    /// the WeensyOS message on row 24 and park the process (state Broken); the machine goes on.
    /// </summary>
    private void PageFault(Process p, in Trap trap)
    {
        var error = trap.PageFaultError;
        bool write = (error & PageFaultError.Write) != 0;
        bool present = (error & PageFaultError.Present) != 0;
        if (Step == LabStep.CopyOnWrite && write && present && CopyOnWrite(p, trap.FaultAddress))
        {
            Observer?.Invoke(new KernelEvent(KernelEventKind.CopyOnWrite, p.Pid, "cow", trap.FaultAddress.Value, 0, false, _ticks));
            return;
        }
        Observer?.Invoke(new KernelEvent(KernelEventKind.Fault, p.Pid, write ? "write" : "read", trap.FaultAddress.Value, (long)trap.InstructionAddress.Value, false, _ticks));

        ConsolePrintf(Display.Cpos(24, 0), 0x0C00,
            $"Process {p.Pid} page fault for 0x{trap.FaultAddress.Value:x} ({(write ? "write" : "read")} " +
            $"{(present ? "protection problem" : "missing page")}, rip=0x{trap.InstructionAddress.Value:x})!\n");
        p.State = ProcState.Broken;
    }

    /// <summary>
    /// The copy-on-write fault: if nobody else shares the page any more, take it over (make it
    /// writable again); otherwise copy it into a fresh page of our own and drop the reference to
    /// the shared one. The copy cannot run out of memory: fork promised this page a free one
    /// (<see cref="PageInfo.CowReserve"/>), and dropping our reference first withdraws that
    /// promise, which leaves a free page no one else may take. False if the page is not COW
    /// (then it is a real fault).
    /// </summary>
    private bool CopyOnWrite(Process p, VirtAddr va)
    {
        if (Tables.Lookup(p.PageTable, va.PageBase) is not Mapping m || !m.IsCow || !m.User) return false;
        if (Pages.Refcount(m.Pa) == 1)
        {
            Pages.SetOwner(m.Pa, (sbyte)p.Pid);
            Tables.SetLeaf(p.PageTable, m, m.Pa, PageTables.PWU);
            return true;
        }
        ReleaseUserPage(p.Pid, m);          // still in use by the other sharers: its bytes stay put
        PhysAddr? copy = Pages.Allocate((sbyte)p.Pid);
        if (!Assert(copy is not null, "copy-on-write page available")) return false;
        _machine.Memory.CopyPage(m.Pa, copy!.Value);
        Tables.SetLeaf(p.PageTable, m, copy.Value, PageTables.PWU);
        return true;
    }

    // =========================================================================================
    // Scheduling

    /// <summary>
    /// schedule(): strict round robin by pid, starting after the current process and trying it
    /// last. With nothing runnable the CPU idles until the next timer interrupt.
    /// </summary>
    private void Schedule()
    {
        for (int i = 1; i <= Layout.NProc; i++)
        {
            Process next = _procs[(_current + i) % Layout.NProc];
            if (next.State == ProcState.Runnable)
            {
                RunProcess(next);
                return;
            }
        }
        Idle();
    }

    /// <summary>run(p): makes p current, loads its page table and registers, returns to user mode.</summary>
    private void RunProcess(Process p)
    {
        _current = p.Pid;
        _idle = false;
        p.LoadInto(Cpu);
        if (Cpu.Cr3 != p.PageTable.Value) Cpu.Cr3 = p.PageTable.Value;   // writing CR3 flushes the TLB
    }

    /// <summary>No process runs: switch to the kernel page table and skip time to the next timer interrupt.</summary>
    private void Idle()
    {
        _idle = true;
        if (Cpu.Cr3 != Layout.KernelPageTable.Value) Cpu.Cr3 = Layout.KernelPageTable.Value;
        _machine.WaitForTimer();
        // X64Machine.Run delivers a due timer before it looks at its budget, so idling inside a
        // trap handler would make the current Run spin forever on timer traps. Stop it instead;
        // the next Run delivers the timer interrupt first.
        _machine.Stop();
    }

    // =========================================================================================
    // fork and exit

    /// <summary>
    /// fork (step 5): a child in the lowest free slot with a copy of the parent's address space
    /// and registers; the child sees 0, the parent the child's pid. Pages below 0x100000 are the
    /// kernel's (copied as mappings); every user page in [0x100000, 0x300000) goes through
    /// <see cref="ForkPage"/>. On failure everything allocated is freed and -1 returned.
    /// </summary>
    private int Fork(Process parent)
    {
        Process? child = null;
        for (int pid = 1; pid < Layout.NProc && child is null; pid++)
            if (_procs[pid].State == ProcState.Free) child = _procs[pid];
        if (child is null) { ForkFailures++; return -1; }

        child.Reset();
        PhysAddr? pt = NewProcessPageTable(child.Pid);
        if (pt is null) { ForkFailures++; return -1; }
        child.PageTable = pt.Value;

        bool ok = true;
        Tables.ForEach(parent.PageTable, new VirtAddr(Layout.ProcStartAddr), new VirtAddr(Layout.MemSizeVirtual),
            (in Mapping m) => { if (ok) ok = ForkPage(parent, child, m); });
        if (!ok)
        {
            FreeAddressSpace(child);
            child.Reset();
            ForkFailures++;
            return -1;
        }

        child.CopyRegistersFrom(parent);
        child.Parent = parent.Pid;
        child.Name = parent.Name;
        child[Register.Rax] = 0;
        child.State = ProcState.Runnable;
        return child.Pid;
    }

    /// <summary>Test hook: fork process <paramref name="pid"/> right now, as its sys_fork would.</summary>
    internal int ForkForTest(int pid) => Fork(_procs[pid]);

    /// <summary>
    /// One page of the parent's address space into the child:
    /// step 5 copies it into a fresh page; step 6 shares read-only pages (refcount + 1);
    /// cow shares every page, turning writable ones into read-only COW pages in both processes.
    /// The broken variant ForkNoCopy shares writable pages as they are.
    /// </summary>
    private bool ForkPage(Process parent, Process child, in Mapping m)
    {
        sbyte owner = (sbyte)child.Pid;
        Func<PhysAddr?> tables = () => Pages.Allocate(owner);
        bool share = Options.Bug == LabBug.ForkNoCopy
            || Step == LabStep.CopyOnWrite
            || (Step >= LabStep.SharedText && !m.Writable);
        if (share)
        {
            PteFlags perm = (PteFlags)(m.Pte & (ulong)(PageTables.PWU | PageTables.Cow));
            bool cow = Step == LabStep.CopyOnWrite && Options.Bug != LabBug.ForkNoCopy && (m.Writable || m.IsCow);
            if (cow && !Pages.ReserveCowCopy()) return false;       // a later write must find its copy
            if (cow && m.Writable)
            {
                perm = PageTables.PU | PageTables.Cow;
                Tables.SetLeaf(parent.PageTable, m, m.Pa, perm);
            }
            if (!Tables.Map(child.PageTable, m.Va, m.Pa, perm, tables))
            {
                if (cow) Pages.ReleaseCowCopy();
                return false;
            }
            Pages.AddRef(m.Pa);
            return true;
        }

        PhysAddr? copy = Pages.Allocate(owner);
        if (copy is null) return false;
        _machine.Memory.CopyPage(m.Pa, copy.Value);
        if (!Tables.Map(child.PageTable, m.Va, copy.Value, m.Perm & PageTables.PWU, tables))
        {
            Pages.Release(copy.Value);
            return false;
        }
        return true;
    }

    /// <summary>exit (step 7): frees the process's pages and page table; its slot becomes free.</summary>
    private void Exit(Process p)
    {
        if (Cpu.Cr3 == p.PageTable.Value) Cpu.Cr3 = Layout.KernelPageTable.Value;
        FreeAddressSpace(p);
        p.State = ProcState.Free;
    }

    /// <summary>
    /// Releases every user page of p (shared pages pass to a live sharer) and then its page-table
    /// pages. The broken variant ForkLeaksPageTables forgets the page-table pages.
    /// </summary>
    private void FreeAddressSpace(Process p)
    {
        if (p.PageTable == default) return;
        foreach (Mapping m in Tables.Mappings(p.PageTable, new VirtAddr(Layout.ProcStartAddr), new VirtAddr(Layout.MemSizeVirtual)))
            ReleaseUserPage(p.Pid, m);
        if (Options.Bug != LabBug.ForkLeaksPageTables) FreePageTable(p.PageTable);
        p.PageTable = default;
    }

    /// <summary>Releases every page-table page reachable from root (not the pages they map).</summary>
    private void FreePageTable(PhysAddr root)
    {
        foreach (var (page, _) in Tables.TablePages(root))
            Pages.Release(page);
    }

    // =========================================================================================
    // Keyboard, panic, power

    /// <summary>
    /// check_keyboard: 'a', 'f', 'e' soft-reboot into allocator, fork, forkexit; 'q' or Ctrl-C
    /// powers off. Returns true if the current trap must not be handled any further.
    /// </summary>
    private bool CheckKeyboard()
    {
        if (!_machine.Keyboard.TryDequeue(out byte key)) return false;
        switch ((char)key)
        {
            case 'a': Boot("allocator"); return true;
            case 'f': Boot("fork"); return true;
            case 'e': Boot("forkexit"); return true;
            case 'q': case '\x03': PowerOff(); return true;
            default: return false;
        }
    }

    /// <summary>
    /// panic(): "PANIC: message" on row 23 (and in the grading log); a user process's sys_panic
    /// passes null and only "PANIC" is printed over the user's own line. Then fail().
    /// </summary>
    private void Panic(string? message)
    {
        if (message is null) ConsolePrintf(Display.Cpos(23, 0), 0xC000, "PANIC");
        else ConsolePrintf(Display.Cpos(23, 0), 0xC000, $"PANIC: {message}\n");
        GradingLog?.Write(message is null ? "PANIC\n" : $"PANIC: {message}\n");
        PanicMessage = message ?? "PANIC (sys_panic from user)";
        Fail();
    }

    /// <summary>
    /// fail(): with a tick limit, power off; otherwise stop running processes and only poll the
    /// keyboard (so 'a'/'f'/'e'/'q' still work).
    /// </summary>
    private void Fail()
    {
        if (Options.TickLimit != 0) { PowerOff(); return; }
        Failed = true;
        Idle();
    }

    private void FailLoop()
    {
        if (!CheckKeyboard()) Idle();
    }

    /// <summary>Powers the machine off: the current Run returns and the kernel runs no more code.</summary>
    private void PowerOff()
    {
        PoweredOff = true;
        _machine.Stop();
        Idle();
    }

    /// <summary>A kernel assertion: on failure, panic with "file:line: assertion 'expr' failed".</summary>
    private bool Assert(bool condition, string expression,
        [System.Runtime.CompilerServices.CallerFilePath] string file = "",
        [System.Runtime.CompilerServices.CallerLineNumber] int line = 0)
    {
        if (!condition) Panic($"{Path.GetFileName(file)}:{line}: assertion '{expression}' failed");
        return condition;
    }
}
