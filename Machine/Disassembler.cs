using Iced.Intel;

namespace Lab.Machine;

/// <summary>One decoded instruction for display: where it is, its bytes, and its text (GNU as syntax).</summary>
public readonly record struct DisassembledLine(VirtAddr Address, byte[] Bytes, string Text)
{
    /// <summary>The bytes as hex, e.g. "48 89 e5".</summary>
    public string HexBytes => string.Join(' ', Bytes.Select(b => b.ToString("x2")));
}

/// <summary>
/// Disassembly for people (the debugger's `disas`): the machine is the one place that knows Iced,
/// so the layers above ask here instead of decoding themselves. Not on any hot path.
/// </summary>
public static class Disassembler
{
    /// <summary>The longest x86 instruction.</summary>
    public const int MaxInstructionLength = 15;

    /// <summary>Decodes up to <paramref name="count"/> instructions from <paramref name="code"/>, the
    /// first at <paramref name="at"/>; stops early where the bytes run out mid-instruction. Bytes
    /// that are no instruction give a line saying so (as objdump's "(bad)").</summary>
    public static IReadOnlyList<DisassembledLine> Decode(ReadOnlySpan<byte> code, VirtAddr at, int count)
    {
        var bytes = code.ToArray();
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(bytes), at.Value);
        var formatter = new GasFormatter();
        var output = new StringOutput();
        var lines = new List<DisassembledLine>();
        ulong end = at.Value + (ulong)bytes.Length;
        while (lines.Count < count && decoder.IP < end)
        {
            decoder.Decode(out var ins);
            if (ins.IsInvalid && decoder.LastError == DecoderError.NoMoreBytes) break;
            formatter.Format(in ins, output);
            int offset = (int)(ins.IP - at.Value);
            lines.Add(new DisassembledLine(new VirtAddr(ins.IP), bytes.AsSpan(offset, ins.Length).ToArray(), output.ToStringAndReset()));
        }
        return lines;
    }

    /// <summary>
    /// Decodes up to <paramref name="count"/> instructions at virtual address <paramref name="at"/>
    /// of the address space in CR3, read with the user's permissions (<see cref="Cpu.Cpu.TryReadVirtual"/>:
    /// a failed read is a value, not a trap). Reads as far as the memory is readable, so code just
    /// before an unmapped page still shows; null when not even the first bytes are readable.
    /// </summary>
    public static IReadOnlyList<DisassembledLine>? DecodeVirtual(Cpu.Cpu cpu, VirtAddr at, int count)
    {
        var bytes = new byte[count * MaxInstructionLength];
        int available = bytes.Length;
        while (available > 0 && !cpu.TryReadVirtual(at, bytes.AsSpan(0, available), out _))
            available = available > 16 ? available / 2 : 0;
        return available == 0 ? null : Decode(bytes.AsSpan(0, available), at, count);
    }
}
