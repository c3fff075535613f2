/* User library: rand/srand (32-bit LCG), console output, panic/assert. */
#include "weensyos.h"

/* The LCG state lives in each program's bss; the default seed applies until srand. */
static unsigned rand_seed;
static int rand_seeded;

void srand(unsigned seed) {
    rand_seed = seed;
    rand_seeded = 1;
}

int rand(void) {
    if (!rand_seeded) {
        srand(819234718U);
    }
    rand_seed = rand_seed * 1664525U + 1013904223U;
    return rand_seed & RAND_MAX;
}

int console_puts(int pos, int color, const char* s) {
    for (; *s; ++s) {
        if (pos < 0 || pos >= CONSOLE_ROWS * CONSOLE_COLUMNS) {
            pos = 0;
        }
        if (*s == '\n') {
            do {
                console[pos++] = ' ' | color;
            } while (pos % CONSOLE_COLUMNS != 0);
        } else {
            console[pos++] = (unsigned char) *s | color;
        }
    }
    return pos;
}

static char* put_decimal(char* p, int v) {
    char tmp[12];
    int n = 0;
    unsigned u = v < 0 ? -(unsigned) v : (unsigned) v;
    do {
        tmp[n++] = '0' + u % 10;
        u /= 10;
    } while (u);
    if (v < 0) {
        *p++ = '-';
    }
    while (n) {
        *p++ = tmp[--n];
    }
    return p;
}

void panic(const char* msg) {
    int pos = console_puts(CPOS(23, 0), 0xC000, "PANIC: ");
    pos = console_puts(pos, 0xC000, msg);
    console_puts(pos, 0xC000, "\n");
    sys_panic(msg);
}

void assert_fail(const char* file, int line, const char* msg) {
    char buf[160];
    char* p = buf;
    for (const char* s = file; *s && p < buf + 60; ++s) *p++ = *s;
    *p++ = ':';
    p = put_decimal(p, line);
    const char* mid = ": assertion '";
    while (*mid) *p++ = *mid++;
    for (const char* s = msg; *s && p < buf + 140; ++s) *p++ = *s;
    const char* tail = "' failed";
    while (*tail) *p++ = *tail++;
    *p = 0;
    panic(buf);
}
