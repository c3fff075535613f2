using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Lab.TestSupport;

namespace Lab.TuiClient.Tests;

/// <summary>
/// `tui run --kernel FILE --gdb PORT` with real gdb, as a student runs `make run-gdb`: the kernel waits
/// at its entry, gdb attaches, breaks on a symbol, and once gdb detaches the run goes on to its end.
/// </summary>
public class TuiKernelGdbTests
{
    /// <summary>Starts `tui run --kernel KERNEL --gdb 0 ARGS` on another thread and waits until it says where gdb attaches.</summary>
    private static (Task<int> Run, int Port, StringWriter Stdout, WatchedWriter Stderr) StartTui(string kernel, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new WatchedWriter(new Regex(@"attach with: gdb .* -ex 'target remote 127\.0\.0\.1:(\d+)'"));
        var run = Task.Run(() => Cli.Run(new[] { "run", "--kernel", kernel, "--gdb", "0" }.Concat(args).ToArray(), stdout, stderr));
        Assert.True(Task.WhenAny(stderr.Seen.Task, run).Wait(TimeSpan.FromMinutes(5)));
        Assert.True(stderr.Seen.Task.IsCompleted, stderr.ToString());
        return (run, int.Parse(stderr.Seen.Task.Result.Groups[1].Value), stdout, stderr);
    }

    [Fact]
    public void GdbAttachesToTheKernelWaitingAtItsEntryAndTheRunGoesOnAfterDetach()
    {
        string kernel = LabKernelBuild.PathOf("step5", full: true);
        var (run, port, stdout, stderr) = StartTui(kernel, "--ticks", "3", "--screen", "--instructions-per-second", "50000000");
        Assert.Contains($"the kernel is stopped at its entry 0x40000; waiting for gdb on 127.0.0.1:{port}", stderr.ToString());
        Assert.Contains($"attach with: gdb {kernel} -ex 'target remote 127.0.0.1:{port}'", stderr.ToString());

        string gdb = GdbBatch.Run(kernel, port, "info registers rip", "break exception", "continue", "bt", "info registers rip", "detach");
        Assert.Contains("entry_from_boot () at k-entry.S:", gdb);          // stopped at the entry, with its source line
        Assert.Contains("Breakpoint 1, exception (", gdb);
        Assert.Contains("[Inferior 1 (Remote target) detached]", gdb);

        Assert.True(run.Wait(TimeSpan.FromMinutes(5)));
        Assert.True(run.Result == 0, stderr.ToString());
        Assert.Contains("gdb detached; the kernel runs on", stderr.ToString());
        Assert.Contains("PHYSICAL MEMORY", stdout.ToString());              // ran its 3 ticks and drew the screen
    }

    [Fact]
    public void GdbCanStepSourceLinesAndCallTheKernelsPowerOff()
    {
        // `call poweroff()` makes gdb set up a call (register writes), run it, and see the machine power
        // off as the program exiting; the run then ends with the kernel's verdict (powered off: 0).
        string kernel = LabKernelBuild.PathOf("step5", full: true);
        var (run, port, _, stderr) = StartTui(kernel);
        string gdb = GdbBatch.Run(kernel, port, "break kernel", "continue", "next", "next", "call poweroff()");
        Assert.Matches(@"(?m)^\d+\t\s+pageinfo_init\(\);", gdb);      // next, next: one source line each
        Assert.Matches(@"(?m)^\d+\t\s+console_clear\(\);", gdb);
        Assert.Contains("[Inferior 1 (Remote target) exited normally]", gdb);
        Assert.True(run.Wait(TimeSpan.FromMinutes(5)));
        Assert.True(run.Result == 0, stderr.ToString());
        Assert.Contains("the kernel ended under gdb", stderr.ToString());
    }

    [Fact]
    public void ADiskImageNamesTheElfForGdbAndAClientThatGoesAwayEndsTheRun()
    {
        // weensyos.img: a boot sector, then the kernel ELF. gdb needs the ELF, so the hint names obj/kernel.full.
        string image = Path.Combine(Path.GetTempPath(), $"lab-gdb-{Guid.NewGuid():N}.img");
        try
        {
            File.WriteAllBytes(image, new byte[512].Concat(File.ReadAllBytes(LabKernelBuild.PathOf("step5"))).ToArray());
            var (run, port, _, stderr) = StartTui(image);
            Assert.Contains($"attach with: gdb obj/kernel.full -ex 'target remote 127.0.0.1:{port}'", stderr.ToString());
            // The note is the line after the one StartTui waited for: wait for it too (it was read too early on a loaded machine).
            const string note = "is a disk image; give gdb the kernel ELF with symbols (obj/kernel.full)";
            Assert.True(stderr.WaitFor(note, TimeSpan.FromMinutes(5)), $"no '{note}' in:\n{stderr}");
            using (var client = new TcpClient())
            {
                client.Connect(IPAddress.Loopback, port);
                client.GetStream().Write("$?#3f"u8);
                Assert.Equal((byte)'+', client.GetStream().ReadByte());
            }
            Assert.True(run.Wait(TimeSpan.FromMinutes(5)));
            Assert.True(run.Result == 0, stderr.ToString());
            Assert.Contains("gdb went away; the kernel stops", stderr.ToString());
        }
        finally { File.Delete(image); }
    }

    [Fact]
    public void ABadOrBusyPortIsAClearError()
    {
        string kernel = LabKernelBuild.PathOf("step5", full: true);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.Equal(2, Cli.Run(new[] { "run", "--kernel", kernel, "--gdb", "70000" }, stdout, stderr));
        Assert.Contains("--gdb needs a TCP port", stderr.ToString());

        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        int port = ((IPEndPoint)busy.LocalEndpoint).Port;
        stderr = new StringWriter();
        Assert.Equal(1, Cli.Run(new[] { "run", "--kernel", kernel, "--gdb", port.ToString() }, stdout, stderr));
        Assert.Contains($"cannot listen for gdb on 127.0.0.1:{port}", stderr.ToString());
    }
}
