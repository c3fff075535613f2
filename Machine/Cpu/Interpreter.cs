using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Lab.Machine.Cpu;

/// <summary>
/// The dispatch loop: find the block at rip (chained successor, L1 cache, dictionary, or decode),
/// run its ops through one switch, account retired instructions exactly, and turn a recorded fault
/// into a <see cref="Trap"/>. The one fault path is <see cref="FinishTrap"/>.
/// </summary>
public sealed unsafe partial class Cpu
{
    private ulong _retired;
    private ulong _extraTime;
    /// <summary>Set by a handler whose trap retires the instruction (syscall, int n, int3, hlt).</summary>
    private bool _trapRetires;

    private const int ReturnStackSize = 32;
    private readonly Block?[] _returnStack = new Block?[ReturnStackSize];

    private const int ExitStop = 1, ExitLeave = 2;
    /// <summary>
    /// Non-zero makes <see cref="Execute"/> return at the next block boundary: bit 0 a stop request
    /// (any thread), bit 1 a system instruction that changed privilege, IF, paging or a device (the
    /// next block must be looked up afresh and pending interrupts checked). One field, so the hot loop
    /// tests one value as before.
    /// </summary>
    private volatile int _exitRequest;

    /// <summary>Set from any thread to make <see cref="Execute"/> return at the next block boundary.</summary>
    internal bool StopRequested
    {
        get => (_exitRequest & ExitStop) != 0;
        set
        {
            if (value) Interlocked.Or(ref _exitRequest, ExitStop);
            else Interlocked.And(ref _exitRequest, ~ExitStop);
        }
    }

    /// <summary>Makes Execute return after the current block (which a leaving instruction always ends).</summary>
    private void RequestLeave() => Interlocked.Or(ref _exitRequest, ExitLeave);

    /// <summary>Exact number of retired instructions.</summary>
    public ulong InstructionsRetired { get => _retired; internal set => _retired = value; }

    /// <summary>Machine-time units that were not instructions (interrupted rep-string chunks).</summary>
    public ulong ExtraTime { get => _extraTime; internal set => _extraTime = value; }

    /// <summary>
    /// Executes until <paramref name="limit"/> units of time have passed (returns false) or a trap
    /// occurs (returns true with the trap; rip and the instruction count are already architectural).
    /// Block lookup, chaining and op dispatch share one method so a block transition is a jump, not a call.
    /// </summary>
    internal bool Execute(ulong limit, out Trap trap)
    {
        // A leave request ended the previous Execute; it has served its purpose.
        if ((_exitRequest & ExitLeave) != 0) Interlocked.And(ref _exitRequest, ~ExitLeave);
        ulong budget = limit;
        Block? prev = null;
        // Return-address predictor: call blocks pushed on call, popped on ret. Reset per call of
        // Execute, so every entry was executed under the current address space.
        Block?[] rsb = _returnStack;
        int rsbTop = 0;
        Block? returnFrom = null;   // the call block whose return we are resolving
        bool interpretNext = false; // compiled code stopped before an access that missed the TLB: interpret the next block
        ulong* regs = _regs;
        while (true)
        {
            if (budget == 0 || _exitRequest != 0) { trap = default; return false; }
            ulong rip = _rip;

            // Chained successor (same virtual page as the previous block, so the same translation).
            Block? b = null;
            Block? caller = returnFrom;   // only meaningful for the block right after a ret
            returnFrom = null;
            if (caller != null)
            {
                Block? r = caller.ReturnBlock;
                if (r != null && r.Va == rip && r.Valid) b = r;
            }
            if (b != null) { }
            else if (prev != null && prev.IndirectLinks != null)
            {
                // A block ending in an indirect jump/call (a switch dispatch) keeps a few targets.
                Block?[] links = prev.IndirectLinks;
                for (int k = 0; k < links.Length; k++)
                {
                    Block? l = links[k];
                    if (l != null && l.Va == rip && l.Valid) { b = l; break; }
                }
            }
            else if (prev != null)
            {
                Block? l = prev.LinkA;
                if (l != null && l.Va == rip && l.Valid) b = l;
                else
                {
                    l = prev.LinkB;
                    if (l != null && l.Va == rip && l.Valid) b = l;
                }
            }
            if (b == null)
            {
                _trapKind = TrapKind.None;
                b = LookupBlock(rip);
                if (b == null)
                {
                    trap = FinishTrap(rip, retires: false);
                    return true;
                }
                if (caller != null)
                {
                    if (((caller.Va ^ rip) >> 12) == 0 && caller.Valid) caller.ReturnBlock = b;
                }
                else if (prev != null && prev.Valid && ((prev.Va ^ rip) >> 12) != 0)
                {
                    // Links stay within a page (one translation); the JIT's regions may take the target.
                    if (prev.IndirectLinks != null) prev.NoteIndirectTarget(rip);
                }
                else if (prev != null && prev.Valid)
                {
                    if (prev.IndirectLinks != null)
                    {
                        prev.IndirectLinks[prev.NextIndirectSlot] = b;
                        prev.NextIndirectSlot = (prev.NextIndirectSlot + 1) % prev.IndirectLinks.Length;
                        prev.NoteIndirectTarget(rip);
                    }
                    else if (prev.LinkA == null || !prev.LinkA.Valid) prev.LinkA = b;
                    else prev.LinkB = b;
                }
            }

            int n = b.Count, start = 0;
            if (Tier == ExecutionTier.Jit && !interpretNext)
            {
                // Compiled code retires its instructions and charges the budget itself.
                int status = TryRunCompiled(b, ref budget);
                b = _jitLast!;
                if (status == JitMembers.ExitNormal)
                {
                    status = RunCompiledChain(ref b, ref budget, ref rsbTop);
                    n = b.Count;
                }
                if (status == JitMembers.ExitNormal) goto Retired;
                if (status == JitMembers.ExitFault)
                {
                    trap = FinishTrap(_rip, retires: false);
                    return true;
                }
                if (status == JitMembers.ExitResume)
                {
                    // Stopped before an access that missed the TLB: the interpreter runs the block at
                    // that instruction (one of its own; no links from a block left halfway), so an
                    // access that always misses (a page-crossing one) still makes progress.
                    prev = null;
                    interpretNext = true;
                    continue;
                }
                if (status == JitMembers.ExitPrefix)
                {
                    // The first ops ran compiled; interpret the rest of the block as if from its start.
                    start = b.CompiledOps;
                    _retired -= (ulong)start;
                    budget += (ulong)start;
                }
            }
            interpretNext = false;
            if ((ulong)n > budget) n = (int)budget;
            if (_breakpoints.Count != 0)
            {
                int at = FirstBreakpoint(b, n);
                if (at == 0)
                {
                    BreakpointHit = true;   // stop before the instruction at the breakpoint
                    trap = default;
                    return false;
                }
                if (at > 0) n = at;         // run up to it; the next round stops there
            }
            _skipBreakpointAt = ulong.MaxValue;
            Op[] ops = b.Ops;
            _rip = n == b.Count ? b.EndIp : ops[n].Ip;
            ref Op first = ref MemoryMarshal.GetArrayDataReference(ops);
            int i = start;
            for (; i < n; i++)
            {
                ref Op op = ref Unsafe.Add(ref first, i);
                ulong a, v;
                    switch (op.Kind)
                    {
                        case OpKind.MovRR64: regs[op.R0] = regs[op.R1]; break;
                        case OpKind.MovRR32: regs[op.R0] = (uint)regs[op.R1]; break;
                        case OpKind.MovRI64: regs[op.R0] = op.Imm; break;
                        case OpKind.MovRI32: regs[op.R0] = (uint)op.Imm; break;
                        case OpKind.MovRM64:
                            if (!Read64(PlainEA(ref op), out v)) goto Stopped;
                            regs[op.R0] = v; break;
                        case OpKind.MovRM32:
                            if (!Read32(PlainEA(ref op), out v)) goto Stopped;
                            regs[op.R0] = v; break;
                        case OpKind.MovMR64:
                            if (!Write64(PlainEA(ref op), regs[op.R1])) goto Stopped;
                            break;
                        case OpKind.MovMR32:
                            if (!Write32(PlainEA(ref op), regs[op.R1])) goto Stopped;
                            break;
                        case OpKind.MovMI:
                        if (!Write(PlainEA(ref op), op.Size, op.Imm)) goto Stopped;
                        break;
                    case OpKind.MovMR:
                        if (!Write(PlainEA(ref op), op.Size, GetReg(op.R1, op.Size))) goto Stopped;
                        break;
                    case OpKind.MovRM:
                        if (!Read(PlainEA(ref op), op.Size, out v)) goto Stopped;
                        SetReg(op.R0, op.Size, v); break;
                    case OpKind.Lea:
                            a = (ulong)op.Disp + regs[op.Base] + (regs[op.Index] << op.Scale);
                            if ((op.Flags & OpFlags.Addr32) != 0) a = (uint)a;
                            SetReg(op.R0, op.Size, a);
                            break;
                        case OpKind.AddRR64:
                            a = regs[op.R0]; v = regs[op.R1];
                            regs[op.R0] = a + v; SetFlags(FlagOp.Add, 8, a, v, a + v); break;
                        case OpKind.AddRR32:
                            a = (uint)regs[op.R0]; v = (uint)regs[op.R1];
                            regs[op.R0] = (uint)(a + v); SetFlags(FlagOp.Add, 4, a, v, (uint)(a + v)); break;
                        case OpKind.AddRI64:
                            a = regs[op.R0]; v = op.Imm;
                            regs[op.R0] = a + v; SetFlags(FlagOp.Add, 8, a, v, a + v); break;
                        case OpKind.AddRI32:
                            a = (uint)regs[op.R0]; v = (uint)op.Imm;
                            regs[op.R0] = (uint)(a + v); SetFlags(FlagOp.Add, 4, a, v, (uint)(a + v)); break;
                        case OpKind.AddRM64:
                            if (!Read64(PlainEA(ref op), out v)) goto Stopped;
                            a = regs[op.R0];
                            regs[op.R0] = a + v; SetFlags(FlagOp.Add, 8, a, v, a + v); break;
                        case OpKind.SubRR64:
                            a = regs[op.R0]; v = regs[op.R1];
                            regs[op.R0] = a - v; SetFlags(FlagOp.Sub, 8, a, v, a - v); break;
                        case OpKind.SubRR32:
                            a = (uint)regs[op.R0]; v = (uint)regs[op.R1];
                            regs[op.R0] = (uint)(a - v); SetFlags(FlagOp.Sub, 4, a, v, (uint)(a - v)); break;
                        case OpKind.SubRI64:
                            a = regs[op.R0]; v = op.Imm;
                            regs[op.R0] = a - v; SetFlags(FlagOp.Sub, 8, a, v, a - v); break;
                        case OpKind.CmpRR64:
                            a = regs[op.R0]; v = regs[op.R1];
                            SetFlags(FlagOp.Sub, 8, a, v, a - v); break;
                        case OpKind.CmpRR32:
                            a = (uint)regs[op.R0]; v = (uint)regs[op.R1];
                            SetFlags(FlagOp.Sub, 4, a, v, (uint)(a - v)); break;
                        case OpKind.CmpRI64:
                            a = regs[op.R0]; v = op.Imm;
                            SetFlags(FlagOp.Sub, 8, a, v, a - v); break;
                        case OpKind.CmpRI32:
                            a = (uint)regs[op.R0]; v = (uint)op.Imm;
                            SetFlags(FlagOp.Sub, 4, a, v, (uint)(a - v)); break;
                        case OpKind.CmpRM64:
                            if (!Read64(PlainEA(ref op), out v)) goto Stopped;
                            a = regs[op.R0];
                            SetFlags(FlagOp.Sub, 8, a, v, a - v); break;
                        case OpKind.CmpRM32:
                            if (!Read32(PlainEA(ref op), out v)) goto Stopped;
                            a = (uint)regs[op.R0];
                            SetFlags(FlagOp.Sub, 4, a, v, (uint)(a - v)); break;
                        case OpKind.XorRR32:
                            a = (uint)(regs[op.R0] ^ regs[op.R1]);
                            regs[op.R0] = a; SetFlags(FlagOp.Logic, 4, 0, 0, a); break;
                        case OpKind.AndRI32:
                            a = (uint)(regs[op.R0] & op.Imm);
                            regs[op.R0] = a; SetFlags(FlagOp.Logic, 4, 0, 0, a); break;
                        case OpKind.TestRR64:
                            SetFlags(FlagOp.Logic, 8, 0, 0, regs[op.R0] & regs[op.R1]); break;
                        case OpKind.TestRR32:
                            SetFlags(FlagOp.Logic, 4, 0, 0, (uint)(regs[op.R0] & regs[op.R1])); break;
                        case OpKind.AluRR64: Alu64(ref op, regs[op.R0], regs[op.R1]); break;
                        case OpKind.AluRR32: Alu32(ref op, regs[op.R0], regs[op.R1]); break;
                        case OpKind.AluRI64: Alu64(ref op, regs[op.R0], op.Imm); break;
                        case OpKind.AluRI32: Alu32(ref op, regs[op.R0], op.Imm); break;
                        case OpKind.AluRM64:
                            if (!Read64(PlainEA(ref op), out v)) goto Stopped;
                            Alu64(ref op, regs[op.R0], v); break;
                        case OpKind.AluRM32:
                            if (!Read32(PlainEA(ref op), out v)) goto Stopped;
                            Alu32(ref op, regs[op.R0], v); break;
                        case OpKind.IncDecR64: IncDecReg(ref op, 8); break;
                        case OpKind.IncDecR32: IncDecReg(ref op, 4); break;
                        case OpKind.ShiftRI64: ShiftRegImm(ref op, 8); break;
                        case OpKind.ShiftRI32: ShiftRegImm(ref op, 4); break;
                        case OpKind.MovzxRR: regs[op.R0] = GetReg(op.R1, op.Size2); break;
                        case OpKind.MovzxRM:
                            if (!Read(PlainEA(ref op), op.Size2, out v)) goto Stopped;
                            regs[op.R0] = v; break;
                        case OpKind.MovsxRR:
                            v = (ulong)FlagMath.SignExtend(GetReg(op.R1, op.Size2), op.Size2);
                            regs[op.R0] = op.Size == 8 ? v : (uint)v; break;
                        case OpKind.MovsxRM:
                            if (!Read(PlainEA(ref op), op.Size2, out v)) goto Stopped;
                            v = (ulong)FlagMath.SignExtend(v, op.Size2);
                            regs[op.R0] = op.Size == 8 ? v : (uint)v; break;
                        case OpKind.Jcc:
                            if (Condition(op.Cond)) _rip = op.Imm;
                            break;
                        case OpKind.Jmp: _rip = op.Imm; break;
                        case OpKind.Call:
                            a = regs[4] - 8;
                            if (!Write64(a, op.NextIp)) goto Stopped;
                            regs[4] = a; _rip = op.Imm; break;
                        case OpKind.Ret:
                            a = regs[4];
                            if (!Read64(a, out v)) goto Stopped;
                            regs[4] = a + 8 + op.Imm; _rip = v; break;
                        case OpKind.PushR64:
                            a = regs[4] - 8;
                            if (!Write64(a, regs[op.R0])) goto Stopped;
                            regs[4] = a; break;
                        case OpKind.PopR64:
                            a = regs[4];
                            if (!Read64(a, out v)) goto Stopped;
                            regs[4] = a + 8; regs[op.R0] = v; break;
                        case OpKind.Nop: break;
                        default:
                            if (!ExecuteOp(ref op)) goto Stopped;
                            break;
                    }
            }
            _retired += (ulong)n;
            budget -= (ulong)n;
        Retired:
            prev = b;
            if (b.EndKind != 0 && n == b.Count)
            {
                if (b.EndKind == 1)
                {
                    rsb[rsbTop & (ReturnStackSize - 1)] = b;
                    rsbTop++;
                }
                else if (rsbTop > 0)
                {
                    rsbTop--;
                    Block? top = rsb[rsbTop & (ReturnStackSize - 1)];
                    returnFrom = top != null && top.EndIp == _rip ? top : null;
                }
            }
            continue;

        Stopped:
            // Op i stopped: a fault, a trapping instruction, or an interrupted rep chunk.
            {
                ref Op op = ref ops[i];
                if (_trapKind == TrapKind.None)
                {
                    // A long rep-string instruction yielded: not retired; rip stays on it; one unit of time passes.
                    _retired += (ulong)i;
                    _extraTime++;
                    budget -= Math.Min(budget, (ulong)i + 1);
                    _rip = op.Ip;
                    prev = null;
                    continue;
                }
                if (_trapRetires)
                {
                    _retired += (ulong)i + 1;
                    _rip = op.NextIp;
                }
                else
                {
                    _retired += (ulong)i;
                    _rip = op.Ip;
                }
                if (_trapKind == TrapKind.InvalidOpcode && op.Kind is OpKind.Invalid or OpKind.UnsupportedSystem && b.Texts != null)
                    _trapDetail = b.Texts[(int)op.Imm];
                trap = FinishTrap(op.Ip, _trapRetires);
                return true;
            }
        }
    }

    private Trap FinishTrap(ulong instructionAddress, bool retires)
    {
        if (!retires) _rip = instructionAddress;
        _trapRetires = false;
        return TakeRecordedTrap(instructionAddress);
    }

    /// <summary>Effective address of an op's memory operand (segment base and address size applied).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal ulong EA(ref Op op)
    {
        ulong a = (ulong)op.Disp + _regs[op.Base] + (_regs[op.Index] << op.Scale);
        if ((op.Flags & OpFlags.Addr32) != 0) a = (uint)a;
        if (op.Seg != 0) a += op.Seg == 1 ? FsBase : GsBase;
        return a;
    }

    /// <summary>Effective address without segment or address-size adjustments (specialised ops only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong PlainEA(ref Op op) => (ulong)op.Disp + _regs[op.Base] + (_regs[op.Index] << op.Scale);

    /// <summary>The rest of the dispatch table: one handler per family (see Ops/). False = trap recorded.</summary>
    private bool ExecuteOp(ref Op op) => op.Kind switch
    {
        OpKind.Invalid => InvalidOpcode(),
        OpKind.Privileged => Privileged(),
        OpKind.Syscall => Syscall(ref op),
        OpKind.Int => SoftwareInterrupt(ref op),
        OpKind.Int3 => Breakpoint(),
        OpKind.Hlt => Halt(),
        OpKind.Cpuid => Cpuid(),
        OpKind.Rdtsc => Rdtsc(),

        OpKind.Mov => Mov(ref op),
        OpKind.Movzx => Movzx(ref op),
        OpKind.Movsx => Movsx(ref op),
        OpKind.Xchg => Xchg(ref op),
        OpKind.Bswap => Bswap(ref op),
        OpKind.Cbw => Cbw(ref op),
        OpKind.Cwd => Cwd(ref op),
        OpKind.Push => Push(ref op),
        OpKind.Pop => Pop(ref op),
        OpKind.Leave => Leave(),
        OpKind.Enter => Enter(ref op),
        OpKind.Cmov => Cmov(ref op),
        OpKind.Setcc => Setcc(ref op),

        OpKind.Alu => Alu(ref op),
        OpKind.Inc => IncDec(ref op, inc: true),
        OpKind.Dec => IncDec(ref op, inc: false),
        OpKind.Neg => Neg(ref op),
        OpKind.Not => Not(ref op),
        OpKind.Cmpxchg => Cmpxchg(ref op),
        OpKind.Xadd => Xadd(ref op),

        OpKind.Shift => Shift(ref op),
        OpKind.Shld => DoubleShift(ref op, left: true),
        OpKind.Shrd => DoubleShift(ref op, left: false),

        OpKind.Bt => BitTest(ref op),
        OpKind.Bsf => BitScan(ref op, forward: true),
        OpKind.Bsr => BitScan(ref op, forward: false),
        OpKind.Tzcnt => CountZeros(ref op, trailing: true),
        OpKind.Lzcnt => CountZeros(ref op, trailing: false),
        OpKind.Popcnt => Popcnt(ref op),

        OpKind.Mul1 => Mul(ref op),
        OpKind.Imul1 => Imul1(ref op),
        OpKind.Imul2 => Imul2(ref op),
        OpKind.Imul3 => Imul2(ref op),
        OpKind.Div => Div(ref op),
        OpKind.Idiv => Idiv(ref op),

        OpKind.JmpIndirect => JmpIndirect(ref op),
        OpKind.CallIndirect => CallIndirect(ref op),
        OpKind.Jrcxz => Jrcxz(ref op),
        OpKind.Loop => Loop(ref op),

        OpKind.Clc or OpKind.Stc or OpKind.Cmc or OpKind.Cld or OpKind.Std => FlagOpSimple(ref op),
        OpKind.Lahf => Lahf(),
        OpKind.Sahf => Sahf(),
        OpKind.Pushf => Pushf(ref op),
        OpKind.Popf => Popf(ref op),

        OpKind.Movs => Movs(ref op),
        OpKind.Stos => Stos(ref op),
        OpKind.Lods => Lods(ref op),
        OpKind.Cmps => Cmps(ref op),
        OpKind.Scas => Scas(ref op),

        OpKind.SseMov => SseMov(ref op),
        OpKind.SseMovq => SseMovq(ref op),
        OpKind.SseMovdToXmm => SseMovdToXmm(ref op),
        OpKind.SseMovdFromXmm => SseMovdFromXmm(ref op),
        OpKind.SseMovLowHigh => SseMovLowHigh(ref op),
        OpKind.SseBinary => SseBinary(ref op),
        OpKind.SseShiftImm => SseShiftImm(ref op),
        OpKind.SseShuffle => SseShuffle(ref op),
        OpKind.Pmovmskb => Pmovmskb(ref op),
        OpKind.Pextrw => Pextrw(ref op),
        OpKind.Pinsrw => Pinsrw(ref op),
        OpKind.SseFloat => SseFloat(ref op),
        OpKind.SseComi => SseComi(ref op),
        OpKind.SseCvtIntToFp => SseCvtIntToFp(ref op),
        OpKind.SseCvtFpToInt => SseCvtFpToInt(ref op),
        OpKind.X87Load => X87Load(ref op),
        OpKind.X87Store => X87Store(ref op),
        OpKind.X87Arith => X87Arith(ref op),
        OpKind.X87Compare => X87Compare(ref op),
        OpKind.X87Special => X87Special(ref op),
        OpKind.X87Stack => X87Stack(ref op),
        OpKind.X87Control => X87Control(ref op),
        OpKind.X87Env => X87Env(ref op),

        OpKind.Cli => Cli(),
        OpKind.Sti => Sti(),
        OpKind.HltSystem => HaltSystem(),
        OpKind.PopfSystem => PopfSystem(ref op),
        OpKind.SyscallSystem => SyscallSystem(ref op),
        OpKind.UnsupportedSystem => UnsupportedSystem(),
        OpKind.InPort => InPort(ref op),
        OpKind.OutPort => OutPort(ref op),
        OpKind.MovFromCr => MovFromCr(ref op),
        OpKind.MovToCr => MovToCr(ref op),
        OpKind.Clts => Clts(),
        OpKind.CacheControl => CacheControl(),
        OpKind.Invlpg => Invlpg(ref op),
        OpKind.LoadTableRegister => LoadTableRegister(ref op),
        OpKind.StoreTableRegister => StoreTableRegister(ref op),
        OpKind.Lldt => Lldt(ref op),
        OpKind.Ltr => Ltr(ref op),
        OpKind.StoreSystemSelector => StoreSystemSelector(ref op),
        OpKind.Rdmsr => Rdmsr(),
        OpKind.Wrmsr => Wrmsr(),
        OpKind.Swapgs => Swapgs(),
        OpKind.MovToSreg => MovToSreg(ref op),
        OpKind.MovFromSreg => MovFromSreg(ref op),
        OpKind.PushSreg => PushSreg(ref op),
        OpKind.PopSreg => PopSreg(ref op),
        OpKind.Iret => Iret(ref op),
        OpKind.Retf => Retf(ref op),
        OpKind.JmpFar => JmpFar(ref op),
        OpKind.Sysret => Sysret(ref op),

        _ => ExecuteSpecialisedGeneric(ref op),
    };

    /// <summary>Specialised kinds reached outside Execute's fast switch (never in practice): run them generically.</summary>
    private bool ExecuteSpecialisedGeneric(ref Op op) =>
        throw new InvalidOperationException($"no handler for {op.Kind}");

    // ------------------------------------------------------------------------------------------
    // Operand access shared by the handlers.

    /// <summary>Reads the destination (first) operand: register R0 or memory.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool ReadDst(ref Op op, out ulong v, out ulong ea)
    {
        if (op.Form is Form.M or Form.MR or Form.MI)
        {
            ea = EA(ref op);
            return Read(ea, op.Size, out v);
        }
        ea = 0;
        v = GetReg(op.R0, op.Size);
        return true;
    }

    /// <summary>Writes the destination operand (register R0, or memory at ea from <see cref="ReadDst"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool WriteDst(ref Op op, ulong ea, ulong v)
    {
        if (op.Form is Form.M or Form.MR or Form.MI) return Write(ea, op.Size, v);
        SetReg(op.R0, op.Size, v);
        return true;
    }

    /// <summary>Reads the source operand: R1, memory (RM form) or the immediate, truncated to size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool ReadSrc(ref Op op, int size, out ulong v)
    {
        switch (op.Form)
        {
            case Form.RR:
            case Form.MR:
                v = GetReg(op.R1, size); return true;
            case Form.RM:
                return Read(EA(ref op), size, out v);
            default:
                v = op.Imm & FlagMath.Mask(size); return true;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Push64(ulong v)
    {
        ulong sp = _regs[4] - 8;
        if (!Write64(sp, v)) return false;
        _regs[4] = sp;
        return true;
    }
}
