using System.Buffers.Binary;
using Lab.TestSupport;

namespace Lab.Machine.Tests.Differential;

/// <summary>
/// Runs a batch of cases on the host CPU through Native/diffrunner.c (built once with gcc, cached)
/// and returns each case's final state. The batch travels through temporary files: the protocol is
/// binary and <see cref="Gcc.Run"/> captures text.
/// </summary>
internal static class NativeBatch
{
    private static readonly Lazy<string> Runner = new(() =>
    {
        string source = Path.GetFullPath(Path.Combine(FindRepoTestsDir(), "Native", "diffrunner.c"));
        return Gcc.Build([source], ["-O2", "-no-pie", "-Wall"], "diffrunner");
    });

    /// <summary>tests/Machine.Tests: from this file's source location (the artifacts path may be
    /// outside the tree), else by walking up from the test binary.</summary>
    private static string FindRepoTestsDir()
    {
        string fromSource = Path.GetDirectoryName(Path.GetDirectoryName(ThisFile()))!;
        if (File.Exists(Path.Combine(fromSource, "Native", "diffrunner.c"))) return fromSource;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "tests", "Machine.Tests");
            if (File.Exists(Path.Combine(candidate, "Native", "diffrunner.c"))) return candidate;
        }
        throw new FileNotFoundException("cannot find tests/Machine.Tests/Native/diffrunner.c");
    }

    private static string ThisFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;

    public static FinalState[] Run(IReadOnlyList<DiffCase> cases)
    {
        string dir = Path.Combine(Path.GetTempPath(), "lab-diff");
        Directory.CreateDirectory(dir);
        string stem = Path.Combine(dir, $"{Environment.ProcessId}-{Guid.NewGuid():N}");
        string input = stem + ".in", output = stem + ".out";
        try
        {
            File.WriteAllBytes(input, Serialize(cases));
            var (code, stdout, stderr) = Gcc.Run(Runner.Value, [input, output], timeoutMs: -1);   // no wall-clock limit
            if (code != 0) throw new InvalidOperationException($"diffrunner exited with {code}: {stderr}{stdout}");
            return Parse(File.ReadAllBytes(output), cases);
        }
        finally
        {
            // LAB_DIFF_KEEP=1 keeps the batch for running diffrunner by hand.
            if (Environment.GetEnvironmentVariable("LAB_DIFF_KEEP") != "1") File.Delete(input);
            File.Delete(output);
        }
    }

    private static byte[] Serialize(IReadOnlyList<DiffCase> cases)
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms);
        w.Write("DIFI"u8);
        w.Write((uint)cases.Count);
        foreach (var c in cases)
        {
            foreach (ulong g in c.Gpr) w.Write(g);
            w.Write(c.RFlags);
            w.Write(c.Xmm);
            w.Write((uint)c.Code.Length);
            w.Write((uint)c.DataOffset);
            w.Write((uint)c.Data.Length);
            w.Write(c.Code);
            w.Write(c.Data);
        }
        w.Flush();
        return ms.ToArray();
    }

    private static FinalState[] Parse(byte[] bytes, IReadOnlyList<DiffCase> cases)
    {
        var span = new ReadOnlySpan<byte>(bytes);
        if (!span[..4].SequenceEqual("DIFO"u8)) throw new InvalidDataException("diffrunner: bad output magic");
        int count = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[4..]);
        if (count != cases.Count) throw new InvalidDataException("diffrunner: case count mismatch");
        int p = 8;
        var result = new FinalState[count];
        for (int i = 0; i < count; i++)
        {
            var s = new FinalState();
            s.Signal = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[p..]);
            s.TrapNo = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(p + 4)..]);
            p += 24;   // signo, trapno, err, cr2
            for (int r = 0; r < 16; r++, p += 8) s.Gpr[r] = BinaryPrimitives.ReadUInt64LittleEndian(span[p..]);
            s.Rip = BinaryPrimitives.ReadUInt64LittleEndian(span[p..]); p += 8;
            s.RFlags = BinaryPrimitives.ReadUInt64LittleEndian(span[p..]); p += 8;
            span.Slice(p, 256).CopyTo(s.Xmm); p += 256;
            s.Trap = FinalState.KindFromNative(s.Signal, s.TrapNo);
            s.Data = cases[i].InitialDataImage();
            int ranges = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[p..]); p += 4;
            for (int r = 0; r < ranges; r++)
            {
                int off = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[p..]);
                int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(p + 4)..]);
                p += 8;
                span.Slice(p, len).CopyTo(s.Data.AsSpan(off));
                p += len;
            }
            result[i] = s;
        }
        return result;
    }
}
