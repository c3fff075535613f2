using Lab.Machine;

namespace Lab.Kernel.Weensy.Memory;

/// <summary>
/// The WeensyOS memory layout (WEENSYOS.md §1): where the kernel image, its stack, its page table,
/// the console and the processes live. The kernel is C#, but it reserves the physical pages the C
/// kernel occupies so the memory map on the screen is the real one.
/// </summary>
public static class Layout
{
    public const ulong PageSize = 4096;
    public const ulong MemSizePhysical = 0x200000;     // 2 MiB: 512 physical pages
    public const ulong MemSizeVirtual = 0x300000;      // 3 MiB: 768 virtual pages per process
    public const int PhysicalPages = (int)(MemSizePhysical / PageSize);
    public const int VirtualPages = (int)(MemSizeVirtual / PageSize);

    public const ulong KernelStart = 0x40000;          // kernel text
    public const ulong KernelStartData = 0x45000;      // kernel data (page-aligned)
    public const ulong KernelEnd = 0x5B010;            // symbol `end` of the GCC 12 build: 'K' pages 0x40..0x5B
    public const ulong KernelStackPage = 0x7F000;      // the single kernel stack page
    public const ulong KernelStackTop = 0x80000;

    /// <summary>The kernel's static page table: five pages in kernel bss (L1 top, L2, L3, two L4s).</summary>
    public static readonly PhysAddr KernelPageTable = new(0x56000);
    public const int KernelPageTablePages = 5;

    public const ulong IoPhysMem = 0xA0000;            // reserved: 0xA0000..0xFFFFF
    public const ulong ExtPhysMem = 0x100000;
    public const ulong Console = 0xB8000;
    public const ulong CursorPos = 0xB8FFC;

    public const ulong ProcStartAddr = 0x100000;
    public const ulong ProcSize = 0x40000;
    public const int NProc = 16;

    /// <summary>The stack page from step 4 on (top of the 3 MiB virtual space).</summary>
    public const ulong OverlappingStackPage = MemSizeVirtual - PageSize;

    /// <summary>Page 0 and 0xA0000..0xFFFFF are reserved (firmware, VGA, BIOS).</summary>
    public static bool IsReserved(ulong pa) => pa < PageSize || (pa >= IoPhysMem && pa < ExtPhysMem);

    /// <summary>The kernel image [KernelStart, end) and the kernel stack page.</summary>
    public static bool IsKernel(ulong pa) =>
        (pa >= KernelStart && pa < KernelEnd) || pa == KernelStackPage;
}
