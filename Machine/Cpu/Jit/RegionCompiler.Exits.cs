using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// How compiled code leaves: every exit, normal or side, puts its flag state in the flag locals, notes
/// its row of <see cref="JitRegion.Leaves"/> (rip, the ops of its block retired before it, status,
/// block, exit slot) and branches to a shared tail that reads the row and goes on to the one
/// epilogue, which tail-calls the code an exit slot is linked to. A region has hundreds of exits, and
/// RyuJIT's time and the code grow with what each sets (most of a region's IL was such code before
/// the exits shared their tails).
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>The exits so far: row k is the exit that set _xLeave to k.</summary>
    private readonly List<JitLeave> _leaves = new();
    /// <summary>
    /// The tails: rip from the row, then the rest (<c>_leaveTailDynamic</c>, for exits that computed
    /// rip), to the epilogue that stores the flag locals; and the tail of the side exits after a
    /// faulting handler call (the CPU holds the flags already), to the epilogue after that store.
    /// </summary>
    private Label _leaveTail, _leaveTailDynamic, _leaveTailRegsInFile;

    /// <summary>Sets _xLeave to a new row (the caller branches to a tail).</summary>
    private void NoteLeave(JitLeave row)
    {
        _il.Emit(OpCodes.Ldc_I4, _leaves.Count);
        _il.Emit(OpCodes.Stloc, _xLeave);
        _leaves.Add(row);
    }

    /// <summary>
    /// Leaves through the epilogue after <paramref name="retiredHere"/> ops of the current block (plus
    /// the blocks before it in this run): puts the flag state of this point in the flag locals (the
    /// epilogue stores them; see <see cref="MaterializeFlags"/>), sets rip to <paramref name="rip"/>
    /// (or the value in <paramref name="dynamicRip"/>), and the status; <paramref name="slot"/> is the
    /// direct-exit slot (-1: none); the dispatcher hears that the current block was the last one run.
    /// </summary>
    private void EmitLeave(ulong rip, int retiredHere, int status, int slot = -1, LocalBuilder? dynamicRip = null)
    {
        MaterializeFlags(_curSetter);
        if (dynamicRip != null)
        {
            _il.Emit(OpCodes.Ldloc, dynamicRip);
            _il.Emit(OpCodes.Stloc, _xRip);
        }
        NoteLeave(new JitLeave(rip, retiredHere, status, _blockOf[_i], slot));
        _il.Emit(OpCodes.Br, dynamicRip != null ? _leaveTailDynamic : _leaveTail);
    }

    /// <summary>An exit after the whole current block with rip = <paramref name="rip"/> (a constant).</summary>
    private void EmitExit(ulong rip, int status = JitMembers.ExitNormal) =>
        EmitLeave(rip, _offset[_i] + 1, status);

    /// <summary>An exit after the whole current block with rip = the value in <paramref name="rip"/>; a return's (<paramref name="linked"/>) has an exit slot of its own.</summary>
    private void EmitExit(LocalBuilder rip, bool linked = false)
    {
        int slot = -1;
        if (linked)
        {
            slot = _exitTargets.Count;
            _exitTargets.Add(JitRegion.ReturnSlot);
            for (int k = 1; k < JitRegion.ReturnWays; k++) _exitTargets.Add(JitRegion.ReturnWay);
        }
        EmitLeave(0, _offset[_i] + 1, JitMembers.ExitNormal, slot, dynamicRip: rip);
    }

    private readonly List<ulong> _exitTargets = new();

    /// <summary>
    /// A normal exit after the current block to a constant <paramref name="target"/> outside the
    /// region, through its slot in <see cref="JitRegion.Exits"/>: once the dispatcher has run the target
    /// block after it and the block is wholly compiled, the epilogue tail-calls it (see
    /// <see cref="EmitEpilogue"/> and Cpu.LinkExit). Embench's sha256, whose unrolled rounds run over
    /// page boundaries, entered compiled code from the dispatcher 1.69 million times in a short run when
    /// only exits within the entry's page had slots, 0.38 million with the region's other pages (stop 32).
    /// </summary>
    private void EmitDirectExit(ulong target)
    {
        int slot = _exitTargets.IndexOf(target);
        if (slot < 0) { slot = _exitTargets.Count; _exitTargets.Add(target); }
        EmitLeave(target, _offset[_i] + 1, JitMembers.ExitNormal, slot);
    }

    /// <summary>A label to branch to when the current op's handler call fails (its fault is already recorded; <paramref name="stateInLocals"/>: an x87 handler's, the locals still hold the registers and flags).</summary>
    private Label HandlerFaultLabel(bool stateInLocals = false)
    {
        var l = _il.DefineLabel();
        _faults.Add(new FaultStub(l, _i, _curSetter, HandlerFaulted: true, stateInLocals));
        return l;
    }

    /// <summary>
    /// The side exits: state as the interpreter leaves it when op k's handler faults, or before it runs
    /// op k (its block's first k ops retired, rip = op k). Each stub puts its flag state in the locals
    /// (or, after a faulting handler, takes the registers the handler left) and notes its row.
    /// </summary>
    private void EmitFaultStubs()
    {
        foreach (var f in _faults)
        {
            ILSize before = Size;
            _il.MarkLabel(f.Label);
            // After a faulting handler the CPU holds its registers and flags: the locals take them
            // (after an x87 handler the locals hold them still, flags made whole before the call).
            bool regsInFile = f.HandlerFaulted && !f.StateInLocals;
            if (regsInFile) ReloadRegisters(f.Op);
            else if (!f.StateInLocals) MaterializeFlags(f.Setter, at: f.Op);
            int status = f.HandlerFaulted ? JitMembers.ExitFault : JitMembers.ExitResume;
            NoteLeave(new JitLeave(_ops[f.Op].Ip, _offset[f.Op], status, _blockOf[f.Op], -1));
            _il.Emit(OpCodes.Br, regsInFile ? _leaveTailRegsInFile : _leaveTail);
            _blockSize[_blockOf[f.Op]] += Size - before;
        }
    }

    /// <summary>The shared tails of the exits (see <see cref="_leaveTail"/>).</summary>
    private void EmitLeaveTails()
    {
        EmitLeaveTail(_leaveTail, _leaveTailDynamic, _epilogueFlags);
        EmitLeaveTail(_leaveTailRegsInFile, null, _epilogue);
    }

    /// <summary>
    /// One tail: rip (skipped when entered at <paramref name="dynamic"/>), the instructions retired
    /// (budget at entry - left + the row's part of its block), the status, the block left and the
    /// direct-exit slot, from the exit's row; then <paramref name="epilogue"/>.
    /// </summary>
    private void EmitLeaveTail(Label start, Label? dynamic, Label epilogue)
    {
        _il.MarkLabel(start);
        LoadLeaveRow();
        LeaveField(nameof(JitLeave.Rip));
        _il.Emit(OpCodes.Stloc, _xRip);
        var rowLoaded = _il.DefineLabel();
        _il.Emit(OpCodes.Br, rowLoaded);
        if (dynamic is Label d) { _il.MarkLabel(d); LoadLeaveRow(); }
        _il.MarkLabel(rowLoaded);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldfld, JitMembers.Budget);
        _il.Emit(OpCodes.Ldloc, _left);
        _il.Emit(OpCodes.Sub);
        LeaveField(nameof(JitLeave.Retired));
        _il.Emit(OpCodes.Conv_I8);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stloc, _xRetired);
        LeaveField(nameof(JitLeave.Status));
        _il.Emit(OpCodes.Stloc, _xStatus);
        LeaveField(nameof(JitLeave.Block));
        _il.Emit(OpCodes.Stloc, _xBlock);
        LeaveField(nameof(JitLeave.Slot));
        _il.Emit(OpCodes.Stloc, _xSlot);
        _il.Emit(OpCodes.Br, epilogue);
    }

    /// <summary>_xRow = ref JitRegion.Leaves[_xLeave]: one bounds check for the row's five fields (RyuJIT checked each load again).</summary>
    private void LoadLeaveRow()
    {
        _il.Emit(OpCodes.Ldarg_0);
        _il.Emit(OpCodes.Ldfld, JitMembers.RegionLeaves);
        _il.Emit(OpCodes.Ldloc, _xLeave);
        _il.Emit(OpCodes.Ldelema, typeof(JitLeave));
        _il.Emit(OpCodes.Stloc, _xRow);
    }

    /// <summary>Pushes a field of the exit's row (<see cref="LoadLeaveRow"/>).</summary>
    private void LeaveField(string field)
    {
        _il.Emit(OpCodes.Ldloc, _xRow);
        _il.Emit(OpCodes.Ldfld, typeof(JitLeave).GetField(field)!);
    }

    /// <summary>
    /// The one epilogue: writes back the registers written anywhere in the region, the retired count
    /// and the budget, and rip. At an exit whose slot holds the block at rip (a return's: one of its
    /// ways), valid, wholly compiled, covered by the budget, on a page mapped as when linked, with no
    /// stop requested, it then tail-calls that block's code. Else, at a normal exit, it notes this
    /// region (Cpu._jitRegion), the index of the block left in it and the exit slot (Cpu._jitExitBlock,
    /// _jitExitSlot) for the dispatcher to chain and link from, and returns. Only that return stores a
    /// reference (one GC write barrier): the block left and the block tail-called were stored at every
    /// pass between two regions' code, three barrier calls a pass (3% of sglib's run).
    /// </summary>
    private void EmitEpilogue()
    {
        _il.MarkLabel(_epilogueFlags);
        StoreFlagLocals();
        _il.MarkLabel(_epilogue);
        // The register file's address once: loaded for each store, RyuJIT loaded it again after each
        // (a store through it might have changed the field, as far as it knows).
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldfld, JitMembers.Regs);
        _il.Emit(OpCodes.Stloc, _xRegs);
        for (int r = 0; r < 16; r++)
        {
            if (!_written[r] || _inFile[r]) continue;   // a cold register was stored where written
            RegAddress(r, _xRegs);
            _il.Emit(OpCodes.Ldloc, _reg[r]!);
            _il.Emit(OpCodes.Stind_I8);
        }
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldfld, JitMembers.Retired);
        _il.Emit(OpCodes.Ldloc, _xRetired);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stfld, JitMembers.Retired);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldfld, JitMembers.Budget);
        _il.Emit(OpCodes.Ldloc, _xRetired);
        _il.Emit(OpCodes.Sub);
        _il.Emit(OpCodes.Stfld, JitMembers.Budget);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldloc, _xRip);
        _il.Emit(OpCodes.Stfld, JitMembers.Rip);
        var done = _il.DefineLabel();
        var unlinked = _il.DefineLabel();
        if (_quick) EmitPromoteCount();
        _il.Emit(OpCodes.Ldloc, _xStatus);
        _il.Emit(OpCodes.Brtrue, done);                 // faults and prefixes: the dispatcher knows the block
        if (_exitTargets.Count > 0)
        {
            _il.Emit(OpCodes.Ldloc, _xSlot);
            _il.Emit(OpCodes.Dup);
            _il.Emit(OpCodes.Stloc, _xWay);
            _il.Emit(OpCodes.Ldc_I4_0);
            _il.Emit(OpCodes.Blt, unlinked);
            EmitExitHit(unlinked);
            LoadLinkedExit();
            _il.Emit(OpCodes.Ldloc, _next);
            _il.Emit(OpCodes.Brfalse, unlinked);
            var found = _il.DefineLabel();
            _il.Emit(OpCodes.Ldloc, _next);                 // a return's slot: its block, if the address popped is its
            _il.Emit(OpCodes.Ldfld, JitMembers.BlockVa);
            _il.Emit(OpCodes.Ldloc, _xRip);
            _il.Emit(OpCodes.Beq, found);
            _il.Emit(OpCodes.Ldarg_0);                      // else one of the return's other ways (none for a direct exit)
            _il.Emit(OpCodes.Ldloc, _xSlot);
            _il.Emit(OpCodes.Ldloc, _xRip);
            _il.Emit(OpCodes.Call, JitMembers.ReturnWayOf);
            _il.Emit(OpCodes.Dup);
            _il.Emit(OpCodes.Stloc, _xWay);
            _il.Emit(OpCodes.Ldc_I4_0);
            _il.Emit(OpCodes.Blt, unlinked);
            LoadLinkedExit();
            _il.MarkLabel(found);
            _il.Emit(OpCodes.Ldloc, _next);
            _il.Emit(OpCodes.Ldfld, JitMembers.BlockValid);
            _il.Emit(OpCodes.Brfalse, unlinked);
            _il.Emit(OpCodes.Ldloc, _next);
            _il.Emit(OpCodes.Ldfld, JitMembers.BlockChainable);
            _il.Emit(OpCodes.Brfalse, unlinked);
            _il.Emit(OpCodes.Ldarg_1);                      // budget < next's entry budget: back to the dispatcher
            _il.Emit(OpCodes.Ldfld, JitMembers.Budget);
            _il.Emit(OpCodes.Ldloc, _next);
            _il.Emit(OpCodes.Ldfld, JitMembers.BlockEntryBudget);
            _il.Emit(OpCodes.Conv_I8);
            _il.Emit(OpCodes.Blt_Un, unlinked);
            _il.Emit(OpCodes.Ldarg_1);
            _il.Emit(OpCodes.Volatile);
            _il.Emit(OpCodes.Ldfld, JitMembers.ExitRequest);
            _il.Emit(OpCodes.Brtrue, unlinked);
            if (_quick)
            {
                _il.Emit(OpCodes.Ldarg_1);                  // a region to promote: back to the dispatcher
                _il.Emit(OpCodes.Ldfld, JitMembers.Promote);
                _il.Emit(OpCodes.Brtrue, unlinked);
            }
            var mapped = _il.DefineLabel();
            _il.Emit(OpCodes.Ldarg_0);                      // a block on a page the region does not check: the TLB must still map it there
            _il.Emit(OpCodes.Ldfld, JitMembers.RegionExitsUnverified);
            _il.Emit(OpCodes.Ldloc, _xWay);
            _il.Emit(OpCodes.Ldelem_U1);
            _il.Emit(OpCodes.Brfalse, mapped);
            _il.Emit(OpCodes.Ldarg_1);
            _il.Emit(OpCodes.Ldloc, _next);
            _il.Emit(OpCodes.Call, JitMembers.FetchMapped);
            _il.Emit(OpCodes.Brfalse, unlinked);
            _il.MarkLabel(mapped);
            _il.Emit(OpCodes.Ldarg_1);
            _il.Emit(OpCodes.Dup);
            _il.Emit(OpCodes.Ldfld, JitMembers.Passes);
            _il.Emit(OpCodes.Ldc_I4_1);
            _il.Emit(OpCodes.Conv_I8);
            _il.Emit(OpCodes.Add);
            _il.Emit(OpCodes.Stfld, JitMembers.Passes);
            // The code tail-called notes its own exit: nothing of this one's is stored.
            _il.Emit(OpCodes.Ldloc, _next);
            _il.Emit(OpCodes.Ldfld, JitMembers.BlockChainable);
            _il.Emit(OpCodes.Ldarg_1);
            _il.Emit(OpCodes.Tailcall);
            _il.Emit(OpCodes.Callvirt, JitMembers.JitCodeInvoke);
            _il.Emit(OpCodes.Ret);
        }
        // Back to the dispatcher: the exit, for it to chain from and to link (the slot noted is a
        // return's first, whichever way the address popped matched).
        _il.MarkLabel(unlinked);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldloc, _xBlock);
        _il.Emit(OpCodes.Stfld, JitMembers.ExitBlock);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldarg_0);
        _il.Emit(OpCodes.Stfld, JitMembers.LastRegion);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldloc, _xSlot);
        _il.Emit(OpCodes.Stfld, JitMembers.ExitSlot);
        _il.MarkLabel(done);
        _il.Emit(OpCodes.Ldloc, _xStatus);
        _il.Emit(OpCodes.Ret);
        EmitRegisterLoads();
    }

    /// <summary>
    /// Counts the exit in its row's JitLeave.Hits; at Cpu.HotExitPasses it notes the row
    /// (Cpu._jitHotRow) and goes to <paramref name="dispatcher"/> (back to the dispatcher: Cpu.NoteHotExit).
    /// </summary>
    private void EmitExitHit(Label dispatcher)
    {
        var hits = _il.DeclareLocal(typeof(int));
        var counted = _il.DefineLabel();
        _il.Emit(OpCodes.Ldloc, _xRow);
        _il.Emit(OpCodes.Ldflda, JitMembers.LeaveHits);
        AddInPlace(OpCodes.Ldind_I4, OpCodes.Stind_I4, 1, hits);
        _il.Emit(OpCodes.Ldloc, hits);
        _il.Emit(OpCodes.Ldc_I4, Cpu.HotExitPasses);
        _il.Emit(OpCodes.Bne_Un, counted);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldloc, _xLeave);
        _il.Emit(OpCodes.Stfld, JitMembers.HotRow);
        _il.Emit(OpCodes.Br, dispatcher);
        _il.MarkLabel(counted);
    }

    /// <summary>_next = JitRegion.Exits[_xWay].</summary>
    private void LoadLinkedExit()
    {
        _il.Emit(OpCodes.Ldarg_0);
        _il.Emit(OpCodes.Ldfld, JitMembers.RegionExits);
        _il.Emit(OpCodes.Ldloc, _xWay);
        _il.Emit(OpCodes.Ldelem_Ref);
        _il.Emit(OpCodes.Stloc, _next);
    }
}
