using System.Text;

namespace Lab.Kernel.Guest.Gdb;

/// <summary>One register as gdb sees it: name, size in bytes, gdb type, register group.</summary>
public readonly record struct GdbRegister(string Name, int Size, string Type, string? Group = null);

/// <summary>
/// The x86-64 registers we give gdb, in the order of the g packet, and the target description
/// (target.xml) naming them, so gdb picks i386:x86-64 whatever file it was given and knows exactly
/// what the g packet holds: gdb's standard features (org.gnu.gdb.i386.core, .sse, .segments for
/// fs_base/gs_base, which gdb's amd64 support requires by these names) and one of our own for the
/// system registers a kernel debugger wants ($cr3, $efer ...).
/// </summary>
public static class X64TargetDescription
{
    public const int Rip = 16, Eflags = 17, Cs = 18, Ss = 19, Ds = 20, Es = 21, Fs = 22, Gs = 23;
    public const int St0 = 24, Fctrl = 32, Xmm0 = 40, Mxcsr = 56, FsBase = 57, GsBase = 58;
    public const int KernelGsBase = 59, Cr0 = 60, Cr2 = 61, Cr3 = 62, Cr4 = 63, Cr8 = 64, Efer = 65;

    private static readonly string[] GeneralNames =
        { "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
    private static readonly string[] FpuControlNames = { "fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop" };
    private static readonly string[] SystemNames = { "k_gs_base", "cr0", "cr2", "cr3", "cr4", "cr8", "efer" };

    /// <summary>Every register, numbered by position.</summary>
    public static IReadOnlyList<GdbRegister> Registers { get; } = BuildRegisters();

    private static List<GdbRegister> BuildRegisters()
    {
        var r = new List<GdbRegister>();
        foreach (string n in GeneralNames) r.Add(new(n, 8, n is "rbp" or "rsp" ? "data_ptr" : "int64"));
        r.Add(new("rip", 8, "code_ptr"));
        r.Add(new("eflags", 4, "i386_eflags"));
        foreach (string n in new[] { "cs", "ss", "ds", "es", "fs", "gs" }) r.Add(new(n, 4, "int32"));
        for (int i = 0; i < 8; i++) r.Add(new($"st{i}", 10, "i387_ext", "float"));
        foreach (string n in FpuControlNames) r.Add(new(n, 4, "int", "float"));
        for (int i = 0; i < 16; i++) r.Add(new($"xmm{i}", 16, "uint128", "vector"));
        r.Add(new("mxcsr", 4, "int", "vector"));
        r.Add(new("fs_base", 8, "int"));
        r.Add(new("gs_base", 8, "int"));
        foreach (string n in SystemNames) r.Add(new(n, 8, "int", "system"));
        return r;
    }

    /// <summary>target.xml.</summary>
    public static string Xml { get; } = BuildXml();

    private static string BuildXml()
    {
        var sb = new StringBuilder();
        sb.Append("<?xml version=\"1.0\"?><!DOCTYPE target SYSTEM \"gdb-target.dtd\"><target version=\"1.0\">");
        sb.Append("<architecture>i386:x86-64</architecture>");
        sb.Append("<feature name=\"org.gnu.gdb.i386.core\">");
        // RFLAGS bits, so `info registers eflags` shows [ IF ZF ... ] as it does under QEMU.
        sb.Append("<flags id=\"i386_eflags\" size=\"4\">");
        foreach (var (name, bit) in new[] { ("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8), ("IF", 9),
                     ("DF", 10), ("OF", 11), ("NT", 14), ("RF", 16), ("VM", 17), ("AC", 18), ("VIF", 19), ("VIP", 20), ("ID", 21) })
            sb.Append($"<field name=\"{name}\" start=\"{bit}\" end=\"{bit}\"/>");
        sb.Append("</flags>");
        int n = 0;
        for (; n < Xmm0; n++) AppendReg(sb, Registers[n]);
        sb.Append("</feature><feature name=\"org.gnu.gdb.i386.sse\">");
        for (; n <= Mxcsr; n++) AppendReg(sb, Registers[n]);
        sb.Append("</feature><feature name=\"org.gnu.gdb.i386.segments\">");
        for (; n <= GsBase; n++) AppendReg(sb, Registers[n]);
        sb.Append("</feature><feature name=\"org.lab.x86-64.system\">");
        for (; n < Registers.Count; n++) AppendReg(sb, Registers[n]);
        sb.Append("</feature></target>");
        return sb.ToString();
    }

    private static void AppendReg(StringBuilder sb, GdbRegister r)
    {
        sb.Append($"<reg name=\"{r.Name}\" bitsize=\"{r.Size * 8}\" type=\"{r.Type}\"");
        if (r.Group is not null) sb.Append($" group=\"{r.Group}\"");
        sb.Append("/>");
    }
}
