using Iced.Intel;
using Lab.TestSupport;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests;

/// <summary>
/// The small shared helper for per-family tests: a machine with code at <see cref="CodeBase"/>
/// (user, read-only), data at <see cref="DataBase"/> (user, writable) and a stack below
/// <see cref="StackTop"/>. Assemble code with Iced, run it to the final int3, inspect the state.
/// </summary>
public sealed class CpuFixture : IDisposable
{
    public const ulong CodeBase = 0x400000;
    public const ulong DataBase = 0x600000;
    public const ulong DataSize = 0x10000;
    public const ulong StackTop = 0x800000;

    public X64Machine Machine { get; }
    public Cpu.Cpu Cpu => Machine.Cpu;
    public PageTableBuilder Tables { get; }

    public static readonly PhysAddr CodePhys = new(0x100000);
    public static readonly PhysAddr DataPhys = new(0x200000);
    public static readonly PhysAddr StackPhys = new(0x280000);

    /// <summary>A machine on the tier the environment selects (LAB_TIER, LAB_JIT_THRESHOLD; see MachineOptions).</summary>
    public CpuFixture() : this(new MachineOptions { MemorySize = 8 << 20 }) { }

    /// <summary>
    /// A machine on the given tier; the JIT compiles a block after <paramref name="jitThreshold"/> entries
    /// (on the CPU's thread, so exactly then) and keeps at most <paramref name="jitCodeLimit"/> instructions
    /// compiled. 8 MiB of RAM unless <paramref name="memorySize"/> says otherwise. Quick code is compiled
    /// again optimised as <paramref name="jitPromoteAfter"/> says (MachineOptions.JitPromoteAfter; null: the
    /// environment's default, LAB_JIT_PROMOTE).
    /// </summary>
    public CpuFixture(ExecutionTier tier, int jitThreshold = 1, int jitCodeLimit = 65_536, ulong memorySize = 8 << 20, int? jitPromoteAfter = null)
        : this(WithPromotion(new MachineOptions { MemorySize = memorySize, Tier = tier, JitThreshold = jitThreshold, JitCodeLimit = jitCodeLimit, JitBackgroundCompile = false }, jitPromoteAfter)) { }

    private static MachineOptions WithPromotion(MachineOptions o, int? promoteAfter) =>
        promoteAfter is int p ? o with { JitPromoteAfter = p } : o;

    /// <summary>A JIT machine that compiles on a thread-pool thread (MachineOptions.JitBackgroundCompile) after <paramref name="jitThreshold"/> entries.</summary>
    public static CpuFixture CompilingInBackground(int jitThreshold) =>
        new(new MachineOptions { MemorySize = 8 << 20, Tier = ExecutionTier.Jit, JitThreshold = jitThreshold, JitBackgroundCompile = true });

    private CpuFixture(MachineOptions options)
    {
        Machine = new X64Machine(options);
        Tables = new PageTableBuilder(Machine.Memory, new PhysAddr(0x600000), 0x100000);
        Tables.Map(new VirtAddr(CodeBase), CodePhys, 0x10000, PteFlags.User);
        Tables.Map(new VirtAddr(DataBase), DataPhys, DataSize, PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);
        Tables.Map(new VirtAddr(StackTop - 0x10000), StackPhys, 0x10000, PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);
        Machine.Cpu.Cr3 = Tables.Root.Value;
        Machine.Cpu[MReg.Rsp] = StackTop;
    }

    public void Dispose() => Machine.Dispose();

    /// <summary>Assembles the code (an int3 is appended), loads it at CodeBase and sets rip.</summary>
    public void Load(Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        a.int3();
        LoadBytes(Assembled(a));
    }

    /// <summary>The machine code <paramref name="a"/> holds, assembled at <paramref name="rip"/> (<see cref="CodeBase"/> by default).</summary>
    public static byte[] Assembled(Assembler a, ulong rip = CodeBase)
    {
        var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), rip);
        return ms.ToArray();
    }

    public void LoadBytes(byte[] code)
    {
        Machine.Memory.Write(CodePhys, code);
        Cpu.Rip = CodeBase;
    }

    /// <summary>Runs until a trap; returns it. The final int3 gives TrapKind.Breakpoint.</summary>
    public Trap Run(ulong budget = 10_000_000)
    {
        var r = Machine.Run(budget);
        Assert.Equal(RunExit.Trap, r.Exit);
        return r.Trap;
    }

    /// <summary>
    /// Runs in slices of <paramref name="slice"/> instructions while <paramref name="waiting"/> holds,
    /// and while fewer than <paramref name="retiredBelow"/> instructions have retired: for a condition
    /// that depends on the compile worker, waited for as a condition, not for a time; or for one the run
    /// alone decides, within the instructions it should take. The cap of a million slices only stops a
    /// broken build from looping forever; the caller asserts.
    /// </summary>
    public void RunWhile(Func<bool> waiting, ulong slice = 9_973, ulong retiredBelow = ulong.MaxValue)
    {
        for (int k = 0; waiting() && Cpu.InstructionsRetired < retiredBelow && k < 1_000_000; k++) Machine.Run(slice);
    }

    /// <summary>Runs and asserts the code reached the final int3.</summary>
    public void RunToEnd()
    {
        var t = Run();
        Assert.True(t.Kind == TrapKind.Breakpoint, $"expected to reach int3, got {t}");
    }

    /// <summary>Asserts this machine ended where <paramref name="expected"/> did: the same retired count and the same state (registers, flags, rip, memory: the snapshot, which holds no compiled code).</summary>
    public void AssertSameStateAs(CpuFixture expected)
    {
        Assert.Equal(expected.Cpu.InstructionsRetired, Cpu.InstructionsRetired);
        Assert.Equal(expected.Machine.SaveState(), Machine.SaveState());
    }

    public ulong this[MReg r] { get => Cpu[r]; set => Cpu[r] = value; }

    public ulong Flags => Cpu.RFlags;
    public bool CF => (Flags & 1) != 0;
    public bool ZF => (Flags & 0x40) != 0;
    public bool SF => (Flags & 0x80) != 0;
    public bool OF => (Flags & 0x800) != 0;
    public bool PF => (Flags & 4) != 0;

    public ulong ReadData64(ulong offset) => Machine.Memory.ReadU64(DataPhys + offset);
    public void WriteData64(ulong offset, ulong v) => Machine.Memory.WriteU64(DataPhys + offset, v);
}
