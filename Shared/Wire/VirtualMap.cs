using Lab.Shared.MsgPack;

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
public sealed record VirtualMap(int Pid, byte[] Entries, int EntrySize = VirtualMap.BytesPerPage, ulong[]? RowStarts = null)
    : IMsgPackSerializable<VirtualMap>
{
    public const int BytesPerPage = 3;
    public const int WideBytesPerPage = 7;
    public const int PagesPerRow = 64;

    public int PageCount => EntrySize <= 0 ? 0 : Entries.Length / EntrySize;

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

    public void WriteTo(MsgPackWriter w)
    {
        bool wide = EntrySize != BytesPerPage;
        w.WriteMapHeader(2 + (wide ? 1 : 0) + (RowStarts != null ? 1 : 0));
        w.Write(0); w.Write(Pid);
        w.Write(1); w.WriteBinary(Entries);
        if (RowStarts != null)
        {
            w.Write(2);
            w.WriteArrayHeader(RowStarts.Length);
            foreach (ulong start in RowStarts) w.Write(start);
        }
        if (wide) { w.Write(3); w.Write(EntrySize); }
    }

    public static VirtualMap ReadFrom(ref MsgPackReader r)
    {
        int pid = 0, entrySize = BytesPerPage;
        byte[] entries = [];
        ulong[]? rows = null;
        for (int n = r.ReadMapHeader(); n > 0; n--)
        {
            switch (r.ReadInt32())
            {
                case 0: pid = r.ReadInt32(); break;
                case 1: entries = r.ReadBinary() ?? []; break;
                case 2:
                    {
                        int count = r.ReadArrayHeader();
                        rows = new ulong[count];
                        r.EnterContainer();
                        for (int i = 0; i < count; i++) rows[i] = r.ReadUInt64();
                        r.ExitContainer();
                        break;
                    }
                case 3: entrySize = r.ReadInt32(); break;
                default: r.Skip(); break;
            }
        }
        if (entrySize is not (BytesPerPage or WideBytesPerPage)) entries = [];   // a form this client does not know: show nothing
        return new VirtualMap(pid, entries, entrySize, rows);
    }
}
