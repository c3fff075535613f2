namespace Lab.TuiClient.Tests;

/// <summary>`tui cc` builds a user's C program that `tui run --profile posix` runs.</summary>
public class TuiCcTests
{
    private const string Program = """
        #include <stdio.h>
        #include <stdlib.h>
        #include <unistd.h>
        #include <sys/wait.h>

        int main(int argc, char **argv)
        {
            pid_t p = fork();
            if (p == 0) { printf("child says %s\n", argc > 1 ? argv[1] : "nothing"); return 5; }
            int st = 0;
            waitpid(p, &st, 0);
            printf("parent saw %d\n", WEXITSTATUS(st));
            return 42;
        }
        """;

    [Fact]
    public void Tui_cc_output_runs_in_the_posix_profile()
    {
        string dir = Directory.CreateTempSubdirectory("lab-tui-cc-").FullName;
        try
        {
            string src = Path.Combine(dir, "hello.c"), exe = Path.Combine(dir, "hello");
            File.WriteAllText(src, Program);
            var o = new StringWriter(); var e = new StringWriter();
            int rc = CcCommand.Execute(["-Wall", src, "-o", exe], o, e);
            Assert.True(rc == 0, $"tui cc failed ({rc}):\n{o}{e}");
            Assert.True(File.Exists(exe));

            var ro = new StringWriter(); var re = new StringWriter();
            int code = Cli.Run(["run", "--profile", "posix", exe, "hi"], ro, re, () => new MemoryStream());
            Assert.Equal(42, code);
            Assert.Equal("child says hi\nparent saw 5\n", ro.ToString());

            // through the command line dispatcher as well, and a compile error is reported with gcc's status
            File.WriteAllText(src, "int main(void) { return undeclared; }\n");
            var eo = new StringWriter(); var ee = new StringWriter();
            Assert.NotEqual(0, Cli.Run(["cc", src, "-o", exe], eo, ee));
            Assert.Contains("undeclared", ee.ToString());
            Assert.Equal(2, Cli.Run(["cc", "-o", exe], eo, ee));
        }
        finally { Directory.Delete(dir, true); }
    }

    // Recursion that wants more stack than the machine has memory: each frame touches a page.
    private const string DeepRecursion = """
        #include <stdio.h>
        static int down(int n) { volatile char page[4096]; page[0] = (char)n; return n == 0 ? 0 : down(n - 1) + page[0]; }
        int main(void) { printf("start\n"); return down(1900) & 1; }
        """;

    [Fact]
    public void A_program_that_runs_the_machine_out_of_memory_is_killed_like_linux_does_it()
    {
        string dir = Directory.CreateTempSubdirectory("lab-tui-cc-").FullName;
        try
        {
            string src = Path.Combine(dir, "deep.c"), exe = Path.Combine(dir, "deep");
            File.WriteAllText(src, DeepRecursion);
            var o = new StringWriter(); var e = new StringWriter();
            Assert.True(CcCommand.Execute(["-O0", src, "-o", exe], o, e) == 0, $"tui cc failed:\n{o}{e}");
            // 1900 pages of stack (7.4 MiB, within the 8 MiB stack limit) in a 6 MiB machine: the stack
            // cannot grow, which is the kernel running out of memory, not a bad access. Linux's OOM
            // killer sends SIGKILL, so the status is 128+9, not SIGSEGV's 139.
            var ro = new StringWriter(); var re = new StringWriter();
            int code = Cli.Run(["run", "--profile", "posix", "--mem", "6M", exe], ro, re, () => new MemoryStream());
            Assert.Equal("start\n", ro.ToString());
            Assert.Equal(137, code);
            // With room for it, the same program ends normally.
            Assert.Equal(0, Cli.Run(["run", "--profile", "posix", "--mem", "16M", exe], new StringWriter(), new StringWriter(), () => new MemoryStream()));
        }
        finally { Directory.Delete(dir, true); }
    }
}

