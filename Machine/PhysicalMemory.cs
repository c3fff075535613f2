using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Lab.Machine;

/// <summary>
/// Guest physical RAM in unmanaged memory (stable host pointers, no GC pinning, no bounds checks on
/// the CPU's fast path). Every write made through this API tells the CPU's decoded-instruction cache,
/// so a kernel that loads a program into a reused page never runs stale decoded code.
/// Out-of-range accesses from the host side are bugs in our code and throw.
/// On Linux the RAM is an anonymous private mapping reserved without commitment: a page costs host
/// memory only once the guest (or a kernel) writes it, so a 1 GiB machine whose programs use 10 MiB
/// costs about 10 MiB. Reading an untouched page sees zeros without committing it. (Nothing is
/// reserved up front, so the server's memory budget for sessions is what keeps the pages guests can
/// touch within the host's memory.)
/// </summary>
public sealed unsafe class PhysicalMemory : IDisposable
{
    private byte* _base;

    /// <summary>Called with the page number before any host-side write touches a page holding decoded code.</summary>
    internal ICodeWriteObserver? CodeObserver;

    /// <summary>One flag per page: the page holds decoded instructions (writes must invalidate them).</summary>
    internal readonly byte[] CodePages;

    public ulong Size { get; }
    public ulong PageCount => Size >> PhysAddr.PageShift;

    internal byte* Base => _base;

    public PhysicalMemory(ulong size)
    {
        if (size == 0 || (size & (PhysAddr.PageSize - 1)) != 0 || size > (1UL << 36))
            throw new ArgumentOutOfRangeException(nameof(size), "memory size must be a non-zero multiple of 4096 up to 64 GiB");
        Size = size;
        _base = LazyRam.Reserve(size);
        CodePages = new byte[PageCount];
    }

    /// <summary>Sets all of RAM to zero, giving the host back every page (a restore starts from here,
    /// so restoring a snapshot costs only the pages it holds).</summary>
    public void ZeroAll()
    {
        if (!LazyRam.Decommit(_base, Size)) NativeMemory.Clear(_base, (nuint)Size);
        for (ulong page = 0; page < PageCount; page++)
            if (CodePages[page] != 0) CodeObserver?.OnCodePageWritten(page);
    }

    ~PhysicalMemory() => Free();

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        if (_base != null)
        {
            LazyRam.Release(_base, Size);
            _base = null;
        }
    }

    public bool Contains(PhysAddr addr, ulong length) => addr.Value <= Size && length <= Size - addr.Value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* At(PhysAddr addr, ulong length)
    {
        if (!Contains(addr, length))
            throw new ArgumentOutOfRangeException(nameof(addr), $"physical access {addr}+{length} outside RAM of {Size} bytes");
        return _base + addr.Value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private byte* AtForWrite(PhysAddr addr, ulong length)
    {
        byte* p = At(addr, length);
        if (length != 0) NotifyWrite(addr.Value, length);
        return p;
    }

    /// <summary>Invalidates decoded code in every page of [addr, addr+length) that holds some.</summary>
    internal void NotifyWrite(ulong addr, ulong length)
    {
        ulong first = addr >> PhysAddr.PageShift, last = (addr + length - 1) >> PhysAddr.PageShift;
        for (ulong page = first; page <= last; page++)
            if (CodePages[page] != 0) CodeObserver?.OnCodePageWritten(page);
    }

    public byte ReadU8(PhysAddr a) => *At(a, 1);
    public ushort ReadU16(PhysAddr a) => Unsafe.ReadUnaligned<ushort>(At(a, 2));
    public uint ReadU32(PhysAddr a) => Unsafe.ReadUnaligned<uint>(At(a, 4));
    public ulong ReadU64(PhysAddr a) => Unsafe.ReadUnaligned<ulong>(At(a, 8));

    public void WriteU8(PhysAddr a, byte v) => *AtForWrite(a, 1) = v;
    public void WriteU16(PhysAddr a, ushort v) => Unsafe.WriteUnaligned(AtForWrite(a, 2), v);
    public void WriteU32(PhysAddr a, uint v) => Unsafe.WriteUnaligned(AtForWrite(a, 4), v);
    public void WriteU64(PhysAddr a, ulong v) => Unsafe.WriteUnaligned(AtForWrite(a, 8), v);

    public void Read(PhysAddr a, Span<byte> destination) =>
        new ReadOnlySpan<byte>(At(a, (ulong)destination.Length), destination.Length).CopyTo(destination);

    public void Write(PhysAddr a, ReadOnlySpan<byte> source) =>
        source.CopyTo(new Span<byte>(AtForWrite(a, (ulong)source.Length), source.Length));

    public void Fill(PhysAddr a, ulong length, byte value)
    {
        byte* p = AtForWrite(a, length);
        NativeMemory.Fill(p, (nuint)length, value);
    }

    /// <summary>Copies one whole page to another (for fork and copy-on-write).</summary>
    public void CopyPage(PhysAddr from, PhysAddr to)
    {
        if (!from.IsPageAligned || !to.IsPageAligned) throw new ArgumentException("page copy needs page-aligned addresses");
        byte* src = At(from, PhysAddr.PageSize);
        byte* dst = AtForWrite(to, PhysAddr.PageSize);
        Buffer.MemoryCopy(src, dst, PhysAddr.PageSize, PhysAddr.PageSize);
    }

    /// <summary>A read-only view of a range, valid until the machine is disposed.</summary>
    public ReadOnlySpan<byte> View(PhysAddr a, int length) => new(At(a, (ulong)length), length);

    /// <summary>True if every byte of the page is zero.</summary>
    public bool IsPageZero(ulong pageNumber)
    {
        var span = new ReadOnlySpan<byte>(At(PhysAddr.FromPage(pageNumber), PhysAddr.PageSize), (int)PhysAddr.PageSize);
        return !span.ContainsAnyExcept((byte)0);
    }
}

/// <summary>
/// Zero-filled memory that is committed page by page as it is written: mmap(MAP_PRIVATE|MAP_ANONYMOUS|
/// MAP_NORESERVE) on Linux, where madvise(MADV_DONTNEED) also returns pages and reads them back as
/// zeros. Elsewhere an eagerly zeroed allocation.
/// </summary>
internal static unsafe class LazyRam
{
    private const int ProtRead = 1, ProtWrite = 2, MapPrivate = 0x02, MapAnonymous = 0x20, MapNoReserve = 0x4000, MadvDontNeed = 4;

    [DllImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static extern void* Mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static extern int Munmap(void* addr, nuint length);

    [DllImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static extern int Madvise(void* addr, nuint length, int advice);

    public static byte* Reserve(ulong size)
    {
        if (OperatingSystem.IsLinux())
        {
            void* p = Mmap(null, (nuint)size, ProtRead | ProtWrite, MapPrivate | MapAnonymous | MapNoReserve, -1, 0);
            if (p == (void*)-1) throw new OutOfMemoryException($"cannot reserve {size >> 20} MiB of guest memory (errno {Marshal.GetLastPInvokeError()})");
            return (byte*)p;
        }
        byte* b = (byte*)NativeMemory.AlignedAlloc((nuint)size, 4096);
        NativeMemory.Clear(b, (nuint)size);
        return b;
    }

    /// <summary>Returns every page to the host; they read as zeros afterwards. False where that is not available.</summary>
    public static bool Decommit(byte* p, ulong size) => OperatingSystem.IsLinux() && Madvise(p, (nuint)size, MadvDontNeed) == 0;

    public static void Release(byte* p, ulong size)
    {
        if (OperatingSystem.IsLinux()) Munmap(p, (nuint)size);
        else NativeMemory.AlignedFree(p);
    }
}

/// <summary>Receives host-side writes to pages that hold decoded instructions.</summary>
internal interface ICodeWriteObserver
{
    void OnCodePageWritten(ulong pageNumber);
}
