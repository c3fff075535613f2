namespace Lab.Kernel.Posix;

// The file system's names beyond plain files and directories: symbolic links, hard links (one inode
// under several paths), character devices (/dev), and rename. The kernel resolves paths through
// symbolic links (PosixKernel.Names.cs); here paths are already normalized and final.
public sealed partial class PosixFs
{
    /// <summary>Linux's device numbers (major &lt;&lt; 8 | minor) of the devices in /dev.</summary>
    public const int DevNull = 0x103, DevZero = 0x105, DevRandom = 0x108, DevUrandom = 0x109, DevTty = 0x500;

    /// <summary>The inode named exactly <paramref name="normalized"/> (no symbolic link followed), or null.</summary>
    public Inode? Get(string normalized) => _nodes.TryGetValue(normalized, out var i) ? i : null;

    /// <summary>/dev and its character devices: null, zero, random, urandom, tty, and stdin, stdout,
    /// stderr as symbolic links to /proc/self/fd/0-2 (as udev makes them).</summary>
    public void AddDevices()
    {
        if (Get("/dev") is null) MkDir("/dev");
        foreach (var (name, rdev) in new[] { ("null", DevNull), ("zero", DevZero), ("random", DevRandom), ("urandom", DevUrandom), ("tty", DevTty) })
            if (Get("/dev/" + name) is null) Link("/dev/" + name, new Inode { Ino = _nextIno++, Rdev = rdev, Perm = 0x1B6 });
        string[] std = ["stdin", "stdout", "stderr"];
        for (int fd = 0; fd < 3; fd++)
            if (Get("/dev/" + std[fd]) is null) Symlink("/dev/" + std[fd], $"/proc/self/fd/{fd}");
    }

    /// <summary>After restoring a snapshot older than version 5 (which kept no device numbers nor
    /// link targets): /dev's nodes become devices and links again, and missing ones are made.</summary>
    internal void UpgradeDevices()
    {
        foreach (var (name, rdev) in new[] { ("null", DevNull), ("zero", DevZero), ("random", DevRandom), ("urandom", DevUrandom), ("tty", DevTty) })
            if (Get("/dev/" + name) is { IsDir: false, Rdev: 0 } node) { node.Rdev = rdev; node.Perm = 0x1B6; }
        foreach (var name in new[] { "stdin", "stdout", "stderr" })
            if (Get("/dev/" + name) is { IsDir: false, LinkTarget: null } node)
            {
                node.LinkTarget = System.Text.Encoding.UTF8.GetString(node.Data, 0, node.Length);
                node.Perm = 0x1FF;
            }
        if (Get("/dev") is null || Get("/dev")!.IsDir) AddDevices();
    }

    /// <summary>Creates a symbolic link at <paramref name="path"/> (normalized, free, in an existing
    /// directory: the caller checked) holding <paramref name="target"/>.</summary>
    public Inode Symlink(string path, string target)
    {
        var node = new Inode { Ino = _nextIno++, LinkTarget = target, Perm = 0x1FF };
        node.Data = System.Text.Encoding.UTF8.GetBytes(target);   // st_size is the target's length
        node.Length = node.Data.Length;
        return Link(path, node);
    }

    /// <summary>link: a second name <paramref name="path"/> (normalized, free) for <paramref name="node"/>.</summary>
    public void HardLink(string path, Inode node) => Link(path, node);

    /// <summary>The names of <paramref name="node"/> in the tree (a hard-linked file has several).</summary>
    public int LinkCount(Inode node) => node.Links;

    /// <summary>
    /// rename: the name <paramref name="from"/> becomes <paramref name="to"/> (both normalized; the
    /// caller checked the cases Linux refuses). What <paramref name="to"/> named (a file, or an empty
    /// directory) loses that name. A directory moves with everything under it.
    /// </summary>
    public void Rename(string from, string to)
    {
        if (from == to) return;
        var node = _nodes[from];
        if (_nodes.TryGetValue(to, out var old))
        {
            if (ReferenceEquals(old, node)) return;   // two names of one file: nothing happens (POSIX)
            _nodes.Remove(to);
            Unlinked(old, to);
        }
        var moves = new List<(string Old, string New)> { (from, to) };
        if (node.IsDir)
        {
            string prefix = from + "/";
            foreach (var path in _nodes.Keys)
                if (path.StartsWith(prefix, StringComparison.Ordinal)) moves.Add((path, to + path[from.Length..]));
        }
        foreach (var (o, n) in moves)
        {
            var x = _nodes[o];
            _nodes.Remove(o);
            long delta = MetaCost(n) - MetaCost(o);
            x.MetaBytes += delta;
            Used += delta;
            _nodes[n] = x;
        }
    }

    /// <summary>ftruncate: the file's length becomes <paramref name="length"/> (new bytes zero); false
    /// when that does not fit in the quota (nothing changes).</summary>
    internal bool SetLength(Inode node, long length)
    {
        if (length == 0) { Truncate(node); return true; }
        if (length > node.Length)
        {
            if (!Reserve(node, length)) return false;
        }
        else
        {
            if (!Reserve(node, node.Length)) return false;            // a private array to clear
            Array.Clear(node.Data, (int)length, node.Length - (int)length);
        }
        node.Length = (int)length;
        return true;
    }
}
