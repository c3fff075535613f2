using System.Reflection;
using System.Text.RegularExpressions;
using Lab.Kernel.Posix;

namespace Lab.Kernel.Tests;

/// <summary>
/// The POSIX kernel's one list of system calls and the numbers that cross the user boundary: the C
/// header the libc is built with is generated from the table, errno.h, signal.h and fcntl.h agree
/// with Linux.cs, and the names the debugger and the event log use come from the same rows.
/// </summary>
public class PosixSyscallTableTests
{
    private static string RepoFile(string relative, [System.Runtime.CompilerServices.CallerFilePath] string thisFile = "")
    {
        var dir = new DirectoryInfo(Path.GetDirectoryName(thisFile)!);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Lab.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return Path.Combine(dir!.FullName, relative);
    }

    private static Dictionary<string, long> Defines(string header, string pattern)
    {
        var defines = new Dictionary<string, long>();
        foreach (Match m in Regex.Matches(File.ReadAllText(RepoFile(header)), $@"^#define\s+({pattern})\s+(0[0-7]*|[1-9][0-9]*)\s*$", RegexOptions.Multiline))
        {
            string v = m.Groups[2].Value;
            defines[m.Groups[1].Value] = v.Length > 1 && v[0] == '0' ? Convert.ToInt64(v, 8) : long.Parse(v);
        }
        return defines;
    }

    [Fact]
    public void The_generated_C_header_has_every_row_of_the_table_and_nothing_else()
    {
        const string header = "userland/build/posix/include/posix_syscalls.h";
        var numbers = Defines(header, @"SYS_\w+");
        var table = PosixKernel.Syscalls.ToDictionary(s => "SYS_" + s.Name, s => (long)s.Number);
        Assert.Equal(table.OrderBy(p => p.Key), numbers.OrderBy(p => p.Key));

        // the X-macro list, in table order
        var xs = Regex.Matches(File.ReadAllText(RepoFile(header)), @"^\s+X\((\d+), (\w+)\) \\$", RegexOptions.Multiline)
            .Select(m => (int.Parse(m.Groups[1].Value), m.Groups[2].Value));
        Assert.Equal(PosixKernel.Syscalls.Select(s => (s.Number, s.Name)), xs);
        Assert.Equal(116, table.Count);
    }

    [Fact]
    public void Names_and_numbers_come_from_the_table()
    {
        foreach (var s in PosixKernel.Syscalls)
        {
            Assert.Equal(s.Name, PosixKernel.SyscallName((ulong)s.Number));
            Assert.Equal((ulong)s.Number, PosixKernel.SyscallNumber(s.Name));
        }
        Assert.Equal("syscall_40", PosixKernel.SyscallName(40));      // sendfile: not in the table
        Assert.Equal(40UL, PosixKernel.SyscallNumber("syscall_40"));
        Assert.Equal(57UL, PosixKernel.SyscallNumber("57"));
        Assert.Null(PosixKernel.SyscallNumber("syscall_57"));    // 57 has a name: fork
        Assert.Null(PosixKernel.SyscallNumber("nosuchcall"));
        Assert.Equal(PosixKernel.Syscalls.Length, PosixKernel.Syscalls.Select(s => s.Number).Distinct().Count());
    }

    private static Dictionary<string, long> Constants(Type type) =>
        type.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.Name.ToUpperInvariant() == f.Name)
            .ToDictionary(f => f.Name, f => Convert.ToInt64(f.GetRawConstantValue()));

    [Fact]
    public void Errno_signal_and_open_flag_values_are_the_C_headers_values()
    {
        var errno = Defines("userland/posix/include/errno.h", @"E[A-Z0-9]+");
        foreach (var (name, value) in Constants(typeof(Errno))) Assert.Equal((name, errno[name]), (name, value));

        var signals = Defines("userland/posix/include/signal.h", @"SIG[A-Z0-9]+");
        foreach (var (name, value) in Constants(typeof(Signals))) Assert.Equal((name, signals[name]), (name, value));

        var fcntl = Defines("userland/posix/include/fcntl.h", @"O_[A-Z]+");
        int checkedFlags = 0;
        foreach (var flag in Enum.GetValues<OpenFlags>())
        {
            if (!fcntl.TryGetValue(flag.ToString(), out long c)) continue;   // a flag the libc does not name
            Assert.Equal((flag.ToString(), c), (flag.ToString(), (long)flag));
            checkedFlags++;
        }
        Assert.True(checkedFlags >= 10, $"only {checkedFlags} open flags compared");

        long wnohang = (long)WaitOptions.WNOHANG;
        Assert.Equal(Defines("userland/posix/include/sys/wait.h", "WNOHANG")["WNOHANG"], wnohang);
        var stat = Defines("userland/posix/include/sys/stat.h", @"S_IF[A-Z]+");
        foreach (var (name, value) in Constants(typeof(StatMode)).Where(c => c.Key.StartsWith("S_IF")))
            Assert.Equal((name, stat[name]), (name, value));
    }
}
