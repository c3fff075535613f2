using System.Globalization;
using System.Text;

namespace Lab.Server.Sessions;

/// <summary>
/// Participant names people can tell apart. A name is NFKC-normalised and trimmed; it must be 1-32
/// printable characters without invisible ones, must not mix Latin, Greek and Cyrillic letters (the
/// scripts whose letters look alike: "Теacher" with a Cyrillic Т), and must not look like a participant
/// id (p3). Two names "look alike" when their skeletons are equal: case folded, and letters and digits
/// that read the same (Cyrillic а, Greek ο, 0, 1, I) mapped to one Latin letter. A deliberately small
/// version of Unicode TR39's confusable detection, enough for a classroom.
/// </summary>
public static class ParticipantNames
{
    public const int MaxLength = 32;

    public static string Normalize(string? name) => (name ?? "").Normalize(NormalizationForm.FormKC).Trim();

    /// <summary>Null when <paramref name="raw"/> is an acceptable name; otherwise why not.</summary>
    public static string? Check(string? raw)
    {
        string name = Normalize(raw);
        if (name.Length == 0 || name.Length > MaxLength || name.Any(char.IsControl))
            return $"a name of 1-{MaxLength} printable characters is required";
        foreach (var rune in name.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            if (category is UnicodeCategory.Format or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate or UnicodeCategory.OtherNotAssigned
                || (category == UnicodeCategory.SpaceSeparator && rune.Value != ' '))
                return "names may not contain invisible or unusual space characters";
        }
        var scripts = name.Where(char.IsLetter).Select(ScriptOf).Where(s => s != Script.Other).Distinct().Order().ToList();
        if (scripts.Count > 1)
            return $"the name '{name}' mixes {string.Join(" and ", scripts.Select(s => s.ToString()))} letters, which look alike: write it in one script";
        if (IsIdLike(name)) return $"'{name}' looks like a participant id (p1, p2, ...): choose another name";
        return null;
    }

    /// <summary>True for names of the participant-id form (p followed by digits).</summary>
    public static bool IsIdLike(string name) => name.Length > 1 && (name[0] is 'p' or 'P') && name.Skip(1).All(char.IsAsciiDigit);

    /// <summary>The present name that <paramref name="name"/> looks like without being equal to it; null if none.</summary>
    public static string? LookAlike(string name, IEnumerable<string> present)
    {
        string skeleton = Skeleton(name);
        return present.FirstOrDefault(p => p != name && Skeleton(p) == skeleton);
    }

    /// <summary>What a name looks like: normalised, look-alike characters mapped to one, case folded.</summary>
    public static string Skeleton(string name)
    {
        var sb = new StringBuilder();
        foreach (char c in Normalize(name))
        {
            char m = c switch { 'I' or '1' or '|' or 'Ι' or 'І' or 'Ӏ' => 'l', '0' => 'o', _ => c };
            m = char.ToLowerInvariant(m);
            sb.Append(LookAlikes.TryGetValue(m, out char latin) ? latin : m);
        }
        return sb.ToString();
    }

    // Lower-case Cyrillic and Greek letters that read as a Latin letter.
    private static readonly Dictionary<char, char> LookAlikes = new()
    {
        ['а'] = 'a', ['в'] = 'b', ['ь'] = 'b', ['с'] = 'c', ['ԁ'] = 'd', ['е'] = 'e', ['ё'] = 'e', ['һ'] = 'h', ['н'] = 'h',
        ['і'] = 'i', ['ї'] = 'i', ['ј'] = 'j', ['к'] = 'k', ['ӏ'] = 'l', ['м'] = 'm', ['о'] = 'o', ['р'] = 'p', ['ԛ'] = 'q',
        ['г'] = 'r', ['ѕ'] = 's', ['т'] = 't', ['у'] = 'y', ['ԝ'] = 'w', ['х'] = 'x',
        ['α'] = 'a', ['β'] = 'b', ['ε'] = 'e', ['ζ'] = 'z', ['η'] = 'h', ['ι'] = 'i', ['κ'] = 'k', ['μ'] = 'm', ['ν'] = 'n',
        ['ο'] = 'o', ['ρ'] = 'p', ['τ'] = 't', ['υ'] = 'y', ['χ'] = 'x',
    };

    private enum Script { Latin, Greek, Cyrillic, Other }

    private static Script ScriptOf(char c) => c switch
    {
        <= '\u024F' or (>= '\u1E00' and <= '\u1EFF') => Script.Latin,
        (>= '\u0370' and <= '\u03FF') or (>= '\u1F00' and <= '\u1FFF') => Script.Greek,
        (>= '\u0400' and <= '\u052F') or (>= '\u1C80' and <= '\u1C8F') or (>= '\u2DE0' and <= '\u2DFF') or (>= '\uA640' and <= '\uA69F') => Script.Cyrillic,
        _ => Script.Other,
    };
}
