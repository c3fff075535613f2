namespace Lab.Machine.Cpu;

/// <summary>
/// Saving and restoring the CPU: registers, flags, control registers, counters and the TLB (both TLBs
/// and the system state in system mode). Format 2 (machine snapshot version 2) adds the system state,
/// format 3 the x87 state; format 1 and 2 snapshots still load (with the x87 in its reset state).
/// </summary>
public sealed unsafe partial class Cpu
{
    internal void Save(BinaryWriter w)
    {
        w.Write(SystemMode);
        for (int i = 0; i < 16; i++) w.Write(_regs[i]);
        for (int i = 0; i < 16; i++)
        {
            UInt128 x = GetXmm(i);
            w.Write((ulong)x);
            w.Write((ulong)(x >> 64));
        }
        w.Write(_rip);
        w.Write(RFlags);
        w.Write(FsBase);
        w.Write(GsBase);
        w.Write(Cr2);
        w.Write(_cr3);
        w.Write(_retired);
        w.Write(_extraTime);
        SaveX87(w);
        // The TLB is architecturally visible (a stale entry may be used until invalidated), so it is
        // part of the state: valid entries as (virtual page, physical page, permissions).
        int valid = 0;
        for (int i = 0; i < _tlbCount; i++) if (_tlbUser[i].ReadTag != NoTag || _tlbUser[i].ExecTag != NoTag) valid++;
        w.Write(_tlbSize);
        w.Write(valid);
        for (int i = 0; i < _tlbCount; i++)
        {
            ref TlbEntry e = ref _tlbUser[i];
            if (e.ReadTag == NoTag && e.ExecTag == NoTag) continue;
            w.Write(i);
            w.Write(e.ReadTag);
            w.Write(e.ExecTag);
            w.Write(e.WriteTag != NoTag);
            w.Write(e.PhysPage);
            w.Write(e.Perm);
        }
        if (SystemMode) SaveSystem(w);
    }

    /// <summary>The physical pages that valid TLB entries point at (still reachable by the guest).</summary>
    internal IEnumerable<ulong> TlbPhysPages()
    {
        var pages = new List<ulong>();
        for (int i = 0; i < _tlbCount; i++)
            if (_tlbUser[i].ReadTag != NoTag || _tlbUser[i].ExecTag != NoTag) pages.Add(_tlbUser[i].PhysPage);
        return pages;
    }

    /// <param name="version">The machine snapshot version: 1 has no mode flag and no system state.</param>
    internal void Load(BinaryReader r, int version)
    {
        bool system = version >= 2 && r.ReadBoolean();
        if (system != SystemMode)
            throw new InvalidDataException($"snapshot of a {(system ? "system-mode" : "user-mode")} CPU cannot restore into a {(SystemMode ? "system-mode" : "user-mode")} one");
        for (int i = 0; i < 16; i++) _regs[i] = r.ReadUInt64();
        for (int i = 0; i < 16; i++)
        {
            ulong lo = r.ReadUInt64(), hi = r.ReadUInt64();
            SetXmm(i, ((UInt128)hi << 64) | lo);
        }
        _rip = r.ReadUInt64();
        RFlags = r.ReadUInt64();
        FsBase = r.ReadUInt64();
        GsBase = r.ReadUInt64();
        Cr2 = r.ReadUInt64();
        _cr3 = r.ReadUInt64();
        _retired = r.ReadUInt64();
        _extraTime = r.ReadUInt64();
        if (version >= 3) LoadX87(r);
        else { ResetX87(); Mxcsr = DefaultMxcsr; }
        FlushTlb();
        // The stored index says which TLB (user or supervisor) an entry belongs to; its slot is found
        // again from its page, so snapshots from before the TLB's size or index changed (version 6
        // writes the saved TLB's size, sized to the RAM; 5: 4,096 slots per TLB; 4: 1,024, indexed by
        // the page number's low bits; before it 512) restore too.
        int savedSize = version >= 6 ? r.ReadInt32() : version == 5 ? 4096 : version == 4 ? 1024 : 512;
        if (savedSize is < 1 or > 1 << MaxTlbBits) throw new InvalidDataException("bad TLB size in snapshot");
        int valid = r.ReadInt32();
        for (int k = 0; k < valid; k++)
        {
            int i = r.ReadInt32();
            if ((uint)i >= (uint)(SystemMode ? 2 * savedSize : savedSize)) throw new InvalidDataException("bad TLB index in snapshot");
            ulong readTag = r.ReadUInt64(), execTag = r.ReadUInt64();
            bool fastWrite = r.ReadBoolean();
            ulong physPage = r.ReadUInt64(), perm = r.ReadUInt64();
            ulong vpage = readTag != NoTag ? readTag : execTag;
            if ((vpage & 0xFFF) != 0 || (execTag != NoTag && execTag != vpage)) throw new InvalidDataException("bad TLB entry in snapshot");
            if ((physPage << 12) + 0x1000 > _memory.Size) throw new InvalidDataException("TLB entry beyond memory in snapshot");
            TlbEntry* e = (i >= savedSize ? _tlbSupervisor : _tlbUser) + TlbIndex(vpage);
            NoteTlbFill(e);
            bool sharesPredecessorSlot = SharesPredecessorSlot(vpage);
            e->ReadTag = sharesPredecessorSlot ? NoTag : readTag;
            e->ExecTag = execTag;
            e->PhysPage = physPage;
            e->Perm = perm;
            e->Addend = (long)(_memory.Base + (physPage << 12)) - (long)vpage;
            e->WriteTag = fastWrite && !sharesPredecessorSlot ? vpage : NoTag;
        }
        if (SystemMode) LoadSystem(r);
        else SetCpl(3);
    }
}
