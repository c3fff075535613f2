using System.Globalization;
using System.Text;
using Lab.Kernel.Common;
using Lab.Machine;
using Lab.Shared.Wire;

namespace Lab.Server.Sessions;

/// <summary>
/// The session's shared debugger: commands run on the session loop (the machine's thread) and their
/// results go into one <see cref="DebuggerState"/> that every participant receives, with who did it.
/// Breakpoints: an address (checked by the CPU), or a kernel event (a syscall, fork, exit of a pid,
/// a page fault) seen through the kernel's observer.
/// </summary>
public sealed partial class LabSession
{
    private enum BreakKind { Address, Syscall, Fork, Exit, Fault }
    private sealed record BreakCondition(int Id, BreakKind Kind, ulong Address, string? Syscall, int? Pid)
    {
        public override string ToString() => Kind switch
        {
            BreakKind.Address => $"{Id}: at 0x{Address:x}",
            BreakKind.Syscall => $"{Id}: on syscall {Syscall}",
            BreakKind.Fork => $"{Id}: on fork{(Pid is { } p ? $" by pid {p}" : "")}",
            BreakKind.Exit => $"{Id}: on exit{(Pid is { } p ? $" of pid {p}" : "")}",
            _ => $"{Id}: on page fault{(Pid is { } p ? $" in pid {p}" : "")}",
        };
    }

    /// <summary>Breakpoints a session may hold (each is checked on every kernel event or block).</summary>
    public const int MaxBreakpoints = 64;
    private readonly List<BreakCondition> _breaks = new();
    private int _nextBreakId = 1;
    private string? _pendingBreak;
    private DebuggerState _debug = new();

    /// <summary>Bumped when the debugger view changes.</summary>
    public long DebugVersion { get; private set; }
    public DebuggerState Debugger { get { lock (_stateLock) return _debug; } }

    public const string DebuggerHelp =
        "step [N] | continue | interrupt | break ADDR|SYMBOL|FILE:LINE | break syscall NAME|NUMBER | break fork [PID] | break exit [PID] | break fault [PID] | delete N|all | breaks | regs | disas [ADDR] | x ADDR [N] | walk ADDR | bt | ps";

    public static bool IsDebuggerVerb(string verb) =>
        verb is "step" or "s" or "continue" or "c" or "interrupt" or "break" or "b" or "delete" or "breaks" or "regs" or "disas" or "x" or "walk" or "bt" or "backtrace" or "ps";

    /// <summary>Runs a debugger command on the loop thread; returns its one-line answer (or throws with the reason).</summary>
    public Task<string> DebugAsync(string by, string[] words) => AskLoopAsync<string>(answer => new DebugCommand(by, words, answer));

    /// <summary>Reads the machine on the loop thread (for gdb); the reason when it cannot, as ArgumentException.</summary>
    public Task<byte[]> InspectAsync(string by, Func<SessionMachine, byte[]> read) => AskLoopAsync<byte[]>(answer => new InspectCommand(by, read, answer));

    /// <summary>Posts a command the loop answers through a completion source and waits (10 s) for the answer;
    /// a full command queue is "busy", a loop that does not answer a TimeoutException.</summary>
    private async Task<T> AskLoopAsync<T>(Func<TaskCompletionSource<T>, SessionCommand> command)
    {
        if (Moving is { } moving) throw new InvalidOperationException(moving);
        var answer = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!Post(command(answer))) throw new InvalidOperationException("the session is busy: slow down");
        return await answer.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Places an uploaded file in the machine (on the loop thread) and says so in the log; the
    /// reason when it cannot, as ArgumentException.</summary>
    public async Task PutFileAsync(string by, string path, byte[] bytes)
    {
        await InspectAsync(by, machine =>
        {
            if (machine.PlaceFile(path, bytes) is { } error) throw new ArgumentException(error);
            Log(EventKind.Action, 0, $"{by} uploaded {path} ({bytes.Length} bytes)");
            return [];
        });
    }

    /// <summary>Kernel events that match a break condition stop the machine (called on the loop thread).</summary>
    private void CheckBreakConditions(KernelEvent e)
    {
        if (_breaks.Count == 0 || _pendingBreak != null) return;
        foreach (var b in _breaks)
        {
            bool hit = b.Kind switch
            {
                BreakKind.Syscall => e.Kind is KernelEventKind.Syscall or KernelEventKind.GuestCall && e.Name == b.Syscall,
                BreakKind.Fork => e.Kind == KernelEventKind.Syscall && e.Name == "fork" && (b.Pid is null || b.Pid == e.Pid),
                BreakKind.Exit => _machine.IsExit(e) && (b.Pid is null || b.Pid == e.Pid),
                BreakKind.Fault => e.Kind is KernelEventKind.Fault or KernelEventKind.Killed or KernelEventKind.Trap && (b.Pid is null || b.Pid == e.Pid),
                _ => false,
            };
            if (!hit) continue;
            _pendingBreak = $"breakpoint {b}: pid {e.Pid} {e}";
            _machine.Machine.Stop();
            return;
        }
    }

    /// <summary>Runs the machine for a slice and stops it for the debugger if a breakpoint was hit.</summary>
    private void RunSlice(ulong budget)
    {
        var result = _machine.Run(budget);
        if (result.Exit == RunExit.Breakpoint)
        {
            var b = _breaks.Find(x => x.Kind == BreakKind.Address && x.Address == _machine.Machine.Cpu.Rip);
            StopForDebugger($"breakpoint {(b != null ? b.ToString() : $"at 0x{_machine.Machine.Cpu.Rip:x}")}{Where(_machine.Machine.Cpu.Rip)}", "");
        }
        else if (_pendingBreak != null)
        {
            string reason = _pendingBreak;
            _pendingBreak = null;
            StopForDebugger(reason, "");
        }
    }

    private void StopForDebugger(string reason, string by)
    {
        _running = false;
        UpdateSettings(s => s with { Paused = true });
        SetDebugState(stopped: true, reason, by, output: null);
        Log(EventKind.Action, CurrentPid(), by.Length > 0 ? $"{by} stopped the machine: {reason}" : $"stopped: {reason}");
    }

    private int CurrentPid() => _machine.CurrentPid;

    private void SetDebugState(bool stopped, string reason, string by, string[]? output)
    {
        var cpu = _machine.Machine.Cpu;
        var regs = new ulong[18];
        cpu.GetRegisters(regs);
        regs[16] = cpu.Rip;
        regs[17] = cpu.RFlags;
        var state = new DebuggerState
        {
            Stopped = stopped,
            Reason = reason,
            Pid = CurrentPid(),
            Registers = regs,
            Disassembly = Disassemble(cpu.Rip, 8, markRip: true),
            Output = output ?? _debug.Output,
            Breakpoints = _breaks.Select(b => b.ToString()).ToArray(),
            By = by,
            Tick = _machine.Ticks,
        };
        lock (_stateLock)
        {
            _debug = state;
            DebugVersion++;
        }
        Changed.Bump();
    }

    /// <summary>Applies one debugger command (loop thread).</summary>
    private void ApplyDebug(DebugCommand c)
    {
        try
        {
            string answer = RunDebug(c.By, c.Words);
            c.Result.TrySetResult(answer);
        }
        catch (FormatException e)
        {
            c.Result.TrySetException(new ArgumentException(e.Message));
        }
        catch (ArgumentException e)
        {
            c.Result.TrySetException(e);
        }
    }

    /// <summary>" in kernel_fork+12 (kernel.c:123)" for a code address, when the kernel has symbols; "" otherwise.</summary>
    private string Where(ulong address)
    {
        string? name = _machine.Symbolizer?.Invoke(address), line = _machine.SourceLine(address);
        return name is null && line is null ? "" : $" in {name ?? $"0x{address:x}"}{(line is null ? "" : $" ({line})")}";
    }

    /// <summary>An address a person typed: a name the kernel's symbols know (symbol, sym+off, file:line), or hex.</summary>
    private ulong ParseAddress(string text)
    {
        if (_machine.TryResolve(text, out ulong resolved, out string? error)) return resolved;
        bool hexLike = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) || text.All(Uri.IsHexDigit);
        if (error != null && !hexLike) throw new ArgumentException(error);
        string t = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        if (ulong.TryParse(t, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong v)) return v;
        throw new ArgumentException($"'{text}' is not an address (hex, e.g. 0x100040)");
    }

    /// <summary>"1 frame", "3 frames", "2 processes": a count with its noun, in the plural when it is not one.</summary>
    private static string Count(int n, string noun) => $"{n} {noun}{(n == 1 ? "" : noun.EndsWith('s') ? "es" : "s")}";

    /// <summary>The usage line of a debugger verb (what a refusal of bad arguments shows).</summary>
    private static string Usage(string verb) => "usage: " + verb switch
    {
        "step" or "s" => "step [N] (N instructions, 1 to 10000000)",
        "continue" or "c" => "continue",
        "interrupt" => "interrupt",
        "break" or "b" => "break ADDR|SYMBOL|FILE:LINE | break syscall NAME|NUMBER | break fork [PID] | break exit [PID] | break fault [PID]",
        "delete" => "delete N|all (N: a breakpoint's number, as breaks lists them)",
        "breaks" => "breaks",
        "regs" => "regs",
        "disas" => "disas [ADDR]",
        "x" => "x ADDR [N] (N bytes, 1 to 512)",
        "walk" => "walk ADDR",
        "bt" or "backtrace" => "bt",
        "ps" => "ps",
        _ => DebuggerHelp,
    };

    /// <summary>Refuses a command of <paramref name="min"/> to <paramref name="max"/> arguments that has another count.</summary>
    private static void Arguments(string[] w, int min, int max)
    {
        int n = w.Length - 1;
        if (n < min || n > max)
            throw new ArgumentException($"{Usage(w[0].ToLowerInvariant())}{(n > max ? $" (unexpected '{string.Join(' ', w[(max + 1)..])}')" : "")}");
    }

    /// <summary>An address argument; a bad one is refused with the verb's usage.</summary>
    private ulong AddressArgument(string[] w, int i)
    {
        try { return ParseAddress(w[i]); }
        catch (ArgumentException e) { throw new ArgumentException($"{e.Message}; {Usage(w[0].ToLowerInvariant())}"); }
    }

    /// <summary>A positive whole-number argument up to <paramref name="max"/>; anything else is refused with the verb's usage.</summary>
    private static long CountArgument(string[] w, int i, long max, string what)
    {
        if (long.TryParse(w[i], NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n >= 1 && n <= max) return n;
        throw new ArgumentException($"'{w[i]}' is not {what} (1 to {max}); {Usage(w[0].ToLowerInvariant())}");
    }

    /// <summary>
    /// Runs one debugger command on the loop thread. Arguments are checked before anything is done: a
    /// bad or extra one is refused with the verb's usage and changes nothing. The debugger view's
    /// Reason says what happened, never who (that is its By).
    /// </summary>
    private string RunDebug(string by, string[] w)
    {
        string verb = w[0].ToLowerInvariant();
        bool machineHalted = _machine.Halted;
        switch (verb)
        {
            case "step":
            case "s":
                {
                    Arguments(w, 0, 1);
                    ulong n = w.Length == 2 ? (ulong)CountArgument(w, 1, 10_000_000, "a number of instructions") : 1;
                    if (machineHalted) throw new ArgumentException("the machine has halted; reboot it first");
                    _running = false;
                    UpdateSettings(s => s with { Paused = true });
                    ulong before = _machine.Machine.InstructionsRetired;
                    _pendingBreak = null;
                    var result = _machine.Step(n);
                    ulong done = _machine.Machine.InstructionsRetired - before;
                    string reason = result.Exit == RunExit.Breakpoint ? $"stepped {done} instructions, then reached a breakpoint at 0x{_machine.Machine.Cpu.Rip:x}"
                        : _pendingBreak != null ? $"stepped {done} instructions, then {_pendingBreak}"
                        : $"stepped {done} instruction{(done == 1 ? "" : "s")}";
                    _pendingBreak = null;
                    SetDebugState(true, reason, by, null);
                    Log(EventKind.Action, CurrentPid(), $"{by} {reason}");
                    return reason;
                }
            case "interrupt":
                Arguments(w, 0, 0);
                if (_debug.Stopped) return "already stopped";
                StopForDebugger($"interrupted at 0x{_machine.Machine.Cpu.Rip:x}{Where(_machine.Machine.Cpu.Rip)}", by);
                return "stopped";
            case "continue":
            case "c":
                Arguments(w, 0, 0);
                _running = true;
                UpdateSettings(s => s with { Paused = false });
                SetDebugState(false, "continued", by, null);
                Log(EventKind.Action, 0, $"{by} continued");
                return "continuing";
            case "break":
            case "b":
                {
                    Arguments(w, 1, 2);
                    string what = w[1].ToLowerInvariant();
                    if (what == "syscall" && w.Length != 3) Arguments(w, 2, 2);
                    if (what is not ("syscall" or "fork" or "exit" or "fault")) Arguments(w, 1, 1);
                    int? pid = what is "fork" or "exit" or "fault" && w.Length > 2 ? (int)CountArgument(w, 2, int.MaxValue, "a pid") : null;
                    BreakCondition b = what switch
                    {
                        "syscall" => new BreakCondition(_nextBreakId, BreakKind.Syscall, 0, _machine.SyscallBreakName(w[2]), null),
                        "fork" => new BreakCondition(_nextBreakId, BreakKind.Fork, 0, null, pid),
                        "exit" => new BreakCondition(_nextBreakId, BreakKind.Exit, 0, null, pid),
                        "fault" => new BreakCondition(_nextBreakId, BreakKind.Fault, 0, null, pid),
                        _ => new BreakCondition(_nextBreakId, BreakKind.Address, AddressArgument(w, 1), null, null),
                    };
                    if (_breaks.Count >= MaxBreakpoints)
                        throw new ArgumentException($"this session already has {MaxBreakpoints} breakpoints, the most it may have: delete some first (delete N|all)");
                    _nextBreakId++;
                    _breaks.Add(b);
                    if (b.Kind == BreakKind.Address) _machine.Machine.Cpu.AddBreakpoint(new VirtAddr(b.Address));
                    SetDebugState(_debug.Stopped, $"set breakpoint {b}", by, null);
                    Log(EventKind.Action, 0, $"{by} set breakpoint {b}");
                    return $"breakpoint {b}";
                }
            case "delete":
                {
                    Arguments(w, 1, 1);
                    bool all = w[1].Equals("all", StringComparison.OrdinalIgnoreCase);
                    long id = all ? 0 : CountArgument(w, 1, int.MaxValue, "a breakpoint number");
                    var removed = all ? _breaks.ToList() : _breaks.Where(b => b.Id == id).ToList();
                    if (removed.Count == 0)
                        throw new ArgumentException(all ? "there are no breakpoints to delete" : $"no breakpoint {id} (breaks lists them)");
                    foreach (var b in removed)
                    {
                        _breaks.Remove(b);
                        if (b.Kind == BreakKind.Address && !_breaks.Any(x => x.Kind == BreakKind.Address && x.Address == b.Address))
                            _machine.Machine.Cpu.RemoveBreakpoint(new VirtAddr(b.Address));
                    }
                    string deleted = removed.Count == 1 ? $"1 breakpoint ({removed[0]})" : $"{removed.Count} breakpoints";
                    SetDebugState(_debug.Stopped, $"deleted {deleted}", by, null);
                    Log(EventKind.Action, 0, $"{by} deleted {deleted}");
                    return $"deleted {removed.Count}";
                }
            case "breaks":
                Arguments(w, 0, 0);
                SetDebugState(_debug.Stopped, "listed the breakpoints", by, _breaks.Select(b => b.ToString()).DefaultIfEmpty("(no breakpoints)").ToArray());
                return Count(_breaks.Count, "breakpoint");
            case "regs":
                {
                    Arguments(w, 0, 0);
                    var cpu = _machine.Machine.Cpu;
                    var lines = new List<string> { $"pid {CurrentPid()}  rip 0x{cpu.Rip:x}  rflags 0x{cpu.RFlags:x}" };
                    var regs = new ulong[16];
                    cpu.GetRegisters(regs);
                    for (int i = 0; i < 16; i += 4)
                        lines.Add(string.Join("  ", Enumerable.Range(i, 4).Select(r => $"{DebuggerState.RegisterNames[r],-3} {regs[r]:x16}")));
                    SetDebugState(_debug.Stopped, "showed the registers", by, lines.ToArray());
                    Log(EventKind.Action, 0, $"{by} showed the registers");
                    return "registers";
                }
            case "disas":
                {
                    Arguments(w, 0, 1);
                    ulong at = w.Length > 1 ? AddressArgument(w, 1) : _machine.Machine.Cpu.Rip;
                    SetDebugState(_debug.Stopped, $"disassembled 0x{at:x}", by, Disassemble(at, 16, markRip: true));
                    Log(EventKind.Action, 0, $"{by} disassembled 0x{at:x}");
                    return $"disassembly at 0x{at:x}";
                }
            case "x":
                {
                    Arguments(w, 1, 2);
                    ulong at = AddressArgument(w, 1);
                    int n = w.Length > 2 ? (int)CountArgument(w, 2, 512, "a number of bytes") : 64;
                    SetDebugState(_debug.Stopped, $"examined 0x{at:x}", by, Dump(at, n));
                    Log(EventKind.Action, 0, $"{by} examined {n} bytes at 0x{at:x}");
                    return $"{n} bytes at 0x{at:x}";
                }
            case "walk":
                {
                    Arguments(w, 1, 1);
                    ulong at = AddressArgument(w, 1);
                    var steps = _machine.Machine.Cpu.DescribeWalk(new VirtAddr(at));
                    var lines = new List<string> { $"page-table walk of 0x{at:x} for pid {CurrentPid()} (cr3 0x{_machine.Machine.Cpu.Cr3:x})" };
                    lines.AddRange(steps.Select(s => s.ToString()));
                    SetDebugState(_debug.Stopped, $"walked the page tables for 0x{at:x}", by, lines.ToArray());
                    Log(EventKind.Action, 0, $"{by} walked the page tables for 0x{at:x}");
                    return $"walk of 0x{at:x}";
                }
            case "bt":
            case "backtrace":
                {
                    Arguments(w, 0, 0);
                    var frames = Backtrace();
                    SetDebugState(_debug.Stopped, "showed the backtrace", by, frames);
                    return Count(frames.Length, "frame");
                }
            case "ps":
                {
                    Arguments(w, 0, 0);
                    var lines = _machine.ProcessListing();
                    SetDebugState(_debug.Stopped, "listed the processes", by, lines);
                    return Count(lines.Length - 1, "process");
                }
        }
        throw new ArgumentException($"unknown debugger command '{verb}' ({DebuggerHelp})");
    }

    /// <summary>Disassembles from <paramref name="at"/> in the current address space (user view).</summary>
    private string[] Disassemble(ulong at, int count, bool markRip)
    {
        var cpu = _machine.Machine.Cpu;
        var lines = Disassembler.DecodeVirtual(cpu, new VirtAddr(at), count, _machine.Symbolizer);
        if (lines is null) return [$"0x{at:x}: (not readable in pid {CurrentPid()}'s address space)"];
        return lines.Select(l => $"{(markRip && l.Address.Value == cpu.Rip ? "=>" : "  ")} 0x{l.Address.Value:x}{(l.Symbol is null ? "" : $" <{l.Symbol}>")}: {l.Text}").ToArray();
    }

    /// <summary>The call stack by the frame-pointer chain (rbp → saved rbp, return address), as far as it
    /// reads (at most 32 frames); names and lines when the kernel has symbols. Code built without frame
    /// pointers gives a short or wrong chain, as gdb's without unwind tables.</summary>
    private string[] Backtrace()
    {
        var cpu = _machine.Machine.Cpu;
        var frames = new List<string> { $"#0  0x{cpu.Rip:x}{Where(cpu.Rip)}" };
        ulong rbp = cpu[Register.Rbp];
        Span<byte> pair = stackalloc byte[16];
        for (int depth = 1; depth < 32 && rbp != 0 && rbp % 8 == 0; depth++)
        {
            if (!cpu.TryReadVirtual(new VirtAddr(rbp), pair, out _)) break;
            ulong saved = BitConverter.ToUInt64(pair), ret = BitConverter.ToUInt64(pair[8..]);
            // A return address must be a canonical address (bits 63..47 all equal): anything else is not a frame.
            if (ret == 0 || (long)ret >> 47 is not (0 or -1)) break;
            frames.Add($"#{depth}  0x{ret:x}{Where(ret)}");
            if (saved <= rbp) break;   // the chain must climb the stack
            rbp = saved;
        }
        return frames.ToArray();
    }

    private string[] Dump(ulong at, int n)
    {
        var bytes = new byte[n];
        if (!_machine.Machine.Cpu.TryReadVirtual(new VirtAddr(at), bytes, out var fault))
            return [$"cannot read {n} bytes at 0x{at:x} in pid {CurrentPid()}: page fault at {fault.FaultAddress} ({fault.PageFaultError})"];
        var lines = new List<string>();
        for (int off = 0; off < n; off += 16)
        {
            var row = bytes.AsSpan(off, Math.Min(16, n - off));
            var sb = new StringBuilder($"0x{at + (ulong)off:x8}: ");
            foreach (byte b in row) sb.Append($"{b:x2} ");
            sb.Append(' ', (16 - row.Length) * 3 + 1);
            foreach (byte b in row) sb.Append(b is >= 0x20 and < 0x7F ? (char)b : '.');
            lines.Add(sb.ToString());
        }
        return lines.ToArray();
    }
}
