using System.Security.Cryptography;
using Lab.Kernel.Posix;

namespace Lab.Kernel.Tests;

/// <summary>
/// Snapshots of the POSIX profile (server persistence): a machine saved mid-run and restored into a
/// fresh PosixMachine continues exactly as the original: same console output, exit status,
/// instruction count, free pages, and consistent refcounts. Bad states are refused, leaving the
/// target machine as it was.
/// </summary>
public class PosixSnapshotTests
{
    private sealed record Outcome(int? Code, string Out, ulong Clock, int FreePages, int Faults);

    /// <summary>Runs until the clock reaches <paramref name="at"/> (or everything exited).</summary>
    private static void RunTo(PosixMachine m, ulong at)
    {
        while (m.Machine.Clock < at && !m.Kernel.AllExited && m.Kernel.KernelError is null)
            m.Machine.Run(at - m.Machine.Clock);
    }

    private static Outcome Finish(PosixMachine m)
    {
        Assert.True(m.RunUntilAllExit(), $"did not finish; output so far:\n{m.Console.OutputText}");
        Assert.Null(m.Kernel.KernelError);
        Assert.Null(m.Kernel.CheckInvariants());
        Assert.Equal(m.InitialFreePages, m.Kernel.FreePages);
        return new Outcome(m.ExitCode, m.Console.OutputText, m.Machine.Clock, m.Kernel.FreePages, m.Kernel.Faults.Count);
    }

    private static PosixMachine Started(string program, string[]? args, string? stdin)
    {
        var m = new PosixMachine();
        if (stdin != null) { m.Console.Feed(stdin); m.Console.CloseInput(); }
        else m.Console.CloseInput();
        Assert.Null(m.Start(program, args));
        return m;
    }

    /// <summary>Restores a snapshot into a fresh machine and checks that saving it again gives the same bytes.</summary>
    private static PosixMachine Restored(byte[] state, PosixOptions? options = null)
    {
        var b = new PosixMachine(options);
        b.RestoreState(state);
        Assert.Null(b.Kernel.CheckInvariants());
        Assert.Equal(state, b.SaveState());      // nothing lost or changed on the way
        return b;
    }

    /// <summary>Snapshots PROGRAM at several points of its run; the original and the restored copy
    /// must end identically, and like an uninterrupted run.</summary>
    private static void AssertContinuesIdentically(string program, string[]? args = null, string? stdin = null, int points = 5)
    {
        using var reference = Started(program, args, stdin);
        var expected = Finish(reference);
        Assert.Equal(0, expected.Code);
        for (int k = 1; k <= points; k++)
        {
            ulong at = expected.Clock * (ulong)k / (ulong)(points + 1);
            using var a = Started(program, args, stdin);
            RunTo(a, at);
            Assert.Null(a.Kernel.CheckInvariants());
            byte[] state = a.SaveState();
            using var b = Restored(state);
            Assert.Equal(a.Machine.Clock, b.Machine.Clock);
            Assert.Equal(a.Kernel.FreePages, b.Kernel.FreePages);
            Assert.Equal(a.Kernel.ProcessCount, b.Kernel.ProcessCount);
            var ra = Finish(a);
            var rb = Finish(b);
            Assert.Equal(ra, rb);
            Assert.Equal(expected.Out, rb.Out);
            Assert.Equal(expected.Code, rb.Code);
        }
    }

    [Fact]
    public void Sh_pipelines_and_files_continue_identically()
    {
        AssertContinuesIdentically("sh", ["-c",
            "echo hello big world | wc; echo a b > /tmp/f; cat /tmp/f /tmp/f | grep a | wc -l; ls /bin | grep '^t-' | wc; echo x >> /tmp/f; cat /tmp/f"]);
    }

    [Fact]
    public void Sh_script_on_pending_stdin_continues_identically()
    {
        // the script is still partly unread console input at most snapshot points
        AssertContinuesIdentically("sh", stdin: "echo one | cat | cat\necho two > /tmp/x\ncat /tmp/x\nls /tmp\nfalse\nexit 0\n", points: 7);
    }

    [Theory]
    [InlineData("t-fork")]
    [InlineData("t-wait")]
    [InlineData("t-pipe")]
    [InlineData("t-files")]
    public void Test_programs_that_fork_wait_and_use_files_continue_identically(string program)
    {
        AssertContinuesIdentically(program);
    }

    [Fact]
    public void Tracked_processes_continue_identically()
    {
        // per-process syscall counters, byte counts and the pending track record of a zombie
        AssertContinuesIdentically("track", ["sh", "-c", "echo hi | wc; cat /bin/true | wc -c > /tmp/n; cat /tmp/n"]);
    }

    [Fact]
    public void Fork_tree_continues_identically()
    {
        AssertContinuesIdentically("s-forktree", points: 3);
    }

    [Fact]
    public void Eager_copy_fork_mode_is_kept()
    {
        using var a = Started("t-fork", null, null);
        a.Kernel.CopyOnWriteFork = false;
        RunTo(a, 2_000_000);
        using var b = Restored(a.SaveState());
        Assert.False(b.Kernel.CopyOnWriteFork);
        Assert.Equal(Finish(a), Finish(b));
    }

    [Fact]
    public void Blocked_console_read_restored_then_fed_and_shared_offset_kept()
    {
        // The inner shell's stdout is /tmp/out, shared (one open file, one offset) by the inner shell
        // and every child it forks; cat blocks reading the console in the middle.
        using var a = new PosixMachine();
        Assert.Null(a.Start("sh", ["-c", "echo '' > /tmp/out; sh -c 'echo one; cat; echo three' >> /tmp/out; cat /tmp/out"]));
        Assert.False(a.RunUntilAllExit());
        Assert.True(a.Kernel.IdleWaitingForInput);
        Assert.Equal("", a.Console.OutputText);

        byte[] state = a.SaveState();
        using var b = Restored(state);
        Assert.True(b.Kernel.IdleWaitingForInput);
        AssertSharingPreserved(a, b);

        foreach (var m in new[] { a, b })
        {
            m.Console.Feed("two\n");
            Assert.False(m.RunUntilAllExit());       // cat reads the line and waits for more
            m.Console.Feed("2b\n");
            m.Console.CloseInput();
        }
        var ra = Finish(a);
        var rb = Finish(b);
        Assert.Equal(ra, rb);
        Assert.Equal((0, "\none\ntwo\n2b\nthree\n"), (rb.Code, rb.Out));
    }

    /// <summary>Descriptors that share an open file (and open files that share a pipe or inode) share
    /// it after restore exactly where they did before, and the inode is the one in the tree.</summary>
    private static void AssertSharingPreserved(PosixMachine a, PosixMachine b)
    {
        var pa = a.Kernel.Processes;
        var pb = b.Kernel.Processes;
        Assert.Equal(pa.Count, pb.Count);
        var fa = pa.SelectMany(p => p.Fds).ToList();
        var fb = pb.SelectMany(p => p.Fds).ToList();
        int shared = 0;
        for (int i = 0; i < fa.Count; i++)
        {
            Assert.Equal(fa[i] is null, fb[i] is null);
            if (fa[i] is null) continue;
            Assert.Equal((fa[i]!.Kind, fa[i]!.Offset, fa[i]!.Refs), (fb[i]!.Kind, fb[i]!.Offset, fb[i]!.Refs));
            if (fb[i]!.Node is { } node && a.Fs.PathOf(fa[i]!.Node!) is { } path)
                Assert.Same(b.Fs.Lookup(path), node);
            for (int j = 0; j < i; j++)
            {
                if (fa[j] is null) continue;
                Assert.Equal(ReferenceEquals(fa[i], fa[j]), ReferenceEquals(fb[i], fb[j]));
                Assert.Equal(fa[i]!.Pipe is not null && ReferenceEquals(fa[i]!.Pipe, fa[j]!.Pipe),
                             fb[i]!.Pipe is not null && ReferenceEquals(fb[i]!.Pipe, fb[j]!.Pipe));
                if (ReferenceEquals(fb[i], fb[j])) shared++;
            }
        }
        Assert.True(shared > 0, "the scenario should share open files");
    }

    [Fact]
    public void Unlinked_open_script_and_blocked_pipeline_survive()
    {
        // sh runs a script that the host unlinks while sh holds it open; a pipeline waits on the console.
        using var a = new PosixMachine();
        a.Fs.WriteFile("/tmp/script", "echo head | cat - | wc\ncat | wc\necho from the unlinked file\n"u8.ToArray());
        Assert.Null(a.Start("sh", ["/tmp/script"]));
        Assert.False(a.RunUntilAllExit());
        Assert.True(a.Kernel.IdleWaitingForInput);
        Assert.True(a.Fs.Remove("/tmp/script"));
        Assert.Contains(a.Kernel.Processes, p => p.Fds.Any(f => f?.Node is { } n && a.Fs.PathOf(n) is null));
        using var b = Restored(a.SaveState());
        Assert.Null(b.Fs.Lookup("/tmp/script"));
        Assert.Contains(b.Kernel.Processes, p => p.Fds.Any(f => f?.Node is { } n && b.Fs.PathOf(n) is null));
        foreach (var m in new[] { a, b })
        {
            m.Console.Feed("12345\n");
            m.Console.CloseInput();
        }
        var rb = Finish(b);
        Assert.Equal(Finish(a), rb);
        Assert.EndsWith("      1       1       6\nfrom the unlinked file\n", rb.Out);
    }

    [Fact]
    public void Restored_machine_can_be_snapshotted_again_and_killed_from_the_host()
    {
        using var reference = Started("s-forktree", null, null);
        ulong total = Finish(reference).Clock;
        using var a = Started("s-forktree", null, null);
        RunTo(a, total / 3);
        using var b = Restored(a.SaveState());
        RunTo(b, total * 2 / 3);
        using var c = Restored(b.SaveState());
        Assert.True(c.Kernel.KillProgram("s-forktree") > 0);
        Assert.True(c.Kernel.AllExited);
        Assert.Null(c.Kernel.CheckInvariants());
        Assert.Equal(c.InitialFreePages, c.Kernel.FreePages);
        Assert.Equal(128 + 9, c.ExitCode);
        Assert.Equal(Finish(a), Finish(b));
    }

    private static byte[] MidRunState(out PosixMachine source)
    {
        source = Started("t-fork", null, null);
        RunTo(source, 3_000_000);
        return source.SaveState();
    }

    /// <summary>After a refused restore the target is untouched: it still runs a program normally.</summary>
    private static void AssertStillFresh(PosixMachine m)
    {
        Assert.True(m.Kernel.AllExited);
        Assert.Equal(0UL, m.Machine.Clock);
        Assert.Equal(m.InitialFreePages, m.Kernel.FreePages);
        m.Console.CloseInput();
        Assert.Null(m.Start("echo", ["still", "works"]));
        Assert.Equal((0, "still works\n"), (Finish(m).Code, m.Console.OutputText));
    }

    [Fact]
    public void Garbage_and_truncated_states_are_refused_and_leave_the_machine_unchanged()
    {
        byte[] state = MidRunState(out var source);
        source.Dispose();
        var rnd = new Random(7);
        var bad = new List<byte[]> { Array.Empty<byte>(), new byte[] { 1, 2, 3 }, new byte[100] };
        var noise = new byte[5000];
        rnd.NextBytes(noise);
        bad.Add(noise);
        foreach (int len in new[] { 4, 8, 12, 40, 1000, state.Length / 2, state.Length - 33, state.Length - 1 })
            bad.Add(state[..len]);
        for (int i = 0; i < 20; i++)
        {
            var flipped = (byte[])state.Clone();
            flipped[rnd.Next(8, flipped.Length)] ^= (byte)(1 << rnd.Next(8));
            bad.Add(flipped);
        }
        bad.Add([.. state, 0]);
        var wrongVersion = (byte[])state.Clone();
        wrongVersion[4] = 99;
        bad.Add(wrongVersion);

        using var m = new PosixMachine();
        foreach (var b in bad)
        {
            var e = Record.Exception(() => m.RestoreState(b));
            Assert.True(e is InvalidDataException or EndOfStreamException, $"{b.Length} bytes: {e?.GetType().Name ?? "accepted"}");
        }
        AssertStillFresh(m);
    }

    [Fact]
    public void Damaged_contents_with_a_valid_checksum_are_refused_cleanly()
    {
        // A crafted state (checksum recomputed) must still fail only with the snapshot exceptions, and
        // a failed restore must leave the target as it was. Bytes cut out or inserted shift every
        // later field, so those are always refused; an overwritten field may be harmless (a register).
        byte[] state = MidRunState(out var source);
        source.Dispose();
        var rnd = new Random(11);
        int refused = 0, shifted = 0;
        PosixMachine? target = null;
        for (int i = 0; i < 60; i++)
        {
            int body = state.Length - 32;
            int pos = rnd.Next(16, body - 16);
            byte[] crafted;
            switch (i % 3)
            {
                case 0:
                    crafted = [.. state.AsSpan(0, pos), .. state.AsSpan(pos + 4)];
                    shifted++;
                    break;
                case 1:
                    crafted = [.. state.AsSpan(0, pos), 0xff, 0x7f, .. state.AsSpan(pos)];
                    shifted++;
                    break;
                default:
                    crafted = (byte[])state.Clone();
                    BitConverter.TryWriteBytes(crafted.AsSpan(pos), rnd.Next(3) switch { 0 => -2, 1 => int.MaxValue, _ => rnd.Next(1 << 20) });
                    break;
            }
            SHA256.HashData(crafted.AsSpan(0, crafted.Length - 32)).CopyTo(crafted, crafted.Length - 32);
            // one target while it refuses (refusals must leave it untouched); a fresh one after it accepted
            target ??= new PosixMachine();
            var e = Record.Exception(() => target.RestoreState(crafted));
            if (e is null)
            {
                Assert.Equal(2, i % 3);
                target.Dispose();
                target = null;
                continue;
            }
            Assert.True(e is InvalidDataException or EndOfStreamException, $"byte {pos}: {e}");
            refused++;
        }
        Assert.True(refused >= shifted);
        if (target is not null) AssertStillFresh(target);
        target?.Dispose();
    }

    [Fact]
    public void A_state_from_another_memory_size_is_refused_with_the_reason()
    {
        using var small = new PosixMachine(new PosixOptions { MemorySize = 32UL << 20 });
        small.Console.CloseInput();
        Assert.Null(small.Start("t-fork"));
        RunTo(small, 1_000_000);
        byte[] state = small.SaveState();
        using var m = new PosixMachine();
        var e = Assert.Throws<InvalidDataException>(() => m.RestoreState(state));
        Assert.Contains("32 MiB", e.Message);
        Assert.Contains("64 MiB", e.Message);
        AssertStillFresh(m);
        // the same size is accepted
        using var same = Restored(state, new PosixOptions { MemorySize = 32UL << 20 });
        Assert.Equal(Finish(small), Finish(same));
    }

    /// <summary>A machine whose program has had <paramref name="children"/> children killed by SIGSEGV.</summary>
    private static PosixMachine AfterFaults(int children)
    {
        var m = new PosixMachine();
        m.Console.CloseInput();
        Assert.Null(m.Start("s-faults", [children.ToString()]));
        Assert.True(m.RunUntilAllExit(), m.Console.OutputText);
        Assert.Equal($"faults: {children} of {children} children killed by SIGSEGV\nPASS faults\n", m.Console.OutputText);
        return m;
    }

    [Fact]
    public void The_fault_record_keeps_the_last_faults_and_a_total_so_snapshots_stop_growing()
    {
        using var few = AfterFaults(FaultLog.Capacity);
        using var many = AfterFaults(300);
        Assert.Equal(FaultLog.Capacity, few.Kernel.Faults.Count);
        Assert.Equal(FaultLog.Capacity, many.Kernel.Faults.Count);
        Assert.Equal(300, many.Kernel.Faults.Total);
        Assert.All(many.Kernel.Faults, f => Assert.Equal((Signals.SIGSEGV, "s-faults"), (f.Signal, f.Name)));
        // the newest are kept, oldest first: pids 3..302 were the children (pid 2 the parent)
        Assert.Equal(Enumerable.Range(302 - FaultLog.Capacity + 1, FaultLog.Capacity), many.Kernel.Faults.Select(f => f.Pid));

        // 236 more deaths cost a snapshot nothing but the total's digits (the pids and names differ by a few bytes)
        byte[] fewState = few.SaveState(), manyState = many.SaveState();
        Assert.InRange(manyState.Length - fewState.Length, -64, 64 * 2);

        using var restored = Restored(manyState);
        Assert.Equal(300, restored.Kernel.Faults.Total);
        Assert.Equal(many.Kernel.Faults, restored.Kernel.Faults);
    }

    [Fact]
    public void A_version_2_snapshot_still_restores()
    {
        // Version 2 kept every fault (this kernel keeps the last FaultLog.Capacity, so it writes a
        // version 2 state with fewer) and length-prefixed the machine part.
        using var many = AfterFaults(40);
        byte[] v2 = many.Kernel.SaveSnapshot(formatVersion: 2);
        Assert.Equal(2, BitConverter.ToInt32(v2, 4));
        using var restored = new PosixMachine();
        restored.RestoreState(v2);
        Assert.Null(restored.Kernel.CheckInvariants());
        Assert.Equal(40, restored.Kernel.Faults.Total);
        Assert.Equal(many.Kernel.Faults, restored.Kernel.Faults);
        Assert.Equal(many.SaveState(), restored.SaveState());      // now saved in the current format, same state
        // it runs on as the original would
        Assert.Null(restored.Start("echo", ["still", "here"]));
        Assert.True(restored.RunUntilAllExit());
        Assert.EndsWith("still here\n", restored.Console.OutputText);

        // a version this kernel does not know is refused with the versions it reads
        byte[] future = (byte[])v2.Clone();
        BitConverter.TryWriteBytes(future.AsSpan(4), 99);
        SHA256.HashData(future.AsSpan(0, future.Length - 32)).CopyTo(future, future.Length - 32);
        var e = Assert.Throws<InvalidDataException>(() => new PosixMachine().RestoreState(future));
        Assert.Contains("version 99", e.Message);
    }

    [Fact]
    public void A_fault_record_restored_from_a_longer_list_keeps_its_last_faults()
    {
        var faults = Enumerable.Range(1, 100).Select(i => new PosixFault(i, "p", Signals.SIGSEGV, $"fault {i}")).ToList();
        var log = new FaultLog();
        log.Restore(faults, 100);
        Assert.Equal(faults.Skip(100 - FaultLog.Capacity), log);
        Assert.Equal(100, log.Total);
        Assert.Throws<ArgumentException>(() => log.Restore(faults, 99));
    }

    /// <summary>A stream that only counts what is written to it.</summary>
    private sealed class CountingStream : Stream
    {
        public long Written;
        public override void Write(ReadOnlySpan<byte> buffer) => Written += buffer.Length;
        public override void Write(byte[] buffer, int offset, int count) => Written += count;
        public override void Flush() { }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Written;
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    [Fact]
    public void A_big_machine_is_saved_to_a_file_and_restored_from_it_without_copies_of_its_size_in_memory()
    {
        // 40 MiB of heap and a 2 MiB file in a 64 MiB machine, idle waiting for input
        using var big = new PosixMachine();
        Assert.Null(big.Start("s-hold", ["40", "2048"]));
        Assert.False(big.RunUntilAllExit());
        Assert.Equal("holding\n", big.Console.OutputText);
        Assert.True(big.Kernel.IdleWaitingForInput);

        var counter = new CountingStream();
        big.SaveState(counter);                                   // warm-up (JIT), and the size
        long size = counter.Written;
        Assert.True(size > 42L << 20, $"state of {size} bytes");

        long before = GC.GetAllocatedBytesForCurrentThread();
        big.SaveState(new CountingStream());
        long saving = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(saving < size / 16, $"saving a {size >> 20} MiB state allocated {saving >> 10} KiB");

        string path = Path.Combine(Path.GetTempPath(), $"lab-posix-{Guid.NewGuid():N}.bin");
        try
        {
            using (var file = File.Create(path)) big.SaveState(file);
            Assert.Equal(size, new FileInfo(path).Length);
            Assert.Equal(big.SaveState(), File.ReadAllBytes(path));   // the same bytes as in memory

            using var restored = new PosixMachine();
            long fileBytes = 0;
            before = GC.GetAllocatedBytesForCurrentThread();
            using (var file = File.OpenRead(path)) restored.RestoreState(file);
            long restoring = GC.GetAllocatedBytesForCurrentThread() - before;
            foreach (var (_, node) in restored.Fs.Entries) fileBytes += node.SharedData ? 0 : node.Data.Length;
            // the files' contents must be allocated (they live in managed arrays); memory pages are not
            Assert.True(restoring < fileBytes + size / 16, $"restoring a {size >> 20} MiB state ({fileBytes >> 10} KiB of files) allocated {restoring >> 10} KiB");
            Assert.Equal(big.Fs.Used, restored.Fs.Used);

            foreach (var m in new[] { big, restored }) m.Console.CloseInput();
            Assert.Equal(Finish(big), Finish(restored));
            Assert.EndsWith("PASS hold\n", restored.Console.OutputText);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_snapshot_after_a_session_prefix_restores_from_its_position_in_the_stream()
    {
        // The server writes its own header (the console screen) before the machine in one file.
        byte[] state = MidRunState(out var source);
        using (source)
        {
            var file = new MemoryStream();
            file.Write("session header"u8);
            source.SaveState(file);
            file.Position = "session header"u8.Length;
            using var restored = new PosixMachine();
            restored.RestoreState(file);
            Assert.Equal(state, restored.SaveState());
            // not seekable: refused with the reason
            Assert.Throws<ArgumentException>(() => new PosixMachine().RestoreState(new CountingStream()));
        }
    }
}
