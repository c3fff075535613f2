using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using R = Lab.Machine.Register;

namespace Lab.Machine.Tests;

/// <summary>The MMU against hand-built page tables: permission faults and error codes, A/D bits, TLB flushing, page-crossing accesses.</summary>
public class MmuTests
{
    private const ulong Unmapped = 0x700000;
    private const ulong ReadOnly = 0x710000;
    private const ulong Supervisor = 0x720000;

    private static CpuFixture WithExtraPages()
    {
        var f = new CpuFixture();
        f.Tables.MapPage(new VirtAddr(ReadOnly), new PhysAddr(0x300000), PteFlags.User | PteFlags.NoExecute);
        f.Tables.MapPage(new VirtAddr(Supervisor), new PhysAddr(0x301000), PteFlags.Writable);
        f.Cpu.FlushTlb();
        return f;
    }

    [Theory]
    [InlineData(Unmapped, false, PageFaultError.User)]
    [InlineData(Unmapped, true, PageFaultError.User | PageFaultError.Write)]
    [InlineData(ReadOnly, true, PageFaultError.User | PageFaultError.Write | PageFaultError.Present)]
    [InlineData(Supervisor, false, PageFaultError.User | PageFaultError.Present)]
    [InlineData(Supervisor, true, PageFaultError.User | PageFaultError.Write | PageFaultError.Present)]
    public void DataAccessFaultsCarryTheArchitecturalErrorCode(ulong address, bool write, PageFaultError expected)
    {
        using var f = WithExtraPages();
        f.Load(a =>
        {
            a.mov(rdi, address + 0x10);
            if (write) a.mov(__qword_ptr[rdi], rax); else a.mov(rax, __qword_ptr[rdi]);
        });
        var t = f.Run();
        Assert.Equal(TrapKind.PageFault, t.Kind);
        Assert.Equal(expected, t.PageFaultError);
        Assert.Equal(address + 0x10, t.FaultAddress.Value);
        Assert.Equal(address + 0x10, f.Cpu.Cr2);
        Assert.Equal(CpuFixture.CodeBase + 10, t.InstructionAddress.Value);   // after the 10-byte mov rdi, imm64
        Assert.Equal(t.InstructionAddress.Value, f.Cpu.Rip);
        Assert.Equal(1UL, f.Machine.InstructionsRetired);
    }

    [Fact]
    public void ReadingAReadOnlyPageWorks()
    {
        using var f = WithExtraPages();
        f.Machine.Memory.WriteU64(new PhysAddr(0x300000 + 8), 0xDEADBEEF);
        f.Load(a => { a.mov(rdi, ReadOnly + 8); a.mov(rax, __qword_ptr[rdi]); });
        f.RunToEnd();
        Assert.Equal(0xDEADBEEFUL, f[R.Rax]);
    }

    [Fact]
    public void ExecutingANoExecutePageFaultsWithTheFetchBit()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.mov(rax, CpuFixture.DataBase); a.jmp(rax); });
        var t = f.Run();
        Assert.Equal(TrapKind.PageFault, t.Kind);
        Assert.Equal(PageFaultError.User | PageFaultError.InstructionFetch | PageFaultError.Present, t.PageFaultError);
        Assert.Equal(CpuFixture.DataBase, t.FaultAddress.Value);
        Assert.Equal(CpuFixture.DataBase, f.Cpu.Rip);
    }

    [Fact]
    public void JumpingToAnUnmappedPageFaultsAsNotPresentFetch()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.mov(rax, Unmapped); a.call(rax); });
        var t = f.Run();
        Assert.Equal(PageFaultError.User | PageFaultError.InstructionFetch, t.PageFaultError);
        Assert.Equal(CpuFixture.StackTop - 8, f[R.Rsp]);   // the call completed; the fetch at the target faulted
    }

    [Fact]
    public void AccessedAndDirtyBitsAreSet()
    {
        using var f = new CpuFixture();
        var data = new VirtAddr(CpuFixture.DataBase + 0x1000);
        var leaf = f.Tables.LeafEntryAddress(data);
        ulong before = f.Machine.Memory.ReadU64(leaf);
        Assert.Equal(0UL, before & (ulong)(PteFlags.Accessed | PteFlags.Dirty));
        f.Load(a => { a.mov(rdi, data.Value); a.mov(rax, __qword_ptr[rdi]); });
        f.RunToEnd();
        ulong afterRead = f.Machine.Memory.ReadU64(leaf);
        Assert.Equal((ulong)PteFlags.Accessed, afterRead & (ulong)(PteFlags.Accessed | PteFlags.Dirty));
        Assert.NotEqual(0UL, f.Machine.Memory.ReadU64(f.Tables.EntryAddress(data, 4)) & (ulong)PteFlags.Accessed);

        // A write after a read hit in the TLB must still set Dirty.
        f.Load(a => { a.mov(rdi, data.Value); a.mov(rax, __qword_ptr[rdi]); a.mov(__qword_ptr[rdi], rax); });
        f.RunToEnd();
        Assert.NotEqual(0UL, f.Machine.Memory.ReadU64(leaf) & (ulong)PteFlags.Dirty);
    }

    [Fact]
    public void TlbKeepsAStaleMappingUntilFlushedByCr3OrInvalidation()
    {
        using var f = new CpuFixture();
        var va = new VirtAddr(CpuFixture.DataBase);
        f.Machine.Memory.WriteU64(CpuFixture.DataPhys, 111);
        f.Machine.Memory.WriteU64(new PhysAddr(0x310000), 222);
        f.Load(a => { a.mov(rdi, va.Value); a.mov(rax, __qword_ptr[rdi]); });
        f.RunToEnd();
        Assert.Equal(111UL, f[R.Rax]);

        // Remap the page without telling the TLB: the old translation is still used.
        f.Tables.MapPage(va, new PhysAddr(0x310000), PteFlags.User | PteFlags.Writable);
        f.Load(a => { a.mov(rdi, va.Value); a.mov(rax, __qword_ptr[rdi]); });
        f.RunToEnd();
        Assert.Equal(111UL, f[R.Rax]);

        f.Cpu.Cr3 = f.Cpu.Cr3;   // a CR3 write flushes
        f.Load(a => { a.mov(rdi, va.Value); a.mov(rax, __qword_ptr[rdi]); });
        f.RunToEnd();
        Assert.Equal(222UL, f[R.Rax]);

        f.Tables.MapPage(va, CpuFixture.DataPhys, PteFlags.User | PteFlags.Writable);
        f.Cpu.InvalidatePage(va);
        f.Load(a => { a.mov(rdi, va.Value); a.mov(rax, __qword_ptr[rdi]); });
        f.RunToEnd();
        Assert.Equal(111UL, f[R.Rax]);
    }

    [Fact]
    public void EveryCr3WriteForgetsEveryTranslationCachedSinceTheLastOne()
    {
        // The flush empties only the slots filled since the previous flush; this checks that no
        // slot is forgotten across several rounds (all 16 data pages, then some, then all again).
        using var f = new CpuFixture();
        const int pages = (int)(CpuFixture.DataSize / 0x1000);
        ulong Target(int round, int i) => 0x320000UL + (ulong)(round * pages + i) * 0x1000;
        void MapRound(int round)
        {
            for (int i = 0; i < pages; i++)
            {
                f.Machine.Memory.WriteU64(new PhysAddr(Target(round, i)), (ulong)(round * 100 + i));
                f.Tables.MapPage(new VirtAddr(CpuFixture.DataBase + (ulong)i * 0x1000), new PhysAddr(Target(round, i)),
                    PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);
            }
            f.Cpu.Cr3 = f.Cpu.Cr3;
        }
        ulong SumOfPages(int stride)
        {
            f.Load(a =>
            {
                a.xor(eax, eax);
                for (int i = 0; i < pages; i += stride)
                {
                    a.mov(rdi, CpuFixture.DataBase + (ulong)i * 0x1000);
                    a.add(rax, __qword_ptr[rdi]);
                }
            });
            f.RunToEnd();
            return f[R.Rax];
        }
        ulong Expected(int round, int stride)
        {
            ulong sum = 0;
            for (int i = 0; i < pages; i += stride) sum += (ulong)(round * 100 + i);
            return sum;
        }

        MapRound(0);
        Assert.Equal(Expected(0, 1), SumOfPages(1));
        MapRound(1);
        Assert.Equal(Expected(1, 3), SumOfPages(3));
        MapRound(2);
        Assert.Equal(Expected(2, 1), SumOfPages(1));
        byte[] state = f.Machine.SaveState();      // restored TLB entries must be flushed too
        f.Machine.RestoreState(state);
        MapRound(3);
        Assert.Equal(Expected(3, 1), SumOfPages(1));
    }

    [Fact]
    public void CodeAtTheSameAddressInAnotherAddressSpaceRunsAfterACr3Write()
    {
        // Decoded blocks outlive a CR3 write; each one is checked against the physical page the
        // new translation gives, so the old space's code must not run.
        using var f = new CpuFixture();
        f.Load(a => a.mov(eax, 1));
        f.RunToEnd();
        Assert.Equal(1UL, f[R.Rax]);

        var a2 = new Assembler(64);
        a2.mov(eax, 2);
        a2.int3();
        var ms = new MemoryStream();
        a2.Assemble(new StreamCodeWriter(ms), CpuFixture.CodeBase);
        f.Machine.Memory.Write(new PhysAddr(0x340000), ms.ToArray());
        f.Tables.MapPage(new VirtAddr(CpuFixture.CodeBase), new PhysAddr(0x340000), PteFlags.User);
        f.Cpu.Cr3 = f.Cpu.Cr3;
        f.Cpu.Rip = CpuFixture.CodeBase;
        f.RunToEnd();
        Assert.Equal(2UL, f[R.Rax]);
    }

    [Fact]
    public void DataAccessesThatCrossAPageBoundaryWork()
    {
        using var f = new CpuFixture();
        ulong edge = CpuFixture.DataBase + 0x1000 - 3;
        f.Load(a =>
        {
            a.mov(rdi, edge);
            a.mov(rax, 0x1122334455667788); a.mov(__qword_ptr[rdi], rax);
            a.mov(rbx, __qword_ptr[rdi]);
            a.mov(ecx, __dword_ptr[rdi + 1]);
        });
        f.RunToEnd();
        Assert.Equal(0x1122334455667788UL, f[R.Rbx]);
        Assert.Equal(0x44556677UL, f[R.Rcx]);
        Assert.Equal(0x77U, f.Machine.Memory.ReadU8(CpuFixture.DataPhys + 0xFFE));
        Assert.Equal(0x55U, f.Machine.Memory.ReadU8(CpuFixture.DataPhys + 0x1000));
    }

    [Fact]
    public void APageCrossingWriteIntoAnUnmappedPageFaultsAndWritesNothing()
    {
        using var f = new CpuFixture();
        ulong edge = CpuFixture.DataBase + CpuFixture.DataSize - 4;   // the next page is unmapped
        f.Load(a => { a.mov(rdi, edge); a.mov(rax, ulong.MaxValue); a.mov(__qword_ptr[rdi], rax); });
        var t = f.Run();
        Assert.Equal(TrapKind.PageFault, t.Kind);
        Assert.Equal(CpuFixture.DataBase + CpuFixture.DataSize, t.FaultAddress.Value);
        Assert.Equal(0U, f.Machine.Memory.ReadU32(CpuFixture.DataPhys + (CpuFixture.DataSize - 4)));
    }

    [Fact]
    public void InstructionsThatStraddleTwoPagesExecute()
    {
        using var f = new CpuFixture();
        // Place a 10-byte mov rax, imm64 so that it crosses from the first code page into the second.
        var a = new Assembler(64);
        a.mov(rax, 0x0123456789ABCDEF);
        a.int3();
        var ms = new MemoryStream();
        ulong start = CpuFixture.CodeBase + 0x1000 - 4;
        a.Assemble(new StreamCodeWriter(ms), start);
        f.Machine.Memory.Write(CpuFixture.CodePhys + 0xFFC, ms.ToArray());
        f.Cpu.Rip = start;
        f.RunToEnd();
        Assert.Equal(0x0123456789ABCDEFUL, f[R.Rax]);
    }

    [Fact]
    public void AnInstructionRunningIntoAnUnmappedPageFaultsOnTheSecondPage()
    {
        using var f = new CpuFixture();
        // The last code page is at CodeBase+0xF000; the next page is unmapped.
        ulong start = CpuFixture.CodeBase + 0x10000 - 4;
        f.Machine.Memory.Write(CpuFixture.CodePhys + 0xFFFC, new byte[] { 0x48, 0xB8, 0x01, 0x02 });   // mov rax, imm64 (truncated)
        f.Cpu.Rip = start;
        var t = f.Run();
        Assert.Equal(TrapKind.PageFault, t.Kind);
        Assert.Equal(CpuFixture.CodeBase + 0x10000, t.FaultAddress.Value);
        Assert.Equal(PageFaultError.User | PageFaultError.InstructionFetch, t.PageFaultError);
        Assert.Equal(start, f.Cpu.Rip);
    }

    [Fact]
    public void NonCanonicalAddressRaisesGeneralProtection()
    {
        using var f = new CpuFixture();
        f.Load(a => { a.mov(rdi, 0x0000_8000_0000_0000); a.mov(rax, __qword_ptr[rdi]); });
        Assert.Equal(TrapKind.GeneralProtection, f.Run().Kind);
    }

    [Fact]
    public void HostSideVirtualAccessUsesUserPermissions()
    {
        using var f = WithExtraPages();
        Span<byte> buf = stackalloc byte[8];
        Assert.True(f.Cpu.TryReadVirtual(new VirtAddr(ReadOnly), buf, out _));
        Assert.False(f.Cpu.TryWriteVirtual(new VirtAddr(ReadOnly), buf, out var fault));
        Assert.Equal(TrapKind.PageFault, fault.Kind);
        Assert.False(f.Cpu.TryReadVirtual(new VirtAddr(Supervisor), buf, out _));
    }

    [Fact]
    public void AReadOnlyPageDirectoryEntryMakesWritableLeavesReadOnly()
    {
        // Copy-on-write fork with shared leaf tables relies on this: the effective permission is the
        // AND over all levels, so clearing Writable in a PD entry write-protects its 2 MiB.
        using var f = new CpuFixture();
        var va = new VirtAddr(CpuFixture.DataBase + 0x2000);
        var pde = f.Tables.EntryAddress(va, 2);
        ulong writablePde = f.Machine.Memory.ReadU64(pde);
        f.Machine.Memory.WriteU64(pde, writablePde & ~(ulong)PteFlags.Writable);
        f.Cpu.FlushTlb();
        f.WriteData64(0x2000, 77);

        f.Load(a => { a.mov(rdi, va.Value); a.mov(rax, __qword_ptr[rdi]); });
        f.RunToEnd();
        Assert.Equal(77UL, f[R.Rax]);                  // reads still work

        f.Load(a => { a.mov(rdi, va.Value); a.mov(__qword_ptr[rdi], rdi); });
        var t = f.Run();                               // the TLB entry from the read must not allow the write
        Assert.Equal(TrapKind.PageFault, t.Kind);
        Assert.Equal(PageFaultError.User | PageFaultError.Write | PageFaultError.Present, t.PageFaultError);
        Assert.Equal(77UL, f.ReadData64(0x2000));
        Assert.NotEqual(0UL, f.Machine.Memory.ReadU64(f.Tables.LeafEntryAddress(va)) & (ulong)PteFlags.Writable);

        f.Machine.Memory.WriteU64(pde, writablePde);   // restoring Writable needs no flush: a write miss walks again
        f.Load(a => { a.mov(rdi, va.Value); a.mov(__qword_ptr[rdi], rdi); });
        f.RunToEnd();
        Assert.Equal(va.Value, f.ReadData64(0x2000));
    }
}
