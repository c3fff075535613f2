using System.Buffers.Binary;

namespace Lab.Kernel.Plumbing;

/// <summary>One PT_LOAD program header.</summary>
public readonly record struct ElfSegment(ulong Offset, ulong VirtualAddress, ulong FileSize, ulong MemorySize, bool Writable, bool Executable);

/// <summary>A parsed ELF64 x86-64 executable: entry point and loadable segments.</summary>
public sealed class ElfImage
{
    public string Name { get; }
    public byte[] Bytes { get; }
    public ulong Entry { get; }
    public IReadOnlyList<ElfSegment> Segments { get; }

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
        return new ElfImage(name, b, entry, segments);
    }
}

/// <summary>The user programs embedded in this assembly (built from userland/ by gcc).</summary>
public static class EmbeddedPrograms
{
    private static string Dir(ProgramFlavour f) => f switch
    {
        ProgramFlavour.NoSlowdown => "noslow",
        ProgramFlavour.IntAbi => "int",
        _ => "std",
    };

    /// <summary>Names of the embedded programs of one flavour ("p-allocator", ...).</summary>
    public static IReadOnlyList<string> Names(ProgramFlavour flavour)
    {
        string prefix = $"userland/{Dir(flavour)}/";
        return typeof(EmbeddedPrograms).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".elf", StringComparison.Ordinal))
            .Select(n => n[prefix.Length..^4]).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Loads and parses a program ("p-fork" or "fork"); throws if missing (a build problem, not a guest error).</summary>
    public static ElfImage Load(string name, ProgramFlavour flavour)
    {
        if (!name.StartsWith("p-", StringComparison.Ordinal)) name = "p-" + name;
        string resource = $"userland/{Dir(flavour)}/{name}.elf";
        using Stream? s = typeof(EmbeddedPrograms).Assembly.GetManifestResourceStream(resource);
        if (s is null) throw new FileNotFoundException($"user program '{name}' ({flavour}) is not embedded in the kernel; was userland/ built?", resource);
        var bytes = new byte[s.Length];
        s.ReadExactly(bytes);
        return ElfImage.Parse(name, bytes, out string? error) ?? throw new InvalidDataException($"{resource}: {error}");
    }

    public static bool Exists(string name, ProgramFlavour flavour)
    {
        if (!name.StartsWith("p-", StringComparison.Ordinal)) name = "p-" + name;
        return typeof(EmbeddedPrograms).Assembly.GetManifestResourceInfo($"userland/{Dir(flavour)}/{name}.elf") != null;
    }
}
