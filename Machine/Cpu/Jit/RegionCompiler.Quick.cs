using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// Quick code (Cpu.Promote has the policy): the padding that makes RyuJIT compile a region with MinOpts,
/// the epilogue's count of what the code retires against the region's credit, and each block's count
/// of its runs, which its optimised compile reads.
/// </summary>
internal sealed unsafe partial class RegionCompiler
{
    /// <summary>
    /// Quick code's count in the epilogue: counts the exit (JitRegion.QuickLeaves), subtracts the
    /// instructions retired from the region's credit (JitRegion.PromoteCredit; both on the entry-0
    /// object that every entry shares) and, when it runs out,
    /// notes the region in Cpu._jitPromote, so the code returns to the dispatcher instead of chaining on
    /// and the dispatcher compiles the region again (Cpu.Promote).
    /// </summary>
    private void EmitPromoteCount()
    {
        var enough = _il.DefineLabel();
        _il.Emit(OpCodes.Ldarg_0);
        _il.Emit(OpCodes.Ldfld, JitMembers.RegionMain);
        _il.Emit(OpCodes.Dup);
        _il.Emit(OpCodes.Dup);                          // one more exit
        _il.Emit(OpCodes.Ldfld, JitMembers.RegionQuickLeaves);
        _il.Emit(OpCodes.Ldc_I4_1);
        _il.Emit(OpCodes.Conv_I8);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stfld, JitMembers.RegionQuickLeaves);
        _il.Emit(OpCodes.Dup);
        _il.Emit(OpCodes.Ldfld, JitMembers.RegionPromoteCredit);
        _il.Emit(OpCodes.Ldloc, _xRetired);
        _il.Emit(OpCodes.Sub);
        _il.Emit(OpCodes.Dup);
        _il.Emit(OpCodes.Stloc, _xCredit);
        _il.Emit(OpCodes.Stfld, JitMembers.RegionPromoteCredit);
        _il.Emit(OpCodes.Ldloc, _xCredit);
        _il.Emit(OpCodes.Ldc_I4_0);
        _il.Emit(OpCodes.Conv_I8);
        _il.Emit(OpCodes.Bge, enough);
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldarg_0);
        _il.Emit(OpCodes.Ldfld, JitMembers.RegionMain);
        _il.Emit(OpCodes.Stfld, JitMembers.Promote);
        _il.MarkLabel(enough);
    }

    /// <summary>
    /// Quick code's count of block <paramref name="j"/>'s runs, at its start (JitRegion.BlockRuns):
    /// the profile the region's optimised compile weighs its registers by (<see cref="PlanColdRegisters"/>).
    /// </summary>
    private void EmitRunCount(int j)
    {
        _il.Emit(OpCodes.Ldarg_0);
        _il.Emit(OpCodes.Ldfld, JitMembers.RegionBlockRuns);
        _il.Emit(OpCodes.Ldc_I4, j);
        _il.Emit(OpCodes.Ldelema, typeof(long));
        _il.Emit(OpCodes.Dup);
        _il.Emit(OpCodes.Ldind_I8);
        _il.Emit(OpCodes.Ldc_I4_1);
        _il.Emit(OpCodes.Conv_I8);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stind_I8);
    }

    /// <summary>The nops that make RyuJIT compile quick code with MinOpts (<see cref="PadForMinOpts"/>).</summary>
    private const int MinOptsPad = 20_001;

    /// <summary>The method's IL instructions but the MinOpts padding: the size RyuJIT would optimise.</summary>
    private int BodyILInstructions => _il.Instructions - (_quick ? MinOptsPad : 0);

    /// <summary>
    /// Makes RyuJIT compile the method with MinOpts: it does for a method of more than 20,000 IL
    /// instructions imported (DEFAULT_MIN_OPTS_INSTR_COUNT), and a DynamicMethod has no other way to
    /// ask. The nops open the method, where they run once per entry; RyuJIT counts each as it imports it
    /// and emits nothing for it (nops become machine code only in debuggable code). Nops after the last
    /// instruction would not do: unreachable IL is never imported. Measured on mix (stop 27): a region
    /// of 6 guest instructions 1.2 → 0.5 ms, of 100 about 5 → 1.4 ms, of 300 about 20 → 6 ms.
    /// </summary>
    private void PadForMinOpts()
    {
        for (int k = 0; k < MinOptsPad; k++) _il.Emit(OpCodes.Nop);
    }
}
