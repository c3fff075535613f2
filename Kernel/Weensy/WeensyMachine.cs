using Lab.Kernel.Weensy.Core;
using Lab.Machine;

namespace Lab.Kernel.Weensy;

/// <summary>
/// A machine running the WeensyOS kernel: the host-side facade used by the TUI, the server and
/// tests. Owns an <see cref="X64Machine"/> (2 MiB, timer every InstructionsPerTick instructions)
/// and the <see cref="WeensyKernel"/> that handles its traps.
/// </summary>
public sealed class WeensyMachine : IDisposable
{
    public X64Machine Machine { get; }
    public WeensyKernel Kernel { get; }

    public WeensyMachine(KernelOptions? options = null)
    {
        options ??= new KernelOptions();
        Machine = new X64Machine(new MachineOptions
        {
            MemorySize = Memory.Layout.MemSizePhysical,
            TimerInterval = options.InstructionsPerTick,
        }.WithTier(options.Tier));
        Kernel = new WeensyKernel(Machine, options);
    }

    public void Dispose() => Machine.Dispose();

    public ulong Ticks => Kernel.Ticks;

    /// <summary>True once nothing more will happen without outside help: powered off, panicked,
    /// or an invariant failed.</summary>
    public bool Halted => Kernel.PoweredOff || Kernel.Failed || Kernel.InvariantFailure is not null;

    /// <summary>Runs at most <paramref name="budget"/> instruction units (less if the machine halts, stops or hits a debugger breakpoint).</summary>
    public RunResult Run(ulong budget)
    {
        if (Kernel.PoweredOff || Kernel.InvariantFailure is not null) return new RunResult(RunExit.Stopped, default, 0);
        return Machine.Run(budget);
    }

    /// <summary>Runs until the tick counter reaches <paramref name="ticks"/> or the machine halts.</summary>
    public void RunUntilTick(ulong ticks)
    {
        while (!Halted && Kernel.Ticks < ticks)
            Machine.Run(Kernel.Options.InstructionsPerTick);
    }

    /// <summary>Runs until the machine halts (power-off by the tick limit, 'q', a panic, an invariant).</summary>
    public void RunUntilHalt(ulong maxTicks = ulong.MaxValue)
    {
        while (!Halted && Kernel.Ticks < maxTicks)
            Machine.Run(Kernel.Options.InstructionsPerTick * 16);
    }

    /// <summary>Queues a key for the kernel's keyboard poll.</summary>
    public void PressKey(char key) => Machine.Keyboard.Enqueue((byte)key);

    public byte[] SaveState() => Kernel.SaveState();
    public void RestoreState(ReadOnlySpan<byte> state) => Kernel.RestoreState(state);

    /// <summary>The screen as 25 lines of text.</summary>
    public string[] ScreenText() => Machine.Cga.ToTextLines();
}
