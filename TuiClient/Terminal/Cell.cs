namespace Lab.TuiClient.Terminal;

/// <summary>Text attributes of a cell besides its colours.</summary>
[Flags]
public enum CellStyle : byte
{
    None = 0,
    Bold = 1,
    Underline = 2,
    Reverse = 4,
}

/// <summary>
/// One character cell: a character and its colours. Colours are CGA palette indices 0..15
/// (the WeensyOS screen's own palette) or <see cref="DefaultColor"/> for the terminal's default.
/// </summary>
public readonly record struct Cell(char Char, byte Foreground, byte Background, CellStyle Style = CellStyle.None)
{
    public const byte DefaultColor = 0xFF;
    public static readonly Cell Blank = new(' ', DefaultColor, DefaultColor);

    /// <summary>A cell from a CGA text-mode word: low byte character (code page 437), high byte attribute.</summary>
    public static Cell FromCga(ushort word)
    {
        byte ch = (byte)word, attr = (byte)(word >> 8);
        return new Cell(CodePage437.ToChar(ch), (byte)(attr & 0x0F), (byte)(attr >> 4));
    }
}

/// <summary>Code page 437 (the CGA character ROM) to Unicode.</summary>
public static class CodePage437
{
    private const string High =
        "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀" +
        "αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00A0";
    private const string Low = "\u0020☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼";

    public static char ToChar(byte b) => b switch
    {
        < 0x20 => Low[b],
        < 0x7F => (char)b,
        0x7F => '⌂',
        _ => High[b - 0x80],
    };
}
