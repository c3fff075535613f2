using Lab.Kernel;
using Lab.Kernel.Core;
using Lab.Shared.Wire;

namespace Lab.TuiClient.App;

/// <summary>
/// `tui local`: the machine runs in this process on its own thread at real time (HZ 100), and the
/// mirror is refreshed from it about 30 times a second. You are the instructor of your own session.
/// </summary>
public sealed class LocalSession : ISessionSource
{
    private readonly object _lock = new();
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stop = new();
    private WeensyMachine _machine;
    private KernelOptions _options;
    private bool _running = true;
    private double _ticksPerSecond = KernelOptions.Hz;
    private long _seq, _eventSeq;
    private readonly List<LabEvent> _pendingEvents = new();
    private ProcessRow[] _lastProcesses = [];

    public string SessionName => "local";
    public SessionMirror Mirror { get; } = new();
    public string ConnectionStatus => "local";
    public event Action? Changed;

    public LocalSession(KernelOptions options)
    {
        _options = options;
        _machine = new WeensyMachine(options);
        AddEvent(EventKind.System, 0, $"booted {options.Boot} at step {StepName(options.Step)}");
        _thread = new Thread(Loop) { IsBackground = true, Name = "local machine" };
        _thread.Start();
    }

    private static string StepName(LabStep s) => s == LabStep.CopyOnWrite ? "cow" : ((int)s).ToString();

    private void AddEvent(EventKind kind, int pid, string text)
    {
        lock (_lock) _pendingEvents.Add(new LabEvent(++_eventSeq, _machine.Ticks, kind, pid, text));
    }

    private void Loop()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double next = 0, lastFrame = -1;
        while (!_stop.IsCancellationRequested)
        {
            lock (_lock)
            {
                if (_running && !_machine.Halted)
                {
                    ulong perTick = _machine.Kernel.Options.InstructionsPerTick;
                    if (_ticksPerSecond <= 0) _machine.Run(perTick * 50);
                    else if (clock.Elapsed.TotalSeconds >= next)
                    {
                        _machine.Run(perTick);
                        next += 1 / _ticksPerSecond;
                        if (clock.Elapsed.TotalSeconds - next > 0.25) next = clock.Elapsed.TotalSeconds;
                    }
                }
            }
            double now = clock.Elapsed.TotalSeconds;
            if (now - lastFrame >= 1.0 / 30)
            {
                lastFrame = now;
                Publish();
            }
            if (!_running || _ticksPerSecond > 0) Thread.Sleep(1);
        }
    }

    private void Publish()
    {
        Frame frame;
        lock (_lock)
        {
            var screen = new ushort[FrameCodec.ScreenCells];
            _machine.Machine.Cga.CopyTo(screen);
            var k = _machine.Kernel;
            var pages = new byte[k.Pages.Count * 2];
            var owned = new int[16];
            for (int p = 0; p < k.Pages.Count; p++)
            {
                pages[2 * p] = (byte)k.Pages.Owner(p);
                pages[2 * p + 1] = (byte)k.Pages.Refcount(p);
                if (k.Pages.Refcount(p) > 0 && k.Pages.Owner(p) is > 0 and < 16) owned[k.Pages.Owner(p)]++;
            }
            var procs = k.Processes.Where(p => p.Pid != 0 && p.State != ProcState.Free)
                .Select(p => new ProcessRow(p.Pid, 0, p.State.ToString().ToLowerInvariant(), $"pid {p.Pid}", owned[p.Pid])).ToArray();
            foreach (var p in procs)
                if (!Array.Exists(_lastProcesses, x => x.Pid == p.Pid)) _pendingEvents.Add(new LabEvent(++_eventSeq, k.Ticks, EventKind.Fork, p.Pid, $"pid {p.Pid} created"));
                else if (p.State == "broken" && Array.Find(_lastProcesses, x => x.Pid == p.Pid)!.State != "broken")
                    _pendingEvents.Add(new LabEvent(++_eventSeq, k.Ticks, EventKind.Fault, p.Pid, $"pid {p.Pid} faulted and was stopped"));
            foreach (var p in _lastProcesses)
                if (!Array.Exists(procs, x => x.Pid == p.Pid)) _pendingEvents.Add(new LabEvent(++_eventSeq, k.Ticks, EventKind.Exit, p.Pid, $"pid {p.Pid} exited"));
            _lastProcesses = procs;
            string? halted = k.InvariantFailure is { } inv ? $"invariant failed: {inv}"
                : k.PanicMessage is { } panic ? $"PANIC: {panic}" : k.PoweredOff ? "powered off" : null;
            var status = new SessionSummary("local", _options.Boot, StepName(_options.Step), "weensyos", false, 1, k.Ticks,
                _running && halted == null, _ticksPerSecond <= 0 ? "max" : _ticksPerSecond == KernelOptions.Hz ? "realtime" : $"{_ticksPerSecond / KernelOptions.Hz:0.##}x", halted);
            frame = new Frame
            {
                Seq = ++_seq, Full = true, Tick = k.Ticks,
                ServerTimeMicros = (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10,
                Screen = FrameCodec.PackScreenFull(screen), Pages = pages, Processes = procs,
                Events = _pendingEvents.Count > 0 ? _pendingEvents.ToArray() : null,
                Participants = [new Participant("me", Environment.UserName, Role.Instructor)],
                Status = status, YourRole = Role.Instructor,
            };
            _pendingEvents.Clear();
        }
        Mirror.Apply(frame);
        Changed?.Invoke();
    }

    public Task KeyAsync(char key)
    {
        lock (_lock) _machine.PressKey(key);
        return Task.CompletedTask;
    }

    public Task<string> CommandAsync(string command)
    {
        var words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0) throw new CommandFailedException("empty command");
        lock (_lock)
        {
            switch (words[0].ToLowerInvariant())
            {
                case "pause": _running = false; AddEvent(EventKind.Action, 0, "paused"); return Task.FromResult("paused");
                case "resume": case "continue": _running = true; AddEvent(EventKind.Action, 0, "resumed"); return Task.FromResult("resumed");
                case "speed":
                    {
                        double? tps = words.Length == 2 ? words[1].ToLowerInvariant() switch
                        {
                            "realtime" or "1x" => KernelOptions.Hz,
                            "slow" => KernelOptions.Hz / 10.0,
                            "max" => 0,
                            var w when w.EndsWith('x') && double.TryParse(w[..^1], System.Globalization.CultureInfo.InvariantCulture, out double m) && m > 0 => KernelOptions.Hz * m,
                            _ => null,
                        } : null;
                        if (tps is null) throw new CommandFailedException("usage: speed realtime|slow|max|<factor>x");
                        _ticksPerSecond = tps.Value;
                        return Task.FromResult($"speed {words[1]}");
                    }
                case "reboot":
                    {
                        string boot = words.Length > 1 ? words[1] : _options.Boot;
                        if (boot is not ("allocator" or "fork" or "forkexit")) throw new CommandFailedException($"unknown program '{boot}' (allocator, fork, forkexit)");
                        var step = _options.Step;
                        if (words.Length > 2)
                        {
                            step = words[2] == "cow" ? LabStep.CopyOnWrite
                                : int.TryParse(words[2], out int s) && s is >= 0 and <= 7 ? (LabStep)s
                                : throw new CommandFailedException($"unknown lab step '{words[2]}' (0..7 or cow)");
                        }
                        _options = _options with { Boot = boot, Step = step };
                        _machine.Dispose();
                        _machine = new WeensyMachine(_options);
                        _running = true;
                        _lastProcesses = [];
                        AddEvent(EventKind.Action, 0, $"rebooted into {boot} at step {StepName(step)}");
                        return Task.FromResult($"rebooted into {boot}");
                    }
                default:
                    throw new CommandFailedException($"'{words[0]}' is not available in a local session (try pause, resume, speed, reboot)");
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _thread.Join(TimeSpan.FromSeconds(2));
        lock (_lock) _machine.Dispose();
        return ValueTask.CompletedTask;
    }
}
