using System.Buffers.Binary;
using MessagePack;

namespace Lab.Shared.Wire;

/// <summary>
/// One update of a session's state for one client, sent with the client method <c>Frame</c>. A late
/// joiner's first frame is full (<see cref="Full"/>); later frames carry only what changed since the
/// previous frame that client received. Absent parts (null) did not change.
/// Screen and page parts are Lab's own packed binary (see <see cref="FrameCodec"/> and docs/PROTOCOL.md):
/// screen full = 2000 little-endian u16 cells; screen diff = (u16 index, u16 cell) pairs;
/// pages full = (owner i8, refcount u8) per physical page; pages diff = (u16 page, owner i8, refcount u8).
/// </summary>
[MessagePackObject]
public sealed record Frame
{
    /// <summary>Per-client frame counter, from 1.</summary>
    [Key(0)] public long Seq { get; init; }
    [Key(1)] public bool Full { get; init; }
    [Key(2)] public ulong Tick { get; init; }
    /// <summary>Server clock when the frame was built (Unix time in microseconds, <see cref="NowMicros"/>), for latency measurement.</summary>
    [Key(3)] public long ServerTimeMicros { get; init; }
    [Key(4)] public byte[]? Screen { get; init; }
    [Key(5)] public byte[]? Pages { get; init; }
    [Key(6)] public ProcessRow[]? Processes { get; init; }
    [Key(7)] public LabEvent[]? Events { get; init; }
    [Key(8)] public Participant[]? Participants { get; init; }
    [Key(9)] public SessionSummary? Status { get; init; }
    [Key(10)] public FollowState? Follow { get; init; }
    /// <summary>The receiving client's role, when it changed (granted or revoked driving).</summary>
    [Key(11)] public Role? YourRole { get; init; }
    /// <summary>The shared debugger view, when it changed.</summary>
    [Key(12)] public DebuggerState? Debugger { get; init; }
    /// <summary>The virtual memory map of the pid this client views (hub method ViewMemory), when it changed.</summary>
    [Key(13)] public VirtualMap? VirtualMap { get; init; }
    /// <summary>Physical pages in the wide form (POSIX profile, pids beyond a byte): full = (owner i32,
    /// refcount u16) per page; diff = (u32 page, owner i32, refcount u16). Sent instead of <see cref="Pages"/>.</summary>
    [Key(14)] public byte[]? WidePages { get; init; }

    /// <summary>The clock frames are stamped with: Unix time in microseconds.</summary>
    public static long NowMicros() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;
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
