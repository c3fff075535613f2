using Iced.Intel;
using Lab.Machine.Devices;
using static Iced.Intel.AssemblerRegisters;
using static Lab.Machine.Tests.SystemMode.SystemFixture;
using R = Lab.Machine.Register;

namespace Lab.Machine.Tests.SystemMode;

/// <summary>
/// The port-bus devices as a kernel drives them: the keyboard controller's scancodes, the parallel
/// port's log, the CGA cursor, PCI power-off the way WeensyOS finds it, resets, the PIT's counter,
/// unanswered ports; and snapshots of a running system-mode machine.
/// </summary>
public class DeviceTests
{
    private static void Out(Assembler a, ushort port, int value)
    {
        a.mov(dx, port);
        a.mov(al, (byte)value);
        a.@out(dx, al);
    }

    [Fact]
    public void TypedKeysArriveAsSet1ScancodesThroughPorts60And64()
    {
        using var f = new SystemFixture();
        Assert.True(f.Machine.Board!.Keyboard.TypeKey('a'));
        Assert.True(f.Machine.Board.Keyboard.TypeKey('A'));
        Assert.True(f.Machine.Board.Keyboard.TypeKey((char)3));   // Ctrl-C
        f.Kernel(a =>
        {
            // Read every byte the controller has into KernelData[1..], count in KernelData[0].
            a.mov(rdi, KernelData + 8);
            var poll = a.CreateLabel(); var done = a.CreateLabel();
            a.Label(ref poll);
            a.@in(al, 0x64);
            a.test(al, 1);
            a.jz(done);
            a.@in(al, 0x60);
            a.mov(__byte_ptr[rdi], al);
            a.inc(rdi);
            a.inc(__qword_ptr[(long)KernelData]);
            a.jmp(poll);
            a.Label(ref done);
            a.hlt();
        });
        f.RunToHalt();
        byte[] got = f.Machine.Memory.View(new PhysAddr(KernelData + 8), (int)f.Kvar(0)).ToArray();
        Assert.Equal([0x1E, 0x9E, 0x2A, 0x1E, 0x9E, 0xAA, 0x1D, 0x2E, 0xAE, 0x9D], got);
    }

    [Fact]
    public void TheParallelPortPrintsOnTheStrobeLikeLogPrintf()
    {
        using var f = new SystemFixture();
        f.Kernel(a =>
        {
            Out(a, 0x37A, 0);                       // reset the printer (INIT low)
            foreach (char c in "OK\n")
            {
                a.mov(dx, 0x379);
                a.@in(al, dx);                       // status: BUSY# set means ready
                a.mov(bl, al);
                Out(a, 0x378, c);
                Out(a, 0x37A, 0x0D);                 // SELECT | INIT | STROBE
                Out(a, 0x37A, 0x0C);
            }
            Out(a, 0x378, 'X');                      // no strobe: not printed
            a.hlt();
        });
        f.RunToHalt();
        Assert.Equal("OK\n", global::System.Text.Encoding.ASCII.GetString(f.Machine.Board!.Parallel.Output));
        Assert.Equal(0x80UL, f.Cpu[R.Rbx] & 0x80);
    }

    [Fact]
    public void TheCursorMovesThroughTheCrtcRegisters()
    {
        using var f = new SystemFixture();
        f.Kernel(a =>
        {
            Out(a, 0x3D4, 14); Out(a, 0x3D5, 0x03);
            Out(a, 0x3D4, 15); Out(a, 0x3D5, 0x20);
            Out(a, 0x3D4, 15); a.mov(dx, 0x3D5); a.@in(al, dx); a.mov(bl, al);
            a.hlt();
        });
        f.RunToHalt();
        Assert.Equal(0x320, f.Machine.Board!.Crtc.CursorPosition);
        Assert.Equal(0x20UL, f.Cpu[R.Rbx] & 0xFF);
    }

    /// <summary>Kernel code doing what WeensyOS's poweroff() does: scan PCI for 8086:7113, read its
    /// PM base from config register 0x40, write SLP_EN to PM1_CNT.</summary>
    [Fact]
    public void PowerOffThroughThePiix4FoundOnThePciBus()
    {
        using var f = new SystemFixture();
        f.Kernel(a =>
        {
            var next = a.CreateLabel(); var found = a.CreateLabel();
            a.mov(ebx, 0x80000000);                // bus 0, device 0, function 0
            var loop = a.CreateLabel();
            a.Label(ref loop);
            a.mov(eax, ebx);
            a.mov(dx, 0xCF8);
            a.@out(dx, eax);
            a.mov(dx, 0xCFC);
            a.@in(eax, dx);
            a.cmp(eax, 0x71138086);
            a.je(found);
            a.add(ebx, 0x100);                     // next function
            a.cmp(ebx, 0x80010000);
            a.jb(loop);
            a.hlt();
            a.Label(ref found);
            a.mov(__qword_ptr[(long)KernelData], rbx);
            a.lea(eax, __[rbx + 0x40]);
            a.mov(dx, 0xCF8);
            a.@out(dx, eax);
            a.mov(dx, 0xCFC);
            a.@in(eax, dx);
            a.and(eax, 0xFFC0);
            a.lea(edx, __[rax + 4]);
            a.mov(ax, 0x2000);
            a.@out(dx, ax);
            a.Label(ref next);
            a.jmp(next);                           // QEMU stops here; so do we
        });
        var r = f.Machine.Run(10_000_000);
        Assert.Equal(RunExit.PowerOff, r.Exit);
        Assert.True(f.Machine.PoweredOff);
        Assert.Equal(0x8000_0B00UL, f.Kvar(0));    // found at 00:01.3
        Assert.Equal(RunExit.PowerOff, f.Machine.Run(1000).Exit);
        Assert.DoesNotContain(f.Events, e => e.Kind == GuestEventKind.UnansweredPort);
    }

    [Theory]
    [InlineData((ushort)0x92, 1)]
    [InlineData((ushort)0xCF9, 6)]
    [InlineData((ushort)0x64, 0xFE)]
    public void ResetRequestsStopTheMachineUntilItIsBootedAgain(ushort port, int value)
    {
        using var f = new SystemFixture();
        f.Kernel(a => { Out(a, port, value); var spin = a.CreateLabel(); a.Label(ref spin); a.jmp(spin); });
        var r = f.Machine.Run(1_000_000);
        Assert.Equal(RunExit.Reset, r.Exit);
        Assert.True(f.Machine.AwaitingBoot);
        Assert.Equal(0, f.Cpu[R.Rsp] == 0 ? 0 : 1);   // registers cleared by the reset
    }

    [Fact]
    public void ThePitCounterCanBeLatchedAndReadBack()
    {
        // 1 clock unit per PIT tick: the count falls by one per instruction.
        using var f = new SystemFixture(instructionsPerSecond: Pit.InputHz);
        f.Kernel(a =>
        {
            Out(a, 0x43, 0x34);
            Out(a, 0x40, 0x00);
            Out(a, 0x40, 0x10);                    // 0x1000
            for (int i = 0; i < 10; i++) a.nop();
            Out(a, 0x43, 0x00);                    // latch channel 0
            a.@in(al, 0x40);
            a.mov(bl, al);
            a.@in(al, 0x40);
            a.mov(bh, al);
            a.hlt();
        });
        f.RunToHalt();
        ushort count = (ushort)f.Cpu[R.Rbx];
        // Loaded at the out that wrote the high byte; 10 nops and 2 movs and an out later, latched.
        Assert.Equal(0x1000 - 13, count);
    }

    [Fact]
    public void AnUnansweredPortReadsAllOnesAndIsReportedOnce()
    {
        using var f = new SystemFixture();
        Label first = default, wide = default;
        var result = f.Kernel(a =>
        {
            first = a.CreateLabel();
            wide = a.CreateLabel();
            a.mov(dx, 0x2F8);
            a.Label(ref first);
            a.@in(al, dx);
            a.@in(al, dx);
            a.Label(ref wide);
            a.@in(ax, dx);      // 0x2F8 and 0x2F9
            a.mov(ebx, eax);
            a.hlt();
        });
        f.RunToHalt();
        Assert.Equal(0xFFFFUL, f.Cpu[R.Rbx] & 0xFFFF);
        var reports = f.Events.Where(e => e.Kind == GuestEventKind.UnansweredPort).ToList();
        Assert.Equal([(ushort)0x2F8, (ushort)0x2F9], reports.Select(e => e.Port));
        Assert.Equal(result.GetLabelRIP(first), reports[0].Rip.Value);     // the instruction that touched it
        Assert.Equal(result.GetLabelRIP(wide), reports[1].Rip.Value);
    }

    [Fact]
    public void ASnapshotOfARunningSystemMachineRestoresExactly()
    {
        const ulong Ips = 1_193_182 * 10;
        static void Build(SystemFixture f)
        {
            var handler = default(Label);
            var result = f.Kernel(a =>
            {
                handler = a.CreateLabel();
                void O(ushort port, int v) { a.mov(al, (byte)v); a.@out((byte)port, al); }
                O(0x21, 0xFF); O(0xA1, 0xFF);
                O(0x20, 0x11); O(0x21, 32); O(0x21, 4); O(0x21, 3);
                O(0x43, 0x34); O(0x40, 77); O(0x40, 0);
                O(0x21, 0xFE);
                IretToUser(a);
                a.Label(ref handler);
                a.push(rax);
                a.push(rdx);
                a.inc(__qword_ptr[(long)KernelData]);
                a.mov(rax, __qword_ptr[(long)KernelData]);
                a.mov(dx, 0x378);                  // log the count's low byte to the parallel port
                a.add(al, (byte)'0');
                a.@out(dx, al);
                a.mov(dx, 0x37A);
                a.mov(al, 0x0D);
                a.@out(dx, al);
                a.mov(al, 0x0C);
                a.@out(dx, al);
                a.pop(rdx);
                a.pop(rax);
                a.iretq();
            });
            f.SetGate(32, result.GetLabelRIP(handler));
            // User code: an LCG loop writing its state to memory.
            f.User(a =>
            {
                var loop = a.CreateLabel();
                a.mov(rax, 12345);
                a.mov(rdi, UserData);
                a.Label(ref loop);
                a.imul(rax, rax, 1103515245);
                a.add(rax, 12345);
                a.mov(__qword_ptr[rdi], rax);
                a.add(rdi, 8);
                a.and(rdi, 0xFFFF);
                a.or(rdi, (int)UserData);
                a.jmp(loop);
            });
        }
        using var a1 = new SystemFixture(Ips);
        Build(a1);
        a1.Machine.Run(123_457);
        byte[] snap = a1.Machine.SaveState();
        a1.Machine.Run(200_000);

        using var b = new SystemFixture(Ips);
        Build(b);
        b.Machine.RestoreState(snap);
        b.Machine.Run(200_000);

        Assert.Equal(a1.Machine.Clock, b.Machine.Clock);
        Assert.Equal(a1.Cpu.Rip, b.Cpu.Rip);
        Assert.Equal(a1.Cpu.RFlags, b.Cpu.RFlags);
        Assert.Equal(a1.Cpu.Cpl, b.Cpu.Cpl);
        var ra = new ulong[16]; var rb = new ulong[16];
        a1.Cpu.GetRegisters(ra); b.Cpu.GetRegisters(rb);
        Assert.Equal(ra, rb);
        Assert.True(a1.Machine.Board!.Parallel.Output.SequenceEqual(b.Machine.Board!.Parallel.Output));
        Assert.True(a1.Machine.Board.Parallel.Output.Length > 10);
        Assert.True(a1.Machine.Memory.View(UserDataPhys, 0x10000).SequenceEqual(b.Machine.Memory.View(UserDataPhys, 0x10000)));
        Assert.Equal(a1.Machine.InterruptsDelivered(0), b.Machine.InterruptsDelivered(0));
    }

    [Fact]
    public void ASystemSnapshotDoesNotRestoreIntoAUserModeMachine()
    {
        using var f = new SystemFixture();
        f.Kernel(a => a.hlt());
        byte[] snap = f.Machine.SaveState();
        using var hle = new X64Machine(new MachineOptions { MemorySize = 4 << 20 });
        Assert.Throws<InvalidDataException>(() => hle.RestoreState(snap));
    }
}
