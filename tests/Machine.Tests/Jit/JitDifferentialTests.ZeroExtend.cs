using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// Registers known to hold a 32-bit value zero-extended (RegionCompiler.ZeroExtend.cs) are read at 32
/// bits with no truncation. A register wrongly thought so leaks its upper half into a 32-bit shift
/// right, a 32-bit compare's flags or a 32-bit division. Each case writes eax in a way that may leave
/// rax's upper half set (or clears it), in the block before the reads, in the same block, or on one of
/// two ways into them; both tiers must end alike.
/// </summary>
public partial class JitDifferentialTests
{
    [Theory]
    [InlineData("shift by zero")]
    [InlineData("bsf of zero")]
    [InlineData("cmov not taken")]
    [InlineData("byte merge")]
    [InlineData("word merge")]
    [InlineData("64-bit add")]
    [InlineData("64-bit or")]
    [InlineData("64-bit lea")]
    [InlineData("64-bit imul")]
    [InlineData("64-bit not")]
    [InlineData("64-bit shift")]
    [InlineData("sign extension")]
    [InlineData("high byte sign-extended")]
    [InlineData("pextrw")]
    [InlineData("pop")]
    [InlineData("xchg")]
    [InlineData("32-bit add")]
    [InlineData("one way of two")]
    [InlineData("same block")]
    public void ThirtyTwoBitReadsOfRegistersWrittenEveryWayMatchTheInterpreter(string writer)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), reads = a.CreateLabel(), other = a.CreateLabel();
        a.Label(ref top);
        a.mov(eax, 7);                     // rax zero-extended here ...
        a.test(ecx, 1);
        a.jne(other);                      // (a block boundary before the writer)
        a.Label(ref other);
        a.mov(rax, r8);                    // ... and not here: upper half set
        switch (writer)
        {
            case "shift by zero": a.shl(eax, 0); break;
            case "bsf of zero": a.xor(edx, edx); a.bsf(eax, edx); break;
            case "cmov not taken": a.cmp(edx, edx); a.cmovne(eax, edx); break;
            case "byte merge": a.mov(al, dl); break;
            case "word merge": a.mov(ax, dx); break;
            case "64-bit add": a.mov(eax, 9); a.add(rax, r8); break;
            case "64-bit or": a.mov(eax, 9); a.or(rax, r8); break;
            case "64-bit lea": a.mov(eax, 9); a.lea(rax, __[r8 + rax * 2 + 1]); break;
            case "64-bit imul": a.mov(eax, 9); a.imul(rax, r8); break;
            case "64-bit not": a.mov(eax, 9); a.not(rax); break;
            case "64-bit shift": a.mov(eax, 9); a.shl(rax, 40); break;
            case "sign extension": a.mov(eax, 9); a.movsxd(rax, edx); break;
            case "high byte sign-extended": a.movsx(eax, dh); break;
            case "pextrw": a.movq(xmm1, r8); a.pextrw(eax, xmm1, 3); break;
            case "pop": a.mov(eax, 9); a.push(r8); a.pop(rax); break;
            case "xchg": a.xchg(eax, edx); break;
            case "32-bit add": case "same block": a.add(eax, edx); break;
            case "one way of two":
                {
                    // Zero-extended on the odd passes only, then both ways join at the reads.
                    var even = a.CreateLabel();
                    a.test(ecx, 1);
                    a.je(even);
                    a.mov(eax, edx);
                    a.jmp(reads);
                    a.Label(ref even);
                    a.add(rax, r10);
                    break;
                }
        }
        if (writer != "same block") a.jmp(reads);
        a.Label(ref reads);
        a.mov(esi, eax);                   // a 32-bit copy: zero-extends whatever eax held
        a.shr(eax, 4);                     // the upper half must not shift in
        a.add(r9, rax);
        a.cmp(esi, r11d);                  // flags of 32-bit operands
        a.adc(r9, 0);
        a.mov(eax, esi);
        a.xor(edx, edx);
        a.mov(edi, 3);
        a.div(edi);                        // edx:eax / 3 at 32 bits
        a.add(r9, rdx);
        a.add(r12, rsi);
        a.dec(ecx);
        a.jne(top);
        a.int3();
        var regs = new ulong[16];
        regs[1] = 40;                                  // rcx: passes
        regs[2] = 0x8000_0001_9ABC_DEF0;               // rdx
        regs[4] = CpuFixture.StackTop;
        regs[8] = 0xF0F0_F0F0_1234_5678;               // r8: a value with its upper half set
        regs[10] = 0x0000_0003_0000_0005;              // r10
        regs[11] = 0x1234_5679;                        // r11
        var jit = RunOnBothTiersAlike(a, regs, jitThreshold: 2);
        Assert.True(jit.Entries > 0, "no compiled code ran");
    }
}
