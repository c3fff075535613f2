using MessagePack;

namespace Lab.Shared.Wire;

/// <summary>
/// The shared debugger view of a session: everyone sees the same registers, disassembly, output and
/// breakpoints, and who did the last debugger action (so two students can pair-debug).
/// </summary>
[MessagePackObject]
public sealed record DebuggerState
{
    /// <summary>True while the machine is stopped by the debugger (step, breakpoint).</summary>
    [Key(0)] public bool Stopped { get; init; }
    /// <summary>Why it stopped, or what the last action was ("breakpoint 1 at 0x100123", "stepped 10 instructions").</summary>
    [Key(1)] public string Reason { get; init; } = "";
    /// <summary>The process whose registers are shown (0 when the kernel is idle).</summary>
    [Key(2)] public int Pid { get; init; }
    /// <summary>rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15, rip, rflags.</summary>
    [Key(3)] public ulong[] Registers { get; init; } = [];
    /// <summary>Disassembly around rip (AT&amp;T syntax); the line at rip starts with "=>".</summary>
    [Key(4)] public string[] Disassembly { get; init; } = [];
    /// <summary>Output of the last inspection command (x, walk, ps, regs).</summary>
    [Key(5)] public string[] Output { get; init; } = [];
    [Key(6)] public string[] Breakpoints { get; init; } = [];
    [Key(7)] public string By { get; init; } = "";
    [Key(8)] public ulong Tick { get; init; }

    public static readonly string[] RegisterNames =
        ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags"];
}
