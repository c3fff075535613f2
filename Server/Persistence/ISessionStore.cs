namespace Lab.Server.Persistence;

/// <summary>
/// Where a session manager keeps its sessions while they run: a data directory on one server
/// (<see cref="SessionStore"/>), Redis in a cluster (<see cref="Cluster.RedisSessionStore"/>). Every
/// method throws an IOException (or UnauthorizedAccessException) when the store refuses the write; nothing
/// half-written is left behind, and the previous good copy stays.
/// </summary>
public interface ISessionStore
{
    /// <summary>Where the sessions are kept, for log lines ("/srv/lab/data", "Redis at host:6379").</summary>
    string Where { get; }

    /// <summary>Writes a session's settings (and its kernel file when that changed).</summary>
    void Save(Sessions.SessionSettings settings);

    /// <summary>Writes a session's machine: <paramref name="write"/> streams the snapshot.</summary>
    void SaveMachine(string name, Action<Stream> write);

    /// <summary>Deletes a closed session's saved copy.</summary>
    void Delete(string name);
}
