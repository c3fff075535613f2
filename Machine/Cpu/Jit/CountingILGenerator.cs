using System.Diagnostics.SymbolStore;
using System.Reflection;
using System.Reflection.Emit;

namespace Lab.Machine.Cpu;

/// <summary>
/// The region compiler's IL generator: forwards everything to the DynamicMethod's own generator and
/// counts what RyuJIT's size limits count. RyuJIT compiles a method with more than 20,000 IL
/// instructions (or 2,000 basic blocks) with MinOpts: no register allocation across statements, every
/// guest register loaded and stored at each use. A region that big (an unrolled cipher's loop of 575
/// guest instructions, 46 KB of IL) ran at 4 times qemu-user's time and, compiled in two smaller
/// regions, faster than it. The compiler emits a region, reads these counts, and emits a smaller
/// region when they are over its limits (<see cref="RegionCompiler.TryEmit"/>).
/// </summary>
internal sealed class CountingILGenerator(ILGenerator il) : ILGenerator
{
    /// <summary>IL instructions emitted.</summary>
    public int Instructions { get; private set; }
    /// <summary>Basic blocks RyuJIT will see, at most: each marked label starts one, and so does the instruction after each branch.</summary>
    public int Blocks { get; private set; } = 1;

    private void Count(OpCode opcode)
    {
        Instructions++;
        if (opcode.FlowControl is FlowControl.Branch or FlowControl.Cond_Branch or FlowControl.Return or FlowControl.Throw) Blocks++;
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
    public override void Emit(OpCode opcode, Label[] labels) { Count(opcode); Blocks += labels.Length; il.Emit(opcode, labels); }
    public override void Emit(OpCode opcode, LocalBuilder local) { Count(opcode); il.Emit(opcode, local); }
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
    public override void MarkLabel(Label loc) { Blocks++; il.MarkLabel(loc); }
    public override void UsingNamespace(string usingNamespace) => il.UsingNamespace(usingNamespace);
}
