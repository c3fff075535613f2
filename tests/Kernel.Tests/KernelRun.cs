using Lab.Kernel.Weensy;
using Lab.Kernel.Weensy.Core;
using Lab.Machine;

namespace Lab.Kernel.Tests;

/// <summary>Helpers to boot and run a WeensyOS machine in tests.</summary>
public static class KernelRun
{
    /// <summary>Steps 0..7 and cow, for theories.</summary>
    public static IEnumerable<object[]> AllSteps() =>
        Enum.GetValues<LabStep>().Select(s => new object[] { s });

    public static KernelOptions Options(string boot, LabStep step, ProgramFlavour flavour = ProgramFlavour.Standard,
        ulong instructionsPerTick = 500, ulong tickLimit = 0, InvariantChecks invariants = InvariantChecks.EveryTick, LabBug bug = LabBug.None) =>
        new()
        {
            Boot = boot, Step = step, Flavour = flavour, InstructionsPerTick = instructionsPerTick,
            TickLimit = tickLimit, Invariants = invariants, Bug = bug,
        };

    /// <summary>A grading run (TICK_LIMIT=1000, NO_SLOWDOWN=1): returns the log.</summary>
    public static string GradingLog(string boot, LabStep step, ProgramFlavour flavour = ProgramFlavour.NoSlowdown)
    {
        using var m = new WeensyMachine(Options(boot, step, flavour, instructionsPerTick: 300, tickLimit: 1000));
        var log = new StringWriter();
        m.Kernel.GradingLog = log;
        m.RunUntilHalt();
        Assert.Null(m.Kernel.InvariantFailure);
        return log.ToString();
    }

    public static ushort Cell(WeensyMachine m, int row, int col) => m.Machine.Cga[row, col];

    public static string Row(WeensyMachine m, int row) => m.ScreenText()[row];

    /// <summary>The text of cells [col, col + length) of a row.</summary>
    public static string Text(WeensyMachine m, int row, int col, int length) => Row(m, row).Substring(col, length);
}
