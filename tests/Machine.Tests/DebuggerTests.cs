using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using R = Lab.Machine.Register;

namespace Lab.Machine.Tests;

public class DebuggerTests
{
    [Fact]
    public void BreakpointsStopBeforeTheInstructionAndContinuePastIt()
    {
        using var f = new CpuFixture();
        // Find the address of the `add` inside the loop: mov ecx,3 (5 bytes), xor eax,eax (2) -> add at +7.
        f.Load(a => { var l = a.CreateLabel(); a.mov(ecx, 3); a.xor(eax, eax); a.Label(ref l); a.add(eax, 10); a.dec(ecx); a.jnz(l); });
        ulong add = CpuFixture.CodeBase + 7;
        f.Cpu.AddBreakpoint(new VirtAddr(add));
        for (int hit = 1; hit <= 3; hit++)
        {
            var r = f.Machine.Run(1000);
            Assert.Equal(RunExit.Breakpoint, r.Exit);
            Assert.Equal(add, f.Cpu.Rip);
            Assert.Equal((ulong)(10 * (hit - 1)), f[R.Rax]);   // stopped before the add ran
        }
        f.Cpu.RemoveBreakpoint(new VirtAddr(add));
        f.RunToEnd();
        Assert.Equal(30UL, f[R.Rax]);
    }

    [Fact]
    public void SteppingIsExactEvenAcrossBreakpoints()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.mov(eax, 1); a.mov(ebx, 2); a.mov(ecx, 3); });
        f.Cpu.AddBreakpoint(new VirtAddr(CpuFixture.CodeBase + 5));
        Assert.Equal(RunExit.BudgetExhausted, f.Machine.Run(1).Exit);   // mov eax
        Assert.Equal(RunExit.BudgetExhausted, f.Machine.Run(1).Exit);   // starts on the breakpoint: executes mov ebx
        Assert.Equal(2UL, f[R.Rbx]);
        Assert.Equal(2UL, f.Machine.InstructionsRetired);
    }

    [Fact]
    public void PageWalkShowsEveryLevelWithoutSideEffects()
    {
        using var f = new CpuFixture();
        var va = new VirtAddr(CpuFixture.DataBase + 0x123);
        var walk = f.Cpu.DescribeWalk(va);
        Assert.Equal([4, 3, 2, 1], walk.Select(s => s.Level));
        Assert.All(walk, s => Assert.True(s.Present));
        Assert.Equal(CpuFixture.DataPhys, walk[^1].Target);
        Assert.Contains("PT", walk[^1].ToString());
        Assert.Contains("PWU", walk[^1].ToString());
        Assert.Equal(0UL, walk[^1].Entry & (ulong)PteFlags.Accessed);   // the debugger does not touch A/D
        var missing = f.Cpu.DescribeWalk(new VirtAddr(0x7000_0000));
        Assert.False(missing[^1].Present);
    }

    [Fact]
    public void DisassemblyComesFromTheMachineWithAddressesBytesAndText()
    {
        // push %rbp; mov %rsp,%rbp; ret; then an opcode that is no instruction in 64-bit mode; then half an instruction
        byte[] code = [0x55, 0x48, 0x89, 0xe5, 0xc3, 0x06, 0xb8, 0x01];
        var lines = Disassembler.Decode(code, new VirtAddr(0x401000), 10);
        Assert.Equal([0x401000UL, 0x401001UL, 0x401004UL, 0x401005UL], lines.Select(l => l.Address.Value));
        Assert.Equal(["push %rbp", "mov %rsp,%rbp", "ret"], lines.Take(3).Select(l => l.Text));
        Assert.Equal("48 89 e5", lines[1].HexBytes);
        Assert.Equal("(bad)", lines[3].Text);
        Assert.Equal(2, Disassembler.Decode(code, new VirtAddr(0x401000), 2).Count);

        // through the current address space: the fixture's code, and nothing where nothing is mapped
        using var f = new CpuFixture();
        f.Load(a => { a.mov(eax, 1); a.ret(); });
        var live = Disassembler.DecodeVirtual(f.Cpu, new VirtAddr(CpuFixture.CodeBase), 2)!;
        Assert.Equal(["mov $1,%eax", "ret"], live.Select(l => l.Text));
        Assert.Null(Disassembler.DecodeVirtual(f.Cpu, new VirtAddr(0x7000_0000), 4));
    }
}
