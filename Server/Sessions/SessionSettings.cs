using System.Security.Cryptography;
using Lab.Kernel.Weensy;

namespace Lab.Server.Sessions;

/// <summary>
/// What defines a session apart from its machine state: name, program, lab step, profile, privacy,
/// the secrets (instructor key, join code) and the speed. Persisted as JSON beside the snapshot.
/// </summary>
public sealed record SessionSettings
{
    public required string Name { get; init; }
    public string Program { get; init; } = "forkexit";
    public string Step { get; init; } = "cow";
    public string Profile { get; init; } = WeensyProfile;
    /// <summary>Guest RAM of a POSIX session in MiB (WeensyOS machines are always 2 MiB).</summary>
    public int MemoryMiB { get; init; } = 64;
    public bool Private { get; init; }
    public required string InstructorKey { get; init; }
    public string? JoinCode { get; init; }
    /// <summary>Timer ticks per wall-clock second; 0 = unthrottled. WeensyOS real time is 100.</summary>
    public double TicksPerSecond { get; init; } = KernelOptions.Hz;
    /// <summary>The machine is paused (kept across restarts).</summary>
    public bool Paused { get; init; }
    /// <summary>Kept when nobody is connected (the built-in demo).</summary>
    public bool Pinned { get; init; }

    public const string WeensyProfile = "weensyos", PosixProfile = "posix";
    public static readonly string[] Programs = ["allocator", "fork", "forkexit"];
    /// <summary>What a POSIX session runs when nobody says: an interactive shell.</summary>
    public const string PosixDefaultProgram = "sh -i";

    /// <summary>The program a new session of <paramref name="profile"/> runs when the creator named none
    /// (or named WeensyOS's default, which older clients always send).</summary>
    public static string ProgramFor(string profile, string? program) =>
        profile == PosixProfile && (string.IsNullOrWhiteSpace(program) || program == "forkexit") ? PosixDefaultProgram
        : string.IsNullOrWhiteSpace(program) ? "forkexit" : program.Trim();

    /// <summary>Checks a session name: 1-40 of letters, digits, '-', '_' (it becomes a URL part and a directory name).</summary>
    public static string? ValidateName(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) return "a session needs a name";
        if (name.Length > 40) return "session names are at most 40 characters";
        foreach (char c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_')) return $"session names may use letters, digits, '-' and '_' only (got '{name}')";
        return null;
    }

    /// <summary>Checks program, step and profile; returns an error text or null.</summary>
    public string? Validate()
    {
        if (ValidateName(Name) is { } nameError) return nameError;
        if (Profile == PosixProfile)
        {
            string first = Program.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
            var programs = Lab.Kernel.Posix.PosixMachine.Programs.Where(p => !p.StartsWith("t-") && !p.StartsWith("s-")).Order();
            if (!Lab.Kernel.Posix.PosixMachine.Programs.Contains(first))
                return $"unknown program '{first}' in /bin (choose {string.Join(", ", programs)}, a t-* test or an s-* stress program)";
            if (Program.Length > 1000) return "the command line is too long (1000 characters at most)";
            if (MemoryMiB is < 4 or > 1024) return $"memory of {MemoryMiB} MiB is out of range (4 to 1024)";
            return null;
        }
        if (Profile != WeensyProfile) return $"unknown profile '{Profile}' (weensyos or posix)";
        if (!Programs.Contains(Program)) return $"unknown program '{Program}' (choose {string.Join(", ", Programs)})";
        if (LabSteps.Parse(Step) is null) return $"unknown lab step '{Step}' (choose {LabSteps.Choices})";
        return null;
    }

    public KernelOptions ToKernelOptions() => new()
    {
        Boot = Program,
        Step = LabSteps.Parse(Step) ?? LabStep.CopyOnWrite,
        Invariants = InvariantChecks.EveryTick,
    };

    public static string NewSecret(int bytes = 12) =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(bytes)).Replace('+', 'x').Replace('/', 'y').TrimEnd('=');

    /// <summary>A join code people can read aloud: 6 digits.</summary>
    public static string NewJoinCode() => RandomNumberGenerator.GetInt32(0, 1_000_000).ToString("D6");

    /// <summary>Timer ticks per second a new session of <paramref name="profile"/> runs at: WeensyOS in
    /// real time (its programs are made to be watched), POSIX as fast as it goes (its programs are
    /// ordinary programs; they sleep or wait for input when idle).</summary>
    public static double DefaultSpeed(string profile) => profile == PosixProfile ? 0 : KernelOptions.Hz;

    public string SpeedName => TicksPerSecond <= 0 ? "max" : TicksPerSecond == KernelOptions.Hz ? "realtime" : $"{TicksPerSecond / KernelOptions.Hz:0.##}x";

    /// <summary>Parses a speed: realtime, slow (0.1x), max, or a multiplier like 0.5x / 2x.</summary>
    public static double? ParseSpeed(string text)
    {
        text = text.Trim().ToLowerInvariant();
        if (text is "realtime" or "normal" or "1x") return KernelOptions.Hz;
        if (text == "slow") return KernelOptions.Hz / 10.0;
        if (text is "max" or "unthrottled" or "fast") return 0;
        if (text.EndsWith('x') && double.TryParse(text[..^1], System.Globalization.CultureInfo.InvariantCulture, out double m) && m > 0 && m <= 1000)
            return KernelOptions.Hz * m;
        return null;
    }
}
