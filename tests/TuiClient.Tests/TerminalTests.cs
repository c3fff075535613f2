using System.Text;
using Lab.TuiClient.Terminal;

namespace Lab.TuiClient.Tests;

public class RendererTests
{
    [Fact]
    public void FirstFrameDrawsEverythingThenOnlyChangedCells()
    {
        var r = new AnsiRenderer();
        var buf = new ScreenBuffer(10, 3);
        buf.Write(0, 0, "hello");
        string first = r.Render(buf);
        Assert.Contains("\e[2J", first);
        Assert.Contains("hello", first);

        string unchanged = r.Render(buf);
        Assert.Equal("", unchanged);

        buf.Write(1, 0, "a");
        string diff = r.Render(buf);
        Assert.Equal("\e[1;2H\e[0ma\e[0m", diff);   // one move, one pen, one character
    }

    [Fact]
    public void ColourChangesEmitSgrOnlyWhenThePenChanges()
    {
        var r = new AnsiRenderer();
        var buf = new ScreenBuffer(4, 1);
        r.Render(buf);
        buf[0, 0] = new Cell('K', 0x0D, 0x00);
        buf[1, 0] = new Cell('K', 0x0D, 0x00);
        buf[2, 0] = new Cell('1', 0x0C, 0x00);
        string s = r.Render(buf);
        // Light magenta (CGA 13) is bright ANSI magenta 95; light red (CGA 12) is bright red 91.
        Assert.Equal("\e[1;1H\e[0;95;40mKK\e[0;91;40m1\e[0m", s);
    }

    [Fact]
    public void TrueColourUsesTheCgaPalette()
    {
        var r = new AnsiRenderer { Colors = ColorMode.TrueColor };
        var buf = new ScreenBuffer(1, 1);
        buf[0, 0] = new Cell('x', 6, 0);   // CGA brown is #AA5500
        Assert.Contains("38;2;170;85;0", r.Render(buf));
    }

    [Fact]
    public void ResizeOrInvalidateRedrawsEverything()
    {
        var r = new AnsiRenderer();
        var buf = new ScreenBuffer(5, 2);
        r.Render(buf);
        buf.Resize(6, 2);
        Assert.Contains("\e[2J", r.Render(buf));
        r.Invalidate();
        Assert.Contains("\e[2J", r.Render(buf));
    }

    [Fact]
    public void WritesAreClippedNotErrors()
    {
        var buf = new ScreenBuffer(3, 1);
        buf.Write(1, 0, "abcdef");
        buf.Write(-5, 5, "zz");
        buf.Fill(-1, -1, 10, 10, new Cell('#', 1, 1));
        Assert.Equal("###", buf.RowText(0));
    }

    [Fact]
    public void CgaCellsMapCharacterAndAttribute()
    {
        var c = Cell.FromCga(0xC041);
        Assert.Equal('A', c.Char);
        Assert.Equal(0, c.Foreground);
        Assert.Equal(12, c.Background);
        Assert.Equal('░', Cell.FromCga(0x07B0).Char);
        Assert.Equal('■', CodePage437.ToChar(0xFE));
        for (int b = 0; b < 256; b++) CodePage437.ToChar((byte)b);   // every byte maps
    }
}

public class KeyParserTests
{
    private static List<KeyEvent> Parse(string input) => new KeyParser().Feed(Encoding.UTF8.GetBytes(input)).ToList();

    [Fact]
    public void PrintableAndControlKeys()
    {
        var keys = Parse("af\r\t\x7f\x03é");
        Assert.Equal([KeyEvent.Printable('a'), KeyEvent.Printable('f'), new KeyEvent(KeyCode.Enter), new KeyEvent(KeyCode.Tab),
            new KeyEvent(KeyCode.Backspace), new KeyEvent(KeyCode.Ctrl, 'c', KeyModifiers.Ctrl), KeyEvent.Printable('é')], keys);
    }

    [Theory]
    [InlineData("\e[A", KeyCode.Up)]
    [InlineData("\e[B", KeyCode.Down)]
    [InlineData("\e[C", KeyCode.Right)]
    [InlineData("\e[D", KeyCode.Left)]
    [InlineData("\eOA", KeyCode.Up)]
    [InlineData("\e[H", KeyCode.Home)]
    [InlineData("\e[4~", KeyCode.End)]
    [InlineData("\e[5~", KeyCode.PageUp)]
    [InlineData("\e[6~", KeyCode.PageDown)]
    [InlineData("\e[3~", KeyCode.Delete)]
    [InlineData("\eOP", KeyCode.F1)]
    [InlineData("\e[15~", KeyCode.F5)]
    [InlineData("\e[24~", KeyCode.F12)]
    public void EscapeSequences(string seq, KeyCode code) => Assert.Equal([new KeyEvent(code)], Parse(seq));

    [Fact]
    public void ModifiersAltAndBackTab()
    {
        Assert.Equal([new KeyEvent(KeyCode.Up, '\0', KeyModifiers.Ctrl)], Parse("\e[1;5A"));
        Assert.Equal([new KeyEvent(KeyCode.Char, 'x', KeyModifiers.Alt)], Parse("\ex"));
        Assert.Equal([new KeyEvent(KeyCode.Tab, '\0', KeyModifiers.Shift)], Parse("\e[Z"));
    }

    [Fact]
    public void SequencesSplitAcrossReadsAreReassembled()
    {
        var p = new KeyParser();
        Assert.Empty(p.Feed("\e"u8));
        Assert.Empty(p.Feed("["u8));
        Assert.Empty(p.Feed("1;2"u8));
        Assert.Equal([new KeyEvent(KeyCode.Right, '\0', KeyModifiers.Shift)], p.Feed("C"u8));
        Assert.Empty(p.Feed(new byte[] { 0xC3 }));            // half of é
        Assert.Equal([KeyEvent.Printable('é')], p.Feed(new byte[] { 0xA9 }));
    }

    [Fact]
    public void LoneEscapeIsResolvedByFlush()
    {
        var p = new KeyParser();
        Assert.Empty(p.Feed("\e"u8));
        Assert.Equal([new KeyEvent(KeyCode.Escape)], p.Flush());
        Assert.Empty(p.Flush());
    }

    [Fact]
    public void UnknownAndGarbageSequencesAreDropped()
    {
        var keys = Parse("\e[99~\e[1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17;18Xq");
        Assert.Equal([KeyEvent.Printable('q')], keys);
    }
}

public class ServerErrorTests
{
    [Fact]
    public void TheSignalRPrefixIsStripped()
    {
        Assert.Equal("viewers cannot type", Lab.TuiClient.App.ServerErrors.Reason("An unexpected error occurred invoking 'Key' on the server. HubException: viewers cannot type"));
        Assert.Equal("plain", Lab.TuiClient.App.ServerErrors.Reason("plain"));
    }
}
