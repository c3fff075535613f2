using System.Diagnostics;
using Lab.TuiClient.Net;
using Lab.Shared.Wire;

namespace Lab.Bench;

/// <summary>
/// `bench session-cost`: what one running, watched WeensyOS session costs the server. The server
/// runs as a child process (no demo session); the benchmark creates N sessions (forkexit at real
/// time, the demo's settings), each watched by one idle viewer, lets them settle, and measures the
/// server's CPU over the run. It prints CPU per session (% of one core), the sessions one core holds
/// at that rate, and the frames each viewer received (so a cheap server that stopped sending is
/// caught). Goal (issue 16): at least 50 running sessions per core.
/// </summary>
public static class SessionCostBenchmark
{
    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "--serve")
        {
            Lab.Server.LabServerHost.Create(args[1..]).Run();
            return 0;
        }
        int sessions = 10, seconds = 10;
        string program = "forkexit";
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--sessions": sessions = int.Parse(args[++i]); break;
                case "--seconds": seconds = int.Parse(args[++i]); break;
                case "--program": program = args[++i]; break;
                case "--help":
                    Console.WriteLine("usage: bench session-cost [--sessions 10] [--seconds 10] [--program allocator|fork|forkexit]");
                    return 0;
                default: throw new BenchmarkException($"unknown option '{args[i]}'");
            }
        }
        var r = Measure(sessions, seconds, program).GetAwaiter().GetResult();
        Console.WriteLine($"session-cost: {sessions} WeensyOS {program} sessions at real time, one idle viewer each, {seconds} s measured, server in a child process");
        // On a loaded host the sessions may fall behind real time (fewer ticks and frames than asked
        // for); the last column scales the cost to a full 100 ticks a second so runs compare.
        double perSession = r.CpuPercent / sessions;
        double atFullSpeed = r.TicksPerSecond > 0 ? perSession * KernelHz / r.TicksPerSecond : double.NaN;
        Console.WriteLine($"{"sessions",9} {"server CPU",11} {"CPU/session",12} {"sessions/core",14} {"ticks/s",8} {"frames/s/viewer",16} {"server MB",10} {"CPU/session at 100 ticks/s",27}");
        Console.WriteLine($"{sessions,9} {r.CpuPercent,10:F1}% {perSession,11:F2}% {100 / perSession,14:F0} {r.TicksPerSecond,8:F1} {r.FramesPerSecond,16:F1} {r.Megabytes,10:F0} {atFullSpeed,26:F2}%");
        Console.WriteLine($"session-cost cpu_per_session_pct={perSession:F2} sessions_per_core={100 / perSession:F0} ticks_per_s={r.TicksPerSecond:F1} fps={r.FramesPerSecond:F1} cpu_per_session_at_100hz_pct={atFullSpeed:F2}");
        return 0;
    }

    private const double KernelHz = 100;

    private sealed record Result(double CpuPercent, double TicksPerSecond, double FramesPerSecond, double Megabytes);

    private static async Task<Result> Measure(int sessions, int seconds, string program)
    {
        await using var server = await ServerProcess.StartAsync("session-cost", "--Lab:DemoSession=",
            "--Lab:MaxSessions=" + Math.Max(64, sessions), "--Lab:CreationsPerAddressBurst=" + (sessions + 8));   // all from one address
        string url = server.Url;
        var viewers = new List<LabClient>();
        try
        {
            var frames = new long[sessions];
            var lastTick = new ulong[sessions];
            bool measuring = false;
            for (int i = 0; i < sessions; i++)
            {
                var c = new LabClient(url, reconnect: false);
                int index = i;
                c.OnFrame(f =>
                {
                    if (f.Status is { } s) Volatile.Write(ref lastTick[index], s.Tick);
                    if (Volatile.Read(ref measuring)) Interlocked.Increment(ref frames[index]);
                });
                await c.StartAsync();
                var created = await c.CreateSession(new CreateSessionOptions($"cost{i}", program, "cow", "weensyos"));
                await c.Join($"cost{i}", "viewer", created.InstructorKey);
                viewers.Add(c);
            }

            await Task.Delay(TimeSpan.FromSeconds(2));   // settle: boot, first full frames, JIT tiering
            var cpuStart = server.CpuTime;
            ulong ticksStart = (ulong)lastTick.Sum(t => (long)Volatile.Read(ref t));
            var clock = Stopwatch.StartNew();
            Volatile.Write(ref measuring, true);
            await Task.Delay(TimeSpan.FromSeconds(seconds));
            Volatile.Write(ref measuring, false);
            double elapsed = clock.Elapsed.TotalSeconds;
            double cpu = (server.CpuTime - cpuStart).TotalSeconds / elapsed * 100;
            ulong ticksEnd = (ulong)lastTick.Sum(t => (long)Volatile.Read(ref t));
            return new Result(cpu, (ticksEnd - ticksStart) / elapsed / sessions, frames.Average() / elapsed,
                server.WorkingSetMegabytes);
        }
        finally
        {
            foreach (var c in viewers) await c.DisposeAsync();
        }
    }
}
