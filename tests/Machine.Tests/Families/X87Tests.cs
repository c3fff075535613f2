using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using R = Lab.Machine.Register;

namespace Lab.Machine.Tests.Families;

/// <summary>The x87 state as the Machine's owner sees it: snapshots, the FXSAVE image a kernel puts in
/// a signal frame, and the faults of the state instructions.
/// The arithmetic itself is checked against the host CPU (Differential/DiffFamilies.X87.cs,
/// X87TranscendentalTests.cs).</summary>
public class X87Tests
{
    /// <summary>A loop keeping values on the x87 stack: the running sum of 1/k and the product of (1 + 1/k²).</summary>
    private static void LoadSeries(CpuFixture f)
    {
        f.Load(a =>
        {
            var loop = a.CreateLabel();
            a.finit();
            a.fldz();                               // sum
            a.fld1();                               // product
            a.mov(ecx, 1);
            a.Label(ref loop);
            a.mov(__dword_ptr[CpuFixture.DataBase], ecx);
            a.fild(__dword_ptr[CpuFixture.DataBase]);       // k
            a.fld1(); a.fdivrp(st1, st0);                    // 1/k
            a.fadd(st2, st0);                                // sum += 1/k
            a.fmul(st0, st0); a.fld1(); a.faddp(st1, st0);   // 1 + 1/k²
            a.fmulp(st1, st0);                               // product *= ...
            a.inc(ecx); a.cmp(ecx, 200_000); a.jb(loop);
            a.fstp(__tword_ptr[CpuFixture.DataBase + 0x10]);
            a.fstp(__tword_ptr[CpuFixture.DataBase + 0x20]);
        });
    }

    /// <summary>The 80-bit value at a data offset, as a double.</summary>
    private static double Extended(CpuFixture f, ulong off)
    {
        ulong m = f.ReadData64(off);
        int se = (int)(f.ReadData64(off + 8) & 0xFFFF);
        return Math.ScaleB((double)m, (se & 0x7FFF) - 16383 - 63) * ((se & 0x8000) != 0 ? -1 : 1);
    }

    /// <summary>Control, status and tag words and the eight physical registers, as text.</summary>
    private static string X87State(Cpu.Cpu c) =>
        $"cw={c.X87ControlWord:x4} sw={c.X87StatusWord:x4} tw={c.X87TagWord:x4} "
        + string.Join(" ", Enumerable.Range(0, 8).Select(i => c.GetX87Register(i)).Select(r => $"{r.SignExp:x4}:{r.Mantissa:x16}"));

    [Fact]
    public void A_snapshot_taken_mid_computation_restores_the_x87_stack_and_finishes_the_same()
    {
        using var f = new CpuFixture();
        LoadSeries(f);
        Assert.Equal(RunExit.BudgetExhausted, f.Machine.Run(777_777).Exit);
        var mid = X87State(f.Cpu);
        Assert.DoesNotContain("tw=ffff", mid);   // values are on the stack
        byte[] snapshot = f.Machine.SaveState();
        Assert.True(BitConverter.ToInt32(snapshot, 4) >= 3, "a snapshot format that carries the x87 (version 3 or later)");
        f.RunToEnd();

        using var g = new CpuFixture();
        g.Machine.RestoreState(snapshot);
        Assert.Equal(mid, X87State(g.Cpu));
        g.RunToEnd();
        Assert.Equal(f.ReadData64(0x10), g.ReadData64(0x10));
        Assert.Equal(f.ReadData64(0x18), g.ReadData64(0x18));
        Assert.Equal(f.ReadData64(0x20), g.ReadData64(0x20));
        // the product tends to sinh(π)/π = 3.676..., the sum is about ln(200000) + γ = 12.78
        Assert.InRange(Extended(f, 0x10), 3.6760, 3.6761);
        Assert.InRange(Extended(f, 0x20), 12.78, 12.79);
    }

    /// <summary>SaveFxState/LoadFxState (what a kernel's signal frame holds) carry the registers, TOP,
    /// tags, control word and XMM registers through, and the guest's own fxsave writes the same image.</summary>
    [Fact]
    public void The_fxsave_image_round_trips_and_matches_the_guest_fxsave()
    {
        using var f = new CpuFixture();
        f.Load(a =>
        {
            a.fninit();
            a.fldpi(); a.fld1(); a.fldl2e();
            a.mov(__word_ptr[CpuFixture.DataBase], 0x0F7F);   // round toward zero
            a.fldcw(__word_ptr[CpuFixture.DataBase]);
            a.fxsave(__[CpuFixture.DataBase + 0x200]);
        });
        f.Cpu.SetXmm(3, new UInt128(0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210));
        f.RunToEnd();
        Span<byte> image = stackalloc byte[Cpu.Cpu.FxStateSize];
        f.Cpu.SaveFxState(image);
        byte[] guest = f.Machine.Memory.View(CpuFixture.DataPhys + 0x200, 464).ToArray();
        Assert.Equal(guest, image[..464].ToArray());
        Assert.Equal(0x0F7F, BitConverter.ToUInt16(image));
        Assert.Equal(0b1110_0000, image[4]);                 // R5..R7 in use (TOP = 5)
        var before = X87State(f.Cpu);

        using var g = new CpuFixture();
        g.Cpu.LoadFxState(image);
        Assert.Equal(before, X87State(g.Cpu));
        Assert.Equal(f.Cpu.GetXmm(3), g.Cpu.GetXmm(3));
    }

    /// <summary>fxsave and fxrstor need a 16-byte aligned operand (#GP), a page fault leaves the state
    /// unchanged, and fldenv/frstor of an image with reserved MXCSR bits (fxrstor) fault.</summary>
    [Fact]
    public void State_instructions_fault_like_the_hardware()
    {
        using var f = new CpuFixture();
        f.Load(a => a.fxsave(__[CpuFixture.DataBase + 8]));
        Assert.Equal(TrapKind.GeneralProtection, f.Run().Kind);

        f.Load(a => { a.fld1(); a.fstp(__tword_ptr[CpuFixture.DataBase + CpuFixture.DataSize - 4]); });
        var t = f.Run();
        Assert.Equal(TrapKind.PageFault, t.Kind);
        Assert.Equal(0x3800, f.Cpu.X87StatusWord & 0x3800);   // fld1 pushed (TOP 7); the faulting fstp did not pop
        Assert.Equal(CpuFixture.DataBase + CpuFixture.DataSize, t.FaultAddress.Value);

        f.WriteData64(0x400 + 24, 0x0001_1F80);                // MXCSR with a reserved bit (16)
        f.Load(a => a.fxrstor(__[CpuFixture.DataBase + 0x400]));
        Assert.Equal(TrapKind.GeneralProtection, f.Run().Kind);
    }
}
