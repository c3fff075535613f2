using System.Buffers.Binary;

namespace Lab.Machine.Cpu;

/// <summary>The environment and state images of <see cref="OpKind.X87Env"/>.</summary>
internal enum X87EnvOp : byte { Fnstenv, Fldenv, Fnsave, Frstor, Fxsave, Fxrstor, Fxsave64, Fxrstor64 }

/// <summary>
/// The x87 environment and state images: fnstenv/fldenv (28 bytes, the 32-bit protected-mode layout
/// 64-bit code uses), fnsave/frstor (the environment and the eight registers in stack order, 108 bytes),
/// fxsave/fxrstor (512 bytes, 16-byte aligned: x87, MXCSR and XMM0-15), and the same state for the
/// owner (a kernel's signal frames and context switches) and for snapshots. The last-instruction and
/// last-operand pointers and the last opcode are not tracked: they are stored as zero. MXCSR is saved
/// and restored as the guest set it (SSE arithmetic itself always runs in the default mode).
/// </summary>
public sealed unsafe partial class Cpu
{
    /// <summary>Size of an FXSAVE image.</summary>
    public const int FxStateSize = 512;
    private const uint DefaultMxcsr = 0x1F80, MxcsrMask = 0xFFFF;

    private bool X87Env(ref Op op)
    {
        ulong ea = EA(ref op);
        switch ((X87EnvOp)op.Cond)
        {
            case X87EnvOp.Fnstenv:
                {
                    Span<byte> b = stackalloc byte[28];
                    StoreEnvironment(b);
                    if (!WriteBytes(ea, b)) return false;
                    _fpCw |= X87Sw.Exceptions;   // fnstenv masks every exception after storing
                    return true;
                }
            case X87EnvOp.Fldenv:
                {
                    Span<byte> b = stackalloc byte[28];
                    if (!ReadBytes(ea, b)) return false;
                    LoadEnvironment(b);
                    return true;
                }
            case X87EnvOp.Fnsave:
                {
                    Span<byte> b = stackalloc byte[108];
                    StoreEnvironment(b);
                    for (int i = 0; i < 8; i++) PutFloat80(b[(28 + 10 * i)..], St(i));
                    if (!WriteBytes(ea, b)) return false;
                    FpInit();
                    return true;
                }
            case X87EnvOp.Frstor:
                {
                    Span<byte> b = stackalloc byte[108];
                    if (!ReadBytes(ea, b)) return false;
                    LoadEnvironment(b);
                    for (int i = 0; i < 8; i++) _fpr[Phys(i)] = GetFloat80(b[(28 + 10 * i)..]);
                    return true;
                }
            case X87EnvOp.Fxsave:
            case X87EnvOp.Fxsave64:
                {
                    if ((ea & 15) != 0) return Misaligned();
                    // Only the first 464 bytes are written; the rest is left to software.
                    Span<byte> b = stackalloc byte[FxStateSize];
                    SaveFxState(b);
                    return WriteBytes(ea, b[..464]);
                }
            default:
                {
                    if ((ea & 15) != 0) return Misaligned();
                    Span<byte> b = stackalloc byte[FxStateSize];
                    if (!ReadBytes(ea, b)) return false;
                    if ((BinaryPrimitives.ReadUInt32LittleEndian(b[24..]) & ~MxcsrMask) != 0) { RecordGeneralProtection(); return false; }
                    LoadFxState(b);
                    return true;
                }
        }
    }

    /// <summary>The 28-byte environment: control, status and tag words in the low halves of three
    /// dwords (the high halves read as ones, as the hardware stores them), then zero pointers.</summary>
    private void StoreEnvironment(Span<byte> b)
    {
        b[..28].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(b, 0xFFFF0000u | _fpCw);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], 0xFFFF0000u | X87StatusWord);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], 0xFFFF0000u | X87TagWord);
    }

    private void LoadEnvironment(ReadOnlySpan<byte> b)
    {
        X87ControlWord = BinaryPrimitives.ReadUInt16LittleEndian(b);
        X87StatusWord = BinaryPrimitives.ReadUInt16LittleEndian(b[4..]);
        X87TagWord = BinaryPrimitives.ReadUInt16LittleEndian(b[8..]);
    }

    private static void PutFloat80(Span<byte> b, Float80 v)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, v.Mant);
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], v.SignExp);
    }

    private static Float80 GetFloat80(ReadOnlySpan<byte> b) =>
        new(BinaryPrimitives.ReadUInt16LittleEndian(b[8..]), BinaryPrimitives.ReadUInt64LittleEndian(b));

    /// <summary>
    /// Writes the FXSAVE image (the layout of Linux's <c>struct _fpstate_64</c> in a signal frame) of the
    /// x87 and SSE state into <paramref name="image"/> (512 bytes): control and status words, the
    /// abridged tag (bit i: physical register i in use), MXCSR and its mask, ST(0)..ST(7) in 16-byte
    /// slots, XMM0..15. Pointers and opcode are zero; bytes 416-511 are zero.
    /// </summary>
    public void SaveFxState(Span<byte> image)
    {
        Span<byte> b = image[..FxStateSize];
        b.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(b, _fpCw);
        BinaryPrimitives.WriteUInt16LittleEndian(b[2..], X87StatusWord);
        b[4] = (byte)~_fpEmpty;
        BinaryPrimitives.WriteUInt32LittleEndian(b[24..], _mxcsr);
        BinaryPrimitives.WriteUInt32LittleEndian(b[28..], MxcsrMask);
        for (int i = 0; i < 8; i++) PutFloat80(b[(32 + 16 * i)..], St(i));
        for (int i = 0; i < 16; i++) BinaryPrimitives.WriteUInt128LittleEndian(b[(160 + 16 * i)..], GetXmm(i));
    }

    /// <summary>Loads an FXSAVE image written by <see cref="SaveFxState"/> (or by the guest): the x87
    /// state, MXCSR and XMM0..15.</summary>
    public void LoadFxState(ReadOnlySpan<byte> image)
    {
        ReadOnlySpan<byte> b = image[..FxStateSize];
        X87ControlWord = BinaryPrimitives.ReadUInt16LittleEndian(b);
        X87StatusWord = BinaryPrimitives.ReadUInt16LittleEndian(b[2..]);
        _fpEmpty = (byte)~b[4];
        Mxcsr = BinaryPrimitives.ReadUInt32LittleEndian(b[24..]);
        for (int i = 0; i < 8; i++) _fpr[Phys(i)] = GetFloat80(b[(32 + 16 * i)..]);
        for (int i = 0; i < 16; i++) SetXmm(i, BinaryPrimitives.ReadUInt128LittleEndian(b[(160 + 16 * i)..]));
    }

    /// <summary>Snapshot part (machine format 3): control and status words, TOP, empty mask, MXCSR, the
    /// eight physical registers.</summary>
    private void SaveX87(BinaryWriter w)
    {
        w.Write(_fpCw);
        w.Write(X87StatusWord);
        w.Write(_fpEmpty);
        w.Write(_mxcsr);
        for (int i = 0; i < 8; i++) { w.Write(_fpr[i].Mant); w.Write(_fpr[i].SignExp); }
    }

    private void LoadX87(BinaryReader r)
    {
        X87ControlWord = r.ReadUInt16();
        X87StatusWord = r.ReadUInt16();
        _fpEmpty = r.ReadByte();
        Mxcsr = r.ReadUInt32();
        for (int i = 0; i < 8; i++)
        {
            ulong m = r.ReadUInt64();
            _fpr[i] = new Float80(r.ReadUInt16(), m);
        }
    }
}
