using System.Buffers.Binary;
using Lab.Kernel.Common;
using Lab.Machine;
using static Lab.Kernel.Posix.AuxVector;
using static Lab.Kernel.Posix.Errno;

namespace Lab.Kernel.Posix;

// Building a program image for execve and the first program: a new address space with the ELF
// file's segments and the System V stack (Linux: fs/binfmt_elf.c, load_elf_binary).
public sealed partial class PosixKernel
{
    /// <summary>
    /// Builds a new address space from the ELF file <paramref name="node"/> and switches
    /// <paramref name="p"/> to it: fresh registers, rsp at argc on the new stack, rip at the entry,
    /// the break after the highest segment. The old address space is freed only once the new one is
    /// complete, so a failure leaves <paramref name="p"/> as it was. 0, -ENOEXEC (not a static x86-64
    /// executable with segments in user space below the stack), -ENOMEM.
    /// </summary>
    private long BuildImage(PProcess p, string path, Inode node, List<byte[]> args, List<byte[]> envs)
    {
        var bytes = node.Data.AsSpan(0, node.Length).ToArray();
        var image = ElfImage.Parse(path, bytes, out _);
        if (image is null || image.Segments.Count == 0) return -ENOEXEC;
        foreach (var s in image.Segments)
            if (s.VirtualAddress >= StackTop - StackLimit || s.MemorySize > StackTop - StackLimit - s.VirtualAddress
                || s.VirtualAddress < 0x10000) return -ENOEXEC;
        if (image.Entry >= UserLimit) return -ENOEXEC;

        var rootPa = _pages.Allocate(p.Pid);
        if (rootPa is null) return -ENOMEM;
        var root = rootPa.Value;
        ulong brk = 0;
        var segs = new List<(ulong, ulong, bool)>();
        bool ok = true;
        foreach (var s in image.Segments)
        {
            ulong start = s.VirtualAddress & ~(Page - 1), end = (s.VirtualAddress + s.MemorySize + Page - 1) & ~(Page - 1);
            segs.Add((start, end, s.Writable));
            PteFlags perm = s.Writable ? PageTables.PWU : PageTables.PU;
            for (ulong va = start; va < end && ok; va += Page)
            {
                var existing = _pt.Lookup(root, new VirtAddr(va));
                if (existing is { } ex)
                {
                    // two segments share this page: it is writable if either is
                    if (s.Writable && !ex.Writable) _pt.SetLeaf(root, ex, ex.Pa, PageTables.PWU);
                    continue;
                }
                var pa = _pages.Allocate(p.Pid);
                if (pa is null || !MapPage(p.Pid, root, new VirtAddr(va), pa.Value, perm)) { if (pa is not null) _pages.Release(pa.Value); ok = false; }
            }
            if (!ok) break;
            ulong copied = 0;
            while (copied < s.FileSize)
            {
                ulong va = s.VirtualAddress + copied;
                var m = _pt.Lookup(root, new VirtAddr(va & ~(Page - 1)))!.Value;
                int chunk = (int)Math.Min(s.FileSize - copied, Page - (va & (Page - 1)));
                _m.Memory.Write(m.Pa + (va & (Page - 1)), bytes.AsSpan((int)(s.Offset + copied), chunk));
                copied += (ulong)chunk;
            }
            brk = Math.Max(brk, end);
        }

        // where the program headers are in memory (AT_PHDR): inside the segment that maps them
        ulong phdr = 0;
        foreach (var s in image.Segments)
            if (image.ProgramHeaderOffset >= s.Offset && image.ProgramHeaderOffset < s.Offset + s.FileSize)
                phdr = s.VirtualAddress + (image.ProgramHeaderOffset - s.Offset);
        var aux = new ImageAux(phdr, image.ProgramHeaderSize, image.ProgramHeaderCount, image.Entry);
        ulong rsp = 0;
        if (ok) ok = BuildStack(p, root, args, envs, aux, out rsp);
        if (!ok)
        {
            FreeSpace(root);
            return -ENOMEM;
        }

        // the new image is complete: free the old one and switch
        if (p.Root.Value != 0) FreeSpace(p.Root);
        p.Root = root;
        if (_cur == p) _m.Cpu.Cr3 = root.Value;
        p.ClearRegisters();
        FpStateChanged(p);
        p.Regs[(int)Register.Rsp] = rsp;
        p.Rip = image.Entry;
        p.BrkStart = p.Brk = brk;
        p.Segments = segs;
        p.Name = path[(path.LastIndexOf('/') + 1)..];
        p.Exe = path;
        p.CmdLine = args.SelectMany(x => x.Append((byte)0)).ToArray();
        p.WakeAt = 0;
        if (p.Tracked && !p.TrackArmed) { p.TrackArmed = true; p.Counts = new long[TrackedSyscalls]; p.BytesRead = p.BytesWritten = 0; }
        p.State = PState.Runnable;
        return 0;
    }

    /// <summary>What the auxiliary vector says about the image: its program headers and entry.</summary>
    private readonly record struct ImageAux(ulong Phdr, int PhEnt, int PhNum, ulong Entry);

    /// <summary>
    /// The System V initial stack, just below <see cref="StackTop"/> in the space at
    /// <paramref name="root"/>: the argument and environment strings at the top, the platform string
    /// "x86_64", 16 AT_RANDOM bytes, then (16-byte aligned, where rsp points) argc, argv[] and NULL,
    /// envp[] and NULL, and the auxiliary vector a C library's start-up reads (Linux's
    /// create_elf_tables: AT_PHDR/PHENT/PHNUM for the TLS template, AT_PAGESZ, AT_ENTRY, the ids,
    /// AT_SECURE 0, AT_RANDOM, AT_CLKTCK, AT_HWCAP 0, AT_PLATFORM, AT_EXECFN, AT_NULL; no vDSO).
    /// False when memory is full.
    /// </summary>
    private bool BuildStack(PProcess p, PhysAddr root, List<byte[]> args, List<byte[]> envs, ImageAux aux, out ulong rsp)
    {
        var strAddrs = new List<ulong>();
        int strBytes = args.Sum(a => a.Length + 1) + envs.Sum(a => a.Length + 1);
        ulong strStart = StackTop - 16 - (ulong)strBytes;
        ulong platform = (strStart - 8) & ~7UL;          // "x86_64\0"
        ulong random = (platform - 16) & ~15UL;
        var auxv = new (ulong Key, ulong Value)[]
        {
            (AT_PHDR, aux.Phdr), (AT_PHENT, (ulong)aux.PhEnt), (AT_PHNUM, (ulong)aux.PhNum), (AT_PAGESZ, Page),
            (AT_ENTRY, aux.Entry), (AT_UID, Identity.Uid), (AT_EUID, Identity.Uid), (AT_GID, Identity.Gid),
            (AT_EGID, Identity.Gid), (AT_SECURE, 0), (AT_RANDOM, random), (AT_CLKTCK, 100), (AT_HWCAP, 0),
            (AT_PLATFORM, platform), (AT_EXECFN, args.Count > 0 ? strStart : 0), (AT_NULL, 0),
        };
        int words = 1 + args.Count + 1 + envs.Count + 1 + 2 * auxv.Length;
        ulong sp = (random - (ulong)words * 8) & ~15UL;
        var stack = new byte[StackTop - sp];
        ulong cursor = strStart;
        foreach (var a in args.Concat(envs))
        {
            strAddrs.Add(cursor);
            a.CopyTo(stack, (int)(cursor - sp));
            cursor += (ulong)a.Length + 1;
        }
        "x86_64"u8.CopyTo(stack.AsSpan((int)(platform - sp)));
        var rnd = new Random(p.Pid);
        rnd.NextBytes(stack.AsSpan((int)(random - sp), 16));
        int o = 0;
        void Put(ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(stack.AsSpan(o), v); o += 8; }
        Put((ulong)args.Count);
        for (int i = 0; i < args.Count; i++) Put(strAddrs[i]);
        Put(0);
        for (int i = 0; i < envs.Count; i++) Put(strAddrs[args.Count + i]);
        Put(0);
        foreach (var (key, value) in auxv) { Put(key); Put(value); }
        rsp = sp;
        for (ulong va = sp & ~(Page - 1); va < StackTop; va += Page)
        {
            var pa = _pages.Allocate(p.Pid);
            if (pa is null || !MapPage(p.Pid, root, new VirtAddr(va), pa.Value, PageTables.PWU)) { if (pa is not null) _pages.Release(pa.Value); return false; }
            ulong lo = Math.Max(va, sp), hi = Math.Min(va + Page, StackTop);
            _m.Memory.Write(pa.Value + (lo - va), stack.AsSpan((int)(lo - sp), (int)(hi - lo)));
        }
        return true;
    }
}
