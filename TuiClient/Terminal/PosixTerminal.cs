using System.Runtime.InteropServices;

namespace Lab.TuiClient.Terminal;

/// <summary>
/// The few libc calls the terminal layer needs: raw mode through termios (tcgetattr, cfmakeraw,
/// tcsetattr) and the window size (ioctl TIOCGWINSZ). The termios structure is treated as an opaque
/// buffer (cfmakeraw edits it), so no layout is assumed beyond its size.
/// </summary>
internal static partial class PosixTerminal
{
    private const int StdinFd = 0, StdoutFd = 1;
    private const int TCSANOW = 0;
    private const nuint TIOCGWINSZ = 0x5413;   // Linux
    private const int TermiosBufferSize = 128;  // larger than struct termios on every Linux ABI

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int tcgetattr(int fd, byte* termios);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int tcsetattr(int fd, int optionalActions, byte* termios);

    [LibraryImport("libc")]
    private static unsafe partial void cfmakeraw(byte* termios);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int ioctl(int fd, nuint request, ushort* winsize);

    /// <summary>Switches stdin to raw mode; returns the previous settings (null if stdin is not a terminal).</summary>
    public static unsafe byte[]? EnterRawMode()
    {
        if (OperatingSystem.IsWindows()) return null;
        var saved = new byte[TermiosBufferSize];
        fixed (byte* p = saved)
        {
            if (tcgetattr(StdinFd, p) != 0) return null;
        }
        var raw = (byte[])saved.Clone();
        fixed (byte* p = raw)
        {
            cfmakeraw(p);
            tcsetattr(StdinFd, TCSANOW, p);
        }
        return saved;
    }

    public static unsafe void Restore(byte[] saved)
    {
        fixed (byte* p = saved) tcsetattr(StdinFd, TCSANOW, p);
    }

    public static unsafe bool TryGetSize(out int columns, out int rows)
    {
        columns = rows = 0;
        if (OperatingSystem.IsWindows()) return false;
        ushort* ws = stackalloc ushort[4];
        if (ioctl(StdoutFd, TIOCGWINSZ, ws) != 0 && ioctl(StdinFd, TIOCGWINSZ, ws) != 0) return false;
        rows = ws[0];
        columns = ws[1];
        return rows > 0 && columns > 0;
    }
}
