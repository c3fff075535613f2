using Lab.Kernel.Common;

namespace Lab.Kernel.Weensy.Plumbing;

/// <summary>The WeensyOS user programs embedded in this assembly (built from userland/ by gcc).</summary>
public static class EmbeddedPrograms
{
    private static string Dir(ProgramFlavour f) => f switch
    {
        ProgramFlavour.NoSlowdown => "noslow",
        ProgramFlavour.IntAbi => "int",
        _ => "std",
    };

    /// <summary>Names of the embedded programs of one flavour ("p-allocator", ...).</summary>
    public static IReadOnlyList<string> Names(ProgramFlavour flavour)
    {
        string prefix = $"userland/{Dir(flavour)}/";
        return typeof(EmbeddedPrograms).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".elf", StringComparison.Ordinal))
            .Select(n => n[prefix.Length..^4]).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Loads and parses a program ("p-fork" or "fork"); throws if missing (a build problem, not a guest error).</summary>
    public static ElfImage Load(string name, ProgramFlavour flavour)
    {
        if (!name.StartsWith("p-", StringComparison.Ordinal)) name = "p-" + name;
        string resource = $"userland/{Dir(flavour)}/{name}.elf";
        using Stream? s = typeof(EmbeddedPrograms).Assembly.GetManifestResourceStream(resource);
        if (s is null) throw new FileNotFoundException($"user program '{name}' ({flavour}) is not embedded in the kernel; was userland/ built?", resource);
        var bytes = new byte[s.Length];
        s.ReadExactly(bytes);
        return ElfImage.Parse(name, bytes, out string? error) ?? throw new InvalidDataException($"{resource}: {error}");
    }

    public static bool Exists(string name, ProgramFlavour flavour)
    {
        if (!name.StartsWith("p-", StringComparison.Ordinal)) name = "p-" + name;
        return typeof(EmbeddedPrograms).Assembly.GetManifestResourceInfo($"userland/{Dir(flavour)}/{name}.elf") != null;
    }
}
