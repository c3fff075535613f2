using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Lab.Kernel;
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
    /// <summary>The instructor key in plain text: only between its creation and <see cref="WithHashedSecrets"/>
    /// (and in settings files of older servers, converted when loaded). Never written.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? InstructorKey { get; init; }
    /// <summary>The join code in plain text, like <see cref="InstructorKey"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? JoinCode { get; init; }
    /// <summary>What is stored instead: salted SHA-256 of the key ("sha256:SALT:HASH", base64).</summary>
    public string? InstructorKeyHash { get; init; }
    /// <summary>Salted SHA-256 of the join code in its canonical form (see <see cref="CanonicalJoinCode"/>).</summary>
    public string? JoinCodeHash { get; init; }
    /// <summary>The join code encrypted with the instructor key (see <see cref="SealJoinCode"/>), so an
    /// instructor who joined with the key can read it again (hub method Info) while the disk alone gives nothing.</summary>
    public string? JoinCodeSealed { get; init; }
    /// <summary>The participants a session knew when it was saved (ids, names, roles, rejoin-token
    /// hashes): who rejoins after a restart gets the same role back. Null in files of older servers.</summary>
    public IReadOnlyList<SavedParticipant>? Roster { get; init; }
    /// <summary>Timer ticks per wall-clock second; 0 = unthrottled. WeensyOS real time is 100.</summary>
    public double TicksPerSecond { get; init; } = KernelOptions.Hz;
    /// <summary>The machine is paused (kept across restarts).</summary>
    public bool Paused { get; init; }
    /// <summary>Kept when nobody is connected (the built-in demo).</summary>
    public bool Pinned { get; init; }
    /// <summary>The kernel file a <see cref="KernelProfile"/> session boots (an ELF or a WeensyOS disk
    /// image; <see cref="Program"/> holds its file name). Stored beside the settings as kernel.img.</summary>
    [JsonIgnore]
    public byte[]? KernelImage { get; init; }
    /// <summary>Files a new POSIX session's file system gets before its program starts (guest path →
    /// bytes), e.g. the host program `tui local --profile posix ./a.out` runs. Not stored: once placed
    /// they are part of the machine and its snapshots.</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, byte[]>? StartFiles { get; init; }

    /// <summary>WeensyOS in C# (Lab's own), the POSIX kernel, or a kernel built from C run as guest code (system mode).</summary>
    public const string WeensyProfile = "weensyos", PosixProfile = "posix", KernelProfile = "kernel";
    public static readonly string[] Programs = ["allocator", "fork", "forkexit"];
    /// <summary>Programs of the server's host that a POSIX session may run by name: Debian's
    /// busybox-static (its `sh` is a full POSIX shell, its applets the usual utilities). Each is copied
    /// to /bin/NAME when the session starts, from the first of its host paths that exists.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> HostPrograms = new Dictionary<string, string[]>
    {
        ["busybox"] = ["/usr/bin/busybox", "/bin/busybox"],
    };

    /// <summary>Where the host has program <paramref name="name"/> of <see cref="HostPrograms"/> as a
    /// static ELF (Debian's plain busybox package is dynamically linked: the POSIX profile has no
    /// dynamic loader), or null.</summary>
    public static string? HostProgramPath(string name) =>
        HostPrograms.TryGetValue(name, out var paths) ? paths.FirstOrDefault(IsStaticElf) : null;

    /// <summary>The file is a 64-bit ELF without a program interpreter (PT_INTERP).</summary>
    private static bool IsStaticElf(string path)
    {
        try
        {
            using var f = File.OpenRead(path);
            Span<byte> header = stackalloc byte[64];
            if (f.Read(header) != 64 || header[0] != 0x7f || header[1] != 'E' || header[2] != 'L' || header[3] != 'F' || header[4] != 2) return false;
            long phoff = BitConverter.ToInt64(header[0x20..]);
            int phentsize = BitConverter.ToUInt16(header[0x36..]), phnum = BitConverter.ToUInt16(header[0x38..]);
            Span<byte> type = stackalloc byte[4];
            for (int i = 0; i < phnum; i++)
            {
                f.Position = phoff + (long)i * phentsize;
                if (f.Read(type) != 4) return false;
                if (BitConverter.ToUInt32(type) == 3) return false;   // PT_INTERP: needs ld.so
            }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>
    /// The words of a POSIX session's command line, split as a shell splits simple words: blanks
    /// separate words, '...' keeps everything inside, "..." keeps everything but \" and \\, and a
    /// backslash outside quotes keeps the next character (so `busybox sh -c 'echo a; ls'` is three
    /// arguments after the program). Null for an unbalanced quote.
    /// </summary>
    public static string[]? CommandWords(string line)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        bool inWord = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (c is ' ' or '\t') { if (inWord) { words.Add(word.ToString()); word.Clear(); inWord = false; } continue; }
            inWord = true;
            if (c == '\\' && i + 1 < line.Length) word.Append(line[++i]);
            else if (c is '\'' or '"')
            {
                int end = i + 1;
                for (; end < line.Length && line[end] != c; end++)
                {
                    if (c == '"' && line[end] == '\\' && end + 1 < line.Length && line[end + 1] is '"' or '\\') end++;
                    word.Append(line[end]);
                }
                if (end >= line.Length) return null;
                i = end;
            }
            else word.Append(c);
        }
        if (inWord) words.Add(word.ToString());
        return words.ToArray();
    }

    /// <summary>A command line whose <see cref="CommandWords"/> are <paramref name="words"/>: words with
    /// blanks, quotes or backslashes are single-quoted.</summary>
    public static string CommandLine(IEnumerable<string> words) => string.Join(' ', words.Select(w =>
        w.Length > 0 && w.All(c => c is not (' ' or '\t' or '\'' or '"' or '\\')) ? w : "'" + w.Replace("'", "'\\''") + "'"));

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
        if (InstructorKey is null && InstructorKeyHash is null) return "a session needs an instructor key";
        if (Private && JoinCode is null && JoinCodeHash is null) return "a private session needs a join code";
        if (Profile == PosixProfile)
        {
            if (CommandWords(Program) is not { } words) return $"unbalanced quotes in the command line: {Program}";
            string first = words.FirstOrDefault() ?? "";
            var programs = Lab.Kernel.Posix.PosixMachine.Programs.Where(p => !p.StartsWith("t-") && !p.StartsWith("s-")).Order();
            string? hostProgram = HostProgramPath(first);
            if (HostPrograms.ContainsKey(first) && hostProgram is null)
                return $"{first} (a static build) is not installed on this server (Debian: apt-get install {first}-static)";
            if (!Lab.Kernel.Posix.PosixMachine.Programs.Contains(first) && StartFiles?.ContainsKey(first) != true && hostProgram is null)
                return $"unknown program '{first}' in /bin (choose {string.Join(", ", programs)}, a t-* test or an s-* stress program" +
                       $"{(HostProgramPath("busybox") is null ? "" : ", or busybox (e.g. busybox sh -i)")})";
            if (Program.Length > 1000) return "the command line is too long (1000 characters at most)";
            if (MemoryMiB is < 4 or > 1024) return $"memory of {MemoryMiB} MiB is out of range (4 to 1024)";
            return null;
        }
        if (Profile == KernelProfile)
        {
            if (KernelImage is null) return "a kernel session needs its kernel file (an ELF such as obj/kernel, or weensyos.img)";
            return Lab.Kernel.Guest.GuestImage.Parse(Program, KernelImage, new Lab.Kernel.Guest.GuestKernelOptions().MemorySize, out string? bad) is null
                ? $"{Program}: {bad}" : null;
        }
        if (Profile != WeensyProfile) return $"unknown profile '{Profile}' (weensyos, posix or kernel)";
        if (!Programs.Contains(Program)) return $"unknown program '{Program}' (choose {string.Join(", ", Programs)})";
        if (LabSteps.Parse(Step) is null) return $"unknown lab step '{Step}' (choose {LabSteps.Choices})";
        return null;
    }

    public KernelOptions ToKernelOptions() => new()
    {
        Boot = Program,
        Step = LabSteps.Parse(Step) ?? LabStep.CopyOnWrite,
        // The session checks the full invariants once a second (LabSession.MaybePublish); WeensyOS's
        // own check_virtual_memory still runs on every trap. Checking everything at every tick cost
        // more than running the machine.
        Invariants = InvariantChecks.None,
    };

    public static string NewSecret(int bytes = 12) =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(bytes)).Replace('+', 'x').Replace('/', 'y').TrimEnd('=');

    // ------------------------------------------------------------------------------------------
    // Secrets. Only salted hashes are kept (in memory once created, and on disk); the plain key and
    // code are shown once, to their creator. The secrets are random and long (96 and 80 bits), so a
    // single salted SHA-256 is enough: nobody can guess their way back from the hash.

    /// <summary>Crockford's base32: no I, L, O or U, so nothing is misread.</summary>
    private const string Crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    public const int JoinCodeGroups = 4, JoinCodeGroupLength = 4;

    /// <summary>A join code people can read aloud and type: 4 groups of 4 Crockford base32 characters
    /// (80 random bits), like 7K2M-9QXD-R4TB-H3WN.</summary>
    public static string NewJoinCode()
    {
        var groups = new string[JoinCodeGroups];
        for (int g = 0; g < JoinCodeGroups; g++)
            groups[g] = string.Concat(Enumerable.Range(0, JoinCodeGroupLength).Select(_ => Crockford[RandomNumberGenerator.GetInt32(Crockford.Length)]));
        return string.Join('-', groups);
    }

    /// <summary>A typed join code as it is compared: upper case, dashes and spaces dropped, O read as
    /// 0 and I, L as 1 (Crockford's rules). Older 6-digit codes stay as they are.</summary>
    public static string CanonicalJoinCode(string code)
    {
        var sb = new StringBuilder(code.Length);
        foreach (char c in code.Trim().ToUpperInvariant())
        {
            if (c is '-' or ' ') continue;
            sb.Append(c switch { 'O' => '0', 'I' or 'L' => '1', _ => c });
        }
        return sb.ToString();
    }

    /// <summary>These settings with the plain key and code replaced by their hashes (idempotent; older
    /// settings files with plain secrets are converted this way when they are loaded).</summary>
    public SessionSettings WithHashedSecrets() => this with
    {
        InstructorKey = null,
        JoinCode = null,
        InstructorKeyHash = InstructorKey is { } key ? HashSecret(key) : InstructorKeyHash,
        JoinCodeHash = JoinCode is { } code ? HashSecret(CanonicalJoinCode(code)) : JoinCodeHash,
        JoinCodeSealed = JoinCode is { } plain && InstructorKey is { } sealer ? SealJoinCode(plain, sealer) : JoinCodeSealed,
    };

    /// <summary>These settings with a new join code (hashed; sealed with <paramref name="instructorKey"/> when it
    /// is known, else not readable back from the settings): the old code stops working.</summary>
    public SessionSettings WithJoinCode(string code, string? instructorKey) => this with
    {
        JoinCode = null,
        JoinCodeHash = HashSecret(CanonicalJoinCode(code)),
        JoinCodeSealed = instructorKey is null ? null : SealJoinCode(code, instructorKey),
    };

    /// <summary>The instructor key replaced (the demo's, set by the server's operator): only its hash is kept.</summary>
    public SessionSettings WithInstructorKey(string key) => this with { InstructorKey = null, InstructorKeyHash = HashSecret(key), JoinCodeSealed = null };

    /// <summary>
    /// The join code encrypted with AES-GCM under a key derived (HKDF-SHA256, random salt) from the
    /// instructor key: "aesgcm:SALT:NONCE:TAG:CIPHER" (base64). Only someone who has the instructor key
    /// reads it back (<see cref="UnsealJoinCode"/>); the hashes stay the only way the server checks codes.
    /// </summary>
    public static string SealJoinCode(string code, string instructorKey)
    {
        byte[] salt = RandomNumberGenerator.GetBytes(16), nonce = RandomNumberGenerator.GetBytes(AesGcm.NonceByteSizes.MaxSize);
        byte[] plain = Encoding.UTF8.GetBytes(code), cipher = new byte[plain.Length], tag = new byte[AesGcm.TagByteSizes.MaxSize];
        using var aes = new AesGcm(SealingKey(instructorKey, salt), tag.Length);
        aes.Encrypt(nonce, plain, cipher, tag);
        return $"aesgcm:{Convert.ToBase64String(salt)}:{Convert.ToBase64String(nonce)}:{Convert.ToBase64String(tag)}:{Convert.ToBase64String(cipher)}";
    }

    /// <summary>The join code this session's <see cref="JoinCodeSealed"/> holds, read with the instructor key;
    /// null when there is none or the key does not open it.</summary>
    public string? UnsealJoinCode(string instructorKey)
    {
        var parts = JoinCodeSealed?.Split(':');
        if (parts is not { Length: 5 } || parts[0] != "aesgcm") return null;
        try
        {
            byte[] salt = Convert.FromBase64String(parts[1]), nonce = Convert.FromBase64String(parts[2]),
                tag = Convert.FromBase64String(parts[3]), cipher = Convert.FromBase64String(parts[4]), plain = new byte[cipher.Length];
            using var aes = new AesGcm(SealingKey(instructorKey, salt), tag.Length);
            aes.Decrypt(nonce, cipher, tag, plain);
            return Encoding.UTF8.GetString(plain);
        }
        catch (Exception e) when (e is FormatException or CryptographicException or ArgumentException) { return null; }
    }

    private static byte[] SealingKey(string instructorKey, byte[] salt) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(instructorKey), 32, salt, "lab join code"u8.ToArray());

    public bool IsInstructorKey(string candidate) =>
        InstructorKey is { } plain ? FixedEquals(plain, candidate) : VerifySecret(InstructorKeyHash, candidate);

    public bool IsJoinCode(string candidate) =>
        JoinCode is { } plain ? FixedEquals(CanonicalJoinCode(plain), CanonicalJoinCode(candidate)) : VerifySecret(JoinCodeHash, CanonicalJoinCode(candidate));

    private static string HashSecret(string secret)
    {
        byte[] salt = RandomNumberGenerator.GetBytes(16);
        return $"sha256:{Convert.ToBase64String(salt)}:{Convert.ToBase64String(SaltedHash(salt, secret))}";
    }

    private static bool VerifySecret(string? stored, string candidate)
    {
        if (stored is null) return false;
        var parts = stored.Split(':');
        if (parts.Length != 3 || parts[0] != "sha256") return false;
        try
        {
            byte[] salt = Convert.FromBase64String(parts[1]), expected = Convert.FromBase64String(parts[2]);
            return CryptographicOperations.FixedTimeEquals(SaltedHash(salt, candidate), expected);
        }
        catch (FormatException) { return false; }
    }

    private static byte[] SaltedHash(byte[] salt, string secret) => SHA256.HashData([.. salt, .. Encoding.UTF8.GetBytes(secret)]);

    private static bool FixedEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));

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
