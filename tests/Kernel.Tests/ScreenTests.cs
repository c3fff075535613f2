using Lab.Kernel.Weensy;
using static Lab.Kernel.Tests.KernelRun;

namespace Lab.Kernel.Tests;

/// <summary>Known cells of the CGA screen (WEENSYOS.md §3) for each program at each step.</summary>
public class ScreenTests
{
    /// <summary>Virtual-map cell of virtual page vpn.</summary>
    private static (int Row, int Col) VirtualCell(int vpn) => (11 + vpn / 64, 12 + vpn % 64);
    private static (int Row, int Col) PhysicalCell(int pn) => (1 + pn / 64, 12 + pn % 64);

    [Theory]
    [MemberData(nameof(AllSteps), MemberType = typeof(KernelRun))]
    public void Allocator_headers_labels_and_fixed_pages(LabStep step)
    {
        using var m = new WeensyMachine(Options("allocator", step));
        m.RunUntilTick(120);
        Assert.False(m.Halted, m.Kernel.PanicMessage ?? m.Kernel.InvariantFailure);

        Assert.Equal("PHYSICAL MEMORY", Text(m, 0, 32, 15));
        Assert.Equal(0x0F50, Cell(m, 0, 32));                       // 'P' in white
        string[] physLabels = ["0x000000", "0x040000", "0x080000", "0x0C0000", "0x100000", "0x140000", "0x180000", "0x1C0000"];
        for (int r = 0; r < 8; r++)
        {
            Assert.Equal(physLabels[r] + " ", Text(m, 1 + r, 3, 9));
            Assert.Equal(0x0F30, Cell(m, 1 + r, 3));
        }
        Assert.Equal("VIRTUAL ADDRESS SPACE FOR ", Text(m, 10, 26, 26));
        for (int r = 0; r < 12; r++) Assert.Equal($"0x{r * 0x40000:X6} ", Text(m, 11 + r, 3, 9));
        Assert.Equal(new string(' ', 80), Row(m, 9));
        for (int r = 0; r < 23; r++)
        {
            Assert.Equal("   ", Text(m, r, 0, 3).Replace('\0', ' '));
            Assert.Equal("    ", Text(m, r, 76, 4));
        }

        // Physical layout: page 0 reserved, the kernel image 0x40000-0x5B000 and stack 0x7F000,
        // 0xA0000-0xFFFFF reserved.
        var (r0, c0) = PhysicalCell(0);
        Assert.Equal(0x0752, Cell(m, r0, c0));
        for (int pn = 0x40; pn <= 0x5B; pn++)
        {
            var (r, c) = PhysicalCell(pn);
            ushort expected = step < LabStep.PerProcessPageTables && pn == 0x56 ? (ushort)0x054B : (ushort)0x0D4B;
            Assert.Equal(expected, Cell(m, r, c));                  // the shared L1 table is dimmed
        }
        var (rs, cs) = PhysicalCell(0x7F);
        Assert.Equal(0x0D4B, Cell(m, rs, cs));
        for (int pn = 0xA0; pn < 0x100; pn++)
        {
            var (r, c) = PhysicalCell(pn);
            Assert.Equal(0x0752, Cell(m, r, c));
        }
    }

    [Theory]
    [MemberData(nameof(AllSteps), MemberType = typeof(KernelRun))]
    public void Console_page_is_reversed_and_kernel_pages_only_in_the_handout(LabStep step)
    {
        using var m = new WeensyMachine(Options("allocator", step));
        m.RunUntilTick(60);
        var (rc, cc) = VirtualCell(0xB8);
        Assert.Equal(0x7052, Cell(m, rc, cc));                       // 'R' grey, reverse video
        var (rk, ck) = VirtualCell(0x40);
        Assert.Equal(step == LabStep.Handout ? 0xD04B : 0x0D4B, Cell(m, rk, ck));
        var (r0, c0) = VirtualCell(0);
        Assert.Equal(step == LabStep.Handout ? 0x7052 : 0x0752, Cell(m, r0, c0));
    }

    [Fact]
    public void Handout_virtual_map_mirrors_physical_memory_in_reverse_video_and_rows_19_to_22_are_blank()
    {
        using var m = new WeensyMachine(Options("allocator", LabStep.Handout));
        m.RunUntilTick(200);
        for (int pn = 0; pn < 512; pn++)
        {
            var (pr, pc) = PhysicalCell(pn);
            var (vr, vc) = VirtualCell(pn);
            ushort phys = Cell(m, pr, pc);
            ushort virt = Cell(m, vr, vc);
            int refs = m.Kernel.Pages.Refcount(pn);
            ushort expected = Weensy.Core.Display.Reverse(Weensy.Core.Display.OwnerCell(m.Kernel.Pages.Owner(pn), refs));
            if (refs > 1) expected = Weensy.Core.Display.Dim(expected);
            Assert.Equal(expected, virt);
            Assert.Equal((byte)phys, (byte)virt);
        }
        for (int vpn = 512; vpn < 768; vpn++)
        {
            var (r, c) = VirtualCell(vpn);
            Assert.Equal(0x0020, Cell(m, r, c));
        }
        // The handout's L1 table at 0x56000 is shared by four processes: 0x05 / 0x50.
        var (pr56, pc56) = PhysicalCell(0x56);
        Assert.Equal(0x054B, Cell(m, pr56, pc56));
        var (vr56, vc56) = VirtualCell(0x56);
        Assert.Equal(0x504B, Cell(m, vr56, vc56));
    }

    [Theory]
    [InlineData(LabStep.ForkCopy)]
    [InlineData(LabStep.SharedText)]
    [InlineData(LabStep.Exit)]
    [InlineData(LabStep.CopyOnWrite)]
    public void Fork_text_page_is_shared_and_dimmed_from_step_6(LabStep step)
    {
        using var m = new WeensyMachine(Options("fork", step));
        m.RunUntilTick(100);
        Assert.False(m.Halted, m.Kernel.PanicMessage ?? m.Kernel.InvariantFailure);
        Assert.Equal(4, m.Kernel.Processes.Count(p => p.State == Weensy.Core.ProcState.Runnable));
        var (r, c) = VirtualCell(0x100);
        ushort cell = Cell(m, r, c);
        if (step >= LabStep.SharedText)
        {
            Assert.Equal(0x4031, cell);                              // '1', reversed red, dimmed
            // and in the physical map: owned by 1, refcount 4, dimmed light red -> 0x04
            var text = m.Kernel.Tables.Lookup(m.Kernel.Processes[2].PageTable, new Machine.VirtAddr(0x100000))!.Value;
            Assert.Equal(4, m.Kernel.Pages.Refcount(text.Pa));
            var (pr, pc) = PhysicalCell((int)text.Pa.PageNumber);
            Assert.Equal(0x0431, Cell(m, pr, pc));
        }
        else
        {
            Assert.NotEqual(0, (cell >> 8) & 0x88);                  // each process owns its copy: bright
        }
    }

    [Theory]
    [MemberData(nameof(AllSteps), MemberType = typeof(KernelRun))]
    public void Writing_kernel_memory_is_a_page_fault_from_step_1(LabStep step)
    {
        using var m = new WeensyMachine(Options("kernelwrite", step));
        m.RunUntilTick(20);
        Assert.Null(m.Kernel.PanicMessage);
        string row = Row(m, 24);
        if (step == LabStep.Handout)
        {
            Assert.StartsWith("kernel memory was writable", row);
            return;
        }
        ulong rip = m.Kernel.Processes[1].InstructionPointer;
        Assert.Equal($"Process 1 page fault for 0x40000 (write protection problem, rip=0x{rip:x})!".PadRight(80), row);
        Assert.Equal(0x0C50, Cell(m, 24, 0));
        Assert.Equal(0x0C20, Cell(m, 24, 79));
        Assert.Equal(Weensy.Core.ProcState.Broken, m.Kernel.Processes[1].State);
        Assert.InRange(rip, 0x100000UL, 0x101000UL);
        // the machine keeps running: ticks advance while nothing is runnable, and it says it is stuck
        m.RunUntilTick(40);
        Assert.Equal(40UL, m.Ticks);
        Assert.Equal("stalled: every process is broken (1 faulted); press a, f or e, or reboot", m.Kernel.Stalled);
        // a key still reboots it
        m.PressKey('a');
        m.RunUntilTick(60);
        Assert.Null(m.Kernel.Stalled);
        Assert.Equal("allocator", m.Kernel.BootCommand);
    }

    [Theory]
    [InlineData(LabStep.Handout)]
    [InlineData(LabStep.ForkCopy)]
    public void Missing_system_calls_panic_with_the_handout_message(LabStep step)
    {
        using var m = new WeensyMachine(Options(step == LabStep.Handout ? "fork" : "forkexit", step));
        m.RunUntilTick(5000);
        string expected = step == LabStep.Handout ? "Unexpected exception 52!" : "Unexpected exception 53!";
        Assert.Equal(expected, m.Kernel.PanicMessage);
        Assert.Equal($"PANIC: {expected}".PadRight(80), Row(m, 23));
        Assert.Equal(0xC050, Cell(m, 23, 0));
        Assert.Equal(0xC020, Cell(m, 23, 79));
    }
}
