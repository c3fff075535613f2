using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using static Lab.Kernel.Posix.Errno;

namespace Lab.Kernel.Posix;

// The identity family: who and what the machine is, as a C library's start-up and ordinary programs
// ask: uname, getuid/geteuid/getgid/getegid (one user, /etc/passwd's student), getrandom
// (deterministic: the same machine seed gives the same bytes, so runs replay), sysinfo, and the
// resource limits (prlimit64, getrlimit).
public sealed partial class PosixKernel
{
    /// <summary>The seed of getrandom's bytes (PosixOptions.RandomSeed): same seed, same bytes at the
    /// same moment of the same run.</summary>
    public ulong RandomSeed { get; init; }

    /// <summary>uname(buf): struct utsname, six NUL-padded 65-byte fields: "Linux", "lab", "6.1.0-lab",
    /// "#1 Lab POSIX kernel", "x86_64", "(none)". Linux: uname(2). Fails: -EFAULT.</summary>
    private long Uname(PProcess p, UserPtr buf)
    {
        var u = new byte[6 * 65];
        string[] fields = ["Linux", "lab", "6.1.0-lab", "#1 Lab POSIX kernel", "x86_64", "(none)"];
        for (int i = 0; i < fields.Length; i++) Encoding.ASCII.GetBytes(fields[i]).CopyTo(u, i * 65);
        return CopyOut(p, buf, u) ? 0 : -EFAULT;
    }

    /// <summary>getuid, geteuid, getgid, getegid: every process runs as the one user, uid and gid 1000.
    /// Linux: getuid(2), getgid(2). Never fail.</summary>
    private long GetId(PProcess p, bool group) => (long)(group ? Identity.Gid : Identity.Uid);

    /// <summary>
    /// getrandom(buf, len, flags): fills <paramref name="buf"/> with <paramref name="len"/> bytes (at
    /// most 33,554,431 a call, as Linux) from a generator keyed (SHA-256) by the machine seed, the pid
    /// and the machine clock: the same in every run of the same machine, different at every call.
    /// Not cryptographic (a teaching machine that replays). Never blocks. Linux: getrandom(2).
    /// Fails: -EINVAL (flags beyond GRND_NONBLOCK|GRND_RANDOM|GRND_INSECURE), -EFAULT (nothing written).
    /// </summary>
    private long GetRandom(PProcess p, UserPtr buf, ulong len, uint flags)
    {
        if ((flags & ~7u) != 0) return -EINVAL;
        int n = (int)Math.Min(len, 33_554_431UL);
        if (!CanWrite(p, buf, (ulong)n)) return -EFAULT;
        Span<byte> key = stackalloc byte[20];
        BinaryPrimitives.WriteUInt64LittleEndian(key, RandomSeed);
        BinaryPrimitives.WriteInt32LittleEndian(key[8..], p.Pid);
        BinaryPrimitives.WriteUInt64LittleEndian(key[12..], _m.Clock);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(key, digest);
        ulong state = BinaryPrimitives.ReadUInt64LittleEndian(digest) ^ BinaryPrimitives.ReadUInt64LittleEndian(digest[8..]);
        var chunk = new byte[Math.Min(n, (int)Page)];
        Span<byte> word = stackalloc byte[8];
        for (int done = 0; done < n; done += chunk.Length)
        {
            int k = Math.Min(chunk.Length, n - done);
            for (int i = 0; i < k; i += 8)
            {
                // splitmix64: a fast, well-mixed stream from the hashed key
                ulong z = state += 0x9E3779B97F4A7C15UL;
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
                z ^= z >> 31;
                BinaryPrimitives.WriteUInt64LittleEndian(word, z);
                word[..Math.Min(8, k - i)].CopyTo(chunk.AsSpan(i));
            }
            if (!CopyOut(p, buf + (ulong)done, chunk.AsSpan(0, k))) return -EFAULT;   // (checked above)
        }
        return n;
    }

    /// <summary>sysinfo(info): struct sysinfo: uptime (machine seconds), loads 0, total and free RAM
    /// (pages of this machine), no swap, the number of processes, mem_unit 1. Linux: sysinfo(2).
    /// Fails: -EFAULT.</summary>
    private long Sysinfo(PProcess p, UserPtr info)
    {
        var s = new byte[112];
        BinaryPrimitives.WriteInt64LittleEndian(s, (long)(_m.Clock / 1_000_000_000));
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(32), (ulong)_pages.Count * Page);     // totalram
        BinaryPrimitives.WriteUInt64LittleEndian(s.AsSpan(40), (ulong)_pages.Free * Page);      // freeram
        BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(80), (ushort)Math.Min(_procs.Count, ushort.MaxValue));
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(104), 1);                            // mem_unit
        return CopyOut(p, info, s) ? 0 : -EFAULT;
    }

    private const int RLIMIT_FSIZE = 1, RLIMIT_DATA = 2, RLIMIT_STACK = 3, RLIMIT_NPROC = 6, RLIMIT_NOFILE = 7,
        RLIM_NLIMITS = 16;

    /// <summary>The limits this kernel enforces (stack, descriptors, processes, file size, the heap's
    /// 1 GiB); every other resource is unlimited (RLIM_INFINITY, all ones).</summary>
    private static ulong Limit(int resource) => resource switch
    {
        RLIMIT_STACK => StackLimit,
        RLIMIT_NOFILE => MaxFds,
        RLIMIT_NPROC => MaxProcs,
        RLIMIT_FSIZE => (ulong)MaxFileSize,
        RLIMIT_DATA => 1UL << 30,
        _ => ulong.MaxValue,
    };

    /// <summary>
    /// prlimit64(pid, resource, new, old) and getrlimit(resource, old): the old limit (soft = hard,
    /// the kernel's fixed ones, see <see cref="Limit"/>) into *old unless NULL. A new limit may only
    /// lower what the program asks of itself; it is accepted and not enforced below the kernel's own.
    /// Linux: prlimit(2). Fails: -EINVAL (resource out of range, soft above hard), -ESRCH (another
    /// pid than the caller's or 0), -EPERM (a hard limit above the kernel's), -EFAULT.
    /// </summary>
    private long Prlimit(PProcess p, int pid, int resource, UserPtr newLimit, UserPtr oldLimit)
    {
        if ((uint)resource >= RLIM_NLIMITS) return -EINVAL;
        if (pid != 0 && pid != p.Pid) return -ESRCH;
        ulong limit = Limit(resource);
        if (!newLimit.IsNull)
        {
            Span<byte> nl = stackalloc byte[16];
            if (!CopyIn(p, newLimit, nl)) return -EFAULT;
            ulong soft = BinaryPrimitives.ReadUInt64LittleEndian(nl), hard = BinaryPrimitives.ReadUInt64LittleEndian(nl[8..]);
            if (soft > hard) return -EINVAL;
            if (hard > limit) return -EPERM;
        }
        if (oldLimit.IsNull) return 0;
        Span<byte> ol = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(ol, limit);
        BinaryPrimitives.WriteUInt64LittleEndian(ol[8..], limit);
        return CopyOut(p, oldLimit, ol) ? 0 : -EFAULT;
    }
}
