using Lab.Machine;
using Lab.Machine.Cpu;

namespace Lab.Kernel.Guest;

/// <summary>
/// Does what the WeensyOS boot sector (bootstart.S + boot.c) does, without running it, and enters the
/// kernel in the state it leaves. Booting the real boot sector through real mode is not emulated.
///
/// <para>What the course's loader does, and so what this does, in order:</para>
/// <list type="number">
/// <item>The BIOS loads the boot sector at 0x7C00 (copied there when the image is a disk image).</item>
/// <item>bootstart.S enables A20, builds the initial page table at 0x8000 (PML4) → 0x9000 (PDPT) →
/// 0xA000 (PD), whose entry 0 is one 2 MiB page at physical 0 with P|W|U|PS — virtual = physical for
/// the first 2 MiB — and turns on long mode: CR4 = PSE|PAE, EFER = LME|SCE|NXE, CR0 = PE|WP|PG,
/// CR3 = 0x8000, a GDT with a null and a 64-bit DPL 0 code descriptor (selector 0x08), interrupts off
/// (cli), DF clear (cld), stack at 0x7C00; the data segment registers keep their real-mode 0.</item>
/// <item>boot.c reads the kernel ELF's first page from sector 1 to 0x10000, then for each program
/// header copies whole 512-byte sectors starting at the sector holding p_offset to p_va rounded down
/// to a sector (so a few bytes around each segment come along, as on the real disk), zeroes
/// [p_va + p_filesz, p_va + p_memsz), and calls e_entry.</item>
/// </list>
/// <para>So the kernel starts at e_entry at CPL 0 with CS = 0x08, rsp = 0x7BF8 (0x7C00 less the return
/// address of that call; the loader's own frame is not reproduced), rflags = 0x2, every other general
/// register 0 (in particular eax is not the multiboot magic: WeensyOS's entry then passes no command
/// line), no IDT, no TSS. Our GDT copy sits at 0x7E00, just after the boot sector (the real one is
/// inside the boot sector); only PT_LOAD headers are loaded (the others are empty in these kernels).</para>
/// </summary>
public static class GuestBootLoader
{
    public const ulong BootSectorAt = 0x7C00;
    public const ulong PageTableAt = 0x8000;
    public const ulong ElfHeaderAt = 0x10000;
    public const ulong GdtAt = 0x7E00;
    public const ushort CodeSelector = 0x08;
    public const ulong BootStackTop = 0x7C00;

    /// <summary>Loads <paramref name="image"/> into the machine's memory and enters its kernel. The machine must be awaiting boot.</summary>
    public static void Boot(X64Machine machine, GuestImage image)
    {
        PhysicalMemory mem = machine.Memory;
        if (image.HasBootSector) mem.Write(new PhysAddr(BootSectorAt), image.Disk.AsSpan(0, GuestImage.SectorSize));

        // bootstart.S: the initial page table, then the GDT.
        mem.Fill(new PhysAddr(PageTableAt), 0x3000, 0);
        const ulong PWU = (ulong)(PteFlags.Present | PteFlags.Writable | PteFlags.User);
        mem.WriteU64(new PhysAddr(PageTableAt), (PageTableAt + 0x1000) | PWU);
        mem.WriteU64(new PhysAddr(PageTableAt + 0x1000), (PageTableAt + 0x2000) | PWU);
        mem.WriteU64(new PhysAddr(PageTableAt + 0x2000), PWU | (ulong)PteFlags.PageSize);
        mem.WriteU64(new PhysAddr(GdtAt), 0);
        mem.WriteU64(new PhysAddr(GdtAt + 8), 0x0020_9800_0000_0000);    // P, DPL 0, code, L

        // boot.c: the ELF header page, then every loadable segment, sector by sector.
        ReadSectors(mem, image.Disk, ElfHeaderAt, 1, 4096);
        foreach (var s in image.Elf.Segments)
        {
            ulong va = s.VirtualAddress, end = va + s.FileSize, memEnd = va + s.MemorySize;
            ulong start = va & ~(ulong)(GuestImage.SectorSize - 1);
            ReadSectors(mem, image.Disk, start, s.Offset / GuestImage.SectorSize + 1, end - start);
            if (memEnd > end) mem.Fill(new PhysAddr(end), memEnd - end, 0);
        }

        for (int r = 0; r < 16; r++) machine.Cpu[(Register)r] = 0;
        machine.Boot(new LongModeEntry(
            Cr0: (ulong)(Cr0Flags.PE | Cr0Flags.WP | Cr0Flags.PG),
            Cr3: PageTableAt,
            Cr4: (ulong)(Cr4Flags.PSE | Cr4Flags.PAE),
            Efer: (ulong)(EferFlags.LME | EferFlags.SCE | EferFlags.NXE),
            GdtBase: GdtAt, GdtLimit: 0x0F, CodeSelector: CodeSelector,
            Rip: image.Elf.Entry, Rsp: BootStackTop - 8, RFlags: 0x2));
    }

    /// <summary>Copies whole sectors from the disk (sector 0 = the boot sector) to memory, until <paramref name="length"/> bytes are covered.</summary>
    private static void ReadSectors(PhysicalMemory mem, byte[] disk, ulong to, ulong firstSector, ulong length)
    {
        const int S = GuestImage.SectorSize;
        Span<byte> sector = stackalloc byte[S];
        for (ulong done = 0, sec = firstSector; done < length; done += S, sec++)
        {
            sector.Clear();
            ulong from = sec * S;
            if (from < (ulong)disk.Length)
                disk.AsSpan((int)from, (int)Math.Min(S, (ulong)disk.Length - from)).CopyTo(sector);
            ulong at = to + done;
            if (at >= mem.Size) return;
            mem.Write(new PhysAddr(at), sector[..(int)Math.Min(S, mem.Size - at)]);
        }
    }
}
