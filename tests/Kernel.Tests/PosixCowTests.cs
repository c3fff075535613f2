using Lab.Kernel.Posix;

namespace Lab.Kernel.Tests;

/// <summary>
/// Copy-on-write fork with shared leaf page tables, step by step: userland/posix/tests/s-cow.c stops
/// at checkpoints (reading a line from stdin while every other process waits), and the host counts
/// free pages, page owners and checks the kernel's invariants at each. Without sharing, a fork would
/// cost a leaf table per 2 MiB and the first write would not copy exactly one table and one page.
/// </summary>
public class PosixCowTests
{
    private const int HeapMiB = 16;

    private sealed class Stepper
    {
        public PosixMachine M { get; } = new();

        public Stepper(bool copyOnWrite)
        {
            M.Kernel.CopyOnWriteFork = copyOnWrite;
            Assert.Null(M.Start("s-cow", [HeapMiB.ToString()]));
        }

        /// <summary>Runs to the next checkpoint (everyone blocked, one process reading stdin) and checks the kernel there.</summary>
        public int Checkpoint()
        {
            Assert.False(M.RunUntilAllExit(), $"s-cow ended early:\n{M.Console.OutputText}");
            Assert.True(M.Kernel.IdleWaitingForInput);
            Assert.Null(M.Kernel.KernelError);
            Assert.Null(M.Kernel.CheckInvariants());
            return M.Kernel.FreePages;
        }

        public void Continue() => M.Console.Feed("\n");

        public void Finish()
        {
            M.Console.CloseInput();
            Assert.True(M.RunUntilAllExit());
            Assert.Null(M.Kernel.KernelError);
            Assert.Null(M.Kernel.CheckInvariants());
            Assert.Empty(M.Kernel.Faults);
            Assert.Equal("PASS cow-shared-tables\n", M.Console.OutputText);
            Assert.Equal(0, M.ExitCode);
            Assert.Equal(M.InitialFreePages, M.Kernel.FreePages);
        }

        /// <summary>Physical pages in use now (refcount &gt; 0).</summary>
        public HashSet<int> UsedPages()
        {
            var used = new HashSet<int>();
            for (int i = 0; i < M.Kernel.PageCount; i++) if (M.Kernel.PageRefcount(i) > 0) used.Add(i);
            return used;
        }
    }

    [Fact]
    public void Fork_shares_leaf_tables_and_the_first_write_copies_one_table_and_one_page()
    {
        var s = new Stepper(copyOnWrite: true);
        int beforeFork = s.Checkpoint();                          // A: parent with 16 MiB touched
        s.Continue();
        int forked = s.Checkpoint();                              // B: child forked, has written its stack only
        // a PML4, PDPTs and PDs for the child, then a stack table and page or two on each side;
        // not the 8 leaf tables of the heap, let alone its 4096 pages
        Assert.InRange(beforeFork - forked, 1, 10);

        var usedBeforeWrite = s.UsedPages();
        s.Continue();
        int written = s.Checkpoint();                             // C: the child wrote one heap page
        Assert.Equal(2, forked - written);                        // exactly one leaf table and one data page copied
        var fresh = s.UsedPages().Except(usedBeforeWrite).ToList();
        Assert.Equal(2, fresh.Count);
        int child = s.M.Kernel.PageOwner(fresh[0]);
        Assert.NotEqual(s.M.Kernel.MainPid, child);               // the copies belong to the child that wrote
        Assert.True(child > 1);
        Assert.Equal(child, s.M.Kernel.PageOwner(fresh[1]));

        s.Continue();
        int parentAlone = s.Checkpoint();                         // D: child and grandchild (which checked the data) gone
        s.Continue();
        int sharing = s.Checkpoint();                             // E: a second child shares everything
        Assert.InRange(parentAlone - sharing, 1, 10);
        s.Continue();
        int afterExit = s.Checkpoint();                           // F: it exited without writing the heap
        Assert.Equal(parentAlone, afterExit);                     // it freed nothing of the parent's, kept nothing
        s.Continue();
        s.Finish();
    }

    [Fact]
    public void Copying_fork_still_copies_every_writable_page()
    {
        var s = new Stepper(copyOnWrite: false);
        int beforeFork = s.Checkpoint();
        s.Continue();
        int forked = s.Checkpoint();
        Assert.True(beforeFork - forked >= HeapMiB * 256, $"fork took only {beforeFork - forked} pages");
        s.Continue();
        Assert.Equal(forked, s.Checkpoint());                     // the child's write copies nothing
        for (int i = 0; i < 3; i++) { s.Continue(); s.Checkpoint(); }
        s.Continue();
        s.Finish();
    }

    [Fact]
    public void Page_owners_reserved_free_and_allocated()
    {
        using var m = new PosixMachine();
        var k = m.Kernel;
        Assert.Equal((int)(m.Machine.Memory.Size / 4096), k.PageCount);
        Assert.Equal(-1, k.PageOwner(0));
        Assert.Equal(-1, k.PageOwner(255));
        for (int i = 256; i < k.PageCount; i++) { Assert.Equal(0, k.PageRefcount(i)); Assert.Equal(0, k.PageOwner(i)); }
        Assert.Null(m.Start("s-cow", ["1"]));
        Assert.False(m.RunUntilAllExit());                       // waiting at checkpoint A
        int owned = 0;
        for (int i = 256; i < k.PageCount; i++)
        {
            if (k.PageRefcount(i) == 0) Assert.Equal(0, k.PageOwner(i));
            else { Assert.Equal(k.MainPid, k.PageOwner(i)); owned++; }
        }
        Assert.True(owned >= 256, $"{owned} pages owned");
        m.Console.CloseInput();                                   // the program exits at its next checkpoint
        Assert.True(m.RunUntilAllExit());
        for (int i = 256; i < k.PageCount; i++) Assert.Equal(0, k.PageOwner(i));
    }
}
