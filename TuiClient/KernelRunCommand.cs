using System.Net.Sockets;
using Lab.Kernel.Guest;
using Lab.Kernel.Guest.Gdb;
using Lab.Machine;

namespace Lab.TuiClient;

/// <summary>
/// `tui run --kernel FILE`: boots a kernel built from C (a WeensyOS obj/kernel, obj/kernel.full or
/// weensyos.img) as guest code, headless, as QEMU would with <c>-nographic -parallel file:LOG</c>.
/// Runs until the guest powers off, or for <c>--ticks N</c> timer interrupts; writes the
/// parallel-port output (the kernel's log, what the course's grader reads) to <c>--log FILE</c>;
/// optionally prints the final screen. Ports nothing answers are noted on stderr once each.
/// With <c>--gdb PORT</c> the kernel waits at its entry for gdb on 127.0.0.1:PORT (as QEMU's
/// <c>-S -gdb tcp::PORT</c>, the course's <c>make run-gdb</c>); once gdb detaches the run goes on as
/// without it, a gdb that kills the kernel or goes away ends it.
/// Exit status 0 (powered off, or the ticks ran), 1 (a bad kernel file, a triple fault, a hlt with
/// interrupts off, or no power-off within <see cref="DefaultGuestSeconds"/> seconds of guest time
/// without --ticks), 2 usage.
/// </summary>
public static class KernelRunCommand
{
    /// <summary>Without --ticks, give up after this much guest time (a graded WeensyOS run takes 10 s).</summary>
    public const int DefaultGuestSeconds = 120;

    public sealed record Arguments(string Kernel, ulong? Ticks, string? LogFile, RunCommand.ScreenFormat Screen, ulong InstructionsPerSecond, int? GdbPort = null,
        Lab.Machine.ExecutionTier? Tier = null);

    /// <summary>Runs a parsed `tui run --kernel` (see <see cref="Cli"/>).</summary>
    public static int Execute(Arguments a, TextWriter stdout, TextWriter stderr)
    {
        GuestKernelMachine machine;
        try
        {
            machine = GuestKernelMachine.Load(a.Kernel, new GuestKernelOptions { InstructionsPerSecond = a.InstructionsPerSecond, Tier = a.Tier });
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"tui run: {e.Message}");
            return 1;
        }
        using (machine)
        {
            var notes = new Notes(stderr);
            machine.AddObserver(notes);
            int code;
            GdbSessionEnd? debugged = null;
            if (a.GdbPort is int port)
            {
                debugged = ServeGdb(machine, a.Kernel, port, stderr);
                if (debugged is null) return 1;
            }
            if (debugged is GdbSessionEnd.Killed or GdbSessionEnd.Disconnected or GdbSessionEnd.TargetEnded)
            {
                // gdb ended the run: report the machine as it is.
                code = machine.ShutDown || machine.HaltedForGood ? Verdict(machine, stderr, reachedTicks: false) : 0;
            }
            else if (a.Ticks is ulong ticks)
            {
                // A kernel that stops taking interrupts gets ten times the guest time the ticks would take.
                ulong perTick = a.InstructionsPerSecond / 100;
                machine.RunUntilTimerInterrupts(ticks, ticks * perTick * 10 + a.InstructionsPerSecond);
                code = Verdict(machine, stderr, reachedTicks: machine.TimerInterrupts >= ticks);
            }
            else
            {
                machine.RunUntilStopped(DefaultGuestSeconds * a.InstructionsPerSecond);
                code = Verdict(machine, stderr, reachedTicks: false);
                if (!machine.Stopped)
                    stderr.WriteLine($"tui run: the kernel did not power off within {DefaultGuestSeconds} s of guest time (give --ticks N to run a fixed time)");
            }
            if (a.LogFile is not null)
            {
                try { File.WriteAllBytes(a.LogFile, machine.LogBytes.ToArray()); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    stderr.WriteLine($"tui run: cannot write the log: {e.Message}");
                    code = 1;
                }
            }
            if (a.Screen == RunCommand.ScreenFormat.Text) ScreenRenderer.WriteText(machine.Machine.Cga, stdout);
            else if (a.Screen == RunCommand.ScreenFormat.Ansi) ScreenRenderer.WriteAnsi(machine.Machine.Cga, stdout);
            return code;
        }
    }

    /// <summary>Serves one gdb session on 127.0.0.1:<paramref name="port"/> (0: any free port) with the
    /// kernel stopped at its entry; null (after saying why) when the port cannot be had.</summary>
    private static GdbSessionEnd? ServeGdb(GuestKernelMachine machine, string kernel, int port, TextWriter stderr)
    {
        GdbServer server;
        try { server = new GdbServer(port); }
        catch (SocketException e)
        {
            stderr.WriteLine($"tui run: cannot listen for gdb on 127.0.0.1:{port}: {e.Message}");
            return null;
        }
        using (server)
        {
            var symbols = KernelSymbols.FromImage(machine.Image);
            stderr.WriteLine($"tui run: the kernel is stopped at its entry 0x{machine.Machine.Cpu.Rip:x}; waiting for gdb on 127.0.0.1:{server.Port}");
            // gdb reads symbols from an ELF: a disk image or a kernel without symbols is not the file to give it.
            bool usable = !machine.Image.HasBootSector && symbols.Symbols.Count > 0;
            stderr.WriteLine($"tui run: attach with: gdb {(usable ? kernel : "obj/kernel.full")} -ex 'target remote 127.0.0.1:{server.Port}'");
            if (!usable)
                stderr.WriteLine($"tui run: note: {kernel} is {(machine.Image.HasBootSector ? "a disk image" : $"without symbols ({symbols.Note})")}; give gdb the kernel ELF with symbols (obj/kernel.full)");
            stderr.Flush();
            var end = server.ServeOne(new GuestGdbTarget(machine));
            stderr.WriteLine(end switch
            {
                GdbSessionEnd.Detached => "tui run: gdb detached; the kernel runs on",
                GdbSessionEnd.Killed => "tui run: gdb killed the kernel",
                GdbSessionEnd.TargetEnded => "tui run: the kernel ended under gdb",
                _ => "tui run: gdb went away; the kernel stops",
            });
            return end;
        }
    }

    private static int Verdict(GuestKernelMachine m, TextWriter stderr, bool reachedTicks)
    {
        if (m.PoweredOff || reachedTicks) return 0;
        if (m.ShutDown)
        {
            stderr.WriteLine($"tui run: triple fault (the CPU shut down) at rip 0x{m.Machine.Cpu.Rip:x} after {m.TimerInterrupts} timer interrupts");
            return 1;
        }
        if (m.HaltedForGood)
        {
            stderr.WriteLine($"tui run: the kernel halted with interrupts disabled at rip 0x{m.Machine.Cpu.Rip:x}");
            return 1;
        }
        return 1;
    }

    /// <summary>Tells the user, once per port, about I/O ports nothing on the machine answers.</summary>
    private sealed class Notes(TextWriter stderr) : IGuestEventObserver
    {
        public void OnGuestEvent(X64Machine machine, in GuestEvent e)
        {
            if (e.Kind == GuestEventKind.UnansweredPort)
                stderr.WriteLine($"tui run: note: the kernel {(e.PortWrite ? "wrote" : "read")} port 0x{e.Port:x} at rip {e.Rip}; nothing answers it (reads give all ones)");
            else if (e.Kind == GuestEventKind.TripleFault)
                stderr.WriteLine($"tui run: {e}");
        }
    }
}
