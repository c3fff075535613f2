using System.Buffers.Binary;

namespace Lab.Kernel.Common;

/// <summary>One PT_LOAD program header.</summary>
public readonly record struct ElfSegment(ulong Offset, ulong VirtualAddress, ulong FileSize, ulong MemorySize, bool Writable, bool Executable);

/// <summary>A parsed ELF64 x86-64 executable: entry point and loadable segments.</summary>
public sealed class ElfImage
{
    public string Name { get; }
    public byte[] Bytes { get; }
    public ulong Entry { get; }
    public IReadOnlyList<ElfSegment> Segments { get; }
    /// <summary>e_phoff, e_phentsize, e_phnum: where the program headers are (a loader tells the
    /// program, AT_PHDR, so its C library finds its TLS template).</summary>
    public ulong ProgramHeaderOffset { get; private init; }
    public int ProgramHeaderSize { get; private init; }
    public int ProgramHeaderCount { get; private init; }

    private ElfImage(string name, byte[] bytes, ulong entry, List<ElfSegment> segments)
    {
        Name = name; Bytes = bytes; Entry = entry; Segments = segments;
    }

    /// <summary>Parses an image; null (with a reason) when it is not a loadable ELF64 x86-64 executable.</summary>
    public static ElfImage? Parse(string name, byte[] b, out string? error)
    {
        error = null;
        if (b.Length < 64 || b[0] != 0x7F || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F')
        { error = "not an ELF file"; return null; }
        if (b[4] != 2 || b[5] != 1) { error = "not ELF64 little-endian"; return null; }
        var s = b.AsSpan();
        if (BinaryPrimitives.ReadUInt16LittleEndian(s[16..]) != 2) { error = "not an executable"; return null; }
        if (BinaryPrimitives.ReadUInt16LittleEndian(s[18..]) != 62) { error = "not x86-64"; return null; }
        ulong entry = BinaryPrimitives.ReadUInt64LittleEndian(s[24..]);
        ulong phoff = BinaryPrimitives.ReadUInt64LittleEndian(s[32..]);
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(s[54..]);
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(s[56..]);
        var segments = new List<ElfSegment>();
        for (int i = 0; i < phnum; i++)
        {
            ulong off = phoff + (ulong)(i * phentsize);
            if (off + 56 > (ulong)b.Length) { error = "truncated program headers"; return null; }
            var ph = s[(int)off..];
            if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != 1) continue;   // PT_LOAD only
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(ph[4..]);
            var seg = new ElfSegment(
                Offset: BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]),
                VirtualAddress: BinaryPrimitives.ReadUInt64LittleEndian(ph[16..]),
                FileSize: BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]),
                MemorySize: BinaryPrimitives.ReadUInt64LittleEndian(ph[40..]),
                Writable: (flags & 2) != 0,
                Executable: (flags & 1) != 0);
            if (seg.FileSize > seg.MemorySize || seg.Offset + seg.FileSize > (ulong)b.Length)
            { error = "segment outside the file"; return null; }
            segments.Add(seg);
        }
        return new ElfImage(name, b, entry, segments)
        {
            ProgramHeaderOffset = phoff, ProgramHeaderSize = phentsize, ProgramHeaderCount = phnum,
        };
    }
}
