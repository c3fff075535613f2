using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// rep stos and rep movs inside compiled loops (gcc's zeroing and copying of locals and structs):
/// they run through their handler from compiled code, and the tiers agree on every register, the
/// stack and data, and the count; a copy that runs off the data pages faults halfway with the
/// registers describing the bytes already copied; a count above one rep chunk (which the handler
/// would yield in the middle of) leaves for the interpreter.
/// </summary>
public partial class JitDifferentialTests
{
    public enum StringLoopEnd { Completes, FaultHalfway, LongCount }

    /// <summary>
    /// <c>top: zero 48 qwords on the stack (rep stosq); store one; copy <paramref name="copy"/> bytes from
    /// [rbx + <paramref name="sourceOffset"/>] (rep movsb); add from the copy; rbx += 0x1000; sub r15, 1;
    /// jne top; int3</c>.
    /// </summary>
    private static Program StringLoop(int copy, int sourceOffset, int iterations)
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.lea(rdi, __[rsp - 0x300]);
        a.mov(ecx, 48);
        a.xor(eax, eax);
        a.rep.stosq();
        a.mov(__qword_ptr[rsp - 0x300 + 8 * 5], rdx);
        a.lea(rsi, __[rbx + sourceOffset]);
        a.lea(rdi, __[rsp - 0x3000]);
        a.mov(ecx, copy);
        a.rep.movsb();
        a.add(rdx, __qword_ptr[rsp - 0x3000 + 16]);
        a.add(rdx, __qword_ptr[rsp - 0x300 + 8 * 5]);
        a.add(rbx, 0x1000);
        a.sub(r15, 1);
        a.jne(top);
        a.int3();

        var g = new Random(99);
        var data = new byte[CpuFixture.DataSize];
        g.NextBytes(data);
        var regs = new ulong[16];
        regs[2] = 7;
        regs[3] = CpuFixture.DataBase;
        regs[4] = CpuFixture.StackTop - 0x100;
        regs[15] = (ulong)iterations;
        return new Program(CpuFixture.Assembled(a), regs, 0x202, data, "");
    }

    [Theory]
    [InlineData(StringLoopEnd.Completes)]
    [InlineData(StringLoopEnd.FaultHalfway)]
    [InlineData(StringLoopEnd.LongCount)]
    public void RepStringsInACompiledLoopMatchTheInterpreter(StringLoopEnd end)
    {
        var p = end switch
        {
            StringLoopEnd.FaultHalfway => StringLoop(copy: 200, sourceOffset: 0xF80, iterations: 100),   // the 16th copy crosses into the unmapped page
            StringLoopEnd.LongCount => StringLoop(copy: Lab.Machine.Cpu.Cpu.RepChunk + 904, sourceOffset: 0, iterations: 10),
            _ => StringLoop(copy: 200, sourceOffset: 0x10, iterations: 12),
        };
        foreach (int threshold in new[] { 1, 3 })
        {
            var interp = RunOnce(ExecutionTier.Interp, p);
            var jit = RunOnce(ExecutionTier.Jit, p, threshold);
            Assert.Null(interp.Diff(jit));
            Assert.True(jit.Compiled >= 1, "the loop was compiled");
            Assert.True(jit.Entries >= 1, "compiled code ran");
            if (end == StringLoopEnd.FaultHalfway)
            {
                Assert.StartsWith("PageFault", jit.Trap);
                Assert.Equal(200UL - 0x80, jit.Regs[1]);   // rcx: the 0x80 bytes before the page end were copied
            }
            else Assert.StartsWith("Breakpoint", jit.Trap);
        }
    }
}
