// Lab's WeensyOS kernel: formatted printing (to the CGA console, the parallel-port log and
// strings) and the few C library functions the kernel uses. Written for this project.
#include "kernel.h"

// ---- the printf engine ---------------------------------------------------------------------
//
// Conversions: %d %i %u %x %X %p %s %c %%, and %C, which takes an int and makes it the colour of
// what follows. Flags '-' and '0', a width and a precision (digits or '*'), length modifiers
// l, ll, z (all values are widened to 64 bits anyway). %p prints 0x and lower-case hex.

static void emit(printer* p, int color, const char* s, int len, int width, int left, char pad) {
    int fill = width > len ? width - len : 0;
    if (!left && pad == '0' && len > 0 && (s[0] == '-')) {
        p->putc(p, '-', color);
        s++, len--;
    }
    if (!left) for (; fill > 0; fill--) p->putc(p, pad, color);
    for (int i = 0; i < len; i++) p->putc(p, (unsigned char) s[i], color);
    for (; fill > 0; fill--) p->putc(p, ' ', color);
}

// Writes v in `base` into the end of buf; returns the first character.
static char* format_unsigned(char* end, uint64_t v, int base, int upper, int min_digits) {
    const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char* s = end;
    do {
        *--s = digits[v % base];
        v /= base;
        min_digits--;
    } while (v != 0 || min_digits > 0);
    return s;
}

void printer_vprintf(printer* p, int color, const char* fmt, va_list ap) {
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            p->putc(p, (unsigned char) *fmt, color);
            continue;
        }
        fmt++;
        int left = 0;
        char pad = ' ';
        for (;; fmt++) {
            if (*fmt == '-') left = 1;
            else if (*fmt == '0') pad = '0';
            else break;
        }
        int width = 0, precision = -1;
        if (*fmt == '*') { width = va_arg(ap, int); fmt++; }
        else while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        if (*fmt == '.') {
            fmt++;
            precision = 0;
            if (*fmt == '*') { precision = va_arg(ap, int); fmt++; }
            else while (*fmt >= '0' && *fmt <= '9') precision = precision * 10 + (*fmt++ - '0');
        }
        int longness = 0;
        while (*fmt == 'l' || *fmt == 'z') { longness++; fmt++; }

        char buf[32];
        char* end = buf + sizeof(buf);
        char* s;
        switch (*fmt) {
        case 'd': case 'i': {
            int64_t v = longness ? va_arg(ap, long) : va_arg(ap, int);
            s = format_unsigned(end, v < 0 ? -(uint64_t) v : (uint64_t) v, 10, 0, precision > 0 ? precision : 1);
            if (v < 0) *--s = '-';
            emit(p, color, s, end - s, width, left, pad);
            break;
        }
        case 'u': case 'x': case 'X': {
            uint64_t v = longness ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            s = format_unsigned(end, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', precision > 0 ? precision : 1);
            emit(p, color, s, end - s, width, left, pad);
            break;
        }
        case 'p': {
            s = format_unsigned(end, (uintptr_t) va_arg(ap, void*), 16, 0, 1);
            *--s = 'x';
            *--s = '0';
            emit(p, color, s, end - s, width, left, pad);
            break;
        }
        case 's': {
            const char* str = va_arg(ap, const char*);
            if (!str) str = "(null)";
            int len = 0;
            while (str[len] && (precision < 0 || len < precision)) len++;
            emit(p, color, str, len, width, left, ' ');
            break;
        }
        case 'c':
            buf[0] = (char) va_arg(ap, int);
            emit(p, color, buf, 1, width, left, ' ');
            break;
        case 'C':
            color = va_arg(ap, int);
            break;
        case '\0':
            return;
        default:
            p->putc(p, (unsigned char) *fmt, color);
            break;
        }
    }
}

// ---- the console ---------------------------------------------------------------------------

typedef struct console_printer {
    printer p;
    int cpos;
} console_printer;

// One character at the printer's cell: past the last cell it wraps to the first (no scrolling);
// a newline fills the rest of the row (at least one cell) with spaces.
static void console_putc(printer* p, unsigned char c, int color) {
    console_printer* cp = (console_printer*) p;
    if (cp->cpos < 0 || cp->cpos >= CONSOLE_ROWS * CONSOLE_COLUMNS) cp->cpos = 0;
    if (c == '\n') {
        do {
            console[cp->cpos++] = ' ' | color;
        } while (CCOL(cp->cpos) != 0);
    } else {
        console[cp->cpos++] = c | color;
    }
}

int console_vprintf(int cpos, int color, const char* fmt, va_list ap) {
    console_printer cp = { { console_putc }, cpos };
    printer_vprintf(&cp.p, color, fmt, ap);
    return cp.cpos;
}

int console_printf(int cpos, int color, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cpos = console_vprintf(cpos, color, fmt, ap);
    va_end(ap);
    return cpos;
}

void console_clear(void) {
    for (int i = 0; i < CONSOLE_ROWS * CONSOLE_COLUMNS; i++) console[i] = ' ' | 0x0700;
    cursorpos = 0;
}

// ---- strings -------------------------------------------------------------------------------

typedef struct string_printer {
    printer p;
    char* s;
    char* end;
} string_printer;

static void string_putc(printer* p, unsigned char c, int color) {
    (void) color;
    string_printer* sp = (string_printer*) p;
    if (sp->s < sp->end) *sp->s++ = c;
}

int snprintf(char* buf, size_t size, const char* fmt, ...) {
    string_printer sp = { { string_putc }, buf, buf + (size ? size - 1 : 0) };
    va_list ap;
    va_start(ap, fmt);
    printer_vprintf(&sp.p, 0, fmt, ap);
    va_end(ap);
    if (size) *sp.s = '\0';
    return sp.s - buf;
}

void* memset(void* s, int c, size_t n) {
    unsigned char* p = s;
    while (n--) *p++ = (unsigned char) c;
    return s;
}

void* memcpy(void* dst, const void* src, size_t n) {
    unsigned char* d = dst;
    const unsigned char* s = src;
    while (n--) *d++ = *s++;
    return dst;
}

int strcmp(const char* a, const char* b) {
    while (*a && *a == *b) a++, b++;
    return (unsigned char) *a - (unsigned char) *b;
}

size_t strlen(const char* s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}
