using System.Buffers.Binary;
using System.Text;
using static Lab.Kernel.Posix.Errno;

namespace Lab.Kernel.Posix;

// The files family, third part: path resolution through symbolic links (Linux's namei), and the
// calls on names: symlink(at), readlink(at), link(at), rename(at, at2), truncate, ftruncate, fsync,
// fdatasync, utimensat, chmod, fchmod, fchmodat, statfs, fstatfs.
public sealed partial class PosixKernel
{
    /// <summary>Symbolic links one resolution follows at most (Linux's MAXSYMLINKS): beyond, -ELOOP.</summary>
    private const int MaxSymlinks = 40;


    /// <summary>
    /// Resolves the absolute path <paramref name="path"/> component by component (Linux's
    /// link_path_walk): ".", "..", and symbolic links in every directory component (and in the last
    /// one when <paramref name="follow"/>, or when the path ends in "/"). Returns 0 with the final
    /// normalized path and its inode, or a null inode when only the last component is missing (its
    /// parent is an existing directory: the name open(O_CREAT), mkdir, symlink, link may create).
    /// Fails: -ENOENT (a missing directory on the way), -ENOTDIR (a file used as a directory),
    /// -ELOOP (more than 40 links).
    /// </summary>
    private long Resolve(PProcess p, string path, bool follow, out string full, out Inode? node)
    {
        full = "/";
        node = null;
        bool trailingSlash = path.Length > 1 && path.EndsWith('/');
        var pending = new Stack<string>();
        Push(pending, path);
        var done = new List<string>();
        Inode? cur = NodeAt(p, "/");
        int links = 0;
        while (pending.TryPop(out var c))
        {
            if (cur is null) return -ENOENT;
            if (!cur.IsDir) return -ENOTDIR;
            if (c == ".") continue;
            if (c == "..")
            {
                if (done.Count > 0) done.RemoveAt(done.Count - 1);
                cur = NodeAt(p, Join(done));
                continue;
            }
            string here = Join(done, c);
            var n = NodeAt(p, here);
            if (n?.LinkTarget is { } target && (pending.Count > 0 || follow || trailingSlash))
            {
                if (++links > MaxSymlinks) return -ELOOP;
                if (target.StartsWith('/')) done.Clear();
                Push(pending, target);
                cur = NodeAt(p, Join(done));
                continue;
            }
            done.Add(c);
            cur = n;
        }
        full = Join(done);
        node = cur;
        if (trailingSlash && node is { IsDir: false }) return -ENOTDIR;
        return 0;

        static void Push(Stack<string> stack, string s)
        {
            var parts = s.Split('/', StringSplitOptions.RemoveEmptyEntries);
            for (int i = parts.Length - 1; i >= 0; i--) stack.Push(parts[i]);
        }
        static string Join(List<string> parts, string? last = null)
        {
            if (parts.Count == 0) return last is null ? "/" : "/" + last;
            var s = "/" + string.Join('/', parts);
            return last is null ? s : s + "/" + last;
        }
    }

    /// <summary>The inode at the normalized path <paramref name="full"/> without following a link:
    /// /proc's are made from the kernel's state (PosixKernel.Proc.cs), the rest are the tree's.</summary>
    private Inode? NodeAt(PProcess p, string full) =>
        full == "/proc" || full.StartsWith("/proc/", StringComparison.Ordinal) ? ProcNode(p, full) : Fs.Get(full);

    /// <summary>umask(mask): the permission bits new files and directories lose become mask &amp; 0777;
    /// returns the old mask (022 at start, inherited by fork, kept by execve). Linux: umask(2).
    /// Never fails.</summary>
    private static long SetUmask(PProcess p, uint mask)
    {
        uint old = p.Umask;
        p.Umask = mask & 0x1FF;
        return old;
    }

    /// <summary>The path argument of a *at call (<see cref="ResolveAt"/>) resolved (<see cref="Resolve"/>).</summary>
    private long LookupAt(PProcess p, int dirfd, UserPtr pathPtr, bool follow, out string full, out Inode? node)
    {
        full = "/";
        node = null;
        long e = ResolveAt(p, dirfd, pathPtr, out string path);
        return e != 0 ? e : Resolve(p, path, follow, out full, out node);
    }

    /// <summary>The path of a directory or file the caller has open (its first name; a /proc node's own).</summary>
    private string? PathOfNode(Inode node) => node.ProcPath ?? Fs.PathOf(node);

    /// <summary>True for a path inside /proc, which nothing may create, change or remove (-EACCES).</summary>
    private static bool InProc(string full) => full == "/proc" || full.StartsWith("/proc/", StringComparison.Ordinal);

    /// <summary>
    /// symlinkat(target, newdirfd, linkpath) and symlink: a new symbolic link at linkpath holding
    /// <paramref name="targetPtr"/>'s string (not checked: it may dangle). Linux: symlink(2).
    /// Fails: -EEXIST (the name exists, even as a dangling link), -ENOENT, -ENOTDIR, -ELOOP,
    /// -EFAULT, -ENAMETOOLONG, -EACCES (in /proc), -ENOSPC, -EBADF.
    /// </summary>
    private long SymlinkAt(PProcess p, UserPtr targetPtr, int dirfd, UserPtr linkPtr)
    {
        long e = ReadPathAsGiven(p, targetPtr, out string target);
        if (e != 0) return e;
        e = LookupAt(p, dirfd, linkPtr, follow: false, out string full, out var node);
        if (e != 0) return e;
        if (node is not null) return -EEXIST;
        if (InProc(full)) return -EACCES;
        if (!Fs.HasRoomFor(full)) return -ENOSPC;
        Fs.Symlink(full, target).MtimeNs = (long)_m.Clock;
        return 0;
    }

    /// <summary>readlinkat(dirfd, path, buf, size) and readlink: copies the link's target (no NUL,
    /// cut at <paramref name="size"/>) and returns its length. /proc's links (self, exe, cwd, fd/N)
    /// are made on demand. Linux: readlink(2). Fails: -EINVAL (size 0, or not a link), -ENOENT,
    /// -ENOTDIR, -ELOOP, -EFAULT, -EBADF.</summary>
    private long ReadlinkAt(PProcess p, int dirfd, UserPtr pathPtr, UserPtr buf, ulong size)
    {
        if ((long)size <= 0) return -EINVAL;
        long e = LookupAt(p, dirfd, pathPtr, follow: false, out _, out var node);
        if (e != 0) return e;
        if (node is null) return -ENOENT;
        if (node.LinkTarget is not { } target) return -EINVAL;
        var bytes = Encoding.UTF8.GetBytes(target);
        int n = (int)Math.Min((ulong)bytes.Length, size);
        return CopyOut(p, buf, bytes.AsSpan(0, n)) ? n : -EFAULT;
    }

    /// <summary>
    /// linkat(olddirfd, oldpath, newdirfd, newpath, flags) and link: a second name for a file
    /// (st_nlink counts them; unlink of one leaves the other). AT_SYMLINK_FOLLOW follows a final
    /// link in oldpath (link does not, as Linux's). Linux: link(2).
    /// Fails: -EEXIST, -ENOENT, -EPERM (a directory), -EINVAL (other flags), -EACCES (/proc),
    /// -ENOSPC, and resolution's errors.
    /// </summary>
    private long LinkAt(PProcess p, int olddirfd, UserPtr oldPtr, int newdirfd, UserPtr newPtr, int flags)
    {
        const int AT_SYMLINK_FOLLOW = 0x400;
        if ((flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) != 0) return -EINVAL;
        long e = LookupAt(p, olddirfd, oldPtr, (flags & AT_SYMLINK_FOLLOW) != 0, out string oldFull, out var node);
        if (e != 0) return e;
        if (node is null) return -ENOENT;
        if (node.IsDir) return -EPERM;
        e = LookupAt(p, newdirfd, newPtr, follow: false, out string newFull, out var existing);
        if (e != 0) return e;
        if (existing is not null) return -EEXIST;
        if (InProc(oldFull) || InProc(newFull)) return -EACCES;
        if (!Fs.HasRoomFor(newFull)) return -ENOSPC;
        Fs.HardLink(newFull, node);
        return 0;
    }

    private const uint RENAME_NOREPLACE = 1, RENAME_EXCHANGE = 2, RENAME_WHITEOUT = 4;

    /// <summary>
    /// renameat2(olddirfd, oldpath, newdirfd, newpath, flags), renameat and rename: the file or
    /// directory's name becomes newpath, replacing a file there (or an empty directory, for a
    /// directory); RENAME_NOREPLACE refuses an existing newpath. Links are not followed. Linux:
    /// rename(2). Fails: -ENOENT, -EEXIST (NOREPLACE), -EISDIR (a file over a directory), -ENOTDIR
    /// (a directory over a file), -ENOTEMPTY, -EINVAL (a directory into itself, unknown or
    /// EXCHANGE/WHITEOUT flags), -EBUSY ("/"), -EACCES (/proc), and resolution's errors.
    /// </summary>
    private long RenameAt2(PProcess p, int olddirfd, UserPtr oldPtr, int newdirfd, UserPtr newPtr, uint flags)
    {
        if ((flags & ~RENAME_NOREPLACE) != 0) return -EINVAL;   // EXCHANGE and WHITEOUT are not offered
        long e = LookupAt(p, olddirfd, oldPtr, follow: false, out string from, out var node);
        if (e != 0) return e;
        if (node is null) return -ENOENT;
        e = LookupAt(p, newdirfd, newPtr, follow: false, out string to, out var target);
        if (e != 0) return e;
        if (InProc(from) || InProc(to)) return -EACCES;
        if (from == "/" || to == "/") return -EBUSY;
        if (target is not null && (flags & RENAME_NOREPLACE) != 0) return -EEXIST;
        if (node.IsDir && to.StartsWith(from + "/", StringComparison.Ordinal)) return -EINVAL;
        if (target is not null && !ReferenceEquals(target, node))
        {
            if (node.IsDir && !target.IsDir) return -ENOTDIR;
            if (!node.IsDir && target.IsDir) return -EISDIR;
            if (target.IsDir && Fs.List(to).Count > 0) return -ENOTEMPTY;
        }
        if (target is null && !Fs.HasRoomFor(to)) return -ENOSPC;
        Fs.Rename(from, to);
        RenameCwds(from, to);
        return 0;
    }

    /// <summary>Processes whose current directory moved with a renamed directory follow it (their
    /// cwd is a path here, an inode on Linux).</summary>
    private void RenameCwds(string from, string to)
    {
        foreach (var q in _procs)
        {
            if (q.Cwd == from) q.Cwd = to;
            else if (q.Cwd.StartsWith(from + "/", StringComparison.Ordinal)) q.Cwd = to + q.Cwd[from.Length..];
        }
    }

    /// <summary>
    /// truncate(path, length) and ftruncate(fd, length): the regular file's length becomes
    /// <paramref name="length"/> (cut, or grown with zeros). Linux: truncate(2).
    /// Fails: -EINVAL (negative, or not a regular file for ftruncate), -EISDIR, -EFBIG, -ENOSPC,
    /// -EACCES (/proc), -EBADF, and resolution's errors.
    /// </summary>
    private long Truncate(PProcess p, UserPtr pathPtr, long length)
    {
        long e = LookupAt(p, AT_FDCWD, pathPtr, follow: true, out string full, out var node);
        if (e != 0) return e;
        if (node is null) return -ENOENT;
        if (node.IsDir) return -EISDIR;
        if (InProc(full)) return -EACCES;
        return SetLength(node, length);
    }

    private long Ftruncate(PProcess p, ulong fd, long length)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        if (length < 0) return -EINVAL;
        if (f.Kind != FileKind.File || f.Node!.ProcPath is not null || !f.Writable) return -EINVAL;   // as Linux's do_sys_ftruncate
        return SetLength(f.Node, length);
    }

    private long SetLength(Inode node, long length)
    {
        if (length < 0) return -EINVAL;
        if (length > MaxFileSize) return -EFBIG;
        if (node.Rdev != 0) return 0;
        if (!Fs.SetLength(node, length)) return -ENOSPC;
        node.MtimeNs = (long)_m.Clock;
        return 0;
    }

    /// <summary>fsync(fd) and fdatasync(fd): everything is in memory, so there is nothing to wait
    /// for; 0 for any open descriptor. Linux: fsync(2). Fails: -EBADF.</summary>
    private long Fsync(PProcess p, ulong fd) => Fd(p, fd) is null ? -EBADF : 0;

    private const long UTIME_NOW = (1L << 30) - 1, UTIME_OMIT = (1L << 30) - 2;

    /// <summary>
    /// utimensat(dirfd, path, times, flags): sets the access and modification times from the two
    /// struct timespec at <paramref name="times"/> (NULL: now; UTIME_NOW, UTIME_OMIT per field);
    /// a NULL path means dirfd itself (futimens). Times are machine time in nanoseconds. Linux:
    /// utimensat(2). Fails: -EINVAL (flags, nanoseconds out of range), -EFAULT, -EACCES (/proc),
    /// -EBADF, and resolution's errors.
    /// </summary>
    private long Utimensat(PProcess p, int dirfd, UserPtr pathPtr, UserPtr times, int flags)
    {
        if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -EINVAL;
        Inode? node;
        if (pathPtr.IsNull)
        {
            var f = dirfd == AT_FDCWD ? null : Fd(p, (ulong)(uint)dirfd);
            if (f is null) return -EBADF;
            node = f.Node;
            if (node is null) return 0;            // the console or a pipe: nothing recorded
        }
        else
        {
            long e = LookupAt(p, dirfd, pathPtr, (flags & AT_SYMLINK_NOFOLLOW) == 0, out string full, out node);
            if (e != 0) return e;
            if (node is null) return -ENOENT;
            if (InProc(full)) return -EACCES;
        }
        long now = (long)_m.Clock, atime = now, mtime = now;
        if (!times.IsNull)
        {
            Span<byte> ts = stackalloc byte[32];
            if (!CopyIn(p, times, ts)) return -EFAULT;
            if (!Time(ts[..16], ref atime) || !Time(ts[16..], ref mtime)) return -EINVAL;
        }
        node.AtimeNs = atime;
        node.MtimeNs = mtime;
        return 0;

        bool Time(ReadOnlySpan<byte> t, ref long value)
        {
            long sec = BinaryPrimitives.ReadInt64LittleEndian(t), nsec = BinaryPrimitives.ReadInt64LittleEndian(t[8..]);
            if (nsec == UTIME_NOW) return true;
            if (nsec == UTIME_OMIT) { value = value == atime ? node!.AtimeNs : node!.MtimeNs; return true; }
            if (nsec is < 0 or >= 1_000_000_000) return false;
            value = sec * 1_000_000_000 + nsec;
            return true;
        }
    }

    /// <summary>fchmodat(dirfd, path, mode, flags), chmod and fchmod: the permission bits (07777) of
    /// the file become <paramref name="mode"/>'s; stat shows them (nothing is enforced: the one user
    /// owns everything). Linux: chmod(2). Fails: -EACCES (/proc), -EBADF, -EINVAL (flags), and
    /// resolution's errors.</summary>
    private long FchmodAt(PProcess p, int dirfd, UserPtr pathPtr, uint mode, int flags)
    {
        if ((flags & ~AT_SYMLINK_NOFOLLOW) != 0) return -EINVAL;
        long e = LookupAt(p, dirfd, pathPtr, follow: true, out string full, out var node);
        if (e != 0) return e;
        if (node is null) return -ENOENT;
        if (InProc(full)) return -EACCES;
        node.Perm = mode & 0xFFF;
        return 0;
    }

    private long Fchmod(PProcess p, ulong fd, uint mode)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        if (f.Node is { ProcPath: null } node) node.Perm = mode & 0xFFF;
        return 0;
    }

    /// <summary>statfs(path, buf) and fstatfs(fd, buf): a struct statfs (120 bytes) describing the
    /// in-memory file system: type TMPFS_MAGIC (PROC_SUPER_MAGIC inside /proc), 4 KiB blocks, the
    /// quota as its size and what is left as free. Linux: statfs(2). Fails: -EFAULT, -EBADF, and
    /// resolution's errors.</summary>
    private long Statfs(PProcess p, UserPtr pathPtr, UserPtr buf)
    {
        long e = LookupAt(p, AT_FDCWD, pathPtr, follow: true, out string full, out var node);
        if (e != 0) return e;
        if (node is null) return -ENOENT;
        return WriteStatfs(p, buf, InProc(full));
    }

    private long Fstatfs(PProcess p, ulong fd, UserPtr buf)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        return WriteStatfs(p, buf, f.Node?.ProcPath is not null);
    }

    private long WriteStatfs(PProcess p, UserPtr buf, bool proc)
    {
        var st = new byte[120];
        long blocks = Math.Min(Fs.Quota, 1L << 50) / 4096, free = Math.Max(0, Fs.Quota - Fs.Used) / 4096;
        BinaryPrimitives.WriteInt64LittleEndian(st, proc ? 0x9fa0 : 0x01021994);   // f_type
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(8), 4096);                // f_bsize
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(16), proc ? 0 : blocks);  // f_blocks
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(24), proc ? 0 : free);    // f_bfree
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(32), proc ? 0 : free);    // f_bavail
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(40), proc ? 0 : blocks);  // f_files
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(48), proc ? 0 : free);    // f_ffree
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(64), 255);                // f_namelen
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(72), 4096);               // f_frsize
        return CopyOut(p, buf, st) ? 0 : -EFAULT;
    }
}
