using System.Text.Json;
using Lab.Server.Sessions;

namespace Lab.Server.Persistence;

/// <summary>
/// Saves sessions in a data directory: one folder per session with settings.json (settings, codes)
/// and machine.bin (the machine + kernel snapshot). Writes go to a temporary file first and are
/// renamed into place, so a crash mid-save never leaves a torn snapshot.
/// </summary>
public sealed class SessionStore
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };
    private readonly ILogger<SessionStore> _log;

    public string Directory { get; }

    public SessionStore(string directory, ILogger<SessionStore> log)
    {
        Directory = Path.GetFullPath(directory);
        _log = log;
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, "sessions"));
    }

    private string FolderOf(string name) => Path.Combine(Directory, "sessions", name);

    public void Save(SessionSettings settings)
    {
        string folder = FolderOf(settings.Name);
        System.IO.Directory.CreateDirectory(folder);
        WriteAtomically(Path.Combine(folder, "settings.json"), JsonSerializer.SerializeToUtf8Bytes(settings, Json));
    }

    /// <summary>Writes a session's machine.bin through <paramref name="write"/>, which streams the state
    /// into the file (to a temporary file renamed into place). The session's folder must exist: a
    /// session closed meanwhile (its folder deleted) is not brought back.</summary>
    public void SaveMachine(string name, Action<Stream> write)
    {
        string path = Path.Combine(FolderOf(name), "machine.bin"), tmp = path + ".tmp";
        using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            write(file);
        File.Move(tmp, path, overwrite: true);
    }

    public void Delete(string name)
    {
        string folder = FolderOf(name);
        if (System.IO.Directory.Exists(folder)) System.IO.Directory.Delete(folder, recursive: true);
    }

    /// <summary>Every saved session that can be read, with its machine.bin (null when there is none);
    /// unreadable ones are reported and skipped.</summary>
    public IEnumerable<(SessionSettings Settings, string? MachineFile)> LoadAll()
    {
        foreach (string folder in System.IO.Directory.EnumerateDirectories(Path.Combine(Directory, "sessions")))
        {
            SessionSettings? settings = null;
            string? state = null;
            try
            {
                settings = JsonSerializer.Deserialize<SessionSettings>(File.ReadAllBytes(Path.Combine(folder, "settings.json")));
                string machine = Path.Combine(folder, "machine.bin");
                if (File.Exists(machine)) state = machine;
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
            {
                _log.LogWarning("skipping saved session in {Folder}: {Error}", folder, e.Message);
            }
            if (settings != null && settings.Validate() is null) yield return (settings, state);
        }
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        string tmp = path + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, overwrite: true);
    }
}
