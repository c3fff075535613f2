using System.Buffers.Binary;
using System.Text;
using Lab.Kernel.Memory;
using Lab.Kernel.Plumbing;
using Lab.Machine;

namespace Lab.Kernel.Posix;

public enum PState : byte { Runnable, Blocked, Zombie }

/// <summary>One POSIX process: registers, address space, descriptors, exit status, tracking.</summary>
public sealed class PProcess
{
    public int Pid;
    public int Parent;
    public PState State;
    public PhysAddr Root;
    public string Name = "";
    internal readonly ulong[] Regs = new ulong[16];
    internal ulong Rip, RFlags = 0x202, FsBase, GsBase;
    internal readonly OpenFile?[] Fds = new OpenFile?[PosixKernel.MaxFds];
    internal ulong BrkStart, Brk;
    internal List<(ulong Start, ulong End, bool Writable)> Segments = new();
    public int WaitStatus;
    public int ExitCode;
    internal bool Restarting;
    internal ulong WakeAt;
    // process tracking
    internal bool Tracked, TrackArmed;
    internal long[]? Counts;
    internal ulong BytesRead, BytesWritten;
    internal byte[]? TrackRecord;

    internal void Save(Machine.Cpu.Cpu cpu)
    {
        cpu.GetRegisters(Regs); Rip = cpu.Rip; RFlags = cpu.RFlags; FsBase = cpu.FsBase; GsBase = cpu.GsBase;
    }

    internal void Load(Machine.Cpu.Cpu cpu)
    {
        cpu.SetRegisters(Regs); cpu.Rip = Rip; cpu.RFlags = RFlags; cpu.FsBase = FsBase; cpu.GsBase = GsBase;
    }
}

/// <summary>A record of a user fault that killed a process (WeensyOS reports these on the console).</summary>
public readonly record struct PosixFault(int Pid, string Name, int Signal, string Description);

/// <summary>
/// The POSIX profile kernel: Linux x86-64 syscalls for userland/posix, processes with copy-on-write
/// fork, execve, wait4, pipes and an in-memory file system. High-level emulated like WeensyKernel:
/// it runs as C# on every trap. Nothing a guest does may throw out of <see cref="OnTrap"/>.
/// </summary>
public sealed partial class PosixKernel : ITrapHandler
{
    public const int MaxFds = 128;
    public const int MaxProcs = 4096;
    public const int MaxPid = 4_194_304;
    public const ulong UserLimit = 0x0000_8000_0000_0000UL;
    public const ulong StackTop = 0x0000_7FFF_FFFF_0000UL;
    public const ulong StackLimit = 8UL << 20;
    public const int ArgMax = 256 * 1024;
    private const ulong Page = 4096;
    private const PteFlags Cow = PageTables.Cow;
    private const ulong IdleRoot = 0x1000;   // a reserved, always-zero page used as CR3 while idle

    private readonly X64Machine _m;
    private readonly PageTables _pt;
    private readonly int[] _ref;
    /// <summary>Per physical page: the pid whose kernel work allocated it, -1 reserved, 0 free (for memory views).</summary>
    private readonly int[] _owner;
    private readonly int _firstUsable;
    /// <summary>Owner of the interior tables <see cref="PageTables.Map"/> allocates through <see cref="_allocTable"/>
    /// (set by <see cref="MapPage"/>; one cached delegate instead of a closure per call).</summary>
    private int _tableOwner;
    private readonly Func<PhysAddr?> _allocTable;
    private int _allocHint;
    /// <summary>Pages with refcount 0 (kept by Alloc and Release so fork can test its reserve cheaply).</summary>
    private int _free;
    private readonly Dictionary<int, PProcess> _byPid = new();
    private readonly List<PProcess> _procs = new();
    private int _rr;
    private int _nextPid = 1;
    private PProcess? _cur;
    private PProcess? _runNext;

    public PosixFs Fs { get; }
    public ConsoleIo Console { get; }
    public List<PosixFault> Faults { get; } = new();
    public int? MainPid { get; private set; }
    /// <summary>The wait status word of the main program once it has exited.</summary>
    public int? MainStatus { get; private set; }
    public bool AllExited => _procs.Count == 0;
    public int ProcessCount => _procs.Count;
    public string? KernelError { get; private set; }
    public bool IdleWaitingForInput { get; private set; }
    /// <summary>Fork shares writable pages copy-on-write (default); false copies every page at fork
    /// (the eager mode the processes benchmark compares against).</summary>
    public bool CopyOnWriteFork { get; set; } = true;

    public PosixKernel(X64Machine machine, PosixFs fs, ConsoleIo console)
    {
        _m = machine;
        Fs = fs;
        Console = console;
        _pt = new PageTables(machine, new ChangeCounter());
        _ref = new int[(int)(machine.Memory.Size / Page)];
        _owner = new int[_ref.Length];
        _firstUsable = 256;                       // the first MiB (CGA, BIOS area) is never handed out
        for (int i = 0; i < _firstUsable && i < _ref.Length; i++) { _ref[i] = 1; _owner[i] = -1; }
        _allocTable = () => Alloc(_tableOwner);
        _free = Math.Max(0, _ref.Length - _firstUsable);
        _allocHint = _firstUsable;
        _nextPid = 2;                             // pid 1 is init (inside the kernel: it reaps orphans)
    }

    // =========================================================================================
    // physical pages

    public int FreePages => _free;

    /// <summary>
    /// Pages a copy-on-write fork leaves free beyond the tables it allocates. Such a fork costs a
    /// few table pages, but right after it both processes fault on their stack and data (a leaf
    /// table and a page each); with less memory than this fork fails with ENOMEM instead of handing
    /// out an address space whose first write would kill a process for lack of memory.
    /// </summary>
    private const int ForkReserve = 32;

    /// <summary>Physical pages in the machine (the reserved first MiB included).</summary>
    public int PageCount => _ref.Length;
    /// <summary>References to physical page <paramref name="page"/> (0 = free).</summary>
    public int PageRefcount(int page) => _ref[page];
    /// <summary>The pid that allocated page <paramref name="page"/>; -1 reserved, 0 free.</summary>
    public int PageOwner(int page) => _owner[page];

    /// <summary>A zeroed page with one reference, recorded as allocated for <paramref name="owner"/>; null when memory is full.</summary>
    private PhysAddr? Alloc(int owner)
    {
        int n = _ref.Length;
        for (int k = 0; k < n; k++)
        {
            int i = _allocHint + k;
            if (i >= n) i = _firstUsable + (i - n) % (n - _firstUsable);
            if (i < _firstUsable) continue;
            if (_ref[i] != 0) continue;
            _ref[i] = 1;
            _owner[i] = owner;
            _free--;
            _allocHint = i + 1 >= n ? _firstUsable : i + 1;
            var pa = PhysAddr.FromPage((ulong)i);
            _m.Memory.Fill(pa, Page, 0);
            return pa;
        }
        return null;
    }

    /// <summary>Drops one reference to a page; true when that was the last (the page is free again).</summary>
    private bool Release(PhysAddr pa)
    {
        int i = (int)pa.PageNumber;
        if (_ref[i] <= 0) throw new InvalidOperationException($"kernel bug: releasing free page {pa}");
        if (--_ref[i] > 0) return false;
        _owner[i] = 0;
        _free++;
        return true;
    }

    private static bool Present(ulong entry) => (entry & (ulong)PteFlags.Present) != 0;

    /// <summary>Maps one page of the address space at <paramref name="root"/> (a perm of 0 unmaps);
    /// a shared leaf table is unshared first and new tables are allocated for <paramref name="owner"/>.
    /// False when memory is full.</summary>
    private bool MapPage(int owner, PhysAddr root, ulong va, PhysAddr pa, PteFlags perm)
    {
        if (!UnshareLeafTable(owner, root, va)) return false;
        _tableOwner = owner;
        return _pt.Map(root, new VirtAddr(va), pa, perm, _allocTable);
    }

    /// <summary>
    /// Frees an address space: its PML4, PDPTs and PDs (never shared) and one reference per leaf
    /// table; a leaf table's data pages lose their reference only when the table's last reference
    /// goes (until then another process still maps them through it).
    /// </summary>
    private void FreeSpace(PhysAddr root)
    {
        var l4 = _pt.TableEntries(root);
        for (int i4 = 0; i4 < 512; i4++)
        {
            if (!Present(l4[i4])) continue;
            var pdpt = PageTables.Target(l4[i4]);
            var l3 = _pt.TableEntries(pdpt);
            for (int i3 = 0; i3 < 512; i3++)
            {
                if (!Present(l3[i3])) continue;
                var pd = PageTables.Target(l3[i3]);
                var l2 = _pt.TableEntries(pd);
                for (int i2 = 0; i2 < 512; i2++)
                {
                    if (!Present(l2[i2])) continue;
                    var leaf = PageTables.Target(l2[i2]);
                    if (!Release(leaf)) continue;
                    var l1 = _pt.TableEntries(leaf);
                    for (int i1 = 0; i1 < 512; i1++)
                        if (Present(l1[i1])) Release(PageTables.Target(l1[i1]));
                }
                Release(pd);
            }
            Release(pdpt);
        }
        Release(root);
        if (_m.Cpu.Cr3 == root.Value) _m.Cpu.FlushTlb();
    }

    /// <summary>
    /// Makes the leaf table that maps <paramref name="va"/> in the space at <paramref name="root"/>
    /// private, so its entries may be changed. Called before any change to a leaf entry. A PD entry
    /// without Writable marks a table that fork shared (or once shared): if other PD entries still
    /// reference it, this space gets a copy, and every writable page in both copies becomes
    /// copy-on-write (each page is now mapped by two tables); a table referenced only here just gets
    /// Writable back. The copy is allocated for <paramref name="owner"/>. False when memory is full
    /// (nothing changed).
    /// </summary>
    private bool UnshareLeafTable(int owner, PhysAddr root, ulong va)
    {
        var pdeAddr = _pt.EntryAddress(root, new VirtAddr(va & ~(Page - 1)), 2);
        if (pdeAddr is null) return true;
        ulong pde = _m.Memory.ReadU64(pdeAddr.Value);
        if (!Present(pde) || (pde & (ulong)PteFlags.Writable) != 0) return true;
        var table = PageTables.Target(pde);
        int ti = (int)table.PageNumber;
        if (_ref[ti] > 1)
        {
            var fresh = Alloc(owner);
            if (fresh is null) return false;
            const ulong w = (ulong)PteFlags.Writable;
            var old = _pt.TableEntries(table);
            for (int i = 0; i < 512; i++)
            {
                ulong e = old[i];
                if (!Present(e)) continue;
                if ((e & w) != 0)
                {
                    // the other sharers' PD entries are read-only, so no TLB holds a writable copy of this entry
                    e = (e & ~w) | (ulong)Cow;
                    _pt.WriteEntry(table + (ulong)i * 8, e);
                }
                _m.Memory.WriteU64(fresh.Value + (ulong)i * 8, e);
                _ref[(int)PageTables.Target(e).PageNumber]++;
            }
            _ref[ti]--;
            table = fresh.Value;
        }
        _pt.WriteEntry(pdeAddr.Value, table.Value | (ulong)PageTables.PWU);
        if (_m.Cpu.Cr3 == root.Value) _m.Cpu.FlushTlb();
        return true;
    }

    // =========================================================================================
    // user memory access (user permissions; copy-on-write broken and stack grown on demand)

    private bool InStack(ulong va) => va < StackTop && va >= StackTop - StackLimit;

    private PhysAddr? UserPage(PProcess p, ulong va, bool write)
    {
        if (va >= UserLimit) return null;
        var m = _pt.Lookup(p.Root, new VirtAddr(va & ~(Page - 1)));
        if (m is null)
        {
            if (!InStack(va)) return null;
            var pa = Alloc(p.Pid);
            if (pa is null) return null;
            if (!MapPage(p.Pid, p.Root, va & ~(Page - 1), pa.Value, PageTables.PWU)) { Release(pa.Value); return null; }
            return pa;
        }
        var mm = m.Value;
        if (!mm.User) return null;
        if (write && !mm.Writable)
        {
            if (!MakeWritable(p, mm)) return null;
            return _pt.Lookup(p.Root, mm.Va)!.Value.Pa;
        }
        return mm.Pa;
    }

    private bool CopyIn(PProcess p, ulong va, Span<byte> dst)
    {
        if (va >= UserLimit || (ulong)dst.Length > UserLimit - va) return false;
        int done = 0;
        while (done < dst.Length)
        {
            ulong a = va + (ulong)done;
            var pa = UserPage(p, a, write: false);
            if (pa is null) return false;
            int chunk = (int)Math.Min((ulong)(dst.Length - done), Page - (a & (Page - 1)));
            _m.Memory.Read(pa.Value + (a & (Page - 1)), dst.Slice(done, chunk));
            done += chunk;
        }
        return true;
    }

    private bool CopyOut(PProcess p, ulong va, ReadOnlySpan<byte> src)
    {
        if (va >= UserLimit || (ulong)src.Length > UserLimit - va) return false;
        if (!CanWrite(p, va, (ulong)src.Length)) return false;   // a failing write changes nothing
        int done = 0;
        while (done < src.Length)
        {
            ulong a = va + (ulong)done;
            var pa = UserPage(p, a, write: true)!.Value;
            int chunk = (int)Math.Min((ulong)(src.Length - done), Page - (a & (Page - 1)));
            _m.Memory.Write(pa + (a & (Page - 1)), src.Slice(done, chunk));
            done += chunk;
        }
        return true;
    }

    private bool CanWrite(PProcess p, ulong va, ulong len)
    {
        if (va >= UserLimit || len > UserLimit - va) return false;
        for (ulong a = va & ~(Page - 1); a < va + len; a += Page)
            if (UserPage(p, a, write: true) is null) return false;
        return true;
    }

    private bool ReadU64(PProcess p, ulong va, out ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        v = 0;
        if (!CopyIn(p, va, b)) return false;
        v = BinaryPrimitives.ReadUInt64LittleEndian(b);
        return true;
    }

    /// <summary>Reads a NUL-terminated string of at most max bytes; null on a bad pointer, "too long" sets tooLong.</summary>
    private byte[]? ReadCString(PProcess p, ulong va, int max, out bool tooLong)
    {
        tooLong = false;
        var buf = new List<byte>();
        Span<byte> page = stackalloc byte[(int)Page];
        ulong a = va;
        while (true)
        {
            if (a >= UserLimit) return null;
            int chunk = (int)(Page - (a & (Page - 1)));
            var pa = UserPage(p, a, write: false);
            if (pa is null) return null;
            var s = page[..chunk];
            _m.Memory.Read(pa.Value + (a & (Page - 1)), s);
            int z = s.IndexOf((byte)0);
            if (z >= 0) { foreach (var c in s[..z]) buf.Add(c); if (buf.Count > max) { tooLong = true; return null; } return buf.ToArray(); }
            foreach (var c in s) buf.Add(c);
            if (buf.Count > max) { tooLong = true; return null; }
            a += (ulong)chunk;
        }
    }

    /// <summary>
    /// Handles a write to present, user-accessible mapping <paramref name="m"/> that is not writable:
    /// unshares its leaf table and breaks copy-on-write as needed. False when the page is really
    /// read-only (its table is then left as it was) or memory is full.
    /// </summary>
    private bool MakeWritable(PProcess p, in Mapping m)
    {
        if ((m.Pte & (ulong)PteFlags.Writable) == 0 && !m.IsCow) return false;
        if (!UnshareLeafTable(p.Pid, p.Root, m.Va.Value)) return false;
        var now = _pt.Lookup(p.Root, m.Va)!.Value;       // the table may have moved
        if (now.Writable) return true;
        return now.IsCow && BreakCow(p, now);
    }

    /// <summary>Gives p a private, writable copy of copy-on-write page <paramref name="m"/> (the
    /// page itself when no one else maps it). Its leaf table must be private. False when memory is full.</summary>
    private bool BreakCow(PProcess p, in Mapping m)
    {
        var perm = PageTables.PWU;
        if (_ref[(int)m.Pa.PageNumber] == 1)
        {
            _pt.SetLeaf(p.Root, m, m.Pa, perm);
            return true;
        }
        var fresh = Alloc(p.Pid);
        if (fresh is null) return false;
        _m.Memory.Write(fresh.Value, _m.Memory.View(m.Pa, (int)Page));
        Release(m.Pa);
        _pt.SetLeaf(p.Root, m, fresh.Value, perm);
        return true;
    }

    // =========================================================================================
    // processes

    private int NewPid()
    {
        for (int tries = 0; tries < MaxPid; tries++)
        {
            int pid = _nextPid++;
            if (_nextPid >= MaxPid) _nextPid = 2;
            if (pid >= 2 && !_byPid.ContainsKey(pid)) return pid;
        }
        return -1;
    }

    private PProcess? NewProcess(int parent)
    {
        if (_procs.Count >= MaxProcs) return null;
        int pid = NewPid();
        if (pid < 0) return null;
        var root = Alloc(pid);
        if (root is null) return null;
        var p = new PProcess { Pid = pid, Parent = parent, Root = root.Value };
        _byPid[pid] = p;
        _procs.Add(p);
        return p;
    }

    private void Remove(PProcess p)
    {
        _byPid.Remove(p.Pid);
        int i = _procs.IndexOf(p);
        _procs.RemoveAt(i);
        if (_rr > i) _rr--;
    }

    /// <summary>Starts the first program (its parent is init, pid 1). Returns null or an error message.</summary>
    public string? Spawn(string path, IReadOnlyList<string> argv, IReadOnlyList<string> envp)
    {
        var node = Fs.Lookup(path);
        if (node is null || node.IsDir) return $"{path}: not found";
        var p = NewProcess(1);
        if (p is null) return "out of memory";
        for (int fd = 0; fd < 3; fd++)
            p.Fds[fd] = new OpenFile { Kind = FileKind.Console, Readable = true, Writable = true, Refs = 1 };
        var args = argv.Select(a => Encoding.UTF8.GetBytes(a)).ToList();
        var envs = envp.Select(a => Encoding.UTF8.GetBytes(a)).ToList();
        long err = BuildImage(p, PosixFs.Normalize(path)!, node, args, envs);
        if (err != 0)
        {
            for (int fd = 0; fd < 3; fd++) p.Fds[fd] = null;
            Release(p.Root);
            Remove(p);
            return err == -8 ? $"{path}: not an ELF64 x86-64 executable" : $"{path}: exec failed ({err})";
        }
        MainPid ??= p.Pid;
        if (_cur is null) RunProcess(p);
        return null;
    }

    private void RunProcess(PProcess p)
    {
        _cur = p;
        IdleWaitingForInput = false;
        p.Load(_m.Cpu);
        if (_m.Cpu.Cr3 != p.Root.Value) _m.Cpu.Cr3 = p.Root.Value;
    }

    private void WakeAll()
    {
        foreach (var q in _procs) if (q.State == PState.Blocked && q.WakeAt == 0) q.State = PState.Runnable;
    }

    private void Schedule()
    {
        ulong now = _m.Clock;
        bool input = Console.HasInput || Console.InputClosed;
        int n = _procs.Count;
        for (int k = 1; k <= n; k++)
        {
            int i = (_rr + k) % n;
            var q = _procs[i];
            if (q.State == PState.Blocked && q.WakeAt != 0 && now >= q.WakeAt) q.State = PState.Runnable;
            if (q.State == PState.Blocked && input && q.WakeAt == 0) q.State = PState.Runnable;
            if (q.State == PState.Runnable) { _rr = i; RunProcess(q); return; }
        }
        // nothing to run: idle until the next timer interrupt
        _cur = null;
        // Only keyboard input can wake a blocked process now, unless one sleeps (time wakes it).
        IdleWaitingForInput = _procs.Any(q => q.State == PState.Blocked) && !_procs.Any(q => q.State == PState.Blocked && q.WakeAt != 0);
        _m.Cpu.Cr3 = IdleRoot;       // an empty page table: nothing user-visible is left mapped
        if (_procs.Count > 0 && _m.TimerInterval != 0) _m.WaitForTimer();
        _m.Stop();
    }

    private void Block(PProcess p)
    {
        p.State = PState.Blocked;
        p.Rip -= 2;              // re-execute the syscall instruction when woken
        p.Restarting = true;
    }

    /// <summary>Ends a process: frees memory and descriptors, keeps a zombie for the parent.</summary>
    private void Terminate(PProcess p, int waitStatus, int exitCode)
    {
        if (p.State == PState.Zombie) return;
        if (p.Tracked) p.TrackRecord = MakeTrackRecord(p, exitCode);
        for (int fd = 0; fd < MaxFds; fd++) CloseFd(p, fd);
        FreeSpace(p.Root);
        p.Root = default;
        p.State = PState.Zombie;
        p.WaitStatus = waitStatus;
        p.ExitCode = exitCode;
        if (p.Pid == MainPid) MainStatus = waitStatus;
        foreach (var c in _procs.Where(c => c.Parent == p.Pid).ToList())
        {
            c.Parent = 1;
            if (c.State == PState.Zombie) Remove(c);     // init reaps at once
        }
        if (p.Parent == 1) Remove(p);
        if (_cur == p) _cur = null;
        WakeAll();
    }

    /// <summary>Host control: kills (SIGKILL) every live process running program NAME, as a session's
    /// "kill" button would. Call only between runs. Returns the number of processes killed.</summary>
    public int KillProgram(string name) => KillWhere(q => q.Name == name, 9);

    /// <summary>Host control: ends every live process matching <paramref name="match"/> with signal
    /// <paramref name="sig"/>. Call only between runs. Returns the number of processes killed.</summary>
    public int KillWhere(Func<PProcess, bool> match, int sig)
    {
        if (KernelError is not null) return 0;
        int n = 0;
        foreach (var q in _procs.Where(q => q.State != PState.Zombie && match(q)).ToList())
        {
            if (q.State == PState.Zombie) continue;      // may have been reaped by an earlier kill
            if (!_byPid.ContainsKey(q.Pid)) continue;
            Terminate(q, SignalStatus(sig), 128 + sig);
            n++;
        }
        if (_runNext is { } rn && (rn.State != PState.Runnable || !_byPid.ContainsKey(rn.Pid))) _runNext = null;
        if (_cur is null)
        {
            // the running process died: load another one (or idle) so the CPU never runs freed memory
            _m.Cpu.Cr3 = IdleRoot;
            if (_procs.Count > 0) Schedule();
        }
        return n;
    }

    private static int SignalStatus(int sig) => sig & 0x7f;

    // =========================================================================================
    // traps

    public void OnTrap(X64Machine machine, in Trap trap)
    {
        try
        {
            Handle(in trap);
        }
        catch (Exception e)
        {
            // A kernel bug must not take the host down: record it and stop the machine.
            KernelError ??= e.ToString();
            _cur = null;
            machine.Stop();
        }
    }

    private void Handle(in Trap trap)
    {
        if (KernelError is not null) { _m.Stop(); return; }
        var p = _cur;
        if (p is null)
        {
            Schedule();
            return;
        }
        p.Save(_m.Cpu);
        switch (trap.Kind)
        {
            case TrapKind.Timer:
                Schedule();
                return;
            case TrapKind.Syscall:
                Syscall(p);
                break;
            case TrapKind.PageFault:
                PageFault(p, trap);
                break;
            case TrapKind.InvalidOpcode:
                Kill(p, 4, trap);
                break;
            case TrapKind.DivideError:
                Kill(p, 8, trap);
                break;
            case TrapKind.Breakpoint:
                Kill(p, 5, trap);
                break;
            default:
                Kill(p, 11, trap);
                break;
        }
        if (_runNext is { } next && next.State == PState.Runnable && _byPid.ContainsKey(next.Pid))
        {
            _runNext = null;
            _rr = _procs.IndexOf(next);
            RunProcess(next);
            return;
        }
        _runNext = null;
        if (_cur == p && p.State == PState.Runnable) RunProcess(p);
        else Schedule();
    }

    private void Kill(PProcess p, int sig, in Trap trap, bool outOfMemory = false)
    {
        Faults.Add(new PosixFault(p.Pid, p.Name, sig, outOfMemory ? "out of memory: " + trap : trap.ToString()));
        ReportFault(p, sig, trap, outOfMemory);
        Terminate(p, SignalStatus(sig), 128 + sig);
    }

    private void PageFault(PProcess p, in Trap trap)
    {
        ulong va = trap.FaultAddress.Value;
        var err = trap.PageFaultError;
        bool legal = false;   // a fault the kernel resolves: stack growth or a write to a copy-on-write page
        if ((err & PageFaultError.User) != 0 && va < UserLimit)
        {
            var m = _pt.Lookup(p.Root, new VirtAddr(va & ~(Page - 1)));
            legal = m is null && InStack(va);
            if (legal && UserPage(p, va, write: false) is not null) return;
            if (m is { } mm && (err & PageFaultError.Write) != 0 && (err & PageFaultError.Present) != 0 && mm.User && !mm.Writable)
            {
                legal = (mm.Pte & (ulong)PteFlags.Writable) != 0 || mm.IsCow;   // writable once its page or table is copied
                if (MakeWritable(p, mm)) return;
            }
        }
        // A legal fault that still failed found no free page: the kernel's lack, not the program's
        // mistake. Kill it as Linux's out-of-memory killer does (SIGKILL), not with SIGSEGV.
        Kill(p, legal ? 9 : 11, trap, outOfMemory: legal);
    }

    // =========================================================================================
    // system calls

    private const int EPERM = 1, ENOENT = 2, ESRCH = 3, E2BIG = 7, ENOEXEC = 8, EBADF = 9, ECHILD = 10, EAGAIN = 11,
        ENOMEM = 12, EACCES = 13, EFAULT = 14, EEXIST = 17, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, EMFILE = 24,
        ESPIPE = 29, EPIPE = 32, ENAMETOOLONG = 36, ENOSYS = 38;

    private void Syscall(PProcess p)
    {
        ulong nr = p.Regs[(int)Register.Rax];
        ulong a1 = p.Regs[(int)Register.Rdi], a2 = p.Regs[(int)Register.Rsi], a3 = p.Regs[(int)Register.Rdx];
        ulong a4 = p.Regs[(int)Register.R10];
        if (p.TrackArmed && !p.Restarting && nr < 1024) p.Counts![nr]++;
        p.Restarting = false;
        long r = nr switch
        {
            0 => Read(p, a1, a2, a3),
            1 => Write(p, a1, a2, a3),
            2 => Open(p, a1, a2),
            3 => Close(p, a1),
            4 => Stat(p, a1, a2),
            5 => Fstat(p, a1, a2),
            8 => Lseek(p, a1, (long)a2, a3),
            12 => Brk(p, a1),
            22 => Pipe(p, a1),
            24 => Yield(p),
            32 => Dup(p, a1),
            33 => Dup2(p, a1, a2),
            35 => Nanosleep(p, a1),
            39 => p.Pid,
            57 => Fork(p),
            59 => Execve(p, a1, a2, a3),
            60 or 231 => Exit(p, (int)a1),
            61 => Wait4(p, (long)(int)a1, a2, a3),
            62 => KillCall(p, (long)(int)a1, (long)(int)a2),
            87 => Unlink(p, a1),
            110 => p.Parent,
            217 => Getdents(p, a1, a2, a3),
            228 => ClockGettime(p, a2),
            1000 => PageAlloc(p, a1),
            1002 => TrackSelf(p),
            1003 => TrackWait(p, a1),
            _ => -ENOSYS,
        };
        if (p.State == PState.Runnable && _byPid.ContainsKey(p.Pid) && !p.Restarting)
            p.Regs[(int)Register.Rax] = (ulong)r;
        // Observers (the session's event log, debugger breakpoints) see each call once: a blocked
        // call is reported when it finally completes, not each time it re-executes.
        if (!p.Restarting) Report(p, nr, a1, r);
    }

    private long Yield(PProcess p)
    {
        // return 0 and let the others run
        p.Regs[(int)Register.Rax] = 0;
        _cur = null;
        return 0;
    }

    private long Exit(PProcess p, int code)
    {
        Terminate(p, (code & 0xff) << 8, code & 0xff);
        return 0;
    }

    private OpenFile? Fd(PProcess p, ulong fd) => fd < MaxFds ? p.Fds[fd] : null;

    private int LowestFreeFd(PProcess p, int from = 0)
    {
        for (int i = from; i < MaxFds; i++) if (p.Fds[i] is null) return i;
        return -1;
    }

    private void CloseFd(PProcess p, int fd)
    {
        var f = p.Fds[fd];
        if (f is null) return;
        p.Fds[fd] = null;
        if (--f.Refs > 0) return;
        if (f.Kind == FileKind.PipeRead) f.Pipe!.Readers--;
        if (f.Kind == FileKind.PipeWrite) f.Pipe!.Writers--;
        WakeAll();
    }

    private long Close(PProcess p, ulong fd)
    {
        if (Fd(p, fd) is null) return -EBADF;
        CloseFd(p, (int)fd);
        return 0;
    }

    private long Read(PProcess p, ulong fd, ulong buf, ulong count)
    {
        var f = Fd(p, fd);
        if (f is null || !f.Readable) return -EBADF;
        if (f.Kind == FileKind.Dir) return -EISDIR;
        if (count == 0) return 0;
        if (buf >= UserLimit || count > UserLimit - buf) return -EFAULT;
        int n = (int)Math.Min(count, 1 << 20);
        byte[] data;
        switch (f.Kind)
        {
            case FileKind.Console:
                {
                    if (!Console.HasInput)
                    {
                        if (Console.InputClosed) return 0;
                        Block(p);
                        return 0;
                    }
                    var list = new List<byte>();
                    while (list.Count < n && Console.TryDequeue(out byte b)) { list.Add(b); if (b == '\n') break; }
                    data = list.ToArray();
                    if (!CopyOut(p, buf, data)) return -EFAULT;   // (input consumed, like a tty)
                    break;
                }
            case FileKind.PipeRead:
                {
                    var pipe = f.Pipe!;
                    if (pipe.Buffer.Count == 0)
                    {
                        if (pipe.Writers == 0) return 0;
                        Block(p);
                        return 0;
                    }
                    int k = Math.Min(n, pipe.Buffer.Count);
                    data = pipe.Buffer.Take(k).ToArray();
                    if (!CopyOut(p, buf, data)) return -EFAULT;
                    for (int i = 0; i < k; i++) pipe.Buffer.Dequeue();
                    WakeAll();
                    break;
                }
            default:
                {
                    var node = f.Node!;
                    long off = f.Offset;
                    if (off >= node.Length) return 0;
                    int k = (int)Math.Min(n, node.Length - off);
                    if (!CopyOut(p, buf, node.Data.AsSpan((int)off, k))) return -EFAULT;
                    f.Offset += k;
                    data = new byte[k];
                    break;
                }
        }
        if (p.TrackArmed) p.BytesRead += (ulong)data.Length;
        return data.Length;
    }

    private long Write(PProcess p, ulong fd, ulong buf, ulong count)
    {
        var f = Fd(p, fd);
        if (f is null || !f.Writable) return -EBADF;
        if (f.Kind == FileKind.Dir) return -EISDIR;
        if (count == 0) return 0;
        if (buf >= UserLimit || count > UserLimit - buf) return -EFAULT;
        int n = (int)Math.Min(count, 1 << 20);
        long written;
        switch (f.Kind)
        {
            case FileKind.Console:
                {
                    var data = new byte[n];
                    if (!CopyIn(p, buf, data)) return -EFAULT;
                    Console.Write((int)fd, data);
                    written = n;
                    break;
                }
            case FileKind.PipeWrite:
                {
                    var pipe = f.Pipe!;
                    if (pipe.Readers == 0) return -EPIPE;
                    int room = Lab.Kernel.Posix.Pipe.Capacity - pipe.Buffer.Count;
                    if (room == 0) { Block(p); return 0; }
                    var data = new byte[Math.Min(n, room)];
                    if (!CopyIn(p, buf, data)) return -EFAULT;
                    foreach (var b in data) pipe.Buffer.Enqueue(b);
                    WakeAll();
                    written = data.Length;
                    break;
                }
            default:
                {
                    var node = f.Node!;
                    var data = new byte[n];
                    if (!CopyIn(p, buf, data)) return -EFAULT;
                    if ((f.Flags & 0x400) != 0) f.Offset = node.Length;
                    long end = f.Offset + n;
                    if (end > 256L << 20) return -27;   // EFBIG
                    node.EnsureCapacity(end);
                    data.CopyTo(node.Data, (int)f.Offset);
                    if (end > node.Length) node.Length = (int)end;
                    f.Offset = end;
                    written = n;
                    break;
                }
        }
        if (p.TrackArmed) p.BytesWritten += (ulong)written;
        return written;
    }

    private long ReadPath(PProcess p, ulong va, out string path)
    {
        path = "";
        if (va == 0) return -EFAULT;
        var b = ReadCString(p, va, 4096, out bool tooLong);
        if (tooLong) return -ENAMETOOLONG;
        if (b is null) return -EFAULT;
        if (b.Length == 0) return -ENOENT;
        path = Encoding.UTF8.GetString(b);
        return 0;
    }

    private long Open(PProcess p, ulong pathVa, ulong flagsArg)
    {
        const int known = 3 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 0x8000 | 0x10000 | 0x20000 | 0x80000 | 0x1000 | 0x101000;
        int flags = (int)flagsArg;
        if ((flagsArg & ~(ulong)(uint)known) != 0 || (flags & 3) == 3) return -EINVAL;
        long e = ReadPath(p, pathVa, out string path);
        if (e != 0) return e;
        int fd = LowestFreeFd(p);
        if (fd < 0) return -EMFILE;
        var node = Fs.Lookup(path);
        int acc = flags & 3;
        if (node is null)
        {
            if ((flags & 0x40) == 0) return -ENOENT;
            node = Fs.Create(path);
            if (node is null) return Fs.Lookup(PosixFs.Parent(PosixFs.Normalize(path)!)) is { } d && !d.IsDir ? -ENOTDIR : -ENOENT;
        }
        else if ((flags & 0xC0) == 0xC0) return -EEXIST;
        if (node.IsDir)
        {
            if (acc != 0) return -EISDIR;
            p.Fds[fd] = new OpenFile { Kind = FileKind.Dir, Node = node, Readable = true, Flags = flags };
            return fd;
        }
        if ((flags & 0x10000) != 0) return -ENOTDIR;
        if ((flags & 0x200) != 0 && acc != 0) node.Length = 0;
        p.Fds[fd] = new OpenFile { Kind = FileKind.File, Node = node, Flags = flags, Readable = acc != 1, Writable = acc != 0 };
        return fd;
    }

    private long Unlink(PProcess p, ulong pathVa)
    {
        long e = ReadPath(p, pathVa, out string path);
        if (e != 0) return e;
        var node = Fs.Lookup(path);
        if (node is null) return -ENOENT;
        if (node.IsDir) return -EISDIR;
        Fs.Remove(path);
        return 0;
    }

    private long Lseek(PProcess p, ulong fd, long off, ulong whence)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        if (f.Kind != FileKind.File && f.Kind != FileKind.Dir) return -ESPIPE;
        long b = whence switch { 0 => 0, 1 => f.Offset, 2 => f.Node!.Length, _ => long.MinValue };
        if (b == long.MinValue) return -EINVAL;
        long n = b + off;
        if (n < 0) return -EINVAL;
        f.Offset = n;
        return n;
    }

    private long WriteStat(PProcess p, ulong va, FileKind kind, Inode? node)
    {
        var st = new byte[144];
        uint mode = kind switch
        {
            FileKind.Console => 0x2000 | 0x190,
            FileKind.PipeRead or FileKind.PipeWrite => 0x1000 | 0x180,
            FileKind.Dir => 0x4000 | 0x1ED,
            _ => 0x8000 | 0x1ED,
        };
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(8), node?.Ino ?? 0);
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(16), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(st.AsSpan(24), mode);
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(48), node is null || node.IsDir ? 0 : node.Length);
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(56), 4096);
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(64), node is null ? 0 : (node.Length + 511) / 512);
        return CopyOut(p, va, st) ? 0 : -EFAULT;
    }

    private long Fstat(PProcess p, ulong fd, ulong va)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        return WriteStat(p, va, f.Kind, f.Node);
    }

    private long Stat(PProcess p, ulong pathVa, ulong va)
    {
        long e = ReadPath(p, pathVa, out string path);
        if (e != 0) return e;
        var node = Fs.Lookup(path);
        if (node is null) return -ENOENT;
        return WriteStat(p, va, node.IsDir ? FileKind.Dir : FileKind.File, node);
    }

    private long Getdents(PProcess p, ulong fd, ulong buf, ulong count)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        if (f.Kind != FileKind.Dir) return -ENOTDIR;
        var entries = Fs.List(Fs.PathOf(f.Node!) ?? "/");
        var all = new List<(string, Inode?, bool)> { (".", f.Node, true), ("..", null, true) };
        all.AddRange(entries.Select(x => (x.Name, (Inode?)x.Node, x.Node.IsDir)));
        var outBuf = new List<byte>();
        long idx = f.Offset;
        while (idx < all.Count)
        {
            var (name, node, isDir) = all[(int)idx];
            var nb = Encoding.UTF8.GetBytes(name);
            int reclen = (19 + nb.Length + 1 + 7) & ~7;
            if ((ulong)(outBuf.Count + reclen) > count) break;
            var rec = new byte[reclen];
            BinaryPrimitives.WriteInt64LittleEndian(rec, node?.Ino ?? 1);
            BinaryPrimitives.WriteInt64LittleEndian(rec.AsSpan(8), idx + 1);
            BinaryPrimitives.WriteUInt16LittleEndian(rec.AsSpan(16), (ushort)reclen);
            rec[18] = (byte)(isDir ? 4 : 8);
            nb.CopyTo(rec, 19);
            outBuf.AddRange(rec);
            idx++;
        }
        if (outBuf.Count == 0 && idx < all.Count) return -EINVAL;
        if (outBuf.Count > 0 && !CopyOut(p, buf, outBuf.ToArray())) return -EFAULT;
        f.Offset = idx;
        return outBuf.Count;
    }

    private long Pipe(PProcess p, ulong va)
    {
        int r = LowestFreeFd(p);
        if (r < 0) return -EMFILE;
        p.Fds[r] = new OpenFile();     // reserve
        int w = LowestFreeFd(p);
        p.Fds[r] = null;
        if (w < 0) return -EMFILE;
        Span<byte> fds = stackalloc byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(fds, r);
        BinaryPrimitives.WriteInt32LittleEndian(fds[4..], w);
        if (!CopyOut(p, va, fds)) return -EFAULT;
        var pipe = new Pipe { Readers = 1, Writers = 1 };
        p.Fds[r] = new OpenFile { Kind = FileKind.PipeRead, Pipe = pipe, Readable = true };
        p.Fds[w] = new OpenFile { Kind = FileKind.PipeWrite, Pipe = pipe, Writable = true };
        return 0;
    }

    private long Dup(PProcess p, ulong fd)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        int n = LowestFreeFd(p);
        if (n < 0) return -EMFILE;
        f.Refs++;
        p.Fds[n] = f;
        return n;
    }

    private long Dup2(PProcess p, ulong fd, ulong fd2)
    {
        var f = Fd(p, fd);
        if (f is null || fd2 >= MaxFds) return -EBADF;
        if (fd == fd2) return (long)fd2;
        CloseFd(p, (int)fd2);
        f.Refs++;
        p.Fds[fd2] = f;
        return (long)fd2;
    }

    private long Brk(PProcess p, ulong addr)
    {
        if (addr < p.BrkStart || addr > p.BrkStart + (1UL << 30)) return (long)p.Brk;
        ulong oldTop = (p.Brk + Page - 1) & ~(Page - 1), newTop = (addr + Page - 1) & ~(Page - 1);
        for (ulong va = oldTop; va < newTop; va += Page)
        {
            var pa = Alloc(p.Pid);
            if (pa is null || !MapPage(p.Pid, p.Root, va, pa.Value, PageTables.PWU))
            {
                if (pa is not null) Release(pa.Value);
                UnmapRange(p, oldTop, va);     // just mapped, so their tables are private: cannot fail
                return (long)p.Brk;
            }
        }
        if (newTop < oldTop)
        {
            ulong left = UnmapRange(p, newTop, oldTop);
            if (left != newTop) { p.Brk = left; return (long)left; }   // out of memory to unshare: shrunk part way
        }
        p.Brk = addr;
        return (long)addr;
    }

    /// <summary>
    /// page_alloc(addr), Lab's private call as in WeensyOS: maps a fresh zeroed page, readable and
    /// writable by the user, at the page-aligned user address <paramref name="addr"/>, replacing any
    /// page mapped there. 0, -EINVAL (misaligned, the null page or not user space), -ENOMEM.
    /// </summary>
    private long PageAlloc(PProcess p, ulong addr)
    {
        if ((addr & (Page - 1)) != 0 || addr < Page || addr >= UserLimit) return -EINVAL;
        var pa = Alloc(p.Pid);
        if (pa is null) return -ENOMEM;
        if (UnmapRange(p, addr, addr + Page) != addr || !MapPage(p.Pid, p.Root, addr, pa.Value, PageTables.PWU))
        {
            Release(pa.Value);
            return -ENOMEM;   // no memory to unshare the page's table: nothing changed but maybe the old page's mapping
        }
        return 0;
    }

    /// <summary>
    /// Unmaps [start, end) of p (page aligned), top down, dropping each page's reference. A shared
    /// leaf table is copied first; when that finds no memory it stops and returns the address from
    /// which everything up to <paramref name="end"/> is unmapped (else <paramref name="start"/>).
    /// </summary>
    private ulong UnmapRange(PProcess p, ulong start, ulong end)
    {
        ulong va = end;
        while (va > start)
        {
            ulong page = va - Page;
            if (_pt.Lookup(p.Root, new VirtAddr(page)) is not null)
            {
                if (!UnshareLeafTable(p.Pid, p.Root, page)) break;
                var m = _pt.Lookup(p.Root, new VirtAddr(page))!.Value;   // the table may have moved
                Release(m.Pa);
                _pt.SetLeaf(p.Root, m, new PhysAddr(0), 0);
            }
            va = page;
        }
        _m.Cpu.FlushTlb();
        return va;
    }

    private long Nanosleep(PProcess p, ulong req)
    {
        if (p.WakeAt != 0)
        {
            if (_m.Clock >= p.WakeAt) { p.WakeAt = 0; return 0; }
            Block(p);
            return 0;
        }
        Span<byte> ts = stackalloc byte[16];
        if (!CopyIn(p, req, ts)) return -EFAULT;
        long sec = BinaryPrimitives.ReadInt64LittleEndian(ts), nsec = BinaryPrimitives.ReadInt64LittleEndian(ts[8..]);
        if (sec < 0 || nsec < 0 || nsec >= 1_000_000_000) return -EINVAL;
        ulong ns = (ulong)Math.Min(sec, 1000L * 1000) * 1_000_000_000UL + (ulong)nsec;   // 1 instruction = 1 ns
        if (ns == 0) return Yield(p);
        p.WakeAt = _m.Clock + ns;
        Block(p);
        return 0;
    }

    private long ClockGettime(PProcess p, ulong va)
    {
        ulong ns = _m.Clock;
        Span<byte> ts = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(ts, (long)(ns / 1_000_000_000));
        BinaryPrimitives.WriteInt64LittleEndian(ts[8..], (long)(ns % 1_000_000_000));
        return CopyOut(p, va, ts) ? 0 : -EFAULT;
    }

    private long KillCall(PProcess p, long pid, long sig)
    {
        if (sig < 0 || sig > 64) return -EINVAL;
        if (pid <= 0) return -EINVAL;
        if (pid == 1) return sig == 0 ? 0 : -EPERM;
        if (!_byPid.TryGetValue((int)pid, out var t)) return -ESRCH;
        if (sig != 0 && sig != 9 && sig != 15) return -EINVAL;
        if (sig == 0 || t.State == PState.Zombie) return 0;
        Terminate(t, SignalStatus((int)sig), 128 + (int)sig);
        return 0;
    }

    // ---- fork ---------------------------------------------------------------------------------

    private long Fork(PProcess p)
    {
        if (CopyOnWriteFork && _free < ForkReserve) return _procs.Count >= MaxProcs ? -EAGAIN : -ENOMEM;
        var c = NewProcess(p.Pid);
        if (c is null) return _procs.Count >= MaxProcs ? -EAGAIN : -ENOMEM;
        bool ok = CopyOnWriteFork ? ShareSpace(p, c) : CopySpace(p, c);
        if (!ok)
        {
            FreeSpace(c.Root);
            Remove(c);
            return -ENOMEM;
        }
        _m.Cpu.FlushTlb();
        p.Regs.CopyTo(c.Regs, 0);
        c.Rip = p.Rip; c.RFlags = p.RFlags; c.FsBase = p.FsBase; c.GsBase = p.GsBase;
        c.Regs[(int)Register.Rax] = 0;
        c.Name = p.Name;
        c.BrkStart = p.BrkStart; c.Brk = p.Brk;
        c.Segments = p.Segments;
        for (int i = 0; i < MaxFds; i++) if (p.Fds[i] is { } f) { f.Refs++; c.Fds[i] = f; }
        c.State = PState.Runnable;
        _runNext = c;               // the child runs first (it often execs or exits at once, freeing memory)
        return c.Pid;
    }

    /// <summary>
    /// Copy-on-write fork of p's address space into c's (empty) one: c gets its own PDPTs and PDs,
    /// whose entries point at p's leaf tables (each gains one reference), and both sides' PD entries
    /// lose Writable, so the first write through either faults and unshares that table
    /// (<see cref="UnshareLeafTable"/>). The cost is one pass over p's upper-level tables; no leaf
    /// entry and no data page is touched. False when memory is full (c's space is then partial but
    /// consistent; p's read-only PD entries are harmless: unsharing restores them).
    /// </summary>
    private bool ShareSpace(PProcess p, PProcess c)
    {
        const ulong w = (ulong)PteFlags.Writable;
        var l4 = _pt.TableEntries(p.Root);
        int userSlots = (int)(UserLimit >> 39);
        for (int i4 = 0; i4 < userSlots; i4++)
        {
            if (!Present(l4[i4])) continue;
            var pdpt = Alloc(c.Pid);
            if (pdpt is null) return false;
            _pt.WriteEntry(c.Root + (ulong)i4 * 8, pdpt.Value.Value | (ulong)PageTables.PWU);
            var l3 = _pt.TableEntries(PageTables.Target(l4[i4]));
            for (int i3 = 0; i3 < 512; i3++)
            {
                if (!Present(l3[i3])) continue;
                var pd = Alloc(c.Pid);
                if (pd is null) return false;
                _pt.WriteEntry(pdpt.Value + (ulong)i3 * 8, pd.Value.Value | (ulong)PageTables.PWU);
                var parentPd = PageTables.Target(l3[i3]);
                var l2 = _pt.TableEntries(parentPd);
                for (int i2 = 0; i2 < 512; i2++)
                {
                    ulong e = l2[i2];
                    if (!Present(e)) continue;
                    ulong shared = e & ~w;
                    if (shared != e) _pt.WriteEntry(parentPd + (ulong)i2 * 8, shared);
                    _pt.WriteEntry(pd.Value + (ulong)i2 * 8, shared);
                    _ref[(int)PageTables.Target(e).PageNumber]++;
                }
            }
        }
        return true;
    }

    /// <summary>Eager fork (<see cref="CopyOnWriteFork"/> false): c gets a private copy of every page
    /// p may write; read-only pages are shared. False when memory is full (c's space is partial).</summary>
    private bool CopySpace(PProcess p, PProcess c)
    {
        var maps = _pt.Mappings(p.Root, new VirtAddr(0), new VirtAddr(UserLimit));
        foreach (var m in maps)
        {
            // the leaf's own bits: the effective permission is read-only under a shared table
            if ((m.Pte & (ulong)PteFlags.Writable) != 0 || m.IsCow)
            {
                var copy = Alloc(c.Pid);
                if (copy is null) return false;
                _m.Memory.Write(copy.Value, _m.Memory.View(m.Pa, (int)Page));
                if (!MapPage(c.Pid, c.Root, m.Va.Value, copy.Value, PageTables.PWU)) { Release(copy.Value); return false; }
                continue;
            }
            if (!MapPage(c.Pid, c.Root, m.Va.Value, m.Pa, m.Perm & PageTables.PWU)) return false;
            _ref[(int)m.Pa.PageNumber]++;
        }
        return true;
    }

    // ---- execve -------------------------------------------------------------------------------

    private long ReadStringArray(PProcess p, ulong va, List<byte[]> list, ref long total)
    {
        if (va == 0) return 0;
        for (int i = 0; ; i++)
        {
            if (!ReadU64(p, va + (ulong)i * 8, out ulong s)) return -EFAULT;
            if (s == 0) return 0;
            var b = ReadCString(p, s, ArgMax, out bool tooLong);
            if (tooLong) return -E2BIG;
            if (b is null) return -EFAULT;
            total += b.Length + 1 + 8;
            if (total > ArgMax) return -E2BIG;
            list.Add(b);
        }
    }

    private long Execve(PProcess p, ulong pathVa, ulong argvVa, ulong envpVa)
    {
        if (pathVa == 0) return -EFAULT;
        var pb = ReadCString(p, pathVa, 4096, out bool tooLong);
        if (tooLong) return -ENAMETOOLONG;
        if (pb is null) return -EFAULT;
        if (pb.Length == 0) return -EINVAL;
        if (argvVa == 0) return -EFAULT;
        var args = new List<byte[]>();
        var envs = new List<byte[]>();
        long total = 0;
        long e = ReadStringArray(p, argvVa, args, ref total);
        if (e != 0) return e;
        e = ReadStringArray(p, envpVa, envs, ref total);
        if (e != 0) return e;
        string path = Encoding.UTF8.GetString(pb);
        var node = Fs.Lookup(path);
        if (node is null) return -ENOENT;
        if (node.IsDir) return -EACCES;
        return BuildImage(p, PosixFs.Normalize(path)!, node, args, envs);
    }

    /// <summary>Builds a new address space from an ELF file and switches p to it (the old one is freed only then).</summary>
    private long BuildImage(PProcess p, string path, Inode node, List<byte[]> args, List<byte[]> envs)
    {
        var bytes = node.Data.AsSpan(0, node.Length).ToArray();
        var image = ElfImage.Parse(path, bytes, out _);
        if (image is null || image.Segments.Count == 0) return -ENOEXEC;
        foreach (var s in image.Segments)
            if (s.VirtualAddress >= StackTop - StackLimit || s.MemorySize > StackTop - StackLimit - s.VirtualAddress
                || s.VirtualAddress < 0x10000) return -ENOEXEC;
        if (image.Entry >= UserLimit) return -ENOEXEC;

        var rootPa = Alloc(p.Pid);
        if (rootPa is null) return -ENOMEM;
        var root = rootPa.Value;
        ulong brk = 0;
        var segs = new List<(ulong, ulong, bool)>();
        bool ok = true;
        foreach (var s in image.Segments)
        {
            ulong start = s.VirtualAddress & ~(Page - 1), end = (s.VirtualAddress + s.MemorySize + Page - 1) & ~(Page - 1);
            segs.Add((start, end, s.Writable));
            PteFlags perm = s.Writable ? PageTables.PWU : PageTables.PU;
            for (ulong va = start; va < end && ok; va += Page)
            {
                var existing = _pt.Lookup(root, new VirtAddr(va));
                if (existing is { } ex)
                {
                    if (s.Writable && !ex.Writable) _pt.SetLeaf(root, ex, ex.Pa, PageTables.PWU);
                    continue;
                }
                var pa = Alloc(p.Pid);
                if (pa is null || !MapPage(p.Pid, root, va, pa.Value, perm)) { if (pa is not null) Release(pa.Value); ok = false; }
            }
            if (!ok) break;
            ulong copied = 0;
            while (copied < s.FileSize)
            {
                ulong va = s.VirtualAddress + copied;
                var m = _pt.Lookup(root, new VirtAddr(va & ~(Page - 1)))!.Value;
                int chunk = (int)Math.Min(s.FileSize - copied, Page - (va & (Page - 1)));
                _m.Memory.Write(m.Pa + (va & (Page - 1)), bytes.AsSpan((int)(s.Offset + copied), chunk));
                copied += (ulong)chunk;
            }
            brk = Math.Max(brk, end);
        }

        // the System V stack: strings at the top, then AT_RANDOM bytes, auxv, envp, argv, argc
        ulong rsp = 0;
        if (ok)
        {
            var strAddrs = new List<ulong>();
            int strBytes = args.Sum(a => a.Length + 1) + envs.Sum(a => a.Length + 1);
            ulong strStart = StackTop - 16 - (ulong)strBytes;
            ulong random = (strStart - 16) & ~15UL;
            int words = 1 + args.Count + 1 + envs.Count + 1 + 6;
            ulong sp = (random - (ulong)words * 8) & ~15UL;
            var stack = new byte[StackTop - sp];
            ulong cursor = strStart;
            foreach (var a in args.Concat(envs))
            {
                strAddrs.Add(cursor);
                a.CopyTo(stack, (int)(cursor - sp));
                cursor += (ulong)a.Length + 1;
            }
            var rnd = new Random(p.Pid);
            rnd.NextBytes(stack.AsSpan((int)(random - sp), 16));
                        int o = 0;
            void Put(ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(stack.AsSpan(o), v); o += 8; }
            Put((ulong)args.Count);
            for (int i = 0; i < args.Count; i++) Put(strAddrs[i]);
            Put(0);
            for (int i = 0; i < envs.Count; i++) Put(strAddrs[args.Count + i]);
            Put(0);
            Put(6); Put(Page);        // AT_PAGESZ
            Put(25); Put(random);     // AT_RANDOM
            Put(0); Put(0);           // AT_NULL
            for (ulong va = sp & ~(Page - 1); va < StackTop && ok; va += Page)
            {
                var pa = Alloc(p.Pid);
                if (pa is null || !MapPage(p.Pid, root, va, pa.Value, PageTables.PWU)) { if (pa is not null) Release(pa.Value); ok = false; break; }
                ulong lo = Math.Max(va, sp), hi = Math.Min(va + Page, StackTop);
                _m.Memory.Write(pa.Value + (lo - va), stack.AsSpan((int)(lo - sp), (int)(hi - lo)));
            }
            rsp = sp;
        }
        if (!ok)
        {
            FreeSpace(root);
            return -ENOMEM;
        }

        // the new image is complete: free the old one and switch
        if (p.Root.Value != 0) FreeSpace(p.Root);
        p.Root = root;
        if (_cur == p) _m.Cpu.Cr3 = root.Value;
        Array.Clear(p.Regs);
        p.Regs[(int)Register.Rsp] = rsp;
        p.Rip = image.Entry;
        p.RFlags = 0x202;
        p.FsBase = p.GsBase = 0;
        p.BrkStart = p.Brk = brk;
        p.Segments = segs;
        p.Name = path[(path.LastIndexOf('/') + 1)..];
        p.WakeAt = 0;
        if (p.Tracked && !p.TrackArmed) { p.TrackArmed = true; p.Counts = new long[1024]; p.BytesRead = p.BytesWritten = 0; }
        p.State = PState.Runnable;
        return 0;
    }

    // ---- wait4 --------------------------------------------------------------------------------

    private long Wait4(PProcess p, long pid, ulong statusVa, ulong options)
    {
        if ((options & ~(1UL | 2UL | 8UL | 0x40000000UL | 0x80000000UL)) != 0) return -EINVAL;
        if (pid < -1) return -ECHILD;
        PProcess? zombie = null;
        bool any = false;
        foreach (var c in _procs)
        {
            if (c.Parent != p.Pid) continue;
            if (pid > 0 && c.Pid != pid) continue;
            any = true;
            if (c.State == PState.Zombie) { zombie = c; break; }
        }
        if (!any) return -ECHILD;
        if (zombie is null)
        {
            if ((options & 1) != 0) return 0;
            Block(p);
            return 0;
        }
        if (statusVa != 0)
        {
            Span<byte> st = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(st, zombie.WaitStatus);
            if (!CopyOut(p, statusVa, st)) return -EFAULT;
        }
        Remove(zombie);
        return zombie.Pid;
    }

    // ---- process tracking ---------------------------------------------------------------------

    private long TrackSelf(PProcess p)
    {
        p.Tracked = true;
        return 0;
    }

    private long TrackWait(PProcess p, ulong va)
    {
        PProcess? zombie = null;
        bool any = false;
        foreach (var c in _procs)
        {
            if (c.Parent != p.Pid) continue;
            if (!c.Tracked && c.State == PState.Zombie) continue;
            any = true;                 // a live child may still call track_self
            if (c.Tracked && c.State == PState.Zombie) { zombie = c; break; }
        }
        if (!any) return -ECHILD;
        if (!CanWrite(p, va, TrackRecordSize)) return -EFAULT;
        if (zombie is null) { Block(p); return 0; }
        if (!CopyOut(p, va, zombie.TrackRecord!)) return -EFAULT;
        ReportTrack(p, zombie);
        Remove(zombie);
        return zombie.Pid;
    }

    public const int TrackRecordSize = 4 + 4 + 32 + 8 * 2 + 8 * 4 + 8 * 4 + 8 * 1024;

    private byte[] MakeTrackRecord(PProcess p, int exitCode)
    {
        var r = new byte[TrackRecordSize];
        var s = r.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(s, p.Pid);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], exitCode);
        var nb = Encoding.UTF8.GetBytes(p.Name);
        nb.AsSpan(0, Math.Min(nb.Length, 31)).CopyTo(s[8..]);
        BinaryPrimitives.WriteUInt64LittleEndian(s[40..], p.BytesRead);
        BinaryPrimitives.WriteUInt64LittleEndian(s[48..], p.BytesWritten);
        ulong text = 0, data = 0, heap = 0, stack = 0;
        ulong heapStart = (p.BrkStart + Page - 1) & ~(Page - 1);
        _pt.ForEach(p.Root, new VirtAddr(0), new VirtAddr(UserLimit), (in Mapping m) =>
        {
            ulong va = m.Va.Value;
            if (InStack(va)) stack++;
            else if (va >= heapStart && va < p.Brk + Page && va >= p.BrkStart) heap++;
            else if (p.Segments.Any(sg => sg.Writable && va >= sg.Start && va < sg.End)) data++;
            else text++;
        });
        BinaryPrimitives.WriteUInt64LittleEndian(s[56..], text);
        BinaryPrimitives.WriteUInt64LittleEndian(s[64..], data);
        BinaryPrimitives.WriteUInt64LittleEndian(s[72..], heap);
        BinaryPrimitives.WriteUInt64LittleEndian(s[80..], stack);
        var levels = new ulong[5];
        foreach (var (_, level) in _pt.TablePages(p.Root)) levels[level]++;
        for (int i = 0; i < 4; i++) BinaryPrimitives.WriteUInt64LittleEndian(s[(88 + i * 8)..], levels[4 - i]);
        if (p.Counts is not null)
            for (int i = 0; i < 1024; i++) BinaryPrimitives.WriteInt64LittleEndian(s[(120 + i * 8)..], p.Counts[i]);
        return r;
    }

    // =========================================================================================
    // invariants

    /// <summary>
    /// Checks refcounts against the page tables; null when everything is consistent. Walks the
    /// distinct table pages reachable from the live processes: a table page's count must equal the
    /// upper-level entries referencing it, a data page's the leaf entries (in distinct leaf tables)
    /// referencing it, +1 for the reserved first MiB. A table referenced more than once must be
    /// read-only in every referencing entry, a writable leaf entry's page must have no other
    /// reference, and exactly the free pages have owner 0.
    /// </summary>
    public string? CheckInvariants()
    {
        int n = _ref.Length;
        var expected = new int[n];
        var writableRefs = new int[n];       // Writable upper-level entries referencing a table page
        var visited = new bool[n];
        var writableLeaf = new bool[n];      // a data page some leaf entry maps writable
        string? error = null;
        for (int i = 0; i < _firstUsable; i++) expected[i] = 1;

        void Walk(PhysAddr table, int level)
        {
            var entries = _pt.TableEntries(table);
            for (int i = 0; i < 512 && error is null; i++)
            {
                ulong e = entries[i];
                if (!Present(e)) continue;
                ulong page = PageTables.Target(e).PageNumber;
                if (page >= (ulong)n) { error = $"table {table} entry {i} points beyond RAM"; return; }
                expected[page]++;
                bool writable = (e & (ulong)PteFlags.Writable) != 0;
                if (level == 1) { if (writable) writableLeaf[page] = true; continue; }
                if (writable) writableRefs[page]++;
                if (visited[page]) continue;
                visited[page] = true;
                Walk(PageTables.Target(e), level - 1);
            }
        }

        foreach (var p in _procs)
        {
            if (p.State == PState.Zombie) continue;
            int r = (int)p.Root.PageNumber;
            expected[r]++;
            if (visited[r]) return $"process {p.Pid}: root {p.Root} is shared";
            visited[r] = true;
            Walk(p.Root, 4);
            if (error is not null) return error;
        }
        int free = 0;
        for (int i = _firstUsable; i < n; i++) if (_ref[i] == 0) free++;
        if (free != _free) return $"free-page count {_free}, but {free} pages are free";
        for (int i = 0; i < n; i++)
        {
            if (expected[i] != _ref[i]) return $"page {i:x}: refcount {_ref[i]}, mappings {expected[i]}";
            if (visited[i] && expected[i] > 1 && writableRefs[i] > 0)
                return $"table page {i:x}: shared by {expected[i]} entries, {writableRefs[i]} of them writable";
            if (writableLeaf[i] && expected[i] != 1) return $"page {i:x}: mapped writable but has {expected[i]} references";
            int owner = _owner[i];
            if (i < _firstUsable ? owner != -1 : (owner == 0) != (_ref[i] == 0))
                return $"page {i:x}: owner {owner} with refcount {_ref[i]}";
        }
        return null;
    }
}
