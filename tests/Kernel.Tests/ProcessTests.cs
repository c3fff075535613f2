using Lab.Kernel.Weensy;
using Lab.Kernel.Weensy.Core;
using Lab.Machine;
using static Lab.Kernel.Tests.KernelRun;

namespace Lab.Kernel.Tests;

/// <summary>Every program at every step with the invariants checked at every tick; fork/exit; CoW.</summary>
public class ProcessTests
{
    public static IEnumerable<object[]> ProgramsAndSteps() =>
        from program in new[] { "allocator", "fork", "forkexit" }
        from step in Enum.GetValues<LabStep>()
        select new object[] { program, step };

    [Theory]
    [MemberData(nameof(ProgramsAndSteps))]
    public void Invariants_hold_at_every_tick(string program, LabStep step)
    {
        using var m = new WeensyMachine(Options(program, step, invariants: InvariantChecks.EveryTick));
        int ticksChecked = 0;
        m.Kernel.AfterTrap = (k, trap) =>
        {
            if (trap.Kind == TrapKind.Timer) ticksChecked++;
        };
        m.RunUntilTick(400);
        Assert.Null(m.Kernel.InvariantFailure);
        Assert.Empty(m.Kernel.CheckInvariants());
        bool missingFork = program != "allocator" && step < LabStep.ForkCopy;
        bool missingExit = program == "forkexit" && step is >= LabStep.ForkCopy and < LabStep.Exit;
        if (missingFork) Assert.Equal("Unexpected exception 52!", m.Kernel.PanicMessage);
        else if (!missingExit) Assert.Null(m.Kernel.PanicMessage);
        if (m.Kernel.PanicMessage is null) Assert.True(ticksChecked >= 400);
    }

    [Theory]
    [InlineData("allocator", LabStep.Handout)]
    [InlineData("forkexit", LabStep.CopyOnWrite)]
    public void Invariants_hold_after_every_trap(string program, LabStep step)
    {
        using var m = new WeensyMachine(Options(program, step, invariants: InvariantChecks.EveryTrap));
        int traps = 0;
        m.Kernel.AfterTrap = (_, _) => traps++;
        m.RunUntilTick(60);
        Assert.Null(m.Kernel.InvariantFailure);
        Assert.True(traps > 600);
    }

    [Theory]
    [InlineData(LabStep.Exit)]
    [InlineData(LabStep.CopyOnWrite)]
    public void Forkexit_runs_20000_ticks_without_leaking(LabStep step)
    {
        using var m = new WeensyMachine(Options("forkexit", step, instructionsPerTick: 200, invariants: InvariantChecks.EveryTick));
        var pidsSeen = new HashSet<int>();
        m.Kernel.AfterTrap = (k, trap) =>
        {
            if (trap.Kind == TrapKind.Timer)
                foreach (var p in k.Processes) if (p.State != ProcState.Free) pidsSeen.Add(p.Pid);
        };
        m.RunUntilTick(20_000);
        Assert.Null(m.Kernel.InvariantFailure);
        Assert.Null(m.Kernel.PanicMessage);
        Assert.Equal(20_000UL, m.Ticks);
        Assert.Empty(m.Kernel.CheckInvariants());
        Assert.True(pidsSeen.Count >= 10, $"only pids {string.Join(",", pidsSeen)} appeared");
        Assert.True(m.Kernel.ForkFailures > 0, "no fork ever failed");
    }

    [Theory]
    [InlineData(LabStep.ForkCopy)]
    [InlineData(LabStep.SharedText)]
    [InlineData(LabStep.Exit)]
    [InlineData(LabStep.CopyOnWrite)]
    public void Fork_failing_for_lack_of_memory_frees_what_it_allocated(LabStep step)
    {
        using var m = new WeensyMachine(Options("fork", step, invariants: InvariantChecks.None));
        m.RunUntilTick(3);
        var k = m.Kernel;
        // Take all free memory away (as kernel pages), then give back n pages at a time.
        var hoard = new List<PhysAddr>();
        while (k.Pages.Allocate(Weensy.Memory.PageInfo.KernelOwner) is PhysAddr pa) hoard.Add(pa);
        int partialFailures = 0;
        for (int n = 0; n <= 12; n++)
        {
            int before = k.Pages.FreeCount();
            var owners = Enumerable.Range(0, 512).Select(pn => (k.Pages.Owner(pn), k.Pages.Refcount(pn))).ToArray();
            int result = k.ForkForTest(1);
            if (result < 0)
            {
                Assert.Equal(before, k.Pages.FreeCount());
                Assert.Equal(owners, Enumerable.Range(0, 512).Select(pn => (k.Pages.Owner(pn), k.Pages.Refcount(pn))));
                if (before > 0) partialFailures++;
            }
            Assert.Empty(k.CheckInvariants());
            if (result > 0) break;
            k.Pages.Release(hoard[^1]);
            hoard.RemoveAt(hoard.Count - 1);
        }
        Assert.True(partialFailures > 0);
    }

    [Fact]
    public void Fork_that_leaks_page_tables_is_caught_by_the_invariants()
    {
        using var m = new WeensyMachine(Options("forkexit", LabStep.Exit, invariants: InvariantChecks.EveryTick, bug: LabBug.ForkLeaksPageTables));
        m.RunUntilTick(5000);
        Assert.True(m.Kernel.PanicMessage is not null || m.Kernel.InvariantFailure is not null);
    }

    [Theory]
    [InlineData(LabStep.CopyOnWrite)]
    [InlineData(LabStep.Exit)]
    [InlineData(LabStep.ForkCopy)]
    public void Parent_and_child_each_see_only_their_own_writes(LabStep step)
    {
        using var m = new WeensyMachine(Options("cowtest", step));
        m.RunUntilTick(100);
        Assert.Null(m.Kernel.PanicMessage);
        Assert.Null(m.Kernel.InvariantFailure);
        string row = Row(m, 24);
        Assert.Equal("P:ok", row[..4]);
        Assert.Equal("C:ok", row[10..14]);
        // The data page is now private to each process.
        var k = m.Kernel;
        var va = new VirtAddr(0x101000);
        var parent = k.Tables.Lookup(k.Processes[1].PageTable, va)!.Value;
        var child = k.Tables.Lookup(k.Processes[2].PageTable, va)!.Value;
        Assert.NotEqual(parent.Pa, child.Pa);
        Assert.Equal(1000u, m.Machine.Memory.ReadU32(parent.Pa));
        Assert.Equal(2000u, m.Machine.Memory.ReadU32(child.Pa));
        Assert.True(parent.Writable && child.Writable);
    }

    [Fact]
    public void Cow_shares_pages_read_only_until_written()
    {
        using var m = new WeensyMachine(Options("fork", LabStep.CopyOnWrite));
        m.RunUntilTick(2);
        var k = m.Kernel;
        Assert.Equal(4, k.Processes.Count(p => p.State == ProcState.Runnable));
        // The text page is shared by all four processes, read-only.
        var text = k.Tables.Lookup(k.Processes[1].PageTable, new VirtAddr(0x100000))!.Value;
        Assert.Equal(4, k.Pages.Refcount(text.Pa));
        Assert.False(text.Writable);
        // Every stack page has been written since the forks, so each is private and writable.
        var stacks = Enumerable.Range(1, 4)
            .Select(pid => k.Tables.Lookup(k.Processes[pid].PageTable, new VirtAddr(0x2FF000))!.Value).ToList();
        Assert.Equal(4, stacks.Select(s => s.Pa).Distinct().Count());
        Assert.All(stacks, s => Assert.True(s.Writable));
    }

    [Fact]
    public void Fork_without_copying_shares_writable_pages()
    {
        using var m = new WeensyMachine(Options("fork", LabStep.Exit, invariants: InvariantChecks.None, bug: LabBug.ForkNoCopy));
        m.RunUntilTick(1);
        var k = m.Kernel;
        var a = k.Tables.Lookup(k.Processes[1].PageTable, new VirtAddr(0x2FF000))!.Value;
        var b = k.Tables.Lookup(k.Processes[2].PageTable, new VirtAddr(0x2FF000))!.Value;
        Assert.Equal(a.Pa, b.Pa);
        Assert.True(a.Writable && b.Writable);
    }
}
