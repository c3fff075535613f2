using Lab.Kernel.Common;
using Lab.Kernel.Weensy.Memory;
using Lab.Machine;

namespace Lab.Kernel.Weensy.Core;

/// <summary>Plumbing: the ELF program loader (WeensyOS k-loader.c).</summary>
public sealed partial class WeensyKernel
{
    /// <summary>
    /// program_load: for every PT_LOAD segment, gives p a page for each page of
    /// [va rounded down, va + memsz), copies filesz bytes and leaves the rest zero, and sets rip
    /// to the entry point. Before step 6 every page is P|W|U; from step 6 on segments without the
    /// write flag (text) are mapped P|U, so fork can share them. On failure prints the WeensyOS
    /// row-22 message and returns false.
    /// </summary>
    private bool LoadProgram(Process p, ElfImage image)
    {
        foreach (var seg in image.Segments)
        {
            PteFlags perm = Step >= LabStep.SharedText && !seg.Writable ? PageTables.PU : PageTables.PWU;
            ulong start = seg.VirtualAddress & ~(Layout.PageSize - 1);
            ulong end = seg.VirtualAddress + seg.MemorySize;
            for (ulong va = start; va < end; va += Layout.PageSize)
            {
                if (!AllocateUserPage(p, new VirtAddr(va), perm))
                {
                    ConsolePrintf(Display.Cpos(22, 0), 0xC000,
                        $"program_load_segment(pid {p.Pid}): can't assign address 0x{va:x}\n");
                    return false;
                }
            }
            // Copy the file bytes page by page through the new mappings (physical writes, so a
            // read-only text page can be filled after it was mapped).
            ulong copied = 0;
            while (copied < seg.FileSize)
            {
                var va = new VirtAddr(seg.VirtualAddress + copied);
                Mapping m = Tables.Lookup(p.PageTable, va.PageBase)!.Value;
                int chunk = (int)Math.Min(seg.FileSize - copied, Layout.PageSize - va.PageOffset);
                _machine.Memory.Write(m.Pa + va.PageOffset, image.Bytes.AsSpan((int)(seg.Offset + copied), chunk));
                copied += (ulong)chunk;
            }
        }
        p.Rip = image.Entry;
        return true;
    }
}
