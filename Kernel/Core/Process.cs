using Lab.Machine;

namespace Lab.Kernel.Core;

/// <summary>Process states (WEENSYOS.md §4).</summary>
public enum ProcState : byte
{
    Free = 0,
    Runnable = 1,
    Blocked = 2,
    /// <summary>Faulted: keeps its memory and stays on the map, never runs again.</summary>
    Broken = 3,
}

/// <summary>A process descriptor: pid, saved user registers, state, page table.</summary>
public sealed class Process
{
    public int Pid { get; }
    public ProcState State
    {
        get => _state;
        internal set { _state = value; _changes.Bump(); }
    }
    /// <summary>Root (top level) of the process's page table.</summary>
    public PhysAddr PageTable
    {
        get => _pageTable;
        internal set { _pageTable = value; _changes.Bump(); }
    }
    /// <summary>The pid that forked this process (0 for the processes the kernel started).</summary>
    public int Parent { get; internal set; }
    /// <summary>The program it runs (a fork child keeps its parent's).</summary>
    public string Name { get; internal set; } = "";
    private ProcState _state;
    private PhysAddr _pageTable;
    private readonly Memory.ChangeCounter _changes;

    /// <summary>rax..r15 in encoding order.</summary>
    internal readonly ulong[] Regs = new ulong[16];
    internal ulong Rip;
    internal ulong RFlags;
    internal ulong FsBase;
    internal ulong GsBase;

    public Process(int pid, Memory.ChangeCounter changes)
    {
        Pid = pid;
        _changes = changes;
    }

    public ulong this[Register r]
    {
        get => Regs[(int)r];
        internal set => Regs[(int)r] = value;
    }

    public ulong InstructionPointer => Rip;

    /// <summary>process_init: cleared registers, interrupts enabled.</summary>
    internal void Reset()
    {
        State = ProcState.Free;
        PageTable = default;
        Parent = 0;
        Name = "";
        Array.Clear(Regs);
        Rip = 0;
        RFlags = 0x202;    // IF (bit 1 always reads as 1)
        FsBase = GsBase = 0;
    }

    internal void CopyRegistersFrom(Process other)
    {
        other.Regs.CopyTo(Regs, 0);
        Rip = other.Rip;
        RFlags = other.RFlags;
        FsBase = other.FsBase;
        GsBase = other.GsBase;
    }

    internal void SaveFrom(Machine.Cpu.Cpu cpu)
    {
        cpu.GetRegisters(Regs);
        Rip = cpu.Rip;
        RFlags = cpu.RFlags;
        FsBase = cpu.FsBase;
        GsBase = cpu.GsBase;
    }

    internal void LoadInto(Machine.Cpu.Cpu cpu)
    {
        cpu.SetRegisters(Regs);
        cpu.Rip = Rip;
        cpu.RFlags = RFlags;
        cpu.FsBase = FsBase;
        cpu.GsBase = GsBase;
    }

    internal void Save(BinaryWriter w)
    {
        w.Write((byte)State);
        w.Write(PageTable.Value);
        foreach (ulong r in Regs) w.Write(r);
        w.Write(Rip); w.Write(RFlags); w.Write(FsBase); w.Write(GsBase);
        w.Write(Parent);
        w.Write(Name);
    }

    internal void Load(BinaryReader r)
    {
        State = (ProcState)r.ReadByte();
        PageTable = new PhysAddr(r.ReadUInt64());
        for (int i = 0; i < Regs.Length; i++) Regs[i] = r.ReadUInt64();
        Rip = r.ReadUInt64(); RFlags = r.ReadUInt64(); FsBase = r.ReadUInt64(); GsBase = r.ReadUInt64();
        Parent = r.ReadInt32();
        Name = r.ReadString();
    }
}
