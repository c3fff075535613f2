using System.Collections.Concurrent;

namespace Lab.Kernel.Posix;

/// <summary>A file or directory of the in-memory file system.</summary>
public sealed class Inode
{
    public bool IsDir;
    /// <summary>The contents: the first <see cref="Length"/> bytes (the rest of the array is zero).</summary>
    public byte[] Data = [];
    public int Length;
    public long Ino;

    /// <summary>True while <see cref="Data"/> is an array the host shares (the embedded /bin programs,
    /// one copy for every machine in the process): the first write copies it, so a guest writing
    /// into /bin/ls changes its own machine's file only.</summary>
    public bool SharedData;

    /// <summary>A symbolic link: the path it holds (readlink), followed by path resolution.</summary>
    public string? LinkTarget;
    /// <summary>A character device: Linux's device number (major &lt;&lt; 8 | minor, e.g. 0x103 for
    /// /dev/null); 0 for everything else.</summary>
    public int Rdev;
    /// <summary>Permission bits (chmod); every check still passes: the one user owns everything.</summary>
    public uint Perm = 0x1ED;
    /// <summary>Access and modification times (utimensat, writes), nanoseconds of machine time.</summary>
    public long AtimeNs, MtimeNs;
    /// <summary>A node of /proc, made on lookup from the kernel's state: its path there (null elsewhere).</summary>
    public string? ProcPath;

    /// <summary>Names the inode has in the tree (st_nlink: link adds one, unlink takes one).</summary>
    internal int Links;
    /// <summary>The inode has a name in the tree.</summary>
    internal bool Linked => Links > 0;
    /// <summary>Open files (OpenFile objects, each shared by dup and fork) that refer to it. An inode
    /// lives, and counts against the quota, while it is linked or open (as on Linux).</summary>
    internal int OpenFiles;
    /// <summary>What the node and its name cost, charged while it lives.</summary>
    internal long MetaBytes;
    /// <summary>Data bytes charged: its private array (a shared one costs this machine nothing).</summary>
    internal long DataBytes => SharedData ? 0 : Data.Length;
}

/// <summary>
/// A flat in-memory file system: absolute paths to inodes; directories are path prefixes.
/// Everything it holds counts against <see cref="Quota"/> (Linux: a full disk): each live inode's
/// data array and a cost for the node and its name. A write that would go beyond it is short or
/// fails with ENOSPC, and so does creating a file, so a guest cannot grow the host without bound.
/// </summary>
public sealed partial class PosixFs
{
    private readonly Dictionary<string, Inode> _nodes = new(StringComparer.Ordinal);
    private long _nextIno = 1;

    /// <summary>Bytes the file system may hold (the machine options' quota; default its memory size).</summary>
    public long Quota { get; }
    /// <summary>Bytes it holds now: the private data arrays of the live inodes and their metadata.</summary>
    public long Used { get; private set; }

    public PosixFs(long quota = long.MaxValue)
    {
        Quota = quota;
        MkDir("/"); MkDir("/bin"); MkDir("/tmp");
    }

    /// <summary>What an inode costs besides its data: the node and its name in the tree.</summary>
    private static long MetaCost(string path) => 256 + 2L * path.Length;

    /// <summary>Gives <paramref name="node"/> the name <paramref name="path"/> (replacing what had it):
    /// each name is charged its cost; the data once, when the inode first lives.</summary>
    private Inode Link(string path, Inode node)
    {
        if (_nodes.Remove(path, out var old)) Unlinked(old, path);
        if (node.Links == 0 && node.OpenFiles == 0) { Used += node.DataBytes; node.MetaBytes = 0; }
        node.Links++;
        long cost = MetaCost(path);
        node.MetaBytes += cost;
        Used += cost;
        _nodes[path] = node;
        return node;
    }

    public void MkDir(string path) => Link(path, new Inode { IsDir = true, Ino = _nextIno++ });

    /// <summary>
    /// The small data files every machine boots with, for students to cat, grep and wc: /etc/motd,
    /// /etc/passwd, /usr/share/dict/words, and the (writable, like every directory here) /home and
    /// /home/student. The arrays are shared by every machine; a guest write copies them first.
    /// </summary>
    public void AddDataFiles()
    {
        foreach (var dir in new[] { "/etc", "/home", "/home/student", "/usr", "/usr/share", "/usr/share/dict" })
            if (Lookup(dir) is null) MkDir(dir);
        foreach (var (path, bytes) in DataFiles) WriteFile(path, bytes);
    }

    /// <summary>The contents of the boot-time data files, by absolute path.</summary>
    public static readonly IReadOnlyList<(string Path, byte[] Bytes)> DataFiles =
    [
        ("/etc/motd", "Welcome to Lab, an x86-64 emulator running a small POSIX teaching kernel. Try: ls /bin\n"u8.ToArray()),
        ("/etc/passwd", ("root:x:0:0:root:/root:/bin/sh\n"u8 +
                         "student:x:1000:1000:Lab student:/home/student:/bin/sh\n"u8 +
                         "nobody:x:65534:65534:nobody:/:/bin/false\n"u8).ToArray()),
        ("/usr/share/dict/words", System.Text.Encoding.ASCII.GetBytes(string.Concat(new[]
        {
            "address", "alpha", "apple", "array", "binary", "buffer", "byte", "cache", "child", "clock",
            "console", "copy", "descriptor", "directory", "echo", "emulator", "exec", "exit", "file", "fork",
            "frame", "grep", "heap", "inode", "interrupt", "kernel", "lab", "memory", "offset", "page",
            "parent", "pipe", "pointer", "process", "program", "queue", "read", "register", "scheduler", "shell",
            "signal", "stack", "syscall", "table", "timer", "track", "trap", "user", "virtual", "wait",
            "word", "write", "zombie",
        }.Select(w => w + "\n")))),
    ];

    public static string? Normalize(string path)
    {
        if (path.Length == 0) return null;
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); continue; }
            parts.Add(part);
        }
        return "/" + string.Join('/', parts);
    }

    public Inode? Lookup(string path) => Normalize(path) is { } n && _nodes.TryGetValue(n, out var i) ? i : null;

    public static string Parent(string normalized)
    {
        int s = normalized.LastIndexOf('/');
        return s <= 0 ? "/" : normalized[..s];
    }

    /// <summary>Creates a regular file (parent must be a directory). Returns null when it cannot.
    /// The host may go beyond the quota; the kernel asks <see cref="HasRoomFor"/> first.</summary>
    public Inode? Create(string path)
    {
        var n = Normalize(path);
        if (n is null || n == "/") return null;
        if (!_nodes.TryGetValue(Parent(n), out var dir) || !dir.IsDir) return null;
        return Link(n, new Inode { Ino = _nextIno++ });
    }

    /// <summary>True when a new file at <paramref name="path"/> fits in the quota.</summary>
    public bool HasRoomFor(string path) => Used + MetaCost(Normalize(path) ?? path) <= Quota;

    /// <summary>
    /// Host: places a copy of <paramref name="bytes"/> at <paramref name="path"/> as a person's file
    /// (`tui run --file`, a session upload): missing parent directories are made (mkdir -p), the copy is
    /// charged to the quota like a file the guest wrote, and an existing file there is replaced. Returns
    /// why not (a directory in the way, a name that is a file, the quota), or null.
    /// </summary>
    public string? Place(string path, byte[] bytes)
    {
        if (Normalize(path) is not { } n || n == "/") return $"'{path}' is not a file path";
        if (MakeDirectories(Parent(n)) is { } error) return error;
        if (Lookup(n) is { IsDir: true }) return $"{n} is a directory";
        long freed = Lookup(n)?.DataBytes ?? 0;
        if (Used - freed + bytes.Length + (Lookup(n) is null ? MetaCost(n) : 0) > Quota)
            return $"{n} ({bytes.Length} bytes) does not fit: the file system holds {Used >> 10} of its {Quota >> 10} KiB";
        WriteFile(n, bytes.ToArray());
        var node = Lookup(n)!;
        node.SharedData = false;   // the machine's own copy, charged like a file the guest wrote
        Used += node.DataBytes;
        return null;
    }

    /// <summary>Host: mkdir -p; returns why not (a file in the way), or null.</summary>
    public string? MakeDirectories(string path)
    {
        if (Normalize(path) is not { } n) return $"'{path}' is not a path";
        if (n == "/") return null;
        if (Lookup(n) is { } existing) return existing.IsDir ? null : $"{n} is a file";
        if (MakeDirectories(Parent(n)) is { } error) return error;
        MkDir(n);
        return null;
    }

    /// <summary>Host: makes <paramref name="path"/> a file holding <paramref name="bytes"/>, which stay
    /// the caller's (shared, not charged) until the guest writes.</summary>
    public void WriteFile(string path, byte[] bytes)
    {
        var node = Lookup(path) ?? Create(path) ?? throw new ArgumentException($"cannot create {path}");
        Used -= node.DataBytes;
        node.Data = bytes;
        node.Length = bytes.Length;
        node.SharedData = true;   // the caller's array: copied before the guest first writes to it
    }

    /// <summary>unlink: removes a file's name; its memory goes once no open file refers to it.</summary>
    public bool Remove(string path)
    {
        var n = Normalize(path);
        if (n is null || !_nodes.TryGetValue(n, out var i) || i.IsDir) return false;
        _nodes.Remove(n);
        Unlinked(i, n);
        return true;
    }

    /// <summary>rmdir: removes an empty directory's name (the caller checked it is empty and not "/").</summary>
    public bool RemoveDir(string path)
    {
        var n = Normalize(path);
        if (n is null || n == "/" || !_nodes.TryGetValue(n, out var i) || !i.IsDir) return false;
        _nodes.Remove(n);
        Unlinked(i, n);
        return true;
    }

    /// <summary>The name <paramref name="path"/> of <paramref name="node"/> went: its cost is given back
    /// while other names remain (the last name's cost stays until the inode dies, as its data does).</summary>
    private void Unlinked(Inode node, string path)
    {
        node.Links--;
        if (node.Links > 0)
        {
            long cost = MetaCost(path);
            node.MetaBytes -= cost;
            Used -= cost;
        }
        FreeIfDead(node);
    }

    /// <summary>A new open file refers to <paramref name="node"/> (open).</summary>
    internal void Opened(Inode node) => node.OpenFiles++;

    /// <summary>An open file that referred to <paramref name="node"/> went (its last descriptor closed).</summary>
    internal void Closed(Inode node)
    {
        node.OpenFiles--;
        FreeIfDead(node);
    }

    private void FreeIfDead(Inode node)
    {
        if (node.Linked || node.OpenFiles > 0) return;
        Used -= node.MetaBytes + node.DataBytes;
        node.MetaBytes = 0;
        node.Data = [];
        node.SharedData = false;
    }

    /// <summary>The largest data array <paramref name="node"/> may have within the quota.</summary>
    internal long Room(Inode node) => Quota - Used + node.DataBytes;

    /// <summary>
    /// Makes room for <paramref name="n"/> bytes of <paramref name="node"/> in a private array the
    /// guest may write (a shared one is copied first). The array grows by doubling, but never beyond
    /// what the quota allows. False when even <paramref name="n"/> bytes would not fit: nothing changes.
    /// </summary>
    internal bool Reserve(Inode node, long n)
    {
        if (!node.SharedData && n <= node.Data.Length) return true;
        long room = Room(node);
        if (n > room) return false;
        long size = node.SharedData
            ? Math.Max(n, node.Length)
            : Math.Max(n, Math.Min(Math.Max(64, (long)node.Data.Length * 2), room));
        var d = new byte[size];
        node.Data.AsSpan(0, node.Length).CopyTo(d);
        Used += size - node.DataBytes;
        node.Data = d;
        node.SharedData = false;
        return true;
    }

    /// <summary>O_TRUNC: the file becomes empty and gives its memory back.</summary>
    internal void Truncate(Inode node)
    {
        Used -= node.DataBytes;
        node.Data = [];
        node.SharedData = false;
        node.Length = 0;
    }

    /// <summary>The entries directly inside a directory (names only), sorted.</summary>
    public List<(string Name, Inode Node)> List(string dir)
    {
        var n = Normalize(dir)!;
        string prefix = n == "/" ? "/" : n + "/";
        var list = new List<(string, Inode)>();
        foreach (var (path, node) in _nodes)
        {
            if (path == n || !path.StartsWith(prefix, StringComparison.Ordinal)) continue;
            string rest = path[prefix.Length..];
            if (rest.Length == 0 || rest.Contains('/')) continue;
            list.Add((rest, node));
        }
        list.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
        return list;
    }

    public string? PathOf(Inode node)
    {
        foreach (var (p, i) in _nodes) if (ReferenceEquals(i, node)) return p;
        return null;
    }

    /// <summary>Every program of userland/build/posix embedded in the kernel assembly, by name.</summary>
    public static IReadOnlyDictionary<string, byte[]> EmbeddedPrograms => _embedded.Value;

    private static readonly Lazy<Dictionary<string, byte[]>> _embedded = new(() =>
    {
        var asm = typeof(PosixFs).Assembly;
        var d = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        const string prefix = "userland/posix/";
        foreach (var n in asm.GetManifestResourceNames())
        {
            if (!n.StartsWith(prefix, StringComparison.Ordinal)) continue;
            using var s = asm.GetManifestResourceStream(n)!;
            var b = new byte[s.Length];
            s.ReadExactly(b);
            d[n[prefix.Length..]] = b;
        }
        return d;
    });
}

/// <summary>What an open file is. Device: /dev/null, zero, random, urandom (/dev/tty opens as the Console).</summary>
public enum FileKind { Console, File, PipeRead, PipeWrite, Dir, Device }

public sealed class Pipe
{
    public const int Capacity = 65536;
    public readonly Queue<byte> Buffer = new();
    public int Readers, Writers;
}

/// <summary>An open-file object, shared by descriptors (dup, fork).</summary>
public sealed class OpenFile
{
    public FileKind Kind;
    public Inode? Node;
    public Pipe? Pipe;
    public long Offset;
    public OpenFlags Flags;
    public int Refs = 1;
    public bool Readable, Writable;
    /// <summary>A console opened through /dev/stdout, /dev/stderr (/proc/PID/fd/N): the output stream
    /// (1 or 2) it writes to whatever its descriptor's number; -1: by the descriptor's number.</summary>
    public int ConsoleStream = -1;
}

/// <summary>The host side of the console: output sink and an input queue.</summary>
public sealed partial class ConsoleIo
{
    private readonly ConcurrentQueue<byte> _input = new();
    private volatile bool _inputClosed;
    public Action<int, ReadOnlyMemory<byte>>? Output;
    public readonly MemoryStream Captured = new();
    public bool CaptureOutput = true;

    public void Feed(ReadOnlySpan<byte> bytes) { foreach (var b in bytes) _input.Enqueue(b); }
    public void Feed(string s) => Feed(System.Text.Encoding.UTF8.GetBytes(s));
    public void CloseInput() => _inputClosed = true;
    public bool InputClosed => _inputClosed;
    public bool HasInput => !_input.IsEmpty;
    public bool TryDequeue(out byte b) => _input.TryDequeue(out b);

    internal void Write(int fd, ReadOnlySpan<byte> data)
    {
        if (CaptureOutput) lock (Captured) Captured.Write(data);
        Output?.Invoke(fd, data.ToArray());
    }

    public string OutputText { get { lock (Captured) return System.Text.Encoding.UTF8.GetString(Captured.ToArray()); } }
}
