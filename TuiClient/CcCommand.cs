using System.ComponentModel;
using System.Diagnostics;

namespace Lab.TuiClient;

/// <summary>
/// `tui cc [gcc options] FILE.c... -o OUT`: compiles a user's C program against the POSIX userland's
/// freestanding libc (userland/posix/include, userland/build/posix/{include,libc.a}, built with make when
/// missing) into a static ELF that `tui run --profile posix OUT` runs. Exit status: gcc's, 2 for usage
/// errors, 127 when gcc (or make) cannot be started.
/// </summary>
public static class CcCommand
{
    // The flags of userland/posix/Makefile: freestanding, non-PIC, no SSE, static at 4 KiB pages.
    private static readonly string[] CFlags =
    [
        "-std=gnu11", "-O2", "-m64", "-nostdinc", "-ffreestanding", "-fno-builtin", "-fno-pie", "-fno-pic",
        "-mgeneral-regs-only", "-fno-stack-protector", "-fcf-protection=none",
        "-fno-asynchronous-unwind-tables", "-fno-exceptions",
    ];
    private static readonly string[] LdFlags =
    [
        "-static", "-nostdlib", "-no-pie", "-Wl,-z,max-page-size=0x1000", "-Wl,--build-id=none", "-Wl,-z,noexecstack",
    ];

    public static int Execute(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args.Contains("-h") || args.Contains("--help"))
        {
            stderr.WriteLine("usage: tui cc [gcc options] FILE.c... -o OUT");
            return 2;
        }
        if (!args.Any(a => a.EndsWith(".c", StringComparison.Ordinal) || a.EndsWith(".o", StringComparison.Ordinal)
                           || a.EndsWith(".S", StringComparison.Ordinal) || a.EndsWith(".s", StringComparison.Ordinal)))
        {
            stderr.WriteLine("tui cc: no input files (FILE.c...)");
            return 2;
        }
        if (args.Any(a => a is "-c" or "-S" or "-E"))
        {
            stderr.WriteLine("tui cc: only whole programs are supported (no -c/-S/-E)");
            return 2;
        }
        string? posix = FindUserland();
        if (posix is null)
        {
            stderr.WriteLine("tui cc: cannot find userland/posix (run tui from the Lab repository, or set LAB_ROOT)");
            return 2;
        }
        string cc = Environment.GetEnvironmentVariable("CC") is { Length: > 0 } envCc ? envCc : "gcc";
        string build = Path.GetFullPath(Path.Combine(posix, "..", "build", "posix"));
        string libc = Path.Combine(build, "libc.a"), crt0 = Path.Combine(build, "obj", "libc", "crt0.S.o");
        string generated = Path.Combine(build, "include");   // posix_syscalls.h, made from the kernel's table
        if (!File.Exists(libc) || !File.Exists(crt0) || !File.Exists(Path.Combine(generated, "posix_syscalls.h")))
        {
            int rc = Exec("make", ["-s", "-C", posix, "CC=" + cc, "../build/posix/libc.a"], stdout, stderr, out bool missing);
            if (missing) { stderr.WriteLine("tui cc: make not found: it is needed to build libc.a"); return 127; }
            if (rc != 0 || !File.Exists(libc) || !File.Exists(crt0))
            {
                stderr.WriteLine($"tui cc: building {libc} failed");
                return rc != 0 ? rc : 1;
            }
        }
        var gccArgs = new List<string>(CFlags)
        {
            "-I" + Path.Combine(posix, "include"),
            "-I" + generated,
        };
        gccArgs.AddRange(LdFlags);
        gccArgs.Add(crt0);
        gccArgs.AddRange(args);
        gccArgs.Add(libc);
        gccArgs.Add("-lgcc");
        int code = Exec(cc, gccArgs, stdout, stderr, out bool noGcc);
        if (noGcc)
        {
            stderr.WriteLine($"tui cc: '{cc}' not found: install gcc (x86-64) to compile programs for the POSIX profile");
            return 127;
        }
        return code;
    }

    /// <summary>userland/posix of the repository: LAB_ROOT, then upwards from the current directory, tui's own
    /// directory and the source checkout tui was built from.</summary>
    internal static string? FindUserland()
    {
        var starts = new List<string>();
        if (Environment.GetEnvironmentVariable("LAB_ROOT") is { Length: > 0 } root) starts.Add(root);
        starts.Add(Directory.GetCurrentDirectory());
        starts.Add(AppContext.BaseDirectory);
        starts.Add(Path.GetDirectoryName(SourceFile())!);   // the checkout tui was built from
        foreach (var start in starts)
        {
            for (var dir = new DirectoryInfo(Path.GetFullPath(start)); dir is not null; dir = dir.Parent)
            {
                string p = Path.Combine(dir.FullName, "userland", "posix");
                if (File.Exists(Path.Combine(p, "Makefile")) && Directory.Exists(Path.Combine(p, "include"))) return p;
            }
        }
        return null;
    }

    private static string SourceFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;

    private static int Exec(string file, IEnumerable<string> args, TextWriter stdout, TextWriter stderr, out bool notFound)
    {
        notFound = false;
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (Win32Exception) { notFound = true; return 127; }
        using (p)
        {
            var o = p.StandardOutput.ReadToEndAsync();
            var e = p.StandardError.ReadToEndAsync();
            p.WaitForExit();
            stdout.Write(o.Result);
            stderr.Write(e.Result);
            return p.ExitCode;
        }
    }
}
