namespace Lab.Machine.Tests.SystemMode;

/// <summary>
/// User-mode HLE is unchanged by system mode: the privileged instructions a system-mode CPU executes
/// still reach the owner's trap handler as #GP (or as hlt / #UD, as before), at CPL 3.
/// </summary>
public class HleUnchangedTests
{
    public static TheoryData<string, byte[], TrapKind> Cases => new()
    {
        { "cli", [0xFA], TrapKind.GeneralProtection },
        { "sti", [0xFB], TrapKind.GeneralProtection },
        { "mov cr3, rax", [0x0F, 0x22, 0xD8], TrapKind.GeneralProtection },
        { "in al, 0x60", [0xE4, 0x60], TrapKind.GeneralProtection },
        { "out dx, al", [0xEE], TrapKind.GeneralProtection },
        { "lgdt [rax]", [0x0F, 0x01, 0x10], TrapKind.GeneralProtection },
        { "wrmsr", [0x0F, 0x30], TrapKind.GeneralProtection },
        { "swapgs", [0x0F, 0x01, 0xF8], TrapKind.GeneralProtection },
        { "hlt", [0xF4], TrapKind.Halt },
        { "iretq", [0x48, 0xCF], TrapKind.InvalidOpcode },
        { "mov ds, ax", [0x8E, 0xD8], TrapKind.InvalidOpcode },
        { "lretq", [0x48, 0xCB], TrapKind.InvalidOpcode },
        { "int 0x80", [0xCD, 0x80], TrapKind.SoftwareInterrupt },
        { "syscall", [0x0F, 0x05], TrapKind.Syscall },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void PrivilegedInstructionsStillTrapToTheOwner(string name, byte[] code, TrapKind expected)
    {
        using var f = new CpuFixture();
        f.LoadBytes(code);
        Trap t = f.Run();
        Assert.True(expected == t.Kind, $"{name}: {t}");
        Assert.Equal(3, f.Cpu.Cpl);
        Assert.Null(f.Machine.Board);
    }
}
