using Lab.Kernel.Posix;

namespace Lab.Kernel.Tests;

/// <summary>
/// The POSIX file system's quota: a guest writing without end (`cat /dev/zero > f`) gets a short
/// write and then ENOSPC at the quota (by default the machine's memory size), the host's memory for
/// files stays within it, and the kernel and machine go on working. Space comes back when a file is
/// unlinked and its last descriptor closed.
/// </summary>
public class PosixFileSystemTests
{
    /// <summary>Runs s-fill in a machine, watching the file system's use after every system call.</summary>
    private static (PosixMachine Machine, long PeakUsed) Fill(PosixOptions options)
    {
        var m = new PosixMachine(options);
        m.Console.CloseInput();
        long peak = 0;
        m.Kernel.Observer = _ => peak = Math.Max(peak, m.Fs.Used);
        Assert.Null(m.Start("s-fill", ["/home/student/zeros"]));
        Assert.True(m.RunUntilAllExit(), m.Console.OutputText);
        m.Kernel.Observer = null;
        return (m, peak);
    }

    private static void AssertHealthy(PosixMachine m)
    {
        Assert.Null(m.Kernel.KernelError);
        Assert.Null(m.Kernel.CheckInvariants());
        Assert.Equal(m.InitialFreePages, m.Kernel.FreePages);
        // the machine still runs programs, and files can be written again
        Assert.Null(m.Start("sh", ["-c", "echo after > /tmp/after; cat /tmp/after"]));
        Assert.True(m.RunUntilAllExit());
        Assert.EndsWith("after\n", m.Console.OutputText);
    }

    [Fact]
    public void Writing_without_end_gets_ENOSPC_at_the_quota_which_defaults_to_the_memory_size()
    {
        var (m, peak) = Fill(new PosixOptions { MemorySize = 16UL << 20 });
        using (m)
        {
            Assert.Equal(16L << 20, m.Fs.Quota);
            string output = m.Console.OutputText;
            Assert.True(m.ExitCode == 0, output);
            Assert.Contains("PASS fill-enospc\n", output);
            Assert.Contains("PASS fill-room-after-unlink\n", output);
            var written = long.Parse(output.Split("fill: ")[1].Split(' ')[0]);
            // nearly all of the quota went to the file (the rest: the other files' names and inodes)
            Assert.InRange(written, (16L << 20) - (256 << 10), 16L << 20);
            Assert.InRange(peak, (16L << 20) - (64 << 10), 16L << 20);    // it was full, and never beyond
            AssertHealthy(m);
        }
    }

    [Fact]
    public void The_quota_is_a_machine_option()
    {
        var (m, peak) = Fill(new PosixOptions { MemorySize = 16UL << 20, FileSystemQuota = 1UL << 20 });
        using (m)
        {
            Assert.True(m.ExitCode == 0, m.Console.OutputText);
            Assert.InRange(peak, (1L << 20) - (64 << 10), 1L << 20);
            AssertHealthy(m);
        }
    }

    [Fact]
    public void An_unlinked_file_keeps_its_space_until_its_last_open_file_goes()
    {
        var fs = new PosixFs(quota: 1 << 20);
        long empty = fs.Used;
        var node = fs.Create("/tmp/big")!;
        Assert.True(fs.Reserve(node, 600_000));
        Assert.False(fs.Reserve(node, 2_000_000));                 // beyond the quota: nothing changes
        Assert.True(fs.Used - empty >= 600_000);
        fs.Opened(node);
        fs.Opened(node);                                           // two open files (say, two opens)
        Assert.True(fs.Remove("/tmp/big"));
        Assert.False(fs.HasRoomFor("/tmp/other") && fs.Reserve(fs.Create("/tmp/other")!, 600_000));
        fs.Remove("/tmp/other");
        fs.Closed(node);
        Assert.True(fs.Used - empty >= 600_000);                   // still open once
        fs.Closed(node);
        Assert.Equal(empty, fs.Used);                              // gone with the last one
    }

    /// <summary>Hard links share one inode (its data charged once, each name charged), rename moves a
    /// directory with everything under it, and once every name is gone the file system holds what it
    /// held before: nothing leaks from the quota.</summary>
    [Fact]
    public void Hard_links_renames_and_symlinks_are_charged_and_given_back()
    {
        var fs = new PosixFs(quota: 1 << 20);
        long empty = fs.Used;
        fs.MkDir("/tmp/d");
        var node = fs.Create("/tmp/d/f")!;
        Assert.True(fs.Reserve(node, 100_000));
        long one = fs.Used;
        fs.HardLink("/tmp/g", node);
        Assert.Equal(2, fs.LinkCount(node));
        Assert.InRange(fs.Used - one, 1, 1000);                    // a name, not a second copy of the data
        fs.Symlink("/tmp/s", "d/f");
        fs.Rename("/tmp/d", "/tmp/e");
        Assert.Same(node, fs.Get("/tmp/e/f"));
        Assert.Null(fs.Get("/tmp/d/f"));
        Assert.True(fs.Remove("/tmp/e/f"));
        Assert.Equal(1, fs.LinkCount(node));
        Assert.True(fs.Used - empty >= 100_000);                   // /tmp/g still names it
        Assert.True(fs.Remove("/tmp/g"));
        Assert.True(fs.Remove("/tmp/s"));
        Assert.True(fs.RemoveDir("/tmp/e"));
        Assert.Equal(empty, fs.Used);
    }

    [Fact]
    public void Truncating_gives_the_space_back_and_the_bytes_past_the_end_are_zero()
    {
        using var m = new PosixMachine(new PosixOptions { MemorySize = 16UL << 20 });
        long boot = m.Fs.Used;
        m.Console.CloseInput();
        // write 9 bytes, truncate, seek past the end and write: the hole reads as zeros, not old bytes
        Assert.Null(m.Start("sh", ["-c", "echo 12345678 > /tmp/t; echo x > /tmp/t; wc -c /tmp/t"]));
        Assert.True(m.RunUntilAllExit());
        Assert.Contains("2 /tmp/t", m.Console.OutputText);
        Assert.Equal(2, m.Fs.Lookup("/tmp/t")!.Length);
        Assert.All(m.Fs.Lookup("/tmp/t")!.Data.Skip(2), b => Assert.Equal(0, b));
        Assert.True(m.Fs.Used - boot < 4096);
    }
}
