using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using static Lab.Machine.Tests.SystemMode.SystemFixture;
using R = Lab.Machine.Register;

namespace Lab.Machine.Tests.SystemMode;

/// <summary>
/// System mode: privilege levels, iretq, int n through gates with their DPL, the TSS stack switch,
/// error codes, #GP for privileged instructions at CPL 3, IOPL and the I/O permission bitmap.
/// </summary>
public class PrivilegeTests
{
    [Fact]
    public void TheKernelStartsAtCpl0InTheStateTheLoaderLeft()
    {
        using var f = new SystemFixture();
        f.Kernel(a => { a.mov(eax, 7); a.hlt(); });
        f.RunToHalt();
        Assert.Equal(0, f.Cpu.Cpl);
        Assert.Equal(7UL, f.Cpu[R.Rax]);
        Assert.Equal(KernelCs, f.Cpu.Selector(SegmentRegister.Cs));
        Assert.Equal(KernelSs, f.Cpu.Selector(SegmentRegister.Ss));
        Assert.Equal(TssSel, f.Cpu.TaskRegister);
        Assert.Equal(new Cpu.DescriptorTableRegister(Idt, 4095), f.Cpu.Idtr);
        Assert.False(f.Cpu.InterruptsEnabled);
        Assert.True(f.Cpu.Halted);
    }

    [Fact]
    public void IretqEntersUserModeAndIntComesBackOnTheTssStack()
    {
        using var f = new SystemFixture();
        f.SetGate(0x30, Stubs + 0x30 * 16, dpl: 3);
        f.Kernel(a => IretToUser(a, rflags: 0x2));
        var user = f.User(a => { a.mov(ebx, 42); a.@int(0x30); a.nop(); });
        f.RunToHalt();

        Assert.Equal(0x30UL, f.Rec(RecVector));
        Assert.Equal(0UL, f.Rec(RecError));
        Assert.Equal(UserCode + 5 + 2, f.Rec(RecRip));      // the instruction after int 0x30
        Assert.Equal((ulong)UserCs, f.Rec(RecCs));
        Assert.Equal(0x2UL, f.Rec(RecFlags) & ~0x8D5UL);    // status flags aside: IF clear, reserved bit set
        Assert.Equal(UserStackTop, f.Rec(RecRsp));
        Assert.Equal((ulong)UserSs, f.Rec(RecSs));
        // The frame is on rsp0 (5 words), then the stub pushed the zero error code and the vector.
        Assert.Equal(KernelStackTop - 7 * 8, f.Rec(RecHandlerRsp));
        Assert.Equal(42UL, f.Cpu[R.Rbx]);
        Assert.Equal(0, f.Cpu.Cpl);
        Assert.Equal(0, f.Cpu.Selector(SegmentRegister.Ss));   // a privilege change loads a null SS
        var e = Assert.Single(f.Events);
        Assert.Equal(GuestEventKind.SoftwareInterrupt, e.Kind);
        Assert.Equal(0x30, e.Vector);
        Assert.Equal(3, e.Cpl);
    }

    [Fact]
    public void IntThroughAKernelOnlyGateRaisesGeneralProtectionWithTheGateInTheErrorCode()
    {
        using var f = new SystemFixture();
        f.Kernel(a => IretToUser(a));
        f.User(a => { a.nop(); a.@int(0x31); });
        f.RunToHalt();
        Assert.Equal(13UL, f.Rec(RecVector));
        Assert.Equal((0x31UL << 3) | 2, f.Rec(RecError));   // IDT bit, not external
        Assert.Equal(UserCode + 1, f.Rec(RecRip));          // the int instruction itself
        Assert.Equal((ulong)UserCs, f.Rec(RecCs));
    }

    public static TheoryData<string, byte[]> PrivilegedInstructions => new()
    {
        { "cli", [0xFA] },
        { "sti", [0xFB] },
        { "hlt", [0xF4] },
        { "mov cr3, rax", [0x0F, 0x22, 0xD8] },
        { "mov rax, cr0", [0x0F, 0x20, 0xC0] },
        { "in al, 0x60", [0xE4, 0x60] },
        { "out dx, al", [0xEE] },
        { "lgdt [rax]", [0x0F, 0x01, 0x10] },
        { "lidt [rax]", [0x0F, 0x01, 0x18] },
        { "ltr ax", [0x0F, 0x00, 0xD8] },
        { "rdmsr", [0x0F, 0x32] },
        { "wrmsr", [0x0F, 0x30] },
        { "invlpg [rax]", [0x0F, 0x01, 0x38] },
        { "swapgs", [0x0F, 0x01, 0xF8] },
        { "wbinvd", [0x0F, 0x09] },
        { "sysretq", [0x48, 0x0F, 0x07] },
        { "mov dr7, rax", [0x0F, 0x23, 0xF8] },
    };

    [Theory]
    [MemberData(nameof(PrivilegedInstructions))]
    public void PrivilegedInstructionsAtCpl3RaiseGeneralProtectionInTheKernelsHandler(string name, byte[] code)
    {
        using var f = new SystemFixture();
        f.Kernel(a => IretToUser(a, rflags: 0x202));
        f.Machine.Memory.Write(UserCodePhys, [0x48, 0xB8, .. BitConverter.GetBytes(UserData), 0xBA, 0x60, 0, 0, 0, .. code]);   // mov rax, UserData; mov edx, 0x60
        f.RunToHalt();
        Assert.True(13UL == f.Rec(RecVector), $"{name}: vector {f.Rec(RecVector)}");
        Assert.Equal(0UL, f.Rec(RecError));
        Assert.Equal(UserCode + 15, f.Rec(RecRip));
        Assert.Equal((ulong)UserCs, f.Rec(RecCs));
        Assert.Equal(0x200UL, f.Rec(RecFlags) & 0x200);       // the user's IF, as saved
        Assert.DoesNotContain(f.Events, e => e.Kind == GuestEventKind.UnansweredPort);
    }

    [Fact]
    public void IoplThreeLetsUserCodeUseCliAndPorts()
    {
        using var f = new SystemFixture();
        f.Kernel(a => IretToUser(a, rflags: 0x3202));
        f.User(a => { a.cli(); a.mov(dx, 0x3F8); a.@in(al, dx); a.mov(bl, al); a.@int(0x31); });
        f.RunToHalt();
        Assert.Equal(13UL, f.Rec(RecVector));                  // only the int 0x31 (DPL 0 gate) faulted
        Assert.Equal((0x31UL << 3) | 2, f.Rec(RecError));
        Assert.Equal(0UL, f.Rec(RecFlags) & 0x200);            // cli took effect at CPL 3
        Assert.Equal(0xFFUL, f.Cpu[R.Rbx] & 0xFF);             // nobody answers port 0x3F8
        Assert.Contains(f.Events, e => e.Kind == GuestEventKind.UnansweredPort && e.Port == 0x3F8 && !e.PortWrite);
    }

    [Fact]
    public void TheTssIoBitmapGrantsSinglePortsToUserCode()
    {
        using var f = new SystemFixture();
        f.Kernel(a => IretToUser(a));
        f.User(a => { a.mov(al, 1); a.@out(0x80, al); a.@out(0x81, al); });
        f.RunToHalt();
        Assert.Equal(13UL, f.Rec(RecVector));
        Assert.Equal(UserCode + 4, f.Rec(RecRip));             // port 0x80 allowed, 0x81 not
        var port = Assert.Single(f.Events, e => e.Kind == GuestEventKind.UnansweredPort);
        Assert.Equal(0x80, port.Port);
        Assert.True(port.PortWrite);
    }

    [Fact]
    public void PopfAtCpl3CannotChangeIfOrIoplAndCpl0Can()
    {
        using var f = new SystemFixture();
        f.Kernel(a =>
        {
            a.push(0x3002);          // IOPL 3, IF 0
            a.popfq();
            a.pushfq();
            a.pop(rax);
            a.mov(__qword_ptr[(long)KernelData], rax);
            IretToUser(a, rflags: 0x202);
        });
        f.User(a => { a.push(0x3002); a.popfq(); a.pushfq(); a.pop(rbx); a.@int(0x31); });
        f.RunToHalt();
        Assert.Equal(0x3002UL, f.Kvar(0) & 0x3202);            // the kernel set IOPL 3 and cleared IF
        Assert.Equal(0x202UL, f.Cpu[R.Rbx] & 0x3202);          // the user's popf changed neither
    }

    [Fact]
    public void NestedInterruptInTheKernelStaysOnTheKernelStack()
    {
        using var f = new SystemFixture();
        f.Kernel(a => { a.mov(rsp, KernelStackTop - 0x108); a.@int(0x40); });
        f.RunToHalt();
        Assert.Equal(0x40UL, f.Rec(RecVector));
        Assert.Equal((ulong)KernelCs, f.Rec(RecCs));
        Assert.Equal(KernelStackTop - 0x108, f.Rec(RecRsp));
        Assert.Equal((ulong)KernelSs, f.Rec(RecSs));
        // No stack switch, but the frame starts 16-byte aligned.
        Assert.Equal(KernelStackTop - 0x110 - 7 * 8, f.Rec(RecHandlerRsp));
    }

    [Fact]
    public void IstStackIsUsedEvenWithoutAPrivilegeChange()
    {
        using var f = new SystemFixture();
        f.SetGate(0x41, Stubs + 0x41 * 16, ist: 1);
        f.Kernel(a => a.@int(0x41));
        f.RunToHalt();
        Assert.Equal(IstStackTop - 7 * 8, f.Rec(RecHandlerRsp));
        Assert.Equal(KernelStackTop, f.Rec(RecRsp));
    }

    [Fact]
    public void IretqToCpl0FromAHandlerResumesTheKernel()
    {
        using var f = new SystemFixture();
        var handler = default(Label);
        var result = f.Kernel(a =>
        {
            handler = a.CreateLabel();
            a.mov(ecx, 3);
            var loop = a.CreateLabel();
            a.Label(ref loop);
            a.@int(0x42);
            a.dec(ecx);
            a.jnz(loop);
            a.hlt();
            a.Label(ref handler);
            a.inc(__qword_ptr[(long)KernelData]);
            a.iretq();
        });
        f.SetGate(0x42, result.GetLabelRIP(handler));
        f.RunToHalt();
        Assert.Equal(3UL, f.Kvar(0));
        Assert.Equal(KernelStackTop, f.Cpu[R.Rsp]);
    }
}
