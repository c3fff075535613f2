using System.Reflection;
using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// The region compiler's IL generator: forwards everything to the DynamicMethod's own generator and
/// counts the IL instructions emitted, and of those the references to locals and arguments. RyuJIT
/// compiles a method of more than 20,000 IL instructions, 8,000 such references or 60,000 bytes of IL
/// with MinOpts: no register allocation across statements, every guest register loaded and stored at
/// each use. A region that big (an unrolled cipher's loop of 575 guest instructions, 46 KB of IL) ran at
/// 4 times qemu-user's time and, compiled in two smaller regions, faster than it. The compiler emits a
/// region, reads the counts, and emits a smaller region when it is over a limit
/// (<see cref="RegionCompiler.TryEmit"/>). RyuJIT's other limits, 2,000 basic blocks and 2,000 locals,
/// are not counted: no region of our workloads, CoreMark, Embench or the stop 25 probes compiled with
/// MinOpts for them (checked with DOTNET_JitDisasmSummary=1, stop 29).
/// </summary>
internal sealed class CountingILGenerator(ILGenerator il) : ILGenerator
{
    /// <summary>IL instructions emitted.</summary>
    public int Instructions { get; private set; }
    /// <summary>Of those, the loads, stores and address-takings of locals and arguments (RyuJIT's lvRefCount).</summary>
    public int LocalReferences { get; private set; }

    /// <summary>
    /// The guest registers' locals (set by the compiler), and the registers whose locals hold a value
    /// zero-extended from 32 bits on every way to the IL emitted next: the compiler sets a bit after a
    /// 32-bit write (<see cref="RegionCompiler"/>.SetReg); any other store to the local, or taking its
    /// address, clears it, and a label clears them all (other ways may join there). A 32-bit read of
    /// such a register needs no truncation: RyuJIT made a <c>mov r32, r32</c> of each.
    /// </summary>
    public LocalBuilder?[] Registers = [];
    public uint ZeroExtended;

    private void Count(OpCode opcode)
    {
        Instructions++;
        // ldarg.0 .. stloc.s and the long forms ldarg .. stloc, as RyuJIT's IL scan counts them.
        ushort v = (ushort)opcode.Value;
        if (v is >= 0x02 and <= 0x13 or >= 0xFE09 and <= 0xFE0E) LocalReferences++;
    }

    public override int ILOffset => il.ILOffset;
    public override void BeginCatchBlock(Type? exceptionType) => il.BeginCatchBlock(exceptionType);
    public override void BeginExceptFilterBlock() => il.BeginExceptFilterBlock();
    public override Label BeginExceptionBlock() => il.BeginExceptionBlock();
    public override void BeginFaultBlock() => il.BeginFaultBlock();
    public override void BeginFinallyBlock() => il.BeginFinallyBlock();
    public override void BeginScope() => il.BeginScope();
    public override LocalBuilder DeclareLocal(Type localType, bool pinned) => il.DeclareLocal(localType, pinned);
    public override Label DefineLabel() => il.DefineLabel();
    public override void Emit(OpCode opcode) { Count(opcode); il.Emit(opcode); }
    public override void Emit(OpCode opcode, byte arg) { Count(opcode); il.Emit(opcode, arg); }
    public override void Emit(OpCode opcode, short arg) { Count(opcode); il.Emit(opcode, arg); }
    public override void Emit(OpCode opcode, int arg) { Count(opcode); il.Emit(opcode, arg); }
    public override void Emit(OpCode opcode, long arg) { Count(opcode); il.Emit(opcode, arg); }
    public override void Emit(OpCode opcode, float arg) { Count(opcode); il.Emit(opcode, arg); }
    public override void Emit(OpCode opcode, double arg) { Count(opcode); il.Emit(opcode, arg); }
    public override void Emit(OpCode opcode, Label label) { Count(opcode); il.Emit(opcode, label); }
    public override void Emit(OpCode opcode, Label[] labels) { Count(opcode); il.Emit(opcode, labels); }
    public override void Emit(OpCode opcode, LocalBuilder local)
    {
        Count(opcode);
        il.Emit(opcode, local);
        if (ZeroExtended != 0 && opcode != OpCodes.Ldloc && opcode != OpCodes.Ldloc_S)
            for (int r = 0; r < Registers.Length; r++)
                if (Registers[r] == local) ZeroExtended &= ~(1u << r);
    }
    public override void Emit(OpCode opcode, SignatureHelper signature) { Count(opcode); il.Emit(opcode, signature); }
    public override void Emit(OpCode opcode, FieldInfo field) { Count(opcode); il.Emit(opcode, field); }
    public override void Emit(OpCode opcode, MethodInfo meth) { Count(opcode); il.Emit(opcode, meth); }
    public override void Emit(OpCode opcode, ConstructorInfo con) { Count(opcode); il.Emit(opcode, con); }
    public override void Emit(OpCode opcode, Type cls) { Count(opcode); il.Emit(opcode, cls); }
    public override void Emit(OpCode opcode, string str) { Count(opcode); il.Emit(opcode, str); }
    public override void EmitCall(OpCode opcode, MethodInfo methodInfo, Type[]? optionalParameterTypes) { Count(opcode); il.EmitCall(opcode, methodInfo, optionalParameterTypes); }
    public override void EmitCalli(OpCode opcode, CallingConventions callingConvention, Type? returnType, Type[]? parameterTypes, Type[]? optionalParameterTypes) { Count(opcode); il.EmitCalli(opcode, callingConvention, returnType, parameterTypes, optionalParameterTypes); }
    public override void EmitCalli(OpCode opcode, System.Runtime.InteropServices.CallingConvention unmanagedCallConv, Type? returnType, Type[]? parameterTypes) { Count(opcode); il.EmitCalli(opcode, unmanagedCallConv, returnType, parameterTypes); }
    public override void EndExceptionBlock() => il.EndExceptionBlock();
    public override void EndScope() => il.EndScope();
    public override void MarkLabel(Label loc) { ZeroExtended = 0; il.MarkLabel(loc); }
    /// <summary>Marks a label that only ways storing to no guest register since the code before it branch to (an access's hit after its out-of-line TLB path): <see cref="ZeroExtended"/> holds on.</summary>
    public void MarkJoin(Label loc) => il.MarkLabel(loc);
    public override void UsingNamespace(string usingNamespace) => il.UsingNamespace(usingNamespace);
}
