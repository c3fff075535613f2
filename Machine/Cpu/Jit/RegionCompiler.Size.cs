namespace Lab.Machine.Cpu;

/// <summary>
/// A region's IL against RyuJIT's limits for optimising a method (see <see cref="CountingILGenerator"/>):
/// the limits, the sizes counted (the whole method's, and each member block's), and how many members
/// fit when a region comes out over them (<see cref="TryEmit"/> then emits it again without the rest).
/// </summary>
internal sealed partial class RegionCompiler
{
    /// <summary>
    /// The most IL instructions, references to locals and arguments, and bytes of IL a region's method
    /// may have: RyuJIT compiles a method with MinOpts when it has more than 20,000 instructions, 8,000
    /// references or 60,000 bytes (DEFAULT_MIN_OPTS_INSTR_COUNT, _LV_REF_COUNT, _CODE_SIZE; see
    /// <see cref="CountingILGenerator"/>). An unrolled table cipher's loop (575 guest instructions, 20,849
    /// IL instructions) ran 4 times slower than in a region cut below the limit. A region takes about 20
    /// IL instructions per guest instruction, 45% of them references: until stop 29 only the instructions
    /// were counted, and SHA-256's largest region (564 guest instructions, 16,376 IL instructions) was
    /// 7,281 references from MinOpts.
    /// </summary>
    internal const int MaxILInstructions = 18_000, MaxLocalReferences = 7_600, MaxILBytes = 56_000;

    /// <summary>An amount of IL: instructions, references to locals and arguments, bytes.</summary>
    private readonly record struct ILSize(int Instructions, int References, int Bytes)
    {
        public static ILSize operator +(ILSize a, ILSize b) => new(a.Instructions + b.Instructions, a.References + b.References, a.Bytes + b.Bytes);
        public static ILSize operator -(ILSize a, ILSize b) => new(a.Instructions - b.Instructions, a.References - b.References, a.Bytes - b.Bytes);

        /// <summary>This size against the nearest of RyuJIT's limits for optimising (above 1: over it).</summary>
        public double OverLimits => Math.Max(Math.Max((double)Instructions / MaxILInstructions,
            (double)References / MaxLocalReferences), (double)Bytes / MaxILBytes);
    }

    /// <summary>The method's IL so far, but the MinOpts padding of quick code.</summary>
    private ILSize Size => new(BodyILInstructions, _il.LocalReferences, _il.ILOffset - (_quick ? MinOptsPad : 0));

    /// <summary>Per member block: the IL of its ops, their out-of-line paths and their fault stubs.</summary>
    private readonly ILSize[] _blockSize;

    /// <summary>
    /// For a region over the limits: how many of its first members fit, by what each member's IL took
    /// (<see cref="_blockSize"/>) and the rest of the method (prologue, exits, epilogue), with a little
    /// room for what a cut changes (an edge to a member dropped becomes an exit). Before stop 29 the cut
    /// kept a share of the blocks in proportion to the IL, and a region whose last members were the
    /// heavy ones was cut far below the limits.
    /// </summary>
    private int BlocksThatFit()
    {
        ILSize members = default;
        foreach (ILSize b in _blockSize) members += b;
        ILSize size = Size - members;
        int fit = 1;
        for (int j = 0; j < _blockSize.Length; j++)
        {
            size += _blockSize[j];
            if (size.OverLimits > 0.95) break;
            fit = j + 1;
        }
        return fit;
    }
}
