using Terminal.Gui.App;
using Terminal.Gui.ViewBase;
using Terminal.Gui.Views;

namespace Lab.TuiClient.App;

/// <summary>
/// `tui connect` without a target: a dialog asks for the session (HOST[:PORT]/SESSION), your name and
/// the join code or instructor key, connects, and on failure says why and asks again (Cancel gives up).
/// </summary>
public static class ConnectDialog
{
    /// <summary>What the user filled in.</summary>
    public sealed record Answer(SessionCommands.Target Target, string Name, string? Secret);

    /// <summary>Asks until <paramref name="connect"/> succeeds (its <see cref="CommandFailedException"/>
    /// is shown and the dialog comes back) or the user cancels (null).</summary>
    public static ISessionSource? Connect(IApplication app, string? name, string? secret, Func<Answer, ISessionSource> connect)
    {
        string target = "localhost/demo";
        name ??= Environment.UserName;
        while (true)
        {
            if (Ask(app, target, name, secret) is not { } filled) return null;
            (target, name, secret) = filled;
            if (SessionCommands.ParseTarget(target) is not { Session: not null } parsed)
            {
                MessageBox.ErrorQuery(app, "Connect", $"'{target}' is not HOST[:PORT]/SESSION (e.g. lab.example.org/demo or localhost:5080/lab4)", "_OK");
                continue;
            }
            try { return connect(new Answer(new SessionCommands.Target(target, parsed.BaseUrl, parsed.Session), name, secret)); }
            catch (CommandFailedException e) { MessageBox.ErrorQuery(app, "Cannot connect", e.Message, "_OK"); }
        }
    }

    private static (string Target, string Name, string? Secret)? Ask(IApplication app, string target, string name, string? secret)
    {
        var dialog = new Dialog { Title = "Connect to a Lab session", Width = Dim.Percent(80), Height = 13 };
        var targetField = new TextField { X = 1, Y = 1, Width = Dim.Fill(1), Text = target };
        var nameField = new TextField { X = 1, Y = 4, Width = Dim.Fill(1), Text = name };
        var secretField = new TextField { X = 1, Y = 7, Width = Dim.Fill(1), Text = secret ?? "", Secret = true };
        dialog.Add(
            new Label { X = 1, Y = 0, Text = "Session (HOST[:PORT]/SESSION):" }, targetField,
            new Label { X = 1, Y = 3, Text = "Your name:" }, nameField,
            new Label { X = 1, Y = 6, Text = "Join code or instructor key (empty for a public session):" }, secretField);
        // Terminal.Gui's convention: the last button is the default (Enter in a field presses it) and any
        // other, or Esc, cancels.
        dialog.AddButton(new Button { Text = "C_ancel" });
        dialog.AddButton(new Button { Text = "_Connect" });
        app.Invoke(() => targetField.SetFocus());   // once the dialog runs: it would focus its buttons
        app.Run(dialog);
        bool accepted = !dialog.Canceled;
        dialog.Dispose();
        if (!accepted) return null;
        string s = secretField.Text.Trim();
        return (targetField.Text.Trim(), nameField.Text.Trim() is { Length: > 0 } n ? n : Environment.UserName, s.Length == 0 ? null : s);
    }
}
