using Lab.Kernel.Common;
using Lab.Machine;

namespace Lab.Kernel.Weensy.Core;

/// <summary>Process states (WEENSYOS.md §4).</summary>
public enum ProcState : byte
{
    Free = 0,
    Runnable = 1,
    Blocked = 2,
    /// <summary>Faulted: keeps its memory and stays on the map, never runs again.</summary>
    Broken = 3,
}

/// <summary>A process descriptor: pid, saved user registers (<see cref="UserContext"/>), state, page table.</summary>
public sealed class Process : UserContext
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
    private readonly ChangeCounter _changes;

    public Process(int pid, ChangeCounter changes)
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
        ClearRegisters();
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
