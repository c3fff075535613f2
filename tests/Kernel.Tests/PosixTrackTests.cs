using System.Text;
using System.Text.RegularExpressions;
using Lab.Kernel.Common;
using Lab.Kernel.Posix;

namespace Lab.Kernel.Tests;

/// <summary>
/// `track CMD [ARGS...]` in the emulator, against CONFORMANCE.md "Process tracking": the command's own
/// output comes first, unchanged, then the report, checked line by line for label and layout, with
/// its values checked against ground truth: what the programs must do (cat reads a 4 MiB file in
/// 4096-byte reads, ...), the kernel's own event stream (the Observer sees every completed call of
/// the tracked pid), and the ELF program headers and the pages the process had mapped just before
/// it exited.
/// </summary>
public class PosixTrackTests
{
    private const string BigPath = "/tmp/big4m";
    private const string Word = "needle";
    private const int BigSize = 4 << 20;
    private static readonly byte[] Big = MakeBig();

    /// <summary>Exactly 4 MiB of text lines (short enough for grep's first 4096-byte line buffer),
    /// every 13th containing <see cref="Word"/>; the last line pads to the exact size.</summary>
    private static byte[] MakeBig()
    {
        string[] words = ["kernel", "page", "table", "fork", "exec", "pipe", "stack", "heap", "trap", "timer", "zombie"];
        var sb = new StringBuilder(BigSize);
        for (int i = 0; ; i++)
        {
            var line = new StringBuilder($"{i:D6}");
            for (int k = 0; k < 2 + i % 7; k++) line.Append(' ').Append(words[(i * 3 + k) % words.Length]);
            if (i % 13 == 5) line.Append(" a " + Word + " in the haystack");
            line.Append('\n');
            if (sb.Length + line.Length > BigSize - 200) break;
            sb.Append(line);
        }
        int rest = BigSize - sb.Length;                       // 1..~260 bytes: one last line
        sb.Append('x', rest - 1).Append('\n');
        var b = Encoding.ASCII.GetBytes(sb.ToString());
        Assert.Equal(BigSize, b.Length);
        return b;
    }

    private static string[] Lines(byte[] text) => Encoding.ASCII.GetString(text).TrimEnd('\n').Split('\n');

    private sealed record Syscall(string Name, long Count, ulong? Bytes);

    private sealed record Report(int Pid, string Name, int Exit, List<Syscall> Calls,
        ulong Text, ulong Data, ulong Heap, ulong Stack, ulong[] PageTables);

    /// <summary>What the kernel's Observer saw of the tracked child: fork's result (its pid), the
    /// calls it completed after its execve, and the pages it had mapped at its last call before exit.</summary>
    private sealed class Truth
    {
        public int ChildPid;
        public bool Execed;
        public readonly Dictionary<string, long> Counts = new();
        public ulong BytesRead, BytesWritten;
        public List<ulong> PagesAtLastCall = [];
    }

    private static (string Out, Report Report, Truth Truth, PosixMachine M) Track(params string[] cmd)
    {
        var truth = new Truth();
        PosixMachine? machine = null;
        var r = PosixKernelTests.Run("track", cmd, setup: m =>
        {
            machine = m;
            m.Fs.WriteFile(BigPath, Big);
            m.Kernel.Observer = e =>
            {
                if (e.Kind != KernelEventKind.Syscall) return;
                if (e.Name == "fork" && e.Pid == m.Kernel.MainPid && e.Result > 0) truth.ChildPid = (int)e.Result;
                if (truth.ChildPid == 0 || e.Pid != truth.ChildPid) return;
                if (!truth.Execed) { truth.Execed = e.Name == "execve" && e.Result == 0; return; }
                truth.Counts[e.Name] = truth.Counts.GetValueOrDefault(e.Name) + 1;
                if (e.Name == "read" && e.Result > 0) truth.BytesRead += (ulong)e.Result;
                if (e.Name == "write" && e.Result > 0) truth.BytesWritten += (ulong)e.Result;
                if (e.Name != "exit_group")
                {
                    var pages = new List<ulong>();
                    Assert.True(m.Kernel.VisitUserPages(e.Pid, (va, _, _) => pages.Add(va)));
                    truth.PagesAtLastCall = pages;
                }
            };
        });
        Assert.Equal(0, r.Code);                               // track itself succeeds
        Assert.True(truth.Execed, "the child never completed an execve");
        const string header = "=== track report ===\n";
        int at = r.Out.IndexOf(header, StringComparison.Ordinal);
        Assert.True(at >= 0, $"no report in:\n{Tail(r.Out)}");
        Assert.Equal(at, r.Out.LastIndexOf(header, StringComparison.Ordinal));
        return (r.Out[..at], ParseReport(r.Out[at..]), truth, machine!);
    }

    private static string Tail(string s) => s.Length > 2000 ? "..." + s[^2000..] : s;

    /// <summary>Parses the report and checks every line's exact layout: each line is rebuilt from
    /// the parsed values in the CONFORMANCE.md format and must equal the printed line.</summary>
    private static Report ParseReport(string text)
    {
        Assert.EndsWith("\n", text);
        var lines = text[..^1].Split('\n');
        int i = 0;
        string Next() { Assert.True(i < lines.Length, "report ends early"); return lines[i++]; }
        Match Expect(string pattern)
        {
            string line = Next();
            var mt = Regex.Match(line, pattern);
            Assert.True(mt.Success, $"report line {i}: '{line}' does not match {pattern}\n{text}");
            return mt;
        }

        Assert.Equal("=== track report ===", Next());
        var id = Expect(@"^PID: (\d+)  Name: (\S+)  Exit: (-?\d+)$");
        Assert.Equal("", Next());
        var total = Expect(@"^System Calls \(total: (\d+)\)$");
        var calls = new List<Syscall>();
        while (i < lines.Length && lines[i] != "")
        {
            string line = Next();
            var mt = Regex.Match(line, @"^  (\S+) +(\d+)(?:      bytes: +(\d+))?$");
            Assert.True(mt.Success, $"bad syscall line '{line}'");
            string name = mt.Groups[1].Value;
            long count = long.Parse(mt.Groups[2].Value);
            ulong? bytes = mt.Groups[3].Success ? ulong.Parse(mt.Groups[3].Value) : null;
            // name padded to 10, count right-aligned in 7; "      bytes: " and 8 columns on read and write only
            string rebuilt = $"  {name,-10}{count,7}" + (bytes is { } b ? $"      bytes: {b,8}" : "");
            Assert.Equal(rebuilt, line);
            Assert.Equal(name is "read" or "write", bytes is not null);
            Assert.True(count > 0, $"a zero count is listed: '{line}'");
            calls.Add(new Syscall(name, count, bytes));
        }
        Assert.Equal(long.Parse(total.Groups[1].Value), calls.Sum(c => c.Count));
        Assert.Equal("", Next());
        var mem = Expect(@"^Memory \(total: (\d+) bytes\)$");
        ulong Pages(string label)
        {
            var mt = Expect($@"^  {Regex.Escape(label)}: *(\d+) pages$");
            ulong n = ulong.Parse(mt.Groups[1].Value);
            Assert.Equal($"  {label}: {n,3} pages", lines[i - 1]);
            return n;
        }
        ulong textP = Pages("TEXT  "), dataP = Pages("DATA  "), heapP = Pages("HEAP  "), stackP = Pages("STACK ");
        Assert.Equal((textP + dataP + heapP + stackP) * 4096, ulong.Parse(mem.Groups[1].Value));
        Assert.Equal("", Next());
        var pt = Expect(@"^Page Tables \((\d+) pages, (\d+) bytes\)$");
        var levels = new ulong[4];
        string[] labels = ["PML4", "PDPT", "PD", "PT"];
        for (int l = 0; l < 4; l++) levels[l] = ulong.Parse(Expect($@"^  {labels[l]}: (\d+)$").Groups[1].Value);
        ulong ptPages = ulong.Parse(pt.Groups[1].Value);
        Assert.Equal(levels.Aggregate(0UL, (a, b) => a + b), ptPages);
        Assert.Equal(ptPages * 4096, ulong.Parse(pt.Groups[2].Value));
        Assert.Equal(lines.Length, i);                         // nothing after the PT line
        return new Report(int.Parse(id.Groups[1].Value), id.Groups[2].Value, int.Parse(id.Groups[3].Value), calls,
            textP, dataP, heapP, stackP, levels);
    }

    /// <summary>The syscall numbers of the names track prints, for the ordering check.</summary>
    private static readonly Dictionary<string, int> Numbers = new()
    {
        ["read"] = 0, ["write"] = 1, ["open"] = 2, ["close"] = 3, ["stat"] = 4, ["fstat"] = 5, ["lseek"] = 8,
        ["brk"] = 12, ["pipe"] = 22, ["dup"] = 32, ["dup2"] = 33, ["getpid"] = 39, ["fork"] = 57, ["execve"] = 59,
        ["exit"] = 60, ["wait4"] = 61, ["getdents64"] = 217, ["exit_group"] = 231,
    };

    /// <summary>
    /// Checks a report against the expected calls (exact list, in syscall-number order), the
    /// Observer's record, and the memory the process had mapped: TEXT and DATA pages from the ELF
    /// program headers, HEAP from the break, STACK from what was mapped, and the page-table pages
    /// per level from the distinct 512 GiB / 1 GiB / 2 MiB regions those pages lie in.
    /// </summary>
    private static void CheckReport(Report rep, Truth truth, string program, int exit, (string Name, long Count, ulong? Bytes)[] expected,
        ulong expectedHeapPages)
    {
        Assert.Equal(truth.ChildPid, rep.Pid);
        Assert.Equal(3, rep.Pid);                  // pid 1 is init, track is 2, its fork child the next
        Assert.Equal(program, rep.Name);
        Assert.Equal(exit, rep.Exit);

        Assert.Equal(expected.Select(e => new Syscall(e.Name, e.Count, e.Bytes)).ToList(), rep.Calls);
        var order = rep.Calls.Select(c => Numbers[c.Name]).ToList();
        Assert.Equal(order.Order().ToList(), order);
        // the kernel's event stream agrees: same calls, same counts, same byte sums (the tracker's own
        // track_self/execve before the exec are not counted, the final exit_group is)
        Assert.Equal(truth.Counts.OrderBy(kv => kv.Key).ToList(),
            rep.Calls.ToDictionary(c => c.Name, c => c.Count).OrderBy(kv => kv.Key).ToList());
        Assert.Equal(truth.BytesRead, rep.Calls.FirstOrDefault(c => c.Name == "read")?.Bytes ?? 0);
        Assert.Equal(truth.BytesWritten, rep.Calls.FirstOrDefault(c => c.Name == "write")?.Bytes ?? 0);

        var image = ElfImage.Parse(program, PosixFs.EmbeddedPrograms[program], out _)!;
        var dataPages = new HashSet<ulong>();
        var textPages = new HashSet<ulong>();
        ulong imageEnd = 0;
        foreach (var s in image.Segments)
        {
            ulong start = s.VirtualAddress & ~4095UL, end = (s.VirtualAddress + s.MemorySize + 4095) & ~4095UL;
            imageEnd = Math.Max(imageEnd, end);
            for (ulong va = start; va < end; va += 4096) (s.Writable ? dataPages : textPages).Add(va);
        }
        textPages.ExceptWith(dataPages);                       // a page shared with a writable segment is data
        Assert.Equal((ulong)textPages.Count, rep.Text);
        Assert.Equal((ulong)dataPages.Count, rep.Data);
        Assert.True(rep.Text > 0 && rep.Data > 0);
        Assert.Equal(expectedHeapPages, rep.Heap);
        Assert.InRange(rep.Stack, 1UL, 32UL);                  // the spec leaves it open: a few pages

        // the pages mapped at the child's last call before exit: the same layout
        var mapped = truth.PagesAtLastCall;
        Assert.Equal(rep.Text + rep.Data + rep.Heap + rep.Stack, (ulong)mapped.Count);
        Assert.Equal(rep.Heap, (ulong)mapped.Count(va => va >= imageEnd && va < 0x7000_0000_0000UL));
        Assert.Equal(rep.Stack, (ulong)mapped.Count(va => va >= 0x7000_0000_0000UL));
        Assert.Equal(new ulong[]
        {
            1,
            (ulong)mapped.Select(va => va >> 39).Distinct().Count(),
            (ulong)mapped.Select(va => va >> 30).Distinct().Count(),
            (ulong)mapped.Select(va => va >> 21).Distinct().Count(),
        }, rep.PageTables);
    }

    /// <summary>Heap pages after mallocs of these sizes from an empty heap: the break starts
    /// page-aligned after the image, each block is a 16-byte header plus the size rounded to 16.</summary>
    private static ulong HeapPages(params long[] mallocs)
    {
        long bytes = mallocs.Sum(n => 16 + ((Math.Max(n, 1) + 15) & ~15L));
        return (ulong)((bytes + 4095) / 4096);
    }

    private const long Reads = BigSize / 4096 + 1;            // 4096-byte reads, then the one that returns 0

    [Fact]
    public void Track_echo()
    {
        var (output, rep, truth, _) = Track("echo", "hello", "tracked", "world");
        const string expectedOut = "hello tracked world\n";
        Assert.Equal(expectedOut, output);
        CheckReport(rep, truth, "echo", 0,
        [
            ("write", 1, (ulong)expectedOut.Length),
            ("brk", 2, null),                                  // malloc: sbrk(0), then the growth
            ("exit_group", 1, null),
        ], HeapPages("hello tracked world".Length + 2));
    }

    [Fact]
    public void Track_cat_of_a_4_MiB_file()
    {
        var (output, rep, truth, _) = Track("cat", BigPath);
        Assert.True(output == Encoding.ASCII.GetString(Big), "cat's output is not the file");
        CheckReport(rep, truth, "cat", 0,
        [
            ("read", Reads, (ulong)BigSize),
            ("write", BigSize / 4096, (ulong)BigSize),         // one write per full read
            ("open", 1, null),
            ("close", 1, null),
            ("exit_group", 1, null),
        ], 0);
    }

    [Fact]
    public void Track_wc_of_a_4_MiB_file()
    {
        var (output, rep, truth, _) = Track("wc", BigPath);
        var text = Encoding.ASCII.GetString(Big);
        long lines = text.Count(c => c == '\n');
        long words = text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Length;
        string expectedOut = $"{lines,7} {words,7} {BigSize,7} {BigPath}\n";
        Assert.Equal(expectedOut, output);
        CheckReport(rep, truth, "wc", 0,
        [
            ("read", Reads, (ulong)BigSize),
            ("write", 1, (ulong)expectedOut.Length),
            ("open", 1, null),
            ("close", 1, null),
            ("exit_group", 1, null),
        ], 0);
    }

    [Fact]
    public void Track_grep_in_a_4_MiB_file()
    {
        var (output, rep, truth, _) = Track("grep", Word, BigPath);
        var matches = Lines(Big).Where(l => l.Contains(Word)).ToList();
        Assert.True(matches.Count > 1000);
        string expectedOut = string.Concat(matches.Select(l => l + "\n"));
        Assert.True(output == expectedOut, $"grep's output differs; got {output.Length} bytes, expected {expectedOut.Length}");
        CheckReport(rep, truth, "grep", 0,
        [
            ("read", Reads, (ulong)BigSize),
            ("write", 2L * matches.Count, (ulong)expectedOut.Length),   // the line, then "\n"
            ("open", 1, null),
            ("close", 1, null),
            ("brk", 2, null),                                  // the 4096-byte line buffer
            ("exit_group", 1, null),
        ], HeapPages(4096));
    }

    [Fact]
    public void Track_ls_bin()
    {
        var (output, rep, truth, m) = Track("ls", "/bin");
        var names = m.Fs.List("/bin").Select(e => e.Name).ToList();   // sorted ordinally, as ls sorts
        string expectedOut = string.Concat(names.Select(n => n + "\n"));
        Assert.Equal(expectedOut, output);
        Assert.InRange(names.Count, 2, 63);                    // ls's first name array holds 64
        // one getdents64 call returns every entry (with . and ..) when they fit in ls's 4096 bytes
        int recBytes = names.Append(".").Append("..").Sum(n => (19 + n.Length + 1 + 7) & ~7);
        Assert.True(recBytes <= 4096);
        CheckReport(rep, truth, "ls", 0,
        [
            ("write", names.Count, (ulong)expectedOut.Length),   // one printf per name
            ("open", 1, null),
            ("close", 1, null),
            ("stat", 1, null),
            ("brk", 2 + names.Count, null),                    // sbrk(0), the name array, one strdup each
            ("getdents64", 2, null),
            ("exit_group", 1, null),
        ], HeapPages(names.Select(n => (long)n.Length + 1).Prepend(64 * 8).ToArray()));
    }

    [Fact]
    public void Track_reports_a_nonzero_exit_code()
    {
        // grep exits 1 when nothing matches; the report still comes, after no output of its own
        var (output, rep, truth, _) = Track("grep", "no such word anywhere", BigPath);
        Assert.Equal("", output);
        CheckReport(rep, truth, "grep", 1,
        [
            ("read", Reads, (ulong)BigSize),
            ("open", 1, null),
            ("close", 1, null),
            ("brk", 2, null),
            ("exit_group", 1, null),
        ], HeapPages(4096));
    }

    [Fact]
    public void Track_without_arguments_prints_the_usage_line()
    {
        var r = PosixKernelTests.Run("track");
        Assert.Equal((1, "usage: track <cmd> [args...]\n"), (r.Code, r.Out));
    }

    [Fact]
    public void The_boot_data_files_are_there_for_cat_grep_and_wc()
    {
        Assert.StartsWith("Welcome to Lab", PosixKernelTests.Run("cat", ["/etc/motd"]).Out);
        Assert.Equal("student:x:1000:1000:Lab student:/home/student:/bin/sh\n",
            PosixKernelTests.Run("grep", ["student", "/etc/passwd"]).Out);
        var r = PosixKernelTests.Run("sh", ["-c", "wc < /usr/share/dict/words; ls /; echo hi > /home/student/notes; cat /home/student/notes"]);
        Assert.Equal(0, r.Code);
        var dict = PosixFs.DataFiles.Single(f => f.Path == "/usr/share/dict/words").Bytes;
        int n = dict.Count(b => b == '\n');
        Assert.InRange(n, 24, 200);                             // some dozens of words, one a line
        Assert.Equal($"{n,7} {n,7} {dict.Length,7}\nbin\ndev\netc\nhome\nproc\ntmp\nusr\nhi\n", r.Out);
    }
}
