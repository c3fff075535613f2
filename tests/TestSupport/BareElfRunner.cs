using System.Buffers.Binary;
using System.Text;
using Lab.Machine;

namespace Lab.TestSupport;

/// <summary>How <see cref="BareElfRunner"/> builds the machine and the process image.</summary>
public sealed record BareElfOptions
{
    /// <summary>Physical RAM of the machine (a multiple of 4096).</summary>
    public ulong MemorySize { get; init; } = 64UL << 20;

    /// <summary>Bytes of stack mapped below <see cref="StackTop"/> (Linux's default limit is 8 MiB).
    /// The page below the stack stays unmapped, so an overflow is a page fault.</summary>
    public ulong StackSize { get; init; } = 8UL << 20;

    /// <summary>The highest stack address (exclusive); page aligned.</summary>
    public ulong StackTop { get; init; } = 0x7FFF_FFFF_F000UL;

    /// <summary>Instruction budget: a program still running after this many instructions is stopped.</summary>
    public ulong InstructionBudget { get; init; } = 2_000_000_000UL;

    /// <summary>Map non-executable segments and the stack with the NX bit.</summary>
    public bool NoExecute { get; init; } = true;

    /// <summary>The 16 bytes AT_RANDOM points at (deterministic by default).</summary>
    public byte[]? RandomBytes { get; init; }

    /// <summary>The execution tier; null = the machine's default (<see cref="MachineOptions.Tier"/>).</summary>
    public ExecutionTier? Tier { get; init; }

    /// <summary>The JIT's tier-up threshold, compiling on the CPU's thread; null = the machine's defaults (<see cref="MachineOptions.JitThreshold"/>, <see cref="MachineOptions.JitBackgroundCompile"/>).</summary>
    public int? JitThreshold { get; init; }
    /// <summary>When quick code is compiled again optimised (<see cref="MachineOptions.JitPromoteAfter"/>); null = the machine's default.</summary>
    public int? JitPromoteAfter { get; init; }
}

/// <summary>How a bare ELF run ended.</summary>
public enum BareElfOutcome
{
    /// <summary>The program called exit or exit_group.</summary>
    Exited,
    /// <summary>The program trapped (fault, #UD, int3, hlt ...); see <see cref="BareElfResult.Trap"/>.</summary>
    Faulted,
    /// <summary>The instruction budget ran out before the program exited.</summary>
    BudgetExhausted,
}

/// <summary>The result of one <see cref="BareElfRunner"/> run.</summary>
public sealed record BareElfResult
{
    public required BareElfOutcome Outcome { get; init; }
    /// <summary>The exit status (low 8 bits of exit's argument, as a parent sees it); -1 if the program did not exit.</summary>
    public required int ExitCode { get; init; }
    public required byte[] Stdout { get; init; }
    public required byte[] Stderr { get; init; }
    /// <summary>Exact count of guest instructions retired.</summary>
    public required ulong InstructionsRetired { get; init; }
    /// <summary>The trap that ended the run (only when <see cref="Outcome"/> is Faulted).</summary>
    public Trap? Trap { get; init; }
    /// <summary>Syscall numbers the program made that were answered with ENOSYS, in order (at most 64 kept).</summary>
    public required IReadOnlyList<ulong> UnsupportedSyscalls { get; init; }

    public string StdoutText => Encoding.UTF8.GetString(Stdout);

    /// <summary>One line saying how the run ended, for assertion messages.</summary>
    public string Describe() => Outcome switch
    {
        BareElfOutcome.Exited => $"exited with {ExitCode} after {InstructionsRetired:N0} instructions",
        BareElfOutcome.Faulted => $"died on {Trap} after {InstructionsRetired:N0} instructions",
        _ => $"still running after {InstructionsRetired:N0} instructions (budget exhausted)",
    };
}

/// <summary>
/// Runs a static, freestanding x86-64 Linux ELF (ET_EXEC with PT_LOAD segments) in an
/// <see cref="X64Machine"/>: maps its segments and a System V initial stack, then services only
/// write(1) to fd 1 and 2, exit(60) and exit_group(231). Every other syscall returns -ENOSYS; any
/// other trap ends the run and is reported.
/// </summary>
/// <remarks>
/// Physical memory layout: the first 1 MiB is left alone (real-mode area, CGA buffer), page tables
/// live in [1 MiB, 2 MiB) and every mapped page is allocated from 2 MiB upward. Each virtual page
/// gets its own physical page, so segments that share a page (or cross pages anywhere) work.
/// </remarks>
public static class BareElfRunner
{
    public const ulong SysWrite = 1, SysExit = 60, SysExitGroup = 231;

    /// <summary>Loads and runs the ELF file at <paramref name="path"/>; argv[0] is the file name.</summary>
    public static BareElfResult Run(string path, IReadOnlyList<string>? args = null, BareElfOptions? options = null)
    {
        var argv = new List<string> { Path.GetFileName(path) };
        if (args != null) argv.AddRange(args);
        return Run(File.ReadAllBytes(path), argv, options);
    }

    /// <summary>Loads and runs an ELF image; <paramref name="argv"/> includes argv[0].</summary>
    public static BareElfResult Run(byte[] elf, IReadOnlyList<string> argv, BareElfOptions? options = null)
    {
        using var process = BareElfProcess.Load(elf, argv, options);
        return process.Run();
    }
}

/// <summary>
/// A loaded bare ELF process: the machine with the image mapped, ready to <see cref="Run"/>.
/// Separate from <see cref="BareElfRunner.Run(byte[], IReadOnlyList{string}, BareElfOptions?)"/> so a
/// caller (a benchmark) can time the execution without the loading.
/// </summary>
public sealed class BareElfProcess : IDisposable, ITrapHandler
{
    private static readonly PhysAddr TableArea = new(1UL << 20);
    private const ulong TableAreaSize = 1UL << 20;
    private const ulong FirstDataPage = 2UL << 20;
    private const ulong UserLimit = 0x0000_8000_0000_0000UL;
    private const int MaxStdoutBytes = 64 << 20;

    private readonly BareElfOptions _options;
    private readonly PageTableBuilder _tables;
    private readonly Dictionary<ulong, ulong> _pages = new();   // virtual page number -> physical address
    private ulong _nextPhys = FirstDataPage;

    private readonly MemoryStream _stdout = new(), _stderr = new();
    private readonly List<ulong> _unsupported = new();
    private int? _exitCode;
    private Trap? _fault;
    private bool _ran;

    public X64Machine Machine { get; }
    public ElfImage Image { get; }

    private BareElfProcess(ElfImage image, BareElfOptions options)
    {
        Image = image;
        _options = options;
        var machineOptions = new MachineOptions { MemorySize = options.MemorySize };
        if (options.Tier is ExecutionTier tier) machineOptions = machineOptions with { Tier = tier };
        // A given threshold is for compiling exactly there, on the CPU's thread.
        if (options.JitThreshold is int threshold) machineOptions = machineOptions with { JitThreshold = threshold, JitBackgroundCompile = false };
        if (options.JitPromoteAfter is int promote) machineOptions = machineOptions with { JitPromoteAfter = promote };
        Machine = new X64Machine(machineOptions);
        _tables = new PageTableBuilder(Machine.Memory, TableArea, TableAreaSize);
    }

    public void Dispose() => Machine.Dispose();

    public static BareElfProcess Load(byte[] elf, IReadOnlyList<string> argv, BareElfOptions? options = null)
    {
        options ??= new BareElfOptions();
        if (options.MemorySize < 4UL << 20 || options.MemorySize % 4096 != 0)
            throw new ArgumentException("MemorySize must be a multiple of 4096 and at least 4 MiB", nameof(options));
        if (options.StackTop % 4096 != 0 || options.StackSize % 4096 != 0 || options.StackSize == 0 || options.StackTop > UserLimit || options.StackSize >= options.StackTop)
            throw new ArgumentException("StackTop and StackSize must be page aligned, non-zero and inside the user half", nameof(options));
        if (argv.Count == 0) throw new ArgumentException("argv must hold at least argv[0]", nameof(argv));

        var image = ElfImage.Parse(elf);
        var p = new BareElfProcess(image, options);
        try
        {
            p.MapSegments(elf);
            p.BuildStack(argv);
            p.Machine.Cpu.Cr3 = p._tables.Root.Value;
            p.Machine.Cpu.Rip = image.Entry;
            p.Machine.TrapHandler = p;
            return p;
        }
        catch
        {
            p.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The RAM <paramref name="elf"/> needs under <paramref name="options"/>: the 2 MiB below the
    /// first page the loader hands out, a page for each page its segments touch, and the stack,
    /// rounded up to a MiB. A caller that runs programs it did not write (the emulator benchmark)
    /// sizes the machine with it, as Linux would give a program its bss whatever its size.
    /// </summary>
    public static ulong MemoryNeeded(byte[] elf, BareElfOptions options)
    {
        ulong bytes = (2UL << 20) + ((ulong)SegmentPages(ElfImage.Parse(elf)).Count << 12) + options.StackSize;
        return (bytes + (1UL << 20) - 1) & ~((1UL << 20) - 1);
    }

    /// <summary>
    /// Every page the image's segments touch, with the union of the flags of the segments touching it:
    /// a page shared by text and data is both writable and executable, as it would be on Linux where
    /// both mappings cover it.
    /// </summary>
    private static SortedDictionary<ulong, (bool Writable, bool Executable)> SegmentPages(ElfImage image)
    {
        var pages = new SortedDictionary<ulong, (bool Writable, bool Executable)>();
        foreach (var s in image.Segments)
        {
            if (s.MemorySize == 0) continue;
            for (ulong page = s.VirtualAddress >> 12; page <= (s.VirtualAddress + s.MemorySize - 1) >> 12; page++)
            {
                pages.TryGetValue(page, out var p);
                pages[page] = (p.Writable | s.Writable, p.Executable | s.Executable);
            }
        }
        return pages;
    }

    // ------------------------------------------------------------------------------------------
    // Loading.

    private void MapSegments(byte[] elf)
    {
        ulong stackLow = _options.StackTop - _options.StackSize - 4096;   // including the guard page
        foreach (var s in Image.Segments)
            if (s.MemorySize != 0 && s.VirtualAddress + s.MemorySize > stackLow && s.VirtualAddress < _options.StackTop)
                throw new InvalidDataException($"ELF segment at 0x{s.VirtualAddress:x} overlaps the stack area [0x{stackLow:x}, 0x{_options.StackTop:x})");
        foreach (var (page, p) in SegmentPages(Image))
        {
            var flags = PteFlags.User;
            if (p.Writable) flags |= PteFlags.Writable;
            if (!p.Executable && _options.NoExecute) flags |= PteFlags.NoExecute;
            MapNewPage(page, flags);
        }
        // Copy file contents; the rest of each segment (bss) is zero.
        foreach (var s in Image.Segments)
        {
            WriteVirtual(s.VirtualAddress, elf.AsSpan((int)s.FileOffset, (int)s.FileSize));
            ZeroVirtual(s.VirtualAddress + s.FileSize, s.MemorySize - s.FileSize);
        }
    }

    private void MapNewPage(ulong virtualPage, PteFlags flags)
    {
        if (_nextPhys + 4096 > Machine.Memory.Size)
            throw new InvalidOperationException($"the machine's {Machine.Memory.Size >> 20} MiB of RAM are exhausted: the program and its stack need more (raise BareElfOptions.MemorySize)");
        var pa = new PhysAddr(_nextPhys);
        _nextPhys += 4096;
        Machine.Memory.Fill(pa, 4096, 0);
        _tables.MapPage(new VirtAddr(virtualPage << 12), pa, flags);
        _pages[virtualPage] = pa.Value;
    }

    /// <summary>Translates a user virtual address through the pages this loader mapped; null if unmapped.</summary>
    private ulong? Translate(ulong va) => _pages.TryGetValue(va >> 12, out ulong pa) ? pa + (va & 0xFFF) : null;

    private void WriteVirtual(ulong va, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int chunk = (int)Math.Min((ulong)data.Length, 4096 - (va & 0xFFF));
            Machine.Memory.Write(new PhysAddr(Translate(va) ?? throw new InvalidOperationException($"0x{va:x} is not mapped")), data[..chunk]);
            data = data[chunk..];
            va += (ulong)chunk;
        }
    }

    private void ZeroVirtual(ulong va, ulong length)
    {
        while (length > 0)
        {
            ulong chunk = Math.Min(length, 4096 - (va & 0xFFF));
            Machine.Memory.Fill(new PhysAddr(Translate(va) ?? throw new InvalidOperationException($"0x{va:x} is not mapped")), chunk, 0);
            length -= chunk;
            va += chunk;
        }
    }

    /// <summary>
    /// The System V x86-64 initial stack: strings and AT_RANDOM bytes at the top, then (upward from
    /// rsp) argc, argv[0..argc-1], NULL, envp NULL, auxv pairs ending with AT_NULL. rsp is 16-byte aligned.
    /// </summary>
    private void BuildStack(IReadOnlyList<string> argv)
    {
        const ulong AT_NULL = 0, AT_PAGESZ = 6, AT_ENTRY = 9, AT_RANDOM = 25;
        var stackFlags = PteFlags.User | PteFlags.Writable | (_options.NoExecute ? PteFlags.NoExecute : 0);
        ulong low = _options.StackTop - _options.StackSize;
        for (ulong page = low >> 12; page < _options.StackTop >> 12; page++)
            MapNewPage(page, stackFlags);

        ulong sp = _options.StackTop;
        byte[] random = _options.RandomBytes ?? Enumerable.Range(0, 16).Select(i => (byte)(0xA5 ^ (i * 37))).ToArray();
        if (random.Length != 16) throw new ArgumentException("RandomBytes must be 16 bytes long");
        sp -= 16;
        WriteVirtual(sp, random);
        ulong randomAddr = sp;

        var argPtrs = new ulong[argv.Count];
        for (int i = argv.Count - 1; i >= 0; i--)
        {
            byte[] s = Encoding.UTF8.GetBytes(argv[i] + "\0");
            sp -= (ulong)s.Length;
            WriteVirtual(sp, s);
            argPtrs[i] = sp;
        }

        var words = new List<ulong> { (ulong)argv.Count };
        words.AddRange(argPtrs);
        words.Add(0);                        // argv terminator
        words.Add(0);                        // envp: empty
        words.AddRange([AT_PAGESZ, 4096, AT_RANDOM, randomAddr, AT_ENTRY, Image.Entry, AT_NULL, 0]);

        ulong size = (ulong)words.Count * 8;
        sp = (sp - size) & ~15UL;
        if (sp < low + 4096) throw new ArgumentException("the arguments do not fit on the stack");
        var bytes = new byte[size];
        for (int i = 0; i < words.Count; i++) BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 8), words[i]);
        WriteVirtual(sp, bytes);
        Machine.Cpu[Register.Rsp] = sp;
        Machine.Cpu[Register.Rdx] = 0;       // no atexit function for the program to register
    }

    // ------------------------------------------------------------------------------------------
    // Running.

    /// <summary>Runs the program until it exits, faults, or spends the instruction budget. Call once.</summary>
    public BareElfResult Run()
    {
        if (_ran) throw new InvalidOperationException("a BareElfProcess runs once");
        _ran = true;
        Machine.Run(_options.InstructionBudget);
        var outcome = _exitCode is not null ? BareElfOutcome.Exited
            : _fault is not null ? BareElfOutcome.Faulted
            : BareElfOutcome.BudgetExhausted;
        return new BareElfResult
        {
            Outcome = outcome,
            ExitCode = _exitCode ?? -1,
            Stdout = _stdout.ToArray(),
            Stderr = _stderr.ToArray(),
            InstructionsRetired = Machine.InstructionsRetired,
            Trap = _fault,
            UnsupportedSyscalls = _unsupported,
        };
    }

    void ITrapHandler.OnTrap(X64Machine machine, in Trap trap)
    {
        if (trap.Kind != TrapKind.Syscall)
        {
            _fault = trap;
            machine.Stop();
            return;
        }
        var cpu = machine.Cpu;
        ulong nr = cpu[Register.Rax];
        switch (nr)
        {
            case BareElfRunner.SysWrite:
                cpu[Register.Rax] = (ulong)Write(cpu[Register.Rdi], cpu[Register.Rsi], cpu[Register.Rdx]);
                break;
            case BareElfRunner.SysExit:
            case BareElfRunner.SysExitGroup:
                _exitCode = (int)(cpu[Register.Rdi] & 0xFF);
                machine.Stop();
                break;
            default:
                if (_unsupported.Count < 64) _unsupported.Add(nr);
                cpu[Register.Rax] = unchecked((ulong)-38L);   // -ENOSYS
                break;
        }
    }

    private long Write(ulong fd, ulong buf, ulong count)
    {
        MemoryStream? target = fd switch { 1 => _stdout, 2 => _stderr, _ => null };
        if (target is null) return -9;                          // -EBADF
        if ((long)count < 0) return -22;                        // -EINVAL
        if (count == 0) return 0;
        count = Math.Min(count, 0x7FFF_F000UL);                 // Linux's MAX_RW_COUNT
        if (target.Length + (long)count > MaxStdoutBytes) return -27;   // -EFBIG: runaway output
        ulong done = 0;
        Span<byte> chunkBuf = stackalloc byte[4096];
        while (done < count)
        {
            ulong va = buf + done;
            ulong? pa = Translate(va);
            if (pa is null) return done > 0 ? (long)done : -14;  // -EFAULT
            int chunk = (int)Math.Min(count - done, 4096 - (va & 0xFFF));
            Machine.Memory.Read(new PhysAddr(pa.Value), chunkBuf[..chunk]);
            target.Write(chunkBuf[..chunk]);
            done += (ulong)chunk;
        }
        return (long)done;
    }
}

/// <summary>One PT_LOAD segment.</summary>
public readonly record struct ElfSegment(ulong VirtualAddress, ulong FileOffset, ulong FileSize, ulong MemorySize, uint Flags)
{
    public const uint PF_X = 1, PF_W = 2, PF_R = 4;
    public bool Executable => (Flags & PF_X) != 0;
    public bool Writable => (Flags & PF_W) != 0;
}

/// <summary>The parts of an ELF64 executable that a bare loader needs, validated.</summary>
public sealed record ElfImage(ulong Entry, IReadOnlyList<ElfSegment> Segments)
{
    private const uint PT_LOAD = 1, PT_DYNAMIC = 2, PT_INTERP = 3;

    /// <summary>Parses and checks an ELF64 little-endian x86-64 ET_EXEC image; throws
    /// <see cref="InvalidDataException"/> saying what is wrong.</summary>
    public static ElfImage Parse(ReadOnlySpan<byte> elf)
    {
        if (elf.Length < 64) throw new InvalidDataException($"not an ELF file: {elf.Length} bytes is shorter than an ELF64 header (64)");
        if (elf[0] != 0x7F || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file: bad magic (expected 7f 45 4c 46)");
        if (elf[4] != 2) throw new InvalidDataException($"unsupported ELF class {elf[4]}: only ELF64 (2) is supported");
        if (elf[5] != 1) throw new InvalidDataException($"unsupported ELF data encoding {elf[5]}: only little-endian (1) is supported");
        if (elf[6] != 1) throw new InvalidDataException($"unsupported ELF version {elf[6]}");
        ushort type = U16(elf, 16), machine = U16(elf, 18);
        if (machine != 62) throw new InvalidDataException($"unsupported ELF machine {machine}: only x86-64 (62) is supported");
        if (type == 3) throw new InvalidDataException("ELF type ET_DYN (PIE or shared object) is not supported: link with -static -no-pie");
        if (type != 2) throw new InvalidDataException($"unsupported ELF type {type}: only ET_EXEC (2) is supported");
        ulong entry = U64(elf, 24), phoff = U64(elf, 32);
        ushort phentsize = U16(elf, 54), phnum = U16(elf, 56);
        if (phnum == 0) throw new InvalidDataException("ELF has no program headers");
        if (phentsize < 56) throw new InvalidDataException($"ELF program header size {phentsize} is too small (expected 56)");
        if (phoff > (ulong)elf.Length || (ulong)phnum * phentsize > (ulong)elf.Length - phoff)
            throw new InvalidDataException($"ELF program headers (offset {phoff}, {phnum} x {phentsize} bytes) lie outside the {elf.Length}-byte file");

        var segments = new List<ElfSegment>();
        for (int i = 0; i < phnum; i++)
        {
            var ph = elf.Slice((int)phoff + i * phentsize, 56);
            uint ptype = U32(ph, 0);
            if (ptype == PT_INTERP) throw new InvalidDataException("ELF is dynamically linked (has PT_INTERP): link with -static");
            if (ptype == PT_DYNAMIC) throw new InvalidDataException("ELF has a PT_DYNAMIC segment (needs relocation): link with -static -no-pie");
            if (ptype != PT_LOAD) continue;
            var s = new ElfSegment(VirtualAddress: U64(ph, 16), FileOffset: U64(ph, 8), FileSize: U64(ph, 32), MemorySize: U64(ph, 40), Flags: U32(ph, 4));
            if (s.FileSize > s.MemorySize)
                throw new InvalidDataException($"PT_LOAD #{i}: file size 0x{s.FileSize:x} exceeds memory size 0x{s.MemorySize:x}");
            if (s.FileOffset > (ulong)elf.Length || s.FileSize > (ulong)elf.Length - s.FileOffset)
                throw new InvalidDataException($"PT_LOAD #{i}: file range [0x{s.FileOffset:x}, +0x{s.FileSize:x}) lies outside the {elf.Length}-byte file");
            if (s.VirtualAddress < 4096 || s.VirtualAddress >= 0x0000_8000_0000_0000UL || s.MemorySize > 0x0000_8000_0000_0000UL - s.VirtualAddress)
                throw new InvalidDataException($"PT_LOAD #{i}: [0x{s.VirtualAddress:x}, +0x{s.MemorySize:x}) is not inside the user address space");
            if (s.MemorySize > 1UL << 32)
                throw new InvalidDataException($"PT_LOAD #{i}: memory size 0x{s.MemorySize:x} is unreasonably large");
            segments.Add(s);
        }
        if (segments.Count == 0) throw new InvalidDataException("ELF has no PT_LOAD segments");
        if (!segments.Any(s => s.Executable && entry >= s.VirtualAddress && entry < s.VirtualAddress + s.MemorySize))
            throw new InvalidDataException($"ELF entry point 0x{entry:x} is not inside an executable PT_LOAD segment");
        return new ElfImage(entry, segments);
    }

    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b[o..]);
    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
