using System.Reflection;
using System.Runtime.CompilerServices;

namespace Lab.Machine.Cpu;

/// <summary>
/// A compiled region (RegionCompiler). Runs its entry block and then member blocks as control reaches
/// them, while the budget (Cpu._jitBudget) covers each whole block, on <paramref name="cpu"/>. On
/// return the CPU's architectural state (registers, lazy flags, rip, retired count) is exactly what the
/// interpreter would have left, and the budget is reduced by the instructions retired. Returns <see cref="JitMembers.ExitNormal"/>;
/// <see cref="JitMembers.ExitFault"/> when an instruction faulted (the trap is recorded in the CPU and
/// rip is the faulting instruction); or <see cref="JitMembers.ExitPrefix"/> when the code covers only
/// the block's first <see cref="Block.CompiledOps"/> ops and ran them (rip is the next op, which the
/// interpreter runs); or <see cref="JitMembers.ExitResume"/> when it stopped before an instruction
/// whose memory access missed the TLB (rip is that instruction, which the interpreter runs from: the
/// TLB refill, page-crossing accesses and faults all happen there, and the compiled loops keep no call
/// on their path, so RyuJIT can keep guest registers in any host register), or before anything ran
/// when one of the region's other pages no longer translates as compiled (Cpu.RegionPagesMapped).
/// </summary>
internal delegate int JitCode(Cpu cpu);

/// <summary>The CPU members that compiled code reads or calls (resolved once; immutable).</summary>
internal static class JitMembers
{
    public const int ExitNormal = 0, ExitFault = 1, ExitPrefix = 2, ExitResume = 3;

    private const BindingFlags Inst = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;

    public static readonly FieldInfo Rip = Field("_rip");
    public static readonly FieldInfo Regs = Field("_regs");
    public static readonly FieldInfo Budget = Field("_jitBudget");
    public static readonly FieldInfo Retired = Field("_retired");
    public static readonly FieldInfo Fop = Field("_fop");
    public static readonly FieldInfo Fsize = Field("_fsize");
    public static readonly FieldInfo Fa = Field("_fa");
    public static readonly FieldInfo Fb = Field("_fb");
    public static readonly FieldInfo Fr = Field("_fr");
    public static readonly FieldInfo Faux = Field("_faux");
    public static readonly FieldInfo ExitRequest = Field("_exitRequest");
    public static readonly FieldInfo ExitBlock = Field("_jitExitBlock");
    public static readonly FieldInfo Passes = Field("_jitPasses");
    public static readonly FieldInfo LastRegion = Field("_jitRegion");
    public static readonly FieldInfo ExitSlot = Field("_jitExitSlot");
    public static readonly FieldInfo RegionOps = typeof(JitRegion).GetField(nameof(JitRegion.Ops))!;
    public static readonly FieldInfo RegionExits = typeof(JitRegion).GetField(nameof(JitRegion.Exits))!;
    public static readonly FieldInfo LeaveHits = typeof(JitLeave).GetField(nameof(JitLeave.Hits))!;
    public static readonly FieldInfo HotRow = Field("_jitHotRow");
    public static readonly FieldInfo RegionExitsUnverified = typeof(JitRegion).GetField(nameof(JitRegion.ExitsUnverified))!;
    public static readonly FieldInfo RegionEntry = typeof(JitRegion).GetField(nameof(JitRegion.Entry))!;
    public static readonly FieldInfo RegionMain = typeof(JitRegion).GetField(nameof(JitRegion.Main))!;
    public static readonly FieldInfo RegionPromoteCredit = typeof(JitRegion).GetField(nameof(JitRegion.PromoteCredit))!;
    public static readonly FieldInfo RegionQuickLeaves = typeof(JitRegion).GetField(nameof(JitRegion.QuickLeaves))!;
    public static readonly FieldInfo RegionBlockRuns = typeof(JitRegion).GetField(nameof(JitRegion.BlockRuns))!;
    public static readonly FieldInfo Promote = Field("_jitPromote");
    public static readonly FieldInfo GroupMissed = Field("_jitGroupMissed");
    public static readonly FieldInfo RegionWindows = typeof(JitRegion).GetField(nameof(JitRegion.Windows))!;
    public static readonly FieldInfo RegionLeaves = typeof(JitRegion).GetField(nameof(JitRegion.Leaves))!;
    public static readonly FieldInfo RegionMappedGeneration = typeof(JitRegion).GetField(nameof(JitRegion.MappedGeneration))!;
    public static readonly FieldInfo TlbGeneration = Field("_tlbGeneration");
    public static readonly FieldInfo BlockValid = typeof(Block).GetField(nameof(Block.Valid))!;
    public static readonly FieldInfo BlockVa = typeof(Block).GetField(nameof(Block.Va))!;
    public static readonly FieldInfo BlockChainable = typeof(Block).GetField(nameof(Block.Chainable))!;
    public static readonly FieldInfo BlockEntryBudget = typeof(Block).GetField(nameof(Block.JitEntryBudget))!;
    public static readonly MethodInfo JitCodeInvoke = typeof(JitCode).GetMethod("Invoke")!;

    public static readonly FieldInfo Tlb = Field("_tlb");
    public static readonly FieldInfo Xmm = Field("_xmm");
    public static readonly FieldInfo WindowPending = Field("_windowPending");
    public static readonly FieldInfo WindowPendingVa = Field("_windowPendingVa");
    public static readonly FieldInfo BulkPasses = Field("_jitBulkPasses");
    public static readonly MethodInfo BulkMove = typeof(JitHelpers).GetMethod(nameof(JitHelpers.BulkMove))!;
    public static readonly MethodInfo BulkFill = typeof(JitHelpers).GetMethod(nameof(JitHelpers.BulkFill))!;
    public static readonly MethodInfo BulkFillVector = typeof(JitHelpers).GetMethod(nameof(JitHelpers.BulkFillVector))!;
    public static readonly MethodInfo BulkSearch = typeof(JitHelpers).GetMethod(nameof(JitHelpers.BulkSearch))!;
    public static readonly MethodInfo Read64 = Method("Read64");
    public static readonly MethodInfo Read32 = Method("Read32");
    public static readonly MethodInfo Read16 = Method("Read16");
    public static readonly MethodInfo Read8 = Method("Read8");
    public static readonly MethodInfo Write64 = Method("Write64");
    public static readonly MethodInfo Write32 = Method("Write32");
    public static readonly MethodInfo Write16 = Method("Write16");
    public static readonly MethodInfo Write8 = Method("Write8");
    public static readonly MethodInfo Condition = Method("Condition");
    public static readonly MethodInfo ExecuteOp = Method("ExecuteOp");
    /// <summary>The interpreter's handler of an x87 kind that RegionCompiler.X87Only lets compiled code call directly (ExecuteOp's dispatch skipped).</summary>
    public static MethodInfo X87Handler(OpKind kind) => kind switch
    {
        OpKind.X87Load => X87Load, OpKind.X87Store => X87Store, OpKind.X87Arith => X87Arith,
        OpKind.X87Compare => X87Compare, OpKind.X87Special => X87Special, OpKind.X87Stack => X87Stack,
        OpKind.X87Control => X87Control,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not an x87 kind compiled code calls directly"),
    };
    private static readonly MethodInfo X87Load = Method("X87Load"), X87Store = Method("X87Store"), X87Arith = Method("X87Arith"),
        X87Compare = Method("X87Compare"), X87Special = Method("X87Special"), X87Stack = Method("X87Stack"), X87Control = Method("X87Control");
    public static readonly MethodInfo RegionPagesMapped = Method("RegionPagesMapped");
    public static readonly MethodInfo FetchMapped = Method("FetchMapped");
    public static readonly MethodInfo ReturnWayOf = typeof(Cpu).GetMethod("ReturnWayOf", BindingFlags.NonPublic | BindingFlags.Static)!;
    public static readonly MethodInfo CarryFlag = Method("CarryFlag");
    public static readonly MethodInfo FsBase = typeof(Cpu).GetProperty(nameof(Cpu.FsBase))!.GetMethod!;
    public static readonly MethodInfo GsBase = typeof(Cpu).GetProperty(nameof(Cpu.GsBase))!.GetMethod!;
    public static readonly MethodInfo CodeInvalidations = typeof(Cpu).GetProperty(nameof(Cpu.CodeInvalidations))!.GetMethod!;

    public static readonly MethodInfo HelperCondition = typeof(JitHelpers).GetMethod(nameof(JitHelpers.Condition))!;
    public static readonly MethodInfo HelperStatus = typeof(JitHelpers).GetMethod(nameof(JitHelpers.Status))!;
    public static readonly MethodInfo HelperCarry = typeof(JitHelpers).GetMethod(nameof(JitHelpers.Carry))!;
    public static readonly MethodInfo HelperResult = typeof(JitHelpers).GetMethod(nameof(JitHelpers.Result))!;
    public static readonly MethodInfo MultiplyHigh = typeof(JitHelpers).GetMethod(nameof(JitHelpers.MultiplyHigh))!;
    public static readonly MethodInfo MultiplyHighSigned = typeof(JitHelpers).GetMethod(nameof(JitHelpers.MultiplyHighSigned))!;
    /// <summary>BitOperations.RotateLeft/RotateRight for 32-bit (uint) or 64-bit (ulong) values.</summary>
    public static MethodInfo Rotate(bool left, int size) =>
        typeof(System.Numerics.BitOperations).GetMethod(left ? "RotateLeft" : "RotateRight", [size == 4 ? typeof(uint) : typeof(ulong), typeof(int)])!;
    /// <summary>BitOperations.PopCount / TrailingZeroCount / LeadingZeroCount of a ulong (one host instruction each).</summary>
    public static MethodInfo BitCount(string name) =>
        typeof(System.Numerics.BitOperations).GetMethod(name, [typeof(ulong)])!;
    public static readonly MethodInfo HelperImulAux = typeof(JitHelpers).GetMethod(nameof(JitHelpers.ImulAux))!;
    public static readonly MethodInfo Bswap64 = typeof(System.Buffers.Binary.BinaryPrimitives).GetMethod("ReverseEndianness", [typeof(ulong)])!;
    public static readonly MethodInfo Bswap32 = typeof(System.Buffers.Binary.BinaryPrimitives).GetMethod("ReverseEndianness", [typeof(uint)])!;

    private static readonly Dictionary<string, MethodInfo> SseMathMethods =
        typeof(SseMath).GetMethods(BindingFlags.Static | BindingFlags.Public).ToDictionary(m => m.Name);

    /// <summary>The <see cref="SseMath"/> function of that name (one per instruction, no overloads); missing = our bug.</summary>
    public static MethodInfo SseMath(string name) =>
        SseMathMethods.GetValueOrDefault(name) ?? throw new MissingMethodException("SseMath", name);

    /// <summary>The memory read helper for an access size (1, 2, 4, 8): bool ReadN(ulong va, out ulong v).</summary>
    public static MethodInfo ReadOf(int size) => size switch { 8 => Read64, 4 => Read32, 2 => Read16, _ => Read8 };

    /// <summary>The memory write helper for an access size: bool WriteN(ulong va, ulong v).</summary>
    public static MethodInfo WriteOf(int size) => size switch { 8 => Write64, 4 => Write32, 2 => Write16, _ => Write8 };

    /// <summary>A CPU field by name (private fields included); missing = a build that renamed it.</summary>
    private static FieldInfo Field(string name) =>
        typeof(Cpu).GetField(name, Inst) ?? throw new MissingFieldException(nameof(Cpu), name);

    /// <summary>A CPU method by name (private methods included).</summary>
    private static MethodInfo Method(string name) =>
        typeof(Cpu).GetMethod(name, Inst) ?? throw new MissingMethodException(nameof(Cpu), name);
}

/// <summary>Static helpers that compiled code calls for the rare cases it does not inline.</summary>
internal static unsafe class JitHelpers
{
    /// <summary>The passes of a copy loop at once (RegionCompiler.Bulk.cs): <paramref name="bytes"/> from host address <paramref name="from"/> to <paramref name="to"/>, as memmove (the loop's own order gives the same bytes: overlap that would not is left to the passes).</summary>
    public static void BulkMove(ulong from, ulong to, ulong bytes) => Buffer.MemoryCopy((void*)from, (void*)to, bytes, bytes);

    /// <summary>The passes of a fill loop at once: <paramref name="count"/> elements of <paramref name="size"/> bytes (1, 2, 4, 8) at host address <paramref name="to"/>, each the low bytes of <paramref name="value"/>.</summary>
    public static void BulkFill(ulong to, ulong count, ulong value, int size)
    {
        while (count != 0)
        {
            int n = (int)Math.Min(count, 1 << 24);
            switch (size)
            {
                case 1: new Span<byte>((void*)to, n).Fill((byte)value); break;
                case 2: new Span<ushort>((void*)to, n).Fill((ushort)value); break;
                case 4: new Span<uint>((void*)to, n).Fill((uint)value); break;
                default: new Span<ulong>((void*)to, n).Fill(value); break;
            }
            to += (ulong)(n * size);
            count -= (ulong)n;
        }
    }

    /// <summary>
    /// The passes of a loop of byte loads before the one whose byte ends it, of at most
    /// <paramref name="count"/>: from host address <paramref name="at"/> walking up (or
    /// <paramref name="down"/>), the first byte equal to <paramref name="value"/> (or, <paramref name="whileEqual"/>, not equal); <paramref name="count"/> when none is.
    /// </summary>
    public static ulong BulkSearch(ulong at, ulong count, bool down, int value, bool whileEqual)
    {
        int n = (int)Math.Min(count, int.MaxValue);
        var bytes = new ReadOnlySpan<byte>((void*)(down ? at - (ulong)n + 1 : at), n);
        int i = down
            ? (whileEqual ? bytes.LastIndexOfAnyExcept((byte)value) : bytes.LastIndexOf((byte)value))
            : (whileEqual ? bytes.IndexOfAnyExcept((byte)value) : bytes.IndexOf((byte)value));
        return i < 0 ? (ulong)n : down ? (ulong)(n - 1 - i) : (ulong)i;
    }

    /// <summary>The passes of an XMM fill loop at once: <paramref name="count"/> copies of the 16 bytes <paramref name="value"/> at host address <paramref name="to"/>.</summary>
    public static void BulkFillVector(ulong to, ulong count, System.Runtime.Intrinsics.Vector128<byte> value)
    {
        for (; count != 0; count--, to += 16) System.Runtime.Intrinsics.Vector128.StoreUnsafe(value, ref *(byte*)to);
    }

    /// <summary>
    /// Condition cc on the lazy flag state (kind, size, a, b, r, aux), exactly as <c>Cpu.Condition</c>
    /// evaluates it. Inlined with cc a constant: a cmp's or a test's state (the kinds a block entered
    /// from outside its region mostly finds: slre's <c>cmp; je | ja</c>, the ja a region's entry) is
    /// one compare; PF and the other kinds compute the status word.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Condition(int kind, int size, ulong a, ulong b, ulong r, ulong aux, int cc)
    {
        if (cc >> 1 != 5)
        {
            if ((FlagOp)kind == FlagOp.Sub) return SubCondition(cc, size, a & FlagMath.Mask(size), b & FlagMath.Mask(size));
            if ((FlagOp)kind == FlagOp.Logic) return LogicCondition(cc, size, r & FlagMath.Mask(size));
        }
        return FlagMath.Evaluate(cc, FlagMath.Compute((FlagOp)kind, size, a, b, r, aux));
    }

    /// <summary>Condition cc (not p/np) after a sub or cmp of a and b (truncated to the size), as FlagMath.Compute's flags give it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SubCondition(int cc, int size, ulong a, ulong b)
    {
        int shift = 64 - size * 8;   // signed compares on the operands moved to the top of the word
        bool r = (cc >> 1) switch
        {
            0 => (long)(((a ^ b) & (a ^ (a - b))) << shift) < 0,   // OF
            1 => a < b,
            2 => a == b,
            3 => a <= b,
            4 => (long)((a - b) << shift) < 0,
            6 => (long)(a << shift) < (long)(b << shift),
            _ => (long)(a << shift) <= (long)(b << shift),
        };
        return r ^ ((cc & 1) != 0);
    }

    /// <summary>Condition cc (not p/np) after a logic op with result r (truncated to the size): CF = OF = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool LogicCondition(int cc, int size, ulong r)
    {
        bool sign = (long)(r << (64 - size * 8)) < 0;
        bool v = (cc >> 1) switch
        {
            0 or 1 => false,
            2 or 3 => r == 0,
            4 or 6 => sign,
            _ => r == 0 || sign,
        };
        return v ^ ((cc & 1) != 0);
    }

    /// <summary>
    /// r of the lazy state in compiled code's flag locals (op | size &lt;&lt; 8, a, b, r): compiled add and sub
    /// keep no r, so it is (a ± b) truncated to the size for them; other ops keep r.
    /// </summary>
    public static ulong Result(int kindSize, ulong a, ulong b, ulong r)
    {
        int size = kindSize >> 8;
        return (FlagOp)(kindSize & 0xFF) switch
        {
            FlagOp.Add => (a + b) & FlagMath.Mask(size),
            FlagOp.Sub => (a - b) & FlagMath.Mask(size),
            _ => r,
        };
    }

    /// <summary>The six status flags of the lazy flag state (kind, size, a, b, r, aux), as <c>Cpu.StatusFlags</c>.</summary>
    public static ulong Status(int kind, int size, ulong a, ulong b, ulong r, ulong aux) =>
        FlagMath.Compute((FlagOp)kind, size, a, b, r, aux);

    /// <summary>CF of the lazy flag state (kind, size, a, b, r, aux).</summary>
    public static bool Carry(int kind, int size, ulong a, ulong b, ulong r, ulong aux) =>
        (FlagMath.Compute((FlagOp)kind, size, a, b, r, aux) & FlagMath.CF) != 0;

    /// <summary>The high half of the unsigned 128-bit product a·b (mulx, no pointer to a low half).</summary>
    public static ulong MultiplyHigh(ulong a, ulong b) =>
        System.Runtime.Intrinsics.X86.Bmi2.X64.IsSupported ? System.Runtime.Intrinsics.X86.Bmi2.X64.MultiplyNoFlags(a, b) : Math.BigMul(a, b, out _);

    /// <summary>The high half of the signed 128-bit product a·b: the unsigned one less b when a is negative and a when b is.</summary>
    public static long MultiplyHighSigned(long a, long b) =>
        (long)MultiplyHigh((ulong)a, (ulong)b) - ((a >> 63) & b) - ((b >> 63) & a);

    /// <summary>
    /// The aux of a two- or three-operand imul of size 2, 4 or 8 on sign-extended operands: CF|OF when
    /// the product overflowed, as <c>Cpu.Imul2</c> sets it. No out parameter: a local whose address
    /// compiled code took would live in memory for the whole region.
    /// </summary>
    public static ulong ImulAux(long a, long b, int size)
    {
        Cpu.SignedProduct(a, b, size, out bool overflow);
        return overflow ? FlagMath.CF | FlagMath.OF : 0;
    }
}
