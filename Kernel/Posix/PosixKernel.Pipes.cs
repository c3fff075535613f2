using System.Buffers.Binary;
using static Lab.Kernel.Posix.Errno;

namespace Lab.Kernel.Posix;

// The pipes family: pipe(2), and reading and writing a pipe's ends (read and write dispatch here
// by the open file's kind). A pipe is a bounded byte queue with counts of its open read and write
// ends; a reader blocks while it is empty, a writer while it is full.
public sealed partial class PosixKernel
{
    /// <summary>
    /// pipe(fds): a new pipe; its read end's descriptor goes to fds[0] and its write end's to fds[1]
    /// (the two lowest free descriptors). Linux: pipe(2).
    /// Fails: -EMFILE (fewer than two free descriptors), -EFAULT (fds not writable: nothing is opened).
    /// </summary>
    private long Pipe(PProcess p, UserPtr fdsPtr) => Pipe2(p, fdsPtr, 0);

    /// <summary>pipe2(fds, flags): pipe with flags for both ends: O_CLOEXEC (FD_CLOEXEC on both
    /// descriptors), O_NONBLOCK (recorded in the open files; reads and writes still block). Linux:
    /// pipe2(2). Fails: as pipe, and -EINVAL (other flags).</summary>
    private long Pipe2(PProcess p, UserPtr fdsPtr, ulong flags)
    {
        if ((flags & ~(ulong)(OpenFlags.O_CLOEXEC | OpenFlags.O_NONBLOCK)) != 0) return -EINVAL;
        int r = LowestFreeFd(p);
        if (r < 0) return -EMFILE;
        p.Fds[r] = new OpenFile();     // reserve
        int w = LowestFreeFd(p);
        p.Fds[r] = null;
        if (w < 0) return -EMFILE;
        Span<byte> fds = stackalloc byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(fds, r);
        BinaryPrimitives.WriteInt32LittleEndian(fds[4..], w);
        if (!CopyOut(p, fdsPtr, fds)) return -EFAULT;
        var pipe = new Pipe { Readers = 1, Writers = 1 };
        var status = (OpenFlags)(int)flags & OpenFlags.O_NONBLOCK;
        p.Fds[r] = new OpenFile { Kind = FileKind.PipeRead, Pipe = pipe, Readable = true, Flags = status };
        p.Fds[w] = new OpenFile { Kind = FileKind.PipeWrite, Pipe = pipe, Writable = true, Flags = status };
        p.CloseOnExec[r] = p.CloseOnExec[w] = (flags & (ulong)OpenFlags.O_CLOEXEC) != 0;
        return 0;
    }

    /// <summary>read on a pipe's read end: up to <paramref name="n"/> queued bytes; blocks while the
    /// pipe is empty and has a writer; 0 (end of file) when it has none. -EFAULT leaves the bytes queued.</summary>
    private long ReadPipe(PProcess p, Pipe pipe, UserPtr buf, int n)
    {
        if (pipe.Buffer.Count == 0)
        {
            if (pipe.Writers == 0) return 0;
            Block(p);
            return 0;
        }
        int k = Math.Min(n, pipe.Buffer.Count);
        var data = pipe.Buffer.Take(k).ToArray();
        if (!CopyOut(p, buf, data)) return -EFAULT;
        for (int i = 0; i < k; i++) pipe.Buffer.Dequeue();
        WakeAll();                      // writers waiting for room
        return k;
    }

    /// <summary>write on a pipe's write end: as many of <paramref name="n"/> bytes as fit in the
    /// pipe's <see cref="Posix.Pipe.Capacity"/>; blocks while it is full. With no read end open:
    /// SIGPIPE to the writer (which ends it by default) and -EPIPE. -EFAULT.</summary>
    private long WritePipe(PProcess p, Pipe pipe, UserPtr buf, int n)
    {
        if (pipe.Readers == 0)
        {
            SendSignal(p, Signals.SIGPIPE, new SigInfo(0, p.Pid, 0, 0));
            return -EPIPE;
        }
        int room = Posix.Pipe.Capacity - pipe.Buffer.Count;
        if (room == 0) { Block(p); return 0; }
        var data = new byte[Math.Min(n, room)];
        if (!CopyIn(p, buf, data)) return -EFAULT;
        foreach (var b in data) pipe.Buffer.Enqueue(b);
        WakeAll();                      // readers waiting for data
        return data.Length;
    }
}
