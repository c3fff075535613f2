using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Stack groups: a function's prologue and epilogue (pushes, sub rsp, stores and loads at rsp, add
/// rsp, pops) test one window for the whole frame. rsp drifts down a little every iteration, so the
/// frame straddles page boundaries now and then and finally runs off the mapped stack: the pushes
/// and pops must leave the interpreter's registers, stack bytes and count, and the fault must land
/// on the very push that touches the unmapped page.
/// </summary>
public partial class JitDifferentialTests
{
    /// <summary>The loop: a frame of six saved registers, 24 bytes of locals, a 16-bit push and pop; rsp - 200 each iteration.</summary>
    private static byte[] FrameLoop()
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.push(rbx); a.push(rbp); a.push(r12); a.push(r13); a.push(r14); a.push(r15);
        a.sub(rsp, 24);
        a.mov(__qword_ptr[rsp + 8], rax);
        a.mov(rdx, __qword_ptr[rsp + 8]);
        a.add(rdx, __qword_ptr[rsp + 40]);      // the saved r13
        a.mov(__dword_ptr[rsp + 16], edx);
        a.add(rsp, 24);
        a.pop(r15); a.pop(r14); a.pop(r13); a.pop(r12); a.pop(rbp); a.pop(rbx);
        a.add(rax, rdx);
        a.inc(r13);
        a.push(ax);
        a.pop(cx);
        a.sub(rsp, 200);
        a.dec(rdi);
        a.jne(top);
        a.int3();
        return CpuFixture.Assembled(a);
    }

    /// <summary>
    /// 300 iterations stay on the 64 KiB stack (crossing a page every 20 or so); 400 run off it, and
    /// the first push below the stack faults, with rsp as it was before that push.
    /// </summary>
    [Theory]
    [InlineData(300, false)]
    [InlineData(400, true)]
    public void FramesPushedAndPoppedAsGroupsMatchTheInterpreter(ulong iterations, bool runsOff)
    {
        var regs = new ulong[16];
        for (int r = 0; r < 16; r++) regs[r] = 0x1111_1111_1111_1111UL * (ulong)(r + 1);
        regs[4] = CpuFixture.StackTop;
        regs[7] = iterations;
        var p = new Program(FrameLoop(), regs, 0x202, new byte[16], "frames");
        var interp = RunOnce(ExecutionTier.Interp, p);
        var jit = RunOnce(ExecutionTier.Jit, p);
        Assert.Null(interp.Diff(jit));
        if (runsOff)
        {
            // rsp = 0x7effc0 after 328 iterations: the next frame's first push, at 0x7effb8, faults.
            Assert.Equal($"PageFault at 0x{CpuFixture.CodeBase:x} addr 0x{CpuFixture.StackTop - 0x10000 - 72:x}", jit.Trap);
            Assert.Equal(CpuFixture.StackTop - 328 * 200, jit.Regs[4]);
        }
        else Assert.StartsWith("Breakpoint", jit.Trap);
        Assert.True(jit.Entries < 100, $"compiled code was entered {jit.Entries} times: the frame's accesses left it");
    }
}
