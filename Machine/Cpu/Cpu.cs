using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Lab.Machine.Cpu;

/// <summary>
/// The x86-64 CPU: registers, lazy flags, the software TLB and the decoded-block cache. It executes
/// guest code until a trap and reports the trap as a value; it knows nothing of any kernel.
/// In user-mode HLE (the default) it runs at CPL 3 only and every trap goes to the owner; in system
/// mode it also has CPL 0, segments, descriptor tables, control registers and MSRs, and delivers
/// events through the guest's IDT (SystemState.cs, Interrupts.cs, Ops/System.cs, Ops/Segments.cs).
/// Split over files: Cpu.cs (state), Mmu.cs (page walk, TLB, guest memory access),
/// BlockCache.cs (decode and cache), Interpreter.cs (dispatch), and one file per instruction family
/// under Ops/.
/// </summary>
public sealed unsafe partial class Cpu : IDisposable
{
    // Register file in unmanaged memory: indices come from decoded data, so a managed array would
    // keep its bounds checks on every access.
    // 256 entries: 0..15 are the GPRs; entry 255 (Op.NoReg) stays 0 so an absent base or index
    // register adds nothing to an effective address without a branch.
    private ulong* _regs;
    private Vector128<byte>* _xmm;      // 16 XMM registers

    private ulong _rip;
    /// <summary>The non-status RFLAGS bits (DF, IF, reserved bit 1 ...).</summary>
    private ulong _flagsOther = 0x202;

    // Lazy arithmetic flags: the last flag-setting operation and its operands (see Flags.cs).
    private FlagOp _fop = FlagOp.Explicit;
    private byte _fsize = 8;
    private ulong _fa, _fb, _fr, _faux;

    private ulong _cr3;

    private readonly PhysicalMemory _memory;

    internal Cpu(PhysicalMemory memory, bool systemMode = false, ExecutionTier tier = ExecutionTier.Interp, int jitThreshold = 1000, int jitCodeLimit = 65_536, bool jitBackground = false, int jitPromoteAfter = 0)
    {
        _memory = memory;
        SystemMode = systemMode;
        Tier = tier;
        _jitThreshold = Math.Max(1, jitThreshold);
        _jitCodeLimit = Math.Max(1, jitCodeLimit);
        _jitBackground = jitBackground;
        // A region compiled in the background costs the CPU's thread nothing: no quick first compile.
        _jitPromoteAfter = jitBackground ? 0 : Math.Max(0, jitPromoteAfter);
        _regs = (ulong*)NativeMemory.AllocZeroed(256 * sizeof(ulong));
        _xmm = (Vector128<byte>*)NativeMemory.AlignedAlloc(16 * 16, 16);
        NativeMemory.Clear(_xmm, 16 * 16);
        // System mode keeps a second TLB for supervisor (CPL 0-2) accesses, so a translation cached
        // for the kernel never grants user code anything; a privilege change only switches _tlb.
        _tlbBits = TlbBitsFor(memory.Size);
        _tlbSize = 1 << _tlbBits;
        _tlbCount = systemMode ? 2 * _tlbSize : _tlbSize;
        _tlbUser = (TlbEntry*)NativeMemory.AlignedAlloc((nuint)(_tlbCount * sizeof(TlbEntry)), 64);
        _tlbSupervisor = systemMode ? _tlbUser + _tlbSize : _tlbUser;
        _tlb = _tlbUser;
        _tlbFilled = new int[_tlbCount];
        _tlbListed = new bool[_tlbCount];
        if (systemMode) ResetSystemState();
        ResetTlb();
        _decoder = Iced.Intel.Decoder.Create(64, _codeReader, Iced.Intel.DecoderOptions.None);
        memory.CodeObserver = this;
    }

    ~Cpu() => FreeNative();

    public void Dispose()
    {
        FreeNative();
        GC.SuppressFinalize(this);
    }

    private void FreeNative()
    {
        if (_regs != null) { NativeMemory.Free(_regs); _regs = null; }
        if (_xmm != null) { NativeMemory.AlignedFree(_xmm); _xmm = null; }
        if (_tlbUser != null) { NativeMemory.AlignedFree(_tlbUser); _tlbUser = _tlbSupervisor = _tlb = null; }
        FreeAccessWindows();
    }

    // ------------------------------------------------------------------------------------------
    // Architectural state as the owner sees it.

    /// <summary>A 64-bit general-purpose register.</summary>
    public ulong this[Register r]
    {
        get => _regs[(int)r & 15];
        set => _regs[(int)r & 15] = value;
    }

    public ulong Rip { get => _rip; set => _rip = value; }

    /// <summary>RFLAGS, materialised from the lazy state. Setting it replaces every flag.</summary>
    public ulong RFlags
    {
        get => (_flagsOther & ~FlagMath.StatusMask) | StatusFlags() | 2;
        set
        {
            _flagsOther = (value & ~FlagMath.StatusMask & 0x3F7FD7UL) | 2;
            SetStatusFlags(value & FlagMath.StatusMask);
        }
    }

    /// <summary>FS segment base (thread-local storage, <c>%fs:</c> operands).</summary>
    public ulong FsBase { get; set; }
    /// <summary>GS segment base.</summary>
    public ulong GsBase { get; set; }

    /// <summary>The last page-fault address.</summary>
    public ulong Cr2 { get; set; }

    /// <summary>Physical address of the PML4. Writing it flushes the TLB, as on hardware.</summary>
    public ulong Cr3
    {
        get => _cr3;
        set { _cr3 = value & 0x000F_FFFF_FFFF_F000UL; FlushTlb(); }
    }

    public UInt128 GetXmm(int index)
    {
        var v = _xmm[index & 15].AsUInt64();
        return new UInt128(v.GetElement(1), v.GetElement(0));
    }

    public void SetXmm(int index, UInt128 value) =>
        _xmm[index & 15] = Vector128.Create((ulong)value, (ulong)(value >> 64)).AsByte();

    /// <summary>Copies the 16 general registers (rax..r15 order) into <paramref name="destination"/>.</summary>
    public void GetRegisters(Span<ulong> destination) => new ReadOnlySpan<ulong>(_regs, 16).CopyTo(destination);

    public void SetRegisters(ReadOnlySpan<ulong> source) => source[..16].CopyTo(new Span<ulong>(_regs, 16));

    // ------------------------------------------------------------------------------------------
    // Register access used by the instruction handlers.

    /// <summary>Reads a register operand of the given size. Index 16..19 are AH, CH, DH, BH.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong GetReg(byte r, int size)
    {
        switch (size)
        {
            case 8: return _regs[r];
            case 4: return (uint)_regs[r];
            case 2: return (ushort)_regs[r];
            default: return r < 16 ? (byte)_regs[r] : (byte)(_regs[r - 16] >> 8);
        }
    }

    /// <summary>Writes a register operand: 32-bit writes zero-extend, 8/16-bit writes merge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetReg(byte r, int size, ulong v)
    {
        switch (size)
        {
            case 8: _regs[r] = v; break;
            case 4: _regs[r] = (uint)v; break;
            case 2: _regs[r] = (_regs[r] & ~0xFFFFUL) | (ushort)v; break;
            default:
                if (r < 16) _regs[r] = (_regs[r] & ~0xFFUL) | (byte)v;
                else _regs[r - 16] = (_regs[r - 16] & ~0xFF00UL) | ((ulong)(byte)v << 8);
                break;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Lazy flags.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetFlags(FlagOp op, int size, ulong a, ulong b, ulong r)
    {
        _fop = op; _fsize = (byte)size; _fa = a; _fb = b; _fr = r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void SetFlagsAux(FlagOp op, int size, ulong a, ulong b, ulong r, ulong aux)
    {
        _fop = op; _fsize = (byte)size; _fa = a; _fb = b; _fr = r; _faux = aux;
    }

    /// <summary>The six status flags, computed from the lazy state.</summary>
    internal ulong StatusFlags() => FlagMath.Compute(_fop, _fsize, _fa, _fb, _fr, _faux);

    internal void SetStatusFlags(ulong status)
    {
        _fop = FlagOp.Explicit;
        _faux = status & FlagMath.StatusMask;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool CarryFlag() => _fop switch
    {
        FlagOp.Sub => _fa < _fb,
        FlagOp.Logic => false,
        FlagOp.Add => _fr < _fa,
        _ => (StatusFlags() & FlagMath.CF) != 0,
    };

    /// <summary>Evaluates condition code cc (0..15), with fast paths after cmp/sub and test/logic.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Condition(int cc)
    {
        if (_fop == FlagOp.Sub)
        {
            ulong a = _fa, b = _fb;
            switch (cc)
            {
                case 2: return a < b;
                case 3: return a >= b;
                case 4: return a == b;
                case 5: return a != b;
                case 6: return a <= b;
                case 7: return a > b;
                case 12: return FlagMath.SignExtend(a, _fsize) < FlagMath.SignExtend(b, _fsize);
                case 13: return FlagMath.SignExtend(a, _fsize) >= FlagMath.SignExtend(b, _fsize);
                case 14: return FlagMath.SignExtend(a, _fsize) <= FlagMath.SignExtend(b, _fsize);
                case 15: return FlagMath.SignExtend(a, _fsize) > FlagMath.SignExtend(b, _fsize);
            }
        }
        else if (_fop == FlagOp.Logic)
        {
            ulong r = _fr;
            switch (cc)
            {
                case 4: return r == 0;
                case 5: return r != 0;
                case 8: case 12: return (r & FlagMath.SignBit(_fsize)) != 0;
                case 9: case 13: return (r & FlagMath.SignBit(_fsize)) == 0;
            }
        }
        else if (_fop != FlagOp.Explicit)
        {
            // Every lazy op keeps its result truncated to the operand size, so ZF and SF come
            // straight from it (the dec/jnz loop case).
            switch (cc)
            {
                case 4: return _fr == 0;
                case 5: return _fr != 0;
                case 8: return (_fr & FlagMath.SignBit(_fsize)) != 0;
                case 9: return (_fr & FlagMath.SignBit(_fsize)) == 0;
            }
        }
        return FlagMath.Evaluate(cc, StatusFlags());
    }

    internal bool DirectionFlag => (_flagsOther & (ulong)Machine.RFlags.DF) != 0;
}
