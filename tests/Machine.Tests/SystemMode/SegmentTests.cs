using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static Lab.Machine.Tests.SystemMode.SystemFixture;
using R = Lab.Machine.Register;

namespace Lab.Machine.Tests.SystemMode;

/// <summary>
/// System mode: syscall/sysret through STAR/LSTAR/FMASK, swapgs and the base MSRs, segment register
/// loads with their checks, far returns, and the control registers and MSRs as the kernel sees them.
/// </summary>
public class SegmentTests
{
    [Fact]
    public void SyscallEntersTheKernelAtLstarAndSysretReturns()
    {
        using var f = new SystemFixture();
        var entry = default(Label);
        var result = f.Kernel(a =>
        {
            entry = a.CreateLabel();
            void Wrmsr(uint msr, ulong v) { a.mov(ecx, msr); a.mov(eax, (uint)v); a.mov(edx, (uint)(v >> 32)); a.wrmsr(); }
            Wrmsr(Msr.Star, ((ulong)0x10 << 48) | ((ulong)KernelCs << 32));
            a.lea(rax, __[entry]);
            a.mov(rdx, rax);
            a.shr(rdx, 32);
            a.mov(ecx, Msr.Lstar);
            a.wrmsr();
            Wrmsr(Msr.Fmask, 0x200);
            Wrmsr(Msr.KernelGsBase, KernelData);
            IretToUser(a, rflags: 0x202);
            a.Label(ref entry);
            a.swapgs();
            a.mov(__qword_ptr.gs[16], rcx);  // gs base = KernelData: records rcx
            a.mov(__qword_ptr.gs[24], r11);
            a.pushfq();
            a.pop(rax);
            a.mov(__qword_ptr.gs[32], rax);
            a.mov(ax, ss);
            a.mov(__word_ptr.gs[40], ax);
            a.swapgs();
            a.mov(eax, 99);
            a.sysretq();
        });
        var user = f.User(a => { a.mov(eax, 1); a.syscall(); a.mov(ebx, eax); a.@int(0x31); });
        f.RunToHalt();
        Assert.Equal(UserCode + 5 + 2, f.Kvar(16));             // rcx: the instruction after syscall
        Assert.Equal(0x202UL, f.Kvar(24) & 0x202);              // r11: the user's rflags
        Assert.Equal(0UL, f.Kvar(32) & 0x200);                  // IF masked by FMASK in the kernel
        Assert.Equal((ulong)KernelSs, f.Kvar(40) & 0xFFFF);     // SS = STAR[47:32] + 8
        Assert.Equal(99UL, f.Cpu[R.Rbx]);                       // back in user mode after sysret
        Assert.Equal(13UL, f.Rec(RecVector));                   // int 0x31 from CPL 3
        Assert.Equal((ulong)UserCs, f.Rec(RecCs));              // CS = STAR[63:48] + 16 | 3
        Assert.Equal((ulong)UserSs, f.Rec(RecSs));
        Assert.Equal(KernelData, f.Cpu.KernelGsBase);          // swapped there and back
        Assert.Contains(f.Events, e => e.Kind == GuestEventKind.Syscall && e.Rip.Value == UserCode + 7);
    }

    [Fact]
    public void SyscallWithoutSceIsAnInvalidOpcode()
    {
        using var f = new SystemFixture();
        f.Kernel(a =>
        {
            a.mov(ecx, Msr.Efer);
            a.rdmsr();
            a.and(eax, ~(int)EferFlags.SCE);
            a.wrmsr();
            a.mov(rcx, 0x1234);
            a.syscall();
        });
        f.RunToHalt();
        Assert.Equal(6UL, f.Rec(RecVector));
        Assert.Equal(0x1234UL, f.Cpu[R.Rcx]);   // untouched by the faulting syscall
    }

    [Fact]
    public void FsBaseComesFromTheDescriptorOrTheMsr()
    {
        using var f = new SystemFixture();
        f.Machine.Memory.WriteU64(new PhysAddr(FsSegmentBase + 8), 0xABCD);
        f.Machine.Memory.WriteU64(new PhysAddr(KernelData + 8), 0x5678);
        f.Kernel(a =>
        {
            a.mov(ax, FsSel);
            a.mov(fs, ax);
            a.mov(rbx, __qword_ptr.fs[8]);
            a.mov(ecx, Msr.FsBase);
            a.mov(eax, (uint)KernelData);
            a.xor(edx, edx);
            a.wrmsr();
            a.mov(rsi, __qword_ptr.fs[8]);
            a.push(fs);
            a.pop(rdi);
            a.hlt();
        });
        f.RunToHalt();
        Assert.Equal(0xABCDUL, f.Cpu[R.Rbx]);
        Assert.Equal(0x5678UL, f.Cpu[R.Rsi]);
        Assert.Equal((ulong)FsSel, f.Cpu[R.Rdi]);
        // Loading the descriptor set its accessed bit in the GDT.
        Assert.NotEqual(0, f.Machine.Memory.ReadU8(new PhysAddr(Gdt + FsSel + 5)) & 1);
    }

    public static TheoryData<string, ushort, int, ulong> BadSegmentLoads => new()
    {
        { "beyond the GDT", 0x80, 13, 0x80 },
        { "a not-present segment", AbsentSel, 11, AbsentSel },
        { "the TSS as data", TssSel, 13, TssSel },
        { "user data into SS at CPL 0", UserSs, 13, 0x18 },
        { "a null SS with the wrong RPL", 3, 13, 0 },
    };

    [Theory]
    [MemberData(nameof(BadSegmentLoads))]
    public void BadSegmentLoadsFaultWithTheSelectorAsErrorCode(string what, ushort selector, int vector, ulong error)
    {
        using var f = new SystemFixture();
        bool ss = what.Contains("SS");
        f.Kernel(a =>
        {
            a.mov(ax, selector);
            if (ss) a.mov(AssemblerRegisters.ss, ax); else a.mov(ds, ax);
        });
        f.RunToHalt();
        Assert.True((ulong)vector == f.Rec(RecVector), $"{what}: vector {f.Rec(RecVector)}");
        Assert.Equal(error, f.Rec(RecError));
    }

    [Fact]
    public void UserCodeCannotLoadAKernelDataSegment()
    {
        using var f = new SystemFixture();
        f.Kernel(a => IretToUser(a));
        f.User(a => { a.mov(ax, KernelSs); a.mov(ds, ax); });
        f.RunToHalt();
        Assert.Equal(13UL, f.Rec(RecVector));
        Assert.Equal((ulong)KernelSs, f.Rec(RecError));
    }

    [Fact]
    public void FarReturnReloadsCsAndCanDropToUserMode()
    {
        using var f = new SystemFixture();
        var after = default(Label);
        f.Kernel(a =>
        {
            after = a.CreateLabel();
            a.push(KernelCs);
            a.lea(rax, __[after]);
            a.push(rax);
            a.db(0x48, 0xCB);            // lretq: same privilege
            a.Label(ref after);
            // To user mode: rip, cs, rsp, ss.
            a.push(UserSs);
            a.mov(rax, UserStackTop - 0x100);
            a.push(rax);
            a.push(UserCs);
            a.mov(rax, UserCode);
            a.push(rax);
            a.db(0x48, 0xCB);
        });
        f.User(a => { a.mov(rbx, rsp); a.@int(0x31); });
        f.RunToHalt();
        Assert.Equal(UserStackTop - 0x100, f.Cpu[R.Rbx]);
        Assert.Equal((ulong)UserCs, f.Rec(RecCs));
        Assert.Equal(0, f.Cpu.Selector(SegmentRegister.Ds) & 0xFFFC);   // DS (DPL 0) nulled on the way out
    }

    [Fact]
    public void IretqRefusesToReturnToAMorePrivilegedLevel()
    {
        using var f = new SystemFixture();
        f.SetGate(0x30, 0, dpl: 3);      // replaced below
        var result = f.Kernel(a =>
        {
            IretToUser(a);
        });
        // User code builds a frame targeting CPL 0 and executes iretq.
        f.User(a =>
        {
            a.push(KernelSs);
            a.push(rsp);
            a.push(2);
            a.push(KernelCs);
            a.push(0x1000);
            a.iretq();
        });
        f.RunToHalt();
        Assert.Equal(13UL, f.Rec(RecVector));
        Assert.Equal((ulong)KernelCs, f.Rec(RecError));
        Assert.Equal((ulong)UserCs, f.Rec(RecCs));
    }

    [Fact]
    public void ControlRegistersAndMsrsReadBackAndLongModeCannotBeLeft()
    {
        using var f = new SystemFixture();
        f.Kernel(a =>
        {
            a.mov(rax, cr0); a.mov(__qword_ptr[(long)KernelData], rax);
            a.mov(rax, cr4); a.mov(__qword_ptr[(long)KernelData + 8], rax);
            a.mov(ecx, Msr.ApicBase); a.rdmsr(); a.mov(__dword_ptr[(long)KernelData + 16], eax);
            a.mov(ecx, Msr.Efer); a.rdmsr(); a.mov(__dword_ptr[(long)KernelData + 24], eax);
            a.mov(rax, cr0);
            a.and(eax, 0x7FFFFFFF);      // clear PG
            a.mov(cr0, rax);
        });
        f.RunToHalt();
        Assert.Equal((ulong)(Cr0Flags.PE | Cr0Flags.PG | Cr0Flags.WP | Cr0Flags.ET), f.Kvar(0));
        Assert.Equal((ulong)Cr4Flags.PAE, f.Kvar(8));
        Assert.Equal(0xFEE00900UL, f.Kvar(16) & 0xFFFFFFFF);
        Assert.Equal((ulong)(EferFlags.LME | EferFlags.LMA | EferFlags.SCE | EferFlags.NXE), f.Kvar(24) & 0xFFFFFFFF);
        Assert.Equal(13UL, f.Rec(RecVector));
        Assert.Equal(0UL, f.Rec(RecError));
    }

    [Fact]
    public void AnUnknownMsrRaisesGeneralProtection()
    {
        using var f = new SystemFixture();
        f.Kernel(a => { a.mov(ecx, 0x12345); a.rdmsr(); });
        f.RunToHalt();
        Assert.Equal(13UL, f.Rec(RecVector));
    }

    [Fact]
    public void SgdtAndStrShowTheLoadedTables()
    {
        using var f = new SystemFixture();
        f.Kernel(a =>
        {
            a.sgdt(__[(long)KernelData]);
            a.sidt(__[(long)KernelData + 16]);
            a.str(bx);
            a.hlt();
        });
        f.RunToHalt();
        Assert.Equal(8UL * 9 - 1, f.Kvar(0) & 0xFFFF);
        Assert.Equal(Gdt, f.Machine.Memory.ReadU64(new PhysAddr(KernelData + 2)));
        Assert.Equal(4095UL, f.Kvar(16) & 0xFFFF);
        Assert.Equal((ulong)TssSel, f.Cpu[R.Rbx] & 0xFFFF);
        // ltr marked the TSS busy.
        Assert.Equal(0x8B, f.Machine.Memory.ReadU8(new PhysAddr(Gdt + TssSel + 5)));
    }
}
