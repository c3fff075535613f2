using Lab.Server;

// Lab server: `dotnet run --project Server [--urls http://host:port] [--data DIR] [--demo-key KEY]`.
// Listens on http://localhost:5080 by default, hub at /hubs/lab, creates the public session "demo"
// (its instructor key: --demo-key, else DATA/demo.key, else a new one; logged at start).
// With --redis HOST:PORT it is a node of a cluster (README: Running a cluster).
try
{
    LabServerHost.Create(args).Run();
}
catch (Exception e) when (e is Lab.Server.Cluster.ClusterUnreachableException or ArgumentException)
{
    Console.Error.WriteLine($"lab server: {e.Message}");
    return 1;
}
return 0;
