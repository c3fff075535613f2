using System.Text.Json;
using Lab.TestSupport;

namespace Lab.Server.Tests;

/// <summary>
/// The official JavaScript SignalR client (@microsoft/signalr + @microsoft/signalr-protocol-msgpack from
/// npm) against a real server on loopback: it connects unchanged, joins demo, receives frames, and gets
/// a clear error when it sends a key as a viewer; it creates a private session from JS (options as the
/// documented array) and joins it as the instructor, reads Info, and removes a student who rejoined with its token.
/// </summary>
public class OfficialJsClientTests
{
    /// <summary>The js/ folder beside this source file (found at compile time, so any output path works).</summary>
    private static string JsDirectory([System.Runtime.CompilerServices.CallerFilePath] string source = "") =>
        Path.Combine(Path.GetDirectoryName(source)!, "js");

    private static void EnsureNodeModules(string js)
    {
        if (Directory.Exists(Path.Combine(js, "node_modules", "@microsoft", "signalr-protocol-msgpack"))) return;
        var (code, stdout, stderr) = Gcc.Run("npm", ["ci", "--no-audit", "--no-fund", "--prefix", js], timeoutMs: 300_000);
        if (code != 0) throw new InvalidOperationException($"npm ci failed in {js} (run it by hand):\n{stderr}{stdout}");
    }

    [Fact]
    public async Task OfficialClientJoinsDemoReceivesFramesAndIsRefusedKeysAsViewer()
    {
        string js = JsDirectory();
        EnsureNodeModules(js);
        await using var server = await LabServerFixture.StartAsync();
        var (code, stdout, stderr) = Gcc.Run("node", [Path.Combine(js, "official-client.mjs"), server.Url], timeoutMs: 120_000);
        Assert.True(code == 0, $"node client failed ({code}):\n{stderr}\n{stdout}");
        using var doc = JsonDocument.Parse(stdout.Trim().Split('\n').Last());
        var r = doc.RootElement;
        Assert.Contains("demo", r.GetProperty("sessions").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(0, r.GetProperty("role").GetInt32());                 // viewer
        Assert.True(r.GetProperty("firstFrameFull").GetBoolean());
        Assert.Equal(4000, r.GetProperty("screenBytes").GetInt32());       // 80x25 cells of 2 bytes
        Assert.Contains("viewers cannot type", r.GetProperty("keyError").GetString());
        Assert.Contains("Method does not exist", r.GetProperty("unknownMethodError").GetString());
        // Wire format 2 both ways: frames and results are arrays; JS writes session options as one.
        Assert.True(r.GetProperty("frameIsArray").GetBoolean());
        Assert.Equal("js-made", r.GetProperty("createdName").GetString());
        Assert.Matches("^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$", r.GetProperty("joinCode").GetString());
        Assert.Equal(2, r.GetProperty("madeRole").GetInt32());            // instructor
        Assert.Equal("fork", r.GetProperty("madeProgram").GetString());
        Assert.Equal("3", r.GetProperty("madeStep").GetString());
        // Info, rejoin tokens and removal work from JS too.
        Assert.True(r.GetProperty("infoKeyMatches").GetBoolean());
        Assert.True(r.GetProperty("infoCodeMatches").GetBoolean());
        Assert.StartsWith("session js-made: weensyos fork at step 3, private; you are js-prof (p1), instructor; join code ", r.GetProperty("infoText").GetString());
        Assert.True(r.GetProperty("rejoinSameId").GetBoolean());
        Assert.Equal("removed js-student", r.GetProperty("removeAnswer").GetString());
        Assert.Equal("js-prof", r.GetProperty("removedBy").GetString());
        Assert.Contains("you were removed from this session by js-prof", r.GetProperty("afterRemoval").GetString());
    }
}
