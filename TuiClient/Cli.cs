namespace Lab.TuiClient;

/// <summary>The `tui` command line: dispatches subcommands.</summary>
public static class Cli
{
    public const string Usage = """
        usage: tui <command> [options]

        commands:
          run --weensyos allocator|fork|forkexit [--step 0..7|cow] [--ticks N] [--no-slowdown]
              [--log FILE] [--screen[=text|ansi]]
                              run a WeensyOS machine headless until N ticks (default 1000) or power-off
          run --kernel FILE [--ticks N] [--log FILE] [--screen[=text|ansi]] [--instructions-per-second N]
              [--gdb PORT]
                              boot a kernel built from C (WeensyOS obj/kernel, obj/kernel.full or
                              weensyos.img) headless until it powers off, or for N timer interrupts;
                              --log gets the parallel-port output (what the course's grader reads);
                              --gdb waits at the kernel's entry for gdb on 127.0.0.1:PORT
                              (gdb obj/kernel.full -ex 'target remote :PORT'; 0 picks a port)
          run --profile posix [--mem SIZE] [--file HOST[=GUEST]]... [--dir HOST=GUEST]... PROGRAM [ARGS...]
                              run a POSIX program (a /bin name or a host ELF, e.g. gcc -static) in the
                              emulator, after placing files and directories (relative guest paths
                              start at /, the program's directory); console on stdout/stdin, exit
                              status = the program's (128+signal if killed, and which signal)
          cc [GCC OPTIONS] FILE.c... -o OUT
                              compile a C program against the POSIX profile's libc (needs gcc);
                              run the result with `tui run --profile posix OUT`
          connect HOST[:PORT]/SESSION [--name NAME] [--code CODE] [--key INSTRUCTOR_KEY]
                              watch and drive a session on a server (port 5080 by default)
          local [--weensyos allocator|fork|forkexit] [--step 0..7|cow]
          local --profile posix [--mem SIZE] [PROGRAM [ARGS...]]
          local --kernel FILE
                              the same interface with the machine running in this process
                              (POSIX: a console running PROGRAM, by default the shell `sh -i`;
                              --kernel: a kernel built from C, its processes being the address
                              spaces its user code runs in)
          sessions HOST[:PORT]          list a server's sessions
          create HOST[:PORT]/SESSION [--program allocator|fork|forkexit] [--step 0..7|cow] [--private]
          create HOST[:PORT]/SESSION --profile posix [--program "sh -i"] [--mem SIZE] [--private]
          create HOST[:PORT]/SESSION --kernel FILE [--private]
                              create a session; prints the instructor key (and the join code);
                              --kernel uploads a kernel built from C and runs it
          push HOST[:PORT]/SESSION FILE [--key KEY | --code CODE] [--name NAME] [--reboot]
                              replace a kernel session's kernel with a new build (drivers);
                              `reboot` (or --reboot) boots it
          upload HOST[:PORT]/SESSION FILE [PATH] [--key KEY | --code CODE]
                              put a file into a POSIX session (drivers; PATH defaults to
                              /home/student/NAME)
          gdb HOST[:PORT]/SESSION [--port 1234] [--key KEY | --code CODE]
                              serve gdb on a local port, bridged to a kernel session's shared
                              debugger (gdb obj/kernel.full -ex 'target remote :1234')
        """;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            stdout.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        switch (args[0])
        {
            case "run":
                return RunCommand.Execute(args[1..], stdout, stderr);
            case "cc":
                return CcCommand.Execute(args[1..], stdout, stderr);
            case "connect":
                return App.SessionCommands.Connect(args[1..], stdout, stderr);
            case "local":
                return App.SessionCommands.Local(args[1..], stdout, stderr);
            case "sessions":
                return App.SessionCommands.Sessions(args[1..], stdout, stderr);
            case "create":
                return App.SessionCommands.Create(args[1..], stdout, stderr);
            case "push":
                return App.SessionCommands.Push(args[1..], stdout, stderr);
            case "upload":
                return App.SessionCommands.UploadFile(args[1..], stdout, stderr);
            case "gdb":
                return App.SessionCommands.Gdb(args[1..], stdout, stderr);
            default:
                stderr.WriteLine($"tui: unknown command '{args[0]}'");
                stderr.WriteLine(Usage);
                return 2;
        }
    }
}
