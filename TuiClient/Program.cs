using Lab.TuiClient;

return Cli.Run(args, Console.Out, Console.Error);
