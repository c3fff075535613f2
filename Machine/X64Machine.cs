using Lab.Machine.Cpu;
using Lab.Machine.Devices;

namespace Lab.Machine;

/// <summary>
/// One emulated x86-64 machine: CPU, physical memory, CGA text buffer, keyboard and an
/// instruction-count clock. In user-mode HLE (the default) guest code runs at CPL 3 and every trap
/// goes to <see cref="TrapHandler"/> (a kernel in C#), with a timer every <see cref="TimerInterval"/>
/// instructions. In system mode (X64Machine.System.cs) the guest kernel runs at CPL 0 on a small PC
/// (<see cref="Board"/>) and the CPU delivers events through the guest's IDT.
/// Deterministic: a run is a pure function of the initial state and the inputs (keys, register
/// changes) and the instruction count at which each arrived.
/// Not thread-safe: one thread drives a machine at a time (except <see cref="Stop"/>).
/// </summary>
public sealed partial class X64Machine : IDisposable
{
    public MachineOptions Options { get; }
    public PhysicalMemory Memory { get; private set; }
    public Cpu.Cpu Cpu { get; private set; }
    public CgaText Cga { get; private set; }
    public Keyboard Keyboard { get; } = new();

    /// <summary>Receives every trap. Without one, <see cref="Run"/> returns at the first trap.</summary>
    public ITrapHandler? TrapHandler { get; set; }

    /// <summary>Instructions between timer interrupts (0 = no timer). May be changed between runs.</summary>
    public ulong TimerInterval { get; set; }

    /// <summary>Machine time at which the timer next fires.</summary>
    public ulong NextTimerAt { get; private set; }

    /// <summary>
    /// Machine time, in instruction units: instructions retired, plus time skipped while idle
    /// (<see cref="WaitForTimer"/>), plus one unit per interrupted chunk of a long rep-string instruction.
    /// </summary>
    public ulong Clock => Cpu.InstructionsRetired + Cpu.ExtraTime + _idleTime;

    /// <summary>Exact count of retired guest instructions.</summary>
    public ulong InstructionsRetired => Cpu.InstructionsRetired;

    private ulong _idleTime;
    private volatile bool _stopRequested;

    public X64Machine(MachineOptions? options = null)
    {
        Options = options ?? new MachineOptions();
        Memory = new PhysicalMemory(Options.MemorySize);
        Cpu = new Cpu.Cpu(Memory, Options.Mode == MachineMode.System, Options.Tier, Options.JitThreshold, Options.JitCodeLimit, Options.JitBackgroundCompile, Options.JitPromoteAfter);
        Cga = new CgaText(Memory);
        TimerInterval = Options.TimerInterval;
        NextTimerAt = TimerInterval;
        if (Options.Mode == MachineMode.System) Board = CreateBoard();
    }

    public void Dispose()
    {
        Cpu.Dispose();
        Memory.Dispose();
    }

    /// <summary>
    /// Asks <see cref="Run"/> to return (with <see cref="RunExit.Stopped"/>) at the next block boundary.
    /// Safe from any thread. A request made while no Run is active ends the next Run at once.
    /// </summary>
    public void Stop()
    {
        _stopRequested = true;
        Cpu.StopRequested = true;
    }

    /// <summary>Restarts the timer so that it next fires <see cref="TimerInterval"/> units from now.</summary>
    public void ResetTimer()
    {
        NextTimerAt = Clock + TimerInterval;
    }

    /// <summary>
    /// Idles until the timer is due (the guest has nothing to run): advances the clock to the next
    /// timer deadline without retiring instructions. The next <see cref="Run"/> delivers the timer trap first.
    /// </summary>
    public void WaitForTimer()
    {
        if (TimerInterval == 0) throw new InvalidOperationException("the timer is off: nothing to wait for");
        if (Clock < NextTimerAt) _idleTime += NextTimerAt - Clock;
    }

    /// <summary>
    /// Runs guest code for at most <paramref name="budget"/> units of machine time, delivering traps to
    /// <see cref="TrapHandler"/> as they happen. Returns when the budget is spent, when
    /// <see cref="Stop"/> was called, or (with no handler) at the first trap.
    /// </summary>
    public RunResult Run(ulong budget)
    {
        if (Board is not null) return RunSystem(budget);
        ulong start = Clock;
        ulong end = start + budget < start ? ulong.MaxValue : start + budget;
        Cpu.SkipBreakpointAt(Cpu.Rip);
        while (true)
        {
            if (_stopRequested)
            {
                // A stop request (made during this run or before it) ends exactly one Run.
                _stopRequested = false;
                Cpu.StopRequested = false;
                return new RunResult(RunExit.Stopped, default, Clock - start);
            }
            // The budget is checked first: a handler that idles (WaitForTimer) makes the timer due at
            // once, and must not keep one Run going forever.
            if (Clock >= end) return new RunResult(RunExit.BudgetExhausted, default, Clock - start);

            // The timer fires between instructions once its deadline has passed.
            if (TimerInterval != 0 && Clock >= NextTimerAt)
            {
                NextTimerAt = Math.Max(NextTimerAt + TimerInterval, Clock + 1);
                var timer = new Trap { Kind = TrapKind.Timer, Vector = 32, InstructionAddress = new VirtAddr(Cpu.Rip) };
                if (Deliver(in timer, start, out RunResult r)) return r;
                continue;
            }

            ulong limit = end - Clock;
            if (TimerInterval != 0) limit = Math.Min(limit, NextTimerAt - Clock);
            if (Cpu.Execute(limit, out Trap trap))
            {
                if (Deliver(in trap, start, out RunResult r)) return r;
            }
            else if (Cpu.BreakpointHit)
            {
                Cpu.BreakpointHit = false;
                return new RunResult(RunExit.Breakpoint, default, Clock - start);
            }
        }
    }

    private bool Deliver(in Trap trap, ulong start, out RunResult result)
    {
        if (TrapHandler is null)
        {
            result = new RunResult(RunExit.Trap, trap, Clock - start);
            return true;
        }
        TrapHandler.OnTrap(this, in trap);
        result = default;
        return false;
    }

    // ------------------------------------------------------------------------------------------
    // Snapshots.

    /// <summary>Saves the complete machine state (CPU, TLB, memory, devices, clock) to bytes.
    /// <paramref name="keepPage"/> lets a kernel that zeroes pages when it hands them out leave out its
    /// free pages (their stale contents are invisible to the guest; they restore as zero). Pages that
    /// a valid TLB entry points at are always kept.</summary>
    public byte[] SaveState(Func<ulong, bool>? keepPage = null)
    {
        using var ms = new MemoryStream();
        SaveState(ms, keepPage);
        return ms.ToArray();
    }

    /// <summary>Writes the state <see cref="SaveState(Func{ulong, bool}?)"/> saves to
    /// <paramref name="output"/> (left open): memory pages go from guest memory straight to the stream,
    /// so saving a machine of any size allocates little.</summary>
    public void SaveState(Stream output, Func<ulong, bool>? keepPage = null)
    {
        using var w = new BinaryWriter(output, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(0x4D42414C); // "LABM"
        w.Write(6);          // format version (2: CPU mode and system state, devices; 3: the x87; 4: 1,024 TLB slots per TLB; 5: 4,096; 6: the TLB's size saved)
        w.Write(Memory.Size);
        w.Write(TimerInterval);
        w.Write(NextTimerAt);
        w.Write(_idleTime);
        Cpu.Save(w);
        byte[] keys = Keyboard.ToArray();
        w.Write(keys.Length);
        w.Write(keys);
        SaveSystem(w);
        SaveMemory(w, keepPage);
    }

    /// <summary>Restores a state saved by <see cref="SaveState(Func{ulong, bool}?)"/>; the machine then continues exactly as the original would.</summary>
    public void RestoreState(ReadOnlySpan<byte> state)
    {
        using var ms = new MemoryStream(state.ToArray());
        RestoreState(ms);
        if (ms.Position != ms.Length) throw new InvalidDataException("trailing bytes after the machine snapshot");
    }

    /// <summary>Restores a state from <paramref name="input"/> at its position, reading exactly the
    /// saved state (memory pages go straight into guest memory); the stream is left open after it.</summary>
    public void RestoreState(Stream input)
    {
        using var r = new BinaryReader(input, System.Text.Encoding.UTF8, leaveOpen: true);
        if (r.ReadInt32() != 0x4D42414C) throw new InvalidDataException("not a Lab machine snapshot");
        int version = r.ReadInt32();
        if (version is not (1 or 2 or 3 or 4 or 5 or 6)) throw new InvalidDataException($"unsupported machine snapshot version {version}");
        ulong memSize = r.ReadUInt64();
        if (memSize != Memory.Size)
        {
            Cpu.Dispose();
            Memory.Dispose();
            Memory = new PhysicalMemory(memSize);
            Cpu = new Cpu.Cpu(Memory, Board is not null, Options.Tier, Options.JitThreshold, Options.JitCodeLimit, Options.JitBackgroundCompile, Options.JitPromoteAfter);
            Cga = new CgaText(Memory);
            if (Board is not null) Cpu.Ports = Board;
        }
        TimerInterval = r.ReadUInt64();
        NextTimerAt = r.ReadUInt64();
        _idleTime = r.ReadUInt64();
        Cpu.Load(r, version);
        int keyCount = r.ReadInt32();
        if (keyCount < 0 || keyCount > Keyboard.Capacity) throw new InvalidDataException($"bad keyboard queue length {keyCount} in snapshot");
        Keyboard.Load(ReadExactly(r, keyCount));
        if (version >= 2) LoadSystem(r);
        LoadMemory(r);
    }

    /// <summary>Memory is saved sparsely: a page count, then (page number, 4096 bytes) for each non-zero page.</summary>
    private void SaveMemory(BinaryWriter w, Func<ulong, bool>? keepPage)
    {
        var inTlb = keepPage is null ? null : new HashSet<ulong>(Cpu.TlbPhysPages());
        var nonZero = new List<ulong>();
        for (ulong p = 0; p < Memory.PageCount; p++)
            if ((keepPage is null || keepPage(p) || inTlb!.Contains(p)) && !Memory.IsPageZero(p)) nonZero.Add(p);
        w.Write(nonZero.Count);
        foreach (ulong p in nonZero)
        {
            w.Write(p);
            w.Write(Memory.View(PhysAddr.FromPage(p), (int)PhysAddr.PageSize));
        }
    }

    private void LoadMemory(BinaryReader r)
    {
        Memory.ZeroAll();   // gives the pages back: a restore commits only the pages the snapshot holds
        int count = r.ReadInt32();
        Span<byte> page = stackalloc byte[(int)PhysAddr.PageSize];
        for (int i = 0; i < count; i++)
        {
            ulong p = r.ReadUInt64();
            if (p >= Memory.PageCount) throw new InvalidDataException($"snapshot page {p} beyond memory");
            r.BaseStream.ReadExactly(page);
            Memory.Write(PhysAddr.FromPage(p), page);
        }
        Cpu.ClearAllBlocks();
    }

    // BinaryReader.ReadBytes returns short at the end of the stream; a truncated snapshot must fail instead.
    private static byte[] ReadExactly(BinaryReader r, int count)
    {
        byte[] b = r.ReadBytes(count);
        if (b.Length != count) throw new EndOfStreamException("snapshot truncated");
        return b;
    }
}
