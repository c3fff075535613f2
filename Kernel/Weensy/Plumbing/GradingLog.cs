using System.Text;
using Lab.Kernel.Common;
using Lab.Kernel.Weensy.Memory;
using Lab.Machine;

namespace Lab.Kernel.Weensy.Core;

/// <summary>
/// Plumbing: the grading log of the NYU/UCL WeensyOS (WEENSYOS.md §7), byte for byte, so the
/// course's own parse_log.py can grade this kernel. Written on timer traps whose tick count
/// (before the increment) is a multiple of 100.
/// </summary>
public sealed partial class WeensyKernel
{
    private readonly StringBuilder _dump = new(16 * 1024);

    /// <summary>One PM_DUMP line, then one VM_DUMP line per non-free process in pid order.</summary>
    private void WriteGradingDump()
    {
        if (GradingLog is null) return;
        _dump.Clear();
        AppendPhysicalDump(_dump);
        foreach (Process p in _procs)
            if (p.State != ProcState.Free) AppendVirtualDump(_dump, p);
        GradingLog.Write(_dump.ToString());
    }

    /// <summary>"PM_DUMP ticks " then "owner refcount " for pages 0..511 (owner as an unsigned byte).</summary>
    private void AppendPhysicalDump(StringBuilder sb)
    {
        sb.Append("PM_DUMP ").Append(_ticks).Append(' ');
        for (int pn = 0; pn < Layout.PhysicalPages; pn++)
            sb.Append((byte)Pages.Owner(pn)).Append(' ').Append(Pages.Refcount(pn)).Append(' ');
        sb.Append('\n');
    }

    /// <summary>
    /// "VM_DUMP pid  ticks " (the name is "pid ", hence two spaces), then for each of the 768
    /// virtual pages "owner refcount perm " (perm = P|W|U ANDed over the levels), or "0 0 0 ".
    /// </summary>
    private void AppendVirtualDump(StringBuilder sb, Process p)
    {
        sb.Append("VM_DUMP ").Append(p.Pid).Append("  ").Append(_ticks).Append(' ');
        Span<int> perm = stackalloc int[Layout.VirtualPages];
        Span<int> page = stackalloc int[Layout.VirtualPages];
        perm.Clear();
        page.Fill(-1);
        foreach (Mapping m in Tables.Mappings(p.PageTable, new VirtAddr(0), new VirtAddr(Layout.MemSizeVirtual)))
        {
            if (m.Pa.Value >= Layout.MemSizePhysical) continue;
            page[(int)m.Va.PageNumber] = (int)m.Pa.PageNumber;
            perm[(int)m.Va.PageNumber] = (int)((ulong)m.Perm & 7);
        }
        for (int vpn = 0; vpn < Layout.VirtualPages; vpn++)
        {
            if (page[vpn] < 0) { sb.Append("0 0 0 "); continue; }
            sb.Append((byte)Pages.Owner(page[vpn])).Append(' ')
              .Append(Pages.Refcount(page[vpn])).Append(' ')
              .Append(perm[vpn]).Append(' ');
        }
        sb.Append('\n');
    }
}
