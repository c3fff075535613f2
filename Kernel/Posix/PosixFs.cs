using System.Collections.Concurrent;

namespace Lab.Kernel.Posix;

/// <summary>A file or directory of the in-memory file system.</summary>
public sealed class Inode
{
    public bool IsDir;
    public byte[] Data = [];
    public int Length;
    public long Ino;

    /// <summary>True while <see cref="Data"/> is an array the host shares (the embedded /bin programs,
    /// one copy for every machine in the process): the first write copies it, so a guest writing
    /// into /bin/ls changes its own machine's file only.</summary>
    public bool SharedData;

    /// <summary>Makes room for <paramref name="n"/> bytes in a private array the guest may write.</summary>
    public void EnsureCapacity(long n)
    {
        if (SharedData)
        {
            var own = new byte[Math.Max(n, Length)];
            Data.AsSpan(0, Length).CopyTo(own);
            Data = own;
            SharedData = false;
        }
        if (n <= Data.Length) return;
        var d = new byte[Math.Max(n, Math.Max(64, (long)Data.Length * 2))];
        Data.AsSpan(0, Length).CopyTo(d);
        Data = d;
    }
}

/// <summary>A flat in-memory file system: absolute paths to inodes; directories are path prefixes.</summary>
public sealed partial class PosixFs
{
    private readonly Dictionary<string, Inode> _nodes = new(StringComparer.Ordinal);
    private long _nextIno = 1;

    public PosixFs()
    {
        MkDir("/"); MkDir("/bin"); MkDir("/tmp");
    }

    public void MkDir(string path) => _nodes[path] = new Inode { IsDir = true, Ino = _nextIno++ };

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

    /// <summary>Creates a regular file (parent must be a directory). Returns null when it cannot.</summary>
    public Inode? Create(string path)
    {
        var n = Normalize(path);
        if (n is null || n == "/") return null;
        if (!_nodes.TryGetValue(Parent(n), out var dir) || !dir.IsDir) return null;
        var node = new Inode { Ino = _nextIno++ };
        _nodes[n] = node;
        return node;
    }

    public void WriteFile(string path, byte[] bytes)
    {
        var node = Lookup(path) ?? Create(path) ?? throw new ArgumentException($"cannot create {path}");
        node.Data = bytes;
        node.Length = bytes.Length;
        node.SharedData = true;   // the caller's array: copied before the guest first writes to it
    }

    public bool Remove(string path)
    {
        var n = Normalize(path);
        return n is not null && _nodes.TryGetValue(n, out var i) && !i.IsDir && _nodes.Remove(n);
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

public enum FileKind { Console, File, PipeRead, PipeWrite, Dir }

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
