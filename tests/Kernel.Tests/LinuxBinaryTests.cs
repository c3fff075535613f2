using System.Text;
using Lab.Kernel.Posix;
using Lab.TestSupport;

namespace Lab.Kernel.Tests;

/// <summary>
/// Ordinary static Linux programs (LinuxPrograms/*.c), built unchanged with `gcc -static` (glibc)
/// and `musl-gcc -static` (musl), run natively on the host (the oracle) and on the POSIX profile:
/// the same stdout, stderr and exit status, byte for byte, and the kernel ends with no leaked page
/// and its invariants holding.
/// </summary>
public class LinuxBinaryTests
{
    public enum Libc { Glibc, Musl }

    private static string Source(string name, [System.Runtime.CompilerServices.CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(thisFile)!, "LinuxPrograms", name + ".c");

    /// <summary>The program built statically against <paramref name="libc"/> (cached by Gcc).</summary>
    internal static string Build(string name, Libc libc) =>
        Gcc.Build([Source(name)], ["-static", "-O1", "-w"], $"{name}.{libc.ToString().ToLowerInvariant()}",
            libc == Libc.Glibc ? "gcc" : "musl-gcc", libraries: ["-lm"]);

    internal sealed record Outcome(int Code, string Out, string Err, string Faults, PosixMachine Machine);

    /// <summary>Runs the host ELF at <paramref name="hostPath"/> as /bin/NAME on a fresh POSIX machine
    /// until everything exits; stdout and stderr are kept apart, as natively.</summary>
    internal static Outcome Emulate(string hostPath, string[] args, Action<PosixMachine>? setup = null)
    {
        var m = new PosixMachine();
        setup?.Invoke(m);
        string guest = "/bin/" + Path.GetFileName(hostPath);
        m.Fs.WriteFile(guest, File.ReadAllBytes(hostPath));
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        m.Console.Output = (fd, bytes) => (fd == 2 ? stderr : stdout).Write(bytes.Span);
        m.Console.CloseInput();
        Assert.Null(m.Start(guest, args));
        bool done = m.RunUntilAllExit(50_000_000_000);
        string faults = string.Join("\n", m.Kernel.Faults.Select(f => $"pid {f.Pid} {f.Name}: {Signals.Name(f.Signal)} {f.Description}"));
        Assert.True(m.Kernel.KernelError is null, m.Kernel.KernelError);
        Assert.True(done, $"{hostPath} did not finish; stdout so far:\n{Encoding.UTF8.GetString(stdout.ToArray())}\n{faults}");
        Assert.Equal(m.InitialFreePages, m.Kernel.FreePages);   // no leaked pages
        Assert.Null(m.Kernel.CheckInvariants());
        return new Outcome(m.ExitCode ?? -1, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()), faults, m);
    }

    /// <summary>Native and emulated runs of the same binary agree on stdout, stderr and status.</summary>
    private static void SameAsNative(string name, Libc libc, string[] args, Func<string, string[]>? nativeArgs = null,
        Action<PosixMachine>? setup = null)
    {
        string bin = Build(name, libc);
        string dir = Directory.CreateTempSubdirectory("lab-linux-bin-").FullName;
        try
        {
            var native = NativeProcess.Run(bin, nativeArgs?.Invoke(dir) ?? args);
            var emu = Emulate(bin, args, setup);
            string expected = Encoding.UTF8.GetString(native.Stdout);
            if (expected != emu.Out)
                Assert.Fail($"stdout differs.\n--- native\n{expected}\n--- emulated\n{emu.Out}\n--- faults\n{emu.Faults}\n--- stderr\n{emu.Err}");
            Assert.Equal(Encoding.UTF8.GetString(native.Stderr), emu.Err);
            Assert.Equal(native.ExitCode, emu.Code);
        }
        finally { Directory.Delete(dir, true); }
    }

    public static TheoryData<Libc> Libcs => new() { Libc.Glibc, Libc.Musl };

    [Theory, MemberData(nameof(Libcs))]
    public void Hello_world_prints_its_arguments_and_exits_with_its_status(Libc libc) =>
        SameAsNative("hello", libc, ["one", "two words"]);

    [Theory, MemberData(nameof(Libcs))]
    public void Malloc_qsort_strings_getopt_time_and_identity_match_the_host(Libc libc) =>
        SameAsNative("libc", libc, ["-v", "-n", "bob", "-c", "7", "x", "y"]);

    /// <summary>A call the kernel does not have (999 here, rseq glibc tries at start-up) returns
    /// -ENOSYS and is reported once as a syscall event naming it; the program goes on.</summary>
    [Fact]
    public void An_unknown_system_call_is_ENOSYS_and_one_event_naming_it()
    {
        var events = new List<Lab.Kernel.Common.KernelEvent>();
        var r = Emulate(Build("libc", Libc.Glibc), [], m => m.Kernel.Observer = events.Add);
        Assert.Equal(0, r.Code);
        Assert.Contains("syscall 999=-1 errno=Function not implemented\n", r.Out);
        Assert.Single(events, e => e.Name == "syscall_999" && e.Result == -Errno.ENOSYS);
        Assert.Contains(events, e => e.Name == "rseq" && e.Result == -Errno.ENOSYS);
    }

    /// <summary>getrandom is deterministic per machine seed: the same seed gives the same bytes, another
    /// seed other bytes.</summary>
    [Fact]
    public void Getrandom_replays_for_the_same_machine_seed()
    {
        string bin = Build("libc", Libc.Musl);
        string Random(ulong seed)
        {
            using var m = new PosixMachine(new PosixOptions { RandomSeed = seed });
            m.Fs.WriteFile("/bin/libc", File.ReadAllBytes(bin));
            m.Console.CloseInput();
            Assert.Null(m.Start("/bin/libc", ["--random"]));
            Assert.True(m.RunUntilAllExit());
            Assert.Equal(0, m.ExitCode);
            return m.Console.OutputText;
        }
        string a = Random(1), b = Random(1), c = Random(2);
        Assert.Matches("^[0-9a-f]{48}\n$", a);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    /// <summary>glibc's printf and strtod of doubles, sqrt and pow: SSE floating point, and the x87
    /// control word glibc reads for the rounding mode.</summary>
    [Fact]
    public void Printf_and_strtod_of_floating_point_numbers_match_the_host_with_glibc() =>
        SameAsNative("floats", Libc.Glibc, []);

    /// <summary>musl's printf formats through long double: the x87 (fldl, fmul, fistp ...) on the
    /// Machine's exact 80-bit soft-float.</summary>
    [Fact]
    public void Printf_and_strtod_of_floating_point_numbers_match_the_host_with_musl() =>
        SameAsNative("floats", Libc.Musl, []);

    /// <summary>long double on the x87: sums, products, quotients, square roots, overflow, denormals,
    /// conversions to and from integers, float and double, printf %Lf %La %Le %Lg and strtold, and libm's
    /// x87 paths (f2xm1, fyl2x, fyl2xp1, fpatan, fprem, fscale, frndint) printed to 15 digits.</summary>
    [Theory, MemberData(nameof(Libcs))]
    public void Long_double_arithmetic_printf_strtold_and_libm_match_the_host(Libc libc) =>
        SameAsNative("ldouble", libc, []);

    /// <summary>mremap (in place, moved with its pages, shrunk, to a fixed address, its errors), glibc's
    /// and musl's realloc of large blocks, and waitid (exited, killed, stopped, continued, WNOHANG,
    /// WNOWAIT, P_PGID) as on the host.</summary>
    [Theory, MemberData(nameof(Libcs))]
    public void Mremap_realloc_and_waitid_match_the_host(Libc libc) => SameAsNative("remap", libc, []);

    /// <summary>Four processes computing with long double and double at once, preempted many times
    /// mid-loop, each get the result they get alone: every process has its own x87/SSE registers.</summary>
    [Theory, MemberData(nameof(Libcs))]
    public void Processes_computing_in_floating_point_at_once_keep_their_registers(Libc libc) =>
        SameAsNative("fpswitch", libc, []);

    [Theory, MemberData(nameof(Libcs))]
    public void Files_directories_and_descriptors_match_the_host(Libc libc) =>
        SameAsNative("files", libc, ["/tmp/work"], dir => [dir], m => m.Fs.MkDir("/tmp/work"));

    /// <summary>Symbolic and hard links, rename's cases, truncate, utimensat, chmod, /dev/null and
    /// /dev/zero, and poll/select over pipes (data, end of file, no reader, timeouts, a wait for a
    /// child's write) as on the host.</summary>
    [Theory, MemberData(nameof(Libcs))]
    public void Links_rename_truncate_times_devices_and_poll_match_the_host(Libc libc) =>
        SameAsNative("names", libc, ["/tmp/work"], dir => [dir], m => m.Fs.MkDir("/tmp/work"));

    /// <summary>Symbolic links, hard links (one inode under two names), devices, permission bits
    /// and times are in the snapshot: names.c saved part way (after its links, before rename) and
    /// restored finishes exactly as the original, and the restored tree has the same links.</summary>
    [Fact]
    public void Links_devices_and_modes_survive_a_snapshot()
    {
        using var m = new PosixMachine();
        m.Fs.WriteFile("/bin/names", File.ReadAllBytes(Build("names", Libc.Glibc)));
        m.Fs.MkDir("/tmp/work");
        m.Console.CloseInput();
        Assert.Null(m.Start("/bin/names", ["/tmp/work"]));
        while (!m.Console.OutputText.Contains("nlink after link"))
            Assert.False(m.RunUntilAllExit(20_000), "finished before the point to save at");
        byte[] state = m.SaveState();
        Assert.Equal(5, BitConverter.ToInt32(state, 4));
        using var restored = new PosixMachine();
        restored.RestoreState(state);
        Assert.Null(restored.Kernel.CheckInvariants());
        Assert.Equal(state, restored.SaveState());
        Assert.Equal("file", restored.Fs.Get("/tmp/work/link")!.LinkTarget);
        var hard = restored.Fs.Get("/tmp/work/hard")!;           // "file" may be unlinked already at this point
        Assert.Equal(restored.Fs.Get("/tmp/work/file") is { } file ? 2 : 1, restored.Fs.LinkCount(hard));
        Assert.True(restored.Fs.Get("/tmp/work/file") is null || ReferenceEquals(restored.Fs.Get("/tmp/work/file"), hard));
        Assert.Equal(PosixFs.DevNull, restored.Fs.Get("/dev/null")!.Rdev);
        Assert.True(m.RunUntilAllExit());
        Assert.True(restored.RunUntilAllExit());
        Assert.Equal(m.Console.OutputText, restored.Console.OutputText);
        Assert.Contains("poll waits for a writer: 1 1\n", restored.Console.OutputText);
    }

    /// <summary>A program in pause() with its input closed (`tui run prog &lt; /dev/null`) can only be woken by a
    /// signal from outside: the run waits for one (calls idleWait) instead of burning instructions, and
    /// the SIGINT that Ctrl-C sends ends it.</summary>
    [Fact]
    public void A_paused_program_with_its_input_closed_waits_for_ctrl_c_without_spinning()
    {
        using var m = new PosixMachine();
        m.Fs.WriteFile("/bin/pause", File.ReadAllBytes(Build("pause", Libc.Glibc)));
        m.Console.CloseInput();
        Assert.Null(m.Start("/bin/pause"));
        int waits = 0;
        const ulong budget = 2_000_000_000;
        ulong start = m.Machine.Clock;
        bool done = m.RunUntilAllExit(budget, idleWait: () =>
        {
            if (++waits == 3) m.Kernel.Interrupt();   // the third wait: Ctrl-C at the host's terminal
            return true;
        });
        Assert.True(done, $"did not end: {m.Console.OutputText}");
        Assert.Equal(3, waits);
        Assert.True(m.Machine.Clock - start < budget / 10, $"ran {m.Machine.Clock - start} instructions while it could only wait");
        Assert.Equal("waiting for a signal\n", m.Console.OutputText);
        Assert.Equal(2, m.Kernel.MainStatus & 0x7f);   // killed by SIGINT
    }

    [Theory, MemberData(nameof(Libcs))]
    public void Fork_wait_exec_and_pipes_match_the_host(Libc libc) =>
        SameAsNative("procs", libc, []);

    /// <summary>system() and popen() go through the C library's posix_spawn (clone with
    /// CLONE_VM|CLONE_VFORK on a stack of its own, run here as a copy-on-write fork) and /bin/sh -c:
    /// Lab's sh in the emulator, the host's natively, with the same output.</summary>
    [Theory, MemberData(nameof(Libcs))]
    public void System_and_popen_run_the_shell_as_on_the_host(Libc libc) =>
        SameAsNative("spawn", libc, []);

    [Theory, MemberData(nameof(Libcs))]
    public void Mmap_munmap_mprotect_copy_on_write_shared_memory_and_faults_match_the_host(Libc libc) =>
        SameAsNative("mman", libc, []);

    public static TheoryData<Libc, string> SignalCases()
    {
        var data = new TheoryData<Libc, string>();
        foreach (var libc in new[] { Libc.Glibc, Libc.Musl })
            foreach (var c in new[] { "info", "mask", "flags", "restart", "sigchld", "sigpipe", "alarm", "groups", "segv", "stop", "suspend", "defaults", "ucontext" })
                data.Add(libc, c);
        return data;
    }

    /// <summary>
    /// Signals as a C program uses them (LinuxPrograms/signals.c, one case per run): SA_SIGINFO
    /// handlers reading si_signo/si_code/si_pid, masks and sigpending, SA_RESETHAND and SA_NODEFER,
    /// EINTR against SA_RESTART on a pipe read and nanosleep's time left, SIGCHLD reaping in a
    /// handler and SIGCHLD ignored, SIGPIPE's default and EPIPE, alarm/pause and a periodic
    /// setitimer interrupting float work, kill of a process group, setpgid/setsid/getsid, a SIGSEGV
    /// handler siglongjmp'ing out (the second time on a sigaltstack), SIGSTOP/SIGTSTP/SIGCONT seen
    /// by waitpid WUNTRACED/WCONTINUED, sigsuspend and sigtimedwait, default actions, and a handler
    /// editing uc_sigmask in its ucontext: the same output and status as natively.
    /// </summary>
    [Theory, MemberData(nameof(SignalCases))]
    public void Signals_match_the_host(Libc libc, string which) =>
        SameAsNative("signals", libc, [which]);

    public static TheoryData<string, string> SignalSnapshotPoints => new()
    {
        { "restart", "no SA_RESTART" },   // a child sleeping, the parent's timer armed and its read restarting
        { "stop", "nothing more" },       // a stopped child, its stop reported
        { "suspend", "sigsuspend=" },     // a handler that ran in sigsuspend, SIGUSR1 blocked again
        { "alarm", "alarm left=5" },      // an alarm pending for pause
    };

    /// <summary>A program saved in the middle of its signal work (pending signals, handlers, masks,
    /// a stopped child, armed timers, a blocked read to restart: snapshot version 5) and restored
    /// into a new machine finishes exactly as the original does.</summary>
    [Theory, MemberData(nameof(SignalSnapshotPoints))]
    public void Signal_state_survives_a_snapshot(string which, string marker)
    {
        string bin = Build("signals", Libc.Glibc);
        using var m = new PosixMachine();
        m.Fs.WriteFile("/bin/signals", File.ReadAllBytes(bin));
        m.Console.CloseInput();
        Assert.Null(m.Start("/bin/signals", [which]));
        while (!m.Console.OutputText.Contains(marker))
        {
            Assert.False(m.Kernel.AllExited, "finished before the point to save at:\n" + m.Console.OutputText);
            m.Machine.Run(2_000);
        }
        using var restored = RestoredCopyFinishesAsTheOriginal(m, out _);
        Assert.Equal(restored.InitialFreePages, restored.Kernel.FreePages);
        Assert.Equal(SameAsNativeOutput(bin, which), restored.Console.OutputText);
    }

    /// <summary>Saves <paramref name="m"/> (part way through a run), restores the bytes into a new
    /// machine that checks out and saves the same bytes again, runs both to the end and checks they
    /// print the same and end the same. Returns the restored machine (the caller disposes of it).</summary>
    private static PosixMachine RestoredCopyFinishesAsTheOriginal(PosixMachine m, out byte[] state)
    {
        state = m.SaveState();
        var restored = new PosixMachine();
        restored.RestoreState(state);
        Assert.Null(restored.Kernel.CheckInvariants());
        Assert.Equal(state, restored.SaveState());
        Assert.True(m.RunUntilAllExit());
        Assert.True(restored.RunUntilAllExit());
        Assert.Equal(m.Console.OutputText, restored.Console.OutputText);
        Assert.Equal(m.ExitCode, restored.ExitCode);
        return restored;
    }

    private static string SameAsNativeOutput(string bin, string which) =>
        Encoding.UTF8.GetString(NativeProcess.Run(bin, [which]).Stdout);

    public static TheoryData<Libc, string> FaultCases => new()
    {
        { Libc.Glibc, "none" }, { Libc.Glibc, "unmapped" }, { Libc.Glibc, "readonly" },
        { Libc.Musl, "none" }, { Libc.Musl, "unmapped" }, { Libc.Musl, "readonly" },
    };

    /// <summary>A program touching PROT_NONE, unmapped or (writing) read-only memory it mapped dies of
    /// SIGSEGV: status 139, as natively, after printing what it was about to do.</summary>
    [Theory, MemberData(nameof(FaultCases))]
    public void Touching_protected_or_unmapped_memory_is_SIGSEGV_139(Libc libc, string how)
    {
        string bin = Build("mman", libc);
        var native = NativeProcess.Run(bin, [how]);
        var emu = Emulate(bin, [how]);
        Assert.Equal(139, native.ExitCode);
        Assert.Equal(139, emu.Code);
        Assert.Equal(Encoding.UTF8.GetString(native.Stdout), emu.Out);
        Assert.Single(emu.Machine.Kernel.Faults);
        Assert.Equal(Signals.SIGSEGV, emu.Machine.Kernel.Faults[0].Signal);
    }

    /// <summary>A glibc program saved part way (its FS base, close-on-exec descriptors, recorded
    /// signal state and mmap'ed memory are in the snapshot) and restored into a new machine finishes
    /// exactly as the original does; version 3 and 4 snapshots (before that state, or signal delivery's,
    /// was saved) still restore.</summary>
    [Theory, MemberData(nameof(Libcs))]
    public void A_program_saved_part_way_and_restored_finishes_the_same(Libc libc)
    {
        string bin = Build("procs", libc);
        using var m = new PosixMachine();
        m.Fs.WriteFile("/bin/procs", File.ReadAllBytes(bin));
        m.Console.CloseInput();
        Assert.Null(m.Start("/bin/procs"));
        while (!m.Console.OutputText.Contains("pipe bytes"))   // part way: after the pipe, before the exec
            Assert.False(m.RunUntilAllExit(20_000), "finished before the point to save at:\n" + m.Console.OutputText);
        using var restored = RestoredCopyFinishesAsTheOriginal(m, out byte[] state);
        Assert.Equal(5, BitConverter.ToInt32(state, 4));
        Assert.Contains("sum of codes=10", restored.Console.OutputText);

        foreach (int version in new[] { 3, 4 })
        {
            using var older = new PosixMachine();
            older.Fs.WriteFile("/bin/hello", File.ReadAllBytes(Build("hello", libc)));
            older.Console.CloseInput();
            Assert.Null(older.Start("/bin/hello"));
            byte[] old = older.Kernel.SaveSnapshot(formatVersion: version);
            using var fromOld = new PosixMachine();
            fromOld.RestoreState(old);
            Assert.True(fromOld.RunUntilAllExit());
            Assert.StartsWith("hello, world\n", fromOld.Console.OutputText);
            Assert.Equal(3, fromOld.ExitCode);
        }
    }

    /// <summary>The memory views see mmap: while mman runs, its virtual pages (what the session's
    /// virtual map draws) include the 64 written pages of its first mapping below PosixKernel.MmapTop,
    /// user-writable and backed by frames of their own (not the zero page), and, right after it made
    /// one PROT_NONE, a page present but not user-accessible.</summary>
    [Fact]
    public void The_virtual_map_shows_mmap_regions_and_PROT_NONE_pages()
    {
        using var m = new PosixMachine();
        m.Fs.WriteFile("/bin/mman", File.ReadAllBytes(Build("mman", Libc.Glibc)));
        m.Console.CloseInput();
        Assert.Null(m.Start("/bin/mman"));
        int pid = m.Kernel.MainPid!.Value;
        string? stopAfter = null;
        bool stopped = false;
        // Stop the machine right after the write that prints a line (unbuffered: one write each), so
        // the address space is looked at exactly where the program said what it just did.
        m.Kernel.Observer = e =>
        {
            if (stopAfter is not null && e.Name == "write" && e.Pid == pid && m.Console.OutputText.EndsWith(stopAfter))
            {
                stopped = true;
                m.Machine.Stop();
            }
        };
        void RunUntilPrinted(string line)
        {
            stopAfter = line;
            stopped = false;
            while (!stopped)
            {
                Assert.False(m.Kernel.AllExited, $"finished before printing {line}");
                m.Machine.Run(1_000_000);
            }
        }
        List<(ulong Va, int Page, byte Perm)> Pages()
        {
            var list = new List<(ulong, int, byte)>();
            Assert.True(m.Kernel.VisitUserPages(pid, (va, page, perm) => list.Add((va, page, perm))));
            return list;
        }
        const int zeroPage = 2;     // PosixKernel's zero page, 0x2000
        bool InMmapArea(ulong va) => va >= 0x7000_0000_0000UL && va < PosixKernel.MmapTop;

        RunUntilPrinted("sum=-113022\n");                       // "mmap ok=1 aligned=1 zero=1 sum=..."
        var mapped = Pages().Where(p => InMmapArea(p.Va)).ToList();
        Assert.True(mapped.Count(p => p.Perm == 7 && p.Page != zeroPage) >= 64,
            string.Join(",", mapped.Select(p => $"{p.Va:x}:{p.Page}:{p.Perm}")));       // P|W|U, own frames
        RunUntilPrinted("mprotect none=0\n");
        Assert.Contains(Pages(), p => InMmapArea(p.Va) && p.Perm == 1);                   // P only: PROT_NONE
        m.Kernel.Observer = null;
        Assert.True(m.RunUntilAllExit());
        Assert.Equal(0, m.ExitCode);
        Assert.Null(m.Kernel.CheckInvariants());
    }
}
