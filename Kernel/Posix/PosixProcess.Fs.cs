namespace Lab.Kernel.Posix;

/// <summary>What /proc shows of a process, its umask, and poll's wait (the files family's part of a process).</summary>
public sealed partial class PProcess
{
    /// <summary>The executable's path (/proc/PID/exe) and its argv, each string NUL-terminated
    /// (/proc/PID/cmdline); set by execve, inherited by fork.</summary>
    internal string Exe = "";
    internal byte[] CmdLine = [];
    /// <summary>Instructions (nanoseconds of machine time) it ran (utime in /proc/PID/stat), and the
    /// machine time it last went on the CPU.</summary>
    internal ulong CpuNs, RanAt;
    /// <summary>umask: the permission bits new files and directories lose (022, Linux's default).</summary>
    internal uint Umask = 0x12;
    /// <summary>Blocked in poll or select: woken by any event, and by its timeout (WakeAt) if any.</summary>
    internal bool Polling;

    /// <summary>fork: the child shows the parent's program until it execs.</summary>
    internal void InheritProcInfo(PProcess parent) { Exe = parent.Exe; CmdLine = parent.CmdLine; Umask = parent.Umask; }
}
