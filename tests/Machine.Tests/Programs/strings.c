/* String functions: strlen, strcmp, strncmp, strchr, strrchr, strstr, strcpy/strcat, reverse,
   tokenising (strtok_r-like), atoi/itoa round trips, case folding, word frequency counting. */
#include "rt.h"

static NOINLINE size_t my_strlen(const char *s) { const char *p = s; while (*p) p++; return (size_t)(p - s); }

static NOINLINE int my_strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) { a++; b++; }
    return (int)(u8)*a - (int)(u8)*b;
}

static NOINLINE int my_strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b) return (int)(u8)*a - (int)(u8)*b;
        if (!*a) return 0;
    }
    return 0;
}

static NOINLINE char *my_strchr(const char *s, int c)
{
    for (;; s++) { if (*s == (char)c) return (char *)s; if (!*s) return 0; }
}

static NOINLINE char *my_strrchr(const char *s, int c)
{
    const char *last = 0;
    for (;; s++) { if (*s == (char)c) last = s; if (!*s) return (char *)last; }
}

static NOINLINE char *my_strstr(const char *h, const char *n)
{
    size_t nl = my_strlen(n);
    if (!nl) return (char *)h;
    for (; *h; h++) if (*h == *n && my_strncmp(h, n, nl) == 0) return (char *)h;
    return 0;
}

static char *my_strcpy(char *d, const char *s) { char *r = d; while ((*d++ = *s++)) {} return r; }
static char *my_strcat(char *d, const char *s) { my_strcpy(d + my_strlen(d), s); return d; }

static void reverse(char *s)
{
    size_t n = my_strlen(s);
    for (size_t i = 0; i < n / 2; i++) { char t = s[i]; s[i] = s[n - 1 - i]; s[n - 1 - i] = t; }
}

static char *tokenize(char *s, const char *delims, char **save)
{
    if (!s) s = *save;
    while (*s && my_strchr(delims, *s)) s++;
    if (!*s) { *save = s; return 0; }
    char *tok = s;
    while (*s && !my_strchr(delims, *s)) s++;
    if (*s) *s++ = 0;
    *save = s;
    return tok;
}

static long my_atol(const char *s)
{
    while (*s == ' ') s++;
    int neg = *s == '-';
    if (*s == '-' || *s == '+') s++;
    unsigned long v = 0;
    while (*s >= '0' && *s <= '9') v = v * 10 + (unsigned long)(*s++ - '0');
    return neg ? -(long)v : (long)v;
}

static char *my_ltoa(long v, char *buf)
{
    char *p = buf;
    unsigned long m = v < 0 ? -(unsigned long)v : (unsigned long)v;
    do { *p++ = (char)('0' + m % 10); m /= 10; } while (m);
    if (v < 0) *p++ = '-';
    *p = 0;
    reverse(buf);
    return buf;
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

static int is_palindrome(const char *s)
{
    const char *e = s + my_strlen(s);
    while (s < e) {
        while (s < e && !((lower(*s) >= 'a' && lower(*s) <= 'z'))) s++;
        while (s < e && !((lower(e[-1]) >= 'a' && lower(e[-1]) <= 'z'))) e--;
        if (s < e && lower(*s) != lower(e[-1])) return 0;
        if (s < e) { s++; e--; }
    }
    return 1;
}

static const char text[] =
    "It was the best of times, it was the worst of times, it was the age of wisdom, "
    "it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity, "
    "it was the season of Light, it was the season of Darkness, it was the spring of hope, "
    "it was the winter of despair.";

struct word { char w[24]; int count; };
static struct word words[64];
static int nwords;

int main(void)
{
    char buf[512];
    out_kv_u64("strlen(text)", my_strlen(text));
    static const char *pairs[][2] = { { "apple", "apples" }, { "b", "a" }, { "", "" }, { "same", "same" }, { "\xff", "a" }, { "abc", "abd" } };
    for (unsigned i = 0; i < COUNT(pairs); i++) {
        int c = my_strcmp(pairs[i][0], pairs[i][1]);
        out_str("strcmp="); out_i64(c < 0 ? -1 : c > 0); out_str(" strncmp3="); out_i64(my_strncmp(pairs[i][0], pairs[i][1], 3)); out_nl();
    }
    out_str("strchr(',') at "); out_u64((u64)(my_strchr(text, ',') - text));
    out_str(" strrchr('o') at "); out_u64((u64)(my_strrchr(text, 'o') - text));
    out_str(" strchr('#')="); out_str(my_strchr(text, '#') ? "found" : "null"); out_nl();
    static const char *needles[] = { "wisdom", "epoch of", "Darkness,", "despair.", "despairs", "", "t" };
    for (unsigned i = 0; i < COUNT(needles); i++) {
        char *p = my_strstr(text, needles[i]);
        out_str("strstr(\""); out_str(needles[i]); out_str("\")=");
        if (p) out_u64((u64)(p - text)); else out_str("null");
        out_nl();
    }

    my_strcpy(buf, "Hello");
    my_strcat(buf, ", ");
    my_strcat(buf, "world");
    reverse(buf);
    out_str("reversed: "); out_str(buf); out_nl();

    /* Tokenise and count word frequencies (case-folded). */
    memcpy(buf, text, sizeof text);
    char *save;
    int ntok = 0;
    for (char *t = tokenize(buf, " ,.", &save); t; t = tokenize(0, " ,.", &save)) {
        ntok++;
        for (char *c = t; *c; c++) *c = lower(*c);
        int k;
        for (k = 0; k < nwords; k++) if (my_strcmp(words[k].w, t) == 0) break;
        if (k == nwords) { my_strcpy(words[nwords].w, t); words[nwords++].count = 0; }
        words[k].count++;
    }
    out_str("tokens="); out_u64((u64)ntok); out_str(" distinct="); out_u64((u64)nwords); out_nl();
    for (int k = 0; k < nwords; k++)
        if (words[k].count > 1) { out_str(words[k].w); out_char(':'); out_u64((u64)words[k].count); out_char(' '); }
    out_nl();

    static const long nums[] = { 0, 7, -7, 1234567890L, -9223372036854775807L, 9223372036854775807L };
    for (unsigned i = 0; i < COUNT(nums); i++) {
        char nb[32];
        my_ltoa(nums[i], nb);
        out_str(nb); out_str(my_atol(nb) == nums[i] ? " roundtrip " : " MISMATCH "); out_nl();
    }
    out_str("atol(\"  -42xyz\")="); out_i64(my_atol("  -42xyz")); out_nl();

    static const char *pals[] = { "A man, a plan, a canal: Panama", "racecar", "not one", "", "Was it a car or a cat I saw?" };
    for (unsigned i = 0; i < COUNT(pals); i++) { out_char('"'); out_str(pals[i]); out_str(is_palindrome(pals[i]) ? "\" palindrome" : "\" no"); out_nl(); }

    /* A bulk loop: repeated searches in a long generated string. */
    static char hay[8192];
    for (size_t i = 0; i < sizeof hay - 1; i++) hay[i] = (char)('a' + (i * 7 + i / 13) % 5);
    hay[sizeof hay - 1] = 0;
    u64 found = 0;
    static const char *pats[] = { "abcde", "eeee", "aceb", "dddd", "bdace" };
    for (unsigned i = 0; i < COUNT(pats); i++) {
        const char *p = hay;
        while ((p = my_strstr(p, pats[i]))) { found = found * 31 + (u64)(p - hay); p++; }
    }
    out_kv_hex("search_hash", found);
    return nwords;
}
