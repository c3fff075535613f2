using System.Buffers.Binary;
using Lab.Shared.MsgPack;

namespace Lab.Shared.Wire;

/// <summary>
/// One update of a session's state for one client, sent with the client method <c>Frame</c>. A late
/// joiner's first frame is full (<see cref="Full"/>); later frames carry only what changed since the
/// previous frame that client received. Absent parts (null) did not change.
/// Screen and page parts are packed binary (see docs/PROTOCOL.md):
/// screen full = 2000 little-endian u16 cells; screen diff = (u16 index, u16 cell) pairs;
/// pages full = (owner i8, refcount u8) per physical page; pages diff = (u16 page, owner i8, refcount u8).
/// </summary>
public sealed record Frame : IMsgPackSerializable<Frame>
{
    /// <summary>Per-client frame counter, from 1.</summary>
    public long Seq { get; init; }
    public bool Full { get; init; }
    public ulong Tick { get; init; }
    /// <summary>Server clock when the frame was built (Unix time in microseconds, <see cref="NowMicros"/>), for latency measurement.</summary>
    public long ServerTimeMicros { get; init; }

    /// <summary>The clock frames are stamped with: Unix time in microseconds.</summary>
    public static long NowMicros() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;
    public byte[]? Screen { get; init; }
    public byte[]? Pages { get; init; }
    public ProcessRow[]? Processes { get; init; }
    public LabEvent[]? Events { get; init; }
    public Participant[]? Participants { get; init; }
    public SessionSummary? Status { get; init; }
    public FollowState? Follow { get; init; }
    /// <summary>The receiving client's role, when it changed (granted or revoked driving).</summary>
    public Role? YourRole { get; init; }
    /// <summary>The shared debugger view, when it changed.</summary>
    public DebuggerState? Debugger { get; init; }
    /// <summary>The virtual memory map of the pid this client views (hub method ViewMemory), when it changed.</summary>
    public VirtualMap? VirtualMap { get; init; }
    /// <summary>Physical pages in the wide form (POSIX profile, pids beyond a byte): full = (owner i32,
    /// refcount u16) per page; diff = (u32 page, owner i32, refcount u16). Sent instead of <see cref="Pages"/>.</summary>
    public byte[]? WidePages { get; init; }

    public void WriteTo(MsgPackWriter w)
    {
        int count = 4 + (Screen != null ? 1 : 0) + (Pages != null ? 1 : 0) + (Processes != null ? 1 : 0)
            + (Events != null ? 1 : 0) + (Participants != null ? 1 : 0) + (Status != null ? 1 : 0)
            + (Follow != null ? 1 : 0) + (YourRole != null ? 1 : 0) + (Debugger != null ? 1 : 0) + (VirtualMap != null ? 1 : 0) + (WidePages != null ? 1 : 0);
        w.WriteMapHeader(count);
        w.Write(0); w.Write(Seq);
        w.Write(1); w.Write(Full);
        w.Write(2); w.Write(Tick);
        w.Write(3); w.Write(ServerTimeMicros);
        if (Screen != null) { w.Write(4); w.WriteBinary(Screen); }
        if (Pages != null) { w.Write(5); w.WriteBinary(Pages); }
        if (Processes != null) { w.Write(6); WriteArray(w, Processes); }
        if (Events != null) { w.Write(7); WriteArray(w, Events); }
        if (Participants != null) { w.Write(8); WriteArray(w, Participants); }
        if (Status != null) { w.Write(9); Status.WriteTo(w); }
        if (Follow != null) { w.Write(10); Follow.WriteTo(w); }
        if (YourRole != null) { w.Write(11); w.Write((int)YourRole.Value); }
        if (Debugger != null) { w.Write(12); Debugger.WriteTo(w); }
        if (VirtualMap != null) { w.Write(13); VirtualMap.WriteTo(w); }
        if (WidePages != null) { w.Write(14); w.WriteBinary(WidePages); }
    }

    private static void WriteArray<T>(MsgPackWriter w, T[] items) where T : IMsgPackSerializable<T>
    {
        w.WriteArrayHeader(items.Length);
        foreach (var item in items) item.WriteTo(w);
    }

    public static Frame ReadFrom(ref MsgPackReader r)
    {
        var f = new Frame();
        for (int n = r.ReadMapHeader(); n > 0; n--)
        {
            switch (r.ReadInt32())
            {
                case 0: f = f with { Seq = r.ReadInt64() }; break;
                case 1: f = f with { Full = r.ReadBoolean() }; break;
                case 2: f = f with { Tick = r.ReadUInt64() }; break;
                case 3: f = f with { ServerTimeMicros = r.ReadInt64() }; break;
                case 4: f = f with { Screen = r.ReadBinary() }; break;
                case 5: f = f with { Pages = r.ReadBinary() }; break;
                case 6: f = f with { Processes = ReadArray<ProcessRow>(ref r) }; break;
                case 7: f = f with { Events = ReadArray<LabEvent>(ref r) }; break;
                case 8: f = f with { Participants = ReadArray<Participant>(ref r) }; break;
                case 9: r.EnterContainer(); f = f with { Status = SessionSummary.ReadFrom(ref r) }; r.ExitContainer(); break;
                case 10: r.EnterContainer(); f = f with { Follow = FollowState.ReadFrom(ref r) }; r.ExitContainer(); break;
                case 11: f = f with { YourRole = (Role)r.ReadInt32() }; break;
                case 12: r.EnterContainer(); f = f with { Debugger = DebuggerState.ReadFrom(ref r) }; r.ExitContainer(); break;
                case 13: r.EnterContainer(); f = f with { VirtualMap = VirtualMap.ReadFrom(ref r) }; r.ExitContainer(); break;
                case 14: f = f with { WidePages = r.ReadBinary() }; break;
                default: r.Skip(); break;
            }
        }
        return f;
    }

    private static T[] ReadArray<T>(ref MsgPackReader r) where T : IMsgPackSerializable<T>
    {
        int count = r.ReadArrayHeader();
        var items = new T[count];
        r.EnterContainer();
        for (int i = 0; i < count; i++)
        {
            r.EnterContainer();
            items[i] = T.ReadFrom(ref r);
            r.ExitContainer();
        }
        r.ExitContainer();
        return items;
    }
}

/// <summary>Packing and applying the binary screen and page parts of frames.</summary>
public static class FrameCodec
{
    public const int ScreenCells = 80 * 25;

    public static byte[] PackScreenFull(ReadOnlySpan<ushort> cells)
    {
        var bytes = new byte[cells.Length * 2];
        for (int i = 0; i < cells.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), cells[i]);
        return bytes;
    }

    /// <summary>The changed cells as (index, cell) pairs; null when nothing changed.</summary>
    public static byte[]? PackScreenDiff(ReadOnlySpan<ushort> before, ReadOnlySpan<ushort> after)
    {
        int changed = 0;
        for (int i = 0; i < after.Length; i++) if (before[i] != after[i]) changed++;
        if (changed == 0) return null;
        var bytes = new byte[changed * 4];
        int k = 0;
        for (int i = 0; i < after.Length; i++)
        {
            if (before[i] == after[i]) continue;
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(k), (ushort)i);
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(k + 2), after[i]);
            k += 4;
        }
        return bytes;
    }

    /// <summary>Applies a screen part (full or diff) to a client's copy of the screen.</summary>
    public static void ApplyScreen(Span<ushort> cells, byte[] part, bool full)
    {
        if (full)
        {
            int n = Math.Min(cells.Length, part.Length / 2);
            for (int i = 0; i < n; i++) cells[i] = BinaryPrimitives.ReadUInt16LittleEndian(part.AsSpan(2 * i));
            return;
        }
        for (int k = 0; k + 4 <= part.Length; k += 4)
        {
            int index = BinaryPrimitives.ReadUInt16LittleEndian(part.AsSpan(k));
            if (index < cells.Length) cells[index] = BinaryPrimitives.ReadUInt16LittleEndian(part.AsSpan(k + 2));
        }
    }

    /// <summary>Pages as (owner, refcount) byte pairs.</summary>
    public static byte[] PackPagesFull(ReadOnlySpan<byte> ownerRefcountPairs) => ownerRefcountPairs.ToArray();

    public static byte[]? PackPagesDiff(ReadOnlySpan<byte> before, ReadOnlySpan<byte> after)
    {
        int pages = after.Length / 2, changed = 0;
        for (int p = 0; p < pages; p++)
            if (before[2 * p] != after[2 * p] || before[2 * p + 1] != after[2 * p + 1]) changed++;
        if (changed == 0) return null;
        var bytes = new byte[changed * 4];
        int k = 0;
        for (int p = 0; p < pages; p++)
        {
            if (before[2 * p] == after[2 * p] && before[2 * p + 1] == after[2 * p + 1]) continue;
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(k), (ushort)p);
            bytes[k + 2] = after[2 * p];
            bytes[k + 3] = after[2 * p + 1];
            k += 4;
        }
        return bytes;
    }

    /// <summary>Bytes per page in the wide form: owner i32 LE, refcount u16 LE.</summary>
    public const int WidePageSize = 6;

    /// <summary>The changed pages of the wide form as (u32 page, owner, refcount); null when nothing changed.</summary>
    public static byte[]? PackWidePagesDiff(ReadOnlySpan<byte> before, ReadOnlySpan<byte> after)
    {
        int pages = after.Length / WidePageSize, changed = 0;
        for (int p = 0; p < pages; p++)
            if (!before.Slice(p * WidePageSize, WidePageSize).SequenceEqual(after.Slice(p * WidePageSize, WidePageSize))) changed++;
        if (changed == 0) return null;
        var bytes = new byte[changed * (4 + WidePageSize)];
        int k = 0;
        for (int p = 0; p < pages; p++)
        {
            var entry = after.Slice(p * WidePageSize, WidePageSize);
            if (before.Slice(p * WidePageSize, WidePageSize).SequenceEqual(entry)) continue;
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(k), (uint)p);
            entry.CopyTo(bytes.AsSpan(k + 4));
            k += 4 + WidePageSize;
        }
        return bytes;
    }

    /// <summary>Applies a wide pages part (full or diff) to a client's copy.</summary>
    public static void ApplyWidePages(Span<byte> entries, byte[] part, bool full)
    {
        if (full)
        {
            part.AsSpan(0, Math.Min(part.Length, entries.Length)).CopyTo(entries);
            return;
        }
        for (int k = 0; k + 4 + WidePageSize <= part.Length; k += 4 + WidePageSize)
        {
            uint p = BinaryPrimitives.ReadUInt32LittleEndian(part.AsSpan(k));
            if (p < (uint)(entries.Length / WidePageSize))
                part.AsSpan(k + 4, WidePageSize).CopyTo(entries.Slice((int)p * WidePageSize));
        }
    }

    /// <summary>Writes page <paramref name="page"/>'s owner and refcount (clamped to u16) in the wide form.</summary>
    public static void WriteWidePage(Span<byte> entries, int page, int owner, int refcount)
    {
        var entry = entries.Slice(page * WidePageSize, WidePageSize);
        BinaryPrimitives.WriteInt32LittleEndian(entry, owner);
        BinaryPrimitives.WriteUInt16LittleEndian(entry[4..], (ushort)Math.Clamp(refcount, 0, ushort.MaxValue));
    }

    /// <summary>Owner and refcount of page <paramref name="page"/> in the wide form.</summary>
    public static (int Owner, int Refcount) WidePage(ReadOnlySpan<byte> entries, int page) =>
        (BinaryPrimitives.ReadInt32LittleEndian(entries.Slice(page * WidePageSize)),
         BinaryPrimitives.ReadUInt16LittleEndian(entries.Slice(page * WidePageSize + 4)));

    public static void ApplyPages(Span<byte> pairs, byte[] part, bool full)
    {
        if (full)
        {
            part.AsSpan(0, Math.Min(part.Length, pairs.Length)).CopyTo(pairs);
            return;
        }
        for (int k = 0; k + 4 <= part.Length; k += 4)
        {
            int p = BinaryPrimitives.ReadUInt16LittleEndian(part.AsSpan(k));
            if (2 * p + 1 < pairs.Length)
            {
                pairs[2 * p] = part[k + 2];
                pairs[2 * p + 1] = part[k + 3];
            }
        }
    }
}
