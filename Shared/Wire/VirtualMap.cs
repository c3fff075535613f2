using MessagePack;

namespace Lab.Shared.Wire;

/// <summary>
/// One process's virtual address space as a memory view draws it, 64 pages per row.
/// WeensyOS profile (the compact form): rows start at 0 and follow each other (768 pages), and each
/// page is 3 bytes: owner (i8, as pageinfo), refcount (u8), effective permission bits (P=1, W=2,
/// U=4; 0 = not mapped).
/// POSIX profile (the wide form, <see cref="EntrySize"/> 7): a 47-bit address space is mostly
/// empty, so only rows holding a mapping are sent, each with its start address in
/// <see cref="RowStarts"/>; each page is owner (i32 LE, a pid), refcount (u16 LE), permission (u8).
/// </summary>
[MessagePackObject]
public sealed record VirtualMap(
    [property: Key(0)] int Pid,
    [property: Key(1)] byte[] Entries,
    // Written only in the POSIX form (see docs/PROTOCOL.md); the WeensyOS form leaves them nil.
    [property: Key(2)] ulong[]? RowStarts = null,
    [property: Key(3)] int EntrySize = VirtualMap.BytesPerPage)
{
    public const int BytesPerPage = 3;
    public const int WideBytesPerPage = 7;
    public const int PagesPerRow = 64;

    [IgnoreMember]
    // A form this client does not know (another EntrySize) shows as empty.
    public int PageCount => EntrySize is BytesPerPage or WideBytesPerPage ? (Entries?.Length ?? 0) / EntrySize : 0;

    [IgnoreMember]
    public (int Owner, int Refcount, byte Perm) this[int page]
    {
        get
        {
            int at = page * EntrySize;
            if (EntrySize == WideBytesPerPage)
            {
                var (owner, refcount) = FrameCodec.WidePage(Entries.AsSpan(at), 0);
                return (owner, refcount, Entries[at + 6]);
            }
            return ((sbyte)Entries[at], Entries[at + 1], Entries[at + 2]);
        }
    }

    /// <summary>The virtual address of the page at index <paramref name="page"/>.</summary>
    public ulong AddressOf(int page) => RowStarts is { } rows && page / PagesPerRow < rows.Length
        ? rows[page / PagesPerRow] + (ulong)(page % PagesPerRow) * 4096
        : (ulong)page * 4096;

    /// <summary>Writes one wide entry (POSIX form) at page index <paramref name="page"/>.</summary>
    public static void WriteWide(Span<byte> entries, int page, int owner, int refcount, byte perm)
    {
        // The same owner and refcount layout as a wide physical page, then the permission byte.
        var e = entries.Slice(page * WideBytesPerPage, WideBytesPerPage);
        FrameCodec.WriteWidePage(e, 0, owner, refcount);
        e[6] = perm;
    }

    public bool SameAs(VirtualMap? other) => other != null && other.Pid == Pid && other.EntrySize == EntrySize
        && other.Entries.AsSpan().SequenceEqual(Entries)
        && (other.RowStarts ?? []).AsSpan().SequenceEqual(RowStarts ?? []);
}
