using System.Buffers.Binary;
using Iced.Intel;
using Lab.TestSupport;
using static Iced.Intel.AssemblerRegisters;

namespace Lab.Machine.Tests.Programs;

/// <summary>
/// The loader and syscall layer of <see cref="BareElfRunner"/>, on small hand-made ELF files:
/// header validation, odd segment layouts, bss, write/exit/ENOSYS, faults and the instruction budget.
/// </summary>
public class BareElfRunnerTests
{
    // ------------------------------------------------------------------------------------------
    // A minimal ELF64 writer: the header, program headers, then each segment's file bytes.

    private sealed record Seg(ulong Vaddr, byte[] Data, ulong MemSize, uint Flags, byte[]? Trailer = null);

    private static byte[] MakeElf(ulong entry, params Seg[] segs)
    {
        var file = new List<byte>(new byte[64 + 56 * segs.Length]);
        var offsets = new ulong[segs.Length];
        for (int i = 0; i < segs.Length; i++)
        {
            // keep file offset congruent to vaddr modulo the page size, as ld does
            while ((ulong)file.Count % 4096 != segs[i].Vaddr % 4096) file.Add(0xCC);
            offsets[i] = (ulong)file.Count;
            file.AddRange(segs[i].Data);
            if (segs[i].Trailer != null) file.AddRange(segs[i].Trailer!);   // bytes after filesz: must not be loaded
        }
        var b = file.ToArray();
        var h = b.AsSpan();
        h[0] = 0x7F; h[1] = (byte)'E'; h[2] = (byte)'L'; h[3] = (byte)'F';
        h[4] = 2; h[5] = 1; h[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(h[16..], 2);          // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(h[18..], 62);         // x86-64
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(h[24..], entry);
        BinaryPrimitives.WriteUInt64LittleEndian(h[32..], 64);         // phoff
        BinaryPrimitives.WriteUInt16LittleEndian(h[52..], 64);         // ehsize
        BinaryPrimitives.WriteUInt16LittleEndian(h[54..], 56);
        BinaryPrimitives.WriteUInt16LittleEndian(h[56..], (ushort)segs.Length);
        for (int i = 0; i < segs.Length; i++)
        {
            var ph = h.Slice(64 + 56 * i, 56);
            BinaryPrimitives.WriteUInt32LittleEndian(ph, 1);            // PT_LOAD
            BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], segs[i].Flags);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[8..], offsets[i]);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[16..], segs[i].Vaddr);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[24..], segs[i].Vaddr);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[32..], (ulong)segs[i].Data.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[40..], segs[i].MemSize);
            BinaryPrimitives.WriteUInt64LittleEndian(ph[48..], 4096);
        }
        return b;
    }

    private static byte[] Asm(ulong at, Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        var ms = new MemoryStream();
        a.Assemble(new StreamCodeWriter(ms), at);
        return ms.ToArray();
    }

    private const uint RX = 5, RW = 6;

    private static void Exit(Assembler a, AssemblerRegister64 code)
    {
        a.mov(rdi, code);
        a.mov(eax, 60);
        a.syscall();
    }

    // ------------------------------------------------------------------------------------------

    [Fact]
    public void WritesExitsAndCountsInstructions()
    {
        const ulong text = 0x401000, data = 0x402000;
        byte[] msg = "hello\n"u8.ToArray();
        var code = Asm(text, a =>
        {
            a.mov(eax, 1); a.mov(edi, 1); a.mov(rsi, data); a.mov(edx, msg.Length); a.syscall();
            a.mov(eax, 1); a.mov(edi, 2); a.mov(rsi, data); a.mov(edx, 3); a.syscall();
            a.mov(edi, 300); a.mov(eax, 231); a.syscall();   // exit_group(300): the status is 300 & 0xff
        });
        var r = BareElfRunner.Run(MakeElf(text, new Seg(text, code, (ulong)code.Length, RX), new Seg(data, msg, 4096, RW)), ["t"]);
        Assert.Equal(BareElfOutcome.Exited, r.Outcome);
        Assert.Equal(300 & 0xFF, r.ExitCode);
        Assert.Equal("hello\n", r.StdoutText);
        Assert.Equal("hel"u8.ToArray(), r.Stderr);
        Assert.Equal(13UL, r.InstructionsRetired);
        Assert.Null(r.Trap);
    }

    /// <summary>Code straddles a page boundary and shares its last page with the data segment;
    /// data crosses into further pages, and its bss must be zero even though the file has bytes there.</summary>
    [Fact]
    public void PageCrossingSegmentsAndBss()
    {
        const ulong text = 0x400FE0;          // code runs across 0x401000
        const ulong data = 0x401F80;          // same virtual page as the end of the code
        const ulong fileBytes = 0x100, memSize = 0x3000;   // bss spans 0x402080 .. 0x404F80
        var initial = Enumerable.Range(0, (int)fileBytes).Select(i => (byte)(i + 1)).ToArray();
        var code = Asm(text, a =>
        {
            var sum = a.CreateLabel(); var bss = a.CreateLabel(); var done = a.CreateLabel();
            // rbx = sum of the initialised bytes
            a.xor(ebx, ebx); a.mov(rsi, data); a.mov(ecx, (int)fileBytes);
            a.Label(ref sum); a.movzx(eax, __byte_ptr[rsi]); a.add(rbx, rax); a.inc(rsi); a.dec(ecx); a.jnz(sum);
            // r12 = OR of every bss byte (0 if zeroed)
            a.xor(r12d, r12d); a.mov(ecx, (int)(memSize - fileBytes));
            a.Label(ref bss); a.movzx(eax, __byte_ptr[rsi]); a.or(r12, rax); a.inc(rsi); a.dec(ecx); a.jnz(bss);
            // the data is writable across its pages, including the page shared with the code
            a.mov(rax, data + memSize - 8); a.mov(__qword_ptr[rax], rbx);
            a.mov(rax, data); a.mov(__qword_ptr[rax], rbx);
            a.Label(ref done);
            a.add(rbx, r12);
            a.and(ebx, 0xFF);
            Exit(a, rbx);
        });
        Assert.True(text + (ulong)code.Length > 0x401000 && text + (ulong)code.Length <= data, "the code should cross a page and end before the data");
        var trailer = Enumerable.Repeat((byte)0xFF, 0x400).ToArray();
        var elf = MakeElf(text, new Seg(text, code, (ulong)code.Length, RX), new Seg(data, initial, memSize, RW, trailer));
        var r = BareElfRunner.Run(elf, ["t"]);
        Assert.Equal(BareElfOutcome.Exited, r.Outcome);
        int expected = initial.Sum(b => b) & 0xFF;
        Assert.Equal(expected, r.ExitCode);
    }

    /// <summary>An instruction that straddles two pages, preceded by others in the same block: the
    /// block must end before it and execution continue at its first byte (gcc output hits this
    /// constantly once a program's text exceeds a page).</summary>
    [Theory]
    [InlineData(0x400FF9)]   // mov | cmp straddles 0x401000 | je
    [InlineData(0x400FF7)]   // mov, cmp | 2-byte je straddles 0x401000
    [InlineData(0x400FFD)]   // the first instruction (mov) straddles
    public void InstructionStraddlingPagesAfterOthersInItsBlock(int start)
    {
        ulong text = (ulong)start;
        var code = Asm(text, a =>
        {
            var end = a.CreateLabel();
            a.mov(ebx, 7);              // bb 07 00 00 00
            a.cmp(ebx, 7);              // 83 fb 07
            a.je(end);                  // 74 05 (taken)
            a.mov(ebx, 99);
            a.Label(ref end);
            Exit(a, rbx);
        });
        var r = BareElfRunner.Run(MakeElf(text, new Seg(text, code, (ulong)code.Length, RX)), ["t"]);
        Assert.True(r.Outcome == BareElfOutcome.Exited, r.Describe());
        Assert.Equal(7, r.ExitCode);
        Assert.Equal(6UL, r.InstructionsRetired);   // mov, cmp, je, then exit: mov, mov, syscall
    }

    [Fact]
    public void UnsupportedSyscallsReturnEnosys()
    {
        const ulong text = 0x401000;
        var code = Asm(text, a =>
        {
            a.mov(eax, 39); a.syscall();                      // getpid
            a.mov(rbx, rax);
            a.mov(eax, 1); a.mov(edi, 5); a.xor(esi, esi); a.xor(edx, edx); a.syscall();   // write to fd 5
            a.add(rbx, rax);                                   // -38 + -9
            a.neg(rbx);
            Exit(a, rbx);
        });
        var r = BareElfRunner.Run(MakeElf(text, new Seg(text, code, (ulong)code.Length, RX)), ["t"]);
        Assert.Equal(BareElfOutcome.Exited, r.Outcome);
        Assert.Equal(38 + 9, r.ExitCode);
        Assert.Equal([39UL], r.UnsupportedSyscalls);
    }

    [Fact]
    public void WriteWithBadPointerReturnsEfault()
    {
        const ulong text = 0x401000;
        var code = Asm(text, a =>
        {
            a.mov(eax, 1); a.mov(edi, 1); a.mov(rsi, 0x10_0000_0000UL); a.mov(edx, 10); a.syscall();
            a.neg(rax);
            Exit(a, rax);
        });
        var r = BareElfRunner.Run(MakeElf(text, new Seg(text, code, (ulong)code.Length, RX)), ["t"]);
        Assert.Equal(14, r.ExitCode);
        Assert.Empty(r.Stdout);
    }

    [Fact]
    public void RunawayProgramStopsAtTheBudget()
    {
        const ulong text = 0x401000;
        var code = Asm(text, a => { var l = a.CreateLabel(); a.Label(ref l); a.inc(rax); a.jmp(l); });
        var r = BareElfRunner.Run(MakeElf(text, new Seg(text, code, (ulong)code.Length, RX)), ["t"], new BareElfOptions { InstructionBudget = 100_000 });
        Assert.Equal(BareElfOutcome.BudgetExhausted, r.Outcome);
        Assert.Equal(-1, r.ExitCode);
        Assert.Equal(100_000UL, r.InstructionsRetired);
    }

    [Fact]
    public void NullDereferenceIsReportedAsPageFault()
    {
        const ulong text = 0x401000;
        var code = Asm(text, a => { a.xor(eax, eax); a.mov(__qword_ptr[rax], rax); });
        var r = BareElfRunner.Run(MakeElf(text, new Seg(text, code, (ulong)code.Length, RX)), ["t"]);
        Assert.Equal(BareElfOutcome.Faulted, r.Outcome);
        Assert.Equal(TrapKind.PageFault, r.Trap!.Value.Kind);
        Assert.Equal(0UL, r.Trap.Value.FaultAddress.Value);
        Assert.Equal(text + 2, r.Trap.Value.InstructionAddress.Value);
        Assert.Equal(1UL, r.InstructionsRetired);
        Assert.Contains("#PF", r.Describe());
    }

    [Fact]
    public void TextIsNotWritableAndDataIsNotExecutable()
    {
        const ulong text = 0x401000, data = 0x402000;
        var store = Asm(text, a => { a.mov(rax, text); a.mov(__byte_ptr[rax], 0x90); });
        var r = BareElfRunner.Run(MakeElf(text, new Seg(text, store, (ulong)store.Length, RX)), ["t"]);
        Assert.Equal(TrapKind.PageFault, r.Trap!.Value.Kind);
        Assert.True(r.Trap.Value.PageFaultError.HasFlag(PageFaultError.Write | PageFaultError.Present));

        var jump = Asm(text, a => { a.mov(rax, data); a.jmp(rax); });
        r = BareElfRunner.Run(MakeElf(text, new Seg(text, jump, (ulong)jump.Length, RX), new Seg(data, [0x90, 0x90], 4096, RW)), ["t"]);
        Assert.Equal(TrapKind.PageFault, r.Trap!.Value.Kind);
        Assert.True(r.Trap.Value.PageFaultError.HasFlag(PageFaultError.InstructionFetch));
    }

    [Fact]
    public void StackOverflowFaultsOnTheGuardPage()
    {
        const ulong text = 0x401000;
        var code = Asm(text, a => { var l = a.CreateLabel(); a.Label(ref l); a.push(rax); a.jmp(l); });
        var opts = new BareElfOptions { StackSize = 64 * 1024 };
        var r = BareElfRunner.Run(MakeElf(text, new Seg(text, code, (ulong)code.Length, RX)), ["t"], opts);
        Assert.Equal(BareElfOutcome.Faulted, r.Outcome);
        Assert.Equal(TrapKind.PageFault, r.Trap!.Value.Kind);
        Assert.Equal(opts.StackTop - opts.StackSize - 8, r.Trap.Value.FaultAddress.Value);
    }

    /// <summary>
    /// A program with 100 MiB of bss (a large static array) does not fit the default 64 MiB: loading
    /// it says so; sized with <see cref="BareElfProcess.MemoryNeeded"/>, as the emulator benchmark
    /// sizes every workload, it runs and writes the array's last word.
    /// </summary>
    [Fact]
    public void AProgramWithALargeBssRunsInTheMemoryItNeeds()
    {
        const ulong text = 0x401000, data = 0x600000, size = 100UL << 20;
        var code = Asm(text, a =>
        {
            a.mov(rax, data + size - 8);
            a.mov(__qword_ptr[rax], 42);
            a.mov(rdi, __qword_ptr[rax]);
            a.mov(eax, 231);
            a.syscall();
        });
        byte[] elf = MakeElf(text, new Seg(text, code, (ulong)code.Length, RX), new Seg(data, [], size, RW));
        var tooSmall = Assert.Throws<InvalidOperationException>(() => BareElfRunner.Run(elf, ["t"]));
        Assert.Contains("RAM are exhausted", tooSmall.Message);
        var defaults = new BareElfOptions();
        ulong needed = BareElfProcess.MemoryNeeded(elf, defaults);
        Assert.InRange(needed, size + defaults.StackSize, size + defaults.StackSize + (4UL << 20));
        var r = BareElfRunner.Run(elf, ["t"], defaults with { MemorySize = needed });
        Assert.True(r.Outcome == BareElfOutcome.Exited, r.Describe());
        Assert.Equal(42, r.ExitCode);
    }

    [Fact]
    public void InvalidInstructionIsReported()
    {
        const ulong text = 0x401000;
        byte[] code = [0x0F, 0x0B];   // ud2
        var r = BareElfRunner.Run(MakeElf(text, new Seg(text, code, 2, RX)), ["t"]);
        Assert.Equal(BareElfOutcome.Faulted, r.Outcome);
        Assert.Equal(TrapKind.InvalidOpcode, r.Trap!.Value.Kind);
    }

    public static TheoryData<string, byte[]> BadFiles()
    {
        var good = MakeElf(0x401000, new Seg(0x401000, [0xC3], 1, RX));
        byte[] With(Action<byte[]> change) { var b = (byte[])good.Clone(); change(b); return b; }
        return new TheoryData<string, byte[]>
        {
            { "shorter than an ELF64 header", [] },
            { "bad magic", new byte[200] },
            { "ELF class", With(b => b[4] = 1) },
            { "little-endian", With(b => b[5] = 2) },
            { "machine", With(b => b[18] = 3) },
            { "ET_DYN", With(b => b[16] = 3) },
            { "ET_EXEC", With(b => b[16] = 1) },
            { "no program headers", With(b => { b[56] = 0; b[57] = 0; }) },
            { "lie outside", With(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(32), 1UL << 40)) },
            { "file range", With(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(64 + 8), 1UL << 40)) },
            { "exceeds memory size", With(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(64 + 40), 0)) },
            { "user address space", With(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(64 + 16), 0xFFFF_8000_0000_0000UL)) },
            { "entry point", With(b => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), 0x500000)) },
            { "dynamically linked", With(b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(64), 3)) },
            { "no PT_LOAD", With(b => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(64), 4)) },
        };
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void GarbageIsRejectedWithAClearMessage(string expectedMessagePart, byte[] file)
    {
        var e = Assert.Throws<InvalidDataException>(() => BareElfRunner.Run(file, ["t"]));
        Assert.Contains(expectedMessagePart, e.Message);
    }

    [Fact]
    public void RandomBytesAreRejected()
    {
        var rng = new Random(42);
        for (int i = 0; i < 200; i++)
        {
            var b = new byte[rng.Next(0, 300)];
            rng.NextBytes(b);
            if (i % 2 == 0 && b.Length >= 4) { b[0] = 0x7F; b[1] = (byte)'E'; b[2] = (byte)'L'; b[3] = (byte)'F'; }
            Assert.Throws<InvalidDataException>(() => ElfImage.Parse(b));
        }
    }
}
