using System.Text;
using Terminal.Gui.Drawing;
using Terminal.Gui.Input;
using Terminal.Gui.ViewBase;
using Attribute = Terminal.Gui.Drawing.Attribute;
using GuiColor = Terminal.Gui.Drawing.Color;

namespace Lab.TuiClient.App;

/// <summary>
/// A pane as a Terminal.Gui view: its frame carries the title, its content is drawn by one of
/// <see cref="Panes"/>' functions onto a <see cref="CellGrid"/> and copied in, and mouse clicks and the wheel go
/// to the handlers the app gives it. Keys are routed by the app (see <see cref="LabController"/>).
/// </summary>
public sealed class PaneView : View
{
    private readonly Action<ICanvas> _draw;
    private CellGrid? _content;   // what the pane shows now, frame included (drawn off screen, then copied)

    /// <summary>The pane's frame, drawn by the pane itself (not as a Terminal.Gui border: redrawing a
    /// border makes Terminal.Gui send its whole rows again, and a session redraws 30 times a second).</summary>
    public PaneFrame FrameStyle { get; set; }
    public string FrameTitle { get; set; } = "";

    /// <summary>Where the content goes inside the frame.</summary>
    private System.Drawing.Rectangle Inner(int width, int height) => FrameStyle switch
    {
        PaneFrame.Box => new(1, 1, Math.Max(0, width - 2), Math.Max(0, height - 2)),
        PaneFrame.TitleLine => new(0, 1, width, Math.Max(0, height - 1)),
        _ => new(0, 0, width, height),
    };

    public PaneView(Action<ICanvas> draw)
    {
        _draw = draw;
        CanFocus = false;   // the controller owns the focus; views show it in their titles
    }

    /// <summary>A click (x, y inside the content), or the wheel (+1 up, -1 down).</summary>
    public Action<int, int>? Clicked { get; set; }
    public Action<int>? Wheeled { get; set; }

    /// <summary>Draws the pane off screen and asks Terminal.Gui to draw it only when something in it
    /// changed: a session's frames arrive 30 times a second, and most panes stay the same.</summary>
    public void Refresh()
    {
        if (!Visible) return;
        var fresh = Render();
        var old = _content;
        _content = fresh;
        if (old is null || old.Width != fresh.Width || old.Height != fresh.Height) { SetNeedsDraw(); return; }
        // Only the rectangle around what changed: redrawing the whole view would redraw its frame too,
        // and Terminal.Gui then sends every row from one frame line to the other.
        if (fresh.ChangedBounds(old) is { } changed) SetNeedsDraw(changed);
    }

    private CellGrid Render()
    {
        int w = Viewport.Width, h = Viewport.Height;
        var grid = new CellGrid(w, h);
        var inner = Inner(w, h);
        if (FrameStyle == PaneFrame.Box && w >= 2 && h >= 2)
        {
            grid.Fill(0, 0, w, 1, new Cell('─', Panes.Grey, Cell.DefaultColor));
            grid.Fill(0, h - 1, w, 1, new Cell('─', Panes.Grey, Cell.DefaultColor));
            grid.Fill(0, 0, 1, h, new Cell('│', Panes.Grey, Cell.DefaultColor));
            grid.Fill(w - 1, 0, 1, h, new Cell('│', Panes.Grey, Cell.DefaultColor));
            grid.Put(0, 0, new Cell('┌', Panes.Grey, Cell.DefaultColor));
            grid.Put(w - 1, 0, new Cell('┐', Panes.Grey, Cell.DefaultColor));
            grid.Put(0, h - 1, new Cell('└', Panes.Grey, Cell.DefaultColor));
            grid.Put(w - 1, h - 1, new Cell('┘', Panes.Grey, Cell.DefaultColor));
        }
        else if (FrameStyle == PaneFrame.TitleLine) grid.Fill(0, 0, w, 1, new Cell('─', Panes.Grey, Cell.DefaultColor));
        if (FrameStyle != PaneFrame.None && FrameTitle.Length > 0 && w > 4)
            grid.Write(1, 0, $"┤{FrameTitle}├", Panes.White, maxWidth: w - 2);
        _draw(new SubCanvas(grid, inner));
        return grid;
    }

    // Every cell is painted by OnDrawingContent: clearing first (or drawing the empty Text) would make
    // every cell look changed.
    protected override bool OnClearingViewport() => true;
    protected override bool OnDrawingText(DrawContext? context) => true;
    protected override bool OnDrawingText() => true;

    protected override bool OnDrawingContent(DrawContext? context)
    {
        if (_content is null || _content.Width != Viewport.Width || _content.Height != Viewport.Height) _content = Render();
        CopyChanged(_content);
        return true;
    }

    /// <summary>Writes the grid's cells as Terminal.Gui runes and attributes in the CGA palette's exact
    /// colours (the default colour is the view's own), skipping cells the terminal already shows as
    /// they are (Terminal.Gui sends every cell written since the last output, changed or not).</summary>
    private void CopyChanged(CellGrid grid)
    {
        var normal = GetAttributeForRole(VisualRole.Normal);
        var screen = App?.Driver?.Contents;
        for (int y = 0; y < Math.Min(Viewport.Height, grid.Height); y++)
            for (int x = 0; x < Math.Min(Viewport.Width, grid.Width); x++)
            {
                var cell = grid[x, y];
                var attribute = AttributeOf(cell, normal);
                if (screen is not null)
                {
                    var at = ViewportToScreen(new System.Drawing.Point(x, y));
                    if ((uint)at.Y < (uint)screen.GetLength(0) && (uint)at.X < (uint)screen.GetLength(1)
                        && screen[at.Y, at.X] is { IsDirty: false, Grapheme: { Length: 1 } g } shown && g[0] == cell.Char && shown.Attribute == attribute)
                        continue;
                }
                SetAttribute(attribute);
                AddRune(x, y, new Rune(cell.Char));
            }
    }

    private static Attribute AttributeOf(Cell cell, Attribute normal)
    {
        var fg = cell.Foreground == Cell.DefaultColor ? normal.Foreground : CgaPalette.Colors[cell.Foreground & 15];
        var bg = cell.Background == Cell.DefaultColor ? normal.Background : CgaPalette.Colors[cell.Background & 15];
        if (cell.Style.HasFlag(CellStyle.Reverse)) (fg, bg) = (bg, fg);
        var style = cell.Style.HasFlag(CellStyle.Bold) ? TextStyle.Bold : cell.Style.HasFlag(CellStyle.Underline) ? TextStyle.Underline : TextStyle.None;
        return new Attribute(fg, bg, style);
    }

    protected override bool OnMouseEvent(Mouse mouse)
    {
        if (mouse.Flags.HasFlag(MouseFlags.WheeledUp)) { Wheeled?.Invoke(+1); return true; }
        if (mouse.Flags.HasFlag(MouseFlags.WheeledDown)) { Wheeled?.Invoke(-1); return true; }
        if (mouse.IsSingleClicked && mouse.Position is { } at && Clicked != null)
        {
            var inner = Inner(Viewport.Width, Viewport.Height);
            if (inner.Contains(at.X, at.Y)) Clicked(at.X - inner.X, at.Y - inner.Y);
            return true;
        }
        return false;
    }
}

/// <summary>How a pane is framed: not at all, a box with the title in its top line, or only a title line.</summary>
public enum PaneFrame { None, Box, TitleLine }

/// <summary>A rectangle of another canvas, with its own origin (a pane's content inside its frame).</summary>
public sealed class SubCanvas(ICanvas outer, System.Drawing.Rectangle area) : ICanvas
{
    public int Width => area.Width;
    public int Height => area.Height;

    public void Put(int x, int y, Cell cell)
    {
        if ((uint)x < (uint)area.Width && (uint)y < (uint)area.Height) outer.Put(area.X + x, area.Y + y, cell);
    }
}

/// <summary>The CGA's 16 colours exactly (brown, not dark yellow, at 6), as the WeensyOS screen shows them.</summary>
public static class CgaPalette
{
    public static readonly GuiColor[] Colors =
    [
        new(0x00, 0x00, 0x00), new(0x00, 0x00, 0xAA), new(0x00, 0xAA, 0x00), new(0x00, 0xAA, 0xAA),
        new(0xAA, 0x00, 0x00), new(0xAA, 0x00, 0xAA), new(0xAA, 0x55, 0x00), new(0xAA, 0xAA, 0xAA),
        new(0x55, 0x55, 0x55), new(0x55, 0x55, 0xFF), new(0x55, 0xFF, 0x55), new(0x55, 0xFF, 0xFF),
        new(0xFF, 0x55, 0x55), new(0xFF, 0x55, 0xFF), new(0xFF, 0xFF, 0x55), new(0xFF, 0xFF, 0xFF),
    ];
}
