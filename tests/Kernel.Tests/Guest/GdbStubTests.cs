using System.Globalization;
using System.Text.RegularExpressions;
using Lab.Kernel.Common;
using Lab.Kernel.Guest;
using Lab.Kernel.Guest.Gdb;
using Lab.Machine;
using Lab.TestSupport;

namespace Lab.Kernel.Tests.Guest;

/// <summary>
/// Real gdb (batch mode) attached to the stub serving Lab's C kernel in this process: it stops on a
/// symbol and on a file:line from the DWARF line table, its registers are the machine's, memory reads
/// come through the guest's page tables (unmapped memory is an error), stepi executes one instruction,
/// and detaching leaves the machine where gdb left it.
/// </summary>
public class GdbStubTests
{
    private static ulong Hex(string s) => ulong.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    /// <summary>Serves one gdb session for <paramref name="machine"/> on a free loopback port while gdb runs <paramref name="commands"/>.</summary>
    internal static (string Gdb, GdbSessionEnd End) Debug(GuestKernelMachine machine, string elf, params string[] commands)
    {
        using var server = new GdbServer(0);
        var serving = Task.Run(() => server.ServeOne(new GuestGdbTarget(machine)));
        string output = GdbBatch.Run(elf, server.Port, commands);
        // gdb has exited (batch mode detaches at the end), so the session is over or ending.
        Assert.True(serving.Wait(TimeSpan.FromMinutes(5)), "the stub did not see gdb go\n" + output);
        return (output, serving.Result);
    }

    [Fact]
    public void GdbStopsAtASymbolAndAFileLineAndSeesTheMachine()
    {
        string elf = LabKernel.PathOf("step5", full: true);
        var symbols = KernelSymbols.FromElf(File.ReadAllBytes(elf));
        Assert.True(symbols.TryGetAddress("kernel", out var kernel));
        int line = KernelSymbolsTests.LineOf("kernel.c", "uintptr_t pa = page_alloc_any(current->pid);");
        ulong lineAddress = symbols.AddressesOfLine("kernel.c", line)[0].Value;

        using var m = LabKernel.Boot("step5", full: true);
        Assert.Equal(m.Image.Elf.Entry, m.Machine.Cpu.Rip);   // waiting at the entry, nothing run yet
        var (gdb, end) = Debug(m, elf,
            "info registers rip",
            "break kernel",
            "continue",
            "info registers rip rsp",
            "x/16xb kernel",
            "stepi",
            "info registers rip",
            "x/2gx 0x7fff00000000",
            $"break kernel.c:{line}",
            "continue",
            "bt",
            "info registers",
            "p/x $cr3",
            "p/x $cr0",
            "p/x $efer",
            "x/4gx $rsp");
        Assert.Equal(GdbSessionEnd.Detached, end);

        // At the entry first (the stub reports the machine before it runs), as gdb prints it.
        Assert.Matches($@"rip\s+0x{m.Image.Elf.Entry:x}\s+0x{m.Image.Elf.Entry:x} <entry_from_boot>", gdb);
        // break kernel / continue: stopped there, with k-entry.S's stack.
        Assert.Contains("Breakpoint 1, kernel (", gdb);
        Assert.Matches($@"rip\s+0x{kernel.Value:x}\s+0x{kernel.Value:x} <kernel>", gdb);
        Assert.Matches(@"rsp\s+0x80000\s", gdb);
        // Memory: the kernel's code as the ELF file has it.
        byte[] expected = CodeFromElf(m.Image.Elf, kernel.Value, 16);
        var bytes = Regex.Matches(gdb, @"^0x[0-9a-f]+ <kernel(?:\+\d+)?>:((?:[ \t]+0x[0-9a-f]{2}\b)+)", RegexOptions.Multiline)
            .SelectMany(x => x.Groups[1].Value.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)).Select(b => (byte)Hex(b[2..])).ToArray();
        Assert.Equal(expected, bytes);
        // stepi: one instruction, so rip moves by the first instruction's length.
        int length = Disassembler.Decode(expected, kernel, 1)[0].Bytes.Length;
        var rips = Regex.Matches(gdb, @"^rip\s+0x([0-9a-f]+)", RegexOptions.Multiline).Select(x => Hex(x.Groups[1].Value)).ToArray();
        Assert.Equal(kernel.Value + (ulong)length, rips[2]);
        // An address the page tables do not map.
        Assert.Contains("Cannot access memory at address 0x7fff00000000", gdb);
        // The file:line breakpoint from the DWARF line table, inside the page-allocation system call.
        Assert.Contains($"Breakpoint 2 at 0x{lineAddress:x}: file kernel.c, line {line}.", gdb);
        Assert.Matches($@"Breakpoint 2, .*kernel\.c:{line}", gdb);
        Assert.Matches(@"#\d+ .*sys_page_alloc", gdb);
        Assert.Matches(@"#\d+ .*exception \(", gdb);

        // The registers gdb printed last are the machine's (gdb detached: the machine waits where it stopped).
        var cpu = m.Machine.Cpu;
        Assert.Equal(lineAddress, cpu.Rip);
        Assert.Equal(cpu.Rip, GdbBatch.Register(gdb, "rip"));
        Register[] order = { Register.Rax, Register.Rbx, Register.Rcx, Register.Rdx, Register.Rsi, Register.Rdi, Register.Rbp, Register.Rsp,
            Register.R8, Register.R9, Register.R10, Register.R11, Register.R12, Register.R13, Register.R14, Register.R15 };
        foreach (var r in order) Assert.Equal(cpu[r], GdbBatch.Register(gdb, r.ToString().ToLowerInvariant()));
        Assert.Equal(cpu.RFlags, GdbBatch.Register(gdb, "eflags"));
        Assert.Equal(cpu.Selector(SegmentRegister.Cs), GdbBatch.Register(gdb, "cs"));
        Assert.Equal(cpu.Selector(SegmentRegister.Ss), GdbBatch.Register(gdb, "ss"));
        Assert.Equal(0, cpu.Cpl);
        Assert.Contains($"$1 = 0x{cpu.Cr3:x}", gdb);
        Assert.Contains($"$2 = 0x{cpu.Cr0:x}", gdb);
        Assert.Contains($"$3 = 0x{cpu.Efer:x}", gdb);
        // x/4gx $rsp: the kernel stack through the current page tables.
        var stack = Regex.Match(gdb, $@"^0x{cpu[Register.Rsp]:x}:\s+0x([0-9a-f]{{16}})\s+0x([0-9a-f]{{16}})", RegexOptions.Multiline);
        Assert.True(stack.Success, gdb);
        Span<byte> top = stackalloc byte[16];
        Assert.True(cpu.TryReadVirtual(new VirtAddr(cpu[Register.Rsp]), top, out _));
        Assert.Equal(BitConverter.ToUInt64(top), Hex(stack.Groups[1].Value));
        Assert.Equal(BitConverter.ToUInt64(top[8..]), Hex(stack.Groups[2].Value));
        // gdb's breakpoints are gone with it, and nothing was written into guest memory.
        Assert.Empty(cpu.Breakpoints);
        Assert.Equal(expected, CodeInMemory(m, kernel.Value, 16));
    }

    [Fact]
    public void GdbStepsIntoAFunctionAndFinishesBackAndCanChangeARegister()
    {
        string elf = LabKernel.PathOf("step5", full: true);
        using var m = LabKernel.Boot("step5", full: true);
        var (gdb, end) = Debug(m, elf,
            "break hardware_init",
            "continue",
            "bt",
            "finish",
            "set $rax = 0x1234567890",
            "p/x $rax",
            "stepi",
            "stepi",
            "p $pc");
        Assert.Equal(GdbSessionEnd.Detached, end);
        Assert.Contains("Breakpoint 1, hardware_init", gdb);
        Assert.Matches(@"#1 .*kernel \(", gdb);           // called from kernel()
        Assert.Matches(@"(?m)^kernel \(command=0x0\) at kernel\.c:\d+$", gdb);   // finish: back in the caller
        Assert.Contains("= 0x1234567890", gdb);
        var pcs = Regex.Matches(gdb, @"\$\d+ = \(void \(\*\)\(\)\) 0x([0-9a-f]+)").Select(x => Hex(x.Groups[1].Value)).ToArray();
        Assert.Single(pcs);
        Assert.Equal(m.Machine.Cpu.Rip, pcs[0]);
    }

    [Fact]
    public void CtrlCInGdbStopsTheRunningKernel()
    {
        string elf = LabKernel.PathOf("step5", full: true);
        using var m = LabKernel.Boot("step5", full: true);
        using var server = new GdbServer(0);
        var serving = Task.Run(() => server.ServeOne(new GuestGdbTarget(m)));
        ulong start = m.Machine.Clock;
        var (gdb, output) = GdbBatch.Start(elf, server.Port, "continue", "info registers rip", "p ticks");
        // Once the kernel has run well past its boot (its allocators loop forever), press Ctrl-C.
        Assert.True(SpinWait.SpinUntil(() => m.Machine.Clock > start + 50 * GuestGdbTarget.Slice, TimeSpan.FromMinutes(5)));
        GdbBatch.Interrupt(gdb);
        string text = GdbBatch.Finish(gdb, output);
        Assert.True(serving.Wait(TimeSpan.FromMinutes(5)), text);
        Assert.Equal(GdbSessionEnd.Detached, serving.Result);
        Assert.Contains("Program received signal SIGINT, Interrupt.", text);
        Assert.Equal(m.Machine.Cpu.Rip, GdbBatch.Register(text, "rip"));   // stopped where gdb says
        Assert.Matches(@"\$1 = [1-9]\d*", text);                           // timer ticks went by
    }

    private static byte[] CodeFromElf(Lab.Kernel.Common.ElfImage elf, ulong address, int count)
    {
        var s = elf.Segments.First(s => address >= s.VirtualAddress && address + (ulong)count <= s.VirtualAddress + s.FileSize);
        return elf.Bytes.AsSpan((int)(s.Offset + address - s.VirtualAddress), count).ToArray();
    }

    private static byte[] CodeInMemory(GuestKernelMachine m, ulong address, int count)
    {
        var b = new byte[count];
        m.Machine.Memory.Read(new PhysAddr(address), b);   // the kernel is identity-mapped
        return b;
    }
}

/// <summary>Single steps hold external interrupts off (as QEMU steps for gdb): stepping never lands in the timer handler.</summary>
public class GuestSingleStepTests
{
    private sealed class InterruptCounter : IGuestEventObserver
    {
        public int Interrupts;
        public void OnGuestEvent(X64Machine machine, in GuestEvent e)
        {
            if (e.Kind == GuestEventKind.Interrupt) Interrupts++;
        }
    }

    [Fact]
    public void SteppingPastATimerDeadlineTakesNoInterruptUntilTheKernelRunsOn()
    {
        // 100,000 instructions a tick: 250,000 steps pass two timer deadlines.
        using var m = LabKernel.Boot("step5", instructionsPerSecond: 10_000_000);
        Assert.True(m.RunUntilTimerInterrupts(3));
        var counter = new InterruptCounter();
        m.AddObserver(counter);
        ulong retired = m.Machine.InstructionsRetired;
        bool sawInterruptsEnabled = false;
        for (int i = 0; i < 250_000; i++)
        {
            sawInterruptsEnabled |= m.Machine.Cpu.InterruptsEnabled;
            m.Step();
        }
        Assert.True(sawInterruptsEnabled);                              // user code ran with IF set
        Assert.Equal(0, counter.Interrupts);
        Assert.True(m.Machine.InstructionsRetired - retired >= 240_000);  // (a hlt idles instead of retiring)
        Assert.True(m.Machine.Board!.Pic.InterruptPending);
        m.RunUntilTimerInterrupts(m.TimerInterrupts + 1);
        Assert.True(counter.Interrupts >= 1);
    }
}
