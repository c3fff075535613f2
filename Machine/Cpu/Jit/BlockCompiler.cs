using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Compiles one decoded <see cref="Block"/> to a <see cref="DynamicMethod"/> (see <see cref="JitCode"/>
/// for the contract). Guest registers live in IL locals (loaded at entry, written back at every exit);
/// flags are tracked at compile time (BlockCompiler.Flags.cs): a flag-setter whose result nothing
/// observes compiles to nothing, and conditions after cmp/test/add compile to plain compares. Memory
/// goes through the interpreter's inlined TLB fast paths (Read64 ... Write8), whose slow paths record
/// faults; a fault leaves through a side exit that writes back exactly the interpreter's state.
/// A block whose last instruction jumps back to its start becomes a loop inside the method; other
/// direct exits within the page tail-call the successor's compiled code once linked (EmitDirectExit).
/// Ops without an emitter run through their interpreter handler (EmitInterpreted).
/// Split over files: this one (driver, prologue, exits), .Emit (IL building blocks), .Flags,
/// .Moves, .Arith, .Control (one per instruction family).
/// </summary>
internal sealed unsafe partial class BlockCompiler
{
    private readonly Block _block;
    private readonly Op[] _ops;
    private readonly int _n;
    private readonly DynamicMethod _method;
    private readonly ILGenerator _il;

    /// <summary>The block ends with a jmp/jcc to its own start: the method loops.</summary>
    private readonly bool _loop;
    /// <summary>Index of the op being emitted.</summary>
    private int _i;

    private readonly LocalBuilder?[] _reg = new LocalBuilder?[16];
    private readonly bool[] _written = new bool[16];
    private LocalBuilder? _done, _inv0;
    private LocalBuilder _next = null!;
    private readonly Label _body;

    /// <summary>
    /// A side exit taken when op <c>Op</c> faults, with the flag state at that point; RegsInFile: the
    /// register file already holds the interpreter's registers (a handler call faulted).
    /// </summary>
    private readonly record struct FaultStub(Label Label, int Op, int Setter, int Aux, bool RegsInFile = false);
    private readonly List<FaultStub> _faults = new();

    /// <summary>The method covers only the first _n ops; the interpreter runs the rest.</summary>
    private readonly bool _prefix;

    /// <summary>Prepares the method for the first <paramref name="ops"/> ops of <paramref name="block"/> (locals, labels).</summary>
    private BlockCompiler(Block block, int ops)
    {
        _block = block;
        _ops = block.Ops;
        _n = ops;
        _prefix = ops < block.Count;
        Op last = _ops[_n - 1];
        _loop = !_prefix && last.Kind is OpKind.Jmp or OpKind.Jcc && last.Imm == block.Va;
        // Argument 0 is the Block (the delegate is closed over it): its Op[] for ops run by their
        // interpreter handler, its Exits for direct chaining.
        _method = new DynamicMethod($"jit_{block.Va:x}", typeof(int), [typeof(Block), typeof(Cpu), typeof(ulong*), typeof(ulong).MakeByRefType()],
            typeof(Cpu), skipVisibility: true);
        _il = _method.GetILGenerator(256 + 64 * _n);
        _body = _il.DefineLabel();
        CreateTemps();
        _next = _il.DeclareLocal(typeof(Block));
        for (int k = 0; k < _n; k++)
        {
            if (Supports(ref _ops[k])) continue;
            // A handler may read or write any register: keep all 16 in locals.
            for (int r = 0; r < 16; r++) Reg(r);
            break;
        }
    }

    /// <summary>
    /// Compiles the longest prefix of the block made of supported ops (<paramref name="ops"/> of them;
    /// the interpreter runs the rest), or returns null when the first op is unsupported (the block then
    /// stays interpreted). The returned delegate is already compiled to machine code by RyuJIT.
    /// </summary>
    public static JitCode? TryCompile(Block block, out int ops)
    {
        ops = 0;
        int native = 0;
        while (ops < block.Count && (Supports(ref block.Ops[ops]) || Interpretable(block.Ops[ops].Kind)))
        {
            if (Supports(ref block.Ops[ops])) native++;
            ops++;
        }
        while (ops > 0 && !Supports(ref block.Ops[ops - 1])) ops--;   // no point ending on a handler call
        if (native == 0) return null;
        var c = new BlockCompiler(block, ops);
        var code = c.Emit();
        System.Runtime.CompilerServices.RuntimeHelpers.PrepareDelegate(code);
        return code;
    }

    /// <summary>Whether the compiler implements this op (kind and operand form) with the interpreter's exact semantics.</summary>
    internal static bool Supports(ref Op op)
    {
        switch (op.Kind)
        {
            case OpKind.Nop:
            case OpKind.MovRR64: case OpKind.MovRR32: case OpKind.MovRI64: case OpKind.MovRI32:
            case OpKind.MovRM64: case OpKind.MovRM32: case OpKind.MovMR64: case OpKind.MovMR32:
            case OpKind.MovMI: case OpKind.MovMR: case OpKind.MovRM:
            case OpKind.MovzxRR: case OpKind.MovzxRM: case OpKind.MovsxRR: case OpKind.MovsxRM:
            case OpKind.Lea: case OpKind.Bswap: case OpKind.Cbw: case OpKind.Cwd:
            case OpKind.PushR64: case OpKind.PopR64: case OpKind.Leave:
            case OpKind.Cmov: case OpKind.Setcc:
            case OpKind.AddRR64: case OpKind.AddRI64: case OpKind.SubRI64: case OpKind.CmpRR64: case OpKind.CmpRR32:
            case OpKind.CmpRI64: case OpKind.CmpRI32: case OpKind.CmpRM32: case OpKind.CmpRM64:
            case OpKind.AddRR32: case OpKind.AddRI32: case OpKind.SubRR64: case OpKind.SubRR32: case OpKind.XorRR32:
            case OpKind.AndRI32: case OpKind.TestRR64: case OpKind.TestRR32: case OpKind.AddRM64:
            case OpKind.AluRR64: case OpKind.AluRR32: case OpKind.AluRI64: case OpKind.AluRI32:
            case OpKind.AluRM64: case OpKind.AluRM32: case OpKind.Alu:
            case OpKind.IncDecR64: case OpKind.IncDecR32: case OpKind.Inc: case OpKind.Dec:
            case OpKind.Neg: case OpKind.Not:
            case OpKind.ShiftRI64: case OpKind.ShiftRI32:
            case OpKind.Jmp: case OpKind.Jcc: case OpKind.Call: case OpKind.Ret:
                return true;
            case OpKind.Mov: case OpKind.Movzx: case OpKind.Movsx:
                return op.Form is Form.RR or Form.RM or Form.MR or Form.RI or Form.MI;
            case OpKind.Xchg:
                return op.Form == Form.RR;
            case OpKind.Push:
                return op.Form is Form.R or Form.M or Form.I;
            case OpKind.Pop:
                return op.Form == Form.R;
            case OpKind.Shift:
                return (op.Flags & OpFlags.HasImm) != 0 && (ShiftOp)op.Cond is ShiftOp.Shl or ShiftOp.Sal or ShiftOp.Shr or ShiftOp.Sar;
            case OpKind.Imul2: case OpKind.Imul3:
                return op.Size is 2 or 4 or 8 && op.Form is Form.RR or Form.RM;
            case OpKind.JmpIndirect: case OpKind.CallIndirect:
                return op.Form is Form.R or Form.M;
            default:
                return false;
        }
    }

    /// <summary>Emits the whole method and creates its delegate.</summary>
    private JitCode Emit()
    {
        AnalyseFlags();
        var prologue = _il.DefineLabel();
        _il.Emit(OpCodes.Br, prologue);
        _il.MarkLabel(_body);
        for (_i = 0; _i < _n; _i++)
        {
            ref Op op = ref _ops[_i];
            EmitOp(ref op);
        }
        if (_prefix) EmitExit(() => Const(_ops[_n].Ip), JitMembers.ExitPrefix);
        else if (!IsControl(_ops[_n - 1].Kind)) EmitDirectExit(_block.EndIp);   // cut by length or page end
        EmitFaultStubs();
        EmitPrologue(prologue);
        if (_exitTargets.Count > 0)
        {
            _block.ExitTargets = _exitTargets.ToArray();
            _block.Exits = new Block?[_exitTargets.Count];
        }
        return (JitCode)_method.CreateDelegate(typeof(JitCode), _block);
    }

    /// <summary>The control transfers the compiler implements (always a block's last op).</summary>
    private static bool IsControl(OpKind k) =>
        k is OpKind.Jmp or OpKind.Jcc or OpKind.Call or OpKind.Ret or OpKind.JmpIndirect or OpKind.CallIndirect;

    /// <summary>
    /// Ops outside the compiled subset that compiled code may still run by calling their interpreter
    /// handler (<see cref="EmitInterpreted"/>): everything that neither transfers control, traps by
    /// design, yields (rep strings), reads the retired count (rdtsc) nor belongs to system mode.
    /// </summary>
    internal static bool Interpretable(OpKind k) =>
        k > OpKind.Rdtsc && k < OpKind.Cli
        && k is not (OpKind.Jmp or OpKind.JmpIndirect or OpKind.Jcc or OpKind.Call or OpKind.CallIndirect or OpKind.Ret
            or OpKind.Jrcxz or OpKind.Loop or OpKind.Popf
            or OpKind.Movs or OpKind.Stos or OpKind.Lods or OpKind.Cmps or OpKind.Scas)
        || k == OpKind.Cpuid;

    /// <summary>One op's IL, by family.</summary>
    private void EmitOp(ref Op op)
    {
        if (!Supports(ref op))
        {
            EmitInterpreted();
            return;
        }
        switch (op.Kind)
        {
            case OpKind.Nop: break;
            case OpKind.Jmp: case OpKind.Jcc: case OpKind.Call: case OpKind.Ret:
            case OpKind.JmpIndirect: case OpKind.CallIndirect:
                EmitControl(ref op); break;
            case OpKind.IncDecR64: case OpKind.IncDecR32: case OpKind.Inc: case OpKind.Dec:
                EmitIncDec(ref op); break;
            case OpKind.Neg: EmitNeg(ref op); break;
            case OpKind.Not: EmitNot(ref op); break;
            case OpKind.ShiftRI64: case OpKind.ShiftRI32: case OpKind.Shift:
                EmitShift(ref op); break;
            case OpKind.Imul2: case OpKind.Imul3:
                EmitImul(ref op); break;
            default:
                if (IsAluKind(op.Kind)) EmitAlu(ref op);
                else EmitMove(ref op);
                break;
        }
    }

    /// <summary>
    /// The prologue, emitted last so it knows every register the body touched: loads them into locals,
    /// remembers the code-invalidation count for looping blocks that store, and enters the body.
    /// </summary>
    private void EmitPrologue(Label prologue)
    {
        _il.MarkLabel(prologue);
        for (int r = 0; r < 16; r++)
        {
            if (_reg[r] == null) continue;
            RegAddress(r);
            _il.Emit(OpCodes.Ldind_I8);
            _il.Emit(OpCodes.Stloc, _reg[r]!);
        }
        if (_inv0 != null)
        {
            _il.Emit(OpCodes.Ldarg_1);
            _il.Emit(OpCodes.Call, JitMembers.CodeInvalidations);
            _il.Emit(OpCodes.Stloc, _inv0);
        }
        _il.Emit(OpCodes.Br, _body);
    }

    /// <summary>Pushes the address of guest register r in the register file (arg 1).</summary>
    private void RegAddress(int r)
    {
        _il.Emit(OpCodes.Ldarg_2);
        if (r != 0)
        {
            _il.Emit(OpCodes.Ldc_I4, r * 8);
            _il.Emit(OpCodes.Add);
        }
    }

    /// <summary>
    /// Writes the architectural state back at an exit taken after <paramref name="retiredHere"/> ops of
    /// the current iteration (plus every op of earlier iterations): registers written anywhere in the
    /// block, the lazy flags of the last setter before this point (<paramref name="setter"/>,
    /// <paramref name="aux"/>: op indices, -1 = none in this iteration), the retired count and the budget.
    /// </summary>
    private void EmitWriteBack(int retiredHere, int setter, int aux, bool regsInFile = false)
    {
        for (int r = 0; r < 16 && !regsInFile; r++)
        {
            if (!_written[r]) continue;
            RegAddress(r);
            _il.Emit(OpCodes.Ldloc, _reg[r]!);
            _il.Emit(OpCodes.Stind_I8);
        }
        EmitStoreFlags(setter, aux);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldfld, JitMembers.Retired);
        if (_done != null) { _il.Emit(OpCodes.Ldloc, _done); _il.Emit(OpCodes.Add); }
        if (retiredHere != 0) { Const((ulong)retiredHere); _il.Emit(OpCodes.Add); }
        _il.Emit(OpCodes.Stfld, JitMembers.Retired);
        _il.Emit(OpCodes.Ldarg_3);
        _il.Emit(OpCodes.Ldarg_3);
        _il.Emit(OpCodes.Ldind_I8);
        if (_done != null) { _il.Emit(OpCodes.Ldloc, _done); _il.Emit(OpCodes.Sub); }
        if (retiredHere != 0) { Const((ulong)retiredHere); _il.Emit(OpCodes.Sub); }
        _il.Emit(OpCodes.Stind_I8);
    }

    /// <summary>An exit after all compiled ops: state written back, rip = the value pushed by <paramref name="pushRip"/>; <paramref name="status"/> normal, or prefix when the interpreter runs the rest of the block.</summary>
    private void EmitExit(Action pushRip, int status = JitMembers.ExitNormal)
    {
        EmitWriteBack(_n, _curSetter, _curAux);
        _il.Emit(OpCodes.Ldarg_1);
        pushRip();
        _il.Emit(OpCodes.Stfld, JitMembers.Rip);
        _il.Emit(OpCodes.Ldc_I4, status);
        _il.Emit(OpCodes.Ret);
    }

    private readonly List<ulong> _exitTargets = new();

    /// <summary>
    /// A normal exit to a constant <paramref name="target"/>. Within this page (where the dispatcher
    /// chains blocks without translating again) the exit gets a slot in <see cref="Block.Exits"/>: once
    /// the dispatcher has seen the target block and it is wholly compiled, this code tail-calls it
    /// directly when it is still valid, the budget covers it and no stop was requested, after writing
    /// back exactly what a return to the dispatcher would (and noting the block in Cpu._jitLast).
    /// </summary>
    private void EmitDirectExit(ulong target)
    {
        if (((target ^ _block.Va) >> 12) != 0)
        {
            EmitExit(() => Const(target));
            return;
        }
        int slot = _exitTargets.Count;
        _exitTargets.Add(target);
        EmitWriteBack(_n, _curSetter, _curAux);
        _il.Emit(OpCodes.Ldarg_1);
        Const(target);
        _il.Emit(OpCodes.Stfld, JitMembers.Rip);
        var done = _il.DefineLabel();
        _il.Emit(OpCodes.Ldarg_0);
        _il.Emit(OpCodes.Ldfld, JitMembers.BlockExits);
        _il.Emit(OpCodes.Ldc_I4, slot);
        _il.Emit(OpCodes.Ldelem_Ref);
        _il.Emit(OpCodes.Stloc, _next);
        _il.Emit(OpCodes.Ldloc, _next);
        _il.Emit(OpCodes.Brfalse, done);
        _il.Emit(OpCodes.Ldloc, _next);
        _il.Emit(OpCodes.Ldfld, JitMembers.BlockValid);
        _il.Emit(OpCodes.Brfalse, done);
        _il.Emit(OpCodes.Ldloc, _next);
        _il.Emit(OpCodes.Ldfld, JitMembers.BlockChainable);
        _il.Emit(OpCodes.Brfalse, done);
        _il.Emit(OpCodes.Ldarg_3);                      // budget < next.Count: back to the dispatcher
        _il.Emit(OpCodes.Ldind_I8);
        _il.Emit(OpCodes.Ldloc, _next);
        _il.Emit(OpCodes.Ldfld, JitMembers.BlockCount);
        _il.Emit(OpCodes.Conv_I8);
        _il.Emit(OpCodes.Blt_Un, done);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Volatile);
        _il.Emit(OpCodes.Ldfld, JitMembers.ExitRequest);
        _il.Emit(OpCodes.Brtrue, done);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldloc, _next);
        _il.Emit(OpCodes.Stfld, JitMembers.JitLast);
        _il.Emit(OpCodes.Ldloc, _next);
        _il.Emit(OpCodes.Ldfld, JitMembers.BlockChainable);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldarg_2);
        _il.Emit(OpCodes.Ldarg_3);
        _il.Emit(OpCodes.Tailcall);
        _il.Emit(OpCodes.Callvirt, JitMembers.JitCodeInvoke);
        _il.Emit(OpCodes.Ret);
        _il.MarkLabel(done);
        _il.Emit(OpCodes.Ldc_I4, JitMembers.ExitNormal);
        _il.Emit(OpCodes.Ret);
    }

    /// <summary>A label to branch to when the current op's memory access fails (its fault is already recorded).</summary>
    private Label FaultLabel(bool regsInFile = false)
    {
        var l = _il.DefineLabel();
        _faults.Add(new FaultStub(l, _i, _curSetter, _curAux, regsInFile));
        return l;
    }

    /// <summary>
    /// Runs the current op through its interpreter handler: registers and lazy flags are written to the
    /// CPU first, the handler runs on them (a false return is a recorded fault: the side exit leaves
    /// the handler's registers and flags as they are), and every register is reloaded after it; the
    /// flags then live in the CPU fields (<see cref="InCpu"/>).
    /// </summary>
    private void EmitInterpreted()
    {
        for (int r = 0; r < 16; r++)
        {
            // In a looping block a register written later in the block may hold a newer value from the
            // previous iteration: spill them all.
            if (!_written[r] && !_loop) continue;
            RegAddress(r);
            _il.Emit(OpCodes.Ldloc, _reg[r]!);
            _il.Emit(OpCodes.Stind_I8);
        }
        EmitStoreFlags(_curSetter, _curAux);
        _curSetter = _curAux = InCpu;
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldarg_0);
        _il.Emit(OpCodes.Ldfld, JitMembers.BlockOps);
        _il.Emit(OpCodes.Ldc_I4, _i);
        _il.Emit(OpCodes.Ldelema, typeof(Op));
        _il.Emit(OpCodes.Call, JitMembers.ExecuteOp);
        _il.Emit(OpCodes.Brfalse, FaultLabel(regsInFile: true));
        for (int r = 0; r < 16; r++)
        {
            RegAddress(r);
            _il.Emit(OpCodes.Ldind_I8);
            _il.Emit(OpCodes.Stloc, Reg(r));
        }
    }

    /// <summary>The side exits: state as the interpreter leaves it when op k faults (k ops retired, rip = op k).</summary>
    private void EmitFaultStubs()
    {
        foreach (var f in _faults)
        {
            _il.MarkLabel(f.Label);
            EmitWriteBack(f.Op, f.Setter, f.Aux, f.RegsInFile);
            _il.Emit(OpCodes.Ldarg_1);
            Const(_ops[f.Op].Ip);
            _il.Emit(OpCodes.Stfld, JitMembers.Rip);
            _il.Emit(OpCodes.Ldc_I4, JitMembers.ExitFault);
            _il.Emit(OpCodes.Ret);
        }
    }
}
