using System.Security.Cryptography;
using System.Text;
using Lab.Kernel.Common;
using Lab.Machine;

namespace Lab.Kernel.Posix;

/// <summary>
/// Plumbing: snapshots of the POSIX profile, kept apart from the kernel core that students read.
/// A snapshot is everything the kernel, file system and console hold, followed by the machine's own
/// snapshot (CPU, TLB, memory, clock); restoring it continues exactly as the original would.
///
/// Format (little-endian, BinaryWriter encodings; strings are an int32 byte count and UTF-8):
///   int32 magic "LPSX", int32 version (4), uint64 memory size,
///   inodes, directory tree, pipes, open files, segment lists, processes (objects that are shared
///   in the kernel, as an open file shared by fork or dup, are written once and referred to by index),
///   kernel scalars and page refcounts, faults (int64 total, then the last FaultLog.Capacity),
///   console, the machine snapshot (without the contents of free pages; it runs up to the hash),
///   and a SHA-256 of everything before it, so that a damaged file is refused rather than half-believed.
/// Version 2 (still read) kept every fault and length-prefixed the machine snapshot; version 3 (still
/// read) had no per-process current directory, FD_CLOEXEC flags, clear-child-tid and robust-list addresses, signal mask
/// and recorded signal actions (restored as none).
/// Any state added to the kernel (a field of PosixKernel, PProcess, OpenFile, Pipe, Inode, PosixFs or
/// ConsoleIo) must be added here too, with the version bumped; the round-trip test (save, restore,
/// save again gives the same bytes) cannot see a field that is saved nowhere.
/// </summary>
public sealed partial class PosixKernel
{
    private const int SnapshotMagic = 0x5853504C;   // "LPSX"
    private const int SnapshotVersion = 5;   // 2: page owners; 3: bounded faults, machine part up to the hash; 4: cloexec, tids, signal state; 5: signal delivery, jobs, terminal, per-process fpstate; links, devices, modes, times, /proc state (SaveNames)
    /// <summary>The oldest version <see cref="RestoreSnapshot"/> still reads.</summary>
    private const int OldestSnapshotVersion = 2;
    private const int HashSize = 32;

    /// <summary>The process table, for tests that compare object sharing across a restore.</summary>
    internal IReadOnlyList<PProcess> Processes => _procs;

    /// <summary>Saves the kernel and the machine (see the format above) to bytes.</summary>
    internal byte[] SaveSnapshot(int formatVersion = SnapshotVersion)
    {
        using var ms = new MemoryStream();
        SaveSnapshot(ms, formatVersion);
        return ms.ToArray();
    }

    /// <summary>
    /// Writes the snapshot to <paramref name="output"/> (left open) as it is made, hashing as it goes:
    /// file contents and memory pages go from where they are straight to the stream, so saving needs
    /// little memory beyond the machine itself, whatever its size. <paramref name="formatVersion"/>
    /// other than the current one is for tests that prove old snapshots still restore.
    /// </summary>
    internal void SaveSnapshot(Stream output, int formatVersion = SnapshotVersion)
    {
        if (formatVersion is < OldestSnapshotVersion or > SnapshotVersion) throw new ArgumentOutOfRangeException(nameof(formatVersion));
        FlushFpState();                              // the images saved are the processes' state now
        var hashing = new HashingStream(output);    // disposed with the BufferedStream on it
        using (var buffered = new BufferedStream(hashing, 1 << 16))
        using (var w = new BinaryWriter(buffered, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(SnapshotMagic);
            w.Write(formatVersion);
            w.Write(_m.Memory.Size);

            // Give every shared object an index, in a fixed order (tree first, then descriptors),
            // so that each is written once and the sharing can be rebuilt.
            var nodes = new Indexer<Inode>();
            var pipes = new Indexer<Pipe>();
            var files = new Indexer<OpenFile>();
            var segLists = new Indexer<List<(ulong Start, ulong End, bool Writable)>>();
            var tree = Fs.Entries.ToList();
            foreach (var (_, node) in tree) nodes.Id(node);
            foreach (var p in _procs)
            {
                segLists.Id(p.Segments);
                foreach (var f in p.Fds)
                {
                    if (f is null) continue;
                    files.Id(f);
                    nodes.Id(f.Node);          // also inodes unlinked while open
                    pipes.Id(f.Pipe);
                }
            }

            w.Write(nodes.Items.Count);
            foreach (var n in nodes.Items)
            {
                w.Write(n.IsDir);
                w.Write(n.Ino);
                w.Write(n.Length);
                // The whole buffer (its size is what the file system is charged), past the end zero.
                w.Write(n.Data.Length);
                w.Write(n.Data);
            }
            w.Write(tree.Count);
            foreach (var (path, node) in tree) { WriteString(w, path); w.Write(nodes.Id(node)); }
            w.Write(Fs.NextIno);

            w.Write(pipes.Items.Count);
            foreach (var pipe in pipes.Items)
            {
                w.Write(pipe.Readers);
                w.Write(pipe.Writers);
                w.Write(pipe.Buffer.Count);
                w.Write(pipe.Buffer.ToArray());
            }

            w.Write(files.Items.Count);
            foreach (var f in files.Items)
            {
                w.Write((byte)f.Kind);
                w.Write(nodes.Id(f.Node));
                w.Write(pipes.Id(f.Pipe));
                w.Write(f.Offset);
                w.Write((int)f.Flags);
                w.Write(f.Refs);
                w.Write(f.Readable);
                w.Write(f.Writable);
            }

            // fork shares the segment list between parent and child; kept shared for fidelity
            w.Write(segLists.Items.Count);
            foreach (var list in segLists.Items)
            {
                w.Write(list.Count);
                foreach (var (start, end, writable) in list) { w.Write(start); w.Write(end); w.Write(writable); }
            }

            w.Write(_procs.Count);
            foreach (var p in _procs) SaveProcess(w, p, files, segLists, formatVersion);
            if (formatVersion >= 5) SaveNames(w, nodes.Items, _procs, files.Items);

            w.Write(_pages.Count);
            foreach (int r in _pages.Refcounts) w.Write(r);
            foreach (int o in _pages.Owners) w.Write(o);
            w.Write(_pages.Hint);
            w.Write(_rr);
            w.Write(_nextPid);
            w.Write(_cur is null ? -1 : _procs.IndexOf(_cur));
            w.Write(_runNext is null ? -1 : _procs.IndexOf(_runNext));
            WriteNullableInt(w, MainPid);
            WriteNullableInt(w, MainStatus);
            WriteNullableString(w, KernelError);
            w.Write(IdleWaitingForInput);
            w.Write(CopyOnWriteFork);
            if (formatVersion >= 3) w.Write(Faults.Total);
            w.Write(Faults.Count);
            foreach (var fault in Faults)
            {
                w.Write(fault.Pid);
                WriteString(w, fault.Name);
                w.Write(fault.Signal);
                WriteString(w, fault.Description);
            }

            // The console: pending input and its closed flag, and the captured output (kept, so that
            // OutputText of a restored machine is the whole session's output, as it would have been).
            byte[] input = Console.PendingInput();
            w.Write(input.Length);
            w.Write(input);
            w.Write(Console.InputClosed);
            w.Write(Console.CaptureOutput);
            byte[] captured = Console.CapturedBytes();
            w.Write(captured.Length);
            w.Write(captured);
            if (formatVersion >= 5) SaveTty(w);

            // Free pages are left out: Alloc zeroes a page before handing it out, so what a freed page
            // still holds can never be seen again (this makes a snapshot MBs instead of all of memory).
            Func<ulong, bool> inUse = page => page >= (ulong)_pages.Count || _pages.Refcount((int)page) != 0;
            if (formatVersion >= 3)
            {
                w.Flush();
                _m.SaveState(buffered, inUse);
            }
            else
            {
                byte[] machine = _m.SaveState(inUse);    // version 2 (tests only) prefixed the machine part with its length
                w.Write(machine.Length);
                w.Write(machine);
            }
        }
        output.Write(hashing.Hash());
    }

    private static void SaveProcess(BinaryWriter w, PProcess p, Indexer<OpenFile> files,
        Indexer<List<(ulong Start, ulong End, bool Writable)>> segLists, int formatVersion)
    {
        w.Write(p.Pid);
        w.Write(p.Parent);
        w.Write((byte)p.State);
        w.Write(p.Root.Value);
        WriteString(w, p.Name);
        foreach (ulong r in p.Regs) w.Write(r);
        w.Write(p.Rip);
        w.Write(p.RFlags);
        w.Write(p.FsBase);
        w.Write(p.GsBase);
        int open = p.Fds.Count(f => f is not null);
        w.Write(open);
        for (int fd = 0; fd < p.Fds.Length; fd++)
            if (p.Fds[fd] is { } f) { w.Write(fd); w.Write(files.Id(f)); }
        w.Write(p.BrkStart);
        w.Write(p.Brk);
        w.Write(segLists.Id(p.Segments));
        w.Write(p.WaitStatus);
        w.Write(p.ExitCode);
        w.Write(p.Restarting);
        w.Write(p.WakeAt);
        w.Write(p.Tracked);
        w.Write(p.TrackArmed);
        w.Write(p.Counts is not null);
        if (p.Counts is not null) { w.Write(p.Counts.Length); foreach (long c in p.Counts) w.Write(c); }
        w.Write(p.BytesRead);
        w.Write(p.BytesWritten);
        w.Write(p.TrackRecord is not null);
        if (p.TrackRecord is not null) { w.Write(p.TrackRecord.Length); w.Write(p.TrackRecord); }
        if (formatVersion < 4) return;
        WriteString(w, p.Cwd);
        for (int fd = 0; fd < MaxFds; fd++) w.Write(p.CloseOnExec[fd]);
        w.Write(p.ClearChildTid);
        w.Write(p.RobustList);
        w.Write(p.SigMask);
        w.Write(p.SigActions is not null);
        if (p.SigActions is not null)
            foreach (var a in p.SigActions) { w.Write(a.Handler); w.Write(a.Flags); w.Write(a.Restorer); w.Write(a.Mask); }
        if (formatVersion >= 5) SaveSignalState(w, p);
    }

    /// <summary>Restores a snapshot held in memory (see the stream overload).</summary>
    internal void RestoreSnapshot(ReadOnlySpan<byte> state)
    {
        using var ms = new MemoryStream(state.ToArray(), writable: false);
        RestoreSnapshot(ms);
    }

    /// <summary>
    /// Restores the snapshot that runs from <paramref name="input"/>'s position to its end (a seekable
    /// stream, e.g. the file). First the hash of the whole body is checked, reading it in chunks; then
    /// the kernel part is read and checked into locals; then the machine part is read straight into
    /// the machine (with a way back: the machine's state before, which for the fresh machine a restore
    /// normally targets is small). The live kernel, file system and console change only once
    /// everything has been accepted: a refused snapshot (InvalidDataException, EndOfStreamException)
    /// leaves this machine as it was.
    /// </summary>
    internal void RestoreSnapshot(Stream input)
    {
        if (!input.CanSeek) throw new ArgumentException("a snapshot is restored from a seekable stream", nameof(input));
        long start = input.Position, end = input.Length;
        Span<byte> header = stackalloc byte[8];
        if (end - start < 8) throw new EndOfStreamException("snapshot truncated");
        input.ReadExactly(header);
        if (BitConverter.ToInt32(header) != SnapshotMagic) throw new InvalidDataException("not a Lab POSIX snapshot");
        int version = BitConverter.ToInt32(header[4..]);
        if (version is < OldestSnapshotVersion or > SnapshotVersion)
            throw new InvalidDataException($"unsupported POSIX snapshot version {version} (this server reads {OldestSnapshotVersion} to {SnapshotVersion})");
        if (end - start < 8 + 8 + HashSize) throw new EndOfStreamException("snapshot truncated");
        long bodyEnd = end - HashSize;
        input.Position = start;
        if (!HashingStream.HashOf(input, bodyEnd - start).AsSpan().SequenceEqual(ReadHash(input)))
            throw new InvalidDataException("POSIX snapshot damaged or truncated (checksum mismatch)");

        input.Position = start + 8;   // magic and version, checked above
        using var r = new BinaryReader(input, Encoding.UTF8, leaveOpen: true);
        var s = new Reader(r, input, bodyEnd);
        ulong memSize = r.ReadUInt64();
        if (memSize != _m.Memory.Size)
            throw new InvalidDataException(
                $"the snapshot is of a machine with {memSize >> 20} MiB of memory ({memSize} bytes); this one has {_m.Memory.Size >> 20} MiB ({_m.Memory.Size} bytes)");

        var nodes = new Inode[s.Count("inode")];
        for (int i = 0; i < nodes.Length; i++)
        {
            var n = new Inode { IsDir = r.ReadBoolean(), Ino = r.ReadInt64() };
            n.Length = r.ReadInt32();
            n.Data = s.Bytes(s.Count("inode data"));
            if (n.Length < 0 || n.Length > n.Data.Length) throw new InvalidDataException($"inode {i}: length {n.Length} beyond its data");
            Array.Clear(n.Data, n.Length, n.Data.Length - n.Length);   // past the end is zero (version 2 could keep old bytes there)
            nodes[i] = n;
        }
        var tree = new List<(string, Inode)>();
        var paths = new HashSet<string>(StringComparer.Ordinal);
        var inTree = new HashSet<Inode>(ReferenceEqualityComparer.Instance);
        int treeCount = s.Count("directory entry");
        for (int i = 0; i < treeCount; i++)
        {
            string path = s.String();
            var node = nodes[s.Index(nodes.Length, "inode")];
            if (PosixFs.Normalize(path) != path || !paths.Add(path)) throw new InvalidDataException($"bad or repeated path '{path}'");
            if (!inTree.Add(node) && (version < 5 || node.IsDir)) throw new InvalidDataException($"inode at '{path}' also at another path");
            tree.Add((path, node));
        }
        if (!paths.Contains("/")) throw new InvalidDataException("no root directory");
        long nextIno = r.ReadInt64();

        var pipes = new Pipe[s.Count("pipe")];
        for (int i = 0; i < pipes.Length; i++)
        {
            var pipe = new Pipe { Readers = r.ReadInt32(), Writers = r.ReadInt32() };
            int len = s.Count("pipe buffer");
            if (pipe.Readers < 0 || pipe.Writers < 0 || len > Posix.Pipe.Capacity) throw new InvalidDataException($"pipe {i}: bad counts");
            foreach (byte b in s.Bytes(len)) pipe.Buffer.Enqueue(b);
            pipes[i] = pipe;
        }

        var files = new OpenFile[s.Count("open file")];
        for (int i = 0; i < files.Length; i++)
        {
            var f = new OpenFile { Kind = (FileKind)r.ReadByte() };
            int node = s.OptionalIndex(nodes.Length, "inode"), pipe = s.OptionalIndex(pipes.Length, "pipe");
            f.Node = node < 0 ? null : nodes[node];
            f.Pipe = pipe < 0 ? null : pipes[pipe];
            f.Offset = r.ReadInt64();
            f.Flags = (OpenFlags)r.ReadInt32();
            f.Refs = r.ReadInt32();
            f.Readable = r.ReadBoolean();
            f.Writable = r.ReadBoolean();
            // The kernel dereferences Node or Pipe by kind without checking: they must be there.
            bool ok = f.Kind switch
            {
                FileKind.Console => true,
                FileKind.File or FileKind.Dir or FileKind.Device => f.Node is not null,
                FileKind.PipeRead or FileKind.PipeWrite => f.Pipe is not null,
                _ => false,
            };
            if (!ok || f.Offset < 0 || f.Refs <= 0) throw new InvalidDataException($"open file {i}: inconsistent");
            files[i] = f;
        }

        var segLists = new List<(ulong Start, ulong End, bool Writable)>[s.Count("segment list")];
        for (int i = 0; i < segLists.Length; i++)
        {
            int n = s.Count("segment");
            var list = new List<(ulong, ulong, bool)>(n);
            for (int k = 0; k < n; k++) list.Add((r.ReadUInt64(), r.ReadUInt64(), r.ReadBoolean()));
            segLists[i] = list;
        }

        var procs = new List<PProcess>();
        var byPid = new Dictionary<int, PProcess>();
        int procCount = s.Count("process");
        if (procCount > MaxProcs) throw new InvalidDataException($"{procCount} processes (at most {MaxProcs})");
        for (int i = 0; i < procCount; i++)
        {
            var p = LoadProcess(r, s, files, segLists, memSize, version);
            if (!byPid.TryAdd(p.Pid, p)) throw new InvalidDataException($"pid {p.Pid} twice");
            procs.Add(p);
        }
        if (version >= 5) LoadNames(r, s, nodes, procs, files);

        int refCount = r.ReadInt32();
        if (refCount != _pages.Count) throw new InvalidDataException($"{refCount} page refcounts for {_pages.Count} pages");
        var refs = new int[refCount];
        for (int i = 0; i < refCount; i++)
            if ((refs[i] = r.ReadInt32()) < 0) throw new InvalidDataException($"page {i:x}: negative refcount");
        var owners = new int[refCount];
        for (int i = 0; i < refCount; i++) owners[i] = r.ReadInt32();
        int allocHint = r.ReadInt32(), rr = r.ReadInt32(), nextPid = r.ReadInt32();
        if (allocHint < PageFrames.FirstUsable || allocHint >= _pages.Count || rr < 0 || nextPid < 2 || nextPid >= MaxPid)
            throw new InvalidDataException("bad scheduler or allocator state");
        int cur = s.OptionalIndex(procs.Count, "current process"), runNext = s.OptionalIndex(procs.Count, "run-next process");
        int? mainPid = ReadNullableInt(r), mainStatus = ReadNullableInt(r);
        string? kernelError = s.NullableString();
        bool idleWaiting = r.ReadBoolean(), cowFork = r.ReadBoolean();
        long faultTotal = version >= 3 ? r.ReadInt64() : -1;
        int faultCount = s.Count("fault");
        if (version >= 3 && (faultCount > FaultLog.Capacity || faultTotal < faultCount))
            throw new InvalidDataException($"{faultCount} faults kept of {faultTotal} (at most {FaultLog.Capacity} kept)");
        var faults = new List<PosixFault>(Math.Min(faultCount, FaultLog.Capacity));
        for (int i = 0; i < faultCount; i++)
        {
            var fault = new PosixFault(r.ReadInt32(), s.String(), r.ReadInt32(), s.String());
            if (i >= faultCount - FaultLog.Capacity) faults.Add(fault);    // version 2 kept them all: the last ones
        }
        if (faultTotal < 0) faultTotal = faultCount;

        byte[] pendingInput = s.Bytes(s.Count("console input"));
        bool inputClosed = r.ReadBoolean(), capture = r.ReadBoolean();
        byte[] captured = s.Bytes(s.Count("console output"));
        Tty? tty = version >= 5 ? LoadTty(r) : null;
        if (version < 5) DefaultJobState(procs);

        // The machine part runs to the hash (version 2: after its length). It carries its own memory
        // size; a different one would make the machine reallocate its memory under the kernel's
        // refcount array.
        long machineLength = version >= 3 ? bodyEnd - input.Position : s.Count("machine snapshot");
        if (input.Position + machineLength != bodyEnd) throw new InvalidDataException("trailing bytes in snapshot");
        long machineStart = input.Position;
        Span<byte> machineHeader = stackalloc byte[16];
        if (machineLength < 16) throw new InvalidDataException("machine snapshot too short");
        input.ReadExactly(machineHeader);
        if (BitConverter.ToUInt64(machineHeader[8..]) != memSize)
            throw new InvalidDataException("machine snapshot does not match the POSIX snapshot's memory size");
        input.Position = machineStart;

        // The machine is the one part that can still refuse the state (its own checks): restore it
        // with a way back, then commit the rest, which cannot fail.
        byte[] backup = _m.SaveState();
        try
        {
            _m.RestoreState(input);
            if (input.Position != bodyEnd) throw new InvalidDataException("trailing bytes after the machine snapshot");
        }
        catch
        {
            _m.RestoreState(backup);
            throw;
        }

        Fs.Replace(tree, nextIno, files);
        if (version < 5) Fs.UpgradeDevices();
        Console.Restore(pendingInput, inputClosed, capture, captured);
        RestoreTty(tty ?? new Tty { Session = mainPid ?? 0, ForegroundPgrp = mainPid ?? 0 });
        _procs.Clear();
        _procs.AddRange(procs);
        _byPid.Clear();
        foreach (var p in procs) _byPid[p.Pid] = p;
        _pages.Restore(refs, owners, allocHint);
        _rr = rr;
        _nextPid = nextPid;
        _cur = cur < 0 ? null : procs[cur];
        _fpOwner = _cur;                             // its image was flushed when saved: the CPU holds the same
        _runNext = runNext < 0 ? null : procs[runNext];
        MainPid = mainPid;
        MainStatus = mainStatus;
        KernelError = kernelError;
        IdleWaitingForInput = idleWaiting;
        CopyOnWriteFork = cowFork;
        Faults.Restore(faults, faultTotal);
    }

    private static PProcess LoadProcess(BinaryReader r, Reader s, OpenFile[] files,
        List<(ulong Start, ulong End, bool Writable)>[] segLists, ulong memSize, int version)
    {
        var p = new PProcess { Pid = r.ReadInt32(), Parent = r.ReadInt32() };
        byte state = r.ReadByte();
        if (state > (byte)PState.Zombie) throw new InvalidDataException($"pid {p.Pid}: bad state {state}");
        p.State = (PState)state;
        ulong root = r.ReadUInt64();
        // a live process's page-table root is a page of this machine's memory; a zombie has none
        bool rootOk = p.State == PState.Zombie ? root == 0 : root != 0 && root % Page == 0 && root < memSize;
        if (p.Pid < 2 || p.Pid >= MaxPid || p.Parent < 1 || !rootOk) throw new InvalidDataException($"pid {p.Pid}: inconsistent");
        p.Root = new PhysAddr(root);
        p.Name = s.String();
        for (int i = 0; i < p.Regs.Length; i++) p.Regs[i] = r.ReadUInt64();
        p.Rip = r.ReadUInt64();
        p.RFlags = r.ReadUInt64();
        p.FsBase = r.ReadUInt64();
        p.GsBase = r.ReadUInt64();
        int open = s.Count("descriptor");
        for (int i = 0; i < open; i++)
        {
            int fd = r.ReadInt32();
            if ((uint)fd >= MaxFds || p.Fds[fd] is not null) throw new InvalidDataException($"pid {p.Pid}: bad descriptor {fd}");
            p.Fds[fd] = files[s.Index(files.Length, "open file")];
        }
        p.BrkStart = r.ReadUInt64();
        p.Brk = r.ReadUInt64();
        p.Segments = segLists[s.Index(segLists.Length, "segment list")];
        p.WaitStatus = r.ReadInt32();
        p.ExitCode = r.ReadInt32();
        p.Restarting = r.ReadBoolean();
        p.WakeAt = r.ReadUInt64();
        p.Tracked = r.ReadBoolean();
        p.TrackArmed = r.ReadBoolean();
        if (r.ReadBoolean())
        {
            int n = s.Count("syscall counts");
            if (n != TrackedSyscalls) throw new InvalidDataException($"pid {p.Pid}: {n} syscall counters");
            p.Counts = new long[n];
            for (int i = 0; i < n; i++) p.Counts[i] = r.ReadInt64();
        }
        if (p.TrackArmed && p.Counts is null) throw new InvalidDataException($"pid {p.Pid}: tracking without counters");
        p.BytesRead = r.ReadUInt64();
        p.BytesWritten = r.ReadUInt64();
        if (r.ReadBoolean())
        {
            p.TrackRecord = s.Bytes(s.Count("track record"));
            if (p.TrackRecord.Length != TrackRecordSize) throw new InvalidDataException($"pid {p.Pid}: bad track record");
        }
        if (version < 4) return p;
        p.Cwd = s.String();
        if (!p.Cwd.StartsWith('/') || PosixFs.Normalize(p.Cwd) != p.Cwd) throw new InvalidDataException($"pid {p.Pid}: bad current directory");
        for (int fd = 0; fd < MaxFds; fd++)
        {
            p.CloseOnExec[fd] = r.ReadBoolean();
            if (p.CloseOnExec[fd] && p.Fds[fd] is null) throw new InvalidDataException($"pid {p.Pid}: FD_CLOEXEC on closed descriptor {fd}");
        }
        p.ClearChildTid = r.ReadUInt64();
        p.RobustList = r.ReadUInt64();
        p.SigMask = r.ReadUInt64();
        if (r.ReadBoolean())
        {
            p.SigActions = new SigAction[Signals.MaxSignal];
            for (int i = 0; i < Signals.MaxSignal; i++)
                p.SigActions[i] = new SigAction(r.ReadUInt64(), r.ReadUInt64(), r.ReadUInt64(), r.ReadUInt64());
        }
        if (version >= 5) LoadSignalState(r, p);
        return p;
    }

    private static void WriteString(BinaryWriter w, string v)
    {
        byte[] b = Encoding.UTF8.GetBytes(v);
        w.Write(b.Length);
        w.Write(b);
    }

    private static void WriteNullableString(BinaryWriter w, string? v)
    {
        w.Write(v is not null);
        if (v is not null) WriteString(w, v);
    }

    private static void WriteNullableInt(BinaryWriter w, int? v)
    {
        w.Write(v.HasValue);
        w.Write(v ?? 0);
    }

    private static int? ReadNullableInt(BinaryReader r)
    {
        bool has = r.ReadBoolean();
        int v = r.ReadInt32();
        return has ? v : null;
    }

    private static byte[] ReadHash(Stream input)
    {
        var hash = new byte[HashSize];
        input.ReadExactly(hash);
        return hash;
    }

    /// <summary>Numbers objects by first sight (by reference), so shared ones are written once.</summary>
    private sealed class Indexer<T> where T : class
    {
        private readonly Dictionary<T, int> _ids = new(ReferenceEqualityComparer.Instance);
        public List<T> Items { get; } = new();

        /// <summary>The object's index (-1 for null), assigning the next one on first sight.</summary>
        public int Id(T? item)
        {
            if (item is null) return -1;
            if (!_ids.TryGetValue(item, out int id))
            {
                id = Items.Count;
                Items.Add(item);
                _ids[item] = id;
            }
            return id;
        }
    }

    /// <summary>Checked reads: every count and index is validated against what can exist, so that
    /// a crafted state fails with InvalidDataException or EndOfStreamException, never otherwise.</summary>
    private sealed class Reader(BinaryReader r, Stream input, long end)
    {
        /// <summary>A non-negative count no larger than the bytes left before <paramref name="end"/>
        /// (every item takes at least one).</summary>
        public int Count(string what)
        {
            int n = r.ReadInt32();
            if (n < 0 || n > end - input.Position) throw new InvalidDataException($"bad {what} count {n}");
            return n;
        }

        public int Index(int count, string what)
        {
            int i = r.ReadInt32();
            if ((uint)i >= (uint)count) throw new InvalidDataException($"bad {what} index {i}");
            return i;
        }

        public int OptionalIndex(int count, string what)
        {
            int i = r.ReadInt32();
            if (i < -1 || i >= count) throw new InvalidDataException($"bad {what} index {i}");
            return i;
        }

        public byte[] Bytes(int n)
        {
            byte[] b = r.ReadBytes(n);
            if (b.Length != n) throw new EndOfStreamException("snapshot truncated");
            return b;
        }

        public string String()
        {
            byte[] b = Bytes(Count("string byte"));
            try
            {
                return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(b);
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidDataException("bad string in snapshot", e);
            }
        }

        public string? NullableString() => r.ReadBoolean() ? String() : null;
    }
}

public sealed partial class PosixFs
{
    internal IEnumerable<KeyValuePair<string, Inode>> Entries => _nodes;
    internal long NextIno => _nextIno;

    /// <summary>Replaces the whole tree (snapshot restore) and recounts what it holds: the inodes in
    /// <paramref name="entries"/> and those only <paramref name="openFiles"/> refer to (unlinked while
    /// open). Files whose contents are still those of the host's boot files share the host's copy again.</summary>
    internal void Replace(List<(string Path, Inode Node)> entries, long nextIno, IEnumerable<OpenFile> openFiles)
    {
        _nodes.Clear();
        Used = 0;
        _nextIno = nextIno;
        foreach (var (path, node) in entries)
        {
            if (node.Links > 0) { Link(path, node); continue; }   // a hard link's second name
            node.OpenFiles = 0;
            ShareBootData(path, node);
            Link(path, node);
        }
        foreach (var f in openFiles)
        {
            if (f.Node is not { } node) continue;
            if (!node.Linked && node.OpenFiles == 0)
            {
                node.MetaBytes = MetaCost("");
                Used += node.MetaBytes + node.DataBytes;
            }
            node.OpenFiles++;
        }
    }

    /// <summary>A restored /bin program or boot data file with its boot contents uses the host's
    /// shared array again instead of a private copy.</summary>
    private static void ShareBootData(string path, Inode node)
    {
        byte[]? boot = path.StartsWith("/bin/", StringComparison.Ordinal) && EmbeddedPrograms.TryGetValue(path[5..], out var program)
            ? program
            : DataFiles.FirstOrDefault(d => d.Path == path).Bytes;
        if (boot is null || node.IsDir || node.Length != boot.Length || node.Data.Length != boot.Length) return;
        if (!node.Data.AsSpan().SequenceEqual(boot)) return;
        node.Data = boot;
        node.SharedData = true;
    }
}

public sealed partial class ConsoleIo
{
    internal byte[] PendingInput() => _input.ToArray();

    internal byte[] CapturedBytes() { lock (Captured) return Captured.ToArray(); }

    /// <summary>Replaces input, its closed flag and the captured output (snapshot restore).</summary>
    internal void Restore(byte[] input, bool inputClosed, bool captureOutput, byte[] captured)
    {
        _input.Clear();
        foreach (byte b in input) _input.Enqueue(b);
        _inputClosed = inputClosed;
        CaptureOutput = captureOutput;
        lock (Captured)
        {
            Captured.SetLength(0);
            Captured.Write(captured);
        }
    }
}
