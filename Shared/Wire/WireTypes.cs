using Lab.Shared.MsgPack;

namespace Lab.Shared.Wire;

// The hub's message shapes. Every type is a MessagePack map with small integer keys (documented in
// docs/PROTOCOL.md); readers skip keys they do not know, so fields can be added without breaking
// older clients.

/// <summary>What a participant may do in a session.</summary>
public enum Role
{
    /// <summary>Watches; keys and commands are refused.</summary>
    Viewer = 0,
    /// <summary>May type into the machine and control it (pause, reboot, speed, debugger).</summary>
    Driver = 1,
    /// <summary>Owns the session: everything a driver may do, plus granting and revoking driving, follow mode, closing.</summary>
    Instructor = 2,
}

/// <summary>Kinds of entries in a session's event log.</summary>
public enum EventKind
{
    /// <summary>A participant did something (joined, pressed a key, paused...). Text says who and what.</summary>
    Action = 0,
    Syscall = 1,
    Fork = 2,
    Exit = 3,
    Fault = 4,
    Track = 5,
    /// <summary>Several syscalls folded into one line because they came faster than a person can read.</summary>
    SyscallSummary = 6,
    /// <summary>The kernel or session said something (panic, power-off, reboot).</summary>
    System = 7,
}

/// <summary>Small helpers for reading our maps.</summary>
internal static class Wire
{
    public static string Str(ref MsgPackReader r) => r.ReadString() ?? "";
}

/// <summary>Options for creating a session.</summary>
public sealed record CreateSessionOptions(
    string Name,
    string Program = "forkexit",
    string Step = "cow",
    string Profile = "weensyos",
    bool Private = false,
    int MemoryMiB = 0) : IMsgPackSerializable<CreateSessionOptions>
{
    public void WriteTo(MsgPackWriter w)
    {
        w.WriteMapHeader(MemoryMiB != 0 ? 6 : 5);
        w.Write(0); w.WriteString(Name);
        w.Write(1); w.WriteString(Program);
        w.Write(2); w.WriteString(Step);
        w.Write(3); w.WriteString(Profile);
        w.Write(4); w.Write(Private);
        if (MemoryMiB != 0) { w.Write(5); w.Write(MemoryMiB); }
    }

    public static CreateSessionOptions ReadFrom(ref MsgPackReader r)
    {
        var o = new CreateSessionOptions("");
        for (int n = r.ReadMapHeader(); n > 0; n--)
        {
            switch (r.ReadInt32())
            {
                case 0: o = o with { Name = Wire.Str(ref r) }; break;
                case 1: o = o with { Program = Wire.Str(ref r) }; break;
                case 2: o = o with { Step = Wire.Str(ref r) }; break;
                case 3: o = o with { Profile = Wire.Str(ref r) }; break;
                case 4: o = o with { Private = r.ReadBoolean() }; break;
                case 5: o = o with { MemoryMiB = r.ReadInt32() }; break;
                default: r.Skip(); break;
            }
        }
        return o;
    }
}

/// <summary>What the creator of a session receives: the instructor key (keep it secret) and, for a private session, the join code.</summary>
public sealed record CreateSessionResult(string Name, string InstructorKey, string? JoinCode) : IMsgPackSerializable<CreateSessionResult>
{
    public void WriteTo(MsgPackWriter w)
    {
        w.WriteMapHeader(3);
        w.Write(0); w.WriteString(Name);
        w.Write(1); w.WriteString(InstructorKey);
        w.Write(2); w.WriteString(JoinCode);
    }

    public static CreateSessionResult ReadFrom(ref MsgPackReader r)
    {
        string name = "", key = "";
        string? code = null;
        for (int n = r.ReadMapHeader(); n > 0; n--)
        {
            switch (r.ReadInt32())
            {
                case 0: name = Wire.Str(ref r); break;
                case 1: key = Wire.Str(ref r); break;
                case 2: code = r.ReadString(); break;
                default: r.Skip(); break;
            }
        }
        return new CreateSessionResult(name, key, code);
    }
}

/// <summary>One line of the session list, and the status part of frames.</summary>
public sealed record SessionSummary(
    string Name,
    string Program,
    string Step,
    string Profile,
    bool Private,
    int Participants,
    ulong Tick,
    bool Running,
    string Speed,
    string? Halted) : IMsgPackSerializable<SessionSummary>
{
    public void WriteTo(MsgPackWriter w)
    {
        w.WriteMapHeader(10);
        w.Write(0); w.WriteString(Name);
        w.Write(1); w.WriteString(Program);
        w.Write(2); w.WriteString(Step);
        w.Write(3); w.WriteString(Profile);
        w.Write(4); w.Write(Private);
        w.Write(5); w.Write(Participants);
        w.Write(6); w.Write(Tick);
        w.Write(7); w.Write(Running);
        w.Write(8); w.WriteString(Speed);
        w.Write(9); w.WriteString(Halted);
    }

    public static SessionSummary ReadFrom(ref MsgPackReader r)
    {
        var s = new SessionSummary("", "", "", "", false, 0, 0, false, "", null);
        for (int n = r.ReadMapHeader(); n > 0; n--)
        {
            switch (r.ReadInt32())
            {
                case 0: s = s with { Name = Wire.Str(ref r) }; break;
                case 1: s = s with { Program = Wire.Str(ref r) }; break;
                case 2: s = s with { Step = Wire.Str(ref r) }; break;
                case 3: s = s with { Profile = Wire.Str(ref r) }; break;
                case 4: s = s with { Private = r.ReadBoolean() }; break;
                case 5: s = s with { Participants = r.ReadInt32() }; break;
                case 6: s = s with { Tick = r.ReadUInt64() }; break;
                case 7: s = s with { Running = r.ReadBoolean() }; break;
                case 8: s = s with { Speed = Wire.Str(ref r) }; break;
                case 9: s = s with { Halted = r.ReadString() }; break;
                default: r.Skip(); break;
            }
        }
        return s;
    }
}

/// <summary>The answer to Join: your role and participant id.</summary>
public sealed record JoinResult(string Session, Role Role, string ParticipantId, string Name) : IMsgPackSerializable<JoinResult>
{
    public void WriteTo(MsgPackWriter w)
    {
        w.WriteMapHeader(4);
        w.Write(0); w.WriteString(Session);
        w.Write(1); w.Write((int)Role);
        w.Write(2); w.WriteString(ParticipantId);
        w.Write(3); w.WriteString(Name);
    }

    public static JoinResult ReadFrom(ref MsgPackReader r)
    {
        string session = "", id = "", name = "";
        Role role = Role.Viewer;
        for (int n = r.ReadMapHeader(); n > 0; n--)
        {
            switch (r.ReadInt32())
            {
                case 0: session = Wire.Str(ref r); break;
                case 1: role = (Role)r.ReadInt32(); break;
                case 2: id = Wire.Str(ref r); break;
                case 3: name = Wire.Str(ref r); break;
                default: r.Skip(); break;
            }
        }
        return new JoinResult(session, role, id, name);
    }
}

public sealed record Participant(string Id, string Name, Role Role) : IMsgPackSerializable<Participant>
{
    public void WriteTo(MsgPackWriter w)
    {
        w.WriteMapHeader(3);
        w.Write(0); w.WriteString(Id);
        w.Write(1); w.WriteString(Name);
        w.Write(2); w.Write((int)Role);
    }

    public static Participant ReadFrom(ref MsgPackReader r)
    {
        string id = "", name = "";
        Role role = Role.Viewer;
        for (int n = r.ReadMapHeader(); n > 0; n--)
        {
            switch (r.ReadInt32())
            {
                case 0: id = Wire.Str(ref r); break;
                case 1: name = Wire.Str(ref r); break;
                case 2: role = (Role)r.ReadInt32(); break;
                default: r.Skip(); break;
            }
        }
        return new Participant(id, name, role);
    }
}

/// <summary>One row of the process table.</summary>
public sealed record ProcessRow(int Pid, int Parent, string State, string Name, int Pages) : IMsgPackSerializable<ProcessRow>
{
    public void WriteTo(MsgPackWriter w)
    {
        w.WriteMapHeader(5);
        w.Write(0); w.Write(Pid);
        w.Write(1); w.Write(Parent);
        w.Write(2); w.WriteString(State);
        w.Write(3); w.WriteString(Name);
        w.Write(4); w.Write(Pages);
    }

    public static ProcessRow ReadFrom(ref MsgPackReader r)
    {
        int pid = 0, parent = 0, pages = 0;
        string state = "", name = "";
        for (int n = r.ReadMapHeader(); n > 0; n--)
        {
            switch (r.ReadInt32())
            {
                case 0: pid = r.ReadInt32(); break;
                case 1: parent = r.ReadInt32(); break;
                case 2: state = Wire.Str(ref r); break;
                case 3: name = Wire.Str(ref r); break;
                case 4: pages = r.ReadInt32(); break;
                default: r.Skip(); break;
            }
        }
        return new ProcessRow(pid, parent, state, name, pages);
    }
}

/// <summary>One event-log entry.</summary>
public sealed record LabEvent(long Seq, ulong Tick, EventKind Kind, int Pid, string Text) : IMsgPackSerializable<LabEvent>
{
    public void WriteTo(MsgPackWriter w)
    {
        w.WriteMapHeader(5);
        w.Write(0); w.Write(Seq);
        w.Write(1); w.Write(Tick);
        w.Write(2); w.Write((int)Kind);
        w.Write(3); w.Write(Pid);
        w.Write(4); w.WriteString(Text);
    }

    public static LabEvent ReadFrom(ref MsgPackReader r)
    {
        long seq = 0;
        ulong tick = 0;
        EventKind kind = EventKind.System;
        int pid = 0;
        string text = "";
        for (int n = r.ReadMapHeader(); n > 0; n--)
        {
            switch (r.ReadInt32())
            {
                case 0: seq = r.ReadInt64(); break;
                case 1: tick = r.ReadUInt64(); break;
                case 2: kind = (EventKind)r.ReadInt32(); break;
                case 3: pid = r.ReadInt32(); break;
                case 4: text = Wire.Str(ref r); break;
                default: r.Skip(); break;
            }
        }
        return new LabEvent(seq, tick, kind, pid, text);
    }
}

/// <summary>What the instructor points at, broadcast in follow mode.</summary>
public sealed record FollowState(bool Enabled, string Pane, int Pid, string By) : IMsgPackSerializable<FollowState>
{
    public void WriteTo(MsgPackWriter w)
    {
        w.WriteMapHeader(4);
        w.Write(0); w.Write(Enabled);
        w.Write(1); w.WriteString(Pane);
        w.Write(2); w.Write(Pid);
        w.Write(3); w.WriteString(By);
    }

    public static FollowState ReadFrom(ref MsgPackReader r)
    {
        var f = new FollowState(false, "", 0, "");
        for (int n = r.ReadMapHeader(); n > 0; n--)
        {
            switch (r.ReadInt32())
            {
                case 0: f = f with { Enabled = r.ReadBoolean() }; break;
                case 1: f = f with { Pane = Wire.Str(ref r) }; break;
                case 2: f = f with { Pid = r.ReadInt32() }; break;
                case 3: f = f with { By = Wire.Str(ref r) }; break;
                default: r.Skip(); break;
            }
        }
        return f;
    }
}
