using System.Collections.Concurrent;
using Lab.Server.Persistence;
using Lab.Server.Sessions;
using StackExchange.Redis;

namespace Lab.Server.Cluster;

/// <summary>
/// A cluster node's session store: settings and snapshots in Redis (<see cref="ClusterDirectory"/>), so any
/// node can restore any session. Writes are fenced by the session's lease. Redis being unreachable is an
/// IOException like a full disk: the manager logs it and retries with a backoff, and the session runs on.
/// </summary>
public sealed class RedisSessionStore(ClusterDirectory directory) : ISessionStore
{
    /// <summary>The kernel file last written per session: it is written again only when a push replaced it.</summary>
    private readonly ConcurrentDictionary<string, byte[]> _writtenKernels = new(StringComparer.OrdinalIgnoreCase);

    public string Where => $"Redis at {directory.Endpoint}";

    public void Save(SessionSettings settings)
    {
        bool kernelChanged = settings.KernelImage is { } image && !(_writtenKernels.TryGetValue(settings.Name, out var written) && ReferenceEquals(written, image));
        Redis(() => directory.SaveSettings(settings, kernelChanged));
        if (kernelChanged) _writtenKernels[settings.Name] = settings.KernelImage!;
    }

    public void SaveMachine(string name, Action<Stream> write)
    {
        using var buffer = new MemoryStream();
        SnapshotFile.Write(buffer, write);
        Redis(() => directory.SaveMachine(name, buffer.ToArray()));
    }

    public void Delete(string name)
    {
        Redis(() => directory.Delete(name));
        _writtenKernels.TryRemove(name, out _);
    }

    /// <summary>Forgets what was written for a session this node no longer runs (its next owner writes it).</summary>
    public void Forget(string name) => _writtenKernels.TryRemove(name, out _);

    private static void Redis(Action write)
    {
        try { write(); }
        catch (Exception e) when (ClusterDirectory.IsRedisFailure(e)) { throw new IOException($"Redis cannot be reached ({e.Message.Split('\n')[0]})", e); }
    }
}
