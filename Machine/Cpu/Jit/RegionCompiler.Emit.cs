using System.Diagnostics;
using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// IL building blocks: guest registers as locals (with the interpreter's partial-register rules),
/// effective addresses, memory accesses through the CPU's TLB helpers with a fault side exit, operand
/// reads and writes by form, and constants. Every value on the IL stack is a 64-bit integer (ulong).
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    // Scratch locals, each used only within one op.
    private LocalBuilder _tD = null!, _tS = null!, _tR = null!, _tV = null!, _tA = null!, _tSet = null!, _tAux = null!;
    /// <summary>Memory access scratch: the guest address and its TLB slot.</summary>
    private LocalBuilder _tAddr = null!, _tEntry = null!;
    /// <summary>Memory access scratch: a host pointer, the addend of an access through its own window or the TLB (<see cref="PushHost"/>), a window's countdown after a miss.</summary>
    private LocalBuilder _tHost = null!, _tAddend = null!, _tWinCount = null!;

    /// <summary>How <see cref="PushHost"/> forms the host pointer of the access being emitted.</summary>
    private enum HostForm : byte
    {
        /// <summary>_tHost (a group member that missed its group, out of line).</summary>
        Local,
        /// <summary>_tAddr + _tAddend: an access through its own window or the TLB.</summary>
        AddrPlusAddend,
        /// <summary>The group's pointer + the member's offset in the group's range (<see cref="_member"/>).</summary>
        GroupMember,
    }

    private HostForm _hostForm;
    /// <summary>For <see cref="HostForm.GroupMember"/>: the group's pointer and the member's offset from it (a displacement, and index·scale for an indexed member).</summary>
    private (LocalBuilder Host, long Offset, byte Index, byte Scale) _member;
    /// <summary>Out-of-line code emitted after the region's blocks (<see cref="EmitColdPaths"/>), and the op that added it.</summary>
    private readonly List<(int Op, Action Emit)> _cold = new();

    /// <summary>Adds out-of-line code for the current op.</summary>
    private void Cold(Action emit) => _cold.Add((_i, emit));
    /// <summary>A shift count (int).</summary>
    private LocalBuilder _tCount = null!;
    /// <summary>The region's first access window (loaded at entry), and the windows reserved for it and used so far.</summary>
    private LocalBuilder _winBase = null!;
    private AccessWindow* _windows;
    private int _windowsUsed;
    /// <summary>Most memory accesses one compiled op makes (push from memory, a read-modify-write destination).</summary>
    private const int MaxAccessesPerOp = 2;

    /// <summary>A value for <see cref="SetFlags"/>: a local, or a constant when no local is given.</summary>
    private readonly record struct Val(LocalBuilder? Local, ulong Const = 0)
    {
        public static implicit operator Val(LocalBuilder l) => new(l);
        public static Val Of(ulong c) => new(null, c);

        public void Push(RegionCompiler c)
        {
            if (Local != null) c._il.Emit(OpCodes.Ldloc, Local);
            else c.Const(Const);
        }
    }

    /// <summary>Declares the flag locals, the scratch locals, the run's counters and the epilogue's inputs.</summary>
    private void CreateTemps()
    {
        _fkind = _il.DeclareLocal(typeof(int));
        _fa = _il.DeclareLocal(typeof(ulong)); _fb = _il.DeclareLocal(typeof(ulong));
        _fr = _il.DeclareLocal(typeof(ulong)); _faux = _il.DeclareLocal(typeof(ulong));
        _tD = _il.DeclareLocal(typeof(ulong)); _tS = _il.DeclareLocal(typeof(ulong));
        _tR = _il.DeclareLocal(typeof(ulong)); _tV = _il.DeclareLocal(typeof(ulong));
        _tA = _il.DeclareLocal(typeof(ulong)); _tSet = _il.DeclareLocal(typeof(ulong));
        _tAux = _il.DeclareLocal(typeof(ulong));
        _sA = _il.DeclareLocal(typeof(ulong)); _sB = _il.DeclareLocal(typeof(ulong)); _sR = _il.DeclareLocal(typeof(ulong));
        _memoryOperand = _il.DeclareLocal(typeof(ulong));
        _tCount = _il.DeclareLocal(typeof(int));
        _winBase = _il.DeclareLocal(typeof(nuint));
        _tAddr = _il.DeclareLocal(typeof(ulong)); _tEntry = _il.DeclareLocal(typeof(nuint));
        _tHost = _il.DeclareLocal(typeof(nuint)); _tAddend = _il.DeclareLocal(typeof(ulong)); _tWinCount = _il.DeclareLocal(typeof(int));
        _tGroupVa = _il.DeclareLocal(typeof(ulong));
        _left = _il.DeclareLocal(typeof(ulong));
        _inv0 = _il.DeclareLocal(typeof(long));
        _xRip = _il.DeclareLocal(typeof(ulong)); _xRetired = _il.DeclareLocal(typeof(ulong));
        _xStatus = _il.DeclareLocal(typeof(int)); _xBlock = _il.DeclareLocal(typeof(int));
        _xSlot = _il.DeclareLocal(typeof(int)); _xWay = _il.DeclareLocal(typeof(int)); _next = _il.DeclareLocal(typeof(Block));
        _xCredit = _il.DeclareLocal(typeof(long));
        _xLeave = _il.DeclareLocal(typeof(int)); _xRow = _il.DeclareLocal(typeof(JitLeave).MakeByRefType());
        _xRegs = _il.DeclareLocal(typeof(ulong*));
        _loadRegs = _il.DefineLabel(); _afterLoads = _il.DefineLabel();
    }

    /// <summary>Pushes a 64-bit constant.</summary>
    private void Const(ulong v) => _il.Emit(OpCodes.Ldc_I8, (long)v);

    /// <summary>The local holding GPR r (0..15), created on first use (the prologue loads it).</summary>
    private LocalBuilder Reg(int r) =>
        _inFile[r] ? throw new InvalidOperationException($"JIT: register {r} is cold (in the register file), it has no local")
        : _reg[r] ??= _il.DeclareLocal(typeof(ulong));

    /// <summary>Pushes register operand r of the given size, zero-extended (r 16..19 = AH, CH, DH, BH).</summary>
    private void GetReg(int r, int size)
    {
        PushRegBits(r, size);
        if (size != 4 || !ZeroExtended(r)) Truncate(size);   // never zero-extended: ah..bh
    }

    /// <summary>
    /// Pushes register operand r's low <paramref name="size"/> bytes sign-extended to 64 bits. Not
    /// GetReg then SignExtend: the sign extension reads only the low bytes, and RyuJIT emits the
    /// truncation GetReg adds as a <c>mov r32, r32</c> before the <c>movsxd</c> (every movslq of a C int).
    /// </summary>
    private void GetRegSigned(int r, int size)
    {
        PushRegBits(r, size);
        SignExtend(size);
    }

    /// <summary>Pushes the local of register operand r with the operand in its low <paramref name="size"/> bytes (shifted down for AH..BH), the bits above it as they are.</summary>
    private void PushRegBits(int r, int size)
    {
        bool high = size == 1 && r >= 16;
        LoadReg(high ? r - 16 : r);
        if (high) { _il.Emit(OpCodes.Ldc_I4_8); _il.Emit(OpCodes.Shr_Un); }
    }

    /// <summary>Whether register r's local holds a value zero-extended from 32 bits here (RegionCompiler.ZeroExtend.cs).</summary>
    private bool ZeroExtended(int r) => r < 16 && !_inFile[r] && (_il.ZeroExtended >> r & 1) != 0;

    /// <summary>
    /// Pops a value into register operand r: 64-bit replaces, 32-bit zero-extends, 8/16-bit merge.
    /// <paramref name="zeroExtended"/>: the value is zero-extended from the size already (no truncation:
    /// RyuJIT emits a <c>mov r32, r32</c> for each, and a copy it could otherwise coalesce).
    /// </summary>
    private void SetReg(int r, int size, bool zeroExtended = false)
    {
        switch (size)
        {
            case 8:
                StoreReg(r); break;
            case 4:
                if (!zeroExtended) Truncate(4);
                StoreReg(r);
                _il.ZeroExtended |= 1u << r;
                break;
            default:
                {
                    int target = r >= 16 ? r - 16 : r;
                    int shift = r >= 16 ? 8 : 0;
                    ulong keep = ~(FlagMath.Mask(size) << shift);
                    if (!zeroExtended) Truncate(size);
                    if (shift != 0) { _il.Emit(OpCodes.Ldc_I4_8); _il.Emit(OpCodes.Shl); }
                    _il.Emit(OpCodes.Stloc, _tSet);
                    LoadReg(target);
                    Const(keep);
                    _il.Emit(OpCodes.And);
                    _il.Emit(OpCodes.Ldloc, _tSet);
                    _il.Emit(OpCodes.Or);
                    StoreReg(target);
                    break;
                }
        }
        _written[r >= 16 && size == 1 ? r - 16 : r] = true;
    }

    /// <summary>Zero-extends the low <paramref name="size"/> bytes of the value on the stack.</summary>
    private void Truncate(int size)
    {
        switch (size)
        {
            case 4: _il.Emit(OpCodes.Conv_U4); _il.Emit(OpCodes.Conv_U8); break;
            case 2: _il.Emit(OpCodes.Conv_U2); _il.Emit(OpCodes.Conv_U8); break;
            case 1: _il.Emit(OpCodes.Conv_U1); _il.Emit(OpCodes.Conv_U8); break;
        }
    }

    /// <summary>Sign-extends the low <paramref name="size"/> bytes of the value on the stack to 64 bits.</summary>
    private void SignExtend(int size)
    {
        switch (size)
        {
            case 4: _il.Emit(OpCodes.Conv_I4); _il.Emit(OpCodes.Conv_I8); break;
            case 2: _il.Emit(OpCodes.Conv_I2); _il.Emit(OpCodes.Conv_I8); break;
            case 1: _il.Emit(OpCodes.Conv_I1); _il.Emit(OpCodes.Conv_I8); break;
        }
    }

    /// <summary>Pushes base + index·scale + disp (no segment, with the 0x67 truncation): lea's value.</summary>
    private void EmitAddress(ref Op op)
    {
        EmitSum(op.Disp, op.Base, op.Index, op.Scale);
        if ((op.Flags & OpFlags.Addr32) != 0) Truncate(4);
    }

    /// <summary>Pushes disp + base + (index &lt;&lt; scale), each register only when present (64-bit, wrapping).</summary>
    private void EmitSum(long disp, byte baseReg, byte index, byte scale)
    {
        Const((ulong)disp);
        if (baseReg != Op.NoReg) { LoadReg(baseReg); _il.Emit(OpCodes.Add); }
        if (index != Op.NoReg)
        {
            LoadReg(index);
            if (scale != 0) { _il.Emit(OpCodes.Ldc_I4, (int)scale); _il.Emit(OpCodes.Shl); }
            _il.Emit(OpCodes.Add);
        }
    }

    /// <summary>Pushes the effective address of the memory operand, as <c>Cpu.EA</c> computes it (segment base included).</summary>
    private void EmitEA(ref Op op)
    {
        EmitAddress(ref op);
        if (op.Seg != 0)
        {
            _il.Emit(OpCodes.Ldarg_1);
            _il.Emit(OpCodes.Call, op.Seg == 1 ? JitMembers.FsBase : JitMembers.GsBase);
            _il.Emit(OpCodes.Add);
        }
    }

    /// <summary>
    /// Reads <paramref name="size"/> bytes at the op's memory operand into <paramref name="dest"/>,
    /// zero-extended (sign-extended when <paramref name="signed"/>: one movsx from memory; to 32 bits
    /// only, then zero-extended, when <paramref name="to32"/>: a movsx into a 32-bit register); a fault
    /// leaves through a side exit.
    /// </summary>
    private void Load(ref Op op, int size, LocalBuilder dest, bool signed = false, bool to32 = false)
    {
        if (_groupOf[_i] >= 0)
        {
            EmitGroupAccess(ref op, size, write: false, () => LoadAtHost(size, dest, signed, to32));
            return;
        }
        EmitEA(ref op);
        FinishLoad(size, dest, signed: signed, to32: to32);
    }

    /// <summary>Reads <paramref name="size"/> bytes at the address in <paramref name="addr"/> into <paramref name="dest"/>.</summary>
    private void LoadAt(LocalBuilder addr, int size, LocalBuilder dest)
    {
        _il.Emit(OpCodes.Ldloc, addr);
        FinishLoad(size, dest);
    }

    /// <summary>
    /// Stack: address. Reads through the access's window (<see cref="EmitFastAccess"/>); its miss path,
    /// out of line, takes the interpreter's TLB read fast path (Cpu.Read64 ... Read8: the slot's read
    /// tag matches the page and the access stays in it), else leaves for the interpreter to run the op
    /// from its start (<see cref="JitMembers.ExitResume"/>: every op reads before it changes anything),
    /// so compiled code holds no call on its path. The value reaches <paramref name="dest"/> without
    /// passing through memory, so RyuJIT keeps it in a register. <paramref name="thenStore"/>: a
    /// read-modify-write's load, through a writable address only, which the op's store reuses (WriteDst).
    /// </summary>
    private void FinishLoad(int size, LocalBuilder dest, bool thenStore = false, bool signed = false, bool to32 = false)
    {
        Debug.Assert(_curSetter != _i, "an op set the flags before its load: it could not start again");
        var hit = _il.DefineLabel();
        EmitFastAccess(size, write: false, hit, ResumeLabel(), thenStore: thenStore);
        _il.MarkJoin(hit);
        LoadAtHost(size, dest, signed, to32);
    }

    /// <summary>
    /// Pushes the host pointer of the access being emitted (<see cref="_hostForm"/>) as a sum in the
    /// load's or store's own expression, so RyuJIT folds the add into its address ([base + index],
    /// [base + disp]) and the addend's load stays off the address's dependency chain (a table lookup's
    /// or a pointer chase's: one cycle less per load there). Through a local, it was an add of its own.
    /// </summary>
    private void PushHost()
    {
        switch (_hostForm)
        {
            case HostForm.AddrPlusAddend:
                _il.Emit(OpCodes.Ldloc, _tAddr);
                _il.Emit(OpCodes.Ldloc, _tAddend);
                _il.Emit(OpCodes.Add);
                _il.Emit(OpCodes.Conv_U);
                break;
            case HostForm.GroupMember:
                _il.Emit(OpCodes.Ldloc, _member.Host);
                EmitSum(_member.Offset, Op.NoReg, _member.Index, _member.Scale);
                _il.Emit(OpCodes.Conv_I);
                _il.Emit(OpCodes.Add);
                break;
            default:
                _il.Emit(OpCodes.Ldloc, _tHost);
                break;
        }
    }

    /// <summary>Reads <paramref name="size"/> bytes at the host pointer (<see cref="PushHost"/>), zero- or sign-extended, into <paramref name="dest"/>.</summary>
    private void LoadAtHost(int size, LocalBuilder dest, bool signed = false, bool to32 = false)
    {
        PushHost();
        _il.Emit(OpCodes.Unaligned, (byte)1);
        if (signed && size != 8)
        {
            // The int32 the load pushes, sign-extended from the size; to 64 bits, or zero-extended from 32.
            _il.Emit(size switch { 4 => OpCodes.Ldind_I4, 2 => OpCodes.Ldind_I2, _ => OpCodes.Ldind_I1 });
            _il.Emit(to32 ? OpCodes.Conv_U8 : OpCodes.Conv_I8);
        }
        else
        {
            _il.Emit(size switch { 8 => OpCodes.Ldind_I8, 4 => OpCodes.Ldind_U4, 2 => OpCodes.Ldind_U2, _ => OpCodes.Ldind_U1 });
            if (size != 8) _il.Emit(OpCodes.Conv_U8);
        }
        _il.Emit(OpCodes.Stloc, dest);
    }

    /// <summary>A label that leaves compiled code before the current op, for the interpreter to run it from its start (<see cref="JitMembers.ExitResume"/>; the op must not have set the flags yet).</summary>
    private Label ResumeLabel()
    {
        var l = _il.DefineLabel();
        _faults.Add(new FaultStub(l, _i, _curSetter, HandlerFaulted: false));
        return l;
    }

    private static readonly int TlbReadTag = (int)System.Runtime.InteropServices.Marshal.OffsetOf<TlbEntry>(nameof(TlbEntry.ReadTag));
    private static readonly int TlbWriteTag = (int)System.Runtime.InteropServices.Marshal.OffsetOf<TlbEntry>(nameof(TlbEntry.WriteTag));
    private static readonly int TlbAddend = (int)System.Runtime.InteropServices.Marshal.OffsetOf<TlbEntry>(nameof(TlbEntry.Addend));
    /// <summary>The offset of the TLB entry's tag for a write or a read.</summary>
    private static int TlbTag(bool write) => write ? TlbWriteTag : TlbReadTag;
    private static readonly int WindowSpan = (int)System.Runtime.InteropServices.Marshal.OffsetOf<AccessWindow>(nameof(AccessWindow.Span));
    private static readonly int WindowAddend = (int)System.Runtime.InteropServices.Marshal.OffsetOf<AccessWindow>(nameof(AccessWindow.Addend));
    private static readonly int WindowHostLo = (int)System.Runtime.InteropServices.Marshal.OffsetOf<AccessWindow>(nameof(AccessWindow.HostLo));
    private static readonly int WindowCountdown = (int)System.Runtime.InteropServices.Marshal.OffsetOf<AccessWindow>(nameof(AccessWindow.Countdown));

    /// <summary>
    /// Stack: address (taken into _tAddr). Leaves the host pointer's addend in _tAddend (the access then
    /// reads or writes at <see cref="PushHost"/>) and goes on at
    /// <paramref name="hit"/> (which the caller marks next) when the access can take the fast path:
    /// first through the access's own window (<see cref="AccessWindow"/>: (address - Lo) &lt; Span, host
    /// = address + Addend), else, out of line (<see cref="EmitColdPaths"/>), through the TLB fast path
    /// for a read or a write; otherwise leaves through <paramref name="resume"/> for the interpreter to
    /// run the op. A miss counts the window's countdown down; at zero the code leaves through
    /// <paramref name="resume"/> with the window noted in Cpu._windowPending, and the CPU rebuilds it
    /// before compiled code next runs (<see cref="Cpu.RefillPendingWindow"/>): no call on the miss path,
    /// so RyuJIT can keep guest registers in caller-saved host registers.
    /// </summary>
    private void EmitFastAccess(int size, bool write, Label hit, Label resume, bool thenStore = false)
    {
        // A read-modify-write's load (thenStore) takes only a writable host address, which its store
        // then uses with no test of its own: the window is a write window, the TLB path tests the write
        // tag (a page with one is mapped, writable, dirty and holds no code, so reads there are plain too).
        int tagOffset = TlbTag(write || thenStore);
        _hostForm = HostForm.AddrPlusAddend;
        _il.Emit(OpCodes.Stloc, _tAddr);
        int offset = NewWindow(size, write || thenStore);
        if (Unchecked(offset))
        {
            // A loop's fast copy: the pass count found this pass's address in the window.
            StoreWindowHost(offset, _tAddr, _tAddend, addendOnly: true);
            return;
        }
        var miss = _il.DefineLabel();
        bool fromOffset = EmitWindowTest(offset, _tAddr, miss, _tAddend, addendOnly: true);
        Cold(() =>
        {
            _il.MarkLabel(miss);
            if (fromOffset) RestoreVa(offset, _tAddr);
            var tlb = _il.DefineLabel();
            EmitCountdown(offset, tlb, _tAddr, resume);
            _il.MarkLabel(tlb);
            _il.Emit(OpCodes.Ldloc, _tAddr);
            EmitTlbHit(size, tagOffset, resume, addendOnly: true);
            _il.Emit(OpCodes.Stloc, _tAddend);
            _il.Emit(OpCodes.Br, hit);
        });
    }

    /// <summary>
    /// When d = <paramref name="va"/> - Lo &lt; Span for the window at <paramref name="offset"/>,
    /// <paramref name="host"/> = va + Addend (or Addend alone: the access adds va); else goes to
    /// <paramref name="miss"/>. In a crowded op (<see cref="_crowded"/>) va becomes d, and host = d +
    /// HostLo (or HostLo alone: the access adds d); the miss path then starts with
    /// <see cref="RestoreVa"/>, and the method returns true. Adding to va kept va live past the test,
    /// and where the guest's registers crowd the host's RyuJIT kept it on the stack there: a store and a
    /// reload on every access's path (BEEBS levenshtein 8 to 10% slower). Where they do not, va stays
    /// in a register and the addend's load is off the address's chain: from d, a chain of dependent
    /// loads waits for the subtraction at each (a linked list's insertion sort 13% slower).
    /// <paramref name="crowded"/> false: from va in any op (a group's check: its va is a temporary only
    /// the check reads, not an address kept for the access; from d, nbench idea and BEEBS sha256, whose
    /// crowded loops read through groups, ran 1.6% slower, best of 3).
    /// </summary>
    private bool EmitWindowTest(int offset, LocalBuilder va, Label miss, LocalBuilder host, bool addendOnly = false, bool crowded = true)
    {
        bool fromOffset = crowded && _crowded != null && _i < _n && _crowded[_i];
        _il.Emit(OpCodes.Ldloc, va);
        WindowField(offset);
        _il.Emit(OpCodes.Sub);
        if (fromOffset)
        {
            _il.Emit(OpCodes.Stloc, va);
            _il.Emit(OpCodes.Ldloc, va);
        }
        WindowField(offset + WindowSpan);
        _il.Emit(OpCodes.Bge_Un, miss);
        if (fromOffset) _crowdedTests++;
        StoreWindowHost(offset, va, host, addendOnly, fromLo: fromOffset);
        return fromOffset;
    }

    /// <summary>On the miss path of a window test that went on from d (<see cref="EmitWindowTest"/>): <paramref name="va"/> = d + Lo, the address again.</summary>
    private void RestoreVa(int offset, LocalBuilder va)
    {
        _il.Emit(OpCodes.Ldloc, va);
        WindowField(offset);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stloc, va);
    }

    /// <summary><paramref name="host"/> = <paramref name="va"/> + the Addend of the window at <paramref name="offset"/> (or the Addend alone), with no test; <paramref name="fromLo"/>: <paramref name="va"/> holds d = va - Lo, and HostLo stands for the Addend.</summary>
    private void StoreWindowHost(int offset, LocalBuilder va, LocalBuilder host, bool addendOnly = false, bool fromLo = false)
    {
        WindowField(offset + (fromLo ? WindowHostLo : WindowAddend));
        if (!addendOnly)
        {
            _il.Emit(OpCodes.Ldloc, va);
            _il.Emit(OpCodes.Add);
            _il.Emit(OpCodes.Conv_U);
        }
        _il.Emit(OpCodes.Stloc, host);
    }

    /// <summary>A new empty window of the region for uses of <paramref name="size"/> bytes; returns its offset from the first.</summary>
    private int NewWindow(int size, bool write)
    {
        if (_fastCopy != null) return _fastCopy.Windows[_replayAt++];   // a loop's fast copy shares its checked copy's
        if (_windowsUsed == MaxAccessesPerOp * _n) throw new InvalidOperationException($"more than {MaxAccessesPerOp} memory accesses per op");
        _windows[_windowsUsed] = AccessWindow.Empty(size, write);
        _checkedCopy?.Windows.Add(_windowsUsed * sizeof(AccessWindow));
        return _windowsUsed++ * sizeof(AccessWindow);
    }

    /// <summary>Adds <paramref name="delta"/> to the counter at the address on the stack (read with <paramref name="load"/>, written with <paramref name="store"/>); the new value is left in <paramref name="result"/>.</summary>
    private void AddInPlace(OpCode load, OpCode store, int delta, LocalBuilder result)
    {
        _il.Emit(OpCodes.Dup);
        _il.Emit(load);
        _il.Emit(OpCodes.Ldc_I4, delta);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Dup);
        _il.Emit(OpCodes.Stloc, result);
        _il.Emit(store);
    }

    /// <summary>
    /// A window's miss: counts its countdown down and goes on at <paramref name="next"/> while it is not
    /// zero; at zero leaves through <paramref name="resume"/> with the window and the address in
    /// <paramref name="va"/> noted for the CPU to rebuild it (Cpu._windowPending).
    /// </summary>
    private void EmitCountdown(int offset, Label next, LocalBuilder va, Label resume)
    {
        _il.Emit(OpCodes.Ldloc, _winBase);
        _il.Emit(OpCodes.Ldc_I4, offset + WindowCountdown);
        _il.Emit(OpCodes.Add);
        AddInPlace(OpCodes.Ldind_U2, OpCodes.Stind_I2, -1, _tWinCount);
        _il.Emit(OpCodes.Ldloc, _tWinCount);
        _il.Emit(OpCodes.Conv_U2);
        _il.Emit(OpCodes.Brtrue, next);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldloc, _winBase);
        _il.Emit(OpCodes.Ldc_I4, offset);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stfld, JitMembers.WindowPending);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldloc, va);
        _il.Emit(OpCodes.Stfld, JitMembers.WindowPendingVa);
        _il.Emit(OpCodes.Br, resume);
    }

    /// <summary>Pushes the 8-byte field at <paramref name="offset"/> from the region's first window.</summary>
    private void WindowField(int offset)
    {
        _il.Emit(OpCodes.Ldloc, _winBase);
        if (offset != 0) { _il.Emit(OpCodes.Ldc_I4, offset); _il.Emit(OpCodes.Add); }
        _il.Emit(OpCodes.Ldind_I8);
    }

    /// <summary>The out-of-line paths (window misses), after the region's code, so the hot path falls straight through.</summary>
    private void EmitColdPaths()
    {
        foreach (var (op, emit) in _cold)
        {
            ILSize before = Size;
            emit();
            _blockSize[_blockOf[op]] += Size - before;
        }
        _cold.Clear();
    }

    /// <summary>
    /// Stack: address (taken into _tAddr). Branches to <paramref name="slow"/> unless the TLB slot for it
    /// holds the page under the tag at <paramref name="tagOffset"/> and a <paramref name="size"/>-byte
    /// access stays in the page; otherwise leaves the host pointer (address + addend) on the stack, or
    /// the addend alone (<paramref name="addendOnly"/>).
    /// Takes the same accesses as the ReadN/WriteN fast paths, with one compare instead of two.
    /// </summary>
    private void EmitTlbHit(int size, int tagOffset, Label slow, bool addendOnly = false)
    {
        _il.Emit(OpCodes.Stloc, _tAddr);
        // slot = _tlb + (((a >> 12) ^ (a >> (12 + bits))) & (2^bits - 1)) * sizeof(TlbEntry) (Cpu.TlbIndex),
        // the scaling folded into the shifts and the mask: ((a >> (12 - k)) ^ (a >> (12 + bits - k))) & ((2^bits - 1) << k).
        int k = System.Numerics.BitOperations.Log2((uint)sizeof(TlbEntry)), bits = _cpu.TlbBits;
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldfld, JitMembers.Tlb);
        _il.Emit(OpCodes.Ldloc, _tAddr);
        _il.Emit(OpCodes.Ldc_I4, 12 - k);
        _il.Emit(OpCodes.Shr_Un);
        _il.Emit(OpCodes.Ldloc, _tAddr);
        _il.Emit(OpCodes.Ldc_I4, 12 + bits - k);
        _il.Emit(OpCodes.Shr_Un);
        _il.Emit(OpCodes.Xor);
        Const(((1UL << bits) - 1) << k);
        _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Conv_U);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stloc, _tEntry);
        _il.Emit(OpCodes.Ldloc, _tEntry);
        if (tagOffset != 0) { _il.Emit(OpCodes.Ldc_I4, tagOffset); _il.Emit(OpCodes.Add); }
        _il.Emit(OpCodes.Ldind_I8);
        // The page of the access's last byte: a different page than the first byte's (a page-crossing
        // access) never equals the tag of the first byte's slot, since the TLB fill leaves pages whose
        // slot is their predecessor's without a fast path (Cpu.Walk).
        _il.Emit(OpCodes.Ldloc, _tAddr);
        if (size > 1) { Const((ulong)(size - 1)); _il.Emit(OpCodes.Add); }
        Const(~0xFFFUL);
        _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Bne_Un, slow);
        _il.Emit(OpCodes.Ldloc, _tEntry);
        _il.Emit(OpCodes.Ldc_I4, TlbAddend);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Ldind_I8);
        if (addendOnly) return;
        _il.Emit(OpCodes.Ldloc, _tAddr);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Conv_U);
    }

    /// <summary>Writes the low <paramref name="size"/> bytes of <paramref name="src"/> to the op's memory operand.</summary>
    private void Store(ref Op op, int size, Val src)
    {
        if (_groupOf[_i] >= 0)
        {
            EmitGroupAccess(ref op, size, write: true, () => StoreAtHost(size, src));
            return;
        }
        EmitEA(ref op);
        FinishStore(size, src);
    }

    /// <summary>Writes the low <paramref name="size"/> bytes of <paramref name="src"/> at the address in <paramref name="addr"/>.</summary>
    private void StoreAt(LocalBuilder addr, int size, Val src)
    {
        _il.Emit(OpCodes.Ldloc, addr);
        FinishStore(size, src);
    }

    /// <summary>
    /// Stack: address. Writes through the access's window; its miss path takes the TLB write fast path
    /// (as Cpu.Write64 ... Write8), else leaves for the interpreter to run the op from its start: every
    /// op stores before it changes anything else (as its handler does), so a store that faults leaves
    /// the state as it was, and no store in compiled code can rewrite code (a page holding code has no
    /// fast write tag).
    /// </summary>
    private void FinishStore(int size, Val src)
    {
        Debug.Assert(_curSetter != _i, "an op set the flags before its store: it could not start again");
        var hit = _il.DefineLabel();
        EmitFastAccess(size, write: true, hit, ResumeLabel());
        _il.MarkJoin(hit);
        StoreAtHost(size, src);
    }

    /// <summary>Writes the low <paramref name="size"/> bytes of <paramref name="src"/> at the host pointer (<see cref="PushHost"/>).</summary>
    private void StoreAtHost(int size, Val src)
    {
        PushHost();
        src.Push(this);
        if (size != 8) _il.Emit(size == 4 ? OpCodes.Conv_U4 : size == 2 ? OpCodes.Conv_U2 : OpCodes.Conv_U1);
        _il.Emit(OpCodes.Unaligned, (byte)1);
        _il.Emit(size switch { 8 => OpCodes.Stind_I8, 4 => OpCodes.Stind_I4, 2 => OpCodes.Stind_I2, _ => OpCodes.Stind_I1 });
    }

    /// <summary>Pushes the source operand as <c>Cpu.ReadSrc</c> reads it: R1, memory (RM) or the immediate truncated to size.</summary>
    private void ReadSrc(ref Op op, int size)
    {
        switch (op.Form)
        {
            case Form.RR: case Form.MR:
                GetReg(op.R1, size); break;
            case Form.RM:
                Load(ref op, size, _tV);
                _il.Emit(OpCodes.Ldloc, _tV);
                break;
            default:
                Const(op.Imm & FlagMath.Mask(size)); break;
        }
    }

    /// <summary>
    /// Pushes the source operand of an RR, RI or RM op, not zero-extended: R1's whole local, the
    /// immediate as decoded (sign-extended), or the value an RM op loaded into _tV before. For ops whose
    /// result's low bytes depend only on the operands' low bytes, truncated once after.
    /// </summary>
    private void ReadSrcLoaded(ref Op op)
    {
        switch (op.Form)
        {
            case Form.RR: LoadReg(op.R1); break;
            case Form.RI: Const(op.Imm); break;
            default: _il.Emit(OpCodes.Ldloc, _tV); break;
        }
    }

    /// <summary>The first operand is memory (forms M, MR, MI).</summary>
    private static bool MemoryDst(ref Op op) => op.Form is Form.M or Form.MR or Form.MI;

    /// <summary>Pushes the destination operand as <c>Cpu.ReadDst</c> reads it: R0 or memory.</summary>
    private void ReadDst(ref Op op, int size)
    {
        if (MemoryDst(ref op))
        {
            if (ReadModifyWrite(ref op) && _groupOf[_i] < 0)
            {
                // The load takes a writable host address (_tAddr + _tAddend), which WriteDst stores to.
                EmitEA(ref op);
                FinishLoad(size, _tV, thenStore: true);
                _rmwOp = _i;
            }
            else Load(ref op, size, _tV);
            _il.Emit(OpCodes.Ldloc, _tV);
        }
        else GetReg(op.R0, size);
    }

    /// <summary>Writes <paramref name="v"/>, zero-extended from the size, to the destination operand as <c>Cpu.WriteDst</c> does (R0 with merge rules, or memory).</summary>
    private void WriteDst(ref Op op, int size, LocalBuilder v)
    {
        if (!MemoryDst(ref op))
        {
            _il.Emit(OpCodes.Ldloc, v);
            SetReg(op.R0, size, zeroExtended: true);
            return;
        }
        if (_rmwOp != _i)
        {
            Store(ref op, size, v);
            return;
        }
        // The load found the address writable (a write window, or the TLB's write tag), and nothing since
        // could change that, so the interpreter's store would take its fast path to this address.
        _hostForm = HostForm.AddrPlusAddend;
        StoreAtHost(size, v);
    }

    /// <summary>The op whose ReadDst loaded through a writable host address (_tAddr + _tAddend) for WriteDst.</summary>
    private int _rmwOp = -1;

    /// <summary>
    /// Whether the op reads its memory destination and then always writes it back (the ALU ops but cmp
    /// and test, inc/dec, neg, not, xadd, cmpxchg, and shifts and rotates by a nonzero immediate count).
    /// </summary>
    private static bool ReadModifyWrite(ref Op op)
    {
        switch (op.Kind)
        {
            case OpKind.Alu: return (AluOp)op.Cond is not (AluOp.Cmp or AluOp.Test);
            case OpKind.Inc: case OpKind.Dec: case OpKind.Neg: case OpKind.Not: return true;
            case OpKind.Xadd: case OpKind.Cmpxchg: return true;   // cmpxchg writes back even when unequal
            case OpKind.Shift: return (op.Flags & OpFlags.HasImm) != 0 && ShiftCount(ref op) != 0;
            default: return false;
        }
    }
}
