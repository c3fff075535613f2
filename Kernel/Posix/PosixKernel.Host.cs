using Lab.Kernel.Common;
using Lab.Machine;

namespace Lab.Kernel.Posix;

/// <summary>A live process as the host shows it (process table, debugger `ps`).</summary>
public readonly record struct PosixProcessInfo(int Pid, int Parent, PState State, string Name, PhysAddr Root, ulong Rip);

/// <summary>
/// The kernel's host-facing views (plumbing, apart from the core students read): events for
/// observers, the process list, the current process, console interrupt, and the virtual pages of a
/// process for memory views. Nothing here changes what a guest sees, except <see cref="Interrupt"/>.
/// </summary>
public sealed partial class PosixKernel
{
    /// <summary>Called on the machine's thread after each completed system call and each fatal fault.</summary>
    public Action<KernelEvent>? Observer { get; set; }

    /// <summary>Timer ticks so far (machine time / timer interval).</summary>
    public ulong Ticks => _m.TimerInterval == 0 ? 0 : _m.Clock / _m.TimerInterval;

    /// <summary>The pid on the CPU, or 0 when the kernel is idle.</summary>
    public int CurrentPid => _cur?.Pid ?? 0;

    /// <summary>Live processes and zombies, in scheduling order.</summary>
    public IReadOnlyList<PosixProcessInfo> ProcessList()
    {
        var list = new List<PosixProcessInfo>(_procs.Count);
        foreach (var p in _procs) list.Add(new PosixProcessInfo(p.Pid, p.Parent, p.State, p.Name, p.Root, p == _cur ? _m.Cpu.Rip : p.Rip));
        return list;
    }

    /// <summary>Visits every user page mapped by <paramref name="pid"/> (virtual address, physical page,
    /// effective P/W/U bits). False when there is no such live process.</summary>
    public bool VisitUserPages(int pid, Action<ulong, int, byte> visit)
    {
        if (!_byPid.TryGetValue(pid, out var p) || p.State == PState.Zombie) return false;
        _pt.ForEach(p.Root, new VirtAddr(0), new VirtAddr(UserLimit),
            (in Mapping m) => visit(m.Va.Value, (int)m.Pa.PageNumber, (byte)((ulong)m.Perm & 7)));
        return true;
    }

    /// <summary>Host control: SIGINT to the console's foreground process group, as Ctrl-C typed at
    /// the terminal sends it (a shell that ignores SIGINT stays). Call only between runs. Returns the
    /// number of processes signalled.</summary>
    public int Interrupt()
    {
        int fg = Tty.ForegroundPgrp;
        return fg > 0 ? KillWhere(q => q.Pgid == fg, Signals.SIGINT) : 0;
    }

    /// <summary>A completed system call (<paramref name="call"/> null: a number not in the table).</summary>
    private void Report(PProcess p, ulong nr, PosixSyscall? call, ulong arg, long result)
    {
        if (Observer is not { } observe) return;
        observe(new KernelEvent(KernelEventKind.Syscall, p.Pid, call?.Name ?? SyscallName(nr), arg, result, HasResult: call?.Returns ?? true, Ticks));
    }

    private void ReportTrack(PProcess collector, PProcess child)
    {
        Observer?.Invoke(new KernelEvent(KernelEventKind.Track, collector.Pid, child.Name, (ulong)child.Pid, child.ExitCode, HasResult: true, Ticks));
    }

    private void ReportFault(PProcess p, int sig, in Trap trap, bool outOfMemory)
    {
        if (Observer is not { } observe) return;
        string how = outOfMemory ? "out of memory"
            : trap.Kind == TrapKind.PageFault ? ((trap.PageFaultError & PageFaultError.Write) != 0 ? "write" : "read")
            : trap.Kind.ToString();
        ulong at = trap.Kind == TrapKind.PageFault ? trap.FaultAddress.Value : p.Rip;
        observe(new KernelEvent(KernelEventKind.Killed, p.Pid, $"{Signals.Name(sig)} ({how})", at, (long)p.Rip, HasResult: true, Ticks));
    }
}
