using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using R = Lab.Machine.Register;

namespace Lab.Machine.Tests.Families;

/// <summary>Integer ALU, shifts, bit instructions, multiply and divide: the behaviours the issue names.</summary>
public class IntegerTests
{
    [Fact]
    public void AddSetsCarryOverflowZeroSignExactly()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.mov(eax, 0x7FFFFFFF); a.add(eax, 1); });
        f.RunToEnd();
        Assert.Equal(0x80000000UL, f[R.Rax]);
        Assert.True(f.OF); Assert.True(f.SF); Assert.False(f.CF); Assert.False(f.ZF);

        f.Load(a => { a.mov(rax, ulong.MaxValue); a.add(rax, 1); });
        f.RunToEnd();
        Assert.Equal(0UL, f[R.Rax]);
        Assert.True(f.CF); Assert.True(f.ZF); Assert.False(f.OF); Assert.True(f.PF);
    }

    [Fact]
    public void SubBorrowAndSbbChain()
    {
        using var f = new CpuFixture();
        // 128-bit subtract: (1:0) - (0:1) = (0:ffff...)
        f.Load(a => { a.mov(eax, 0); a.mov(edx, 1); a.sub(rax, 1); a.sbb(rdx, 0); });
        f.RunToEnd();
        Assert.Equal(ulong.MaxValue, f[R.Rax]);
        Assert.Equal(0UL, f[R.Rdx]);
        Assert.False(f.CF);
    }

    [Fact]
    public void ThirtyTwoBitWritesZeroExtendAndByteWritesMerge()
    {
        using var f = new CpuFixture();
        f.Load(a =>
        {
            a.mov(rax, 0x1122334455667788); a.mov(eax, eax);
            a.mov(rbx, 0x1122334455667788); a.mov(bl, 0xAA); a.mov(bh, 0xBB);
            a.mov(rcx, 0x1122334455667788); a.mov(cx, 0xCCDD);
            a.mov(rdx, 0); a.mov(dh, bl);    // AH..DH operands as gcc emits them
        });
        f.RunToEnd();
        Assert.Equal(0x55667788UL, f[R.Rax]);
        Assert.Equal(0x112233445566BBAAUL, f[R.Rbx]);
        Assert.Equal(0x112233445566CCDDUL, f[R.Rcx]);
        Assert.Equal(0xAA00UL, f[R.Rdx]);
    }

    [Fact]
    public void ShiftByZeroLeavesFlagsAndCountsAreMasked()
    {
        using var f = new CpuFixture();
        f.Load(a =>
        {
            a.mov(eax, 1); a.cmp(eax, 2);          // CF=1, SF=1
            a.mov(ecx, 32); a.shl(eax, cl);        // 32 masks to 0 for 32-bit: no change at all
        });
        f.RunToEnd();
        Assert.Equal(1UL, f[R.Rax]);
        Assert.True(f.CF); Assert.True(f.SF);

        f.Load(a => { a.mov(rax, 1); a.mov(ecx, 65); a.shl(rax, cl); });   // 65 & 63 = 1
        f.RunToEnd();
        Assert.Equal(2UL, f[R.Rax]);

        f.Load(a => { a.mov(eax, 0x80000001); a.shr(eax, 1); });
        f.RunToEnd();
        Assert.Equal(0x40000000UL, f[R.Rax]);
        Assert.True(f.CF); Assert.True(f.OF);   // OF = old MSB for shr by 1

        f.Load(a => { a.mov(eax, 0x80000000); a.sar(eax, 31); });
        f.RunToEnd();
        Assert.Equal(0xFFFFFFFFUL, f[R.Rax]);
    }

    [Fact]
    public void RotatesTouchOnlyCarryAndOverflow()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.xor(edx, edx); a.mov(eax, 0x80000001); a.rol(eax, 1); });   // ZF=1 from xor stays
        f.RunToEnd();
        Assert.Equal(3UL, f[R.Rax]);
        Assert.True(f.CF); Assert.True(f.ZF);

        f.Load(a => { a.mov(al, 1); a.ror(al, 1); });
        f.RunToEnd();
        Assert.Equal(0x80UL, f[R.Rax] & 0xFF);
        Assert.True(f.CF); Assert.True(f.OF);

        f.Load(a => { a.stc(); a.mov(eax, 0); a.rcl(eax, 1); });
        f.RunToEnd();
        Assert.Equal(1UL, f[R.Rax]);
        Assert.False(f.CF);
    }

    [Fact]
    public void BitTestScanAndCount()
    {
        using var f = new CpuFixture();
        f.Load(a =>
        {
            a.mov(eax, 0b1010_0000); a.bt(eax, 5); a.setc(bl);
            a.bts(eax, 0); a.btr(eax, 7); a.btc(eax, 1);
            a.mov(ecx, 0x00F0_0000); a.bsf(edx, ecx); a.bsr(esi, ecx);
            a.mov(r8, 0x10); a.tzcnt(r9, r8); a.lzcnt(r10, r8); a.popcnt(r11, rax);
        });
        f.RunToEnd();
        Assert.Equal(1UL, f[R.Rbx] & 0xFF);
        Assert.Equal(0b0010_0011UL, f[R.Rax]);
        Assert.Equal(20UL, f[R.Rdx]);
        Assert.Equal(23UL, f[R.Rsi]);
        Assert.Equal(4UL, f[R.R9]);
        Assert.Equal(59UL, f[R.R10]);
        Assert.Equal(3UL, f[R.R11]);

        // bt with a register offset on memory addresses beyond the operand.
        f.WriteData64(8, 1UL << 3);
        f.Load(a => { a.mov(rdi, CpuFixture.DataBase); a.mov(rax, 67); a.bt(__qword_ptr[rdi], rax); });
        f.RunToEnd();
        Assert.True(f.CF);

        // tzcnt of zero gives the operand width and sets CF; bsf of zero sets ZF and leaves dest.
        f.Load(a => { a.xor(ecx, ecx); a.tzcnt(eax, ecx); a.setc(dl); a.mov(ebx, 77); a.bsf(ebx, ecx); a.setz(dh); });
        f.RunToEnd();
        Assert.Equal(32UL, f[R.Rax]);
        Assert.Equal(0x0101UL, f[R.Rdx] & 0xFFFF);
        Assert.Equal(77UL, f[R.Rbx]);
    }

    [Fact]
    public void MultiplyAllForms()
    {
        using var f = new CpuFixture();
        f.Load(a =>
        {
            a.mov(rax, ulong.MaxValue); a.mov(rcx, 2); a.mul(rcx);              // rdx:rax = 2^65 - 2
            a.mov(r8, rax); a.mov(r9, rdx);
            a.mov(rax, unchecked((ulong)-3L)); a.mov(rcx, 5); a.imul(rcx);      // -15
            a.mov(r10, rax); a.mov(r11, rdx);
            a.mov(ebx, 1000); a.imul(ebx, ebx, 1000);                           // 3-operand
            a.mov(esi, 0x10000); a.imul(esi, esi);                              // 32-bit overflow
        });
        f.RunToEnd();
        Assert.Equal(ulong.MaxValue - 1, f[R.R8]);
        Assert.Equal(1UL, f[R.R9]);
        Assert.Equal(unchecked((ulong)-15L), f[R.R10]);
        Assert.Equal(ulong.MaxValue, f[R.R11]);
        Assert.Equal(1_000_000UL, f[R.Rbx]);
        Assert.Equal(0UL, f[R.Rsi]);
        Assert.True(f.CF); Assert.True(f.OF);
    }

    [Fact]
    public void DivisionAndDivideErrors()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.mov(rax, unchecked((ulong)-7L)); a.cqo(); a.mov(rcx, 2); a.idiv(rcx); });
        f.RunToEnd();
        Assert.Equal(unchecked((ulong)-3L), f[R.Rax]);
        Assert.Equal(unchecked((ulong)-1L), f[R.Rdx]);

        f.Load(a => { a.mov(eax, 5); a.xor(edx, edx); a.xor(ecx, ecx); a.div(ecx); });
        var t = f.Run();
        Assert.Equal(TrapKind.DivideError, t.Kind);
        Assert.Equal(5UL, f[R.Rax]);                       // registers unchanged
        Assert.Equal(t.InstructionAddress.Value, f.Cpu.Rip); // rip on the faulting div

        // INT64_MIN / -1 overflows the quotient.
        f.Load(a => { a.mov(rax, 0x8000000000000000); a.cqo(); a.mov(rcx, unchecked((ulong)-1L)); a.idiv(rcx); });
        Assert.Equal(TrapKind.DivideError, f.Run().Kind);

        // Unsigned quotient overflow: rdx >= divisor.
        f.Load(a => { a.mov(edx, 2); a.xor(eax, eax); a.mov(ecx, 2); a.div(ecx); });
        Assert.Equal(TrapKind.DivideError, f.Run().Kind);
    }

    [Fact]
    public void SetccAndCmovIncludingZeroExtensionWhenFalse()
    {
        using var f = new CpuFixture();
        f.Load(a =>
        {
            a.mov(rbx, 0xFFFFFFFF_00000005); a.mov(ecx, 9);
            a.cmp(ecx, 1);
            a.cmove(ebx, ecx);          // false, but the 32-bit destination is still zero-extended
            a.setg(al); a.setb(ah);
            a.mov(rdx, 3); a.cmovne(rdx, rcx);
        });
        f.RunToEnd();
        Assert.Equal(5UL, f[R.Rbx]);
        Assert.Equal(0x0001UL, f[R.Rax] & 0xFFFF);
        Assert.Equal(9UL, f[R.Rdx]);
    }

    [Fact]
    public void ExchangeCompareExchangeAddAndByteSwap()
    {
        using var f = new CpuFixture();
        f.WriteData64(0, 10);
        f.Load(a =>
        {
            a.mov(rdi, CpuFixture.DataBase);
            a.mov(eax, 10); a.mov(ecx, 20); a.@lock.cmpxchg(__qword_ptr[rdi], rcx);   // succeeds
            a.setz(r8b);
            a.mov(eax, 99); a.cmpxchg(__qword_ptr[rdi], rcx);                       // fails: rax = 20
            a.mov(r9, rax);
            a.mov(edx, 5); a.xadd(__qword_ptr[rdi], rdx);                            // mem = 25, rdx = 20
            a.mov(rsi, 0x0102030405060708); a.bswap(rsi);
            a.mov(r10, 1); a.mov(r11, 2); a.xchg(r10, r11);
        });
        f.RunToEnd();
        Assert.Equal(1UL, f[R.R8] & 0xFF);
        Assert.Equal(20UL, f[R.R9]);
        Assert.Equal(20UL, f[R.Rdx]);
        Assert.Equal(25UL, f.ReadData64(0));
        Assert.Equal(0x0807060504030201UL, f[R.Rsi]);
        Assert.Equal(2UL, f[R.R10]);
        Assert.Equal(1UL, f[R.R11]);
    }

    /// <summary>
    /// xadd and cmpxchg on a read-only page (a copy-on-write page after fork) fault with every register
    /// as it was, so the instruction restarts from the same state once the kernel has copied the page;
    /// xadd of a register to itself leaves the sum.
    /// </summary>
    [Fact]
    public void AtomicReadModifyWritesFaultBeforeChangingRegisters()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.mov(edx, 5); a.@lock.xadd(__qword_ptr[CpuFixture.CodeBase], rdx); });
        var t = f.Run();
        Assert.Equal(TrapKind.PageFault, t.Kind);
        Assert.Equal(CpuFixture.CodeBase, t.FaultAddress.Value);
        Assert.Equal(5UL, f[R.Rdx]);

        f.Load(a => { a.mov(rax, 0); a.mov(ecx, 7); a.@lock.cmpxchg(__qword_ptr[CpuFixture.CodeBase + 0x800], rcx); });
        f.Machine.Memory.WriteU64(CpuFixture.CodePhys + 0x800, 0);
        t = f.Run();
        Assert.Equal(TrapKind.PageFault, t.Kind);
        Assert.Equal(0UL, f[R.Rax]);

        f.Load(a => { a.mov(eax, 21); a.xadd(rax, rax); });
        f.RunToEnd();
        Assert.Equal(42UL, f[R.Rax]);
    }

    /// <summary>
    /// add, adc, and, or, sbb, sub and xor to memory on a read-only page (a copy-on-write page after
    /// fork) fault with the flags as they were, as the processor's faults are precise: the kernel copies
    /// the page and the instruction runs again from the same state. adc and sbb read CF, so a
    /// restart after flags set by the faulting attempt added the wrong carry (stc; adc $0, mem made
    /// mem + 0 instead of mem + 1 in a forked child).
    /// </summary>
    [Theory]
    [InlineData(0)]   // add
    [InlineData(1)]   // or
    [InlineData(2)]   // adc
    [InlineData(3)]   // sbb
    [InlineData(4)]   // and
    [InlineData(5)]   // sub
    [InlineData(6)]   // xor
    public void AluToAReadOnlyPageFaultsWithTheFlagsAsTheyWere(int alu)
    {
        using var f = new CpuFixture();
        var ro = __qword_ptr[CpuFixture.CodeBase + 0x800];
        f.Load(a =>
        {
            a.mov(eax, 1); a.cmp(eax, 2);   // CF, SF, AF, PF set; ZF, OF clear
            a.mov(ecx, 1);
            switch (alu)
            {
                case 0: a.add(ro, rcx); break;
                case 1: a.or(ro, 1); break;
                case 2: a.adc(ro, rcx); break;
                case 3: a.sbb(ro, 1); break;
                case 4: a.and(ro, rcx); break;
                case 5: a.sub(ro, 1); break;
                default: a.xor(ro, rcx); break;
            }
        });
        f.Machine.Memory.WriteU64(CpuFixture.CodePhys + 0x800, 0x7FFF_FFFF_FFFF_FFFF);
        var t = f.Run();
        Assert.Equal(TrapKind.PageFault, t.Kind);
        Assert.Equal(CpuFixture.CodeBase + 0x800, t.FaultAddress.Value);
        Assert.Equal(0x95UL, f.Flags & 0x8D5);   // CF, PF, AF, SF of 1 - 2
        Assert.Equal(0x7FFF_FFFF_FFFF_FFFFUL, f.Machine.Memory.ReadU64(CpuFixture.CodePhys + 0x800));
    }

    [Fact]
    public void ExtensionsAndAccumulatorSignExtension()
    {
        using var f = new CpuFixture();
        f.Load(a =>
        {
            a.mov(ecx, 0x80); a.movzx(eax, cl); a.movsx(ebx, cl); a.movsxd(rdx, ebx);
            a.mov(esi, 0xFFFF8000); a.movsx(rsi, si);
            a.mov(r8, 0); a.mov(r8d, 0x80000000);
        });
        f.RunToEnd();
        Assert.Equal(0x80UL, f[R.Rax]);
        Assert.Equal(0xFFFFFF80UL, f[R.Rbx]);
        Assert.Equal(0xFFFFFFFFFFFFFF80UL, f[R.Rdx]);
        Assert.Equal(0xFFFFFFFFFFFF8000UL, f[R.Rsi]);

        f.Load(a => { a.mov(eax, 0x80); a.cbw(); a.cwde(); a.cdqe(); a.cqo(); });
        f.RunToEnd();
        Assert.Equal(ulong.MaxValue - 0x7F, f[R.Rax]);
        Assert.Equal(ulong.MaxValue, f[R.Rdx]);
    }
}
