using Lab.Machine;

namespace Lab.Kernel.Posix;

/// <summary>
/// A pointer a user program passed to a system call: an address in the caller's address space that
/// nobody has checked yet. Only the user-memory functions (CopyIn, CopyOut, ReadCString) turn it
/// into data, and they check every page against the caller's page tables with user permissions, so a
/// bad pointer is -EFAULT, never a kernel access. Kept apart from <see cref="VirtAddr"/> (an address
/// the kernel itself chose) so that the type says which addresses are still untrusted.
/// </summary>
public readonly record struct UserPtr(ulong Value)
{
    public bool IsNull => Value == 0;

    /// <summary>The pointer <paramref name="offset"/> bytes further (wraps like C; checks come later).</summary>
    public static UserPtr operator +(UserPtr p, ulong offset) => new(p.Value + offset);

    /// <summary>The same address as a virtual address, for page arithmetic.</summary>
    public VirtAddr Va => new(Value);

    public override string ToString() => $"0x{Value:x}";
}
