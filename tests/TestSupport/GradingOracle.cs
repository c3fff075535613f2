using System.Globalization;

namespace Lab.TestSupport;

/// <summary>
/// The WeensyOS grader (WEENSYOS.md §7, parse_log.py's checks) implemented in C# as a test
/// oracle: parses PM_DUMP / VM_DUMP lines, checks the invariants, then grades stages 1-5.
/// </summary>
public sealed class GradingOracle
{
    public sealed record PhysicalDump(int Tick, byte[] Owner, int[] Refcount);
    public sealed record VirtualDump(int Pid, int Tick, byte[] Owner, int[] Refcount, int[] Perm);

    public const int PTE_P = 1, PTE_W = 2, PTE_U = 4;

    public SortedDictionary<int, PhysicalDump> Physical { get; } = new();
    public SortedDictionary<int, List<VirtualDump>> Virtual { get; } = new();
    public bool PanickedWithFork { get; }
    public string Log { get; }

    public GradingOracle(string log)
    {
        Log = log;
        PanickedWithFork = log.Contains("PANIC: Unexpected exception 52!", StringComparison.Ordinal);
        foreach (string line in log.Split('\n'))
        {
            if (line.StartsWith("PM_DUMP ", StringComparison.Ordinal)) ParsePhysical(line);
            else if (line.StartsWith("VM_DUMP ", StringComparison.Ordinal)) ParseVirtual(line);
        }
    }

    private static int[] Numbers(string s) =>
        s.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();

    private void ParsePhysical(string line)
    {
        if (!line.EndsWith(' ')) throw new FormatException("PM_DUMP line without the trailing space");
        int[] n = Numbers(line["PM_DUMP ".Length..]);
        if (n.Length != 1 + 2 * 512) throw new FormatException($"PM_DUMP with {n.Length} numbers");
        var owner = new byte[512];
        var refs = new int[512];
        for (int i = 0; i < 512; i++) { owner[i] = checked((byte)n[1 + 2 * i]); refs[i] = n[2 + 2 * i]; }
        Physical[n[0]] = new PhysicalDump(n[0], owner, refs);
    }

    private void ParseVirtual(string line)
    {
        // "VM_DUMP <pid>  <tick> " : two spaces, because the process name is "<pid> ".
        string rest = line["VM_DUMP ".Length..];
        int sep = rest.IndexOf("  ", StringComparison.Ordinal);
        if (sep < 0) throw new FormatException("VM_DUMP without the two spaces after the pid");
        int pid = int.Parse(rest[..sep], CultureInfo.InvariantCulture);
        if (!line.EndsWith(' ')) throw new FormatException("VM_DUMP line without the trailing space");
        int[] n = Numbers(rest[(sep + 2)..]);
        if (n.Length != 1 + 3 * 768) throw new FormatException($"VM_DUMP with {n.Length} numbers");
        var owner = new byte[768];
        var refs = new int[768];
        var perm = new int[768];
        for (int i = 0; i < 768; i++)
        {
            owner[i] = checked((byte)n[1 + 3 * i]); refs[i] = n[2 + 3 * i]; perm[i] = n[3 + 3 * i];
        }
        if (!Virtual.TryGetValue(n[0], out var list)) Virtual[n[0]] = list = new List<VirtualDump>();
        list.Add(new VirtualDump(pid, n[0], owner, refs, perm));
    }

    /// <summary>The parser's invariants; null when they hold, else the message.</summary>
    public string? InvariantProblem(int lastTick = 900)
    {
        int last = Physical.Count == 0 ? -1 : Physical.Keys.Max();
        if (last != lastTick && !PanickedWithFork) return $"the run did not reach tick {lastTick} (last dump {last})";
        foreach (var (tick, procs) in Virtual)
            foreach (VirtualDump v in procs)
            {
                if ((v.Perm[0xB8] & PTE_U) == 0) return $"tick {tick}: pid {v.Pid} cannot access the console";
                for (int vpn = 256; vpn < 768; vpn++)
                    if (v.Owner[vpn] == v.Pid && (v.Perm[vpn] & PTE_U) == 0)
                        return $"tick {tick}: pid {v.Pid} owns page {vpn:x} but cannot access it";
            }
        return null;
    }

    /// <summary>Grades one stage: "(name) passed" or "(name) failed at tick T".</summary>
    public (bool Passed, string Message) Stage(int stage)
    {
        (string name, int start, Func<int, string?> check) = stage switch
        {
            1 => ("Kernel isolation", 0, (Func<int, string?>)KernelIsolation),
            2 => ("Process isolation", 0, ProcessIsolation),
            3 => ("Virtual page allocation", 500, VirtualPageAllocation),
            4 => ("Overlapping address spaces", 800, OverlappingAddressSpaces),
            5 => ("Fork", 800, Fork),
            _ => throw new ArgumentOutOfRangeException(nameof(stage)),
        };
        int checkedTicks = 0;
        foreach (int tick in Physical.Keys.Where(t => t >= start))
        {
            checkedTicks++;
            string? why = check(tick);
            if (why is not null) return (false, $"{name} failed at tick {tick}: {why}");
        }
        return checkedTicks == 0 ? (false, $"{name} failed: no dump at or after tick {start}") : (true, $"{name} passed");
    }

    private IEnumerable<VirtualDump> Procs(int tick) => Virtual.TryGetValue(tick, out var l) ? l : [];

    private string? KernelIsolation(int tick)
    {
        foreach (var v in Procs(tick))
            for (int vpn = 0; vpn < 256; vpn++)
                if (vpn != 0xB8 && (v.Perm[vpn] & PTE_U) != 0) return $"pid {v.Pid} can access kernel page {vpn:x}";
        return null;
    }

    private string? ProcessIsolation(int tick)
    {
        foreach (var v in Procs(tick))
            for (int vpn = 256; vpn < 768; vpn++)
                if ((v.Perm[vpn] & PTE_U) != 0 && v.Owner[vpn] != 0 && v.Owner[vpn] != v.Pid)
                    return $"pid {v.Pid} can access page {vpn:x} of owner {v.Owner[vpn]}";
        return null;
    }

    private string? VirtualPageAllocation(int tick)
    {
        var pm = Physical[tick];
        for (int pn = 17; pn < 256; pn++)
            if (pm.Refcount[pn] > 0 && pm.Owner[pn] is >= 1 and <= 4) return null;
        return "no process page in physical pages 17..255";
    }

    private string? OverlappingAddressSpaces(int tick)
    {
        foreach (var v in Procs(tick))
        {
            int n = 0;
            for (int vpn = 256; vpn < 768; vpn++)
                if (v.Owner[vpn] == v.Pid && (v.Perm[vpn] & PTE_U) != 0) n++;
            if (n > 64) return null;
        }
        return "no process has more than 64 pages";
    }

    private string? Fork(int tick)
    {
        foreach (var v in Procs(tick))
        {
            const int vpn = 0x100;
            if ((v.Perm[vpn] & PTE_P) == 0 || v.Owner[vpn] == 0) return $"pid {v.Pid}: 0x100000 not mapped";
            if (v.Owner[vpn] != v.Pid && (v.Perm[vpn] & PTE_W) != 0) return $"pid {v.Pid}: 0x100000 shared writable";
        }
        return null;
    }
}
