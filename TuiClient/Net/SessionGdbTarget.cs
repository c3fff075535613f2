using System.Text.RegularExpressions;
using Lab.Kernel.Guest.Gdb;
using Lab.Shared.Wire;
using Microsoft.AspNetCore.SignalR;

namespace Lab.TuiClient.Net;

/// <summary>
/// What `tui gdb` gives the gdb stub: a kernel session on a server, driven through its shared debugger,
/// so everyone in the session sees each stop gdb makes (and gdb sees the stops others make when it
/// continues). Registers and memory are read with ReadRegisters/ReadMemory; breakpoints, steps,
/// continue and Ctrl-C are the debugger's own commands (break, delete, step, continue, interrupt).
/// Writing registers or memory is refused: the session is shared, and the shared debugger does not
/// write either. The stub calls from its own thread, so the hub calls here simply wait.
/// </summary>
public sealed class SessionGdbTarget : IGdbTarget
{
    private readonly LabClient _client;
    private readonly SessionMirror _mirror;
    private readonly SemaphoreSlim _frames = new(0);
    private readonly Dictionary<ulong, int> _breakpointIds = new();
    private byte[]? _registers;

    /// <param name="client">Connected and joined as a driver of a kernel session.</param>
    public SessionGdbTarget(LabClient client, SessionMirror mirror)
    {
        _client = client;
        _mirror = mirror;
    }

    /// <summary>Called for every frame the client applies (to wake <see cref="Continue"/>).</summary>
    public void FrameApplied() => _frames.Release();

    public string TargetXml => X64TargetDescription.Xml;
    public int RegisterCount => X64TargetDescription.Registers.Count;
    public GdbStop CurrentStop => Halted() ?? new GdbStop(GdbStopKind.Trap);

    private static T Wait<T>(Task<T> call) => call.GetAwaiter().GetResult();

    public byte[]? ReadRegister(int number)
    {
        if (number < 0 || number >= RegisterCount) return null;
        _registers ??= Wait(_client.ReadRegisters());
        int offset = X64TargetDescription.Registers.Take(number).Sum(r => r.Size);
        int size = X64TargetDescription.Registers[number].Size;
        return offset + size <= _registers.Length ? _registers[offset..(offset + size)] : null;
    }

    // The session is shared: its debugger changes nothing but breakpoints and where the machine runs.
    public bool WriteRegister(int number, ReadOnlySpan<byte> value) => ReadRegister(number) is { } now && value.SequenceEqual(now);

    public bool ReadMemory(ulong address, Span<byte> destination)
    {
        try
        {
            for (int done = 0; done < destination.Length;)
            {
                int chunk = Math.Min(destination.Length - done, 4096);
                Wait(_client.ReadMemory(address + (ulong)done, chunk)).CopyTo(destination[done..]);
                done += chunk;
            }
            return true;
        }
        catch (HubException) { return false; }
    }

    public bool WriteMemory(ulong address, ReadOnlySpan<byte> source) => false;

    public bool AddBreakpoint(ulong address)
    {
        if (_breakpointIds.ContainsKey(address)) return true;
        try
        {
            string answer = Wait(_client.Command($"break 0x{address:x}"));   // "breakpoint 3: at 0x41770"
            var id = Regex.Match(answer, @"breakpoint (\d+)");
            if (!id.Success) return false;
            _breakpointIds[address] = int.Parse(id.Groups[1].Value);
            return true;
        }
        catch (HubException) { return false; }
    }

    public bool RemoveBreakpoint(ulong address)
    {
        if (!_breakpointIds.Remove(address, out int id)) return false;
        try { Wait(_client.Command($"delete {id}")); return true; }
        catch (HubException) { return false; }
    }

    public GdbStop Step()
    {
        _registers = null;
        try { Wait(_client.Command("step")); }
        catch (HubException) { }
        return Halted() ?? new GdbStop(GdbStopKind.Trap);
    }

    public GdbStop Continue(Func<bool> interruptRequested)
    {
        _registers = null;
        var before = _mirror.Debugger;
        Wait(_client.Command("continue"));
        bool interrupted = false;
        while (true)
        {
            if (Halted() is { } end) return end;
            var now = _mirror.Debugger;
            if (now is { Stopped: true } && !ReferenceEquals(now, before))
                return new GdbStop(interrupted ? GdbStopKind.Interrupted : GdbStopKind.Trap);
            if (!interrupted && interruptRequested())
            {
                interrupted = true;
                try { Wait(_client.Command("interrupt")); }
                catch (HubException) { }
            }
            _frames.Wait(TimeSpan.FromMilliseconds(50));
        }
    }

    /// <summary>How gdb hears that the machine ended: power-off is an exit, a CPU shutdown a kill.</summary>
    private GdbStop? Halted() => _mirror.Status?.Halted switch
    {
        "powered off" => new GdbStop(GdbStopKind.Exited),
        string h when h.Contains("triple fault") => new GdbStop(GdbStopKind.Terminated),
        _ => null,
    };
}
