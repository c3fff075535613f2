using Lab.Kernel.Common;
using Lab.Kernel.Weensy;
using Lab.Kernel.Weensy.Core;
using Lab.Machine;
using Lab.Shared.Wire;

namespace Lab.Server.Sessions;

/// <summary>A session running WeensyOS: the CGA screen, pageinfo (2 MiB, one byte owners) and 16 slots.</summary>
public sealed class WeensySessionMachine : SessionMachine
{
    private readonly WeensyMachine _m;

    public WeensySessionMachine(SessionSettings settings, ExecutionTier? tier = null) => _m = new WeensyMachine(settings.ToKernelOptions() with { Tier = tier });

    public override X64Machine Machine => _m.Machine;
    public override ulong Ticks => _m.Ticks;
    public override ulong InstructionsPerTick => _m.Kernel.Options.InstructionsPerTick;
    public override int CurrentPid => _m.Kernel.Current?.Pid ?? 0;
    public override Action<KernelEvent>? Observer { set => _m.Kernel.Observer = value; }

    public override string? HaltReason
    {
        get
        {
            var kernel = _m.Kernel;
            return (kernel.InvariantFailure ?? _invariantFailure) is { } inv ? $"invariant failed: {inv}"
                : kernel.PanicMessage is { } panic ? $"PANIC: {panic}"
                : kernel.PoweredOff ? "powered off"
                : _m.Halted ? "halted" : null;
        }
    }

    public override string? StallReason => _m.Kernel.Stalled;

    public override RunResult Run(ulong budget) => _m.Run(budget);

    public override string? PressKey(char key)
    {
        _m.PressKey(key);
        return $"pressed '{SessionText.Printable(key)}'";
    }

    public override void CopyScreen(Span<ushort> cells) => _m.Machine.Cga.CopyTo(cells);

    public override bool WidePages => false;

    public override byte[] Pages(Dictionary<int, int> ownedByPid)
    {
        var pageInfo = _m.Kernel.Pages;
        var pages = new byte[pageInfo.Count * 2];
        for (int p = 0; p < pageInfo.Count; p++)
        {
            sbyte owner = pageInfo.Owner(p), refs = pageInfo.Refcount(p);
            pages[2 * p] = (byte)owner;
            pages[2 * p + 1] = (byte)refs;
            if (refs > 0 && owner > 0) ownedByPid[owner] = ownedByPid.GetValueOrDefault(owner) + 1;
        }
        return pages;
    }

    public override ProcessRow[] Processes(IReadOnlyDictionary<int, int> ownedByPid)
    {
        var rows = new List<ProcessRow>();
        foreach (var proc in _m.Kernel.Processes)
        {
            if (proc.Pid == 0 || proc.State == ProcState.Free) continue;
            rows.Add(new ProcessRow(proc.Pid, proc.Parent, proc.State.ToString().ToLowerInvariant(), proc.Name, ownedByPid.GetValueOrDefault(proc.Pid)));
        }
        return rows.ToArray();
    }

    /// <summary>WeensyOS's virtual map: every page of the 3 MiB address space, 3 bytes each.</summary>
    public override VirtualMap? VirtualMap(int pid)
    {
        var kernel = _m.Kernel;
        var proc = kernel.Processes.FirstOrDefault(p => p.Pid == pid && p.Pid != 0 && p.State != ProcState.Free);
        if (proc is null) return null;
        int pages = (int)(Lab.Kernel.Weensy.Memory.Layout.MemSizeVirtual / 4096);
        var map = new byte[pages * Lab.Shared.Wire.VirtualMap.BytesPerPage];
        foreach (var m in kernel.Tables.Mappings(proc.PageTable, new VirtAddr(0), new VirtAddr(Lab.Kernel.Weensy.Memory.Layout.MemSizeVirtual)))
        {
            int vp = (int)(m.Va.Value / 4096);
            if (vp >= pages || m.Pa.Value >= (ulong)kernel.Pages.Count * 4096) continue;
            int pp = (int)m.Pa.PageNumber;
            map[vp * 3] = (byte)kernel.Pages.Owner(pp);
            map[vp * 3 + 1] = (byte)kernel.Pages.Refcount(pp);
            map[vp * 3 + 2] = (byte)((ulong)m.Perm & 7);
        }
        return new VirtualMap(pid, map);
    }

    public override string[] ProcessListing()
    {
        var lines = new List<string> { "PID  STATE      PAGETABLE  RIP" };
        foreach (var p in _m.Kernel.Processes)
            if (p.Pid != 0 && p.State != ProcState.Free)
                lines.Add($"{p.Pid,3}  {p.State.ToString().ToLowerInvariant(),-9}  {p.PageTable}  0x{p.InstructionPointer:x}{(p.Pid == CurrentPid ? "  <- current" : "")}");
        return lines.ToArray();
    }

    public override string SyscallBreakName(string text) => text.ToLowerInvariant() switch
    {
        "39" or "getpid" => "getpid",
        "24" or "yield" or "sched_yield" => "yield",
        "1000" or "page_alloc" => "page_alloc",
        "57" or "fork" => "fork",
        "60" or "231" or "exit" => "exit",
        var other => throw new ArgumentException($"unknown syscall '{other}' (getpid, yield, page_alloc, fork, exit or their numbers)"),
    };

    private string? _invariantFailure;

    /// <summary>The full WeensyOS invariants (a failure halts the session, as a failure at a tick does in `tui run`).</summary>
    public override string? CheckInvariants()
    {
        if (_invariantFailure == null && _m.Kernel.InvariantFailure == null && !_m.Kernel.PoweredOff)
            _invariantFailure = _m.Kernel.CheckInvariants() is [var first, ..] ? $"tick {_m.Ticks}: {first}" : null;
        return _m.Kernel.InvariantFailure ?? _invariantFailure;
    }

    // A WeensyOS machine is 2 MiB: its state is made in memory, then written.
    public override void SaveState(Stream output) => output.Write(_m.SaveState());

    public override void RestoreState(Stream input)
    {
        using var state = new MemoryStream();
        input.CopyTo(state);
        _m.RestoreState(state.GetBuffer().AsSpan(0, (int)state.Length));
        _invariantFailure = null;
    }
    public override void Dispose() => _m.Dispose();
}

/// <summary>Small text helpers shared by the session and its machines.</summary>
public static class SessionText
{
    /// <summary>A key as a person names it.</summary>
    public static string Printable(char c) => c switch
    {
        '\n' or '\r' => "Enter",
        '\x1b' => "Esc",
        '\x7f' or '\b' => "Backspace",
        < ' ' => $"Ctrl+{(char)('A' + c - 1)}",
        _ => c.ToString(),
    };
}
