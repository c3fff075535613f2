using System.Buffers.Binary;
using System.Text;
using Lab.Kernel.Common;
using Lab.Machine;
using static Lab.Kernel.Posix.Errno;

namespace Lab.Kernel.Posix;

// Process tracking, Lab's private calls (userland/posix/bin/track.c, lab.h): a parent marks a child
// tracked; the kernel counts the child's system calls and bytes from its next execve and, when it
// exits, keeps a report (struct track_metrics) that the parent collects with track_wait.
public sealed partial class PosixKernel
{
    /// <summary>track_self(): marks the caller as tracked. Its next execve starts the count (calls per
    /// number, bytes read and written); at its exit the kernel keeps a report for the parent's
    /// track_wait. Lab's private call, no Linux counterpart. Returns 0, never fails.</summary>
    private long TrackSelf(PProcess p)
    {
        p.Tracked = true;
        return 0;
    }

    /// <summary>
    /// track_wait(record): reaps a tracked child that has exited, copying its report (struct
    /// track_metrics of lab.h) to <paramref name="record"/>, and returns its pid; blocks while the
    /// tracked children (or children that may still call track_self) are alive. Lab's private call;
    /// wait4 for tracked children. Fails: -ECHILD (no child that is or may become tracked), -EFAULT
    /// (record not writable, checked before blocking).
    /// </summary>
    private long TrackWait(PProcess p, UserPtr record)
    {
        PProcess? zombie = null;
        bool any = false;
        foreach (var c in _procs)
        {
            if (c.Parent != p.Pid) continue;
            if (!c.Tracked && c.State == PState.Zombie) continue;
            any = true;                 // a live child may still call track_self
            if (c.Tracked && c.State == PState.Zombie) { zombie = c; break; }
        }
        if (!any) return -ECHILD;
        if (!CanWrite(p, record, TrackRecordSize)) return -EFAULT;
        if (zombie is null) { Block(p); return 0; }
        if (!CopyOut(p, record, zombie.TrackRecord!)) return -EFAULT;
        ReportTrack(p, zombie);
        Remove(zombie);
        return zombie.Pid;
    }

    /// <summary>sizeof(struct track_metrics): pid, exit code, name[32], bytes read and written, pages
    /// by kind (4), page-table pages by level (4), and the call counts.</summary>
    public const int TrackRecordSize = 4 + 4 + 32 + 8 * 2 + 8 * 4 + 8 * 4 + 8 * TrackedSyscalls;

    /// <summary>The report of <paramref name="p"/> as it exits: struct track_metrics, with its pages
    /// counted by kind (text, data, heap, stack) and its page-table pages by level.</summary>
    private byte[] MakeTrackRecord(PProcess p, int exitCode)
    {
        var r = new byte[TrackRecordSize];
        var s = r.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(s, p.Pid);
        BinaryPrimitives.WriteInt32LittleEndian(s[4..], exitCode);
        var nb = Encoding.UTF8.GetBytes(p.Name);
        nb.AsSpan(0, Math.Min(nb.Length, 31)).CopyTo(s[8..]);
        BinaryPrimitives.WriteUInt64LittleEndian(s[40..], p.BytesRead);
        BinaryPrimitives.WriteUInt64LittleEndian(s[48..], p.BytesWritten);
        ulong text = 0, data = 0, heap = 0, stack = 0;
        ulong heapStart = (p.BrkStart + Page - 1) & ~(Page - 1);
        _pt.ForEach(p.Root, new VirtAddr(0), new VirtAddr(UserLimit), (in Mapping m) =>
        {
            ulong va = m.Va.Value;
            if (InStack(va)) stack++;
            else if (va >= heapStart && va < p.Brk + Page && va >= p.BrkStart) heap++;
            else if (p.Segments.Any(sg => sg.Writable && va >= sg.Start && va < sg.End)) data++;
            else text++;
        });
        BinaryPrimitives.WriteUInt64LittleEndian(s[56..], text);
        BinaryPrimitives.WriteUInt64LittleEndian(s[64..], data);
        BinaryPrimitives.WriteUInt64LittleEndian(s[72..], heap);
        BinaryPrimitives.WriteUInt64LittleEndian(s[80..], stack);
        var levels = new ulong[5];
        foreach (var (_, level) in _pt.TablePages(p.Root)) levels[level]++;
        for (int i = 0; i < 4; i++) BinaryPrimitives.WriteUInt64LittleEndian(s[(88 + i * 8)..], levels[4 - i]);
        if (p.Counts is not null)
            for (int i = 0; i < TrackedSyscalls; i++) BinaryPrimitives.WriteInt64LittleEndian(s[(120 + i * 8)..], p.Counts[i]);
        return r;
    }
}
