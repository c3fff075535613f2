namespace Lab.Kernel.Posix;

// Snapshot version 5's part for the file system's names and /proc (PosixKernel.Snapshot.cs calls
// these after the processes): per inode its symbolic link target, device number, permission bits,
// times and /proc path; per process its executable, argv, CPU time and umask; per open file its console stream.
public sealed partial class PosixKernel
{
    private static void SaveNames(BinaryWriter w, IReadOnlyList<Inode> nodes, IReadOnlyList<PProcess> procs, IReadOnlyList<OpenFile> files)
    {
        foreach (var n in nodes)
        {
            WriteNullableString(w, n.LinkTarget);
            w.Write(n.Rdev);
            w.Write(n.Perm);
            w.Write(n.AtimeNs);
            w.Write(n.MtimeNs);
            WriteNullableString(w, n.ProcPath);
        }
        foreach (var p in procs)
        {
            WriteString(w, p.Exe);
            w.Write(p.CmdLine.Length);
            w.Write(p.CmdLine);
            w.Write(p.CpuNs);
            w.Write(p.RanAt);
            w.Write(p.Umask);
        }
        foreach (var f in files) w.Write(f.ConsoleStream);
    }

    private static void LoadNames(BinaryReader r, Reader s, Inode[] nodes, List<PProcess> procs, OpenFile[] files)
    {
        foreach (var n in nodes)
        {
            n.LinkTarget = s.NullableString();
            n.Rdev = r.ReadInt32();
            n.Perm = r.ReadUInt32();
            n.AtimeNs = r.ReadInt64();
            n.MtimeNs = r.ReadInt64();
            n.ProcPath = s.NullableString();
            bool knownDevice = n.Rdev is 0 or PosixFs.DevNull or PosixFs.DevZero or PosixFs.DevRandom or PosixFs.DevUrandom or PosixFs.DevTty;
            if (!knownDevice || n.Perm > 0xFFF || (n.IsDir && (n.LinkTarget is not null || n.Rdev != 0)))
                throw new InvalidDataException($"inode {n.Ino}: inconsistent link, device or mode");
            if (n.ProcPath is not null) n.SharedData = true;      // /proc text costs the file system nothing
        }
        foreach (var p in procs)
        {
            p.Exe = s.String();
            p.CmdLine = s.Bytes(s.Count("command line"));
            p.CpuNs = r.ReadUInt64();
            p.RanAt = r.ReadUInt64();
            if ((p.Umask = r.ReadUInt32()) > 0x1FF) throw new InvalidDataException($"pid {p.Pid}: bad umask");
        }
        foreach (var f in files)
            if ((f.ConsoleStream = r.ReadInt32()) is < -1 or > 2) throw new InvalidDataException("an open file's console stream is out of range");
    }
}
