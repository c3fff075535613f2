using Lab.TuiClient.App;

namespace Lab.TuiClient.Tests;

/// <summary>The command bar's editing, history and completion, and the console's scrollback, as pure logic.</summary>
public class CommandLineTests
{
    private static void Type(CommandLineEditor e, string text)
    {
        foreach (char c in text) e.Edit(KeyEvent.Printable(c));
    }

    [Fact]
    public void History_recalls_earlier_lines_and_keeps_the_line_being_typed()
    {
        var e = new CommandLineEditor();
        Type(e, "step 3");
        Assert.Equal("step 3", e.Submit());
        Type(e, "regs");
        e.Submit();
        Type(e, "regs");
        e.Submit();                               // not twice in a row
        Assert.Equal(["step 3", "regs"], e.History);
        Type(e, "wal");
        e.Edit(new KeyEvent(KeyCode.Up));
        Assert.Equal("regs", e.Text);
        e.Edit(new KeyEvent(KeyCode.Up));
        Assert.Equal("step 3", e.Text);
        e.Edit(new KeyEvent(KeyCode.Up));         // the oldest stays
        Assert.Equal("step 3", e.Text);
        e.Edit(new KeyEvent(KeyCode.Down));
        e.Edit(new KeyEvent(KeyCode.Down));
        Assert.Equal("wal", e.Text);              // back to what was being typed
    }

    [Fact]
    public void Editing_moves_the_cursor_and_deletes_where_it_is()
    {
        var e = new CommandLineEditor();
        Type(e, "brek fork");
        for (int i = 0; i < 6; i++) e.Edit(new KeyEvent(KeyCode.Left));
        Type(e, "a");
        Assert.Equal("break fork", e.Text);
        e.Edit(new KeyEvent(KeyCode.Home));
        e.Edit(new KeyEvent(KeyCode.Delete));
        Assert.Equal("reak fork", e.Text);
        e.Edit(new KeyEvent(KeyCode.End));
        e.Edit(new KeyEvent(KeyCode.Backspace));
        Assert.Equal("reak for", e.Text);
    }

    [Fact]
    public void Tab_completes_one_match_and_the_common_prefix_of_several()
    {
        var e = new CommandLineEditor();
        IEnumerable<string> Candidates(string[] words) => words switch
        {
            [] => ["follow", "filter", "find", "pause"],
            ["follow"] => ["memory", "vmap", "events"],
            _ => [],
        };
        Type(e, "pa");
        Assert.Equal(["pause"], e.Complete(Candidates));
        Assert.Equal("pause ", e.Text);
        e.Start();
        Type(e, "f");
        Assert.Equal(3, e.Complete(Candidates).Count);
        Assert.Equal("f", e.Text);                // follow, filter, find share only "f"
        Type(e, "ol");
        e.Complete(Candidates);
        Assert.Equal("follow ", e.Text);
        Type(e, "v");
        e.Complete(Candidates);
        Assert.Equal("follow vmap ", e.Text);
        Assert.Empty(e.Complete(Candidates));     // nothing follows a pane here
    }

    private static ushort[] Screen(params string[] rows)
    {
        var words = new ushort[80 * 25];
        Array.Fill(words, (ushort)(0x0700 | ' '));
        for (int r = 0; r < rows.Length; r++)
            for (int c = 0; c < rows[r].Length; c++) words[r * 80 + c] = (ushort)(0x0700 | rows[r][c]);
        return words;
    }

    private static string Line(ushort[] row) => new string(row.Select(w => (char)(w & 0xFF)).ToArray()).TrimEnd();

    [Fact]
    public void Lines_that_scroll_off_the_console_are_kept_in_order()
    {
        var s = new ConsoleScrollback();
        var rows = Enumerable.Range(1, 25).Select(i => $"line {i}").ToArray();
        Assert.Equal(0, s.Update(Screen(rows)));
        Assert.Equal(0, s.Update(Screen(rows[..24].Append("line 25 and more typed").ToArray())));   // only the last row changed
        var scrolled = Enumerable.Range(4, 22).Select(i => $"line {i}").Concat(["line 26", "line 27", "line 28"]).ToArray();
        Assert.Equal(3, s.Update(Screen(scrolled)));
        Assert.Equal(["line 1", "line 2", "line 3"], s.Lines.Select(Line));
        Assert.Equal(28, s.WithScreen().Count);
        Assert.Equal(0, s.Update(Screen("$ clear")));   // a cleared screen is not a scroll
        Assert.Equal(3, s.Lines.Count);
    }
}
