using Lab.Shared.MsgPack;

namespace Lab.Shared.Wire;

/// <summary>
/// One process's virtual address space as WeensyOS draws it: for each virtual page (768 in the
/// WeensyOS profile), 3 bytes: owner (i8, as pageinfo), refcount (u8), and the effective permission
/// bits (P=1, W=2, U=4; 0 = not mapped).
/// </summary>
public sealed record VirtualMap(int Pid, byte[] Entries) : IMsgPackSerializable<VirtualMap>
{
    public const int BytesPerPage = 3;
    public int PageCount => Entries.Length / BytesPerPage;

    public (sbyte Owner, byte Refcount, byte Perm) this[int page] =>
        ((sbyte)Entries[page * 3], Entries[page * 3 + 1], Entries[page * 3 + 2]);

    public void WriteTo(MsgPackWriter w)
    {
        w.WriteMapHeader(2);
        w.Write(0); w.Write(Pid);
        w.Write(1); w.WriteBinary(Entries);
    }

    public static VirtualMap ReadFrom(ref MsgPackReader r)
    {
        int pid = 0;
        byte[] entries = [];
        for (int n = r.ReadMapHeader(); n > 0; n--)
        {
            switch (r.ReadInt32())
            {
                case 0: pid = r.ReadInt32(); break;
                case 1: entries = r.ReadBinary() ?? []; break;
                default: r.Skip(); break;
            }
        }
        return new VirtualMap(pid, entries);
    }
}
