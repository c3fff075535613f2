using System.Globalization;
using System.Text.RegularExpressions;
using Lab.Kernel.Guest;
using Lab.Machine;
using Lab.TestSupport;

namespace Lab.Kernel.Tests.Guest;

/// <summary>
/// <see cref="KernelSymbols"/> on Lab's C kernel (built with -gdwarf-4) against real gdb reading the
/// same file as the oracle: symbol addresses, address → symbol+offset, file:line → address and back.
/// And files it cannot use: garbage, truncated, DWARF 5 line tables, no line table.
/// </summary>
public class KernelSymbolsTests
{
    private static readonly string Kernel = LabKernel.PathOf("step5", full: true);
    private static readonly KernelSymbols Symbols = KernelSymbols.FromElf(File.ReadAllBytes(Kernel));

    /// <summary>The 1-based line of kernel.c holding <paramref name="text"/> (so the test follows edits of the source).</summary>
    internal static int LineOf(string file, string text)
    {
        // userland/build/kernel/VARIANT/kernel -> userland/kernel/FILE
        string source = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(LabKernel.PathOf("step5"))!, "..", "..", "..", "kernel", file));
        string[] lines = File.ReadAllLines(source);
        int i = Array.FindIndex(lines, l => l.Contains(text, StringComparison.Ordinal));
        Assert.True(i >= 0, $"{file} has no line with '{text}'");
        return i + 1;
    }

    private static ulong Hex(string s) => ulong.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    [Fact]
    public void SymbolsAndLinesAgreeWithGdb()
    {
        Assert.True(Symbols.HasLines, Symbols.Note);
        Assert.Null(Symbols.Note);
        string[] functions = { "kernel", "exception", "memset", "vm_map", "console_printf", "entry_from_boot" };
        int fork = LineOf("kernel.c", "uintptr_t pa = page_alloc_any(current->pid);");
        int start = LineOf("kernel.c", "hardware_init();");
        var commands = functions.Select(f => $"info address {f}")
            .Concat(new[] { $"info line kernel.c:{fork}", $"info line kernel.c:{start}" })
            .ToList();
        // Addresses inside functions: symbol+offset and their lines.
        Assert.True(Symbols.TryGetAddress("exception", out var exception));
        ulong[] inside = { exception.Value + 0x25, exception.Value + 0x101, Symbols.Symbols.First(s => s.Name == "vm_map").Address.Value + 7 };
        commands.AddRange(inside.SelectMany(a => new[] { $"info symbol 0x{a:x}", $"info line *0x{a:x}" }));
        string gdb = GdbBatch.Run(Kernel, null, commands.ToArray());

        foreach (string f in functions)
        {
            var m = Regex.Match(gdb, $"Symbol \"{f}\" is .*?at (?:address )?0x([0-9a-f]+)");
            Assert.True(m.Success, gdb);
            Assert.True(Symbols.TryGetAddress(f, out var ours));
            Assert.Equal(Hex(m.Groups[1].Value), ours.Value);
        }
        foreach (int line in new[] { fork, start })
        {
            var m = Regex.Match(gdb, $"Line {line} of \"kernel.c\" starts at address 0x([0-9a-f]+)");
            Assert.True(m.Success, gdb);
            var ours = Symbols.AddressesOfLine("kernel.c", line);
            Assert.Equal(Hex(m.Groups[1].Value), ours[0].Value);
            Assert.True(Symbols.TryResolve($"kernel.c:{line}", out var resolved, out string? error), error);
            Assert.Equal(ours[0], resolved);
        }
        foreach (ulong a in inside)
        {
            var ours = Symbols.Lookup(new VirtAddr(a));
            Assert.NotNull(ours);
            Assert.Contains($"{ours.Value.Symbol.Name}{(ours.Value.Offset == 0 ? "" : $" + {ours.Value.Offset}")} in section .text", gdb);
            var line = Symbols.LineAt(new VirtAddr(a));
            Assert.NotNull(line);
            Assert.Matches($"Line {line.Value.Line} of \"{Regex.Escape(Path.GetFileName(line.Value.File))}\" (starts at|is at) address 0x[0-9a-f]+ <{Regex.Escape(ours.Value.Symbol.Name)}", gdb);
        }
    }

    [Fact]
    public void WhatAPersonTypesResolves()
    {
        Assert.True(Symbols.TryGetAddress("kernel", out var kernel));
        Assert.True(Symbols.TryResolve("kernel", out var a, out _));
        Assert.Equal(kernel, a);
        Assert.True(Symbols.TryResolve("kernel+12", out a, out _));
        Assert.Equal(kernel.Value + 12, a.Value);
        Assert.True(Symbols.TryResolve("kernel+0x10", out a, out _));
        Assert.Equal(kernel.Value + 16, a.Value);
        Assert.True(Symbols.TryResolve("0x41000", out a, out _));
        Assert.Equal(0x41000UL, a.Value);
        Assert.Equal("kernel+12", Symbols.Lookup(new VirtAddr(kernel.Value + 12)).ToString());
        Assert.False(Symbols.TryResolve("no_such_function", out _, out string? error));
        Assert.Contains("no symbol 'no_such_function'", error);
        Assert.False(Symbols.TryResolve("kernel+zz", out _, out error));
        Assert.Contains("bad offset", error);
        Assert.False(Symbols.TryResolve("nosuchfile.c:10", out _, out error));
        Assert.Contains("no code", error);
        Assert.Null(Symbols.Lookup(new VirtAddr(0x10)));   // below the kernel
    }

    [Fact]
    public void FilesWithoutUsableSymbolsGiveANoteNotAnException()
    {
        var garbage = new byte[4096];
        new Random(7).NextBytes(garbage);
        var s = KernelSymbols.FromElf(garbage);
        Assert.Empty(s.Symbols);
        Assert.Equal("not an ELF file", s.Note);

        byte[] full = File.ReadAllBytes(Kernel);
        foreach (int length in new[] { 4, 64, 300, full.Length / 2, full.Length - 1 })
        {
            s = KernelSymbols.FromElf(full[..length]);
            Assert.NotNull(s.Note);
            Assert.False(s.TryResolve("kernel.c:30", out _, out string? error) && s.HasLines);
        }
        // Damage inside: a corrupted line table costs the lines, not the symbols.
        var damaged = (byte[])full.Clone();
        for (int i = damaged.Length / 3; i < damaged.Length / 3 + 2000; i++) damaged[i] ^= 0x5A;
        s = KernelSymbols.FromElf(damaged);
        _ = s.Lookup(new VirtAddr(0x41770));
        _ = s.LineAt(new VirtAddr(0x41770));

        // The stripped build (objcopy -j sections) keeps symbols but no line table.
        s = KernelSymbols.FromElf(File.ReadAllBytes(LabKernel.PathOf("step5")));
        Assert.True(s.TryGetAddress("kernel", out _));
        Assert.False(s.HasLines);
        Assert.Contains("no DWARF line table", s.Note);
        Assert.False(s.TryResolve("kernel.c:30", out _, out string? why));
        Assert.Contains("no line information", why);
    }

    [Fact]
    public void CorruptedKernelsNeverThrow()
    {
        // Seeded corruptions of the real kernel: random bytes anywhere, in the ELF header, in the section headers.
        byte[] full = File.ReadAllBytes(Kernel);
        int sectionHeaders = (int)BitConverter.ToUInt64(full, 40);
        var random = new Random(1);
        for (int i = 0; i < 150; i++)
        {
            var b = (byte[])full.Clone();
            for (int k = random.Next(1, 20); k > 0; k--) b[random.Next(b.Length)] = (byte)random.Next(256);
            if (i % 3 == 0) b[random.Next(64)] = (byte)random.Next(256);
            if (i % 5 == 0) b[sectionHeaders + random.Next(64 * 15)] = (byte)random.Next(256);
            var s = KernelSymbols.FromElf(b);
            _ = s.Lookup(new VirtAddr(0x41775));
            _ = s.LineAt(new VirtAddr(0x41775));
            _ = s.AddressesOfLine("kernel.c", 30);
            _ = s.TryResolve("kernel.c:30", out _, out _);
        }
    }

    [Fact]
    public void ADwarf5LineTableIsReportedAndTheSymbolsStillWork()
    {
        // gcc 12's default is DWARF 5, which the library does not read: symbols only, and a note that says so.
        string dir = Path.Combine(Path.GetTempPath(), $"lab-dwarf5-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "k.c"), "int counter;\nvoid kernel_main(void) { for (;;) counter++; }\n");
            string elf = Path.Combine(dir, "k.elf");
            var r = NativeProcess.Run("gcc", new[] { "-g", "-gdwarf-5", "-O1", "-ffreestanding", "-nostdlib", "-static", "-no-pie",
                "-Wl,-e,kernel_main", "-o", elf, Path.Combine(dir, "k.c") });
            Assert.True(r.ExitCode == 0, System.Text.Encoding.UTF8.GetString(r.Stderr));
            var s = KernelSymbols.FromElf(File.ReadAllBytes(elf));
            Assert.True(s.TryGetAddress("kernel_main", out _));
            Assert.True(s.TryGetAddress("counter", out _));
            Assert.False(s.HasLines);
            Assert.Contains("DWARF", s.Note);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void DisassemblyNamesAddressesAndBranchTargetsAsGdbDoes()
    {
        // Ours reads the booted machine's memory through its page tables; gdb reads the ELF file.
        using var m = LabKernel.Boot("step5", full: true);
        Assert.True(Symbols.TryGetAddress("kernel", out var kernel));
        string[] ours = Symbols.Disassemble(m.Machine.Cpu, kernel, 40, rip: kernel.Value);
        string gdb = GdbBatch.Run(Kernel, null, "x/40i kernel");
        var theirs = Regex.Matches(gdb, @"^\s+0x([0-9a-f]+) <([^>]+)>:\t(.*)$", RegexOptions.Multiline).ToArray();
        Assert.Equal(40, theirs.Length);
        Assert.StartsWith($"=> 0x{kernel.Value:x} <kernel>:  ", ours[0]);
        int calls = 0;
        for (int i = 0; i < 40; i++)
        {
            string address = theirs[i].Groups[1].Value, label = theirs[i].Groups[2].Value, text = theirs[i].Groups[3].Value;
            Assert.Contains($" 0x{address} <{label}>:  ", ours[i]);
            var target = Regex.Match(text, @"<([^>]+)>$");
            if (target.Success && text.StartsWith("call", StringComparison.Ordinal))
            {
                calls++;
                Assert.EndsWith($"<{target.Groups[1].Value}>", ours[i]);
            }
        }
        Assert.True(calls >= 3, gdb);   // kernel() calls hardware_init, pageinfo_init ...
        Assert.Equal("0x7fff00000000: (not readable in the current address space)",
            Symbols.Disassemble(m.Machine.Cpu, new VirtAddr(0x7fff00000000), 4).Single());
    }
}
