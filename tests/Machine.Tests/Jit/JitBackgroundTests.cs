using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Background compilation (MachineOptions.JitBackgroundCompile): RyuJIT compiles a region on a
/// worker thread of its own while the CPU goes on interpreting, and the dispatcher installs the code when
/// it next reaches the entry. When that happens depends on the host; what the guest sees must not.
/// </summary>
public class JitBackgroundTests
{
    /// <summary>A loop over memory with a call on the next page (a two-page region) and a data-dependent branch.</summary>
    private static void Program(Assembler a)
    {
        Label top = a.CreateLabel(), skip = a.CreateLabel(), far = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rbx + rsi * 8]);
        a.imul(rax, rax, 0x3779B1);
        a.call(far);
        a.test(al, 1);
        a.je(skip);
        a.add(r8, rax);
        a.Label(ref skip);
        a.mov(__qword_ptr[rbx + rsi * 8], rax);
        a.inc(esi);
        a.and(esi, 1023);
        a.jmp(top);
        a.db(Enumerable.Repeat((byte)0xCC, 4096).ToArray());
        a.Label(ref far);
        a.rol(rax, 13);
        a.xor(r9, rax);
        a.ret();
    }

    private static CpuFixture Start(CpuFixture f)
    {
        f.LoadBytes(CpuFixture.Assembled(Build()));
        f[MReg.Rbx] = CpuFixture.DataBase;
        return f;

        static Assembler Build() { var a = new Assembler(64); Program(a); return a; }
    }

    /// <summary>
    /// The machine runs in slices until the background compilation has landed and compiled code has
    /// run, then a fixed number of instructions more; an interpreter machine run for the same total
    /// count ends in the same registers and memory.
    /// </summary>
    [Fact]
    public void CodeInstalledWheneverItIsReadyLeavesTheSameState()
    {
        using var jit = Start(CpuFixture.CompilingInBackground(jitThreshold: 50));
        jit.RunWhile(() => jit.Cpu.JitEntries == 0, slice: 10_000);   // until compiled code has run
        Assert.True(jit.Cpu.JitEntries > 0, "the background compilation never landed");
        Assert.True(jit.Cpu.JitBlocksCompiled >= 1);
        Assert.True(jit.Cpu.JitBackgroundCompileTime > TimeSpan.Zero, "RyuJIT ran on the CPU's thread");
        jit.Machine.Run(1_000_000);
        ulong total = jit.Cpu.InstructionsRetired;

        using var interp = Start(new CpuFixture(ExecutionTier.Interp));
        interp.Machine.Run(total);
        Assert.Equal(total, interp.Cpu.InstructionsRetired);
        foreach (MReg r in new[] { MReg.Rax, MReg.Rsi, MReg.R8, MReg.R9, MReg.Rsp })
            Assert.Equal(interp[r], jit[r]);
        Assert.Equal(interp.Cpu.Rip, jit.Cpu.Rip);
        Assert.Equal(interp.Cpu.RFlags, jit.Cpu.RFlags);
        Assert.Equal(interp.Machine.Memory.View(CpuFixture.DataPhys, 8192).ToArray(), jit.Machine.Memory.View(CpuFixture.DataPhys, 8192).ToArray());
    }
}
