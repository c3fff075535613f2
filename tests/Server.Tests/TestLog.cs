using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Lab.Server.Tests;

/// <summary>What a test server logged: every entry with its level, category, text and exception.</summary>
public sealed class TestLog : ILoggerProvider
{
    public sealed record Entry(LogLevel Level, string Category, string Text, Exception? Exception);

    private readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyList<Entry> Entries => _entries.ToArray();

    public IEnumerable<Entry> Containing(string text) => Entries.Where(e => e.Text.Contains(text, StringComparison.Ordinal));

    /// <summary>Waits until an entry satisfies <paramref name="match"/> (polls; the server logs from its own threads).</summary>
    public async Task<Entry> WaitForAsync(Func<Entry, bool> match, string what, int timeoutSeconds = 60)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(timeoutSeconds);
        while (true)
        {
            if (Entries.FirstOrDefault(match) is { } e) return e;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"timed out waiting for a log line: {what}; the log has:\n" + string.Join("\n", Entries.TakeLast(30).Select(x => $"{x.Level} {x.Category}: {x.Text}")));
            await Task.Delay(20);
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
    public void Dispose() { }

    private sealed class Logger(TestLog sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            sink._entries.Enqueue(new Entry(logLevel, category, formatter(state, exception), exception));
    }
}
