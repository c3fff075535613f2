using Iced.Intel;
using Lab.Machine.Tests.Differential;
using Xunit;

namespace Lab.Machine.Tests.Jit;

/// <summary>
/// One-operand mul/imul/div/idiv, compiled, against the interpreter at the edges the random programs
/// rarely reach: products just inside and outside the low half (CF/OF), #DE on a zero divisor, on
/// a quotient that does not fit and on the most negative dividend over -1, and wide dividends
/// (rdx not the extension of rax), which compiled code hands to the interpreter.
/// </summary>
public partial class JitDifferentialTests
{
    public static TheoryData<string, int> MulDivKinds()
    {
        var data = new TheoryData<string, int>();
        foreach (string m in new[] { "Mul", "Imul", "Div", "Idiv" })
            foreach (int size in new[] { 1, 2, 4, 8 })
                data.Add(m, size);
        return data;
    }

    [Theory]
    [MemberData(nameof(MulDivKinds))]
    public void OneOperandMultiplyAndDivideMatchTheInterpreterAtTheEdges(string op, int size)
    {
        int bits = size * 8;
        ulong mask = size == 8 ? ulong.MaxValue : (1UL << bits) - 1;
        ulong signBit = 1UL << (bits - 1);
        // Values around the boundaries of the operand size (as 64-bit register contents).
        ulong half = 1UL << (bits / 2);
        ulong[] values =
        [
            0, 1, 3, mask, mask - 1, signBit, signBit - 1, half, half - 1, half + 1,
            mask / 3, 0x0123_4567_89AB_CDEF & mask, 0xFFFF_FFFF_0000_0010,
        ];
        bool divide = op is "Div" or "Idiv";
        ulong[] highs = divide ? [0, ulong.MaxValue, 1, signBit - 1, mask] : [0x5555_5555_5555_5555];
        var failures = new List<string>();
        int cases = 0;
        foreach (ulong a in values)
            foreach (ulong s in values)
                foreach (ulong d in highs)
                    foreach (bool memory in new[] { false, true })
                    {
                        if (memory && s > 3) continue;   // the memory form reads the operand the same way: a few suffice
                        var asm = new Assembler(64);
                        var code = (Code)Enum.Parse(typeof(Code), $"{op}_rm{bits}");
                        asm.AddInstruction(memory
                            ? Instruction.Create(code, new MemoryOperand(Iced.Intel.Register.RBX, 0x10))
                            : Instruction.Create(code, CaseBuilder.Reg(9, size)));
                        asm.int3();
                        var regs = new ulong[16];
                        regs[0] = a;
                        regs[2] = d;
                        regs[9] = s;
                        regs[3] = CpuFixture.DataBase + 0x800;
                        regs[4] = CpuFixture.StackTop - 0x100;
                        var data = new byte[0x1000];
                        BitConverter.GetBytes(s).CopyTo(data, 0x810);
                        byte[] bytes = CpuFixture.Assembled(asm);
                        var p = new Program(bytes, regs, 0x202 | 0x8D5 & (a ^ s), data, Disassemble(bytes));
                        var interp = RunOnce(ExecutionTier.Interp, p);
                        var jit = RunOnce(ExecutionTier.Jit, p);
                        cases++;
                        if (interp.Diff(jit) is string diff)
                            failures.Add($"{op}{bits} {(memory ? "[mem]" : "r9")} rax=0x{a:x} rdx=0x{d:x} src=0x{s:x} ({interp.Trap}):\n{diff}");
                        else if (jit.Compiled == 0 && !(divide && size < 4))
                            failures.Add($"{op}{bits}: no compiled code ran");
                    }
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases} cases differ:\n{string.Join("\n", failures.Take(8))}");
    }
}
