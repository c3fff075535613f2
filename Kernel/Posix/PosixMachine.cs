using Lab.Machine;

namespace Lab.Kernel.Posix;

public sealed record PosixOptions
{
    /// <summary>Guest RAM (default 64 MiB).</summary>
    public ulong MemorySize { get; init; } = 64UL << 20;
    /// <summary>Instructions between timer interrupts (preemption).</summary>
    public ulong TimerInterval { get; init; } = 100_000;
    /// <summary>Bytes the file system may hold (files' data and metadata; writes beyond it get ENOSPC).
    /// Default: the machine's memory size, so a session costs the host at most about twice its memory.</summary>
    public ulong? FileSystemQuota { get; init; }
    /// <summary>The seed of getrandom's bytes: machines with the same seed replay the same "random"
    /// bytes (AT_RANDOM is keyed by the pid alone).</summary>
    public ulong RandomSeed { get; init; }
    /// <summary>The execution tier of the machine's CPU; null: <see cref="MachineOptions.Tier"/>'s default (Jit, or LAB_TIER).</summary>
    public ExecutionTier? Tier { get; init; }
}

/// <summary>
/// Host facade of the POSIX profile: a machine, the kernel, the file system with /bin holding
/// every userland/posix program and a few data files (/etc/motd, /etc/passwd, /usr/share/dict/words,
/// /home), and the console (output captured; input from a host queue).
/// </summary>
public sealed class PosixMachine : IDisposable
{
    public X64Machine Machine { get; }
    public PosixKernel Kernel { get; }
    public PosixFs Fs { get; }
    public ConsoleIo Console { get; } = new();
    public int InitialFreePages { get; }

    public PosixMachine(PosixOptions? options = null)
    {
        options ??= new PosixOptions();
        Machine = new X64Machine(new MachineOptions { MemorySize = options.MemorySize, TimerInterval = options.TimerInterval }.WithTier(options.Tier));
        Fs = new PosixFs((long)Math.Min(options.FileSystemQuota ?? options.MemorySize, long.MaxValue));
        foreach (var (name, bytes) in PosixFs.EmbeddedPrograms) Fs.WriteFile("/bin/" + name, bytes);
        Fs.AddDataFiles();
        Fs.AddDevices();
        Kernel = new PosixKernel(Machine, Fs, Console) { RandomSeed = options.RandomSeed };
        Machine.TrapHandler = Kernel;
        InitialFreePages = Kernel.FreePages;
    }

    public static IReadOnlyCollection<string> Programs => PosixFs.EmbeddedPrograms.Keys.ToList();

    /// <summary>Starts PROGRAM (an absolute path or a /bin name) with argv; null or an error message.</summary>
    public string? Start(string program, IReadOnlyList<string>? args = null, IReadOnlyList<string>? env = null)
    {
        string path = program.Contains('/') ? program : "/bin/" + program;
        var argv = new List<string> { path };
        if (args != null) argv.AddRange(args);
        return Kernel.Spawn(path, argv, env ?? ["PATH=/bin"]);
    }

    /// <summary>Runs until every process has exited, the kernel failed, or the instruction budget is used.
    /// Returns true when all processes exited. <paramref name="idleWait"/> is called while nothing can run
    /// until a key (or, with input closed, a signal from outside) arrives; it waits for one, and false ends
    /// the run (without it, such a wait ends the run at once).</summary>
    public bool RunUntilAllExit(ulong maxInstructions = 20_000_000_000, Func<bool>? idleWait = null)
    {
        ulong start = Machine.Clock;
        bool closedWhileIdle = false;
        while (!Kernel.AllExited && Kernel.KernelError is null)
        {
            if (Machine.Clock - start >= maxInstructions) return false;
            if (Kernel.IdleWaitingForInput && !Console.HasInput)
            {
                // Input closed: one more run hands the console's readers their end of file. Still idle after
                // it, only a signal from outside (Ctrl-C) can wake anyone: wait as for a key, not spin.
                if (!Console.InputClosed || closedWhileIdle)
                {
                    if (idleWait is null || !idleWait()) return false;
                }
                else closedWhileIdle = true;
            }
            else closedWhileIdle = false;
            Machine.Run(Math.Min(10_000_000, maxInstructions - (Machine.Clock - start)));
        }
        return Kernel.AllExited;
    }

    /// <summary>The main program's status as a shell reports it: exit code, or 128+signal.</summary>
    public int? ExitCode => Kernel.MainStatus is int st ? WaitStatus.ShellCode(st) : null;

    /// <summary>Saves the whole machine (CPU, memory, clock) and kernel (processes, descriptors, pipes,
    /// file system, console input and captured output) to bytes. Call between runs.</summary>
    public byte[] SaveState() => Kernel.SaveSnapshot();

    /// <summary>Writes what <see cref="SaveState()"/> saves to <paramref name="output"/> (left open) as
    /// it is made: memory pages and file contents go straight into the stream, hashed on the way, so
    /// saving into a file needs little memory whatever the machine's size. Call between runs.</summary>
    public void SaveState(Stream output) => Kernel.SaveSnapshot(output);

    /// <summary>Restores a state saved by <see cref="SaveState()"/> into this machine (normally freshly
    /// constructed with the same options); it then continues exactly as the saved one would. A bad,
    /// truncated or foreign state (another memory size) throws InvalidDataException or
    /// EndOfStreamException and leaves this machine as it was.</summary>
    public void RestoreState(ReadOnlySpan<byte> state) => Kernel.RestoreSnapshot(state);

    /// <summary>Restores the state that runs from <paramref name="input"/>'s position to its end (a
    /// seekable stream such as the saved file), reading it without a copy in memory; otherwise as
    /// <see cref="RestoreState(ReadOnlySpan{byte})"/>.</summary>
    public void RestoreState(Stream input) => Kernel.RestoreSnapshot(input);

    public void Dispose() => Machine.Dispose();
}
