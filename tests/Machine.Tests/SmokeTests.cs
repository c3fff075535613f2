using Iced.Intel;
using Lab.Machine;
using Lab.TestSupport;
using static Iced.Intel.AssemblerRegisters;

namespace Lab.Machine.Tests;

public class SmokeTests
{
    [Fact]
    public void LoopSumsAndSyscallTraps()
    {
        using var m = new X64Machine(new MachineOptions { MemorySize = 4 << 20 });
        var pt = new PageTableBuilder(m.Memory, new PhysAddr(0x300000), 0x100000);
        pt.Map(new VirtAddr(0x400000), new PhysAddr(0x100000), 0x10000, PteFlags.User | PteFlags.Writable);
        var a = new Assembler(64);
        var loop = a.CreateLabel();
        a.xor(eax, eax);
        a.mov(ecx, 100);
        a.Label(ref loop);
        a.add(rax, rcx);
        a.dec(ecx);
        a.jnz(loop);
        a.syscall();
        var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), 0x400000);
        m.Memory.Write(new PhysAddr(0x100000), ms.ToArray());
        m.Cpu.Cr3 = pt.Root.Value;
        m.Cpu.Rip = 0x400000;
        var r = m.Run(10_000);
        Assert.Equal(RunExit.Trap, r.Exit);
        Assert.Equal(TrapKind.Syscall, r.Trap.Kind);
        Assert.Equal(5050UL, m.Cpu[Register.Rax]);
        Assert.Equal(2UL + 300 + 1, m.InstructionsRetired);
    }
}
