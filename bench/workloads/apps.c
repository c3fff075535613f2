/* The emulator benchmark's application-style workload (`bench emulator --workload apps`): the shapes of
   ordinary C programs rather than tight kernels. A quicksort through a comparator function pointer, a
   chained hash table with string keys, n-queens by recursion over bitmasks, structs passed and
   returned by value, an LCS dynamic program over a 601x601 table, a binary heap, and a schoolbook
   bignum multiply. Usage: apps [scale [mask]] (bit k runs kernel k, in that order; default all) and
   prints one checksum per kernel. The output is identical natively, under qemu-user and in the Machine. */
#include "rt.h"

typedef struct { int key; int pad; u64 payload[3]; } rec;
static rec recs[4096];
static u32 rng_state;
static u32 rng(void) { rng_state = rng_state * 1103515245u + 12345u; return rng_state >> 8; }

static int cmp_rec(const void *a, const void *b) { const rec *x = a, *y = b; return (x->key > y->key) - (x->key < y->key); }
static NOINLINE void swap_bytes(char *a, char *b, size_t n) { while (n--) { char t = *a; *a++ = *b; *b++ = t; } }
static NOINLINE void my_qsort(void *base, size_t n, size_t sz, int (*cmp)(const void *, const void *))
{
    char *b = base;
    while (n > 1) {
        size_t i = 0, j = n - 1;
        char *pivot = b + (n / 2) * sz;
        swap_bytes(pivot, b + j * sz, sz);
        pivot = b + j * sz;
        for (size_t k = 0; k < j; k++)
            if (cmp(b + k * sz, pivot) < 0) { swap_bytes(b + k * sz, b + i * sz, sz); i++; }
        swap_bytes(b + i * sz, pivot, sz);
        if (i < n - i - 1) { my_qsort(b, i, sz, cmp); b += (i + 1) * sz; n -= i + 1; }
        else { my_qsort(b + (i + 1) * sz, n - i - 1, sz, cmp); n = i; }
    }
}
static NOINLINE u64 k_qsort(u64 it)
{
    rng_state = (u32)it;
    for (int i = 0; i < 4096; i++) { recs[i].key = (int)(rng() % 100000); recs[i].payload[0] = (u64)i; }
    my_qsort(recs, 4096, sizeof(rec), cmp_rec);
    u64 h = 0;
    for (int i = 0; i < 4096; i += 7) h = h * 31 + (u64)recs[i].key + recs[i].payload[0];
    return h;
}

struct entry { char key[16]; u64 value; struct entry *next; };
static struct entry pool[8192];
static struct entry *buckets[1024];
static NOINLINE u32 hash_str(const char *s) { u32 h = 2166136261u; while (*s) h = (h ^ (u8)*s++) * 16777619u; return h; }
static NOINLINE int str_eq(const char *a, const char *b) { while (*a && *a == *b) a++, b++; return *a == *b; }
static NOINLINE u64 k_hash(u64 it)
{
    for (int i = 0; i < 1024; i++) buckets[i] = 0;
    int used = 0;
    rng_state = (u32)it * 7 + 1;
    u64 sum = 0;
    for (int n = 0; n < 20000; n++) {
        char key[16];
        u32 r = rng() % 5000;
        int len = 0;
        do { key[len++] = (char)('a' + r % 26); r /= 26; } while (r);
        key[len] = 0;
        u32 h = hash_str(key) & 1023;
        struct entry *e = buckets[h];
        while (e && !str_eq(e->key, key)) e = e->next;
        if (!e && used < 8192) {
            e = &pool[used++];
            for (int i = 0; i <= len; i++) e->key[i] = key[i];
            e->value = 0; e->next = buckets[h]; buckets[h] = e;
        }
        if (e) sum += ++e->value;
    }
    return sum * 131 + (u64)used;
}

/* n-queens with bitmasks: the free columns of a row are ~(taken | both diagonals), one bit at a time. */
static NOINLINE int queens(u32 cols, u32 left, u32 right, u32 all)
{
    if (cols == all) return 1;
    int count = 0;
    u32 open = ~(cols | left | right) & all;
    while (open) {
        u32 bit = open & -open;
        open -= bit;
        count += queens(cols | bit, (left | bit) << 1, (right | bit) >> 1, all);
    }
    return count;
}
static NOINLINE u64 k_queens(u64 it) { u32 n = 9 + (u32)(it & 1); return (u64)queens(0, 0, 0, (1u << n) - 1); }

typedef struct { int x, y, vx, vy; u32 color; char name[44]; } particle;
static particle parts[512], next_parts[512];
static NOINLINE particle step(particle p) { p.x += p.vx; p.y += p.vy; if (p.x < 0 || p.x > 10000) p.vx = -p.vx; if (p.y < 0 || p.y > 10000) p.vy = -p.vy; p.color = p.color * 3 + 1; return p; }
static NOINLINE u64 k_struct(u64 it)
{
    for (int i = 0; i < 512; i++) { particle z = { (int)(i * 37 % 10000), (int)(i * 91 % 10000), (int)(i % 7) - 3, (int)(i % 5) - 2, (u32)it, {0} }; parts[i] = z; }
    for (int s = 0; s < 40; s++) {
        for (int i = 0; i < 512; i++) next_parts[i] = step(parts[i]);
        for (int i = 0; i < 512; i++) parts[i] = next_parts[i];
    }
    u64 h = 0;
    for (int i = 0; i < 512; i++) h = h * 31 + (u64)(u32)parts[i].x + (u64)(u32)parts[i].y + parts[i].color;
    return h;
}

static char sa[600], sb[600];
static int dp[601][601];
static NOINLINE u64 k_lcs(u64 it)
{
    rng_state = (u32)it + 99;
    for (int i = 0; i < 600; i++) { sa[i] = (char)('a' + rng() % 4); sb[i] = (char)('a' + rng() % 4); }
    for (int i = 0; i <= 600; i++) dp[i][0] = dp[0][i] = 0;
    for (int i = 1; i <= 600; i++)
        for (int j = 1; j <= 600; j++)
            dp[i][j] = sa[i - 1] == sb[j - 1] ? dp[i - 1][j - 1] + 1 : (dp[i - 1][j] > dp[i][j - 1] ? dp[i - 1][j] : dp[i][j - 1]);
    return (u64)dp[600][600];
}

static u32 heap[16384];
static int heap_n;
static NOINLINE void heap_push(u32 v) { int i = heap_n++; while (i > 0) { int p = (i - 1) / 2; if (heap[p] <= v) break; heap[i] = heap[p]; i = p; } heap[i] = v; }
static NOINLINE u32 heap_pop(void)
{
    u32 top = heap[0], v = heap[--heap_n];
    int i = 0;
    for (;;) { int c = 2 * i + 1; if (c >= heap_n) break; if (c + 1 < heap_n && heap[c + 1] < heap[c]) c++; if (heap[c] >= v) break; heap[i] = heap[c]; i = c; }
    heap[i] = v;
    return top;
}
static NOINLINE u64 k_heap(u64 it)
{
    heap_n = 0; rng_state = (u32)it + 5;
    for (int i = 0; i < 16000; i++) heap_push(rng());
    u64 h = 0;
    for (int i = 0; i < 16000; i++) h = h * 31 + heap_pop();
    return h;
}

static u32 bn_a[64], bn_b[64], bn_r[128];
static NOINLINE u64 k_bignum(u64 it)
{
    u64 h = 0;
    for (int rep = 0; rep < 40; rep++) {
        for (int i = 0; i < 64; i++) { bn_a[i] = (u32)(i * 2654435761u + it + rep); bn_b[i] = (u32)(i * 40503u ^ rep); }
        for (int i = 0; i < 128; i++) bn_r[i] = 0;
        for (int i = 0; i < 64; i++) {
            u64 carry = 0;
            for (int j = 0; j < 64; j++) { u64 t = (u64)bn_a[i] * bn_b[j] + bn_r[i + j] + carry; bn_r[i + j] = (u32)t; carry = t >> 32; }
            bn_r[i + 64] = (u32)carry;
        }
        for (int i = 0; i < 128; i++) h = h * 31 + bn_r[i];
    }
    return h;
}

void bench_start(long *sp) __attribute__((used, noreturn));
void bench_start(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    u64 scale = argc > 1 ? parse_u64(argv[1]) : 10;
    u64 mask = argc > 2 ? parse_u64(argv[2]) : 127;
    static const char *const names[] = { "qsort", "hash", "queens", "struct", "lcs", "heap", "bignum" };
    static u64 (*const kernels[])(u64) = { k_qsort, k_hash, k_queens, k_struct, k_lcs, k_heap, k_bignum };
    u64 results[7] = { 0 };
    for (u64 it = 0; it < scale; it++)
        for (int k = 0; k < 7; k++)
            if (mask >> k & 1) results[k] = results[k] * 31 + kernels[k](it);
    put_str("scale="); put_u64(scale); put_str(" mask="); put_u64(mask);
    for (int k = 0; k < 7; k++) { put_str("\n"); put_str(names[k]); put_str("="); put_hex(results[k]); }
    put_str("\n");
    sys_write(1, out, out_len);
    sys_exit(0);
}
