using System.Text;
using Lab.Kernel.Common;
using Lab.Machine;

namespace Lab.Kernel.Posix;

// /proc: a file system made from the kernel's state each time a name in it is looked up (Linux's
// procfs). Nothing is stored: a lookup makes a fresh inode (ProcPath set) holding the file's text as
// it is at that moment, which an open file then keeps (a read sees one consistent snapshot, as a
// seq_file read does for small files). Read-only: creating, writing, renaming or removing anything
// here is -EACCES (PosixKernel.Names.cs, OpenPath).
//
//   /proc/self             -> the caller's pid
//   /proc/meminfo          MemTotal, MemFree, MemAvailable... from the physical page counts (busybox free)
//   /proc/uptime, /proc/loadavg, /proc/stat, /proc/mounts
//   /proc/PID/stat         Linux's field layout (busybox ps and top parse it)
//   /proc/PID/status       Name, State, Pid, PPid, Uid, Gid, VmSize, VmRSS...
//   /proc/PID/cmdline      argv, each NUL-terminated;  /proc/PID/comm  the name
//   /proc/PID/exe, cwd     links to the program's path and the current directory
//   /proc/PID/fd/N         a link per open descriptor: the file's path, /dev/tty, pipe:[N]
public sealed partial class PosixKernel
{
    private const long ClockTicksPerSecond = 100;   // USER_HZ: the unit of /proc's times

    /// <summary>The /proc node at <paramref name="full"/> (normalized, inside /proc) as the caller
    /// <paramref name="p"/> sees it, or null when there is none.</summary>
    private Inode? ProcNode(PProcess p, string full)
    {
        if (full == "/proc") return ProcDir(full);
        var parts = full[6..].Split('/');
        if (parts.Length == 1)
        {
            string name = parts[0];
            if (name == "self") return ProcLink(full, p.Pid.ToString());
            if (ProcPid(name) is { }) return ProcDir(full);
            string? text = name switch
            {
                "meminfo" => MemInfo(),
                "uptime" => $"{Seconds(_m.Clock)} {Seconds(0)}\n",
                "loadavg" => $"0.00 0.00 0.00 {_procs.Count(q => q.State == PState.Runnable)}/{_procs.Count} {_nextPid - 1}\n",
                "mounts" => "rootfs / tmpfs rw 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n",
                "stat" => CpuStat(),
                _ => null,
            };
            return text is null ? null : ProcFile(full, text);
        }
        var q = ProcPid(parts[0]);
        if (q is null) return null;
        if (parts.Length == 2)
        {
            return parts[1] switch
            {
                "stat" => ProcFile(full, PidStat(q)),
                "status" => ProcFile(full, PidStatus(q)),
                "cmdline" => ProcFile(full, q.CmdLine),
                "comm" => ProcFile(full, Comm(q) + "\n"),
                "exe" => q.State == PState.Zombie ? null : ProcLink(full, q.Exe),
                "cwd" => q.State == PState.Zombie ? null : ProcLink(full, q.Cwd),
                "fd" => ProcDir(full),
                _ => null,
            };
        }
        if (parts.Length == 3 && parts[1] == "fd" && int.TryParse(parts[2], out int fd) && fd.ToString() == parts[2]
            && fd is >= 0 and < MaxFds && q.Fds[fd] is { } f)
            return ProcLink(full, FdTarget(f));
        return null;
    }

    /// <summary>
    /// open of a path whose links lead to /proc/PID/fd/N (/dev/stdin, /dev/stdout, /dev/stderr) where
    /// N is the console or a pipe: a new open file on that same console (writing to N's stream) or
    /// pipe (one more reader or writer), as Linux's magic link reopens the file itself rather than a
    /// name. Null when the path leads elsewhere (the caller opens it by name).
    /// </summary>
    private OpenFile? ReopenThroughFdLink(PProcess p, string path, OpenFlags flags)
    {
        for (int hops = 0; hops <= MaxSymlinks; hops++)
        {
            if (Resolve(p, path, follow: false, out string full, out var node) != 0 || node?.LinkTarget is not { } target) return null;
            var parts = full.Split('/');   // "", "proc", PID, "fd", N
            if (node.ProcPath is not null && parts.Length == 5 && parts[3] == "fd" && ProcPid(parts[2]) is { } q
                && int.TryParse(parts[4], out int n) && q.Fds[n] is { } f)
            {
                var access = flags & OpenFlags.O_ACCMODE;
                bool read = access != OpenFlags.O_WRONLY, write = access != OpenFlags.O_RDONLY;
                switch (f.Kind)
                {
                    case FileKind.Console:
                        return new OpenFile { Kind = FileKind.Console, Readable = read, Writable = write, Flags = flags & ~OpenFlags.O_CLOEXEC,
                            ConsoleStream = f.ConsoleStream >= 0 ? f.ConsoleStream : n is 1 or 2 ? n : -1 };
                    case FileKind.PipeRead or FileKind.PipeWrite when read != write:
                        if (read) f.Pipe!.Readers++; else f.Pipe!.Writers++;
                        return new OpenFile { Kind = read ? FileKind.PipeRead : FileKind.PipeWrite, Pipe = f.Pipe, Readable = read, Writable = write, Flags = flags & ~OpenFlags.O_CLOEXEC };
                    default:
                        return null;
                }
            }
            path = target.StartsWith('/') ? target : PosixFs.Parent(full) + "/" + target;
        }
        return null;
    }

    /// <summary>The entries of the /proc directory <paramref name="dir"/> (for getdents64).</summary>
    private List<(string Name, Inode Node)> ProcList(PProcess p, string dir)
    {
        var names = new List<string>();
        if (dir == "/proc")
        {
            names.AddRange(["loadavg", "meminfo", "mounts", "self", "stat", "uptime"]);
            names.AddRange(_procs.Select(q => q.Pid).Order().Select(pid => pid.ToString()));
        }
        else if (dir.EndsWith("/fd", StringComparison.Ordinal) && ProcPid(dir[6..^3]) is { } q)
        {
            for (int fd = 0; fd < MaxFds; fd++) if (q.Fds[fd] is not null) names.Add(fd.ToString());
        }
        else names.AddRange(["cmdline", "comm", "cwd", "exe", "fd", "stat", "status"]);
        var list = new List<(string, Inode)>();
        foreach (var name in names)
            if (ProcNode(p, dir + "/" + name) is { } node) list.Add((name, node));
        return list;
    }

    /// <summary>The process a /proc/PID name stands for (zombies too, as Linux shows them), or null.</summary>
    private PProcess? ProcPid(string name) =>
        int.TryParse(name, out int pid) && pid.ToString() == name && _byPid.TryGetValue(pid, out var q) ? q : null;

    private static Inode ProcDir(string path) => new() { IsDir = true, ProcPath = path, Ino = ProcIno(path), Perm = 0x16D, SharedData = true };

    private static Inode ProcLink(string path, string target) => new()
    {
        LinkTarget = target, ProcPath = path, Ino = ProcIno(path), Perm = 0x1FF, SharedData = true,
        Data = Encoding.UTF8.GetBytes(target), Length = Encoding.UTF8.GetByteCount(target),
    };

    private static Inode ProcFile(string path, string text) => ProcFile(path, Encoding.UTF8.GetBytes(text));

    /// <summary>A /proc file: its text shared (SharedData), so it costs the file system's quota nothing.</summary>
    private static Inode ProcFile(string path, byte[] bytes) =>
        new() { ProcPath = path, Ino = ProcIno(path), Perm = 0x124, Data = bytes, Length = bytes.Length, SharedData = true };

    /// <summary>A stable inode number for a /proc path (FNV-1a; far above the tree's numbers).</summary>
    private static long ProcIno(string path)
    {
        uint h = 2166136261;
        foreach (char c in path) h = (h ^ c) * 16777619;
        return (1L << 32) | h;
    }

    /// <summary>"seconds.hundredths" of machine time.</summary>
    private static string Seconds(ulong ns) => $"{ns / 1_000_000_000}.{ns / 10_000_000 % 100:D2}";

    /// <summary>What /proc/PID/fd/N points at: a file's path (" (deleted)" once unlinked), the
    /// console as /dev/tty, a pipe as pipe:[N] (Linux's names).</summary>
    private string FdTarget(OpenFile f) => f.Kind switch
    {
        FileKind.Console => "/dev/tty",
        FileKind.PipeRead or FileKind.PipeWrite => $"pipe:[{(uint)System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(f.Pipe!) % 100000 + 10000}]",
        _ => f.Node is null ? "anon_inode:[unknown]" : PathOfNode(f.Node) ?? "/(deleted)",
    };

    /// <summary>The name as Linux's comm holds it: at most 15 bytes.</summary>
    private static string Comm(PProcess q) => q.Name.Length > 15 ? q.Name[..15] : q.Name;

    private static char StateLetter(PProcess q) => q.State == PState.Zombie ? 'Z' : q.Stopped ? 'T' : q.State == PState.Blocked ? 'S' : 'R';

    /// <summary>Pages mapped in <paramref name="q"/>'s address space (its resident set: nothing is swapped).</summary>
    private long MappedPages(PProcess q)
    {
        if (q.State == PState.Zombie || q.Root.Value == 0) return 0;
        long n = 0;
        _pt.ForEach(q.Root, new VirtAddr(0), new VirtAddr(UserLimit), (in Mapping _) => n++);
        return n;
    }

    /// <summary>/proc/PID/stat: the 52 fields of Linux's proc_pid_stat, in its order (process group,
    /// session, the console's foreground group); times are in clock ticks of machine time.</summary>
    private string PidStat(PProcess q)
    {
        long pages = MappedPages(q);
        ulong ticks = q.CpuNs / (1_000_000_000 / ClockTicksPerSecond);
        var f = new List<object>
        {
            q.Pid, $"({Comm(q)})", StateLetter(q), q.Parent, q.Pgid, q.Sid,
            PosixFs.DevTty, Tty.ForegroundPgrp, 0x400000,   // tty_nr (the console), tpgid, flags
            0, 0, 0, 0,                              // minflt cminflt majflt cmajflt
            ticks, 0, 0, 0,                          // utime stime cutime cstime
            20, 0, 1, 0,                             // priority nice num_threads itrealvalue
            0,                                       // starttime
            pages * 4096, pages, ulong.MaxValue,     // vsize rss rsslim
            0, 0, 0, 0, 0,                           // startcode endcode startstack kstkesp kstkeip
            0, (long)q.SigMask, 0, 0,                // signal blocked sigignore sigcatch
            0, 0, 0, 17, 0, 0, 0, 0, 0, 0,           // wchan nswap cnswap exit_signal processor rt_priority policy delayacct guest_time cguest_time
            0, 0, (long)q.BrkStart, 0, 0, 0, 0,      // start_data end_data start_brk arg_start arg_end env_start env_end
            q.State == PState.Zombie ? q.WaitStatus : 0,
        };
        return string.Join(' ', f) + "\n";
    }

    private string PidStatus(PProcess q)
    {
        long kb = MappedPages(q) * 4;
        string state = q.State == PState.Zombie ? "Z (zombie)" : q.Stopped ? "T (stopped)" : q.State == PState.Blocked ? "S (sleeping)" : "R (running)";
        var sb = new StringBuilder();
        sb.Append($"Name:\t{Comm(q)}\nUmask:\t{Convert.ToString(q.Umask, 8).PadLeft(4, '0')}\nState:\t{state}\nTgid:\t{q.Pid}\nNgid:\t0\nPid:\t{q.Pid}\nPPid:\t{q.Parent}\nTracerPid:\t0\n");
        sb.Append($"Uid:\t{Identity.Uid}\t{Identity.Uid}\t{Identity.Uid}\t{Identity.Uid}\nGid:\t{Identity.Gid}\t{Identity.Gid}\t{Identity.Gid}\t{Identity.Gid}\n");
        sb.Append($"FDSize:\t{MaxFds}\n");
        if (q.State != PState.Zombie) sb.Append($"VmPeak:\t{kb,8} kB\nVmSize:\t{kb,8} kB\nVmHWM:\t{kb,8} kB\nVmRSS:\t{kb,8} kB\n");
        sb.Append($"Threads:\t1\nSigBlk:\t{q.SigMask:x16}\n");
        return sb.ToString();
    }

    /// <summary>/proc/meminfo from the physical page counts: all memory is the machine's, free is the
    /// free pages (nothing is cached or swapped).</summary>
    private string MemInfo()
    {
        long total = (long)PageCount * 4, free = (long)FreePages * 4;
        var sb = new StringBuilder();
        void Line(string name, long kb) => sb.Append($"{name + ":",-16}{kb,8} kB\n");
        Line("MemTotal", total); Line("MemFree", free); Line("MemAvailable", free);
        Line("Buffers", 0); Line("Cached", 0); Line("SwapCached", 0);
        Line("Active", total - free); Line("Inactive", 0);
        Line("SwapTotal", 0); Line("SwapFree", 0); Line("Dirty", 0);
        Line("Shmem", 0); Line("Slab", 0); Line("SReclaimable", 0);
        return sb.ToString();
    }

    /// <summary>/proc/stat: one CPU whose busy time is the processes' and the rest idle (top's percentages).</summary>
    private string CpuStat()
    {
        ulong tick = 1_000_000_000 / ClockTicksPerSecond;
        ulong busy = 0;
        foreach (var q in _procs) busy += q.CpuNs;
        ulong user = busy / tick, idle = _m.Clock / tick > user ? _m.Clock / tick - user : 0;
        string cpu = $"{user} 0 0 {idle} 0 0 0 0 0 0";
        return $"cpu  {cpu}\ncpu0 {cpu}\nintr 0\nctxt 0\nbtime 0\nprocesses {_nextPid - 2}\n" +
               $"procs_running {_procs.Count(q => q.State == PState.Runnable)}\nprocs_blocked 0\n";
    }
}
