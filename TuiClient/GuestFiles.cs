using Lab.Kernel.Posix;

namespace Lab.TuiClient;

/// <summary>
/// Copies host files and directories into a POSIX machine's file system before its program starts
/// (`tui run --file HOST[=GUEST] --dir HOST=GUEST`), so a course test runs beside its data files
/// unchanged. Relative guest paths start at "/", the first program's working directory.
/// </summary>
public static class GuestFiles
{
    /// <summary>Places <paramref name="host"/> (a file, or with <paramref name="directory"/> a whole tree) at
    /// <paramref name="guest"/> (default: "/" + its name), making missing parent directories; returns why not, or null.
    /// Symbolic links to directories are not followed (a loop would never end); links to files are copied as files.</summary>
    public static string? Place(PosixFs fs, bool directory, string host, string? guest)
    {
        string target = guest is null or "" ? "/" + Path.GetFileName(Path.TrimEndingDirectorySeparator(host)) : guest.StartsWith('/') ? guest : "/" + guest;
        if (PosixFs.Normalize(target) is not { } normalized) return $"'{guest}' is not a path in the machine";
        try
        {
            if (directory)
            {
                if (!Directory.Exists(host)) return "no such directory on this machine";
                return Tree(fs, new DirectoryInfo(host), normalized);
            }
            if (!File.Exists(host)) return Directory.Exists(host) ? "is a directory (use --dir HOST=GUEST)" : "no such file on this machine";
            return Copy(fs, host, normalized);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
    }

    private static string? Tree(PosixFs fs, DirectoryInfo dir, string guest)
    {
        if (fs.MakeDirectories(guest) is { } error) return error;
        foreach (var entry in dir.EnumerateFileSystemInfos())
        {
            string inside = guest == "/" ? "/" + entry.Name : guest + "/" + entry.Name;
            string? failed = entry switch
            {
                DirectoryInfo sub when sub.LinkTarget is null => Tree(fs, sub, inside),
                DirectoryInfo => null,
                FileInfo file => Copy(fs, file.FullName, inside),
                _ => null,
            };
            if (failed != null) return $"{entry.FullName}: {failed}";
        }
        return null;
    }

    private static string? Copy(PosixFs fs, string host, string guest) => fs.Place(guest, File.ReadAllBytes(host));
}
