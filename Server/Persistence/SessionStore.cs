using System.Security.Cryptography;
using System.Text.Json;
using Lab.Kernel.Common;
using Lab.Server.Sessions;

namespace Lab.Server.Persistence;

/// <summary>A saved session found in the data directory: its settings (already read) and its folder.</summary>
public sealed record SavedSession(SessionSettings Settings, string Folder)
{
    public string Name => Settings.Name;
}

/// <summary>
/// Saves sessions in a data directory: one folder per session with settings.json (settings and the
/// hashes of its secrets) and machine.bin (the machine + kernel snapshot behind a SHA-256 header, see
/// <see cref="SnapshotFile"/>). Writes go to a temporary file first and are renamed into place, so a
/// crash mid-save never leaves a torn file; a failed write removes its temporary file and throws.
/// Folders are 0700 and files 0600: they hold the secrets' hashes and the students' work.
/// </summary>
public sealed class SessionStore : ISessionStore
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    private const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode FileMode600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly ILogger<SessionStore> _log;

    public string Directory { get; }
    public string Where => Directory;
    private string SessionsDirectory => Path.Combine(Directory, "sessions");

    public SessionStore(string directory, ILogger<SessionStore> log)
    {
        Directory = Path.GetFullPath(directory);
        _log = log;
        CreatePrivateDirectory(Directory);
        CreatePrivateDirectory(SessionsDirectory);
    }

    private string FolderOf(string name) => Path.Combine(SessionsDirectory, name);

    /// <summary>Writes a session's settings (creating its folder). Throws (IOException,
    /// UnauthorizedAccessException, ...) when the disk refuses; nothing half-written stays behind.</summary>
    public void Save(SessionSettings settings)
    {
        string folder = FolderOf(settings.Name);
        CreatePrivateDirectory(folder);
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(settings, Json);
        // A kernel session's kernel file first (settings that name a kernel always find it), and only
        // when it changed: a push replaces the array, the periodic saves keep it.
        if (settings.KernelImage is { } image && !(_writtenKernels.TryGetValue(settings.Name, out var written) && ReferenceEquals(written, image)))
        {
            WriteAtomically(Path.Combine(folder, KernelFile), file => file.Write(image));
            _writtenKernels[settings.Name] = image;
        }
        WriteAtomically(Path.Combine(folder, "settings.json"), file => file.Write(json));
    }

    /// <summary>The kernel file of a kernel session (settings.json does not hold it).</summary>
    private const string KernelFile = "kernel.img";
    /// <summary>The kernel image last written for each session (callers serialise saves of one session).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> _writtenKernels = new();

    /// <summary>
    /// Writes a session's machine.bin: <paramref name="write"/> streams the machine's state into
    /// the file (nothing the size of the machine is built in memory), hashed on the way. The
    /// session's folder must exist (a session closed meanwhile is not brought back: this throws).
    /// Same failure contract as <see cref="Save"/>.
    /// </summary>
    public void SaveMachine(string name, Action<Stream> write)
    {
        string folder = FolderOf(name);
        if (!System.IO.Directory.Exists(folder)) throw new DirectoryNotFoundException($"the folder of session {name} is gone");
        WriteAtomically(Path.Combine(folder, "machine.bin"), file => SnapshotFile.Write(file, write));
    }

    public void Delete(string name)
    {
        string folder = FolderOf(name);
        if (System.IO.Directory.Exists(folder)) System.IO.Directory.Delete(folder, recursive: true);
    }

    /// <summary>Every saved session whose settings can be read, without its machine (that is read by
    /// <see cref="OpenMachine"/>, one session at a time). Unreadable folders are logged and skipped.</summary>
    public IReadOnlyList<SavedSession> List()
    {
        var found = new List<SavedSession>();
        foreach (string folder in System.IO.Directory.EnumerateDirectories(SessionsDirectory).Order(StringComparer.Ordinal))
        {
            try
            {
                var settings = JsonSerializer.Deserialize<SessionSettings>(File.ReadAllBytes(Path.Combine(folder, "settings.json")));
                if (settings == null) throw new JsonException("settings.json is empty");
                if (settings.Profile == SessionSettings.KernelProfile && File.Exists(Path.Combine(folder, KernelFile)))
                    settings = settings with { KernelImage = File.ReadAllBytes(Path.Combine(folder, KernelFile)) };
                if (settings.Validate() is { } invalid)
                {
                    _log.LogError("saved session in {Folder} not restored: invalid settings ({Error})", folder, invalid);
                    continue;
                }
                found.Add(new SavedSession(settings, folder));
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException or NotSupportedException)
            {
                _log.LogError("saved session in {Folder} not restored: its settings.json cannot be read ({Error})", folder, e.Message);
            }
        }
        return found;
    }

    /// <summary>The saved machine of a session as a stream positioned at its payload (null when it has
    /// none yet), verified against its SHA-256 first (a pass over the file, not a copy in memory);
    /// throws InvalidDataException saying what is wrong with a damaged file. The caller disposes it.</summary>
    public Stream? OpenMachine(SavedSession saved)
    {
        string path = Path.Combine(saved.Folder, "machine.bin");
        if (!File.Exists(path)) return null;
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            SnapshotFile.Verify(file, out bool legacy);
            if (legacy) _log.LogWarning("session {Name}: machine.bin has no integrity hash (saved by an older server); it is hashed at the next save", saved.Name);
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Moves a session folder that cannot be restored to data/quarantine (its name becomes
    /// free; the files stay for whoever wants to look). Returns where it went.</summary>
    public string Quarantine(SavedSession saved)
    {
        string target = Path.Combine(Directory, "quarantine", $"{saved.Name}-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{RandomNumberGenerator.GetHexString(4, lowercase: true)}");
        CreatePrivateDirectory(Path.GetDirectoryName(target)!);
        System.IO.Directory.Move(saved.Folder, target);
        return target;
    }

    /// <summary>Removes temporary files a crash or a full disk left in session folders (run at start-up).</summary>
    public int RemoveTemporaryFiles()
    {
        int removed = 0;
        foreach (string folder in System.IO.Directory.EnumerateDirectories(SessionsDirectory))
        {
            try
            {
                foreach (string tmp in System.IO.Directory.EnumerateFiles(folder, "*.tmp"))
                {
                    File.Delete(tmp);
                    removed++;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.LogWarning("could not remove temporary files in {Folder}: {Error}", folder, e.Message);
            }
        }
        return removed;
    }

    /// <summary>Writes <paramref name="path"/>.tmp (0600, flushed to disk), then renames it over the
    /// file. On any failure the temporary file is removed and the old file is left as it was.</summary>
    private static void WriteAtomically(string path, Action<FileStream> write)
    {
        string tmp = path + ".tmp";
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = FileMode600;
            using (var file = new FileStream(tmp, options))
            {
                write(file);
                file.Flush(flushToDisk: true);
            }
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, FileMode600);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            throw;
        }
    }

    private static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(path);
            return;
        }
        System.IO.Directory.CreateDirectory(path, FolderMode);
        if ((File.GetUnixFileMode(path) & ~FolderMode) != 0) File.SetUnixFileMode(path, FolderMode);
    }
}

/// <summary>
/// The machine.bin format: "LABSNAP1", the SHA-256 of the payload, then the payload (the profile's
/// own snapshot). Any changed byte fails the hash (or the magic), so a damaged file is refused before
/// a restore parses it. Files without the magic are an older server's (unhashed) snapshots.
/// </summary>
public static class SnapshotFile
{
    private static ReadOnlySpan<byte> Magic => "LABSNAP1"u8;
    private const int HeaderSize = 8 + SHA256.HashSizeInBytes;

    /// <summary>
    /// Writes the header and then the payload that <paramref name="writePayload"/> streams into
    /// <paramref name="file"/> (which must be seekable): the hash is computed on the way and filled
    /// into the header at the end.
    /// </summary>
    public static void Write(Stream file, Action<Stream> writePayload)
    {
        long start = file.Position;
        Span<byte> header = stackalloc byte[HeaderSize];
        header.Clear();
        Magic.CopyTo(header);
        file.Write(header);
        using (var hashing = new HashingStream(file))
        {
            writePayload(hashing);
            hashing.Hash().CopyTo(header[8..]);
        }
        long end = file.Position;
        file.Position = start;
        file.Write(header);
        file.Position = end;
    }

    /// <summary>
    /// Checks a hashed file's SHA-256 by reading it once, then leaves <paramref name="file"/> at the
    /// start of the payload; an older unhashed file is left at its start with <paramref name="legacy"/>
    /// set. Throws InvalidDataException when the header or hash is wrong.
    /// </summary>
    public static void Verify(Stream file, out bool legacy)
    {
        legacy = false;
        Span<byte> header = stackalloc byte[HeaderSize];
        int got = file.ReadAtLeast(header, HeaderSize, throwOnEndOfStream: false);
        if (got < 8 || !header[..8].SequenceEqual(Magic))
        {
            legacy = true;   // see Unwrap
            file.Position = 0;
            return;
        }
        if (got < HeaderSize) throw new InvalidDataException($"machine.bin is truncated ({got} bytes, shorter than its header)");
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(file, hash);
        if (!hash.SequenceEqual(header[8..]))
            throw new InvalidDataException("machine.bin is damaged: its SHA-256 does not match its contents");
        file.Position = HeaderSize;
    }

    /// <summary>Writes the header and the payload to <paramref name="file"/> (no copy of the payload is made).</summary>
    public static void Write(Stream file, ReadOnlySpan<byte> payload)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        Magic.CopyTo(header);
        SHA256.HashData(payload, header[8..]);
        file.Write(header);
        file.Write(payload);
    }

    public static byte[] Wrap(ReadOnlySpan<byte> payload)
    {
        using var file = new MemoryStream(HeaderSize + payload.Length);
        Write(file, payload);
        return file.ToArray();
    }

    /// <summary>The payload of a hashed file (a view into <paramref name="file"/>); an older unhashed file
    /// is returned whole with <paramref name="legacy"/> set. Throws InvalidDataException when the hash does not match.</summary>
    public static ReadOnlyMemory<byte> Unwrap(byte[] file, out bool legacy)
    {
        legacy = false;
        if (file.Length < 8 || !file.AsSpan(0, 8).SequenceEqual(Magic))
        {
            // Older servers wrote the profile's snapshot directly; those start with their own magic
            // ("KEEN" for WeensyOS, "BLSP" for POSIX), never with ours, so a damaged header is refused by that parser.
            legacy = true;
            return file;
        }
        if (file.Length < HeaderSize) throw new InvalidDataException($"machine.bin is truncated ({file.Length} bytes, shorter than its header)");
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(file.AsSpan(HeaderSize), hash);
        if (!hash.SequenceEqual(file.AsSpan(8, SHA256.HashSizeInBytes)))
            throw new InvalidDataException("machine.bin is damaged: its SHA-256 does not match its contents");
        return file.AsMemory(HeaderSize);
    }
}
