namespace Lab.Kernel.Common;

/// <summary>
/// Counts changes to the state the memory views and check_virtual_memory depend on (pageinfo,
/// page tables, process states). Lets the kernel skip redrawing or rechecking when nothing
/// changed since the last trap; the result is identical to doing it every trap.
/// </summary>
public sealed class ChangeCounter
{
    public ulong Value { get; private set; }
    public void Bump() => Value++;
}
