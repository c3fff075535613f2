using Iced.Intel;

namespace Lab.Machine;

/// <summary>One decoded instruction for display: where it is, its bytes, and its text (GNU as syntax);
/// with a symbolizer, the symbol its address is in (e.g. "kernel_fork+12").</summary>
public readonly record struct DisassembledLine(VirtAddr Address, byte[] Bytes, string Text, string? Symbol = null)
{
    /// <summary>The bytes as hex, e.g. "48 89 e5".</summary>
    public string HexBytes => string.Join(' ', Bytes.Select(b => b.ToString("x2")));
}

/// <summary>Names an address for people ("kernel_fork+12"), or null when no symbol covers it; the
/// layers above know the symbols (a guest kernel's ELF), the machine does not.</summary>
public delegate string? AddressSymbolizer(ulong address);

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
    /// that are no instruction give a line saying so (as objdump's "(bad)"). With <paramref name="symbolize"/>,
    /// each line carries its symbol, and branch targets and rip-relative operands are named as gdb
    /// names them (<c>call 0x41dd0 &lt;vm_map&gt;</c>, <c>mov 0xd5a(%rip),%eax  # 0x42000 &lt;ticks&gt;</c>).</summary>
    public static IReadOnlyList<DisassembledLine> Decode(ReadOnlySpan<byte> code, VirtAddr at, int count, AddressSymbolizer? symbolize = null)
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
            string text = output.ToStringAndReset();
            string? symbol = null;
            if (symbolize is not null && !ins.IsInvalid)
            {
                symbol = symbolize(ins.IP);
                if (IsNearBranch(in ins) && symbolize(ins.NearBranchTarget) is string target) text += $" <{target}>";
                else if (ins.IsIPRelativeMemoryOperand && symbolize(ins.IPRelativeMemoryAddress) is string data)
                    text += $"        # 0x{ins.IPRelativeMemoryAddress:x} <{data}>";
            }
            lines.Add(new DisassembledLine(new VirtAddr(ins.IP), bytes.AsSpan(offset, ins.Length).ToArray(), text, symbol));
        }
        return lines;
    }

    private static bool IsNearBranch(in Instruction ins) =>
        ins.Op0Kind is Iced.Intel.OpKind.NearBranch16 or Iced.Intel.OpKind.NearBranch32 or Iced.Intel.OpKind.NearBranch64;

    /// <summary>
    /// Decodes up to <paramref name="count"/> instructions at virtual address <paramref name="at"/>
    /// of the address space in CR3, read with the user's permissions (<see cref="Cpu.Cpu.TryReadVirtual"/>:
    /// a failed read is a value, not a trap). Reads as far as the memory is readable, so code just
    /// before an unmapped page still shows; null when not even the first bytes are readable.
    /// </summary>
    public static IReadOnlyList<DisassembledLine>? DecodeVirtual(Cpu.Cpu cpu, VirtAddr at, int count, AddressSymbolizer? symbolize = null)
    {
        var bytes = new byte[count * MaxInstructionLength];
        int available = bytes.Length;
        while (available > 0 && !cpu.TryReadVirtual(at, bytes.AsSpan(0, available), out _))
            available = available > 16 ? available / 2 : 0;
        return available == 0 ? null : Decode(bytes.AsSpan(0, available), at, count, symbolize);
    }
}
