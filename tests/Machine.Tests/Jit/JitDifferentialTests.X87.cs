using Iced.Intel;
using Lab.Machine.Cpu;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// x87 instructions in compiled code run through their handlers with only their address's registers
/// written to the register file, and nothing read back after them (RegionCompiler.X87Only): the
/// flags of an earlier compare, the registers and the XMM registers stay in their locals across them,
/// and a handler that faults must still leave what the interpreter leaves.
/// </summary>
public partial class JitDifferentialTests
{
    /// <summary>
    /// A loop computes a long-double expression per element between a compare and the setcc and
    /// cmov that read its flags, with an SSE value live across it; fcomi and fcmov (which do touch
    /// EFLAGS) run in the same blocks. With <paramref name="fault"/>, the seventh pass's fourth x87 op
    /// loads from an unmapped page: the trap sees the compare's flags and every register.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void X87OpsBetweenAFlagSetterAndItsReaderStayExact(bool fault)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel();
        a.mov(ecx, 24);
        a.mov(r8, fault ? 0x640000UL : CpuFixture.DataBase);
        a.Label(ref top);
        a.mov(eax, ecx);
        a.and(eax, 15);
        a.movq(xmm1, rcx);                         // an XMM register live across the x87 ops
        a.mov(r10, rsi);
        a.cmp(ecx, 18);
        a.cmove(r10, r8);                          // the seventh pass's operand: unmapped with a fault
        a.cmp(ecx, 13);                            // its flags wait in registers
        a.fld(__qword_ptr[rsi + rax * 8]);
        a.fmul(__qword_ptr[rsi + rax * 8 + 8]);
        a.fld(__tword_ptr[rsi + 0x200]);
        a.fadd(__qword_ptr[r10 + 0x218]);
        a.faddp(st1, st0);
        a.fild(__dword_ptr[rsi + rax * 4 + 0x100]);
        a.fdivp(st1, st0);
        a.fld(st0);
        a.fstp(__tword_ptr[rbx + rax * 16]);
        a.setb(dl);                                // the compare's CF, read after nine x87 ops
        a.cmovg(r9, rcx);                          // and its ZF, SF and OF
        a.fld(__qword_ptr[rsi + 0x210]);
        a.fcomip(st0, st1);                        // sets ZF, PF and CF
        a.fcmovb(st0, st0);                        // reads CF
        a.fstp(__qword_ptr[rbx + rax * 8 + 0x400]);
        a.seta(r11b);
        a.movq(rdi, xmm1);
        a.add(r12, rdi);
        a.movzx(edx, dl);
        a.add(r13, rdx);
        a.add(r14, r9);
        a.add(r15, r11);
        a.dec(ecx);
        a.jne(top);
        a.int3();
        var regs = new ulong[16];
        regs[3] = CpuFixture.DataBase + 0x800;     // rbx: results
        regs[4] = CpuFixture.StackTop;
        regs[6] = CpuFixture.DataBase;             // rsi: operands
        var data = new byte[0x1000];
        var rng = new Random(49);
        for (int k = 0; k < 32; k++) BitConverter.TryWriteBytes(data.AsSpan(8 * k), rng.NextDouble() * 200 - 100);
        for (int k = 0; k < 16; k++) BitConverter.TryWriteBytes(data.AsSpan(0x100 + 4 * k), rng.Next(-1000, 1000) | 1);
        BitConverter.TryWriteBytes(data.AsSpan(0x200), rng.NextInt64() | long.MinValue);   // a normal 80-bit value:
        BitConverter.TryWriteBytes(data.AsSpan(0x208), (ushort)0x4001);                    // integer bit set, exponent 2
        BitConverter.TryWriteBytes(data.AsSpan(0x210), 3.5);
        BitConverter.TryWriteBytes(data.AsSpan(0x218), -0.25);
        var p = new Program(CpuFixture.Assembled(a), regs, 0x202, data, "");
        var interp = RunOnce(ExecutionTier.Interp, p);
        foreach (int? promote in new int?[] { 0, null })
        {
            var jit = RunOnce(ExecutionTier.Jit, p, jitThreshold: 2, promoteAfter: promote);
            Assert.Null(interp.Diff(jit));
            Assert.True(jit.Compiled > 0, "nothing was compiled");
        }
        Assert.Equal(fault ? "PageFault" : "Breakpoint", interp.Trap.Split(' ')[0]);
    }
}
