using System.Reflection;
using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// The region compiler's IL generator: forwards everything to the DynamicMethod's own generator and
/// counts the IL instructions emitted. RyuJIT compiles a method of more than 20,000 IL instructions
/// with MinOpts: no register allocation across statements, every guest register loaded and stored at
/// each use. A region that big (an unrolled cipher's loop of 575 guest instructions, 46 KB of IL) ran at
/// 4 times qemu-user's time and, compiled in two smaller regions, faster than it. The compiler emits a
/// region, reads the count, and emits a smaller region when it is over its limit
/// (<see cref="RegionCompiler.TryEmit"/>). RyuJIT's other limit, 2,000 basic blocks, is not counted:
/// no region of our workloads, CoreMark or the stop 25 probes compiled with MinOpts for it (checked with
/// DOTNET_JitDisasmSummary=1).
/// </summary>
internal sealed class CountingILGenerator(ILGenerator il) : ILGenerator
{
    /// <summary>IL instructions emitted.</summary>
    public int Instructions { get; private set; }

    private void Count() => Instructions++;

    public override int ILOffset => il.ILOffset;
    public override void BeginCatchBlock(Type? exceptionType) => il.BeginCatchBlock(exceptionType);
    public override void BeginExceptFilterBlock() => il.BeginExceptFilterBlock();
    public override Label BeginExceptionBlock() => il.BeginExceptionBlock();
    public override void BeginFaultBlock() => il.BeginFaultBlock();
    public override void BeginFinallyBlock() => il.BeginFinallyBlock();
    public override void BeginScope() => il.BeginScope();
    public override LocalBuilder DeclareLocal(Type localType, bool pinned) => il.DeclareLocal(localType, pinned);
    public override Label DefineLabel() => il.DefineLabel();
    public override void Emit(OpCode opcode) { Count(); il.Emit(opcode); }
    public override void Emit(OpCode opcode, byte arg) { Count(); il.Emit(opcode, arg); }
    public override void Emit(OpCode opcode, short arg) { Count(); il.Emit(opcode, arg); }
    public override void Emit(OpCode opcode, int arg) { Count(); il.Emit(opcode, arg); }
    public override void Emit(OpCode opcode, long arg) { Count(); il.Emit(opcode, arg); }
    public override void Emit(OpCode opcode, float arg) { Count(); il.Emit(opcode, arg); }
    public override void Emit(OpCode opcode, double arg) { Count(); il.Emit(opcode, arg); }
    public override void Emit(OpCode opcode, Label label) { Count(); il.Emit(opcode, label); }
    public override void Emit(OpCode opcode, Label[] labels) { Count(); il.Emit(opcode, labels); }
    public override void Emit(OpCode opcode, LocalBuilder local) { Count(); il.Emit(opcode, local); }
    public override void Emit(OpCode opcode, SignatureHelper signature) { Count(); il.Emit(opcode, signature); }
    public override void Emit(OpCode opcode, FieldInfo field) { Count(); il.Emit(opcode, field); }
    public override void Emit(OpCode opcode, MethodInfo meth) { Count(); il.Emit(opcode, meth); }
    public override void Emit(OpCode opcode, ConstructorInfo con) { Count(); il.Emit(opcode, con); }
    public override void Emit(OpCode opcode, Type cls) { Count(); il.Emit(opcode, cls); }
    public override void Emit(OpCode opcode, string str) { Count(); il.Emit(opcode, str); }
    public override void EmitCall(OpCode opcode, MethodInfo methodInfo, Type[]? optionalParameterTypes) { Count(); il.EmitCall(opcode, methodInfo, optionalParameterTypes); }
    public override void EmitCalli(OpCode opcode, CallingConventions callingConvention, Type? returnType, Type[]? parameterTypes, Type[]? optionalParameterTypes) { Count(); il.EmitCalli(opcode, callingConvention, returnType, parameterTypes, optionalParameterTypes); }
    public override void EmitCalli(OpCode opcode, System.Runtime.InteropServices.CallingConvention unmanagedCallConv, Type? returnType, Type[]? parameterTypes) { Count(); il.EmitCalli(opcode, unmanagedCallConv, returnType, parameterTypes); }
    public override void EndExceptionBlock() => il.EndExceptionBlock();
    public override void EndScope() => il.EndScope();
    public override void MarkLabel(Label loc) => il.MarkLabel(loc);
    public override void UsingNamespace(string usingNamespace) => il.UsingNamespace(usingNamespace);
}
