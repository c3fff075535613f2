using Iced.Intel;
using Lab.Machine.Cpu;
using Lab.TestSupport;
using static Iced.Intel.AssemblerRegisters;

namespace Lab.Machine.Tests.SystemMode;

/// <summary>
/// A system-mode machine with a tiny kernel world built by the host: a GDT (kernel code 0x08, kernel
/// data 0x10, user data 0x1B, user code 0x23 — the syscall/sysret layout — a TSS at 0x28, a data
/// segment with base <see cref="FsSegmentBase"/> at 0x38 and a not-present one at 0x40), an IDT whose
/// 256 gates point at recording stubs, a TSS (rsp0, IST1, an I/O bitmap allowing port 0x80 only),
/// supervisor-only kernel pages identity-mapped and user pages at the addresses of <see cref="CpuFixture"/>.
/// Tests assemble kernel code (run at boot, after a prologue that loads the GDT, IDT, TR and data
/// segments) and user code, then run. The default handler records the vector, error code and frame
/// at <see cref="Record"/> and halts with interrupts off, so Run returns <see cref="RunExit.Halted"/>.
/// </summary>
public sealed class SystemFixture : IDisposable
{
    public const ulong Gdt = 0x1000, GdtrAt = 0x1F00, IdtrAt = 0x1F10, Idt = 0x2000, Tss = 0x3000;
    public const ulong Record = 0x4000;           // handler output, see the Rec* offsets
    public const ulong KernelData = 0x5000;       // free kernel variables (supervisor RW)
    public const ulong FsSegmentBase = 0x6000;
    public const ulong KernelCode = 0x10000, CommonHandler = 0x17000, Stubs = 0x18000;
    public const ulong KernelStackTop = 0x38000, IstStackTop = 0x40000;
    public const ulong ReadOnlyKernelPage = 0x41000;
    public const ulong NxKernelPage = 0x42000;
    public const ulong UserCode = 0x400000, UserData = 0x600000, UserStackTop = 0x800000, UserReadOnly = 0x610000;
    public const ushort KernelCs = 0x08, KernelSs = 0x10, UserSs = 0x1B, UserCs = 0x23, TssSel = 0x28, FsSel = 0x38, AbsentSel = 0x40;

    public const int RecVector = 0, RecError = 8, RecRip = 16, RecCs = 24, RecFlags = 32, RecRsp = 40, RecSs = 48,
        RecHandlerRsp = 56, RecCr2 = 64, RecCount = 72;

    public static readonly PhysAddr UserCodePhys = new(0x200000), UserDataPhys = new(0x210000), UserStackPhys = new(0x220000),
        UserReadOnlyPhys = new(0x230000);

    public X64Machine Machine { get; }
    public Lab.Machine.Cpu.Cpu Cpu => Machine.Cpu;
    public PageTableBuilder Tables { get; }
    public List<GuestEvent> Events { get; } = new();

    public SystemFixture(ulong instructionsPerSecond = 1_193_182 * 10)
    {
        Machine = new X64Machine(new MachineOptions
        {
            MemorySize = 4 << 20, Mode = MachineMode.System, InstructionsPerSecond = instructionsPerSecond,
        });
        Machine.EventObserver = new Recorder(Events);
        var mem = Machine.Memory;
        Tables = new PageTableBuilder(mem, new PhysAddr(0x100000), 0x80000);
        const PteFlags K = PteFlags.Writable;     // (only NxKernelPage is no-execute, so EFER.NXE can be cleared)
        Tables.Map(new VirtAddr(0x1000), new PhysAddr(0x1000), 0x6000, K);                  // GDT .. FS segment data
        Tables.Map(new VirtAddr(KernelCode), new PhysAddr(KernelCode), 0x10000, PteFlags.None);   // kernel text: supervisor, read-only
        Tables.Map(new VirtAddr(0x20000), new PhysAddr(0x20000), 0x20000, K);               // kernel stacks
        Tables.Map(new VirtAddr(ReadOnlyKernelPage), new PhysAddr(ReadOnlyKernelPage), 0x1000, PteFlags.NoExecute);
        Tables.Map(new VirtAddr(NxKernelPage), new PhysAddr(NxKernelPage), 0x1000, K | PteFlags.NoExecute);
        Tables.Map(new VirtAddr(0x100000), new PhysAddr(0x100000), 0x80000, K);             // the page tables themselves
        Tables.Map(new VirtAddr(UserCode), UserCodePhys, 0x10000, PteFlags.User);
        Tables.Map(new VirtAddr(UserData), UserDataPhys, 0x10000, PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);
        Tables.Map(new VirtAddr(UserReadOnly), UserReadOnlyPhys, 0x1000, PteFlags.User | PteFlags.NoExecute);
        Tables.Map(new VirtAddr(UserStackTop - 0x10000), UserStackPhys, 0x10000, PteFlags.User | PteFlags.Writable | PteFlags.NoExecute);

        // GDT.
        ulong[] gdt =
        [
            0,
            0x00209A0000000000,   // 0x08 kernel code: P, DPL 0, code, L
            0x0000920000000000,   // 0x10 kernel data: P, DPL 0, writable
            0x0000F20000000000,   // 0x18 user data: P, DPL 3, writable
            0x0020FA0000000000,   // 0x20 user code: P, DPL 3, code, L
            TssDescriptorLow(Tss, 0x68 + 0x20 - 1), Tss >> 32,   // 0x28 TSS (16 bytes)
            0x0000F20000000000 | ((FsSegmentBase & 0xFFFFFF) << 16),   // 0x38 DPL 3 data with base
            0x0000720000000000,   // 0x40 DPL 3 data, not present
        ];
        for (int i = 0; i < gdt.Length; i++) mem.WriteU64(new PhysAddr(Gdt + (ulong)i * 8), gdt[i]);
        mem.WriteU16(new PhysAddr(GdtrAt), (ushort)(gdt.Length * 8 - 1));
        mem.WriteU64(new PhysAddr(GdtrAt + 2), Gdt);
        mem.WriteU16(new PhysAddr(IdtrAt), 256 * 16 - 1);
        mem.WriteU64(new PhysAddr(IdtrAt + 2), Idt);

        // TSS: rsp0, IST1, I/O bitmap at 0x68 allowing only port 0x80.
        mem.WriteU64(new PhysAddr(Tss + 4), KernelStackTop);
        mem.WriteU64(new PhysAddr(Tss + 36), IstStackTop);
        mem.WriteU16(new PhysAddr(Tss + 0x66), 0x68);
        for (int i = 0; i < 0x20; i++) mem.WriteU8(new PhysAddr(Tss + 0x68 + (ulong)i), 0xFF);
        mem.WriteU8(new PhysAddr(Tss + 0x68 + 0x80 / 8), 0xFE);

        // Recording stubs and gates.
        WriteCommonHandler();
        for (int v = 0; v < 256; v++)
        {
            var a = new Assembler(64);
            if (!Lab.Machine.Cpu.Cpu.PushesErrorCode((byte)v)) a.push(0);
            a.push(v);
            a.jmp(CommonHandler);
            WriteCode(a, Stubs + (ulong)v * 16);
            SetGate((byte)v, Stubs + (ulong)v * 16);
        }
    }

    public void Dispose() => Machine.Dispose();

    private static ulong TssDescriptorLow(ulong b, ulong limit) =>
        (limit & 0xFFFF) | ((b & 0xFFFFFF) << 16) | (0x89UL << 40) | (((limit >> 16) & 0xF) << 48) | (((b >> 24) & 0xFF) << 56);

    /// <summary>Writes an IDT gate: type 0xE interrupt gate (or 0xF trap gate), selector 0x08.</summary>
    public void SetGate(byte vector, ulong handler, int dpl = 0, int ist = 0, bool trapGate = false, bool present = true, ushort selector = KernelCs)
    {
        ulong low = (handler & 0xFFFF) | ((ulong)selector << 16) | ((ulong)ist << 32)
            | ((trapGate ? 0xFUL : 0xEUL) << 40) | ((ulong)dpl << 45) | (present ? 1UL << 47 : 0)
            | ((handler & 0xFFFF0000) << 32);
        Machine.Memory.WriteU64(new PhysAddr(Idt + (ulong)vector * 16), low);
        Machine.Memory.WriteU64(new PhysAddr(Idt + (ulong)vector * 16 + 8), handler >> 32);
    }

    private void WriteCommonHandler()
    {
        var a = new Assembler(64);
        // Stack: vector, error, rip, cs, rflags, rsp, ss.
        for (int i = 0; i < 7; i++)
        {
            a.mov(rax, __qword_ptr[rsp + 8 * i]);
            a.mov(__qword_ptr[(long)Record + 8 * i], rax);
        }
        a.mov(__qword_ptr[(long)Record + RecHandlerRsp], rsp);
        a.mov(rax, cr2);
        a.mov(__qword_ptr[(long)Record + RecCr2], rax);
        a.inc(__qword_ptr[(long)Record + RecCount]);
        a.hlt();
        WriteCode(a, CommonHandler);
    }

    /// <summary>Assembles at <paramref name="at"/> and writes the bytes to the identical physical address (kernel) or the user code page.</summary>
    public AssemblerResult WriteCode(Assembler a, ulong at, PhysAddr? phys = null)
    {
        var ms = new MemoryStream();
        var result = a.Assemble(new StreamCodeWriter(ms), at, BlockEncoderOptions.ReturnNewInstructionOffsets);
        Machine.Memory.Write(phys ?? new PhysAddr(at), ms.ToArray());
        return result;
    }

    /// <summary>
    /// Assembles the kernel: a prologue (lgdt, lidt, ltr, data segments = 0x10, rsp = kernel stack top)
    /// then <paramref name="body"/>, at <see cref="KernelCode"/>. Boots the machine there.
    /// </summary>
    public AssemblerResult Kernel(Action<Assembler> body, ulong cr0Extra = 0, ulong eferExtra = 0)
    {
        var a = new Assembler(64);
        a.lgdt(__[(long)GdtrAt]);
        a.lidt(__[(long)IdtrAt]);
        a.mov(ax, TssSel);
        a.ltr(ax);
        a.mov(ax, KernelSs);
        a.mov(ss, ax);
        a.mov(ds, ax);
        a.mov(es, ax);
        a.mov(rsp, KernelStackTop);
        body(a);
        var result = WriteCode(a, KernelCode);
        Machine.Boot(new LongModeEntry(
            Cr0: (ulong)(Cr0Flags.PE | Cr0Flags.PG | Cr0Flags.WP) | cr0Extra,
            Cr3: Tables.Root.Value,
            Cr4: (ulong)Cr4Flags.PAE,
            Efer: (ulong)(EferFlags.LME | EferFlags.SCE | EferFlags.NXE) | eferExtra,
            GdtBase: Gdt, GdtLimit: 8 * 9 - 1, CodeSelector: KernelCs,
            Rip: KernelCode, Rsp: KernelStackTop, RFlags: 2));
        return result;
    }

    /// <summary>Assembles user code at <see cref="UserCode"/>.</summary>
    public AssemblerResult User(Action<Assembler> body)
    {
        var a = new Assembler(64);
        body(a);
        return WriteCode(a, UserCode, UserCodePhys);
    }

    /// <summary>Emits the iretq that enters user code at <paramref name="rip"/> with the given rflags.</summary>
    public static void IretToUser(Assembler a, ulong rip = UserCode, ulong rflags = 0x202, ulong rsp = UserStackTop)
    {
        a.push(UserSs);
        a.mov(rax, rsp);
        a.push(rax);
        a.push((int)rflags);
        a.push(UserCs);
        a.mov(rax, rip);
        a.push(rax);
        a.iretq();
    }

    public ulong Rec(int offset) => Machine.Memory.ReadU64(new PhysAddr(Record + (ulong)offset));
    public ulong Kvar(int offset) => Machine.Memory.ReadU64(new PhysAddr(KernelData + (ulong)offset));

    /// <summary>Runs and asserts the CPU ended halted with interrupts off (the recording handler ran, or the kernel halted).
    /// The recording handler clobbers rax.</summary>
    public void RunToHalt(ulong budget = 10_000_000)
    {
        var r = Machine.Run(budget);
        Assert.True(r.Exit == RunExit.Halted, $"expected a halt, got {r.Exit}; events: {string.Join("; ", Events)}");
    }

    private sealed class Recorder(List<GuestEvent> events) : IGuestEventObserver
    {
        public void OnGuestEvent(X64Machine machine, in GuestEvent e) => events.Add(e);
    }
}
