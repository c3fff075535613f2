using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using Lab.Machine.Tests.Differential;
using Xunit;

namespace Lab.Machine.Tests.Jit;

/// <summary>Flag states that reach a block along its edges.</summary>
public partial class JitDifferentialTests
{
    /// <summary>
    /// An inner loop whose head is a load (memcpy's <c>movzbl (%rsi,%rcx)</c>) is reached from before
    /// the loop and from its back edge, each ending with a compare whose state waits in its registers;
    /// the load faults on the inner loop's first pass (the state is the one before the loop) or its
    /// third (the back edge's compare), on one outer pass near the end. Compiled from the outer loop's
    /// head, the inner head is no entry of the region: each edge's compare, whose state waits in its
    /// registers, reaches the head's exit through the flag locals, and the trap's flags must be the
    /// interpreter's, for compares of 32- and 64-bit registers and immediates and tests. (Stop 31
    /// tried an edge number naming the setter instead of the copy: edn 8% slower, dropped.)
    /// </summary>
    [Theory]
    [InlineData("cmp32", 0), InlineData("cmp32", 2), InlineData("cmp64", 2), InlineData("cmpimm", 2)]
    [InlineData("test32", 0), InlineData("test32", 2), InlineData("cmp64", 1)]
    public void ALoopHeadsLoadFaultingAfterEitherEdgeMatchesTheInterpreter(string compare, int faultingPass)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), inner = a.CreateLabel(), skip = a.CreateLabel();
        a.Label(ref top);
        a.mov(edx, 3);                                   // inner passes; 1 on the first two outer passes, so the
        a.cmp(ecx, 38);                                  // inner head has run (its block exists) but is not hot
        a.cmova(edx, r13d);                              // when the outer head compiles, with it as a member
        a.xor(esi, esi);
        a.test(rdx, rdx);                                // before the loop: the state the first pass's fault sees
        a.je(skip);
        a.Label(ref inner);
        a.mov(r9, __qword_ptr[r14 + rsi * 8]);           // the loop head: faults where r14 points near the end of the data
        a.add(r8, r9);
        a.add(esi, 1);
        switch (compare)
        {
            case "cmp32": a.cmp(esi, edx); break;
            case "cmp64": a.cmp(rsi, rdx); break;
            case "cmpimm": a.cmp(esi, 3); break;
            default: a.test(esi, 3); break;              // nonzero for esi = 1..3 (edx unused: 4 passes, 1 at first)
        }
        a.jne(inner);
        a.Label(ref skip);
        EndTheOuterLoopAndFaultOnInnerPass(a, top, faultingPass, compare);
    }

    /// <summary>
    /// Closes the outer loop of <see cref="ALoopHeadsLoadFaultingAfterEitherEdgeMatchesTheInterpreter"/>
    /// and its kind (an inner loop that loads from [r14 + rsi * 8], with ecx outer passes, edx inner
    /// passes and 1 in r13), runs it on both tiers and asserts that they agree and the load faulted.
    /// r14 moves to r15 on the third-last outer pass: both in the data's last page (one access window),
    /// r15 so close to its end that the load faults on inner pass <paramref name="faultingPass"/>.
    /// </summary>
    private static void EndTheOuterLoopAndFaultOnInnerPass(Assembler a, Label top, int faultingPass, string name)
    {
        a.cmp(ecx, 4);
        a.cmove(r14, r15);
        a.dec(ecx);
        a.jne(top);
        a.int3();
        var regs = new ulong[16];
        regs[1] = 40;                                    // rcx: outer passes
        regs[13] = 1;
        regs[4] = CpuFixture.StackTop;
        regs[14] = CpuFixture.DataBase + CpuFixture.DataSize - 0x100;
        regs[15] = CpuFixture.DataBase + CpuFixture.DataSize - 8 * (ulong)faultingPass;
        var p = new Program(CpuFixture.Assembled(a), regs, 0x202, new byte[16], $"{name}, fault on pass {faultingPass}\n");
        var interp = RunOnce(ExecutionTier.Interp, p);
        var jit = RunOnce(ExecutionTier.Jit, p, 2);
        Assert.Null(interp.Diff(jit));
        Assert.True(jit.Compiled > 0, "the loop was not compiled");
        Assert.StartsWith("PageFault", interp.Trap);
    }

    /// <summary>
    /// A loop as gcc rotates it: its condition tested before the loop and again at its bottom, both
    /// compares whose state waits in their registers, and a head that begins with a load (faulting on
    /// the first pass, whose state is the compare before the loop, or the third, the bottom's). When
    /// both compares read the same registers (or immediate), the head reads the state from them
    /// whichever edge came (PlanKnownSetters, SameState); when they differ in a register or the
    /// immediate, it must come through the flag locals. "toptested": a loop tested at its top, whose
    /// head's compare also ends the block before it (the code before falls into the head), and whose
    /// body begins with the load. The trap's flags are the interpreter's.
    /// </summary>
    [Theory]
    [InlineData("same32", 0), InlineData("same32", 2), InlineData("same64", 2), InlineData("sameimm", 0)]
    [InlineData("sametest", 2), InlineData("otherreg", 0), InlineData("otherreg", 2), InlineData("otherimm", 0)]
    [InlineData("otherimm", 2), InlineData("toptested", 0), InlineData("toptested", 2)]
    public void ARotatedLoopsHeadLoadFaultingAfterEitherCompareMatchesTheInterpreter(string compares, int faultingPass)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), inner = a.CreateLabel(), even = a.CreateLabel(), skip = a.CreateLabel();
        a.Label(ref top);
        a.mov(edx, 3);                                   // inner passes; 1 on the first two outer passes, so the
        a.cmp(ecx, 38);                                  // inner head has run but is no entry of the region
        a.cmova(edx, r13d);                              // compiled from the outer head
        a.lea(r10d, __dword_ptr[rdx + 1]);
        a.xor(esi, esi);
        void Compare(bool bottom)
        {
            switch (compares)
            {
                case "same32": case "toptested": a.cmp(esi, edx); break;
                case "same64": a.cmp(rsi, rdx); break;
                case "sameimm": a.cmp(esi, 3); break;
                case "sametest": a.test(edx, edx); break;
                case "otherreg": if (bottom) a.cmp(esi, r10d); else a.cmp(esi, edx); break;   // r10d = edx + 1: PF differs
                default: a.cmp(esi, bottom ? 4 : 3); break;
            }
        }
        if (compares == "toptested")
        {
            a.Label(ref inner);
            Compare(bottom: false);
            a.jge(skip);
        }
        else
        {
            Compare(bottom: false);
            if (compares == "sametest") a.je(skip); else a.jge(skip);
            a.Label(ref inner);
        }
        a.mov(r9, __qword_ptr[r14 + rsi * 8]);           // faults where r14 points near the end of the data
        a.add(r8, r9);
        a.test(r9b, 1);                                  // (never odd) a block of its own for the loop's bottom
        a.je(even);
        a.add(r11, 1);
        a.Label(ref even);
        a.add(esi, 1);
        if (compares == "toptested") a.jmp(inner);
        else
        {
            if (compares == "sametest") a.lea(edx, __dword_ptr[rdx - 1]);   // no flags: the test sets them
            Compare(bottom: true);
            if (compares == "sametest") a.jne(inner); else a.jl(inner);
        }
        a.Label(ref skip);
        EndTheOuterLoopAndFaultOnInnerPass(a, top, faultingPass, compares);
    }

    /// <summary>
    /// A block whose one predecessor ends with <c>cmp; jl</c> reads the compare from its registers
    /// (PlanKnownSetters); when it begins with a shift by CL, a zero count keeps that state, so the
    /// shift must first copy it into the flag locals, where the setcc and adc after the shift read it.
    /// With counts 0 to 3 in turn and operands from a generator, the state matches the interpreter's.
    /// </summary>
    [Fact]
    public void AShiftByClOfZeroAfterACompareInThePredecessorKeepsTheCompare()
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), skip = a.CreateLabel();
        a.Label(ref top);
        a.imul(eax, eax, 0x2545F491);                    // a new operand each pass, both signs
        a.add(eax, 0x3C6EF35F);
        a.mov(ebx, eax);
        a.ror(ebx, 7);
        a.mov(ecx, esi);
        a.and(ecx, 3);
        a.cmp(eax, ebx);
        a.jl(skip);                                      // ends the block: the compare waits in eax, ebx
        a.shl(edx, cl);                                  // by 0 on every fourth pass
        a.setc(r8b);
        a.seto(r9b);
        a.sete(r10b);
        a.sets(r11b);
        a.adc(r12, r8);
        a.add(r13, r9);
        a.Label(ref skip);
        a.add(r13, r11);
        a.dec(esi);
        a.jne(top);
        a.int3();
        var regs = new ulong[16];
        regs[0] = 0x1234_5678; regs[2] = 0x8765_4321;
        regs[4] = CpuFixture.StackTop;
        regs[6] = 200;                                   // rsi: passes
        var jit = RunOnBothTiersAlike(a, regs, jitThreshold: 2);
        Assert.True(jit.Compiled > 0, "the loop was not compiled");
    }

    /// <summary>
    /// A block reached from eight predecessors, each ending with a different compare or test (8, 16,
    /// 32 and 64 bits, registers and immediates, equal operands on some passes, zero, negative and
    /// positive results), has a flag state known only at run time; its sixteen setcc evaluate every
    /// condition on it (JitHelpers.Condition's compares for cmp and test states). Each pass's bytes
    /// fold into r12: the interpreter's sums.
    /// </summary>
    [Fact]
    public void EveryConditionOnAStateFromSeveralPredecessorsMatchesTheInterpreter()
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), differ = a.CreateLabel(), join = a.CreateLabel();
        var path = new Label[8];
        for (int k = 0; k < path.Length; k++) path[k] = a.CreateLabel();
        a.Label(ref top);
        a.imul(eax, eax, 0x2545F491);                    // a new operand each pass, both signs
        a.add(eax, 0x3C6EF35F);
        a.mov(ebx, eax);
        a.ror(ebx, 11);
        a.test(esi, 7);
        a.jne(differ);
        a.mov(ebx, eax);                                 // every eighth pass: equal operands
        a.Label(ref differ);
        a.mov(edx, esi);
        a.and(edx, 7);
        for (int k = 0; k < 7; k++) { a.cmp(edx, k); a.je(path[k]); }
        a.jmp(path[7]);
        a.Label(ref path[0]); a.cmp(eax, ebx); a.jmp(join);
        a.Label(ref path[1]); a.cmp(al, bl); a.jmp(join);
        a.Label(ref path[2]); a.movsxd(r8, eax); a.movsxd(r9, ebx); a.cmp(r8, r9); a.jmp(join);
        a.Label(ref path[3]); a.test(ax, bx); a.jmp(join);
        a.Label(ref path[4]); a.cmp(bx, 0x1234); a.jmp(join);
        a.Label(ref path[5]); a.test(ebx, 0); a.jmp(join);                       // zero
        a.Label(ref path[6]); a.movsxd(r8, eax); a.test(r8, r8); a.jmp(join);     // either sign
        a.Label(ref path[7]); a.test(bl, 0x80); a.jmp(join);
        a.Label(ref join);
        var conditions = new Action<AssemblerMemoryOperand>[]
        {
            m => a.seto(m), m => a.setno(m), m => a.setb(m), m => a.setae(m), m => a.sete(m), m => a.setne(m),
            m => a.setbe(m), m => a.seta(m), m => a.sets(m), m => a.setns(m), m => a.setp(m), m => a.setnp(m),
            m => a.setl(m), m => a.setge(m), m => a.setle(m), m => a.setg(m),
        };
        for (int cc = 0; cc < 16; cc++) conditions[cc](__byte_ptr[rdi + cc]);
        a.imul(r12, r12, 31);
        a.add(r12, __qword_ptr[rdi]);
        a.rol(r12, 7);
        a.xor(r12, __qword_ptr[rdi + 8]);
        a.dec(esi);
        a.jne(top);
        a.int3();
        var regs = new ulong[16];
        regs[0] = 0x1234_5678;
        regs[4] = CpuFixture.StackTop;
        regs[6] = 400;                                   // rsi: passes
        regs[7] = CpuFixture.DataBase;
        var jit = RunOnBothTiersAlike(a, regs, jitThreshold: 2);
        Assert.True(jit.Compiled > 0, "the loop was not compiled");
    }

    /// <summary>
    /// A register op whose flags only a fault sees: add, sub, and, or, xor of two registers (8 to 64
    /// bits) or of a register and an immediate, then a load from [r14] (unmapped on the third-last
    /// pass), then an op that sets the flags again. Compiled code keeps the op's flag state for the
    /// load's fault path alone (an add or sub of an immediate in its register, FlagUse.StateAtExit;
    /// the others in the flag locals). The trap's flags and registers are the interpreter's.
    /// </summary>
    [Theory]
    [InlineData("add64"), InlineData("sub32"), InlineData("add8"), InlineData("sub16"), InlineData("and32")]
    [InlineData("or64"), InlineData("xor8"), InlineData("xor32imm"), InlineData("and16imm"), InlineData("xor32self")]
    public void FlagsOfARegisterOpThatOnlyAFaultSeesMatchTheInterpreter(string setter)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel();
        a.Label(ref top);
        a.add(edx, unchecked((int)0x9E3779B9));          // operands that change every pass
        a.rol(rax, 13);
        switch (setter)
        {
            case "add64": a.add(rax, rdx); break;
            case "sub32": a.sub(eax, edx); break;
            case "add8": a.add(al, dl); break;
            case "sub16": a.sub(ax, dx); break;
            case "and32": a.and(eax, edx); break;
            case "or64": a.or(rax, rdx); break;
            case "xor8": a.xor(al, dl); break;
            case "xor32imm": a.xor(eax, unchecked((int)0x80000001)); break;
            case "and16imm": a.and(ax, unchecked((short)0x8001)); break;
            default: a.xor(eax, eax); a.add(rax, rdx); a.xor(eax, eax); break;
        }
        EndWithALoadThatFaults(a, top);
    }

    /// <summary>
    /// Ends a loop body with a load from [r14] (unmapped on the third-last pass) and an add that sets
    /// the flags again, runs it on both tiers (<see cref="LoopUntilR14Faults"/>, rax and rdx starting
    /// at values on both sides of the sign bits) and asserts that the load faulted.
    /// </summary>
    private static void EndWithALoadThatFaults(Assembler a, Label top)
    {
        a.mov(r9, __qword_ptr[r14]);
        a.add(r8, rax);
        var regs = new ulong[16];
        regs[0] = 0x8000_0000_7FFF_FF80; regs[2] = 0x7FFF_FFFF_8000_0080;
        Assert.StartsWith("PageFault", LoopUntilR14Faults(a, top, regs).Trap);
    }

    /// <summary>
    /// An ALU op with a memory destination whose write faults after its read succeeded (a read-only or
    /// copy-on-write page: the code page here, near the loop's end) leaves the flags as they were, as
    /// the interpreter does: compiled code that set them before its store left the op's own flags in
    /// the trap, and adc or sbb restarted after the kernel copied the page added the wrong carry. The
    /// destination alternates between the data and the stack page, so its window misses often and
    /// compiled code takes the TLB path itself rather than leaving for the interpreter at each miss.
    /// </summary>
    [Theory]
    [InlineData("add64"), InlineData("adc64"), InlineData("sbb32imm"), InlineData("sub8"), InlineData("or16imm")]
    [InlineData("and32"), InlineData("xor64imm"), InlineData("adc8imm")]
    public void AnAluToMemoryWhoseWriteFaultsLeavesTheFlagsAsTheInterpreter(string setter)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel();
        a.Label(ref top);
        a.xchg(r14, r13);
        a.add(edx, unchecked((int)0x9E3779B9));          // flags that change every pass
        switch (setter)
        {
            case "add64": a.add(__qword_ptr[r14], rdx); break;
            case "adc64": a.adc(__qword_ptr[r14], rdx); break;
            case "sbb32imm": a.sbb(__dword_ptr[r14], 0x1234); break;
            case "sub8": a.sub(__byte_ptr[r14], dl); break;
            case "or16imm": a.or(__word_ptr[r14], 0x101); break;
            case "and32": a.and(__dword_ptr[r14], edx); break;
            case "xor64imm": a.xor(__qword_ptr[r14], 0x55); break;
            default: a.adc(__byte_ptr[r14], 1); break;
        }
        a.mov(rax, __qword_ptr[r14]);
        a.add(r8, rax);
        var regs = new ulong[16];
        regs[2] = 0x7FFF_FFFF_8000_0080;
        regs[13] = CpuFixture.StackTop - 0x100;
        var interp = LoopUntilR14Faults(a, top, regs, faultAt: CpuFixture.CodeBase + 0x800);
        Assert.StartsWith("PageFault", interp.Trap);
    }

    /// <summary>
    /// A shift of a register by CL whose flags only a fault sees (qrduino's <c>sar %cl, %ebx; xor %bl,
    /// (%rdx)</c>): compiled code keeps its operand and count and computes its state at the exit alone
    /// (FlagUse.ShiftAtExit), or, for a zero count, leaves the state before it (an add's or an and's,
    /// still in the flag locals). The load after it faults on the third-last pass, with a count of
    /// 3 + <paramref name="countDelta"/> there (masked to the width's 5 or 6 bits); the trap's flags and
    /// registers are the interpreter's, for zero counts, counts within the width and beyond 8 and 16 bits.
    /// </summary>
    [Theory]
    [InlineData("shl", 4, 5, "add"), InlineData("shl", 4, -3, "add"), InlineData("sar", 8, -3, "and"), InlineData("sar", 8, 57, "add")]
    [InlineData("shr", 2, 10, "and"), InlineData("shl", 1, 9, "add"), InlineData("sar", 1, 2, "add"), InlineData("shr", 8, -3, "add")]
    [InlineData("shr", 4, 29, "and"), InlineData("shl", 2, -3, "and")]
    public void AShiftByClWhoseFlagsOnlyAFaultSeesMatchesTheInterpreter(string shift, int size, int countDelta, string before)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel();
        a.Label(ref top);
        a.add(edx, unchecked((int)0x9E3779B9));          // flags that change every pass
        if (before == "and") a.and(edx, unchecked((int)0x8000_00FF));
        a.rol(rax, 13);                                  // an operand that changes every pass
        a.mov(r10, rcx);
        a.lea(ecx, __[rcx + countDelta]);
        AssemblerRegister64 d64 = rax;
        switch ((shift, size))
        {
            case ("shl", 1): a.shl(al, cl); break;
            case ("shl", 2): a.shl(ax, cl); break;
            case ("shl", 4): a.shl(eax, cl); break;
            case ("shr", 2): a.shr(ax, cl); break;
            case ("shr", 4): a.shr(eax, cl); break;
            case ("shr", 8): a.shr(d64, cl); break;
            case ("sar", 1): a.sar(al, cl); break;
            default: a.sar(d64, cl); break;
        }
        a.mov(rcx, r10);
        EndWithALoadThatFaults(a, top);
    }

    /// <summary>
    /// A rol or ror by an immediate whose flags only a fault sees (SHA-256's <c>rol $15, %r10d; rol $13,
    /// %r11d</c> before a load): compiled code computes the rotate alone and the exit takes the status
    /// flags of the setter before it (through the rotates between) and CF and OF from the rotate's
    /// register (FlagUse.RotateAtExit), unless an op writes that register first; the setter's own
    /// registers may change after the rotate too. The trap's flags and registers are the interpreter's.
    /// </summary>
    [Theory]
    [InlineData("sha"), InlineData("ror64"), InlineData("regWritten"), InlineData("firstWritten"), InlineData("baseWritten")]
    [InlineData("rotateFirst"), InlineData("afterAnd64"), InlineData("afterShiftByCl")]
    public void ARotateWhoseFlagsOnlyAFaultSeesMatchesTheInterpreter(string shape)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel();
        a.Label(ref top);
        if (shape != "rotateFirst") a.add(edx, unchecked((int)0x9E3779B9));   // flags that change every pass
        switch (shape)
        {
            case "sha": a.mov(r10d, eax); a.mov(r11d, eax); a.rol(r10d, 15); a.rol(r11d, 13); break;
            case "ror64": a.sub(rdx, rax); a.ror(rax, 7); break;
            case "regWritten": a.rol(eax, 9); a.mov(eax, edx); break;
            case "firstWritten": a.rol(r10d, 7); a.rol(eax, 9); a.mov(r10d, edx); break;
            case "baseWritten": a.add(edx, 0x1234); a.rol(eax, 9); a.mov(edx, 5); break;
            case "rotateFirst": a.rol(eax, 9); break;
            case "afterAnd64": a.and(rdx, rax); a.rol(rax, 33); break;
            default: a.mov(r10, rcx); a.mov(ecx, edx); a.shl(ebx, cl); a.mov(rcx, r10); a.ror(eax, 3); break;
        }
        EndWithALoadThatFaults(a, top);
    }

    /// <summary>
    /// A register op whose flags only a later load's fault sees, with its registers written in between
    /// or by the load: compiled code reads such a state from the registers at the exit
    /// (FlagUse.StateAtExit) only while they still hold it: C's int index (<c>add %ebx, %edx; movslq
    /// %edx, %rdx; movzbl (%r10,%rdx), %edx</c>) keeps the add's 32-bit result in edx up to the load,
    /// whose own write comes after its fault; a write that changes the low bytes (a 64-bit add before
    /// movslq, a zero extension of fewer bytes, b's register, a load before another) must leave the
    /// state in the flag locals. The trap's flags and registers are the interpreter's.
    /// </summary>
    [Theory]
    [InlineData("movsxd"), InlineData("loadWritesDst"), InlineData("clobbered"), InlineData("sub8movzx"), InlineData("add64movsxd")]
    [InlineData("xor32movzx8"), InlineData("bWritten"), InlineData("sub32movself"), InlineData("or16imm")]
    public void ARegisterOpsStateReadFromItsRegistersAtAFaultMatchesTheInterpreter(string shape)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel();
        a.Label(ref top);
        a.rol(rdx, 13);                                  // operands that change every pass
        a.lea(rbx, __[rbx + rdx * 2 + 0x3C6E_F35F]);
        switch (shape)
        {
            case "movsxd": a.add(edx, ebx); a.movsxd(rdx, edx); a.mov(r9, __qword_ptr[r14]); break;
            case "loadWritesDst": a.add(edx, ebx); a.movsxd(rdx, edx); a.movzx(edx, __byte_ptr[r14 + 3]); break;
            case "clobbered": a.sub(edx, ebx); a.mov(edx, __dword_ptr[rsp - 8]); a.mov(r9, __qword_ptr[r14]); break;
            case "sub8movzx": a.sub(dl, bl); a.movzx(edx, dl); a.mov(r9, __qword_ptr[r14]); break;
            case "add64movsxd":                          // r = 2^63 + dx: SF set, not in the low 32 bits
                a.mov(rbx, 0x8000_0000_0000_0000UL); a.movzx(edx, dx);
                a.add(rdx, rbx); a.movsxd(rdx, edx); a.mov(r9, __qword_ptr[r14]); break;
            case "xor32movzx8":                          // r = 0x100: ZF clear, not in the low byte
                a.mov(ebx, edx); a.xor(ebx, 0x100);
                a.xor(edx, ebx); a.movzx(edx, dl); a.mov(r9, __qword_ptr[r14]); break;
            case "bWritten": a.add(edx, ebx); a.mov(ebx, 0x1234_5678); a.mov(r9, __qword_ptr[r14]); break;
            case "sub32movself": a.sub(edx, ebx); a.mov(edx, edx); a.mov(r9, __qword_ptr[r14]); break;
            default: a.or(dx, unchecked((short)0x8001)); a.movsx(edx, dx); a.mov(r9, __qword_ptr[r14]); break;
        }
        a.add(r8, rdx);
        var regs = new ulong[16];
        regs[2] = 0x7FFF_FFFF_8000_0080; regs[3] = 0x8000_0000_7FFF_FF80;
        var interp = LoopUntilR14Faults(a, top, regs);
        Assert.StartsWith("PageFault", interp.Trap);
    }

    /// <summary>
    /// A compare of memory with a register or an immediate closing its block before the jcc (xgboost's
    /// <c>cmp %cl, (%r9,%rdx); jb</c>) keeps the loaded operand in a local rather than the flag locals
    /// (FlagUse.StateAtExit); the block on either side of the jcc starts with a load that faults on
    /// one pass near the end: the fall-through block (one predecessor: the compare's state read in
    /// place) or the join after it (two: the state copied into the flag locals on the taken edge).
    /// The trap's flags and registers are the interpreter's, for both operand orders, tests and
    /// immediates, at 8 to 64 bits, with unsigned, signed, zero and sign conditions.
    /// </summary>
    [Theory]
    [InlineData("cmp32rm", "jb"), InlineData("cmp64mr", "jl"), InlineData("cmp8mi", "jae"), InlineData("test32mr", "je")]
    [InlineData("cmp16mi", "jg"), InlineData("test8mi", "js"), InlineData("cmp64rm", "jbe"), InlineData("cmp32mr", "jo")]
    public void ACompareWithMemoryBeforeItsJccMatchesTheInterpreterAtAFault(string compare, string jcc)
    {
        var a = new Assembler(64);
        Label top = a.CreateLabel(), skip = a.CreateLabel();
        a.Label(ref top);
        a.rol(rdx, 13);                                  // a memory operand that changes every pass
        a.mov(__qword_ptr[r13], rdx);
        a.add(ebx, unchecked((int)0x9E3779B9));
        switch (compare)
        {
            case "cmp32rm": a.cmp(ebx, __dword_ptr[r13]); break;
            case "cmp64mr": a.cmp(__qword_ptr[r13], rbx); break;
            case "cmp8mi": a.cmp(__byte_ptr[r13], 0x80); break;
            case "test32mr": a.test(__dword_ptr[r13], ebx); break;
            case "cmp16mi": a.cmp(__word_ptr[r13], 0x1234); break;
            case "test8mi": a.test(__byte_ptr[r13], 0x81); break;
            case "cmp64rm": a.cmp(rbx, __qword_ptr[r13]); break;
            default: a.cmp(__dword_ptr[r13], ebx); break;
        }
        switch (jcc)
        {
            case "jb": a.jb(skip); break;
            case "jl": a.jl(skip); break;
            case "jae": a.jae(skip); break;
            case "je": a.je(skip); break;
            case "jg": a.jg(skip); break;
            case "js": a.js(skip); break;
            case "jbe": a.jbe(skip); break;
            default: a.jo(skip); break;
        }
        a.mov(r9, __qword_ptr[r14]);                     // r14 is unmapped on the third-last pass
        a.Label(ref skip);
        a.mov(r10, __qword_ptr[r14 + 8]);
        a.add(r8, r10);
        var regs = new ulong[16];
        regs[2] = 0x7FFF_FFFF_8000_0080; regs[3] = 0x8000_0000_7FFF_FF80;
        regs[13] = CpuFixture.StackTop - 0x100;
        var interp = LoopUntilR14Faults(a, top, regs);
        Assert.StartsWith("PageFault", interp.Trap);
    }
}
