using System.Buffers.Binary;
using System.Text;
using static Lab.Kernel.Posix.Errno;
using static Lab.Kernel.Posix.OpenFlags;

namespace Lab.Kernel.Posix;

// The files family, second part: calls that name a file by path, in the *at forms the C libraries
// use (openat, newfstatat, mkdirat, unlinkat, faccessat, readlinkat) and the plain ones (mkdir,
// rmdir, access, readlink), and the current directory (chdir, fchdir, getcwd): a relative path
// starts at the caller's current directory (ReadPath).
public sealed partial class PosixKernel
{
    /// <summary>openat's "relative to the current directory" (fcntl.h).</summary>
    private const int AT_FDCWD = -100;
    private const int AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EACCESS = 0x200, AT_EMPTY_PATH = 0x1000;

    /// <summary>
    /// The path a *at call names: <paramref name="pathPtr"/> itself when absolute, from the current
    /// directory when <paramref name="dirfd"/> is AT_FDCWD, else inside the directory open at
    /// <paramref name="dirfd"/>. 0, ReadPath's errors, -EBADF, -ENOTDIR.
    /// </summary>
    private long ResolveAt(PProcess p, int dirfd, UserPtr pathPtr, out string path)
    {
        long e = ReadPathAsGiven(p, pathPtr, out path);
        if (e != 0 || path.StartsWith('/')) return e;
        if (dirfd == AT_FDCWD) { path = Under(p.Cwd, path); return 0; }
        var f = dirfd < 0 ? null : Fd(p, (ulong)dirfd);
        if (f is null) return -EBADF;
        if (f.Kind != FileKind.Dir) return -ENOTDIR;
        path = Under(PathOfNode(f.Node!) ?? "/nonexistent-removed-directory", path);
        return 0;
    }

    /// <summary>openat(dirfd, path, flags, mode): open (see <see cref="Open"/>) with the path resolved
    /// by <see cref="ResolveAt"/>. Linux: openat(2). Fails: as open, and -EBADF, -ENOTDIR for dirfd.</summary>
    private long OpenAt(PProcess p, int dirfd, UserPtr pathPtr, ulong flags, uint mode)
    {
        long e = ResolveAt(p, dirfd, pathPtr, out string path);
        if (e != 0) return e;
        return OpenPath(p, path, flags, mode);
    }

    /// <summary>
    /// newfstatat(dirfd, path, st, flags): stat of the path (resolved by <see cref="ResolveAt"/>);
    /// with AT_EMPTY_PATH and an empty path, fstat of dirfd itself; AT_SYMLINK_NOFOLLOW: lstat. Linux: newfstatat(2) (fstatat). Fails: -EINVAL (other flags), stat's
    /// errors, -EBADF, -ENOTDIR.
    /// </summary>
    private long NewFstatAt(PProcess p, int dirfd, UserPtr pathPtr, UserPtr st, int flags)
    {
        if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | 0x800 /* AT_NO_AUTOMOUNT */)) != 0) return -EINVAL;
        if ((flags & AT_EMPTY_PATH) != 0 && !pathPtr.IsNull && ReadCString(p, pathPtr, 1, out _) is { Length: 0 })
            return dirfd == AT_FDCWD ? StatPath(p, p.Cwd, st) : Fstat(p, (ulong)(uint)dirfd, st);
        long e = LookupAt(p, dirfd, pathPtr, (flags & AT_SYMLINK_NOFOLLOW) == 0, out _, out var node);
        if (e != 0) return e;
        if (node is null) return -ENOENT;
        return WriteStat(p, st, node.IsDir ? FileKind.Dir : FileKind.File, node);
    }

    /// <summary>The stat of the file at <paramref name="path"/> into *st: 0, -ENOENT, -EFAULT.</summary>
    private long StatPath(PProcess p, string path, UserPtr st)
    {
        var node = Fs.Lookup(path);
        if (node is null) return -ENOENT;
        return WriteStat(p, st, node.IsDir ? FileKind.Dir : FileKind.File, node);
    }

    /// <summary>
    /// mkdirat(dirfd, path, mode) and mkdir(path, mode): creates an empty directory (the mode is
    /// ignored: no permissions here). Linux: mkdir(2). Fails: ReadPath's errors, -EEXIST, -ENOENT (no
    /// parent), -ENOTDIR (the parent is a file), -ENOSPC (the file system's quota), -EBADF.
    /// </summary>
    private long MkdirAt(PProcess p, int dirfd, UserPtr pathPtr, uint mode)
    {
        long e = LookupAt(p, dirfd, pathPtr, follow: false, out string full, out var node);
        if (e != 0) return e;
        if (node is not null) return -EEXIST;
        if (InProc(full)) return -EACCES;
        if (!Fs.HasRoomFor(full)) return -ENOSPC;
        Fs.MkDir(full);
        Fs.Get(full)!.Perm = mode & 0xFFF & ~p.Umask;
        Fs.Get(full)!.MtimeNs = (long)_m.Clock;
        return 0;
    }

    /// <summary>
    /// unlinkat(dirfd, path, flags): unlink, or with AT_REMOVEDIR rmdir, of the resolved path.
    /// rmdir(path) removes an empty directory. Linux: unlinkat(2), rmdir(2). Fails: ReadPath's
    /// errors, -ENOENT, -EISDIR (unlink of a directory), -ENOTDIR (rmdir of a file), -ENOTEMPTY,
    /// -EBUSY ("/"), -EINVAL (other flags, or a path ending in "."), -EBADF.
    /// </summary>
    private long UnlinkAt(PProcess p, int dirfd, UserPtr pathPtr, int flags)
    {
        if ((flags & ~AT_REMOVEDIR) != 0) return -EINVAL;
        long e = ResolveAt(p, dirfd, pathPtr, out string path);
        if (e != 0) return e;
        e = Resolve(p, path, follow: false, out string full, out var node);
        if (e != 0) return e;
        if (node is null) return -ENOENT;
        if (InProc(full)) return -EACCES;
        if ((flags & AT_REMOVEDIR) == 0)
        {
            if (node.IsDir) return -EISDIR;
            Fs.Remove(full);
            return 0;
        }
        if (!node.IsDir) return -ENOTDIR;
        if (path.TrimEnd('/').EndsWith("/.", StringComparison.Ordinal) || path == ".") return -EINVAL;
        if (full == "/") return -EBUSY;
        if (Fs.List(full).Count > 0) return -ENOTEMPTY;
        Fs.RemoveDir(full);
        return 0;
    }

    /// <summary>faccessat(dirfd, path, mode, flags) and access(path, mode): 0 when the file exists
    /// (every file is readable, writable and executable by its one user), except that nothing in
    /// /proc is writable (-EACCES for W_OK). Linux: access(2).
    /// Fails: -EINVAL (mode or flags unknown), resolution's errors, -ENOENT, -EBADF.</summary>
    private long FaccessAt(PProcess p, int dirfd, UserPtr pathPtr, int mode, int flags)
    {
        if ((mode & ~7) != 0 || (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) != 0) return -EINVAL;
        long e = LookupAt(p, dirfd, pathPtr, (flags & AT_SYMLINK_NOFOLLOW) == 0, out string full, out var node);
        if (e != 0) return e;
        if (node is null) return -ENOENT;
        return (mode & 2) != 0 && InProc(full) && node.LinkTarget is null ? -EACCES : 0;
    }

    /// <summary>getcwd(buf, size): the current directory, NUL-terminated; returns its length with the
    /// NUL. Linux: getcwd(2). Fails: -ERANGE (size too small), -ENOENT (the directory was removed),
    /// -EFAULT.</summary>
    private long Getcwd(PProcess p, UserPtr buf, ulong size)
    {
        var bytes = Encoding.UTF8.GetBytes(p.Cwd + "\0");
        if (size < (ulong)bytes.Length) return -ERANGE;
        if (NodeAt(p, p.Cwd) is not { IsDir: true }) return -ENOENT;
        return CopyOut(p, buf, bytes) ? bytes.Length : -EFAULT;
    }

    /// <summary>chdir(path): makes the directory at <paramref name="pathPtr"/> the current one.
    /// Linux: chdir(2). Fails: ReadPath's errors, -ENOENT, -ENOTDIR.</summary>
    private long Chdir(PProcess p, UserPtr pathPtr)
    {
        long e = LookupAt(p, AT_FDCWD, pathPtr, follow: true, out string full, out var node);
        if (e != 0) return e;
        if (node is null) return -ENOENT;
        if (!node.IsDir) return -ENOTDIR;
        p.Cwd = full;
        return 0;
    }

    /// <summary>fchdir(fd): makes the directory open at <paramref name="fd"/> the current one.
    /// Linux: fchdir(2). Fails: -EBADF, -ENOTDIR, -ENOENT (removed since it was opened).</summary>
    private long Fchdir(PProcess p, ulong fd)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        if (f.Kind != FileKind.Dir) return -ENOTDIR;
        var path = PathOfNode(f.Node!);
        if (path is null) return -ENOENT;
        p.Cwd = path;
        return 0;
    }
}
