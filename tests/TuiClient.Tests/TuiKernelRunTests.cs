using System.Buffers.Binary;
using Lab.TestSupport;
using Lab.TuiClient;

namespace Lab.TuiClient.Tests;

/// <summary>`tui run --kernel FILE` end to end (in-process): the log the grader reads, screens, verdicts, bad files.</summary>
public class TuiKernelRunTests
{
    private static (int Code, string Out, string Err) Tui(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = Cli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>A minimal kernel ELF: one executable PT_LOAD at 0x40000 holding <paramref name="code"/>, entered there.</summary>
    internal static byte[] TinyKernel(params byte[] code)
    {
        const int Header = 64, Ph = 56, Offset = 0x1000;
        var elf = new byte[Offset + code.Length];
        var s = elf.AsSpan();
        s[0] = 0x7F; s[1] = (byte)'E'; s[2] = (byte)'L'; s[3] = (byte)'F'; s[4] = 2; s[5] = 1; s[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(s[16..], 2);          // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(s[18..], 62);         // x86-64
        BinaryPrimitives.WriteUInt32LittleEndian(s[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(s[24..], 0x40000);    // entry
        BinaryPrimitives.WriteUInt64LittleEndian(s[32..], Header);     // phoff
        BinaryPrimitives.WriteUInt16LittleEndian(s[52..], Header);
        BinaryPrimitives.WriteUInt16LittleEndian(s[54..], Ph);
        BinaryPrimitives.WriteUInt16LittleEndian(s[56..], 1);
        var ph = s[Header..];
        BinaryPrimitives.WriteUInt32LittleEndian(ph, 1);               // PT_LOAD
        BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], 5);          // R+X
        BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], Offset);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], 0x40000);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], 0x40000);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], (ulong)code.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], (ulong)code.Length);
        code.CopyTo(s[Offset..]);
        return elf;
    }

    private static string Temp(string suffix) => Path.Combine(Path.GetTempPath(), $"lab-kernel-{Guid.NewGuid():N}{suffix}");

    [Fact]
    public void AGradedKernelRunsToPowerOffAndItsLogPassesTheGrader()
    {
        string log = Temp(".log");
        try
        {
            var (code, output, err) = Tui("run", "--kernel", LabKernelBuild.PathOf("grade-step7"), "--log", log, "--screen",
                "--instructions-per-second", "60000000");
            Assert.True(code == 0, err);
            Assert.Equal("                                PHYSICAL MEMORY", output.Split('\n')[0]);
            var oracle = new GradingOracle(File.ReadAllText(log));
            Assert.Null(oracle.InvariantProblem());
            for (int stage = 1; stage <= 4; stage++) Assert.True(oracle.Stage(stage).Passed, oracle.Stage(stage).Message);
            Assert.Equal("", err);
        }
        finally { File.Delete(log); }
    }

    [Fact]
    public void TicksRunsAFixedTimeAndTheScreenCanBeAnsi()
    {
        var (code, output, err) = Tui("run", "--kernel", LabKernelBuild.PathOf("step7", full: true), "--ticks", "5", "--screen=ansi",
            "--instructions-per-second", "50000000");
        Assert.True(code == 0, err);
        Assert.Contains("\x1b[0;95;40mK", output);                     // light magenta kernel page
    }

    [Fact]
    public void ATripleFaultIsReportedAndFails()
    {
        string file = Temp(".elf");
        try
        {
            File.WriteAllBytes(file, TinyKernel(0x0F, 0x0B));          // ud2 with no IDT: #UD, #GP, #DF, shutdown
            var (code, _, err) = Tui("run", "--kernel", file, "--ticks", "10");
            Assert.Equal(1, code);
            Assert.Contains("triple fault", err);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void HaltingWithInterruptsOffIsReportedAndFails()
    {
        string file = Temp(".elf");
        try
        {
            File.WriteAllBytes(file, TinyKernel(0xE4, 0x84, 0xF4));    // in al, 0x84; hlt (interrupts are off at entry)
            var (code, _, err) = Tui("run", "--kernel", file);
            Assert.Equal(1, code);
            Assert.Contains("halted with interrupts disabled", err);
            Assert.Contains("read port 0x84", err);                    // nothing answers it: noted once
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void BadKernelFilesGetAClearError()
    {
        string file = Temp(".txt");
        try
        {
            File.WriteAllText(file, "this is not a kernel");
            var (code, _, err) = Tui("run", "--kernel", file);
            Assert.Equal(1, code);
            Assert.Contains("not a kernel", err);
            (code, _, err) = Tui("run", "--kernel", file + ".missing");
            Assert.Equal(1, code);
            Assert.Contains("no such kernel file", err);
            (code, _, err) = Tui("run", "--kernel", file, "--ticks", "0");
            Assert.Equal(2, code);
        }
        finally { File.Delete(file); }
    }
}
