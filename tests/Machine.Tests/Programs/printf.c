/* A printf-style formatter: flags - 0 + space #, width and precision (numbers or *), length
   modifiers hh h l ll z, conversions d i u x X o c s p %. Exercises varargs (va_arg). */
#include "rt.h"

struct sink { char *buf; size_t cap, len; };

static void put(struct sink *s, char c)
{
    if (s->len + 1 < s->cap) s->buf[s->len] = c;
    s->len++;
}

static void put_padded(struct sink *s, const char *prefix, const char *digits, int ndigits,
                       int width, int precision, int left, int zero)
{
    int plen = (int)rt_strlen(prefix);
    int zeros = precision > ndigits ? precision - ndigits : 0;
    int body = plen + zeros + ndigits;
    int pad = width > body ? width - body : 0;
    if (zero && !left && precision < 0) { zeros += pad; pad = 0; }
    if (!left) while (pad-- > 0) put(s, ' ');
    for (int i = 0; i < plen; i++) put(s, prefix[i]);
    while (zeros-- > 0) put(s, '0');
    for (int i = 0; i < ndigits; i++) put(s, digits[i]);
    if (left) while (pad-- > 0) put(s, ' ');
}

static int vfmt(char *buf, size_t cap, const char *f, va_list ap)
{
    struct sink s = { buf, cap, 0 };
    for (; *f; f++) {
        if (*f != '%') { put(&s, *f); continue; }
        f++;
        int left = 0, zero = 0, plus = 0, space = 0, alt = 0;
        for (;; f++) {
            if (*f == '-') left = 1;
            else if (*f == '0') zero = 1;
            else if (*f == '+') plus = 1;
            else if (*f == ' ') space = 1;
            else if (*f == '#') alt = 1;
            else break;
        }
        int width = 0, precision = -1;
        if (*f == '*') { width = va_arg(ap, int); if (width < 0) { left = 1; width = -width; } f++; }
        else while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
        if (*f == '.') {
            f++;
            precision = 0;
            if (*f == '*') { precision = va_arg(ap, int); f++; }
            else while (*f >= '0' && *f <= '9') precision = precision * 10 + (*f++ - '0');
        }
        int len = 0;   /* -2 hh, -1 h, 0 int, 1 long, 2 long long, 3 size_t */
        if (*f == 'h') { len = -1; f++; if (*f == 'h') { len = -2; f++; } }
        else if (*f == 'l') { len = 1; f++; if (*f == 'l') { len = 2; f++; } }
        else if (*f == 'z') { len = 3; f++; }

        char digits[32];
        int nd = 0;
        const char *prefix = "";
        switch (*f) {
        case 'd': case 'i': {
            i64 v;
            if (len == 1 || len == 2 || len == 3) v = va_arg(ap, long);
            else v = va_arg(ap, int);
            if (len == -1) v = (short)v;
            if (len == -2) v = (signed char)v;
            u64 m = v < 0 ? -(u64)v : (u64)v;
            prefix = v < 0 ? "-" : plus ? "+" : space ? " " : "";
            if (!(precision == 0 && m == 0)) do { digits[nd++] = (char)('0' + m % 10); m /= 10; } while (m);
            for (int i = 0; i < nd / 2; i++) { char t = digits[i]; digits[i] = digits[nd - 1 - i]; digits[nd - 1 - i] = t; }
            put_padded(&s, prefix, digits, nd, width, precision, left, zero);
            break;
        }
        case 'u': case 'x': case 'X': case 'o': case 'p': {
            u64 v;
            if (*f == 'p') { v = (u64)(uintptr_t)va_arg(ap, void *); alt = 1; }
            else if (len == 1 || len == 2 || len == 3) v = va_arg(ap, unsigned long);
            else v = va_arg(ap, unsigned int);
            if (len == -1) v = (u16)v;
            if (len == -2) v = (u8)v;
            unsigned base = *f == 'o' ? 8 : *f == 'u' ? 10 : 16;
            const char *dig = *f == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
            if (alt && base == 16 && v) prefix = *f == 'X' ? "0X" : "0x";
            if (*f == 'p' && !v) prefix = "0x";
            if (!(precision == 0 && v == 0)) do { digits[nd++] = dig[v % base]; v /= base; } while (v);
            if (alt && base == 8 && digits[nd - 1] != '0') digits[nd++] = '0';
            for (int i = 0; i < nd / 2; i++) { char t = digits[i]; digits[i] = digits[nd - 1 - i]; digits[nd - 1 - i] = t; }
            put_padded(&s, prefix, digits, nd, width, precision, left, zero);
            break;
        }
        case 'c':
            digits[0] = (char)va_arg(ap, int);
            put_padded(&s, "", digits, 1, width, -1, left, 0);
            break;
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str) str = "(null)";
            int n = 0;
            while (str[n] && (precision < 0 || n < precision)) n++;
            int pad = width > n ? width - n : 0;
            if (!left) while (pad-- > 0) put(&s, ' ');
            for (int i = 0; i < n; i++) put(&s, str[i]);
            if (left) while (pad-- > 0) put(&s, ' ');
            break;
        }
        case '%':
            put(&s, '%');
            break;
        default:   /* unknown: print it verbatim */
            put(&s, '%');
            if (*f) put(&s, *f); else f--;
            break;
        }
    }
    if (s.cap) s.buf[s.len < s.cap ? s.len : s.cap - 1] = 0;
    return (int)s.len;
}

static int fmt(char *buf, size_t cap, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vfmt(buf, cap, f, ap);
    va_end(ap);
    return n;
}

static char line[256];
static u64 total_len;

#define P(...) do { int n_ = fmt(line, sizeof line, __VA_ARGS__); total_len += (u64)n_; out_char('['); out_str(line); out_str("] "); out_u64((u64)n_); out_nl(); } while (0)

int main(void)
{
    P("hello, %s!", "world");
    P("%d %i %u", 42, -42, 42u);
    P("%5d|%-5d|%05d|%+d|% d", 42, 42, 42, 42, 42);
    P("%x %X %#x %#X %o %#o", 0xdeadbeefu, 0xdeadbeefu, 255u, 255u, 8u, 8u);
    P("%ld %lu %lx", -1234567890123L, 18446744073709551615ul, 0x123456789abcdeful);
    P("%lld %llu", (long long)-9223372036854775807LL - 1, 12345678901234567890ull);
    P("%hd %hu %hhd %hhu", 70000, 70000, 300, 300);
    P("%zu %zd", (size_t)123456789, (size_t)987);
    P("[%c%c%c] [%3c] [%-3c]", 'a', 'b', 'c', 'x', 'y');
    P("%10s|%-10s|%.3s|%10.2s|%s", "right", "left", "truncate", "ab-cd", (char *)0);
    P("%*d|%-*d|%.*d|%*.*d", 6, 7, 6, 7, 4, 7, 8, 5, 123);
    P("%.0d|%.0x|%5.0d|%.3d|%.3x", 0, 0u, 0, -5, 10u);
    P("%08.3d|%-08d|%+05d|%+.0d", 42, 42, -42, 0);
    P("%p %p", (void *)0x401000, (void *)0);
    P("100%% sure %q %", 1);
    /* A table with widths from a loop. */
    for (int i = -3; i <= 12; i += 3)
        P("|%4d|%-6x|%06o|%3s|", i * 1111, (unsigned)(i * 4097), (unsigned)(i * i * 77), i & 1 ? "odd" : "ev");
    /* Many arguments: some on the stack. */
    P("%d %d %d %d %d %d %d %d %d %d %s %c", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, "eleven", '!');
    P("%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld", 1L << 40, -(1L << 41), 3L, -4L, 5L << 33, 6L, -7L, 8L);
    /* Truncation: the return value is the full length. */
    char small[8];
    int n = fmt(small, sizeof small, "%s-%d", "truncated", 123456);
    out_str(small); out_char(' '); out_u64((u64)n); out_nl();
    /* Format numbers 0..999 and checksum everything. */
    u64 h = 0;
    for (int i = 0; i < 1000; i++) {
        int len = fmt(line, sizeof line, "%d:%x:%o:%05u:%-4d|", i * 37 - 5000, (unsigned)i * 7919u, (unsigned)i, (unsigned)i, i % 100);
        for (int k = 0; k < len; k++) h = h * 131 + (u8)line[k];
        total_len += (u64)len;
    }
    out_kv_hex("checksum", h);
    out_kv_u64("total_len", total_len);
    return (int)(h & 0x3F);
}
