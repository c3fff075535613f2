using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Lab.TestSupport;

/// <summary>
/// Real gdb (the Debian package; test.sh installs it) in batch mode, as a student would type the
/// commands: <c>gdb -batch -nx FILE -ex 'target remote 127.0.0.1:PORT' -ex ...</c>.
/// </summary>
public static class GdbBatch
{
    /// <summary>Runs gdb on <paramref name="file"/> attached to 127.0.0.1:<paramref name="port"/> (no attach when
    /// port is null), then <paramref name="commands"/>; returns what it printed (stdout and stderr).</summary>
    public static string Run(string file, int? port, params string[] commands)
    {
        var args = new List<string> { "-batch", "-nx", "-ex", "set confirm off", "-ex", "set pagination off", file };
        if (port is int p) { args.Add("-ex"); args.Add($"target remote 127.0.0.1:{p}"); }
        foreach (string c in commands) { args.Add("-ex"); args.Add(c); }
        var r = NativeProcess.Run("gdb", args);
        return Encoding.UTF8.GetString(r.Stdout) + Encoding.UTF8.GetString(r.Stderr);
    }

    /// <summary>The value of register <paramref name="name"/> in gdb's <c>info registers</c> output (the
    /// last time it was printed), e.g. "rip 0x41770 0x41770 &lt;kernel&gt;".</summary>
    public static ulong Register(string output, string name)
    {
        var matches = Regex.Matches(output, $@"^{Regex.Escape(name)}\s+0x([0-9a-f]+)", RegexOptions.Multiline);
        if (matches.Count == 0) throw new InvalidOperationException($"gdb printed no register {name}:\n{output}");
        return ulong.Parse(matches[^1].Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }
}
