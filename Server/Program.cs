using Lab.Server;

// Lab server: `dotnet run --project Server [--urls http://host:port] [--data DIR]`.
// Listens on http://localhost:5080 by default, hub at /hubs/lab, creates the public session "demo".
LabServerHost.Create(args).Run();
