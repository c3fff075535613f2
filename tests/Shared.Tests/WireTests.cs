using System.Reflection;
using System.Text.RegularExpressions;
using Lab.Shared.Wire;
using MessagePack;

namespace Lab.Shared.Tests;

/// <summary>
/// The wire types as third-party clients see them: the keyed arrays docs/PROTOCOL.md documents, round
/// trips through Lab's MessagePack options, older and newer readers, and hostile bytes.
/// </summary>
public class WireTests
{
    private static byte[] Write<T>(T value) => MessagePackSerializer.Serialize(value, LabMessagePack.Options);
    private static T Read<T>(byte[] bytes) => MessagePackSerializer.Deserialize<T>(bytes, LabMessagePack.Options);

    private static readonly Frame EveryPart = new()
    {
        Seq = 7, Full = true, Tick = 1234, ServerTimeMicros = 1_700_000_000_000_000,
        Screen = FrameCodec.PackScreenFull(Enumerable.Range(0, FrameCodec.ScreenCells).Select(i => (ushort)(0x0700 | (i % 94 + 33))).ToArray()),
        Pages = [1, 1, 0, 0, 0xFE, 1],
        Processes = [new ProcessRow(1, 0, "runnable", "forkexit", 12), new ProcessRow(2, 1, "broken", "forkexit", 3)],
        Events = [new LabEvent(5, 1200, EventKind.Fork, 1, "fork() = 2"), new LabEvent(6, 1201, EventKind.Action, 0, "prof paused")],
        Participants = [new Participant("p1", "prof", Role.Instructor), new Participant("p2", "ana", Role.Driver)],
        Status = new SessionSummary("demo", "forkexit", "cow", "weensyos", false, 2, 1234, true, "realtime", null),
        Follow = new FollowState(true, "vmap", 2, "prof"),
        YourRole = Role.Driver,
        Debugger = new DebuggerState { Stopped = true, Reason = "breakpoint 1", Pid = 2, Registers = [1, 2, ulong.MaxValue], Disassembly = ["=> 0x100000 nop"], Breakpoints = ["1 0x100000"], By = "ana", Tick = 1234 },
        VirtualMap = new VirtualMap(2, [1, 1, 7, 0, 0, 0], RowStarts: [0x400000], EntrySize: VirtualMap.BytesPerPage),
        WidePages = [2, 0, 0, 0, 1, 0],
    };

    [Fact]
    public void Every_part_of_a_frame_round_trips()
    {
        var back = Read<Frame>(Write(EveryPart));
        Assert.Equal(EveryPart.Seq, back.Seq);
        Assert.Equal(EveryPart.Screen, back.Screen);
        Assert.Equal(EveryPart.Pages, back.Pages);
        Assert.Equal(EveryPart.WidePages, back.WidePages);
        Assert.Equal(EveryPart.Processes, back.Processes);
        Assert.Equal(EveryPart.Events, back.Events);
        Assert.Equal(EveryPart.Participants, back.Participants);
        Assert.Equal(EveryPart.Status, back.Status);
        Assert.Equal(EveryPart.Follow, back.Follow);
        Assert.Equal(Role.Driver, back.YourRole);
        Assert.Equal(EveryPart.Debugger!.Registers, back.Debugger!.Registers);
        Assert.Equal(EveryPart.Debugger.Disassembly, back.Debugger.Disassembly);
        Assert.True(EveryPart.VirtualMap!.SameAs(back.VirtualMap));
    }

    [Fact]
    public void Types_are_arrays_indexed_by_their_documented_keys()
    {
        // SessionSummary: [Name, Program, Step, Profile, Private, Participants, Tick, Running, Speed, Halted, Node].
        var bytes = Write(new SessionSummary("demo", "forkexit", "cow", "weensyos", true, 3, 300, false, "max", "powered off"));
        var reader = new MessagePackReader(bytes);
        Assert.Equal(11, reader.ReadArrayHeader());   // key 10, Node, is nil on a single server
        Assert.Equal("demo", reader.ReadString());
        Assert.Equal("forkexit", reader.ReadString());
        Assert.Equal("cow", reader.ReadString());
        Assert.Equal("weensyos", reader.ReadString());
        Assert.True(reader.ReadBoolean());
        Assert.Equal(3, reader.ReadInt32());
        Assert.Equal(300UL, reader.ReadUInt64());
        Assert.False(reader.ReadBoolean());
        Assert.Equal("max", reader.ReadString());
        Assert.Equal("powered off", reader.ReadString());
        Assert.True(reader.TryReadNil());
        Assert.True(reader.End);

        // A diff frame: absent parts are nil, enums are integers, binary parts are MessagePack bin.
        reader = new MessagePackReader(Write(new Frame { Seq = 2, Tick = 9, Screen = [1, 0, 0x41, 0x07], YourRole = Role.Instructor }));
        Assert.Equal(15, reader.ReadArrayHeader());
        Assert.Equal(2, reader.ReadInt64());
        Assert.False(reader.ReadBoolean());
        Assert.Equal(9UL, reader.ReadUInt64());
        reader.Skip();
        Assert.Equal(MessagePackType.Binary, reader.NextMessagePackType);
        Assert.Equal(new byte[] { 1, 0, 0x41, 0x07 }, System.Buffers.BuffersExtensions.ToArray(reader.ReadBytes()!.Value));
        for (int key = 5; key <= 10; key++) Assert.True(reader.TryReadNil(), $"key {key} should be nil");
        Assert.Equal((int)Role.Instructor, reader.ReadInt32());
    }

    [Fact]
    public void Older_readers_ignore_appended_keys_and_newer_readers_default_missing_ones()
    {
        // A newer peer's ProcessRow with two more keys, one of them a nested array.
        var longer = new System.Buffers.ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(longer);
        w.WriteArrayHeader(7);
        w.Write(4); w.Write(1); w.Write("runnable"); w.Write("p-fork"); w.Write(9);
        w.WriteArrayHeader(2); w.Write(1); w.Write(2);
        w.Write("future");
        w.Flush();
        Assert.Equal(new ProcessRow(4, 1, "runnable", "p-fork", 9), Read<ProcessRow>(longer.WrittenSpan.ToArray()));

        // An older peer's session options without MemoryMiB (key 5): the default applies.
        var shorter = new System.Buffers.ArrayBufferWriter<byte>();
        w = new MessagePackWriter(shorter);
        w.WriteArrayHeader(5);
        w.Write("lab1"); w.Write("fork"); w.Write("3"); w.Write("weensyos"); w.Write(false);
        w.Flush();
        Assert.Equal(new CreateSessionOptions("lab1", "fork", "3", "weensyos", false, 0), Read<CreateSessionOptions>(shorter.WrittenSpan.ToArray()));

        // An older server's JoinResult has no rejoin token (key 4): it reads as null; a newer client's
        // token is the fifth element, which an older client (reading four) ignores.
        var oldJoin = new System.Buffers.ArrayBufferWriter<byte>();
        w = new MessagePackWriter(oldJoin);
        w.WriteArrayHeader(4);
        w.Write("demo"); w.Write(1); w.Write("p3"); w.Write("ana");
        w.Flush();
        Assert.Equal(new JoinResult("demo", Role.Driver, "p3", "ana", null), Read<JoinResult>(oldJoin.WrittenSpan.ToArray()));
        var reader = new MessagePackReader(Write(new JoinResult("demo", Role.Driver, "p3", "ana", "TOKEN")));
        Assert.Equal(5, reader.ReadArrayHeader());
        for (int key = 0; key < 4; key++) reader.Skip();
        Assert.Equal("TOKEN", reader.ReadString());
    }

    [Fact]
    public void Session_info_is_the_documented_array_and_round_trips()
    {
        var info = new SessionInfo("lab", "weensyos", "fork", "3", true, "p1", "prof", Role.Instructor, "7K2M-9QXD-R4TB-H3WN", "KEY");
        Assert.Equal(info, Read<SessionInfo>(Write(info)));
        var reader = new MessagePackReader(Write(info with { JoinCode = null, InstructorKey = null, Role = Role.Viewer }));
        Assert.Equal(10, reader.ReadArrayHeader());
        for (int key = 0; key < 7; key++) reader.Skip();
        Assert.Equal((int)Role.Viewer, reader.ReadInt32());
        Assert.True(reader.TryReadNil());
        Assert.True(reader.TryReadNil());
    }

    [Fact]
    public void Hostile_bytes_fail_with_a_serialization_error_not_a_crash()
    {
        // 100,000 nested arrays where a frame's process table goes.
        byte[] deep = [0x9F, 0x01, 0xC2, 0x01, 0x01, 0xC0, 0xC0, .. Enumerable.Repeat((byte)0x91, 100_000), 0x01];
        Assert.Throws<MessagePackSerializationException>(() => Read<Frame>(deep));
        // An array header claiming 2^32 - 1 events in a few bytes.
        byte[] huge = [0x9F, 0x01, 0xC2, 0x01, 0x01, 0xC0, 0xC0, 0xC0, 0xDD, 0xFF, 0xFF, 0xFF, 0xFF, 0x90];
        Assert.Throws<MessagePackSerializationException>(() => Read<Frame>(huge));
        // Every truncation of a valid frame.
        byte[] valid = Write(EveryPart);
        for (int length = 0; length < valid.Length; length += 97)
            Assert.Throws<MessagePackSerializationException>(() => Read<Frame>(valid[..length]));
        // A virtual map in a form this client does not know shows as empty instead of being misread.
        var unknownForm = Read<VirtualMap>(Write(new VirtualMap(3, new byte[50], EntrySize: 5)));
        Assert.Equal(0, unknownForm.PageCount);
    }

    [Fact]
    public void Screen_and_page_diffs_carry_exactly_what_changed()
    {
        var before = new ushort[FrameCodec.ScreenCells];
        var after = (ushort[])before.Clone();
        after[0] = 0x0741; after[1999] = 0x4F42;
        Assert.Null(FrameCodec.PackScreenDiff(before, before));
        var diff = FrameCodec.PackScreenDiff(before, after)!;
        Assert.Equal(8, diff.Length);   // two (index, cell) pairs
        var mirror = new SessionMirror();
        mirror.Apply(new Frame { Seq = 1, Full = true, Screen = FrameCodec.PackScreenFull(before), Pages = [0, 0, 2, 1] });
        mirror.Apply(new Frame { Seq = 2, Screen = diff, Pages = FrameCodec.PackPagesDiff([0, 0, 2, 1], [0, 0, 3, 2]) });
        Assert.Equal(after, mirror.Screen);
        Assert.Equal(new byte[] { 0, 0, 3, 2 }, mirror.Pages);

        var wideBefore = new byte[3 * FrameCodec.WidePageSize];
        var wideAfter = (byte[])wideBefore.Clone();
        FrameCodec.WriteWidePage(wideAfter, 2, 70_000, 3);
        mirror.Apply(new Frame { Seq = 3, Full = true, WidePages = wideBefore });
        mirror.Apply(new Frame { Seq = 4, WidePages = FrameCodec.PackWidePagesDiff(wideBefore, wideAfter) });
        Assert.Equal((70_000, 3), FrameCodec.WidePage(mirror.WidePages, 2));
    }

    /// <summary>docs/PROTOCOL.md beside the sources (found at compile time).</summary>
    private static string ProtocolDoc([System.Runtime.CompilerServices.CallerFilePath] string source = "") =>
        File.ReadAllText(Path.Combine(Path.GetDirectoryName(source)!, "..", "..", "docs", "PROTOCOL.md"));

    [Fact]
    public void The_protocol_document_lists_the_contract_and_every_key()
    {
        string doc = ProtocolDoc();
        // Hub and client methods: exactly the contract's, in the tables.
        string hubTable = Section(doc, "## Hub methods").Split("\n### ")[0];   // the table, not the Commands below it
        var hubRows = Regex.Matches(hubTable, @"^\| `(\w+)` \|", RegexOptions.Multiline).Select(m => m.Groups[1].Value);
        Assert.Equal(typeof(ILabHub).GetMethods().Select(m => m.Name).Order(), hubRows.Order());
        var clientRows = Regex.Matches(Section(doc, "## Client methods"), @"^\| `(\w+)` \|", RegexOptions.Multiline).Select(m => m.Groups[1].Value);
        Assert.Equal(typeof(ILabClient).GetMethods().Select(m => m.Name).Order(), clientRows.Order());

        // Every wire type: each [Key(n)] member appears as "n Name" (a list) or "| n | Name |" (a table).
        foreach (var type in typeof(Frame).Assembly.GetTypes().Where(t => t.GetCustomAttribute<MessagePackObjectAttribute>() != null))
        {
            string section = Section(doc, "### " + type.Name);
            foreach (var member in type.GetProperties())
            {
                if (member.GetCustomAttribute<KeyAttribute>() is not { } key) continue;
                bool listed = Regex.IsMatch(section, $@"(^|[\s,(]){key.IntKey} {member.Name}\b")
                    || Regex.IsMatch(section, $@"^\| {key.IntKey} \| {member.Name} \|", RegexOptions.Multiline);
                Assert.True(listed, $"docs/PROTOCOL.md section '### {type.Name}' does not list key {key.IntKey} {member.Name}");
            }
        }
    }

    /// <summary>The text from a heading to the next heading of the same or a higher level.</summary>
    private static string Section(string doc, string heading)
    {
        var found = Regex.Match(doc, "^" + Regex.Escape(heading) + @"\b", RegexOptions.Multiline);
        Assert.True(found.Success, $"docs/PROTOCOL.md has no heading '{heading}'");
        int start = found.Index;
        string level = heading[..(heading.IndexOf(' ') + 1)];
        int end = doc.IndexOf("\n" + level, start + heading.Length, StringComparison.Ordinal);
        int higher = level.Length > 3 ? doc.IndexOf("\n## ", start + heading.Length, StringComparison.Ordinal) : -1;
        if (higher >= 0 && (end < 0 || higher < end)) end = higher;
        return end < 0 ? doc[start..] : doc[start..end];
    }
}
