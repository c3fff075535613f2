using System.Text;
using System.Text.RegularExpressions;

namespace Lab.TuiClient.Tests;

/// <summary>A writer for a command run on another thread: remembers everything and signals when the text matches a pattern
/// (e.g. the line that says which port gdb attaches to).</summary>
internal sealed class WatchedWriter(Regex pattern) : TextWriter
{
    private readonly StringBuilder _text = new();
    public TaskCompletionSource<Match> Seen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public override Encoding Encoding => Encoding.UTF8;
    public override void Write(char value)
    {
        lock (_text)
        {
            _text.Append(value);
            var m = pattern.Match(_text.ToString());
            if (m.Success) Seen.TrySetResult(m);
            Monitor.PulseAll(_text);
        }
    }

    /// <summary>Waits until the text contains <paramref name="text"/> (woken by each write; at most
    /// <paramref name="limit"/>, which only bounds a failure). Returns whether it does.</summary>
    public bool WaitFor(string text, TimeSpan limit)
    {
        var until = DateTime.UtcNow + limit;
        lock (_text)
        {
            while (!_text.ToString().Contains(text))
            {
                var left = until - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) return false;
                Monitor.Wait(_text, left);
            }
            return true;
        }
    }
    public override string ToString() { lock (_text) return _text.ToString(); }
}
