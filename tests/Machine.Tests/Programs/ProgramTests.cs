using System.Runtime.CompilerServices;
using System.Text;
using Lab.TestSupport;

namespace Lab.Machine.Tests.Programs;

/// <summary>
/// Whole-program differential tests: each freestanding C program in this folder is built at every
/// optimisation level, with and without -mgeneral-regs-only, and the same ELF is run natively on the
/// host and in the Machine (<see cref="BareElfRunner"/>). Output bytes and exit codes must match.
/// </summary>
public class ProgramTests
{
    public static readonly string[] Programs = ["sort", "hash", "printf", "recursion", "switch", "int128", "strings", "vector", "bits"];
    public static readonly string[] OptLevels = ["-O0", "-O1", "-O2", "-O3", "-Os"];

    /// <summary>No legitimate program here needs more than a few tens of millions of instructions.</summary>
    private const ulong Budget = 500_000_000;

    public static TheoryData<string, string, bool> Cases()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var p in Programs)
            foreach (var o in OptLevels)
                foreach (bool gpr in new[] { false, true })
                    data.Add(p, o, gpr);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void NativeAndMachineAgree(string program, string opt, bool generalRegsOnly)
    {
        var flags = new List<string> { opt };
        if (generalRegsOnly) flags.Add("-mgeneral-regs-only");
        string exe = BuildProgram(program, flags);
        AssertSameBehaviour(exe, []);
    }

    /// <summary>argc/argv/envp/auxv as the program sees them, with arguments; rsp alignment at entry.</summary>
    [Theory]
    [InlineData("-O0")]
    [InlineData("-O2")]
    public void InitialStackMatchesLinux(string opt)
    {
        string exe = BuildProgram("stackinfo", [opt, "-Wl,-e,stack_start"]);
        var emu = AssertSameBehaviour(exe, ["first", "second arg", ""]);
        Assert.Contains("AT_PAGESZ=4096\nAT_RANDOM=present\n", emu.StdoutText);
        Assert.Contains("rsp%16 at entry=0\n", emu.StdoutText);
    }

    /// <summary>-Wl,-N puts text and data in one segment that is not page aligned: data and bss cross pages.</summary>
    [Theory]
    [InlineData("sort")]
    [InlineData("hash")]
    [InlineData("strings")]
    public void UnalignedSegmentLayout(string program)
    {
        string exe = BuildProgram(program, ["-O2", "-Wl,-N"]);
        AssertSameBehaviour(exe, []);
    }

    // ------------------------------------------------------------------------------------------

    internal static string ProgramsDir([CallerFilePath] string thisFile = "") => Path.GetDirectoryName(thisFile)!;

    internal static string BuildProgram(string program, IReadOnlyList<string> flags)
    {
        string dir = ProgramsDir();
        string name = program + string.Concat(flags.Select(f => f.Replace("-Wl,", "").Replace(",", "").Replace("=", ""))) + ".elf";
        return FreestandingGcc.Build(
            [Path.Combine(dir, program + ".c"), Path.Combine(dir, "rt.c")],
            flags.Concat(["-Wall", "-Werror"]).ToList(),
            name,
            headers: [Path.Combine(dir, "rt.h")]);
    }

    internal static BareElfResult AssertSameBehaviour(string exe, IReadOnlyList<string> args)
    {
        var native = NativeProcess.Run(exe, args);
        Assert.True(native.ExitCode < 128, $"the program itself fails natively: exit {native.ExitCode}\n{Encoding.UTF8.GetString(native.Stderr)}");

        var emu = BareElfRunner.Run(exe, args, new BareElfOptions { InstructionBudget = Budget });
        if (emu.Outcome != BareElfOutcome.Exited)
            Assert.Fail($"{Path.GetFileName(exe)} in the Machine {emu.Describe()}"
                + (emu.UnsupportedSyscalls.Count > 0 ? $"; unsupported syscalls: {string.Join(", ", emu.UnsupportedSyscalls)}" : "")
                + $"\n{FirstDifference(native.Stdout, emu.Stdout)}");
        if (!native.Stdout.AsSpan().SequenceEqual(emu.Stdout))
            Assert.Fail($"{Path.GetFileName(exe)}: stdout differs ({emu.Describe()})\n{FirstDifference(native.Stdout, emu.Stdout)}");
        Assert.Equal(native.Stderr, emu.Stderr);
        Assert.Equal(native.ExitCode, emu.ExitCode);
        return emu;
    }

    /// <summary>Names the first line where the outputs differ, with a little context.</summary>
    internal static string FirstDifference(byte[] expected, byte[] actual)
    {
        string[] e = Encoding.UTF8.GetString(expected).Split('\n');
        string[] a = Encoding.UTF8.GetString(actual).Split('\n');
        for (int i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            string? el = i < e.Length ? e[i] : null, al = i < a.Length ? a[i] : null;
            if (el != al)
                return $"first difference at line {i + 1}:\n  native:  {el ?? "<end of output>"}\n  machine: {al ?? "<end of output>"}"
                    + $"\n(native {expected.Length} bytes, machine {actual.Length} bytes)";
        }
        return $"outputs agree up to the machine's {actual.Length} bytes";
    }
}
