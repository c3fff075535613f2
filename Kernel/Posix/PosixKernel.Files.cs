using System.Buffers.Binary;
using System.Text;
using static Lab.Kernel.Posix.Errno;
using static Lab.Kernel.Posix.OpenFlags;
using static Lab.Kernel.Posix.StatMode;

namespace Lab.Kernel.Posix;

// The files family: descriptors and the system calls on them, for every kind of open file (the
// console, regular files and directories of the in-memory file system, pipes: their reading and
// writing is in PosixKernel.Pipes.cs). An open file (OpenFile, Linux's struct file) is shared by the
// descriptors dup and fork make, with one offset.
public sealed partial class PosixKernel
{
    /// <summary>Bytes one read or write moves at most (a larger count is a short transfer, as Linux's
    /// MAX_RW_COUNT).</summary>
    private const int MaxTransfer = 1 << 20;

    /// <summary>The largest regular file (writes beyond it fail with -EFBIG, as beyond RLIMIT_FSIZE).</summary>
    private const long MaxFileSize = 256L << 20;

    // =========================================================================================
    // descriptors

    /// <summary>The open file behind descriptor <paramref name="fd"/>, or null (-EBADF for the caller).</summary>
    private OpenFile? Fd(PProcess p, ulong fd) => fd < MaxFds ? p.Fds[fd] : null;

    /// <summary>The lowest free descriptor (POSIX requires the lowest), or -1 (-EMFILE for the caller).</summary>
    private int LowestFreeFd(PProcess p, int from = 0)
    {
        for (int i = from; i < MaxFds; i++) if (p.Fds[i] is null) return i;
        return -1;
    }

    /// <summary>Frees descriptor <paramref name="fd"/>; the open file goes with its last descriptor
    /// (a pipe end then counts one reader or writer less, which may wake the other side; an unlinked
    /// file's memory goes with its last open file).</summary>
    private void CloseFd(PProcess p, int fd)
    {
        var f = p.Fds[fd];
        if (f is null) return;
        p.Fds[fd] = null;
        p.CloseOnExec[fd] = false;
        if (--f.Refs > 0) return;
        if (f.Node is not null) Fs.Closed(f.Node);
        if (f.Kind == FileKind.PipeRead) f.Pipe!.Readers--;
        if (f.Kind == FileKind.PipeWrite) f.Pipe!.Writers--;
        WakeAll();
    }

    // =========================================================================================
    // system calls

    /// <summary>
    /// read(fd, buf, count): reads up to <paramref name="count"/> bytes (at most 1 MiB) into
    /// <paramref name="buf"/>; returns how many, 0 at end of file. The console returns at most one
    /// line and blocks while no input is queued (0 once input is closed); a pipe blocks while empty
    /// and has writers (0 when it has none); a file reads at its offset. Linux: read(2).
    /// Fails: -EBADF (not open for reading), -EISDIR, -EFAULT (buf not writable; console input
    /// already taken is lost, as on a tty).
    /// </summary>
    private long Read(PProcess p, ulong fd, UserPtr buf, ulong count)
    {
        var f = Fd(p, fd);
        if (f is null || !f.Readable) return -EBADF;
        if (f.Kind == FileKind.Dir) return -EISDIR;
        if (count == 0) return 0;
        if (buf.Value >= UserLimit || count > UserLimit - buf.Value) return -EFAULT;
        int n = (int)Math.Min(count, MaxTransfer);
        long r = f.Kind switch
        {
            FileKind.Console => ReadConsole(p, buf, n),
            FileKind.PipeRead => ReadPipe(p, f.Pipe!, buf, n),
            FileKind.Device => ReadDevice(p, f.Node!, buf, n),
            _ => ReadFile(p, f, buf, n),
        };
        if (r > 0 && p.TrackArmed) p.BytesRead += (ulong)r;
        return r;
    }

    private long ReadFile(PProcess p, OpenFile f, UserPtr buf, int n)
    {
        var node = f.Node!;
        long off = f.Offset;
        if (off >= node.Length) return 0;
        int k = (int)Math.Min(n, node.Length - off);
        if (!CopyOut(p, buf, node.Data.AsSpan((int)off, k))) return -EFAULT;
        f.Offset += k;
        return k;
    }

    /// <summary>
    /// write(fd, buf, count): writes up to <paramref name="count"/> bytes (at most 1 MiB) from
    /// <paramref name="buf"/>; returns how many. The console takes all; a pipe takes what fits and
    /// blocks while full; a file writes at its offset (at the end with O_APPEND), growing as needed:
    /// when the file system is full it writes what fits (a short count), and the next write fails.
    /// Linux: write(2).
    /// Fails: -EBADF (not open for writing), -EISDIR, -EFAULT (buf not readable), -EPIPE (a pipe with
    /// no reader left; Linux also sends SIGPIPE), -EFBIG (beyond <see cref="MaxFileSize"/>), -ENOSPC
    /// (the file system's quota is used up: not one byte fits).
    /// </summary>
    private long Write(PProcess p, ulong fd, UserPtr buf, ulong count)
    {
        var f = Fd(p, fd);
        if (f is null || !f.Writable) return -EBADF;
        if (f.Kind == FileKind.Dir) return -EISDIR;
        if (count == 0) return 0;
        if (buf.Value >= UserLimit || count > UserLimit - buf.Value) return -EFAULT;
        int n = (int)Math.Min(count, MaxTransfer);
        long r = f.Kind switch
        {
            FileKind.Console => WriteConsole(p, f.ConsoleStream >= 0 ? f.ConsoleStream : (int)fd, buf, n),
            FileKind.PipeWrite => WritePipe(p, f.Pipe!, buf, n),
            FileKind.Device => n,                 // null, zero, random: the bytes vanish unread (as Linux's)
            _ => WriteFile(p, f, buf, n),
        };
        if (r > 0 && p.TrackArmed) p.BytesWritten += (ulong)r;
        return r;
    }

    private long WriteConsole(PProcess p, int fd, UserPtr buf, int n)
    {
        var data = new byte[n];
        if (!CopyIn(p, buf, data)) return -EFAULT;
        Console.Write(fd, data);
        return n;
    }

    private long WriteFile(PProcess p, OpenFile f, UserPtr buf, int n)
    {
        var node = f.Node!;
        var data = new byte[n];
        if (!CopyIn(p, buf, data)) return -EFAULT;
        if ((f.Flags & O_APPEND) != 0) f.Offset = node.Length;
        long end = f.Offset + n;
        if (end > MaxFileSize) return -EFBIG;
        if (!Fs.Reserve(node, end))
        {
            // the file system is full: write what still fits, as a short count, or nothing
            long fits = Fs.Room(node) - f.Offset;
            if (fits <= 0 || !Fs.Reserve(node, f.Offset + fits)) return -ENOSPC;
            n = (int)fits;
            end = f.Offset + n;
        }
        data.AsSpan(0, n).CopyTo(node.Data.AsSpan((int)f.Offset));
        if (end > node.Length) node.Length = (int)end;
        node.MtimeNs = (long)_m.Clock;
        f.Offset = end;
        return n;
    }

    /// <summary>
    /// open(path, flags, mode): opens (with O_CREAT creates) the file at <paramref name="path"/> and
    /// returns the lowest free descriptor. O_TRUNC empties a file opened for writing; O_EXCL with
    /// O_CREAT refuses an existing one; a directory opens read-only (for getdents64). Symbolic links
    /// are followed (O_NOFOLLOW: a final link is -ELOOP). A new file gets mode's permission bits less
    /// the umask (022), shown by stat, not enforced. /dev/tty opens as the console; /proc's files
    /// are made from the kernel's state at open, read-only. Linux: open(2).
    /// Fails: -EINVAL (unknown flags, or O_WRONLY|O_RDWR), -EFAULT, -ENAMETOOLONG, -ENOENT, -EMFILE,
    /// -ENOTDIR (a parent is a file, or O_DIRECTORY on a file), -EEXIST, -EISDIR (a directory for
    /// writing), -ENOSPC (no room for a new file in the file system's quota), -ELOOP, -EACCES
    /// (creating or writing in /proc).
    /// </summary>
    private long Open(PProcess p, UserPtr pathPtr, ulong flagsArg, uint mode)
    {
        if (!OpenFlagsValid(flagsArg)) return -EINVAL;
        long e = ReadPath(p, pathPtr, out string path);
        if (e != 0) return e;
        return OpenPath(p, path, flagsArg, mode);
    }

    /// <summary>Known flags, and not both O_WRONLY and O_RDWR.</summary>
    private static bool OpenFlagsValid(ulong flagsArg)
    {
        const OpenFlags known = O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK
                                | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_DSYNC | O_SYNC;
        return (flagsArg & ~(ulong)(uint)known) == 0 && ((OpenFlags)(int)flagsArg & O_ACCMODE) != O_ACCMODE;
    }

    /// <summary>open of a path already read from the caller (open and openat).</summary>
    private long OpenPath(PProcess p, string path, ulong flagsArg, uint mode = 0x1A4)
    {
        if (!OpenFlagsValid(flagsArg)) return -EINVAL;
        var flags = (OpenFlags)(int)flagsArg;
        int fd = LowestFreeFd(p);
        if (fd < 0) return -EMFILE;
        bool excl = (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
        if (!excl && (flags & O_NOFOLLOW) == 0 && ReopenThroughFdLink(p, path, flags) is { } reopened)
        {
            p.Fds[fd] = reopened;
            p.CloseOnExec[fd] = (flags & O_CLOEXEC) != 0;
            return fd;
        }
        long e = Resolve(p, path, follow: (flags & O_NOFOLLOW) == 0 && !excl, out string full, out var node);
        if (e != 0) return e;
        var access = flags & O_ACCMODE;
        if (node is null)
        {
            if ((flags & O_CREAT) == 0) return -ENOENT;
            if (InProc(full)) return -EACCES;
            if (!Fs.HasRoomFor(full)) return -ENOSPC;
            node = Fs.Create(full)!;
            node.Perm = mode & 0xFFF & ~p.Umask;
            node.MtimeNs = (long)_m.Clock;
        }
        else if (excl) return -EEXIST;
        if (node.LinkTarget is not null) return -ELOOP;          // O_NOFOLLOW on a link
        if (node.ProcPath is not null && access != O_RDONLY) return -EACCES;
        if (node.Rdev == PosixFs.DevTty)
        {
            if ((flags & O_DIRECTORY) != 0) return -ENOTDIR;
            p.Fds[fd] = new OpenFile { Kind = FileKind.Console, Readable = access != O_WRONLY, Writable = access != O_RDONLY, Flags = flags & ~O_CLOEXEC };
            p.CloseOnExec[fd] = (flags & O_CLOEXEC) != 0;
            return fd;
        }
        if (node.IsDir)
        {
            if (access != O_RDONLY) return -EISDIR;
            p.Fds[fd] = new OpenFile { Kind = FileKind.Dir, Node = node, Readable = true, Flags = flags & ~O_CLOEXEC };
            p.CloseOnExec[fd] = (flags & O_CLOEXEC) != 0;
            Fs.Opened(node);
            return fd;
        }
        if ((flags & O_DIRECTORY) != 0) return -ENOTDIR;
        if ((flags & O_TRUNC) != 0 && access != O_RDONLY && node.Rdev == 0) Fs.Truncate(node);
        p.Fds[fd] = new OpenFile { Kind = node.Rdev != 0 ? FileKind.Device : FileKind.File, Node = node, Flags = flags & ~O_CLOEXEC, Readable = access != O_WRONLY, Writable = access != O_RDONLY };
        p.CloseOnExec[fd] = (flags & O_CLOEXEC) != 0;
        Fs.Opened(node);
        return fd;
    }

    /// <summary>close(fd): frees the descriptor (see <see cref="CloseFd"/>). Linux: close(2). Fails: -EBADF.</summary>
    private long Close(PProcess p, ulong fd)
    {
        if (Fd(p, fd) is null) return -EBADF;
        CloseFd(p, (int)fd);
        return 0;
    }

    /// <summary>unlink(path): removes a file's name; descriptors open on it keep working. Linux:
    /// unlink(2). Fails: -EFAULT, -ENAMETOOLONG, -ENOENT, -EISDIR (a directory: Linux says EISDIR too).</summary>
    private long Unlink(PProcess p, UserPtr pathPtr) => UnlinkAt(p, AT_FDCWD, pathPtr, 0);

    /// <summary>
    /// lseek(fd, offset, whence): sets the file offset to <paramref name="off"/> from the start
    /// (SEEK_SET), the current offset (SEEK_CUR) or the end (SEEK_END), and returns it; beyond the end
    /// is allowed. Linux: lseek(2). Fails: -EBADF, -ESPIPE (the console or a pipe), -EINVAL (bad whence,
    /// or a negative result).
    /// </summary>
    private long Lseek(PProcess p, ulong fd, long off, ulong whence)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        if (f.Kind == FileKind.Device) return 0;                 // as Linux's null and zero
        if (f.Kind != FileKind.File && f.Kind != FileKind.Dir) return -ESPIPE;
        long b = whence switch { Seek.SEEK_SET => 0, Seek.SEEK_CUR => f.Offset, Seek.SEEK_END => f.Node!.Length, _ => long.MinValue };
        if (b == long.MinValue) return -EINVAL;
        long n = b + off;
        if (n < 0) return -EINVAL;
        f.Offset = n;
        return n;
    }

    /// <summary>Fills a struct stat (Linux x86-64 layout, 144 bytes: st_ino at 8, st_nlink 16, st_mode
    /// 24, st_rdev 40, st_size 48, st_blksize 56, st_blocks 64, st_atim 72, st_mtim 88, st_ctim 104)
    /// at <paramref name="dst"/>: the type from the inode (symbolic link, character device with
    /// Linux's numbers, directory, file) or the open file's kind, the permission bits chmod set,
    /// st_nlink the names a file has (a directory: 2 and its subdirectories), /proc's files size 0
    /// as on Linux. 0 or -EFAULT.</summary>
    private long WriteStat(PProcess p, UserPtr dst, FileKind kind, Inode? node)
    {
        var st = new byte[144];
        uint mode = node switch
        {
            { LinkTarget: not null } => S_IFLNK | 0x1FF,                // lrwxrwxrwx
            { Rdev: not 0 } => S_IFCHR | node.Perm,
            { IsDir: true } => S_IFDIR | node.Perm,
            not null when kind == FileKind.File => S_IFREG | node.Perm,
            _ => kind switch
            {
                FileKind.Console => S_IFCHR | 0x190,                        // crw--w----
                FileKind.PipeRead or FileKind.PipeWrite => S_IFIFO | 0x180, // prw-------
                FileKind.Dir => S_IFDIR | 0x1ED,                            // drwxr-xr-x
                _ => S_IFREG | 0x1ED,                                       // -rwxr-xr-x
            },
        };
        long nlink = node is null || node.ProcPath is not null ? 1
            : node.IsDir ? 2 + (PathOfNode(node) is { } dir ? Fs.List(dir).Count(e => e.Node.IsDir) : 0)
            : node.Links;
        long size = node is null || node.IsDir || node.Rdev != 0 || (node.ProcPath is not null && node.LinkTarget is null) ? 0 : node.Length;
        // the console is /dev/tty's device (ttyname: readlink of /proc/self/fd/0, then the same inode and rdev)
        var tty = node is null && kind == FileKind.Console ? Fs.Get("/dev/tty") : null;
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(8), node?.Ino ?? tty?.Ino ?? 0);
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(16), nlink);
        BinaryPrimitives.WriteUInt32LittleEndian(st.AsSpan(24), mode);
        if (node?.ProcPath is not null)         // a process's /proc files are its user's (ps shows the owner)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(st.AsSpan(28), (uint)Identity.Uid);
            BinaryPrimitives.WriteUInt32LittleEndian(st.AsSpan(32), (uint)Identity.Gid);
        }
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(40), node?.Rdev ?? (kind == FileKind.Console ? PosixFs.DevTty : 0));
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(48), size);
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(56), 4096);
        BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(64), (size + 511) / 512);
        long atime = node?.AtimeNs ?? 0, mtime = node?.MtimeNs ?? 0;
        for (int i = 0; i < 3; i++)
        {
            long t = i == 0 ? atime : mtime;
            BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(72 + 16 * i), t / 1_000_000_000);
            BinaryPrimitives.WriteInt64LittleEndian(st.AsSpan(80 + 16 * i), t % 1_000_000_000);
        }
        return CopyOut(p, dst, st) ? 0 : -EFAULT;
    }

    /// <summary>fstat(fd, st): the open file's type, inode number and size into *st. Linux: fstat(2).
    /// Fails: -EBADF, -EFAULT.</summary>
    private long Fstat(PProcess p, ulong fd, UserPtr st)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        return WriteStat(p, st, f.Kind, f.Node);
    }

    /// <summary>stat(path, st): as fstat for the file at <paramref name="pathPtr"/>. Linux: stat(2).
    /// Fails: -EFAULT, -ENAMETOOLONG, -ENOENT.</summary>
    private long Stat(PProcess p, UserPtr pathPtr, UserPtr st, bool follow = true) =>
        NewFstatAt(p, AT_FDCWD, pathPtr, st, follow ? 0 : AT_SYMLINK_NOFOLLOW);

    /// <summary>read of a character device: /dev/null is at its end; /dev/zero gives zeros;
    /// /dev/random and /dev/urandom give getrandom's bytes (deterministic per machine seed).</summary>
    private long ReadDevice(PProcess p, Inode node, UserPtr buf, int n)
    {
        switch (node.Rdev)
        {
            case PosixFs.DevNull: return 0;
            case PosixFs.DevRandom or PosixFs.DevUrandom: return GetRandom(p, buf, (ulong)n, 0);
            default:
                if (!CanWrite(p, buf, (ulong)n)) return -EFAULT;
                var zeros = new byte[Math.Min(n, (int)Page)];
                for (int done = 0; done < n; done += zeros.Length)
                    CopyOut(p, buf + (ulong)done, zeros.AsSpan(0, Math.Min(zeros.Length, n - done)));
                return n;
        }
    }


    /// <summary>
    /// getdents64(fd, buf, count): fills <paramref name="buf"/> with as many struct linux_dirent64
    /// records (d_ino, d_off, d_reclen, d_type, NUL-terminated d_name, 8-byte aligned) as fit, from the
    /// directory's offset ("." and ".." first, then the names in order); returns the bytes used, 0 at
    /// the end. Linux: getdents64(2).
    /// Fails: -EBADF, -ENOTDIR, -EINVAL (the next record does not fit), -EFAULT.
    /// </summary>
    private long Getdents64(PProcess p, ulong fd, UserPtr buf, ulong count)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        if (f.Kind != FileKind.Dir) return -ENOTDIR;
        var dirPath = PathOfNode(f.Node!);
        var entries = dirPath is null ? new List<(string Name, Inode Node)>()     // removed while open: empty
            : f.Node!.ProcPath is not null ? ProcList(p, dirPath) : Fs.List(dirPath);
        if (dirPath == "/" && ProcNode(p, "/proc") is { } proc)          // /proc is mounted on /
        {
            entries = [.. entries, ("proc", proc)];
            entries.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        }
        var all = new List<(string, Inode?, bool)> { (".", f.Node, true), ("..", null, true) };
        all.AddRange(entries.Select(x => (x.Name, (Inode?)x.Node, x.Node.IsDir)));
        static byte TypeOf(Inode? node, bool isDir) =>
            isDir ? DT_DIR : node?.LinkTarget is not null ? (byte)10 /* DT_LNK */ : node?.Rdev is not (null or 0) ? (byte)2 /* DT_CHR */ : DT_REG;
        var outBuf = new List<byte>();
        long idx = f.Offset;
        while (idx < all.Count)
        {
            var (name, node, isDir) = all[(int)idx];
            var nb = Encoding.UTF8.GetBytes(name);
            int reclen = (19 + nb.Length + 1 + 7) & ~7;
            if ((ulong)(outBuf.Count + reclen) > count) break;
            var rec = new byte[reclen];
            BinaryPrimitives.WriteInt64LittleEndian(rec, node?.Ino ?? 1);
            BinaryPrimitives.WriteInt64LittleEndian(rec.AsSpan(8), idx + 1);
            BinaryPrimitives.WriteUInt16LittleEndian(rec.AsSpan(16), (ushort)reclen);
            rec[18] = TypeOf(node, isDir);
            nb.CopyTo(rec, 19);
            outBuf.AddRange(rec);
            idx++;
        }
        if (outBuf.Count == 0 && idx < all.Count) return -EINVAL;
        if (outBuf.Count > 0 && !CopyOut(p, buf, outBuf.ToArray())) return -EFAULT;
        f.Offset = idx;
        return outBuf.Count;
    }

    /// <summary>dup(fd): a new descriptor, the lowest free, for the same open file. Linux: dup(2).
    /// Fails: -EBADF, -EMFILE.</summary>
    private long Dup(PProcess p, ulong fd)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        int n = LowestFreeFd(p);
        if (n < 0) return -EMFILE;
        f.Refs++;
        p.Fds[n] = f;
        return n;
    }

    /// <summary>dup2(fd, fd2): makes <paramref name="fd2"/> a descriptor for fd's open file, closing what
    /// fd2 had; returns fd2 (nothing happens when they are equal). Linux: dup2(2). Fails: -EBADF.</summary>
    private long Dup2(PProcess p, ulong fd, ulong fd2)
    {
        var f = Fd(p, fd);
        if (f is null || fd2 >= MaxFds) return -EBADF;
        if (fd == fd2) return (long)fd2;
        CloseFd(p, (int)fd2);
        f.Refs++;
        p.Fds[fd2] = f;       // CloseFd cleared FD_CLOEXEC: the new descriptor does not have it
        return (long)fd2;
    }

    /// <summary>dup3(fd, fd2, flags): as dup2, but fd equal to fd2 is an error, and O_CLOEXEC in
    /// <paramref name="flags"/> sets FD_CLOEXEC on fd2. Linux: dup3(2). Fails: -EBADF, -EINVAL
    /// (fd == fd2, or flags other than O_CLOEXEC).</summary>
    private long Dup3(PProcess p, ulong fd, ulong fd2, ulong flags)
    {
        if ((flags & ~(ulong)O_CLOEXEC) != 0) return -EINVAL;
        if (fd == fd2) return Fd(p, fd) is null ? -EBADF : -EINVAL;
        long r = Dup2(p, fd, fd2);
        if (r >= 0) p.CloseOnExec[r] = flags != 0;
        return r;
    }

    // =========================================================================================
    // vectored and positioned I/O

    /// <summary>
    /// readv(fd, iov, iovcnt) / writev: read or write through the iovcnt struct iovec {base, len}
    /// at <paramref name="iov"/>, in order, as one call: returns the bytes moved. A console or pipe
    /// read stops after the first buffer that got data; a transfer that would block after some
    /// bytes moved returns those bytes instead (so a restarted call never repeats a part). Linux:
    /// readv(2), writev(2). Fails: -EINVAL (iovcnt beyond 1024, or a length sum overflowing), -EFAULT
    /// (iov unreadable), and read's or write's errors when nothing was moved.
    /// </summary>
    private long ReadWriteV(PProcess p, ulong fd, UserPtr iov, ulong iovcnt, bool write)
    {
        if (iovcnt > 1024) return -EINVAL;
        var f = Fd(p, fd);
        if (f is null || (write ? !f.Writable : !f.Readable)) return -EBADF;
        var vec = new byte[16 * (int)iovcnt];
        if (!CopyIn(p, iov, vec)) return -EFAULT;
        long total = 0;
        for (int i = 0; i < (int)iovcnt; i++)
        {
            ulong b = BinaryPrimitives.ReadUInt64LittleEndian(vec.AsSpan(16 * i)), n = BinaryPrimitives.ReadUInt64LittleEndian(vec.AsSpan(16 * i + 8));
            if ((long)n < 0 || total + (long)n < total) return total > 0 ? total : -EINVAL;
            if (n == 0) continue;
            long r = write ? Write(p, fd, new UserPtr(b), n) : Read(p, fd, new UserPtr(b), n);
            if (p.Restarting)
            {
                if (total == 0) return 0;       // blocked before moving anything: the call restarts whole
                Unblock(p);
                return total;
            }
            if (r < 0) return total > 0 ? total : r;
            total += r;
            if ((ulong)r < n) break;
            if (!write && f.Kind is FileKind.Console or FileKind.PipeRead) break;
        }
        return total;
    }

    /// <summary>
    /// pread64(fd, buf, count, off) / pwrite64: read or write at offset <paramref name="off"/> without
    /// moving the file's offset (pwrite on an O_APPEND file appends, as Linux's does). Linux:
    /// pread(2), pwrite(2). Fails: -EBADF, -ESPIPE (the console or a pipe), -EISDIR, -EINVAL
    /// (a negative offset), and read's or write's errors.
    /// </summary>
    private long PreadPwrite(PProcess p, ulong fd, UserPtr buf, ulong count, long off, bool write)
    {
        var f = Fd(p, fd);
        if (f is null || (write ? !f.Writable : !f.Readable)) return -EBADF;
        if (f.Kind == FileKind.Dir) return -EISDIR;
        if (f.Kind != FileKind.File) return -ESPIPE;
        if (off < 0) return -EINVAL;
        long saved = f.Offset;
        f.Offset = off;
        long r = write ? Write(p, fd, buf, count) : Read(p, fd, buf, count);
        f.Offset = saved;
        return r;
    }

    // =========================================================================================
    // control: fcntl, ioctl

    private const int F_DUPFD = 0, F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4, F_DUPFD_CLOEXEC = 1030;
    private const int FD_CLOEXEC = 1;

    /// <summary>
    /// fcntl(fd, cmd, arg): F_DUPFD / F_DUPFD_CLOEXEC (the lowest free descriptor &gt;= arg, for the
    /// same open file), F_GETFD / F_SETFD (FD_CLOEXEC), F_GETFL (access mode and status flags),
    /// F_SETFL (O_APPEND and O_NONBLOCK may change; O_NONBLOCK is recorded, reads still block).
    /// Linux: fcntl(2). Fails: -EBADF, -EINVAL (another command, arg out of range), -EMFILE.
    /// </summary>
    private long Fcntl(PProcess p, ulong fd, int cmd, ulong arg)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        switch (cmd)
        {
            case F_DUPFD or F_DUPFD_CLOEXEC:
                if (arg >= MaxFds) return -EINVAL;
                int n = LowestFreeFd(p, (int)arg);
                if (n < 0) return -EMFILE;
                f.Refs++;
                p.Fds[n] = f;
                p.CloseOnExec[n] = cmd == F_DUPFD_CLOEXEC;
                return n;
            case F_GETFD:
                return p.CloseOnExec[fd] ? FD_CLOEXEC : 0;
            case F_SETFD:
                p.CloseOnExec[fd] = (arg & FD_CLOEXEC) != 0;
                return 0;
            case F_GETFL:
                var access = f.Readable && f.Writable ? O_RDWR : f.Writable ? O_WRONLY : O_RDONLY;
                return (long)(access | (f.Flags & ~(O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC)));
            case F_SETFL:
                const OpenFlags changeable = O_APPEND | O_NONBLOCK;
                f.Flags = (f.Flags & ~changeable) | ((OpenFlags)(int)arg & changeable);
                return 0;
            default:
                return -EINVAL;
        }
    }

    /// <summary>
    /// ioctl(fd, request, arg): on the console, the terminal requests (PosixKernel.Tty.cs: TtyIoctl);
    /// any request on a file or pipe, -ENOTTY. Linux: ioctl(2), ioctl_tty(2). Fails: -EBADF, -ENOTTY,
    /// -EFAULT, and as TtyIoctl.
    /// </summary>
    private long Ioctl(PProcess p, ulong fd, ulong request, UserPtr arg)
    {
        var f = Fd(p, fd);
        if (f is null) return -EBADF;
        if (f.Kind != FileKind.Console) return -ENOTTY;
        return TtyIoctl(p, request, arg);
    }
}
