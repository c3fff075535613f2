#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <errno.h>

static FILE std_files[3] = { { 0, 0, 0, -1 }, { 1, 0, 0, -1 }, { 2, 0, 0, -1 } };
FILE *stdin = &std_files[0], *stdout = &std_files[1], *stderr = &std_files[2];

/* ---- the formatter: writes through a sink ---- */
typedef struct sink {
    char *buf; size_t cap; size_t len;   /* buffer part */
    int fd; int failed;                  /* fd >= 0: flush to fd when full */
    size_t total;                        /* characters produced */
} sink;

static void sink_flush(sink *s)
{
    size_t off = 0;
    while (off < s->len) {
        ssize_t r = write(s->fd, s->buf + off, s->len - off);
        if (r <= 0) { s->failed = 1; break; }
        off += (size_t)r;
    }
    s->len = 0;
}

static void put(sink *s, char c)
{
    s->total++;
    if (s->fd >= 0) {
        if (s->len == s->cap) sink_flush(s);
        s->buf[s->len++] = c;
    } else if (s->len + 1 < s->cap) {
        s->buf[s->len++] = c;
    }
}

static void put_n(sink *s, char c, int n) { while (n-- > 0) put(s, c); }

enum { F_LEFT = 1, F_ZERO = 2, F_PLUS = 4, F_SPACE = 8, F_ALT = 16 };

static void fmt_integer(sink *s, unsigned long long v, int neg, int base, int upper, int flags, int width, int prec)
{
    char digits[24];
    int n = 0;
    const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    while (v) { digits[n++] = set[v % (unsigned)base]; v /= (unsigned)base; }
    if (prec < 0) prec = 1; else flags &= ~F_ZERO;
    int zeros = prec > n ? prec - n : 0;
    if (base == 8 && (flags & F_ALT) && zeros == 0 && (n == 0 || digits[n - 1] != '0')) zeros = 1;
    const char *prefix = "";
    if (neg) prefix = "-";
    else if (flags & F_PLUS) prefix = "+";
    else if (flags & F_SPACE) prefix = " ";
    if (base == 16 && (flags & F_ALT) && n > 0) prefix = upper ? "0X" : "0x";
    int plen = (int)strlen(prefix);
    int len = plen + zeros + n;
    if (!(flags & F_LEFT) && !(flags & F_ZERO)) put_n(s, ' ', width - len);
    for (const char *p = prefix; *p; p++) put(s, *p);
    if (!(flags & F_LEFT) && (flags & F_ZERO)) put_n(s, '0', width - len);
    put_n(s, '0', zeros);
    while (n) put(s, digits[--n]);
    if (flags & F_LEFT) put_n(s, ' ', width - len);
}

static void format(sink *s, const char *f, va_list ap)
{
    for (; *f; f++) {
        if (*f != '%') { put(s, *f); continue; }
        f++;
        int flags = 0;
        for (;; f++) {
            if (*f == '-') flags |= F_LEFT;
            else if (*f == '0') flags |= F_ZERO;
            else if (*f == '+') flags |= F_PLUS;
            else if (*f == ' ') flags |= F_SPACE;
            else if (*f == '#') flags |= F_ALT;
            else break;
        }
        int width = 0;
        if (*f == '*') {
            width = va_arg(ap, int);
            if (width < 0) { flags |= F_LEFT; width = -width; }
            f++;
        } else {
            while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
        }
        int prec = -1;
        if (*f == '.') {
            f++;
            if (*f == '*') { prec = va_arg(ap, int); f++; if (prec < 0) prec = -1; }
            else { prec = 0; while (*f >= '0' && *f <= '9') prec = prec * 10 + (*f++ - '0'); }
        }
        int lng = 0; /* 0 int, 1 long, 2 long long, -1 short, -2 char */
        for (;; f++) {
            if (*f == 'l') lng++;
            else if (*f == 'z' || *f == 't' || *f == 'j') lng = 1;
            else if (*f == 'h') lng--;
            else break;
        }
        if (lng > 2) lng = 2;
        if (lng < -2) lng = -2;
        char c = *f;
        if (!c) break;
        switch (c) {
        case 'd': case 'i': {
            long long v = lng >= 1 ? va_arg(ap, long) : va_arg(ap, int);
            if (lng == -1) v = (short)v;
            if (lng == -2) v = (signed char)v;
            unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
            fmt_integer(s, u, v < 0, 10, 0, flags, width, prec);
            break;
        }
        case 'u': case 'x': case 'X': case 'o': {
            unsigned long long v = lng >= 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
            if (lng == -1) v = (unsigned short)v;
            if (lng == -2) v = (unsigned char)v;
            int base = c == 'u' ? 10 : c == 'o' ? 8 : 16;
            fmt_integer(s, v, 0, base, c == 'X', flags & ~(F_PLUS | F_SPACE), width, prec);
            break;
        }
        case 'p': {
            void *p = va_arg(ap, void *);
            if (!p) {
                const char *nil = "(nil)";
                if (!(flags & F_LEFT)) put_n(s, ' ', width - 5);
                for (const char *q = nil; *q; q++) put(s, *q);
                if (flags & F_LEFT) put_n(s, ' ', width - 5);
            } else {
                fmt_integer(s, (unsigned long)p, 0, 16, 0, (flags & ~(F_PLUS | F_SPACE)) | F_ALT, width, prec);
            }
            break;
        }
        case 'c': {
            char ch = (char)va_arg(ap, int);
            if (!(flags & F_LEFT)) put_n(s, ' ', width - 1);
            put(s, ch);
            if (flags & F_LEFT) put_n(s, ' ', width - 1);
            break;
        }
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str) str = "(null)";
            int len = (int)(prec >= 0 ? strnlen(str, (size_t)prec) : strlen(str));
            if (!(flags & F_LEFT)) put_n(s, ' ', width - len);
            for (int i = 0; i < len; i++) put(s, str[i]);
            if (flags & F_LEFT) put_n(s, ' ', width - len);
            break;
        }
        case '%':
            put(s, '%');
            break;
        default:
            put(s, '%');
            put(s, c);
            break;
        }
    }
}

int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    sink s = { buf, n, 0, -1, 0, 0 };
    format(&s, fmt, ap);
    if (n) buf[s.len] = 0;
    return (int)s.total;
}
int vsprintf(char *buf, const char *fmt, va_list ap) { return vsnprintf(buf, (size_t)1 << 30, fmt, ap); }

int vdprintf(int fd, const char *fmt, va_list ap)
{
    char buf[1024];
    sink s = { buf, sizeof buf, 0, fd, 0, 0 };
    format(&s, fmt, ap);
    sink_flush(&s);
    return s.failed ? -1 : (int)s.total;
}
int vfprintf(FILE *f, const char *fmt, va_list ap)
{
    int r = vdprintf(f->fd, fmt, ap);
    if (r < 0) f->err = 1;
    return r;
}
int vprintf(const char *fmt, va_list ap) { return vfprintf(stdout, fmt, ap); }

#define VA_WRAP(call) do { va_list ap; va_start(ap, fmt); int r = call; va_end(ap); return r; } while (0)
int printf(const char *fmt, ...) { VA_WRAP(vfprintf(stdout, fmt, ap)); }
int fprintf(FILE *f, const char *fmt, ...) { VA_WRAP(vfprintf(f, fmt, ap)); }
int dprintf(int fd, const char *fmt, ...) { VA_WRAP(vdprintf(fd, fmt, ap)); }
int sprintf(char *buf, const char *fmt, ...) { VA_WRAP(vsprintf(buf, fmt, ap)); }
int snprintf(char *buf, size_t n, const char *fmt, ...) { VA_WRAP(vsnprintf(buf, n, fmt, ap)); }

/* ---- character and line I/O (unbuffered) ---- */
static int write_all(FILE *f, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t r = write(f->fd, c, n);
        if (r <= 0) { f->err = 1; return -1; }
        c += r; n -= (size_t)r;
    }
    return 0;
}
int fputc(int c, FILE *f) { unsigned char ch = (unsigned char)c; return write_all(f, &ch, 1) < 0 ? EOF : ch; }
int putc(int c, FILE *f) { return fputc(c, f); }
int putchar(int c) { return fputc(c, stdout); }
int fputs(const char *s, FILE *f) { return write_all(f, s, strlen(s)) < 0 ? EOF : 0; }
int puts(const char *s)
{
    size_t n = strlen(s);
    char buf[256];
    if (n < sizeof buf) { memcpy(buf, s, n); buf[n] = '\n'; return write_all(stdout, buf, n + 1) < 0 ? EOF : 0; }
    if (write_all(stdout, s, n) < 0 || write_all(stdout, "\n", 1) < 0) return EOF;
    return 0;
}
int fgetc(FILE *f)
{
    if (f->ungot >= 0) { int c = f->ungot; f->ungot = -1; return c; }
    unsigned char c;
    ssize_t r = read(f->fd, &c, 1);
    if (r == 1) return c;
    if (r == 0) f->eof = 1; else f->err = 1;
    return EOF;
}
int getc(FILE *f) { return fgetc(f); }
int getchar(void) { return fgetc(stdin); }
int ungetc(int c, FILE *f) { if (c == EOF) return EOF; f->ungot = (unsigned char)c; f->eof = 0; return c; }
char *fgets(char *buf, int n, FILE *f)
{
    int i = 0;
    while (i < n - 1) {
        int c = fgetc(f);
        if (c == EOF) break;
        buf[i++] = (char)c;
        if (c == '\n') break;
    }
    if (i == 0 || n <= 0) return 0;
    buf[i] = 0;
    return buf;
}
size_t fread(void *p, size_t size, size_t n, FILE *f)
{
    size_t want = size * n, got = 0;
    char *c = p;
    if (!want) return 0;
    if (f->ungot >= 0) { c[got++] = (char)f->ungot; f->ungot = -1; }
    while (got < want) {
        ssize_t r = read(f->fd, c + got, want - got);
        if (r == 0) { f->eof = 1; break; }
        if (r < 0) { f->err = 1; break; }
        got += (size_t)r;
    }
    return got / size;
}
size_t fwrite(const void *p, size_t size, size_t n, FILE *f)
{
    if (!size || !n) return 0;
    return write_all(f, p, size * n) < 0 ? 0 : n;
}

FILE *fdopen(int fd, const char *mode)
{
    (void)mode;
    FILE *f = malloc(sizeof *f);
    if (!f) return 0;
    f->fd = fd; f->eof = 0; f->err = 0; f->ungot = -1;
    return f;
}
FILE *fopen(const char *path, const char *mode)
{
    int flags;
    int plus = strchr(mode, '+') != 0;
    switch (mode[0]) {
    case 'r': flags = plus ? O_RDWR : O_RDONLY; break;
    case 'w': flags = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC; break;
    case 'a': flags = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND; break;
    default: errno = EINVAL; return 0;
    }
    int fd = open(path, flags, 0644);
    if (fd < 0) return 0;
    FILE *f = fdopen(fd, mode);
    if (!f) close(fd);
    return f;
}
int fclose(FILE *f)
{
    int r = close(f->fd);
    if (f != stdin && f != stdout && f != stderr) free(f);
    return r < 0 ? EOF : 0;
}
int fflush(FILE *f) { (void)f; return 0; }
int feof(FILE *f) { return f->eof; }
int ferror(FILE *f) { return f->err; }
int fileno(FILE *f) { return f->fd; }
void perror(const char *s)
{
    if (s && *s) fprintf(stderr, "%s: %s\n", s, strerror(errno));
    else fprintf(stderr, "%s\n", strerror(errno));
}
