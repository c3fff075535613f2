using Lab.Kernel;
using Lab.TuiClient.App;
using Lab.TuiClient.Terminal;

namespace Lab.TuiClient.Tests;

/// <summary>The app against a local machine, without a terminal: keys in, screen buffer out.</summary>
public class AppTests
{
    private static async Task WaitFor(Func<bool> condition, string what)
    {
        for (int i = 0; i < 600 && !condition(); i++) await Task.Delay(100);
        Assert.True(condition(), $"timed out waiting for {what}");
    }

    private static string Text(ScreenBuffer b) => string.Join("\n", Enumerable.Range(0, b.Height).Select(b.RowText));

    [Fact]
    public async Task KeysInTheCgaPaneReachTheMachine()
    {
        await using var session = new LocalSession(new KernelOptions { Boot = "fork" });
        var app = new TuiApp(session);
        app.Resize(130, 40);
        // p-fork shares pages copy-on-write (refcount > 1); the allocators share nothing.
        bool SharedUserPage()
        {
            var pages = session.Mirror.Pages;
            for (int p = 0; p + 1 < pages.Length; p += 2)
                if ((sbyte)pages[p] > 0 && pages[p + 1] > 1) return true;
            return false;
        }
        await WaitFor(() => session.Mirror.Processes.Length == 4 && SharedUserPage(), "p-fork's four processes sharing pages");
        await app.HandleKeyAsync(KeyEvent.Printable('a'));   // WeensyOS: soft reboot into the allocators
        await WaitFor(() => session.Mirror.Processes.Length == 4 && !SharedUserPage(), "the allocators after 'a'");
        await app.RunCommandAsync("pause");
        await WaitFor(() => session.Mirror.Status is { Running: false }, "pause");
        var screen = app.Draw();
        string text = Text(screen);
        Assert.Contains("PHYSICAL MEMORY", text);
        Assert.Contains("paused", screen.RowText(screen.Height - 1));
    }

    [Fact]
    public async Task CommandBarHelpAndFilters()
    {
        await using var session = new LocalSession(new KernelOptions { Boot = "forkexit" });
        var app = new TuiApp(session);
        app.Resize(130, 40);
        foreach (char c in ":filter kind fork") await app.HandleKeyAsync(c == ':' ? KeyEvent.Printable(':') : KeyEvent.Printable(c));
        Assert.Contains(":filter kind fork", app.Draw().RowText(39));
        await app.HandleKeyAsync(new KeyEvent(KeyCode.Enter));
        Assert.Contains("event filter: fork", app.Draw().RowText(39));
        await app.HandleKeyAsync(new KeyEvent(KeyCode.F1));
        Assert.Contains("Lab TUI", Text(app.Draw()));
        await app.HandleKeyAsync(KeyEvent.Printable('x'));   // any key closes help
        Assert.DoesNotContain("Lab TUI — keys", Text(app.Draw()));
        await app.RunCommandAsync("frobnicate");
        Assert.Contains("refused: 'frobnicate' is not available", app.Draw().RowText(39));
    }
}
