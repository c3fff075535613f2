namespace Lab.TuiClient.App;

/// <summary>
/// The command bar's line: editing (cursor, Backspace, Delete, Home/End), history (Up/Down, as a
/// shell recalls earlier lines; kept across openings of the bar) and Tab completion of the word under
/// the cursor from what the session offers (verbs, panes, pids, participants). Knows nothing of drawing.
/// </summary>
public sealed class CommandLineEditor
{
    public const int MaxLength = 200, MaxHistory = 100;
    private readonly List<string> _history = new();
    private int _historyAt;          // == _history.Count: the line being typed, not a recalled one
    private string _typed = "";      // the line being typed while history is browsed

    public string Text { get; private set; } = "";
    public int Cursor { get; private set; }
    public IReadOnlyList<string> History => _history;

    /// <summary>Starts a new line (the bar opened).</summary>
    public void Start(string text = "")
    {
        Text = text;
        Cursor = text.Length;
        _historyAt = _history.Count;
    }

    /// <summary>Applies an editing key; returns false for keys that are not editing keys.</summary>
    public bool Edit(KeyEvent key)
    {
        switch (key.Code)
        {
            case KeyCode.Char when Text.Length < MaxLength:
                Text = Text.Insert(Cursor, key.Char.ToString());
                Cursor++;
                return true;
            case KeyCode.Char: return true;
            case KeyCode.Backspace when Cursor > 0:
                Text = Text.Remove(Cursor - 1, 1);
                Cursor--;
                return true;
            case KeyCode.Delete when Cursor < Text.Length:
                Text = Text.Remove(Cursor, 1);
                return true;
            case KeyCode.Backspace or KeyCode.Delete: return true;
            case KeyCode.Left: Cursor = Math.Max(0, Cursor - 1); return true;
            case KeyCode.Right: Cursor = Math.Min(Text.Length, Cursor + 1); return true;
            case KeyCode.Home or KeyCode.Ctrl when key.Code == KeyCode.Home || key.Char == 'a': Cursor = 0; return true;
            case KeyCode.End or KeyCode.Ctrl when key.Code == KeyCode.End || key.Char == 'e': Cursor = Text.Length; return true;
            case KeyCode.Ctrl when key.Char == 'u': Text = Text[Cursor..]; Cursor = 0; return true;
            case KeyCode.Up: Recall(-1); return true;
            case KeyCode.Down: Recall(+1); return true;
        }
        return false;
    }

    private void Recall(int step)
    {
        if (_historyAt == _history.Count) _typed = Text;
        int at = Math.Clamp(_historyAt + step, 0, _history.Count);
        if (at == _historyAt) return;
        _historyAt = at;
        Text = at == _history.Count ? _typed : _history[at];
        Cursor = Text.Length;
    }

    /// <summary>The line is run: it joins the history (not twice in a row) and the bar empties.</summary>
    public string Submit()
    {
        string line = Text.Trim();
        if (line.Length > 0 && (_history.Count == 0 || _history[^1] != line))
        {
            _history.Add(line);
            if (_history.Count > MaxHistory) _history.RemoveAt(0);
        }
        Start();
        return line;
    }

    /// <summary>
    /// Tab: completes the word before the cursor from <paramref name="candidates"/> (given the words
    /// before it). One match is completed with a space after it; several are completed to their common
    /// prefix. Returns the matches (for the status line), empty when nothing matches.
    /// </summary>
    public IReadOnlyList<string> Complete(Func<string[], IEnumerable<string>> candidates)
    {
        string before = Text[..Cursor];
        int start = before.LastIndexOf(' ') + 1;
        string word = before[start..];
        string[] previous = before[..start].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var matches = candidates(previous).Where(c => c.StartsWith(word, StringComparison.OrdinalIgnoreCase))
            .Distinct(StringComparer.OrdinalIgnoreCase).OrderBy(c => c, StringComparer.Ordinal).ToList();
        if (matches.Count == 0) return matches;
        string completion = matches.Count == 1 ? matches[0] + " " : CommonPrefix(matches);
        if (completion.Length < word.Length) return matches;
        Text = Text[..start] + completion + Text[Cursor..];
        Cursor = start + completion.Length;
        return matches;
    }

    private static string CommonPrefix(List<string> words)
    {
        string prefix = words[0];
        foreach (var w in words)
        {
            int n = 0;
            while (n < prefix.Length && n < w.Length && char.ToLowerInvariant(prefix[n]) == char.ToLowerInvariant(w[n])) n++;
            prefix = prefix[..n];
        }
        return prefix;
    }
}
