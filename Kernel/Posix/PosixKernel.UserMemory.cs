using System.Buffers.Binary;
using System.Text;
using Lab.Kernel.Common;
using Lab.Machine;
using static Lab.Kernel.Posix.Errno;

namespace Lab.Kernel.Posix;

// User memory: the only way system calls read or write what a user pointer points at (Linux:
// copy_from_user, copy_to_user, strncpy_from_user). Every page is looked up in the caller's page
// tables with the user's permissions, as the MMU would: a bad pointer is an error value, never an
// access to kernel or foreign memory. What a user access would fix up silently is fixed up here too:
// the stack grows, and a write breaks copy-on-write.
public sealed partial class PosixKernel
{
    private static bool InStack(ulong va) => va < StackTop && va >= StackTop - StackLimit;

    /// <summary>
    /// The physical page behind user address <paramref name="va"/> of <paramref name="p"/>, for a read
    /// or (<paramref name="write"/>) a write with user permissions; null when the user could not make
    /// that access. An unmapped page in the stack area is mapped (the stack grows); a write to a
    /// copy-on-write page gets the private copy first.
    /// </summary>
    private PhysAddr? UserPage(PProcess p, ulong va, bool write)
    {
        if (va >= UserLimit) return null;
        var m = _pt.Lookup(p.Root, new VirtAddr(va & ~(Page - 1)));
        if (m is null)
        {
            if (!InStack(va)) return null;
            var pa = _pages.Allocate(p.Pid);
            if (pa is null) return null;
            if (!MapPage(p.Pid, p.Root, new VirtAddr(va).PageBase, pa.Value, PageTables.PWU)) { _pages.Release(pa.Value); return null; }
            return pa;
        }
        var mm = m.Value;
        if (!mm.User) return null;
        if (write && !mm.Writable)
        {
            if (!MakeWritable(p, mm)) return null;
            return _pt.Lookup(p.Root, mm.Va)!.Value.Pa;
        }
        return mm.Pa;
    }

    /// <summary>copy_from_user: fills <paramref name="dst"/> from <paramref name="src"/>; false (-EFAULT
    /// for the caller) when any byte is not readable by the user.</summary>
    private bool CopyIn(PProcess p, UserPtr src, Span<byte> dst)
    {
        ulong va = src.Value;
        if (va >= UserLimit || (ulong)dst.Length > UserLimit - va) return false;
        int done = 0;
        while (done < dst.Length)
        {
            ulong a = va + (ulong)done;
            var pa = UserPage(p, a, write: false);
            if (pa is null) return false;
            int chunk = (int)Math.Min((ulong)(dst.Length - done), Page - (a & (Page - 1)));
            _m.Memory.Read(pa.Value + (a & (Page - 1)), dst.Slice(done, chunk));
            done += chunk;
        }
        return true;
    }

    /// <summary>copy_to_user: writes <paramref name="src"/> at <paramref name="dst"/>; false (-EFAULT for
    /// the caller) when any byte is not writable by the user, and then nothing is written.</summary>
    private bool CopyOut(PProcess p, UserPtr dst, ReadOnlySpan<byte> src)
    {
        ulong va = dst.Value;
        if (va >= UserLimit || (ulong)src.Length > UserLimit - va) return false;
        if (!CanWrite(p, dst, (ulong)src.Length)) return false;   // a failing write changes nothing
        int done = 0;
        while (done < src.Length)
        {
            ulong a = va + (ulong)done;
            var pa = UserPage(p, a, write: true)!.Value;
            int chunk = (int)Math.Min((ulong)(src.Length - done), Page - (a & (Page - 1)));
            _m.Memory.Write(pa + (a & (Page - 1)), src.Slice(done, chunk));
            done += chunk;
        }
        return true;
    }

    /// <summary>True when the user could write all <paramref name="len"/> bytes at <paramref name="dst"/>
    /// (making their pages writable: copy-on-write broken, stack grown).</summary>
    private bool CanWrite(PProcess p, UserPtr dst, ulong len)
    {
        ulong va = dst.Value;
        if (va >= UserLimit || len > UserLimit - va) return false;
        for (ulong a = va & ~(Page - 1); a < va + len; a += Page)
            if (UserPage(p, a, write: true) is null) return false;
        return true;
    }

    /// <summary>get_user for a 64-bit word; false when it is not readable.</summary>
    private bool ReadU64(PProcess p, UserPtr src, out ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        v = 0;
        if (!CopyIn(p, src, b)) return false;
        v = BinaryPrimitives.ReadUInt64LittleEndian(b);
        return true;
    }

    /// <summary>strncpy_from_user: the NUL-terminated string at <paramref name="src"/>, without the NUL,
    /// of at most <paramref name="max"/> bytes; null when unreadable, or when longer (then
    /// <paramref name="tooLong"/> is set).</summary>
    private byte[]? ReadCString(PProcess p, UserPtr src, int max, out bool tooLong)
    {
        tooLong = false;
        var buf = new List<byte>();
        Span<byte> page = stackalloc byte[(int)Page];
        ulong a = src.Value;
        while (true)
        {
            if (a >= UserLimit) return null;
            int chunk = (int)(Page - (a & (Page - 1)));
            var pa = UserPage(p, a, write: false);
            if (pa is null) return null;
            var s = page[..chunk];
            _m.Memory.Read(pa.Value + (a & (Page - 1)), s);
            int z = s.IndexOf((byte)0);
            if (z >= 0) { foreach (var c in s[..z]) buf.Add(c); if (buf.Count > max) { tooLong = true; return null; } return buf.ToArray(); }
            foreach (var c in s) buf.Add(c);
            if (buf.Count > max) { tooLong = true; return null; }
            a += (ulong)chunk;
        }
    }

    /// <summary>A path argument (getname): 0 and the path, made absolute from the caller's current
    /// directory when relative, or -EFAULT (NULL or unreadable), -ENAMETOOLONG (over 4096 bytes),
    /// -ENOENT (empty).</summary>
    private long ReadPath(PProcess p, UserPtr src, out string path)
    {
        long e = ReadPathAsGiven(p, src, out path);
        if (e == 0) path = Under(p.Cwd, path);
        return e;
    }

    /// <summary>A path argument exactly as the caller wrote it (relative or not); errors as ReadPath.</summary>
    private long ReadPathAsGiven(PProcess p, UserPtr src, out string path)
    {
        path = "";
        if (src.IsNull) return -EFAULT;
        var b = ReadCString(p, src, 4096, out bool tooLong);
        if (tooLong) return -ENAMETOOLONG;
        if (b is null) return -EFAULT;
        if (b.Length == 0) return -ENOENT;
        path = Encoding.UTF8.GetString(b);
        return 0;
    }

    /// <summary><paramref name="path"/> itself when absolute, else inside directory <paramref name="dir"/>.</summary>
    private static string Under(string dir, string path) =>
        path.StartsWith('/') ? path : dir == "/" ? "/" + path : dir + "/" + path;
}
