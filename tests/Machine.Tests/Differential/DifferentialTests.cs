using System.Text;
using Xunit.Abstractions;
using static Lab.Machine.Tests.Differential.DiffLayout;

namespace Lab.Machine.Tests.Differential;

/// <summary>
/// Differential tests against the host CPU: every family's generated cases run natively (one
/// diffrunner process per family) and in the Machine; registers, rip, the defined flags, XMM, the
/// data area and the trap kind must match. A failure names the family, the instructions, the inputs
/// and what differs.
/// </summary>
public class DifferentialTests(ITestOutputHelper output)
{
    public static TheoryData<string> Families()
    {
        var data = new TheoryData<string>();
        foreach (string name in DiffFamilies.Names) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void MatchesHostCpu(string family)
    {
        IReadOnlyList<DiffCase> cases = DiffFamilies.Generate(family);
        FinalState[] native = NativeBatch.Run(cases);
        var failures = new List<string>();
        int failed = 0;
        using (var emulator = new EmulatorBatch())
        {
            for (int i = 0; i < cases.Count; i++)
            {
                string? diff = Compare(cases[i], native[i], emulator.Run(cases[i]));
                if (diff == null) continue;
                failed++;
                if (failures.Count < 12) failures.Add($"[{family} #{i}] {cases[i].Text}\n{Inputs(cases[i])}{diff}");
            }
        }
        var traps = native.GroupBy(n => n.Trap).OrderBy(t => t.Key).Select(t => $"{t.Key} {t.Count()}");
        int fullFlags = cases.Count(c => (c.FlagMask & Status) == Status);
        output.WriteLine($"{family}: {cases.Count} cases, {failed} failed; native traps: {string.Join(", ", traps)}; all six flags compared in {fullFlags}");
        Assert.True(failed == 0,
            $"{family}: {failed} of {cases.Count} cases differ from the host CPU (first {failures.Count}):\n\n" + string.Join("\n\n", failures));
    }

    private static readonly string[] RegNames =
        ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];

    /// <summary>Null when the Machine matches the host, else a description of every difference.</summary>
    internal static string? Compare(DiffCase c, FinalState native, FinalState emu)
    {
        var sb = new StringBuilder();
        if (native.Trap == TrapKind.None)
            sb.AppendLine($"  native run ended with unexpected signal {native.Signal} (trap {native.TrapNo}) at 0x{native.Rip:x}");
        if (native.Trap != emu.Trap)
            sb.AppendLine($"  trap: native {native.Trap} (signal {native.Signal}, trap {native.TrapNo}), machine {emu.Trap}{(emu.Detail != null ? $" ({emu.Detail})" : "")}");
        if (native.Rip != emu.Rip)
            sb.AppendLine($"  rip: native 0x{native.Rip:x}, machine 0x{emu.Rip:x}");
        for (int r = 0; r < 16; r++)
        {
            if ((c.IgnoreGpr & (1 << r)) != 0) continue;
            if (native.Gpr[r] != emu.Gpr[r])
                sb.AppendLine($"  {RegNames[r]}: native 0x{native.Gpr[r]:x16}, machine 0x{emu.Gpr[r]:x16}");
        }
        ulong mask = c.FlagMask | DF;
        if (((native.RFlags ^ emu.RFlags) & mask) != 0)
            sb.AppendLine($"  flags (compared {FlagNames(mask)}): native {FlagNames(native.RFlags & mask)}, machine {FlagNames(emu.RFlags & mask)}; differ: {FlagNames((native.RFlags ^ emu.RFlags) & mask)}");
        for (int x = 0; x < 16; x++)
        {
            var n = native.Xmm.AsSpan(x * 16, 16);
            var e = emu.Xmm.AsSpan(x * 16, 16);
            if (!n.SequenceEqual(e))
                sb.AppendLine($"  xmm{x}: native {Hex128(n)}, machine {Hex128(e)}");
        }
        if (!native.Data.AsSpan().SequenceEqual(emu.Data))
        {
            int shown = 0;
            for (int i = 0; i < DataSize && shown < 4; i++)
            {
                if (native.Data[i] == emu.Data[i]) continue;
                int start = i & ~7;
                sb.AppendLine($"  data[0x{start:x}..+8] (va 0x{DataAddr + (ulong)start:x}): native {Convert.ToHexString(native.Data, start, 8)}, machine {Convert.ToHexString(emu.Data, start, 8)}");
                i = start + 7;
                shown++;
            }
        }
        if (sb.Length == 0) return null;
        if (c.Note != null) sb.AppendLine($"  note: {c.Note}");
        return sb.ToString();
    }

    private static string Inputs(DiffCase c)
    {
        var sb = new StringBuilder("  in: ");
        for (int r = 0; r < 16; r++)
        {
            sb.Append($"{RegNames[r]}=0x{c.Gpr[r]:x} ");
            if (r == 7) sb.Append("\n      ");
        }
        sb.Append($"\n      flags={FlagNames(c.RFlags & (Status | DF))}");
        var xmms = System.Text.RegularExpressions.Regex.Matches(c.Text, @"\bxmm(\d+)\b")
            .Select(m => int.Parse(m.Groups[1].Value)).Distinct().Order();
        foreach (int x in xmms) sb.Append($" xmm{x}={Hex128(c.Xmm.AsSpan(x * 16, 16))}");
        if (c.Data.Length > 0)
        {
            int len = Math.Min(c.Data.Length, 48);
            sb.Append($"\n      data[0x{c.DataOffset:x}..+{c.Data.Length}]={Convert.ToHexString(c.Data, 0, len)}{(len < c.Data.Length ? "..." : "")}");
        }
        sb.AppendLine();
        return sb.ToString();
    }

    private static string Hex128(ReadOnlySpan<byte> v)
    {
        ulong lo = BitConverter.ToUInt64(v), hi = BitConverter.ToUInt64(v[8..]);
        return $"{hi:x16}_{lo:x16}";
    }

    internal static string FlagNames(ulong f)
    {
        var parts = new List<string>();
        if ((f & CF) != 0) parts.Add("CF");
        if ((f & PF) != 0) parts.Add("PF");
        if ((f & AF) != 0) parts.Add("AF");
        if ((f & ZF) != 0) parts.Add("ZF");
        if ((f & SF) != 0) parts.Add("SF");
        if ((f & DF) != 0) parts.Add("DF");
        if ((f & OF) != 0) parts.Add("OF");
        return parts.Count == 0 ? "-" : string.Join("|", parts);
    }
}
