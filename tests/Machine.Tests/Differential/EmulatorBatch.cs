using Lab.TestSupport;

namespace Lab.Machine.Tests.Differential;

/// <summary>
/// Runs cases in one reused Machine with the native runner's layout: the code page at
/// <see cref="DiffLayout.CodeAddr"/> (user, read/execute) and the data area at
/// <see cref="DiffLayout.DataAddr"/> (user, writable, no-execute). Nothing else is mapped.
/// </summary>
internal sealed class EmulatorBatch : IDisposable
{
    private static readonly PhysAddr CodePhys = new(0x100000);
    private static readonly PhysAddr DataPhys = new(0x200000);

    private readonly X64Machine _machine;
    private readonly byte[] _codePage = new byte[DiffLayout.CodeSize];

    public EmulatorBatch()
    {
        _machine = new X64Machine(new MachineOptions { MemorySize = 4 << 20 });
        var tables = new PageTableBuilder(_machine.Memory, new PhysAddr(0x300000), 0x100000);
        tables.Map(new VirtAddr(DiffLayout.CodeAddr), CodePhys, (ulong)DiffLayout.CodeSize, PteFlags.User);
        tables.Map(new VirtAddr(DiffLayout.DataAddr), DataPhys, (ulong)DiffLayout.DataSize,
            PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);
        _machine.Cpu.Cr3 = tables.Root.Value;
        _machine.Cpu.GsBase = DiffLayout.DataAddr;   // as diffrunner sets it
    }

    public void Dispose() => _machine.Dispose();

    public FinalState Run(DiffCase c)
    {
        var cpu = _machine.Cpu;
        // As natively: the rest of the code page is int3, the data area is zero plus the case's bytes.
        Array.Fill(_codePage, (byte)0xCC);
        c.Code.CopyTo(_codePage, 0);
        _machine.Memory.Write(CodePhys, _codePage);
        _machine.Memory.Write(DataPhys, c.InitialDataImage());

        cpu.SetRegisters(c.Gpr);
        cpu.RFlags = (c.RFlags & 0xCD5) | 0x202;   // IF reads as 1 in user mode, as natively
        for (int i = 0; i < 16; i++) cpu.SetXmm(i, ReadXmm(c.Xmm, i));
        cpu.Rip = DiffLayout.CodeAddr;
        // Natively each case runs after the previous one's signal handler, which Linux enters with the
        // FPU in its initial state (registers zero, all empty) and siglongjmp leaves it so.
        cpu.ResetX87();

        var r = _machine.Run(1_000_000);
        var s = new FinalState { Trap = r.Exit == RunExit.Trap ? r.Trap.Kind : TrapKind.None, Detail = r.Trap.Detail };
        cpu.GetRegisters(s.Gpr);
        s.Rip = cpu.Rip;
        s.RFlags = cpu.RFlags;
        for (int i = 0; i < 16; i++) WriteXmm(s.Xmm, i, cpu.GetXmm(i));
        s.Data = _machine.Memory.View(DataPhys, DiffLayout.DataSize).ToArray();
        return s;
    }

    public static UInt128 ReadXmm(byte[] xmm, int i) =>
        new(BitConverter.ToUInt64(xmm, i * 16 + 8), BitConverter.ToUInt64(xmm, i * 16));

    public static void WriteXmm(byte[] xmm, int i, UInt128 v)
    {
        BitConverter.TryWriteBytes(xmm.AsSpan(i * 16), (ulong)v);
        BitConverter.TryWriteBytes(xmm.AsSpan(i * 16 + 8), (ulong)(v >> 64));
    }
}
