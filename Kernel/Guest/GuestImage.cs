using System.Buffers.Binary;
using Lab.Kernel.Common;

namespace Lab.Kernel.Guest;

/// <summary>
/// A kernel to boot as guest code: either a kernel ELF (<c>obj/kernel</c> or <c>obj/kernel.full</c>)
/// or a WeensyOS disk image (<c>weensyos.img</c>: a 512-byte boot sector, then the kernel ELF from
/// sector 1, as the course's <c>mkbootdisk</c> writes it). Parsing checks everything a bad upload
/// could get wrong and says what, so a session keeps its old kernel when a new one is refused.
/// </summary>
public sealed class GuestImage
{
    /// <summary>The largest file accepted (a WeensyOS kernel is well under 1 MiB).</summary>
    public const int MaxSize = 16 << 20;
    public const int SectorSize = 512;

    public string Name { get; }
    /// <summary>The file as given.</summary>
    public byte[] File { get; }
    /// <summary>The disk as the boot loader reads it: for a bare ELF, a blank boot sector then the ELF.</summary>
    public byte[] Disk { get; }
    /// <summary>The boot sector, when the file is a disk image.</summary>
    public bool HasBootSector { get; }
    public ElfImage Elf { get; }

    private GuestImage(string name, byte[] file, byte[] disk, bool hasBootSector, ElfImage elf)
    {
        Name = name; File = file; Disk = disk; HasBootSector = hasBootSector; Elf = elf;
    }

    /// <summary>
    /// Parses a kernel image for a machine of <paramref name="memorySize"/> bytes. Null (with a reason)
    /// when it is empty, too large, not an x86-64 ELF executable or disk image, or its segments do not
    /// fit in memory.
    /// </summary>
    public static GuestImage? Parse(string name, byte[] bytes, ulong memorySize, out string? error)
    {
        error = null;
        if (bytes.Length == 0) { error = "the kernel file is empty"; return null; }
        if (bytes.Length > MaxSize) { error = $"the kernel file is {bytes.Length} bytes; the limit is {MaxSize}"; return null; }
        byte[] disk;
        bool bootSector;
        if (IsElf(bytes, 0))
        {
            disk = new byte[SectorSize + bytes.Length];
            bytes.CopyTo(disk, SectorSize);
            bootSector = false;
        }
        else if (bytes.Length > SectorSize && IsElf(bytes, SectorSize))
        {
            disk = bytes;
            bootSector = true;
        }
        else
        {
            error = "not a kernel: neither an ELF file nor a disk image with the kernel ELF in sector 1";
            return null;
        }
        var elf = ElfImage.Parse(name, disk[SectorSize..], out string? elfError);
        if (elf is null) { error = $"not a loadable kernel: {elfError}"; return null; }
        ushort type = BinaryPrimitives.ReadUInt16LittleEndian(disk.AsSpan(SectorSize + 16));
        if (type != 2) { error = "not a loadable kernel: not an executable"; return null; }
        if (elf.Segments.Count == 0) { error = "not a loadable kernel: no loadable segments"; return null; }
        foreach (var s in elf.Segments)
        {
            if (s.MemorySize == 0) continue;
            if (s.VirtualAddress >= memorySize || s.MemorySize > memorySize - s.VirtualAddress)
            {
                error = $"the kernel's segment at 0x{s.VirtualAddress:x} (0x{s.MemorySize:x} bytes) does not fit in the machine's {memorySize >> 20} MiB";
                return null;
            }
            if ((s.VirtualAddress & (SectorSize - 1)) != (s.Offset & (SectorSize - 1)))
            {
                error = $"the kernel's segment at 0x{s.VirtualAddress:x} is not sector-aligned with its file offset 0x{s.Offset:x}; the boot loader cannot load it";
                return null;
            }
        }
        if (!elf.Segments.Any(s => s.Executable && elf.Entry >= s.VirtualAddress && elf.Entry < s.VirtualAddress + s.MemorySize))
        {
            error = $"the kernel's entry point 0x{elf.Entry:x} is not in an executable segment";
            return null;
        }
        return new GuestImage(name, bytes, disk, bootSector, elf);
    }

    private static bool IsElf(byte[] b, int at) =>
        b.Length >= at + 4 && b[at] == 0x7F && b[at + 1] == (byte)'E' && b[at + 2] == (byte)'L' && b[at + 3] == (byte)'F';
}
