using System.Text;

namespace Lab.Kernel.Weensy.Core;

/// <summary>
/// Plumbing: snapshots. The kernel's state (options, pageinfo, process table, scheduler, ticks,
/// display animation, power and panic state) followed by the machine's own snapshot (CPU, TLB,
/// memory, devices, clock). Restoring continues exactly as the original run would.
/// </summary>
public sealed partial class WeensyKernel
{
    private const int SnapshotMagic = 0x4E45454B;   // "KEEN"
    private const int SnapshotVersion = 2;   // 2: process parent and name

    /// <summary>Saves machine + kernel to bytes.</summary>
    public byte[] SaveState()
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(SnapshotMagic);
            w.Write(SnapshotVersion);
            w.Write((int)Options.Step);
            w.Write((int)Options.Bug);
            w.Write(Options.Boot);
            w.Write((int)Options.Flavour);
            w.Write(Options.InstructionsPerTick);
            w.Write(Options.TickLimit);
            w.Write((int)Options.Invariants);

            w.Write(_bootCommand);
            w.Write(_current);
            w.Write(_idle);
            w.Write(_ticks);
            w.Write(_showing);
            w.Write(_lastTicks);
            w.Write(ForkFailures);
            w.Write(PoweredOff);
            w.Write(Failed);
            w.Write(PanicMessage ?? "");
            w.Write(PanicMessage is not null);
            w.Write(InvariantFailure ?? "");
            w.Write(InvariantFailure is not null);
            Pages.Save(w);
            foreach (Process p in _procs) p.Save(w);

            byte[] machine = _machine.SaveState();
            w.Write(machine.Length);
            w.Write(machine);
        }
        return ms.ToArray();
    }

    /// <summary>Restores a state saved by <see cref="SaveState"/> (options included).</summary>
    public void RestoreState(ReadOnlySpan<byte> state)
    {
        using var ms = new MemoryStream(state.ToArray());
        using var r = new BinaryReader(ms, Encoding.UTF8);
        if (r.ReadInt32() != SnapshotMagic) throw new InvalidDataException("not a WeensyOS kernel snapshot");
        int version = r.ReadInt32();
        if (version != SnapshotVersion) throw new InvalidDataException($"unsupported kernel snapshot version {version}");
        Options = new KernelOptions
        {
            Step = (LabStep)r.ReadInt32(),
            Bug = (LabBug)r.ReadInt32(),
            Boot = r.ReadString(),
            Flavour = (ProgramFlavour)r.ReadInt32(),
            InstructionsPerTick = r.ReadUInt64(),
            TickLimit = r.ReadUInt64(),
            Invariants = (InvariantChecks)r.ReadInt32(),
        };
        _bootCommand = r.ReadString();
        _current = r.ReadInt32();
        _idle = r.ReadBoolean();
        _ticks = r.ReadUInt64();
        _showing = r.ReadInt32();
        _lastTicks = r.ReadUInt64();
        ForkFailures = r.ReadInt32();
        PoweredOff = r.ReadBoolean();
        Failed = r.ReadBoolean();
        string panic = r.ReadString();
        PanicMessage = r.ReadBoolean() ? panic : null;
        string inv = r.ReadString();
        InvariantFailure = r.ReadBoolean() ? inv : null;
        Pages.Load(r);
        foreach (Process p in _procs) p.Load(r);
        int length = r.ReadInt32();
        _machine.RestoreState(r.ReadBytes(length));
        _machine.TrapHandler = this;
        Pages.SetCowReserve(CountCowReserve());   // derived state: recomputed, not stored
    }
}
