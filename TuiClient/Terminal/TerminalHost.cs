using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace Lab.TuiClient.Terminal;

/// <summary>An input event from the terminal: a key, or a new size.</summary>
public abstract record TerminalEvent;
public sealed record KeyPressed(KeyEvent Key) : TerminalEvent;
public sealed record Resized(int Width, int Height) : TerminalEvent;

/// <summary>
/// The real terminal: raw mode (termios), the alternate screen, a hidden cursor, raw key bytes read from
/// stdin and parsed by <see cref="KeyParser"/>, resizes from SIGWINCH (and polling as a fallback).
/// Everything is restored on <see cref="Dispose"/>, including after Ctrl+C or an exception.
/// This class is the only place that touches the console; panes draw into a <see cref="ScreenBuffer"/>.
/// </summary>
public sealed class TerminalHost : IDisposable
{
    private readonly Channel<TerminalEvent> _events = Channel.CreateUnbounded<TerminalEvent>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Stream _stdout = Console.OpenStandardOutput();
    // fd 0 itself: Console.OpenStandardInput() on a terminal reads through .NET's line editor
    // (buffered until Enter, echoed by the runtime), which is exactly what raw mode must avoid.
    private readonly Stream _stdin = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(0, ownsHandle: false), FileAccess.Read, bufferSize: 0);
    private readonly AnsiRenderer _renderer = new();
    private PosixSignalRegistration? _winch;
    private byte[]? _saved;
    private int _width, _height;
    private bool _disposed;

    public int Width => _width;
    public int Height => _height;
    public ChannelReader<TerminalEvent> Events => _events.Reader;
    public ColorMode Colors { get => _renderer.Colors; set => _renderer.Colors = value; }

    public TerminalHost()
    {
        (_width, _height) = CurrentSize();
        // termios through libc, not a child stty: .NET re-applies its own terminal settings whenever
        // a child process exits, which would silently undo raw mode.
        _saved = PosixTerminal.EnterRawMode();
        Write("\e[?1049h\e[?25l\e[2J");   // alternate screen, hide cursor, clear
        if (!OperatingSystem.IsWindows())
            _winch = PosixSignalRegistration.Create(PosixSignal.SIGWINCH, ctx => { ctx.Cancel = true; CheckResize(); });
        _ = Task.Run(ReadInputAsync);
        _ = Task.Run(PollSizeAsync);
    }

    /// <summary>Draws a frame: only the cells that changed since the last one are written.</summary>
    public void Present(ScreenBuffer frame)
    {
        string s = _renderer.Render(frame);
        if (s.Length > 0) Write(s);
    }

    /// <summary>Forces the next frame to redraw everything (after a resize).</summary>
    public void Invalidate() => _renderer.Invalidate();

    private void Write(string s)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(s);
        lock (_stdout)
        {
            _stdout.Write(bytes);
            _stdout.Flush();
        }
    }

    private async Task ReadInputAsync()
    {
        var parser = new KeyParser();
        var buf = new byte[256];
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            int n;
            try
            {
                var read = _stdin.ReadAsync(buf, token).AsTask();
                // A lone ESC is only the Escape key if nothing follows quickly.
                var first = await Task.WhenAny(read, Task.Delay(50, token)).ConfigureAwait(false);
                if (first != read)
                {
                    foreach (var k in parser.Flush()) _events.Writer.TryWrite(new KeyPressed(k));
                    n = await read.ConfigureAwait(false);
                }
                else n = read.Result;
            }
            catch (OperationCanceledException) { break; }
            catch (IOException) { break; }
            if (n <= 0) break;
            foreach (var k in parser.Feed(buf.AsSpan(0, n))) _events.Writer.TryWrite(new KeyPressed(k));
        }
        _events.Writer.TryComplete();
    }

    private async Task PollSizeAsync()
    {
        // SIGWINCH covers real terminals; polling once a second also catches a multiplexer that
        // resized us while the signal was not delivered.
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                await Task.Delay(1000, _stop.Token).ConfigureAwait(false);
                CheckResize();
            }
        }
        catch (OperationCanceledException) { }
    }

    private void CheckResize()
    {
        var (w, h) = CurrentSize();
        if (w == _width && h == _height) return;
        _width = w;
        _height = h;
        _renderer.Invalidate();
        _events.Writer.TryWrite(new Resized(w, h));
    }

    private static (int Width, int Height) CurrentSize()
    {
        if (PosixTerminal.TryGetSize(out int cols, out int rows)) return (cols, rows);
        return (80, 25);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stop.Cancel();
        _winch?.Dispose();
        Write("\e[0m\e[?25h\e[?1049l");   // reset colours, show cursor, leave the alternate screen
        if (_saved != null) PosixTerminal.Restore(_saved);
    }
}
