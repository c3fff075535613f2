using System.Diagnostics;

namespace Lab.Bench;

/// <summary>Finds qemu-user's x86-64 emulator, installing the Debian package qemu-user when it is missing.</summary>
public static class Qemu
{
    private static readonly string[] Names = ["qemu-x86_64", "qemu-x86_64-static"];

    public static string? Find()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            foreach (var name in Names)
            {
                string p = Path.Combine(dir, name);
                if (File.Exists(p)) return p;
            }
        return null;
    }

    /// <summary>Returns the path of qemu-x86_64, running `apt-get install -y qemu-user` (after
    /// `apt-get update` if the first attempt fails) when it is not installed yet.</summary>
    public static string FindOrInstall(bool allowInstall)
    {
        string? path = Find();
        if (path != null) return path;
        if (!allowInstall) throw new BenchmarkException("qemu-x86_64 is not installed (apt-get install -y qemu-user), and --no-install was given");
        Console.WriteLine("qemu-x86_64 not found: installing the Debian package qemu-user");
        if (!AptGet("install", "-y", "qemu-user"))
        {
            Console.WriteLine("install failed; refreshing the package lists first");
            if (!AptGet("update")) throw new BenchmarkException("apt-get update failed: cannot install qemu-user");
            if (!AptGet("install", "-y", "qemu-user")) throw new BenchmarkException("apt-get install -y qemu-user failed");
        }
        return Find() ?? throw new BenchmarkException("qemu-user was installed but qemu-x86_64 is still not on PATH");
    }

    internal static bool AptGet(params string[] args)
    {
        Console.WriteLine($"$ apt-get {string.Join(' ', args)}");
        var psi = new ProcessStartInfo("apt-get") { UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        try
        {
            using var p = Process.Start(psi)!;   // output goes straight to our console
            p.WaitForExit();
            Console.WriteLine($"(apt-get exited with {p.ExitCode})");
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.WriteLine($"cannot run apt-get: {e.Message}");
            return false;
        }
    }

    public static string Version(string qemu)
    {
        try
        {
            var r = Lab.TestSupport.NativeProcess.Run(qemu, ["--version"], 10_000);
            return System.Text.Encoding.UTF8.GetString(r.Stdout).Split('\n')[0].Trim();
        }
        catch (Exception e) { return $"unknown ({e.Message})"; }
    }
}
