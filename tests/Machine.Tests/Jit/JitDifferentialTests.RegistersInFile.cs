using Iced.Intel;
using Lab.Machine.Cpu;
using Xunit;
using static Iced.Intel.AssemblerRegisters;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Registers a region uses only outside its hottest loops live in the register file, not in locals
/// (RegionCompiler.ColdRegisters.cs): every way such a register is read or written (8, 16, 32 and 64
/// bits, the high bytes, push and pop, an address's base, a handler's operand, a store's source, a
/// fault with it written) must leave what the interpreter leaves.
/// </summary>
public partial class JitDifferentialTests
{
    /// <summary>
    /// Three nested loops: the inner two work in rax, rcx, rdx, rsi, rdi and r8..r11 (nine registers,
    /// as a sort's inner loops do); the outer loop alone uses rbx, rbp and r12..r15 (a benchmark
    /// harness's counter and hash), in every form. Run to the end, and with the outer loop's last
    /// pass loading through r15 from an unmapped page: both tiers end alike, and the region kept
    /// outer registers in the file.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void OuterLoopRegistersKeptInTheFileStayExact(bool fault)
    {
        var a = new Assembler(64);
        Label outer = a.CreateLabel(), middle = a.CreateLabel(), inner = a.CreateLabel(), noFault = a.CreateLabel();
        a.Label(ref outer);
        a.add(r13, r12);                        // 64-bit read and write
        a.mov(r14w, r12w);                      // 16-bit merge
        a.movzx(r15d, r13b);                    // 32-bit write from a low byte
        a.xor(ebp, r14d);                       // 32-bit ALU
        a.mov(bh, bl);                          // a high byte written (rbx's bits 8..15)
        a.add(bh, 3);
        a.and(rbx, -0x100);
        a.or(rbx, 0x40);                        // rbx back to the data page (its byte 1 is kept below the page's size)
        a.and(rbx, 0x600FFF);
        a.push(r13);
        a.pop(r14);                             // push and pop of outer registers
        a.mov(__qword_ptr[rbx + 8], r13);       // an outer register stored, rbx the base
        a.lea(r15, __[rbx + r12 * 8 + 0x100]);
        a.add(__qword_ptr[r15], rbp);           // an outer register as a base and a source
        a.xchg(__qword_ptr[rbx + 16], r13);     // run by its handler: r13 read and written there
        a.shld(r14, r15, 5);                    // a handler op of two outer registers
        if (fault)
        {
            a.cmp(r12, 2);
            a.jne(noFault);
            a.mov(r15, 0x640000);
            a.mov(rax, __qword_ptr[r15 + 0x800]);   // unmapped: the trap sees the outer registers as written
        }
        a.Label(ref noFault);
        a.mov(r8d, 6);
        a.Label(ref middle);
        a.mov(ecx, 12);
        a.Label(ref inner);
        a.mov(eax, ecx);
        a.and(eax, 31);
        a.mov(edx, __dword_ptr[rsi + rax * 4]);
        a.lea(edi, __[rdx + rcx * 2]);
        a.imul(r9d, edi, 7);
        a.add(r10, r9);
        a.xor(r11, r10);
        a.rol(r11, 3);
        a.mov(__dword_ptr[rsi + rax * 4], r11d);
        a.dec(ecx);
        a.jne(inner);
        a.dec(r8d);
        a.jne(middle);
        a.dec(r12);
        a.jne(outer);
        a.int3();
        var regs = new ulong[16];
        regs[3] = CpuFixture.DataBase;          // rbx
        regs[4] = CpuFixture.StackTop;          // rsp
        regs[5] = 0x1234_5678_9ABC_DEF0;        // rbp
        regs[6] = CpuFixture.DataBase + 0x400;  // rsi: the inner loops' table
        regs[12] = 40;                          // r12: outer passes
        regs[13] = 0xFEDC_BA98_7654_3210;
        var data = new byte[0x1000];
        new Random(48).NextBytes(data);
        var p = new Program(CpuFixture.Assembled(a), regs, 0x202, data, "");
        var interp = RunOnce(ExecutionTier.Interp, p);
        var jit = RunOnce(ExecutionTier.Jit, p, jitThreshold: 8, promoteAfter: 0);   // optimised at once: quick code keeps every register in a local
        Assert.Null(interp.Diff(jit));
        Assert.Equal(fault ? "PageFault" : "Breakpoint", interp.Trap.Split(' ')[0]);
        Assert.True(jit.InFile > 0, $"no register was kept in the file ({jit.Compiled} regions compiled)");
    }
}
