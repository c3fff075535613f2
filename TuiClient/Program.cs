using Lab.TuiClient;

// Environment.Exit rather than a return: after a hang-up a thread of Terminal.Gui still spins on the
// dead terminal and would keep the process alive once everything else was cleaned up.
Environment.Exit(Cli.Run(args, Console.Out, Console.Error));
