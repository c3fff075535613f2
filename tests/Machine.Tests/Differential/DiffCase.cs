using System.Text;
using Iced.Intel;

namespace Lab.Machine.Tests.Differential;

/// <summary>Layout shared with Native/diffrunner.c: fixed code and data addresses. Above the first GiB,
/// where Linux puts a non-PIE program's randomised heap (at 0x2000_0000 the heap took the data area's place
/// about once in 3,000 runs), and below 2 GiB, so disp32 absolute operands reach them.</summary>
internal static class DiffLayout
{
    public const ulong CodeAddr = 0x5000_0000;
    public const int CodeSize = 0x1000;
    public const ulong DataAddr = 0x6000_0000;
    public const int DataSize = 0x2000;

    public const ulong CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
    public const ulong Status = CF | PF | AF | ZF | SF | OF;
}

/// <summary>
/// Which status flags an instruction writes and which of those it leaves architecturally undefined
/// (Intel SDM "Flags Affected"). Undefined flags are masked in the comparison.
/// </summary>
internal readonly record struct FlagEffect(ulong Writes, ulong Undefined)
{
    public static readonly FlagEffect None = new(0, 0);
    public static readonly FlagEffect All = new(DiffLayout.Status, 0);
    /// <summary>and/or/xor/test: CF = OF = 0, AF undefined.</summary>
    public static readonly FlagEffect Logic = new(DiffLayout.Status, DiffLayout.AF);
    /// <summary>inc/dec: CF unaffected.</summary>
    public static readonly FlagEffect IncDec = new(DiffLayout.Status & ~DiffLayout.CF, 0);
    /// <summary>mul/imul: CF and OF defined; SF, ZF, AF, PF undefined.</summary>
    public static readonly FlagEffect Mul = new(DiffLayout.Status, DiffLayout.SF | DiffLayout.ZF | DiffLayout.AF | DiffLayout.PF);
    /// <summary>div/idiv: every status flag undefined.</summary>
    public static readonly FlagEffect AllUndefined = new(DiffLayout.Status, DiffLayout.Status);
}

/// <summary>One generated test case: code (ending in int3), the initial machine state, and what to compare.</summary>
internal sealed class DiffCase
{
    public required string Family { get; init; }
    public required byte[] Code { get; init; }
    public ulong[] Gpr { get; init; } = new ulong[16];
    public ulong RFlags { get; init; } = 2;
    /// <summary>XMM0..15, 16 bytes each, little-endian.</summary>
    public byte[] Xmm { get; init; } = new byte[256];
    /// <summary>Initial data-area bytes at <see cref="DataOffset"/>; the rest of the area is zero.</summary>
    public int DataOffset { get; init; }
    public byte[] Data { get; init; } = [];
    /// <summary>Status flags compared at the end (DF is always compared).</summary>
    public ulong FlagMask { get; init; } = DiffLayout.Status;
    /// <summary>GPRs whose final value is architecturally undefined (bit i = register i).</summary>
    public int IgnoreGpr { get; init; }
    /// <summary>Why some state is masked, for the failure message.</summary>
    public string? Note { get; init; }

    private string? _text;

    /// <summary>The instructions as text (Intel syntax), decoded from the code bytes.</summary>
    public string Text => _text ??= Disassemble(Code);

    public static string Disassemble(byte[] code)
    {
        var decoder = Iced.Intel.Decoder.Create(64, new ByteArrayCodeReader(code));
        decoder.IP = DiffLayout.CodeAddr;
        var formatter = new IntelFormatter();
        formatter.Options.FirstOperandCharIndex = 0;
        var output = new StringOutput();
        var sb = new StringBuilder();
        while (decoder.IP < DiffLayout.CodeAddr + (ulong)code.Length)
        {
            decoder.Decode(out var ins);
            formatter.Format(in ins, output);
            if (sb.Length > 0) sb.Append("; ");
            sb.Append(output.ToStringAndReset());
        }
        return sb.ToString();
    }

    /// <summary>The full initial data area.</summary>
    public byte[] InitialDataImage()
    {
        var image = new byte[DiffLayout.DataSize];
        Data.CopyTo(image, DataOffset);
        return image;
    }
}

/// <summary>The state after a case ran (natively or in the Machine).</summary>
internal sealed class FinalState
{
    public TrapKind Trap;
    /// <summary>Native only: signal number and hardware trap number, for messages.</summary>
    public int Signal, TrapNo;
    /// <summary>Machine only: the trap's detail (the instruction text for #UD).</summary>
    public string? Detail;
    public ulong[] Gpr = new ulong[16];
    public ulong Rip;
    public ulong RFlags;
    public byte[] Xmm = new byte[256];
    public byte[] Data = [];

    /// <summary>The Machine's trap kind for a native (signal, trap number) pair.</summary>
    public static TrapKind KindFromNative(int signal, int trapNo) => trapNo switch
    {
        3 => TrapKind.Breakpoint,
        0 => TrapKind.DivideError,
        6 => TrapKind.InvalidOpcode,
        12 or 13 => TrapKind.GeneralProtection,   // #SS (non-canonical stack access) is reported as #GP by the Machine
        14 => TrapKind.PageFault,
        _ => TrapKind.None,
    };
}
