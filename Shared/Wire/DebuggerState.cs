using Lab.Shared.MsgPack;

namespace Lab.Shared.Wire;

/// <summary>
/// The shared debugger view of a session: everyone sees the same registers, disassembly, output and
/// breakpoints, and who did the last debugger action (so two students can pair-debug).
/// </summary>
public sealed record DebuggerState : IMsgPackSerializable<DebuggerState>
{
    /// <summary>True while the machine is stopped by the debugger (step, breakpoint).</summary>
    public bool Stopped { get; init; }
    /// <summary>Why it stopped, or what the last action was ("breakpoint 1 at 0x100123", "stepped 10 instructions").</summary>
    public string Reason { get; init; } = "";
    /// <summary>The process whose registers are shown (0 when the kernel is idle).</summary>
    public int Pid { get; init; }
    /// <summary>rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15, rip, rflags.</summary>
    public ulong[] Registers { get; init; } = [];
    /// <summary>Disassembly around rip (AT&amp;T syntax); the line at rip starts with "=>".</summary>
    public string[] Disassembly { get; init; } = [];
    /// <summary>Output of the last inspection command (x, walk, ps, regs).</summary>
    public string[] Output { get; init; } = [];
    public string[] Breakpoints { get; init; } = [];
    public string By { get; init; } = "";
    public ulong Tick { get; init; }

    public void WriteTo(MsgPackWriter w)
    {
        w.WriteMapHeader(9);
        w.Write(0); w.Write(Stopped);
        w.Write(1); w.WriteString(Reason);
        w.Write(2); w.Write(Pid);
        w.Write(3); w.WriteArrayHeader(Registers.Length); foreach (var r in Registers) w.Write(r);
        w.Write(4); WriteStrings(w, Disassembly);
        w.Write(5); WriteStrings(w, Output);
        w.Write(6); WriteStrings(w, Breakpoints);
        w.Write(7); w.WriteString(By);
        w.Write(8); w.Write(Tick);
    }

    private static void WriteStrings(MsgPackWriter w, string[] lines)
    {
        w.WriteArrayHeader(lines.Length);
        foreach (var l in lines) w.WriteString(l);
    }

    private static string[] ReadStrings(ref MsgPackReader r)
    {
        int n = r.ReadArrayHeader();
        var lines = new string[n];
        for (int i = 0; i < n; i++) lines[i] = r.ReadString() ?? "";
        return lines;
    }

    public static DebuggerState ReadFrom(ref MsgPackReader r)
    {
        var d = new DebuggerState();
        for (int n = r.ReadMapHeader(); n > 0; n--)
        {
            switch (r.ReadInt32())
            {
                case 0: d = d with { Stopped = r.ReadBoolean() }; break;
                case 1: d = d with { Reason = r.ReadString() ?? "" }; break;
                case 2: d = d with { Pid = r.ReadInt32() }; break;
                case 3:
                    {
                        int count = r.ReadArrayHeader();
                        var regs = new ulong[count];
                        for (int i = 0; i < count; i++) regs[i] = r.ReadUInt64();
                        d = d with { Registers = regs };
                        break;
                    }
                case 4: d = d with { Disassembly = ReadStrings(ref r) }; break;
                case 5: d = d with { Output = ReadStrings(ref r) }; break;
                case 6: d = d with { Breakpoints = ReadStrings(ref r) }; break;
                case 7: d = d with { By = r.ReadString() ?? "" }; break;
                case 8: d = d with { Tick = r.ReadUInt64() }; break;
                default: r.Skip(); break;
            }
        }
        return d;
    }

    public static readonly string[] RegisterNames =
        ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"];
}
