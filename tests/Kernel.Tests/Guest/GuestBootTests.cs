using System.Runtime.CompilerServices;
using Lab.Kernel.Guest;
using Lab.Machine;
using Lab.TestSupport;

namespace Lab.Kernel.Tests.Guest;

/// <summary>
/// Booting a kernel as guest code the way the WeensyOS boot loader does (ELF file or disk image),
/// with a small test kernel (minikernel/) that records the state it was entered in, draws, logs
/// through the parallel port, echoes keys and powers off through PCI; and refusing bad images.
/// </summary>
public class GuestBootTests
{
    private static string Dir([CallerFilePath] string thisFile = "") => Path.Combine(Path.GetDirectoryName(thisFile)!, "minikernel");

    internal static byte[] MiniKernel()
    {
        string dir = Dir();
        string elf = FreestandingGcc.Build(
            [Path.Combine(dir, "entry.S"), Path.Combine(dir, "mini.c")],
            ["-O1", "-mno-red-zone", "-mgeneral-regs-only", "-Wall", "-Werror", "-Wl,-T," + Path.Combine(dir, "link.ld"),
             "-Wl,-z,max-page-size=0x1000", "-Wl,--build-id=none"],
            "minikernel.elf",
            headers: [Path.Combine(dir, "link.ld")]);
        return File.ReadAllBytes(elf);
    }

    /// <summary>A disk image as mkbootdisk makes one: a boot sector (its code is not run here), then the kernel from sector 1.</summary>
    internal static byte[] DiskImage(byte[] kernel)
    {
        var disk = new byte[512 + kernel.Length];
        disk[0] = 0xFA;                 // cli, as bootstart.S begins
        disk[510] = 0x55; disk[511] = 0xAA;
        kernel.CopyTo(disk, 512);
        return disk;
    }

    private static GuestKernelMachine Boot(byte[] image)
    {
        var m = GuestKernelMachine.Create("mini", image, new GuestKernelOptions { InstructionsPerSecond = 10_000_000 }, out string? error);
        Assert.True(m is not null, error);
        return m!;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheKernelIsEnteredInTheStateTheBootLoaderLeaves(bool disk)
    {
        byte[] kernel = MiniKernel();
        using var m = Boot(disk ? DiskImage(kernel) : kernel);
        m.Run(2_000_000);
        var mem = m.Machine.Memory;
        ulong S(int off) => mem.ReadU64(new PhysAddr(0x30000 + (ulong)off));
        Assert.Equal(0x7BF8UL, S(0));                                          // rsp
        Assert.Equal(0x2UL, S(8) & 0x3FFFFF);                                  // rflags: IF and DF clear
        Assert.Equal(0x08UL, S(16) & 0xFFFF);                                  // cs
        Assert.Equal(0UL, S(18) & 0xFFFF);                                     // ss
        Assert.Equal(0UL, S(20) & 0xFFFF);                                     // ds
        Assert.Equal(0UL, S(24) & 0xFFFFFFFF);                                 // eax: not the multiboot magic
        Assert.Equal((ulong)(Cr0Flags.PE | Cr0Flags.ET | Cr0Flags.WP | Cr0Flags.PG), S(32));
        Assert.Equal(0x8000UL, S(40));
        Assert.Equal((ulong)(Cr4Flags.PSE | Cr4Flags.PAE), S(48));
        Assert.Equal((ulong)(EferFlags.SCE | EferFlags.LME | EferFlags.LMA | EferFlags.NXE), S(56) & 0xFFFFFFFF);
        Assert.Equal(0x0FUL, S(64) & 0xFFFF);                                  // GDT limit
        Assert.Equal(GuestBootLoader.GdtAt, mem.ReadU64(new PhysAddr(0x30000 + 66)));
        // The ELF header page at 0x10000, the page table at 0x8000 (one 2 MiB page), the boot sector at 0x7C00.
        Assert.Equal(0x464C457FU, mem.ReadU32(new PhysAddr(0x10000)));
        Assert.Equal(0x87UL, mem.ReadU64(new PhysAddr(0xA000)) & ~0x60UL);       // P W U PS (the CPU set A/D)
        Assert.Equal(disk ? (byte)0xFA : (byte)0, mem.ReadU8(new PhysAddr(0x7C00)));
    }

    [Fact]
    public void TheKernelDrawsLogsReadsKeysAndPowersOff()
    {
        using var m = Boot(MiniKernel());
        m.Run(2_000_000);
        Assert.Equal("MINI KERNEL", m.ScreenText()[1][..11]);
        Assert.Equal(80 + 11, m.CursorPosition);
        Assert.Equal("mini kernel up; bss zero\n", m.Log);
        Assert.False(m.Stopped);

        Assert.True(m.PressKey('A'));
        Assert.True(m.PressKey('q'));
        m.RunUntilStopped(50_000_000);
        Assert.True(m.PoweredOff);
        Assert.Equal("mini kernel up; bss zero\nkey 2a\nkey 1e\nkey 9e\nkey aa\nkey 10\n", m.Log);
    }

    [Fact]
    public void AGuestSnapshotRestoresExactlyIncludingTheLog()
    {
        using var m = Boot(MiniKernel());
        m.Run(1_000_000);
        byte[] snap = m.SaveState();
        m.PressKey('x');
        m.PressKey('q');
        m.RunUntilStopped(50_000_000);
        string expected = m.Log;

        using var n = Boot(MiniKernel());
        n.RestoreState(snap);
        Assert.Equal("mini kernel up; bss zero\n", n.Log);
        n.PressKey('x');
        n.PressKey('q');
        n.RunUntilStopped(50_000_000);
        Assert.True(n.PoweredOff);
        Assert.Equal(expected, n.Log);
        Assert.Equal(m.Machine.Clock, n.Machine.Clock);
    }

    [Fact]
    public void RebootStartsAFreshLogAndRunsTheKernelAgain()
    {
        using var m = Boot(MiniKernel());
        m.PressKey('q');
        m.RunUntilStopped(50_000_000);
        Assert.True(m.PoweredOff);
        m.Reboot();
        Assert.False(m.PoweredOff);
        m.Run(2_000_000);
        Assert.Equal("mini kernel up; bss zero\n", m.Log);
        Assert.Equal(1, m.Reboots);
    }

    public static TheoryData<string, byte[], string> BadImages => new()
    {
        { "empty", [], "empty" },
        { "text", "hello world, not a kernel"u8.ToArray(), "neither an ELF" },
        { "32-bit ELF", [0x7F, (byte)'E', (byte)'L', (byte)'F', 1, 1, 1, .. new byte[58]], "ELF64" },
    };

    [Theory]
    [MemberData(nameof(BadImages))]
    public void BadImagesAreRefusedWithAReason(string what, byte[] bytes, string reason)
    {
        var m = GuestKernelMachine.Create(what, bytes, null, out string? error);
        Assert.Null(m);
        Assert.Contains(reason, error);
    }

    [Fact]
    public void ANonX86ElfAndOversizedSegmentsAreRefused()
    {
        byte[] kernel = MiniKernel();
        byte[] arm = (byte[])kernel.Clone();
        arm[18] = 183;                                            // EM_AARCH64
        Assert.Null(GuestKernelMachine.Create("arm", arm, null, out string? e1));
        Assert.Contains("x86-64", e1);
        Assert.Null(GuestKernelMachine.Create("small", kernel, new GuestKernelOptions { MemorySize = 0x40000 }, out string? e2));
        Assert.Contains("does not fit", e2);
        Assert.Null(GuestKernelMachine.Create("huge", new byte[GuestImage.MaxSize + 1], null, out string? e3));
        Assert.Contains("limit", e3);
    }

    [Fact]
    public void AGuestResetRebootsTheSameImage()
    {
        // The mini kernel powers off on 'q'; a reset through port 0x92 comes from the host side here:
        // the machine's own reset path, then the facade boots the image again.
        using var m = Boot(MiniKernel());
        m.Run(1_000_000);
        m.Machine.Board!.Chipset.Write(0x92, 1, 1);
        m.Run(1_000_000);
        Assert.Equal(1, m.Reboots);
        Assert.Equal("mini kernel up; bss zero\nmini kernel up; bss zero\n", m.Log);
    }
}
