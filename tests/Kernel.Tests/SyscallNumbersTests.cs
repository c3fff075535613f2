using System.Reflection;
using System.Text.RegularExpressions;
using Lab.Kernel.Weensy;

namespace Lab.Kernel.Tests;

/// <summary>The one syscall list: userland/include/syscall_numbers.h and SyscallNumbers.cs agree.</summary>
public class SyscallNumbersTests
{
    private static string RepoFile(string relative, [System.Runtime.CompilerServices.CallerFilePath] string thisFile = "")
    {
        var dir = new DirectoryInfo(Path.GetDirectoryName(thisFile)!);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Lab.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return Path.Combine(dir!.FullName, relative);
    }

    [Fact]
    public void C_header_and_CSharp_constants_agree()
    {
        var header = new Dictionary<string, int>();
        foreach (Match m in Regex.Matches(File.ReadAllText(RepoFile("userland/include/syscall_numbers.h")),
                     @"^#define\s+((?:SYS|INT_SYS)_\w+)\s+(\d+)", RegexOptions.Multiline))
            header[m.Groups[1].Value] = int.Parse(m.Groups[2].Value);
        var csharp = typeof(SyscallNumbers).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && (f.Name.StartsWith("SYS_") || f.Name.StartsWith("INT_SYS_")))
            .ToDictionary(f => f.Name, f => (int)f.GetRawConstantValue()!);
        Assert.NotEmpty(header);
        Assert.Equal(csharp.OrderBy(p => p.Key), header.OrderBy(p => p.Key));
        Assert.Equal(39, header["SYS_getpid"]);
        Assert.Equal(1000, header["SYS_page_alloc"]);
    }

    [Fact]
    public void Embedded_programs_have_text_and_data_segments()
    {
        foreach (var flavour in Enum.GetValues<ProgramFlavour>())
        {
            var names = Weensy.Plumbing.EmbeddedPrograms.Names(flavour);
            Assert.Contains("p-allocator4", names);
            var elf = Weensy.Plumbing.EmbeddedPrograms.Load("p-allocator3", flavour);
            Assert.Equal(0x180000UL, elf.Entry);
            Assert.Equal(2, elf.Segments.Count);
            Assert.False(elf.Segments[0].Writable);
            Assert.True(elf.Segments[1].Writable);
            Assert.Equal(0x181000UL, elf.Segments[1].VirtualAddress);
        }
    }
}
