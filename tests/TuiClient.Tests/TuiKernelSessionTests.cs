using System.Text.RegularExpressions;
using Lab.Server;
using Lab.TestSupport;

namespace Lab.TuiClient.Tests;

/// <summary>`tui create --kernel` and `tui push` against a real server, as a student would type them.</summary>
public class TuiKernelSessionTests
{
    private static (int Code, string Out, string Err) Tui(params string[] args) => TuiRunTests.Tui(args);

    [Fact]
    public async Task A_student_creates_a_session_from_their_kernel_and_pushes_a_new_build()
    {
        string data = Path.Combine(Path.GetTempPath(), "lab-tui-kernel-" + Guid.NewGuid().ToString("N"));
        await using var app = LabServerHost.Create(["--urls", "http://127.0.0.1:0", "--data", data], quiet: true);
        await app.StartAsync();
        string host = new Uri(LabServerHost.BoundUrl(app)).Authority;

        var created = Tui("create", $"{host}/lab4", "--kernel", LabKernelBuild.PathOf("step4"));
        Assert.True(created.Code == 0, created.Err);
        string key = Regex.Match(created.Out, @"instructor key: (\S+)").Groups[1].Value;
        Assert.NotEmpty(key);

        var list = Tui("sessions", host);
        Assert.Matches(@"lab4\s+kernel\s+kernel\s", list.Out);

        string junk = Path.Combine(Path.GetTempPath(), "junk-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(junk, "#!/bin/sh\necho not a kernel\n");
        var refused = Tui("push", $"{host}/lab4", junk, "--key", key);
        Assert.Equal(1, refused.Code);
        Assert.Contains("the session keeps its kernel", refused.Err);

        var pushed = Tui("push", $"{host}/lab4", LabKernelBuild.PathOf("step7"), "--key", key, "--reboot");
        Assert.True(pushed.Code == 0, pushed.Err);
        Assert.Contains("pushed kernel", pushed.Out);
        Assert.Contains("rebooting kernel", pushed.Out);

        var missing = Tui("push", $"{host}/lab4", "/no/such/kernel", "--key", key);
        Assert.Equal(2, missing.Code);
        Assert.Contains("cannot read /no/such/kernel", missing.Err);
        await app.StopAsync();
    }
}
