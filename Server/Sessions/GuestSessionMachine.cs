using Lab.Kernel.Common;
using Lab.Kernel.Guest;
using Lab.Machine;
using Lab.Shared.Wire;

namespace Lab.Server.Sessions;

/// <summary>
/// A session running a kernel Lab did not write (a student's WeensyOS built from C) in system mode.
/// Lab knows nothing of its process table, so the views come from what the hardware sees:
/// <list type="bullet">
/// <item>processes are the address spaces (CR3 values) that user code (CPL 3) ran in, numbered in the
/// order they were first seen; one not seen for <see cref="ForgetAfterTicks"/> timer ticks has exited;</item>
/// <item>a process's virtual map is its page tables over the WeensyOS address space (3 MiB), and the
/// physical map is what those tables reference: user pages are owned by the address space that maps
/// them (refcount = how many map them), page-table pages by their address space, the kernel's image
/// and kernel-only mappings by the kernel (-2), the PC's reserved pages as reserved (-1), pages nothing
/// claims are free;</item>
/// <item>events are what crosses the IDT: system calls (int n / syscall, with rax), hardware interrupts
/// (summarised like system calls) and exceptions (logged one by one).</item>
/// </list>
/// </summary>
public sealed class GuestSessionMachine : SessionMachine, IGuestEventObserver
{
    /// <summary>The WeensyOS virtual address space the maps show (MEMSIZE_VIRTUAL).</summary>
    public const ulong VirtualSize = 0x300000;
    /// <summary>An address space not seen at CPL 3 for this many ticks is taken to have exited.</summary>
    public const ulong ForgetAfterTicks = 500;
    /// <summary>WeensyOS's timer rate (HZ): the unit of the session's speed.</summary>
    private const ulong Hz = 100;

    private readonly GuestKernelMachine _m;
    private readonly PageTables _tables;
    private KernelSymbols _symbols;
    private readonly List<AddressSpace> _spaces = new();
    private int _nextPid = 1;
    private Action<KernelEvent>? _observer;

    private sealed class AddressSpace(int pid, ulong cr3, ulong firstTick)
    {
        public int Pid { get; } = pid;
        public ulong Cr3 { get; } = cr3;
        public ulong FirstTick { get; } = firstTick;
        public ulong LastTick { get; set; } = firstTick;
    }

    public GuestSessionMachine(SessionSettings settings, ExecutionTier? tier = null)
    {
        byte[] image = settings.KernelImage ?? throw new InvalidOperationException("a kernel session needs its kernel image");
        _m = GuestKernelMachine.Create(settings.Program, image, new GuestKernelOptions { Tier = tier }, out string? error)
            ?? throw new InvalidDataException(error);
        _tables = new PageTables(_m.Machine, new ChangeCounter());
        _symbols = KernelSymbols.FromImage(_m.Image);
        _m.AddObserver(this);
    }

    private Lab.Kernel.Guest.Gdb.GuestGdbTarget? _gdb;

    /// <summary>Registers and memory for `tui gdb` (reads only go through it: runs and stops are the shared debugger's).</summary>
    public override Lab.Kernel.Guest.Gdb.IGdbTarget GdbTarget => _gdb ??= new Lab.Kernel.Guest.Gdb.GuestGdbTarget(_m);

    /// <summary>The kernel's ELF symbols (obj/kernel keeps them; obj/kernel.full adds DWARF lines).</summary>
    public override AddressSymbolizer? Symbolizer => _symbols.Symbols.Count > 0 ? _symbols.Describe : null;

    public override string? SourceLine(ulong address) => _symbols.LineAt(new VirtAddr(address))?.ToString();

    public override bool TryResolve(string text, out ulong address, out string? error)
    {
        bool found = _symbols.TryResolve(text, out var at, out error);
        address = at.Value;
        if (!found && _symbols.Symbols.Count == 0) error = null;   // no names at all: the caller reads hex
        return found;
    }

    public override X64Machine Machine => _m.Machine;
    public override ulong Ticks => _m.TimerInterrupts;
    public override ulong InstructionsPerTick => _m.Options.InstructionsPerSecond / Hz;
    public override Action<KernelEvent>? Observer { set => _observer = value; }

    public override string? HaltReason =>
        _m.PoweredOff ? "powered off"
        : _m.ShutDown ? "the CPU shut down (triple fault)"
        : _m.HaltedForGood ? "halted with interrupts disabled" : null;

    public override int CurrentPid => Find(Machine.Cpu.Cr3)?.Pid ?? 0;

    public override RunResult Run(ulong budget) => _m.Run(budget);

    public override RunResult Step(ulong instructions)
    {
        var result = _m.Step();
        for (ulong i = 1; i < instructions && result.Exit == RunExit.BudgetExhausted; i++) result = _m.Step();
        return result;
    }

    public override string? PressKey(char key) =>
        _m.PressKey(key) ? $"pressed '{SessionText.Printable(key)}'" : $"'{SessionText.Printable(key)}' has no key on a PC keyboard";

    public override void CopyScreen(Span<ushort> cells) => Machine.Cga.CopyTo(cells);

    /// <summary>What crosses the IDT: the session's events, and the address spaces user code runs in.</summary>
    public void OnGuestEvent(X64Machine machine, in GuestEvent e)
    {
        ulong cr3 = machine.Cpu.Cr3 & ~0xFFFUL;
        if (e.Cpl == 3) Seen(cr3);
        int pid = Find(cr3)?.Pid ?? 0;
        ulong tick = Ticks;
        var regs = machine.Cpu;
        KernelEvent? report = e.Kind switch
        {
            GuestEventKind.SoftwareInterrupt or GuestEventKind.Syscall => new KernelEvent(KernelEventKind.GuestCall, pid,
                e.Kind == GuestEventKind.Syscall ? $"syscall {regs[Register.Rax]}" : $"int {e.Vector}", regs[Register.Rdi], (long)e.Rip.Value, false, tick),
            GuestEventKind.Interrupt => new KernelEvent(KernelEventKind.GuestCall, pid, $"irq {e.Irq}", regs[Register.Rdi], (long)e.Rip.Value, false, tick),
            GuestEventKind.Exception or GuestEventKind.TripleFault => new KernelEvent(KernelEventKind.Trap, pid,
                e.ToString(), e.FaultAddress.Value, (long)e.Rip.Value, false, tick),
            _ => null,
        };
        if (report is { } r) _observer?.Invoke(r);
    }

    private void Seen(ulong cr3)
    {
        ulong tick = Ticks;
        if (Find(cr3) is { } known) { known.LastTick = tick; return; }
        _spaces.Add(new AddressSpace(_nextPid++, cr3, tick));
    }

    private AddressSpace? Find(ulong cr3)
    {
        cr3 &= ~0xFFFUL;
        foreach (var s in _spaces) if (s.Cr3 == cr3) return s;
        return null;
    }

    /// <summary>Address spaces seen recently, in pid order (older ones are forgotten here).</summary>
    private List<AddressSpace> Live()
    {
        ulong now = Ticks;
        _spaces.RemoveAll(s => now > s.LastTick + ForgetAfterTicks && s.Cr3 != (Machine.Cpu.Cr3 & ~0xFFFUL));
        return _spaces;
    }

    public override bool WidePages => false;

    /// <summary>
    /// Owner and refcount of every physical page, from what the hardware and the page tables say: the PC's
    /// reserved pages (page 0 and the 0xA0000-0xFFFFF hole), the kernel's own ELF segments (loaded at
    /// their addresses, as the course's boot loader does), each live address space's page-table pages
    /// and user pages (refcount = how many address spaces map it), and pages mapped kernel-only somewhere
    /// other than their own address. A kernel's identity map of all memory says nothing about use, so
    /// it is not counted; pages nothing else claims are free.
    /// </summary>
    private (sbyte Owner, byte Refs)[] PhysicalMap()
    {
        // One snapshot asks for the pages and then each viewed pid's map: walk the tables once per machine time.
        if (_physical is { } cached && _physicalClock == Machine.Clock) return cached;
        _physicalClock = Machine.Clock;
        return _physical = WalkPhysicalMap();
    }

    private (sbyte Owner, byte Refs)[]? _physical;
    private ulong _physicalClock;

    private (sbyte Owner, byte Refs)[] WalkPhysicalMap()
    {
        int count = (int)(Machine.Memory.Size / 4096);
        var map = new (sbyte Owner, byte Refs)[count];
        void Claim(ulong page, sbyte owner) { if (page < (ulong)count && map[page].Owner == 0) map[page] = (owner, 1); }
        Claim(0, -1);
        for (ulong page = 0xA0000 / 4096; page < 0x100000 / 4096; page++) Claim(page, -1);
        foreach (var segment in _m.Image.Elf.Segments)
            for (ulong page = segment.VirtualAddress / 4096; page < (segment.VirtualAddress + segment.MemorySize + 4095) / 4096; page++) Claim(page, -2);
        foreach (var space in Live())
        {
            var root = new PhysAddr(space.Cr3);
            sbyte pid = (sbyte)Math.Min(space.Pid, sbyte.MaxValue);
            foreach (var (table, _) in _tables.TablePages(root)) Claim(table.PageNumber, pid);
            _tables.ForEach(root, new VirtAddr(0), new VirtAddr(VirtualSize), (in Mapping m) =>
            {
                ulong page = m.Pa.PageNumber;
                if (page >= (ulong)count) return;
                ref var slot = ref map[page];
                if (!m.User) { if (m.Va.Value != m.Pa.Value) Claim(page, -2); return; }
                if (slot.Owner <= 0 && slot.Owner != -1) slot = (pid, 1);
                else if (slot.Owner > 0 && slot.Refs < byte.MaxValue) slot.Refs++;
            });
        }
        return map;
    }

    public override byte[] Pages(Dictionary<int, int> ownedByPid)
    {
        var map = PhysicalMap();
        var pages = new byte[map.Length * 2];
        for (int p = 0; p < map.Length; p++)
        {
            pages[2 * p] = (byte)map[p].Owner;
            pages[2 * p + 1] = map[p].Refs;
            if (map[p].Owner > 0) ownedByPid[map[p].Owner] = ownedByPid.GetValueOrDefault(map[p].Owner) + 1;
        }
        return pages;
    }

    public override ProcessRow[] Processes(IReadOnlyDictionary<int, int> ownedByPid)
    {
        int current = CurrentPid;
        return Live().Select(s => new ProcessRow(s.Pid, 0, s.Pid == current ? "running" : "runnable",
            $"cr3 0x{s.Cr3:x}", ownedByPid.GetValueOrDefault(s.Pid))).ToArray();
    }

    /// <summary>The WeensyOS form: 768 pages of 3 bytes (owner, refcount, P/W/U).</summary>
    public override VirtualMap? VirtualMap(int pid)
    {
        var space = Live().FirstOrDefault(s => s.Pid == pid);
        if (space is null) return null;
        var physical = PhysicalMap();
        int pages = (int)(VirtualSize / 4096);
        var map = new byte[pages * Lab.Shared.Wire.VirtualMap.BytesPerPage];
        _tables.ForEach(new PhysAddr(space.Cr3), new VirtAddr(0), new VirtAddr(VirtualSize), (in Mapping m) =>
        {
            int vp = (int)(m.Va.Value / 4096);
            if (vp >= pages) return;
            var (owner, refs) = m.Pa.PageNumber < (ulong)physical.Length ? physical[m.Pa.PageNumber] : ((sbyte)-1, (byte)1);
            map[vp * 3] = (byte)owner;
            map[vp * 3 + 1] = refs;
            map[vp * 3 + 2] = (byte)((ulong)m.Perm & 7);
        });
        return new VirtualMap(pid, map);
    }

    public override string[] ProcessListing()
    {
        var lines = new List<string> { "PID  ADDRESS SPACE (CR3)  FIRST SEEN  LAST SEEN (ticks)" };
        int current = CurrentPid;
        foreach (var s in Live())
            lines.Add($"{s.Pid,3}  0x{s.Cr3:x16}   {s.FirstTick,10}  {s.LastTick,9}{(s.Pid == current ? "  <- current" : "")}");
        lines.Add($"cr3 now 0x{Machine.Cpu.Cr3:x} ({(current == 0 ? "kernel" : $"pid {current}")}), {Ticks} timer ticks");
        return lines.ToArray();
    }

    /// <summary>`break syscall N` stops at `int N` (WeensyOS's system calls are interrupt vectors 48..63);
    /// `break syscall rax=N` at a `syscall` instruction with N in rax. The kernel is the student's: Lab knows no names.</summary>
    public override string SyscallBreakName(string text) =>
        byte.TryParse(text, out byte vector) ? $"int {vector}"
        : text.StartsWith("rax=") && ulong.TryParse(text[4..], out ulong number) ? $"syscall {number}"
        : throw new ArgumentException($"'{text}' is not a number: on a kernel built from C, break on a system call by its interrupt vector (break syscall 52 stops at int 52) or, for the syscall instruction, by rax (break syscall rax=2)");

    // The kernel is the student's: Lab checks nothing of its own on it.
    public override string? CheckInvariants() => null;

    public override void SaveState(Stream output) => output.Write(_m.SaveState());

    public override void RestoreState(Stream input)
    {
        using var state = new MemoryStream();
        input.CopyTo(state);
        _m.RestoreState(state.GetBuffer().AsSpan(0, (int)state.Length));
        _symbols = KernelSymbols.FromImage(_m.Image);
        _spaces.Clear();
        _physical = null;
    }

    public override void Dispose() => _m.Dispose();
}
