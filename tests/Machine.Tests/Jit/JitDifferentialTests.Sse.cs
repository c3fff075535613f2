using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// SSE in compiled code against the interpreter: a floating-point loop of the instructions gcc emits
/// for numeric C (scalar and packed arithmetic, moves to and from memory and general registers, a
/// compare that branches, conversions, pmovmskb, pinsrw and pextrw; and fxsave64/fxrstor64, run
/// through their handlers, writing an XMM register in between) ends with the same XMM registers, general registers, flags,
/// memory and count; and its faults, a page fault on a scalar load and #GP on a misaligned aligned
/// load, leave from inside the compiled loop where the interpreter raises them.
/// </summary>
public partial class JitDifferentialTests
{
    /// <summary>Where the loop's misaligned load happens (Never, or once rdi drops below 90), and whether its scalar load walks off the data pages.</summary>
    public enum SseLoopEnd { Completes, PageFault, Misaligned }

    /// <summary>
    /// <c>top: movsd xmm0,[rbx]; mulsd xmm0,[rbx+8]; addsd xmm2,xmm0; ... sub rdi,1; jne top; int3</c>
    /// over data holding ordinary doubles (and a few NaNs and infinities), rdi iterations; rbx steps by
    /// <paramref name="rbxStep"/>; r10 + r11 is the aligned load's address (r11 = 8 once rdi &lt; 90 when
    /// <paramref name="misalign"/>).
    /// </summary>
    private static Program SseLoop(int rbxStep, bool misalign, int iterations)
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        var skip = a.CreateLabel();
        a.Label(ref top);
        a.movsd(xmm0, __qword_ptr[rbx]);          // page fault when rbx leaves the data pages
        a.mulsd(xmm0, __qword_ptr[rbx + 8]);
        a.addsd(xmm2, xmm0);
        a.movapd(xmm3, xmm2);
        a.sqrtsd(xmm4, xmm3);
        a.cvtsi2sd(xmm5, rax);
        a.divsd(xmm5, xmm4);
        a.xor(r11d, r11d);
        if (misalign) { a.cmp(rdi, 90); a.setb(r11b); a.shl(r11d, 3); }
        a.movapd(xmm7, __xmmword_ptr[r10 + r11]);   // #GP when r10 + r11 is not 16-byte aligned
        a.addpd(xmm6, xmm7);
        a.pinsrw(xmm6, eax, 3);                     // compiled: one word of xmm6 from a general register
        a.pextrw(r9d, xmm6, 2);                     // compiled: and one back
        a.add(r8, r9);
        a.lea(r12, __[rsp - 0x400]);
        a.fxsave64(__[r12]);                        // run through their handlers: fxrstor64 writes xmm6 in the
        a.mov(__qword_ptr[r12 + 256 + 8], rax);     // register file (its high quadword, changed in the image)
        a.fxrstor64(__[r12]);
        a.mulpd(xmm6, __xmmword_ptr[r10 + 16]);     // compiled: must see fxrstor64's xmm6
        a.pmovmskb(r9d, xmm6);                      // compiled: the sign bits into a general register
        a.add(r8, r9);
        a.minsd(xmm6, xmm2);
        a.movss(xmm8, __dword_ptr[rbx + 4]);
        a.cvtss2sd(xmm8, xmm8);
        a.addss(xmm9, __dword_ptr[rbx + 12]);
        a.ucomisd(xmm2, xmm5);
        a.ja(skip);
        a.pxor(xmm10, xmm10);
        a.subsd(xmm10, xmm2);
        a.Label(ref skip);
        a.cvttsd2si(rdx, xmm2);
        a.add(rax, rdx);
        a.movq(rsi, xmm4);
        a.xor(rax, rsi);
        a.movq(xmm11, rax);
        a.unpcklpd(xmm11, xmm6);
        a.movups(__xmmword_ptr[rsp - 40], xmm11);
        a.movsd(__qword_ptr[rsp - 56], xmm5);
        a.movdqu(xmm12, __xmmword_ptr[rsp - 48]);
        a.paddq(xmm13, xmm12);
        a.pshufd(xmm14, xmm13, 0x4E);
        a.comiss(xmm8, xmm9);
        a.setp(cl);
        a.movzx(ecx, cl);
        a.add(r8, rcx);
        a.add(rbx, rbxStep);
        a.sub(rdi, 1);
        a.jne(top);
        a.int3();

        var g = new Random(1234);
        var data = new byte[CpuFixture.DataSize];
        for (int i = 0; i + 8 <= data.Length; i += 8)
        {
            double d = g.Next(20) switch { 0 => double.NaN, 1 => double.PositiveInfinity, 2 => -0.0, _ => (g.NextDouble() - 0.3) * 1000 };
            BitConverter.TryWriteBytes(data.AsSpan(i), d);
        }
        var regs = new ulong[16];
        regs[0] = 12345;
        regs[3] = CpuFixture.DataBase;
        regs[4] = CpuFixture.StackTop - 0x100;
        regs[7] = (ulong)iterations;
        regs[10] = CpuFixture.DataBase + 0x400;
        return new Program(CpuFixture.Assembled(a), regs, 0x202, data, "");
    }

    [Theory]
    [InlineData(SseLoopEnd.Completes)]
    [InlineData(SseLoopEnd.PageFault)]
    [InlineData(SseLoopEnd.Misaligned)]
    public void AFloatingPointLoopMatchesTheInterpreter(SseLoopEnd end)
    {
        var p = end switch
        {
            SseLoopEnd.PageFault => SseLoop(rbxStep: 0x1000, misalign: false, iterations: 100),   // the 17th iteration's load faults
            SseLoopEnd.Misaligned => SseLoop(rbxStep: 16, misalign: true, iterations: 100),       // the 12th iteration's movapd: #GP
            _ => SseLoop(rbxStep: 16, misalign: false, iterations: 200),
        };
        foreach (int threshold in new[] { 1, 3 })
        {
            var interp = RunOnce(ExecutionTier.Interp, p);
            var jit = RunOnce(ExecutionTier.Jit, p, threshold);
            Assert.Null(interp.Diff(jit));
            Assert.True(jit.Compiled >= 1, "the loop was compiled");
            Assert.True(jit.Entries >= 1, "compiled code ran");
            switch (end)
            {
                case SseLoopEnd.PageFault:
                    Assert.StartsWith("PageFault", jit.Trap);
                    Assert.Equal(CpuFixture.DataBase + 0x10000, jit.Regs[3]);
                    break;
                case SseLoopEnd.Misaligned:
                    Assert.StartsWith("GeneralProtection", jit.Trap);
                    Assert.Equal(89UL, jit.Regs[7]);
                    break;
                default:
                    Assert.StartsWith("Breakpoint", jit.Trap);
                    Assert.Equal(0UL, jit.Regs[7]);
                    break;
            }
        }
    }
}
