using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static Lab.Machine.Tests.SystemMode.SystemFixture;
using R = Lab.Machine.Register;

namespace Lab.Machine.Tests.SystemMode;

/// <summary>
/// System mode paging: supervisor-only pages, CR0.WP, NX (and its reserved meaning without EFER.NXE),
/// #PF error codes and CR2 at both privilege levels, and TLB / decoded-code correctness across
/// privilege changes, CR3 switches and invlpg.
/// </summary>
public class PagingTests
{
    [Fact]
    public void UserCodeCannotReadASupervisorPageTheKernelJustUsed()
    {
        using var f = new SystemFixture();
        f.Kernel(a =>
        {
            a.mov(rax, __qword_ptr[(long)KernelData]);    // fills the supervisor TLB for this page
            IretToUser(a);
        });
        f.User(a => a.mov(rbx, __qword_ptr[(long)KernelData + 8]));
        f.RunToHalt();
        Assert.Equal(14UL, f.Rec(RecVector));
        Assert.Equal((ulong)(PageFaultError.Present | PageFaultError.User), f.Rec(RecError));
        Assert.Equal(KernelData + 8, f.Rec(RecCr2));
        Assert.Equal(UserCode, f.Rec(RecRip));
        var pf = Assert.Single(f.Events);
        Assert.Equal(14, pf.Vector);
        Assert.Equal(new VirtAddr(KernelData + 8), pf.FaultAddress);
    }

    [Fact]
    public void UserWriteToAReadOnlyPageHasPresentWriteUserErrorCode()
    {
        using var f = new SystemFixture();
        f.Kernel(a => IretToUser(a));
        f.User(a => { a.mov(eax, 5); a.mov(__dword_ptr[(long)UserReadOnly + 4], eax); });
        f.RunToHalt();
        Assert.Equal(14UL, f.Rec(RecVector));
        Assert.Equal(7UL, f.Rec(RecError));
        Assert.Equal(UserReadOnly + 4, f.Rec(RecCr2));
    }

    [Fact]
    public void KernelFetchFromAMissingPageHasAFetchErrorCodeWithoutTheUserBit()
    {
        using var f = new SystemFixture();
        f.Kernel(a => { a.mov(rax, 0x300000); a.jmp(rax); });
        f.RunToHalt();
        Assert.Equal(14UL, f.Rec(RecVector));
        Assert.Equal((ulong)PageFaultError.InstructionFetch, f.Rec(RecError));
        Assert.Equal(0x300000UL, f.Rec(RecCr2));
        Assert.Equal(0x300000UL, f.Rec(RecRip));
    }

    [Fact]
    public void WriteProtectMakesKernelWritesHonourReadOnlyPages()
    {
        using var f = new SystemFixture();
        f.Kernel(a =>
        {
            // With WP clear the write goes through; then set WP and write again.
            a.mov(rax, cr0);
            a.mov(rbx, rax);
            a.and(rax, ~(int)Cr0Flags.WP);
            a.mov(cr0, rax);
            a.mov(__qword_ptr[(long)ReadOnlyKernelPage], 0x11);
            a.mov(cr0, rbx);
            a.mov(__qword_ptr[(long)ReadOnlyKernelPage + 8], 0x22);
        });
        f.RunToHalt();
        Assert.Equal(0x11UL, f.Machine.Memory.ReadU64(new PhysAddr(ReadOnlyKernelPage)));
        Assert.Equal(0UL, f.Machine.Memory.ReadU64(new PhysAddr(ReadOnlyKernelPage + 8)));
        Assert.Equal(14UL, f.Rec(RecVector));
        Assert.Equal((ulong)(PageFaultError.Present | PageFaultError.Write), f.Rec(RecError));
        Assert.Equal(ReadOnlyKernelPage + 8, f.Rec(RecCr2));
    }

    [Fact]
    public void NoExecutePagesCannotBeFetchedEvenByTheKernel()
    {
        using var f = new SystemFixture();
        f.Machine.Memory.WriteU8(new PhysAddr(NxKernelPage), 0xF4);    // hlt
        f.Kernel(a => { a.mov(rax, NxKernelPage); a.jmp(rax); });
        f.RunToHalt();
        Assert.Equal(14UL, f.Rec(RecVector));
        Assert.Equal((ulong)(PageFaultError.Present | PageFaultError.InstructionFetch), f.Rec(RecError));
    }

    [Fact]
    public void WithoutNxeTheNxBitIsReserved()
    {
        using var f = new SystemFixture();
        f.Kernel(a =>
        {
            a.mov(ecx, Msr.Efer);
            a.rdmsr();
            a.and(eax, ~(int)EferFlags.NXE);
            a.wrmsr();
            a.mov(rax, __qword_ptr[(long)NxKernelPage]);
        });
        f.RunToHalt();
        Assert.Equal(14UL, f.Rec(RecVector));
        Assert.Equal((ulong)(PageFaultError.Present | PageFaultError.ReservedBit), f.Rec(RecError));
    }

    [Fact]
    public void SmepStopsTheKernelFetchingUserCode()
    {
        using var f = new SystemFixture();
        f.User(a => a.hlt());
        f.Kernel(a =>
        {
            a.mov(rax, cr4);
            a.or(rax, (int)Cr4Flags.SMEP);
            a.mov(cr4, rax);
            a.mov(rax, UserCode);
            a.jmp(rax);
        });
        f.RunToHalt();
        Assert.Equal(14UL, f.Rec(RecVector));
        Assert.Equal((ulong)(PageFaultError.Present | PageFaultError.InstructionFetch), f.Rec(RecError));
        Assert.Equal(UserCode, f.Rec(RecCr2));
    }

    [Fact]
    public void InvlpgMakesAChangedMappingVisible()
    {
        using var f = new SystemFixture();
        // The leaf entry of UserData: the kernel remaps it to the read-only user page's frame.
        ulong pte = f.Tables.LeafEntryAddress(new VirtAddr(UserData)).Value;
        f.Machine.Memory.WriteU64(UserReadOnlyPhys, 0x1234);
        f.Kernel(a =>
        {
            a.mov(rax, __qword_ptr[(long)UserData]);          // cached translation
            a.mov(__qword_ptr[(long)KernelData], rax);
            a.mov(rbx, pte);
            a.mov(rax, UserReadOnlyPhys.Value | 7);
            a.mov(__qword_ptr[rbx], rax);
            a.mov(rax, UserData);
            a.invlpg(__[rax]);
            a.mov(rax, __qword_ptr[(long)UserData]);
            a.mov(__qword_ptr[(long)KernelData + 8], rax);
            a.hlt();
        });
        f.Machine.Memory.WriteU64(UserDataPhys, 0x99);
        f.RunToHalt();
        Assert.Equal(0x99UL, f.Kvar(0));
        Assert.Equal(0x1234UL, f.Kvar(8));
    }

    [Fact]
    public void SwitchingCr3RunsTheOtherAddressSpacesCodeAtTheSameAddress()
    {
        using var f = new SystemFixture();
        // A second address space: the same kernel mappings, but UserCode backed by another frame.
        var other = new Lab.TestSupport.PageTableBuilder(f.Machine.Memory, new PhysAddr(0x180000), 0x40000);
        const PteFlags K = PteFlags.Writable | PteFlags.NoExecute;
        other.Map(new VirtAddr(0x1000), new PhysAddr(0x1000), 0x6000, K);
        other.Map(new VirtAddr(KernelCode), new PhysAddr(KernelCode), 0x10000, PteFlags.None);
        other.Map(new VirtAddr(0x20000), new PhysAddr(0x20000), 0x20000, K);
        other.Map(new VirtAddr(UserCode), new PhysAddr(0x240000), 0x1000, PteFlags.User);
        other.Map(new VirtAddr(UserStackTop - 0x1000), UserStackPhys, 0x1000, PteFlags.User | PteFlags.Writable);
        var second = new Assembler(64);
        second.mov(ebx, 2);
        second.@int(0x30);
        f.WriteCode(second, UserCode, new PhysAddr(0x240000));
        f.User(a => { a.mov(ebx, 1); a.@int(0x30); });

        var handler = default(Label);
        var result = f.Kernel(a =>
        {
            handler = a.CreateLabel();
            IretToUser(a);                                   // first space: ebx = 1
            a.Label(ref handler);
            a.add(__qword_ptr[(long)KernelData], rbx);
            a.cmp(rbx, 2);
            var halt = a.CreateLabel();
            a.je(halt);
            a.mov(rax, other.Root.Value);
            a.mov(cr3, rax);
            IretToUser(a);                                   // same rip, second space: ebx = 2
            a.Label(ref halt);
            a.hlt();
        });
        f.SetGate(0x30, result.GetLabelRIP(handler), dpl: 3);
        f.RunToHalt();
        Assert.Equal(3UL, f.Kvar(0));
    }

    [Fact]
    public void KernelWritesToUserCodeAreSeenByTheNextUserRun()
    {
        using var f = new SystemFixture();
        f.User(a => { a.mov(ebx, 1); a.@int(0x30); });
        var handler = default(Label);
        var result = f.Kernel(a =>
        {
            handler = a.CreateLabel();
            IretToUser(a);
            a.Label(ref handler);
            a.add(__qword_ptr[(long)KernelData], rbx);
            a.cmp(rbx, 1);
            var halt = a.CreateLabel();
            a.jne(halt);
            // Patch the user's immediate through the physical alias (identity-mapped kernel view).
            a.mov(rax, UserCodePhys.Value + 1);
            a.mov(__byte_ptr[rax], 5);
            IretToUser(a);
            a.Label(ref halt);
            a.hlt();
        });
        // The kernel needs the user code frame mapped (supervisor) to patch it.
        f.Tables.Map(new VirtAddr(UserCodePhys.Value), UserCodePhys, 0x1000, PteFlags.Writable | PteFlags.NoExecute);
        f.SetGate(0x30, result.GetLabelRIP(handler), dpl: 3);
        f.RunToHalt();
        Assert.Equal(6UL, f.Kvar(0));
        Assert.Equal(5UL, f.Cpu[R.Rbx]);
    }
}
