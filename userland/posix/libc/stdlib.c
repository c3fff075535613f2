#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>
#include <stdint.h>

/* ---- malloc: first-fit free list over memory from sbrk (brk). ---- */
typedef struct block { size_t size; struct block *next; } block; /* size of the payload */
#define HDR 16
static block *free_list;

void *malloc(size_t n)
{
    if (n == 0) n = 1;
    if (n > ((size_t)1 << 40)) { errno = ENOMEM; return 0; }
    n = (n + 15) & ~(size_t)15;
    block **pp = &free_list;
    for (block *b = free_list; b; pp = &b->next, b = b->next) {
        if (b->size >= n) {
            if (b->size >= n + HDR + 32) {
                block *rest = (block *)((char *)b + HDR + n);
                rest->size = b->size - n - HDR;
                rest->next = b->next;
                *pp = rest;
                b->size = n;
            } else {
                *pp = b->next;
            }
            return (char *)b + HDR;
        }
    }
    size_t grow = n + HDR;
    char *base = sbrk(0);
    long pad = (long)((16 - ((uintptr_t)base & 15)) & 15);
    char *p = sbrk((long)grow + pad);
    if (p == (char *)-1) { errno = ENOMEM; return 0; }
    block *b = (block *)(p + pad);
    b->size = n;
    return (char *)b + HDR;
}

void free(void *p)
{
    if (!p) return;
    block *b = (block *)((char *)p - HDR);
    /* keep the list address-ordered and merge neighbours */
    block **pp = &free_list;
    while (*pp && *pp < b) pp = &(*pp)->next;
    b->next = *pp;
    *pp = b;
    if (b->next && (char *)b + HDR + b->size == (char *)b->next) {
        b->size += HDR + b->next->size;
        b->next = b->next->next;
    }
    if (pp != &free_list) {
        block *prev = (block *)((char *)pp - offsetof(block, next));
        if ((char *)prev + HDR + prev->size == (char *)b) {
            prev->size += HDR + b->size;
            prev->next = b->next;
        }
    }
}

void *calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) { errno = ENOMEM; return 0; }
    void *p = malloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void *realloc(void *p, size_t n)
{
    if (!p) return malloc(n);
    if (n == 0) { free(p); return 0; }
    block *b = (block *)((char *)p - HDR);
    if (b->size >= n) return p;
    void *q = malloc(n);
    if (!q) return 0;
    memcpy(q, p, b->size);
    free(p);
    return q;
}

/* ---- numbers ---- */
static unsigned long long parse_unsigned(const char *s, char **end, int base, int *neg, int *overflow)
{
    const char *p = s;
    while (isspace(*p)) p++;
    *neg = 0;
    if (*p == '-' || *p == '+') { *neg = *p == '-'; p++; }
    if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && isxdigit(p[2])) {
        p += 2; base = 16;
    } else if (base == 0) {
        base = *p == '0' ? 8 : 10;
    }
    unsigned long long v = 0;
    const char *digits = p;
    *overflow = 0;
    for (;; p++) {
        int d;
        if (isdigit(*p)) d = *p - '0';
        else if (islower(*p)) d = *p - 'a' + 10;
        else if (isupper(*p)) d = *p - 'A' + 10;
        else break;
        if (d >= base) break;
        if (v > (ULLONG_MAX - (unsigned)d) / (unsigned)base) *overflow = 1;
        else v = v * (unsigned)base + (unsigned)d;
    }
    if (end) *end = (char *)(p == digits ? s : p);
    return v;
}

long long strtoll(const char *s, char **end, int base)
{
    int neg, ovf;
    unsigned long long v = parse_unsigned(s, end, base, &neg, &ovf);
    if (!neg && (ovf || v > (unsigned long long)LLONG_MAX)) { errno = ERANGE; return LLONG_MAX; }
    if (neg && (ovf || v > (unsigned long long)LLONG_MAX + 1)) { errno = ERANGE; return LLONG_MIN; }
    return neg ? (long long)(0 - v) : (long long)v;
}
unsigned long long strtoull(const char *s, char **end, int base)
{
    int neg, ovf;
    unsigned long long v = parse_unsigned(s, end, base, &neg, &ovf);
    if (ovf) { errno = ERANGE; return ULLONG_MAX; }
    return neg ? 0 - v : v;
}
long strtol(const char *s, char **end, int base) { return (long)strtoll(s, end, base); }
unsigned long strtoul(const char *s, char **end, int base) { return (unsigned long)strtoull(s, end, base); }
int atoi(const char *s) { return (int)strtol(s, 0, 10); }
long atol(const char *s) { return strtol(s, 0, 10); }
int abs(int x) { return x < 0 ? -x : x; }
long labs(long x) { return x < 0 ? -x : x; }

/* ---- random: a 64-bit LCG, upper 31 bits ---- */
static unsigned long long rng_state = 1;
void srandom(unsigned seed) { rng_state = seed; }
long random(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (long)(rng_state >> 33);
}
int rand(void) { return (int)random(); }
void srand(unsigned seed) { srandom(seed); }

/* ---- qsort: heapsort (no recursion, O(n log n) worst case) ---- */
static void swap_bytes(char *a, char *b, size_t size)
{
    while (size--) { char t = *a; *a++ = *b; *b++ = t; }
}
static void sift(char *base, size_t root, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && cmp(base + child * size, base + (child + 1) * size) < 0) child++;
        if (cmp(base + root * size, base + child * size) >= 0) return;
        swap_bytes(base + root * size, base + child * size, size);
        root = child;
    }
}
void qsort(void *b, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    char *base = b;
    if (n < 2) return;
    for (size_t i = n / 2; i-- > 0;) sift(base, i, n, size, cmp);
    for (size_t end = n - 1; end > 0; end--) {
        swap_bytes(base, base + end * size, size);
        sift(base, 0, end, size, cmp);
    }
}
