using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static Lab.Machine.Tests.Jit.AccessWindowTests;
using MReg = Lab.Machine.Register;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// A loop whose guest registers crowd the host's tests its accesses' windows from d = va - Lo and
/// reads or writes at d + HostLo (RegionCompiler.EmitWindowTest): the address itself is gone from the
/// hot path after the test, so a miss must rebuild it before the TLB path, the countdown and the
/// interpreter use it. These loops use fifteen registers and walk their data through every page,
/// with the pages adjacent, one of them far away (windows end there and the TLB path takes over) or
/// one unmapped (the access faults): the JIT must leave the interpreter's registers, flags, memory,
/// count and trap.
/// </summary>
public class CrowdedLoopTests
{
    /// <summary>
    /// Two loads and a store through three index registers over the four data pages (and a load of a
    /// loop-invariant word), mixed through eleven more registers (<paramref name="crowded"/>; else
    /// the two loads alone, seven registers in all): no access shares a group, so each tests its own
    /// window. With the fourth page unmapped the first access to reach it faults, some 280 passes in.
    /// </summary>
    private static byte[] Loop(bool crowded)
    {
        var a = new Assembler(64);
        var top = a.CreateLabel();
        a.Label(ref top);
        a.mov(rax, __qword_ptr[rbx + rsi * 8]);
        a.add(rdx, rax);
        a.mov(r8, __qword_ptr[rbx + rdi * 8]);
        if (crowded)
        {
            a.xor(r10, r8);
            a.lea(r11, __qword_ptr[rsi + rdi]);
            a.add(r12, r11);
            a.add(r12, r10);
            a.mov(__qword_ptr[rbx + rbp * 8], r12);
            a.add(r13, __qword_ptr[r15]);
            a.add(r14, rdx);
        }
        else a.xor(rdx, r8);
        a.inc(esi);
        a.and(esi, 0x7FF);
        a.add(edi, 3);
        a.and(edi, 0x7FF);
        if (crowded)
        {
            a.add(ebp, 5);
            a.and(ebp, 0x7FF);
        }
        a.dec(rcx);
        a.jnz(top);
        a.int3();
        return CpuFixture.Assembled(a);
    }

    /// <summary>Runs the loop on both tiers; returns the outcomes, and the JIT's crowded window tests and entries into compiled code.</summary>
    private static (List<string> Outcomes, long Crowded, long Entries) RunBoth(bool crowded, Layout layout)
    {
        long tests = -1, entries = -1;
        var outcomes = OutcomesOnBothTiers(Loop(crowded), layout, seed: 51, farPage: 1, data => data.AsSpan(0x1000, 0x1000).ToArray(), Setup,
            promoteAfter: 0, inspect: f => { if (f.Cpu.Tier == ExecutionTier.Jit) (tests, entries) = (f.Cpu.JitCrowdedAccesses, f.Cpu.JitEntries); });
        return (outcomes, tests, entries);
    }

    private static void Setup(CpuFixture f)
    {
        f[MReg.Rbx] = CpuFixture.DataBase;
        f[MReg.R15] = CpuFixture.DataBase + 0x2FF8;
        f[MReg.Rdi] = 700;
        f[MReg.Rbp] = 100;
        f[MReg.Rcx] = 6000;
    }

    [Theory]
    [InlineData(Layout.Adjacent)]
    [InlineData(Layout.SecondPageFar)]
    [InlineData(Layout.FourthPageUnmapped)]
    public void ACrowdedLoopAgreesWithTheInterpreter(Layout layout)
    {
        var (outcomes, crowded, entries) = RunBoth(crowded: true, layout);
        AssertTiersAgree(layout, outcomes);
        Assert.True(crowded > 0, $"the loop's accesses were not tested from va - Lo ({crowded})");
        // Its misses take the TLB path and rebuild windows at the address again (not at d): the loop
        // stays in compiled code. With d as the address every access past its first window's pages went
        // to the interpreter (5,921 entries into compiled code instead of 26).
        if (layout != Layout.FourthPageUnmapped) Assert.True(entries < 200, $"compiled code was entered {entries} times");
    }

    /// <summary>
    /// A like loop with seven registers: its window tests add the addend to va, as outside crowded loops,
    /// so a chain of dependent loads keeps the addend's load off its path.
    /// </summary>
    [Fact]
    public void ALoopWithFewRegistersTestsFromTheAddress()
    {
        var (outcomes, crowded, _) = RunBoth(crowded: false, Layout.SecondPageFar);
        AssertTiersAgree(Layout.SecondPageFar, outcomes);
        Assert.Equal(0, crowded);
    }
}
