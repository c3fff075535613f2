using Lab.Server;

// Lab server: `dotnet run --project Server [--urls http://host:port] [--data DIR] [--demo-key KEY]`.
// Listens on http://localhost:5080 by default, hub at /hubs/lab, creates the public session "demo"
// (its instructor key: --demo-key, else DATA/demo.key, else a new one; logged at start).
LabServerHost.Create(args).Run();
