using System.Text;
using Lab.Machine.Devices;

namespace Lab.TuiClient;

/// <summary>Prints the 80x25 CGA screen as plain text or with ANSI colours.</summary>
public static class ScreenRenderer
{
    /// <summary>CGA colour index (0-15) to the ANSI SGR colour offset (black, blue, green, cyan, red, magenta, brown, grey).</summary>
    private static readonly int[] CgaToAnsi = [0, 4, 2, 6, 1, 5, 3, 7];

    public static void WriteText(CgaText cga, TextWriter w)
    {
        foreach (string line in cga.ToTextLines()) w.WriteLine(line.TrimEnd());
    }

    /// <summary>Every cell with its foreground and background colour (SGR 30-37/90-97, 40-47/100-107).</summary>
    public static void WriteAnsi(CgaText cga, TextWriter w)
    {
        var sb = new StringBuilder();
        for (int r = 0; r < CgaText.Rows; r++)
        {
            int last = -1;
            for (int c = 0; c < CgaText.Columns; c++)
            {
                ushort cell = cga[r, c];
                int attr = cell >> 8;
                if (attr != last)
                {
                    sb.Append(Sgr(attr));
                    last = attr;
                }
                char ch = (char)(cell & 0xFF);
                sb.Append(ch is >= ' ' and < (char)0x7F ? ch : ' ');
            }
            sb.Append("\x1b[0m\n");
        }
        w.Write(sb.ToString());
    }

    public static string Sgr(int attr)
    {
        int fg = attr & 0x0F, bg = (attr >> 4) & 0x0F;
        int fgCode = (fg & 8) != 0 ? 90 + CgaToAnsi[fg & 7] : 30 + CgaToAnsi[fg & 7];
        int bgCode = (bg & 8) != 0 ? 100 + CgaToAnsi[bg & 7] : 40 + CgaToAnsi[bg & 7];
        return $"\x1b[0;{fgCode};{bgCode}m";
    }
}
