using System.Text;
using Lab.Machine;

namespace Lab.Kernel.Guest;

/// <summary>How a machine for a guest kernel is built.</summary>
public sealed record GuestKernelOptions
{
    /// <summary>Physical memory; WeensyOS assumes 2 MiB.</summary>
    public ulong MemorySize { get; init; } = 2 << 20;

    /// <summary>
    /// Instructions per second of guest time: the PIT's 1.193182 MHz runs on this clock. WeensyOS's
    /// 100 Hz timer then fires every InstructionsPerSecond/100 instructions. The default gives the
    /// handout's -O0 kernel room for its per-trap memory displays between timer interrupts.
    /// </summary>
    public ulong InstructionsPerSecond { get; init; } = 200_000_000;

    /// <summary>QEMU reboots on a triple fault; by default we stop (and show the last screen) instead.</summary>
    public bool RebootOnTripleFault { get; init; }
    /// <summary>The execution tier of the machine's CPU; null: <see cref="MachineOptions.Tier"/>'s default (Jit, or LAB_TIER).</summary>
    public ExecutionTier? Tier { get; init; }
}

/// <summary>
/// A machine running a kernel as guest code (system mode): a student's WeensyOS build or Lab's own C
/// kernel. The host side of it — boot like the course's loader (<see cref="GuestBootLoader"/>), run,
/// keys, the CGA screen and cursor, the parallel-port log, the halted / powered-off / shut-down state,
/// snapshots. The host knows nothing of the kernel's data structures; what it shows comes from the hardware.
/// A reset the guest asks for reboots the same image, as QEMU would.
/// </summary>
public sealed class GuestKernelMachine : IDisposable
{
    public X64Machine Machine { get; }
    public GuestImage Image { get; private set; }
    public GuestKernelOptions Options { get; }

    /// <summary>Times the machine rebooted (guest resets, and <see cref="Reboot"/>).</summary>
    public int Reboots { get; private set; }

    private readonly List<IGuestEventObserver> _observers = new();

    private GuestKernelMachine(GuestImage image, GuestKernelOptions options)
    {
        Options = options;
        Image = image;
        Machine = new X64Machine(new MachineOptions
        {
            MemorySize = options.MemorySize,
            Mode = MachineMode.System,
            InstructionsPerSecond = options.InstructionsPerSecond,
        }.WithTier(options.Tier));
        Machine.EventObserver = new Fanout(_observers);
        GuestBootLoader.Boot(Machine, Image);
    }

    /// <summary>Builds a machine and boots <paramref name="bytes"/>; null (with a reason) when the file is not a bootable kernel.</summary>
    public static GuestKernelMachine? Create(string name, byte[] bytes, GuestKernelOptions? options, out string? error)
    {
        options ??= new GuestKernelOptions();
        var image = GuestImage.Parse(name, bytes, options.MemorySize, out error);
        return image is null ? null : new GuestKernelMachine(image, options);
    }

    /// <summary>Builds a machine and boots the kernel file at <paramref name="path"/>; throws <see cref="InvalidDataException"/> with the reason when it cannot.</summary>
    public static GuestKernelMachine Load(string path, GuestKernelOptions? options = null)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"no such kernel file: {path}", path);
        if (info.Length > GuestImage.MaxSize) throw new InvalidDataException($"{path}: {info.Length} bytes; the limit is {GuestImage.MaxSize}");
        return Create(Path.GetFileName(path), File.ReadAllBytes(path), options, out string? error)
            ?? throw new InvalidDataException($"{path}: {error}");
    }

    public void Dispose() => Machine.Dispose();

    /// <summary>Adds an observer of the events at the IDT / syscall boundary.</summary>
    public void AddObserver(IGuestEventObserver observer) => _observers.Add(observer);
    public void RemoveObserver(IGuestEventObserver observer) => _observers.Remove(observer);

    /// <summary>The guest turned the machine off (WeensyOS: 'q', Ctrl-C, the tick limit, a panic when graded).</summary>
    public bool PoweredOff => Machine.PoweredOff;
    /// <summary>A triple fault stopped the CPU (and <see cref="GuestKernelOptions.RebootOnTripleFault"/> is off).</summary>
    public bool ShutDown => Machine.ShutDown;
    /// <summary>The CPU executed hlt with interrupts off: nothing more will happen.</summary>
    public bool HaltedForGood { get; private set; }
    /// <summary>Nothing more will happen without a reboot.</summary>
    public bool Stopped => PoweredOff || ShutDown || HaltedForGood;

    /// <summary>Timer interrupts (IRQ 0) delivered since the last boot: the guest's ticks, as far as the hardware knows.</summary>
    public ulong TimerInterrupts => Machine.InterruptsDelivered(0);

    /// <summary>
    /// Runs at most <paramref name="budget"/> units of machine time. A guest reset reboots the image
    /// and carries on; power-off, a triple fault, a hlt with interrupts off or a debugger breakpoint end the run.
    /// </summary>
    public RunResult Run(ulong budget)
    {
        ulong done = 0;
        while (true)
        {
            var r = Machine.Run(budget - done);
            done += r.InstructionsExecuted;
            switch (r.Exit)
            {
                case RunExit.Reset:
                    BootAgain();
                    if (done >= budget) return r with { Exit = RunExit.BudgetExhausted, InstructionsExecuted = done };
                    continue;
                case RunExit.Shutdown when Options.RebootOnTripleFault:
                    Machine.ResetSystem();
                    BootAgain();
                    continue;
                case RunExit.Halted:
                    HaltedForGood = true;
                    break;
            }
            return r with { InstructionsExecuted = done };
        }
    }

    /// <summary>A debugger's single step: one instruction with external interrupts held off
    /// (<see cref="X64Machine.StepInstruction"/>); a guest reset reboots the image.</summary>
    public RunResult Step()
    {
        var r = Machine.StepInstruction();
        switch (r.Exit)
        {
            case RunExit.Reset: BootAgain(); break;
            case RunExit.Shutdown when Options.RebootOnTripleFault: Machine.ResetSystem(); BootAgain(); break;
            case RunExit.Halted: HaltedForGood = true; break;
        }
        return r;
    }

    /// <summary>
    /// Runs until exactly <paramref name="ticks"/> timer interrupts have been delivered (stopping as the
    /// last one enters the kernel), the machine stops, or <paramref name="maxUnits"/> of machine time
    /// pass (a kernel spinning with interrupts off takes no more). True when the count was reached.
    /// </summary>
    public bool RunUntilTimerInterrupts(ulong ticks, ulong maxUnits = ulong.MaxValue)
    {
        ulong start = Machine.Clock;
        var stopper = new StopAtTimerInterrupt(ticks);
        _observers.Add(stopper);
        try
        {
            while (!Stopped && TimerInterrupts < ticks && Machine.Clock - start < maxUnits)
            {
                var r = Run(Math.Min(100_000_000, maxUnits - (Machine.Clock - start)));
                if (r.Exit == RunExit.Breakpoint || (r.Exit == RunExit.Stopped && !stopper.Fired)) break;
            }
        }
        finally
        {
            _observers.Remove(stopper);
        }
        return TimerInterrupts >= ticks;
    }

    private sealed class StopAtTimerInterrupt(ulong target) : IGuestEventObserver
    {
        public bool Fired;
        public void OnGuestEvent(X64Machine machine, in GuestEvent e)
        {
            if (e.Kind == GuestEventKind.Interrupt && e.Irq == 0 && machine.InterruptsDelivered(0) >= target)
            {
                Fired = true;
                machine.Stop();
            }
        }
    }

    /// <summary>Runs until the machine stops (power-off, triple fault, hlt with interrupts off) or <paramref name="maxUnits"/> pass.</summary>
    public void RunUntilStopped(ulong maxUnits = ulong.MaxValue, ulong slice = 10_000_000)
    {
        ulong start = Machine.Clock;
        while (!Stopped && Machine.Clock - start < maxUnits)
        {
            var r = Run(Math.Min(slice, maxUnits - (Machine.Clock - start)));
            if (r.Exit is RunExit.Stopped or RunExit.Breakpoint) return;
        }
    }

    /// <summary>A cold boot of the same (or a new) image: reset, memory cleared, loaded and entered again. The log starts afresh.</summary>
    public void Reboot(GuestImage? image = null)
    {
        if (image is not null) Image = image;
        Machine.ResetSystem();
        Machine.Memory.Fill(new PhysAddr(0), Machine.Memory.Size, 0);
        Machine.Board!.Parallel.ClearOutput();
        BootAgain();
    }

    private void BootAgain()
    {
        HaltedForGood = false;
        GuestBootLoader.Boot(Machine, Image);
        Reboots++;
    }

    /// <summary>Types a key on the PC keyboard (set-1 scancodes); false if it has no key or the buffer is full.</summary>
    public bool PressKey(char key) => Machine.Board!.Keyboard.TypeKey(key);

    /// <summary>The parallel-port output: the kernel's log (WeensyOS: log_printf, the grading dumps).</summary>
    public ReadOnlySpan<byte> LogBytes => Machine.Board!.Parallel.Output;
    public string Log => Encoding.Latin1.GetString(LogBytes);

    /// <summary>The screen as 25 lines of text.</summary>
    public string[] ScreenText() => Machine.Cga.ToTextLines();

    /// <summary>The hardware cursor's cell (row * 80 + column), as the kernel set it through the CRTC.</summary>
    public int CursorPosition => Machine.Board!.Crtc.CursorPosition;

    // ------------------------------------------------------------------------------------------
    // Snapshots: the image (so a restored machine can reboot it), then the machine.

    private const int SnapshotMagic = 0x54534747;   // "GGST"
    private const int SnapshotVersion = 1;

    public byte[] SaveState()
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms))
        {
            w.Write(SnapshotMagic);
            w.Write(SnapshotVersion);
            w.Write(Image.Name);
            w.Write(Image.File.Length);
            w.Write(Image.File);
            w.Write(Reboots);
            w.Write(HaltedForGood);
            byte[] machine = Machine.SaveState();
            w.Write(machine.Length);
            w.Write(machine);
        }
        return ms.ToArray();
    }

    /// <summary>Restores a state saved by <see cref="SaveState"/>; the machine then continues exactly as the original would.
    /// Throws <see cref="InvalidDataException"/> (changing nothing) when the bytes are not such a state.</summary>
    public void RestoreState(ReadOnlySpan<byte> state)
    {
        using var ms = new MemoryStream(state.ToArray());
        using var r = new BinaryReader(ms);
        try
        {
            if (r.ReadInt32() != SnapshotMagic) throw new InvalidDataException("not a guest-kernel snapshot");
            int version = r.ReadInt32();
            if (version != SnapshotVersion) throw new InvalidDataException($"unsupported guest-kernel snapshot version {version}");
            string name = r.ReadString();
            int length = r.ReadInt32();
            if (length < 0 || length > GuestImage.MaxSize) throw new InvalidDataException("bad kernel image length in snapshot");
            byte[] file = r.ReadBytes(length);
            var image = GuestImage.Parse(name, file, Options.MemorySize, out string? error)
                ?? throw new InvalidDataException($"snapshot holds a bad kernel image: {error}");
            int reboots = r.ReadInt32();
            bool halted = r.ReadBoolean();
            int machineLength = r.ReadInt32();
            byte[] machine = r.ReadBytes(machineLength);
            if (machineLength < 0 || machine.Length != machineLength) throw new InvalidDataException("snapshot truncated");
            // Check the machine part on a scratch machine first, so a bad snapshot changes nothing here.
            using (var scratch = new X64Machine(Machine.Options)) scratch.RestoreState(machine);
            Machine.RestoreState(machine);
            Image = image;
            Reboots = reboots;
            HaltedForGood = halted;
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("snapshot truncated", e);
        }
    }

    private sealed class Fanout(List<IGuestEventObserver> observers) : IGuestEventObserver
    {
        public void OnGuestEvent(X64Machine machine, in GuestEvent e)
        {
            foreach (var o in observers) o.OnGuestEvent(machine, in e);
        }
    }
}
