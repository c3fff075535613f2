using System.Security.Cryptography;
using System.Text;
using Lab.Shared.Wire;

namespace Lab.Server.Sessions;

/// <summary>A participant as settings.json keeps it: id, name, role, the hash of its rejoin token, and
/// who removed it (a removed participant's token is void).</summary>
public sealed record SavedParticipant(string Id, string Name, Role Role, string TokenHash, string? RemovedBy = null);

/// <summary>A participant just admitted (Join or Rejoin) and its rejoin token; <see cref="Displaced"/> is the
/// connection that held the same participant until now (a connection the server has not yet seen drop).</summary>
public sealed record Membership(Participant Participant, string RejoinToken, string? Displaced = null);

/// <summary>
/// The session's roster (hub threads, under _stateLock). Everyone who joined is a member with a short id
/// (p1, p2, ...) and a rejoin token; a member is present while a connection holds it, away after it left.
/// A rejoin with the token takes the same member back (name, role, id) after a lost connection or a server
/// restart: the roster is saved with the settings (only the tokens' hashes). Away members are kept up to
/// <see cref="MaxAwayMembers"/>, oldest dropped first; a removed member stays (its token refused) until then.
/// </summary>
public sealed partial class LabSession
{
    /// <summary>Members who left that the session still knows (their tokens still work).</summary>
    public const int MaxAwayMembers = 200;

    private sealed class Member
    {
        public required string Id { get; init; }
        public required string TokenHash { get; init; }
        public required string Name { get => _name; set => (_name, Skeleton) = (value, ParticipantNames.Skeleton(value)); }
        private string _name = "";
        /// <summary>What the name looks like (<see cref="ParticipantNames.Skeleton"/>), kept with it.</summary>
        public string Skeleton { get; private set; } = "";
        public Role Role { get; set; }
        /// <summary>The connection that holds this member now; null while away.</summary>
        public string? ConnectionId { get; set; }
        public string? RemovedBy { get; set; }
        public Participant ToWire() => new(Id, Name, Role);
    }

    private readonly List<Member> _members = new();   // present and away, away ones in the order they left
    private int _nextParticipant;
    // The present members by connection and by the look of their name (unique among the present: Add and
    // Rejoin refuse or number look-alikes). A lecture hall has hundreds: every frame to every viewer asks
    // for the count and the viewer's own role, and each join checks the name, so none of these may scan.
    private readonly Dictionary<string, Member> _byConnection = new();
    private readonly Dictionary<string, Member> _presentBySkeleton = new();

    private IEnumerable<Member> Present => _members.Where(m => m.ConnectionId != null);

    /// <summary>Makes away member <paramref name="m"/> present on <paramref name="connectionId"/> (under _stateLock).</summary>
    private void Attach(Member m, string connectionId)
    {
        m.ConnectionId = connectionId;
        _byConnection[connectionId] = m;
        _presentBySkeleton[m.Skeleton] = m;
    }

    /// <summary>Makes <paramref name="m"/> away (under _stateLock).</summary>
    private void Detach(Member m)
    {
        if (m.ConnectionId != null) _byConnection.Remove(m.ConnectionId);
        if (_presentBySkeleton.TryGetValue(m.Skeleton, out var same) && same == m) _presentBySkeleton.Remove(m.Skeleton);
        m.ConnectionId = null;
    }

    /// <summary>Who is present, in id order (p1, p2, ... p10): one array per change of the roster, shared by
    /// every frame that carries it.</summary>
    public Participant[] Participants()
    {
        lock (_stateLock)
        {
            if (_participantsVersion != ParticipantsVersion)
            {
                _participants = Present.OrderBy(m => m.Id.Length).ThenBy(m => m.Id, StringComparer.Ordinal).Select(m => m.ToWire()).ToArray();
                _participantsVersion = ParticipantsVersion;
            }
            return _participants;
        }
    }
    private Participant[] _participants = [];
    private long _participantsVersion = -1;

    public int ParticipantCount { get { lock (_stateLock) return _byConnection.Count; } }

    /// <summary>The members of a restored session, all away until they rejoin.</summary>
    private void LoadRoster(IReadOnlyList<SavedParticipant>? saved)
    {
        foreach (var p in saved ?? [])
        {
            _members.Add(new Member { Id = p.Id, Name = p.Name, Role = p.Role, TokenHash = p.TokenHash, RemovedBy = p.RemovedBy });
            if (p.Id.StartsWith('p') && int.TryParse(p.Id[1..], out int n)) _nextParticipant = Math.Max(_nextParticipant, n);
        }
    }

    /// <summary>The settings as they are saved: with the roster (token hashes only).</summary>
    public SessionSettings SettingsToSave()
    {
        lock (_stateLock)
            return Settings with { Roster = _members.Select(m => new SavedParticipant(m.Id, m.Name, m.Role, m.TokenHash, m.RemovedBy)).ToArray() };
    }

    private static string HashToken(string token) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>
    /// Adds a participant. Each gets a short id (p1, p2, ...) that grant, revoke and remove accept. A name is
    /// normalised (NFKC); the same name again gets a suffix (a second tab of the same student), but a
    /// name that only looks like a present one (other case, look-alike letters) is refused, so nobody
    /// can pass for somebody else. Returns the membership, or null and the reason.
    /// </summary>
    public (Membership? Joined, string? Error) Add(string connectionId, string name, Role role)
    {
        if (ParticipantNames.Check(name) is { } bad) return (null, bad);
        name = ParticipantNames.Normalize(name);
        // Random and long (144 bits): its unsalted SHA-256 is enough to find it by, and nobody guesses back.
        string token = SessionSettings.NewSecret(18);
        Member m;
        lock (_stateLock)
        {
            string unique = name;
            for (int i = 2; _presentBySkeleton.TryGetValue(ParticipantNames.Skeleton(unique), out var same) && same.Name == unique; i++)
                unique = $"{name}{i}";
            if (_presentBySkeleton.TryGetValue(ParticipantNames.Skeleton(unique), out var other))
                return (null, $"the name '{unique}' looks too much like '{other.Name}', who is already in this session: choose another");
            m = new Member { Id = $"p{++_nextParticipant}", Name = unique, Role = role, TokenHash = HashToken(token) };
            Attach(m, connectionId);
            _members.Add(m);
            TrimAway();
            ParticipantsVersion++;
        }
        LastActivityUtc = DateTime.UtcNow;
        Log(EventKind.Action, 0, $"{m.Name} joined as {m.Role.ToString().ToLowerInvariant()}");
        return (new Membership(m.ToWire(), token), null);
    }

    /// <summary>
    /// Takes back the member <paramref name="token"/> names on <paramref name="connectionId"/>: its id, its
    /// role (at least <paramref name="atLeast"/>: the instructor key given again), and its name unless somebody
    /// present now has it or one like it (then a numbered one). Known is false for a token this session does
    /// not know; a removed member's token is refused.
    /// </summary>
    public (bool Known, Membership? Joined, string? Error) Rejoin(string connectionId, string token, Role atLeast)
    {
        string hash = HashToken(token ?? "");
        Member? m;
        string? displaced;
        lock (_stateLock)
        {
            m = _members.Find(x => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(x.TokenHash), Encoding.ASCII.GetBytes(hash)));
            if (m == null) return (false, null, null);
            if (m.RemovedBy != null) return (true, null, $"you were removed from this session by {m.RemovedBy}");
            displaced = m.ConnectionId;
            if (displaced != null) _viewedPids.Remove(displaced);   // that connection's view goes with it
            Detach(m);
            string name = m.Name, unique = name;
            for (int i = 2; _presentBySkeleton.ContainsKey(ParticipantNames.Skeleton(unique)); i++) unique = $"{name}{i}";
            m.Name = unique;
            if (atLeast > m.Role) m.Role = atLeast;
            Attach(m, connectionId);
            ParticipantsVersion++;
        }
        LastActivityUtc = DateTime.UtcNow;
        Log(EventKind.Action, 0, $"{m.Name} rejoined as {m.Role.ToString().ToLowerInvariant()}");
        return (true, new Membership(m.ToWire(), token!, displaced == connectionId ? null : displaced), null);
    }

    /// <summary>The participant on <paramref name="connectionId"/> left (it may rejoin with its token).</summary>
    public void Remove(string connectionId)
    {
        string name;
        lock (_stateLock)
        {
            if (!_byConnection.TryGetValue(connectionId, out var m)) return;
            name = m.Name;
            Leave(m);
        }
        LastActivityUtc = DateTime.UtcNow;
        Log(EventKind.Action, 0, $"{name} left");
    }

    /// <summary>Makes a member away (under _stateLock): last in the list, so the oldest away ones go first.</summary>
    private void Leave(Member m)
    {
        _viewedPids.Remove(m.ConnectionId!);
        Detach(m);
        _members.Remove(m);
        _members.Add(m);
        TrimAway();
        ParticipantsVersion++;
    }

    private void TrimAway()
    {
        int away = _members.Count(x => x.ConnectionId == null);
        for (int i = 0; away > MaxAwayMembers && i < _members.Count;)
        {
            if (_members[i].ConnectionId == null) { _members.RemoveAt(i); away--; }
            else i++;
        }
    }

    public (string Name, Role Role)? Lookup(string connectionId)
    {
        lock (_stateLock) return _byConnection.TryGetValue(connectionId, out var m) ? (m.Name, m.Role) : null;
    }

    /// <summary>The participant id of the connection (null when it is not in the session).</summary>
    public string? IdOf(string connectionId)
    {
        lock (_stateLock) return _byConnection.TryGetValue(connectionId, out var m) ? m.Id : null;
    }

    /// <summary>Names of the instructors present now.</summary>
    public string[] InstructorsPresent()
    {
        lock (_stateLock) return Present.Where(m => m.Role == Role.Instructor).Select(m => m.Name).ToArray();
    }

    /// <summary>The present member <paramref name="who"/> names (a participant id, p3, or an exact name:
    /// names are unique in a session), or null and why not, with the near matches' ids (under _stateLock).</summary>
    private (Member? Member, string? Error) FindPresent(string who)
    {
        var m = Present.FirstOrDefault(p => string.Equals(p.Id, who, StringComparison.OrdinalIgnoreCase)) ?? Present.FirstOrDefault(p => p.Name == who);
        if (m != null) return (m, null);
        var near = Present.Where(p => string.Equals(p.Name, who, StringComparison.OrdinalIgnoreCase)
                                      || ParticipantNames.Skeleton(p.Name) == ParticipantNames.Skeleton(who)).ToList();
        return (null, near.Count == 0
            ? $"nobody with the id or name '{who}' is in this session (ids are shown in the participants list)"
            : $"nobody is named exactly '{who}'; did you mean {string.Join(" or ", near.Select(p => $"{p.Name} (id {p.Id})"))}? Use the id");
    }

    /// <summary>Sets a participant's role. <paramref name="who"/> is a participant id (p3) or an exact
    /// name. Returns the participant's name, or null and why not.</summary>
    public (string? Name, string? Error) SetRole(string who, Role role, string by)
    {
        string name;
        lock (_stateLock)
        {
            var (m, error) = FindPresent(who);
            if (m == null) return (null, error);
            name = m.Name;
            if (m.Role == Role.Instructor) return (name, null);   // instructors stay instructors
            m.Role = role;
            ParticipantsVersion++;
        }
        Log(EventKind.Action, 0, role == Role.Driver ? $"{by} granted driving to {name}" : $"{by} revoked driving from {name}");
        return (name, null);
    }

    /// <summary>
    /// Removes a participant (an instructor's `remove`): it leaves the session, and its rejoin token is void.
    /// <paramref name="who"/> as for <see cref="SetRole"/>; <paramref name="byConnection"/> is the remover's
    /// connection (nobody removes themselves), and instructors cannot be removed. Returns the removed
    /// participant's name and connection, or null and why not.
    /// </summary>
    public (string? Name, string? ConnectionId, string? Error) RemoveParticipant(string who, string byConnection, string by)
    {
        string name, connection;
        lock (_stateLock)
        {
            var (m, error) = FindPresent(who);
            if (m == null) return (null, null, error);
            if (m.ConnectionId == byConnection) return (null, null, "you cannot remove yourself: to leave the session, quit (hub method Leave)");
            if (m.Role == Role.Instructor)
                return (null, null, $"{m.Name} is an instructor: instructors cannot be removed (close the session to end it for everyone)");
            (name, connection) = (m.Name, m.ConnectionId!);
            m.RemovedBy = by;
            Leave(m);
        }
        LastActivityUtc = DateTime.UtcNow;
        Log(EventKind.Action, 0, $"{by} removed {name}");
        return (name, connection, null);
    }

    /// <summary>What a rejoin token is to this session: unknown (null), a member's (""), or voided by `remove` (who removed it).</summary>
    public string? TokenStatus(string token)
    {
        string hash = HashToken(token ?? "");
        lock (_stateLock)
        {
            var m = _members.Find(x => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(x.TokenHash), Encoding.ASCII.GetBytes(hash)));
            return m == null ? null : m.RemovedBy ?? "";
        }
    }

    // ------------------------------------------------------------------------------------------
    // The join code. The server checks codes by their hashes; an instructor reads the code again from its
    // sealed copy (with the instructor key) or, for a code made in this run of the server, from memory.

    private volatile string? _joinCodeInMemory;

    /// <summary>Remembers the plain join code of a session created in this run (its creator was shown it).</summary>
    public void KnowJoinCode(string? code) => _joinCodeInMemory = code;

    /// <summary>Gives a private session a new join code (the old one stops working; who is in stays). The
    /// code is sealed with <paramref name="instructorKey"/> when the caller joined with it.</summary>
    public string ChangeJoinCode(string? instructorKey, string by)
    {
        string code = SessionSettings.NewJoinCode();
        UpdateSettings(s => s.WithJoinCode(code, instructorKey));
        _joinCodeInMemory = code;
        Log(EventKind.Action, 0, $"{by} changed the join code (the old one no longer works)");
        return code;
    }

    /// <summary>The join code of a private session for an instructor, when it can be known: from its sealed
    /// copy (opened with <paramref name="instructorKey"/>) or from memory; null otherwise or when public.</summary>
    public string? JoinCodeFor(string? instructorKey)
    {
        var settings = Settings;
        if (!settings.Private) return null;
        return (instructorKey is null ? null : settings.UnsealJoinCode(instructorKey)) ?? _joinCodeInMemory;
    }

    /// <summary>Replaces the instructor key (the demo's, chosen by the server's operator).</summary>
    public void SetInstructorKey(string key) => UpdateSettings(s => s.WithInstructorKey(key));
}
