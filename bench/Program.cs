using Lab.Bench;

// Benchmark runner: `dotnet run -c Release --project bench -- <command> [options]`.
// Each command is a separate class; add new ones to the table below.
var commands = new Dictionary<string, (string Summary, Func<string[], int> Run)>
{
    ["emulator"] = ("guest MIPS of the Machine vs native and qemu-user on a C workload", EmulatorBenchmark.Run),
    ["fanout"] = ("one session, N viewers on loopback: frames/s, latency, server CPU/memory, bytes/s; --nodes 3: over a cluster, next to one node", FanoutBenchmark.Run),
    ["session-cost"] = ("N running WeensyOS sessions, one idle viewer each: server CPU per session, sessions per core", SessionCostBenchmark.Run),
    ["sessions"] = ("ramp running WeensyOS sessions with a few viewers each until frames or ticks fall behind: sessions per node and per core", SessionsBenchmark.Run),
    ["backplane"] = ("frames to viewers on another node: through SignalR's Redis backplane vs the owner node sending directly; CPU, latency, Redis bytes", BackplaneBenchmark.Run),
    ["tui"] = ("the interactive client through tmux: key-press-to-screen latency, idle CPU watching the demo and of tui local", TuiBenchmark.Run),
    ["processes"] = ("POSIX profile: fork+exit+wait/s, exec/s, copy-on-write vs copying fork at 1/8/64 MiB, glibc fork+exec vs native", ProcessesBenchmark.Run),
};
string[] planned = [];

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    PrintUsage(Console.Out);
    return args.Length == 0 ? 2 : 0;
}
if (commands.TryGetValue(args[0], out var command))
{
    try
    {
        return command.Run(args[1..]);
    }
    catch (BenchmarkException e)
    {
        Console.Error.WriteLine($"bench {args[0]}: {e.Message}");
        return 1;
    }
}
Console.Error.WriteLine(planned.Contains(args[0])
    ? $"bench: command '{args[0]}' is not yet implemented"
    : $"bench: unknown command '{args[0]}'");
PrintUsage(Console.Error);
return 2;

void PrintUsage(TextWriter w)
{
    w.WriteLine("usage: bench <command> [options]   (dotnet run -c Release --project bench -- <command>)");
    w.WriteLine("commands:");
    foreach (var (name, c) in commands) w.WriteLine($"  {name,-10} {c.Summary}");
    foreach (var name in planned) w.WriteLine($"  {name,-10} (not yet implemented)");
    w.WriteLine("run 'bench <command> --help' for a command's options");
}
