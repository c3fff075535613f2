/* Emulator benchmark workload 2: ordinary C kernels unlike bench.c's, for the instruction mix gcc -O2
   emits beyond tight loops (freestanding, deterministic, the runtime in rt.h).
   Usage: mix [scale [mask]]  -- runs `scale` iterations of the kernels selected by `mask`
   (bit 0 sort, 1 matrix, 2 tree, 3 search, 4 divide, 5 bits, 6 compress, 7 lexer; default all) and
   prints one checksum per kernel. The output is identical natively, under qemu-user and in the Machine. */
#include "rt.h"

typedef int32_t i32;
typedef uint16_t u16;

static u64 rng_state;
static u64 next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* sort: recursive quicksort (median of three) and insertion sort for short runs, 32-bit compares. */
#define SORT_N 32768
static u32 keys[SORT_N];
static void insertion_sort(u32 *a, long n)
{
    for (long i = 1; i < n; i++) {
        u32 v = a[i];
        long j = i - 1;
        while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; }
        a[j + 1] = v;
    }
}
static NOINLINE void quicksort(u32 *a, long n)
{
    while (n > 16) {
        u32 x = a[0], y = a[n / 2], z = a[n - 1];
        u32 pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
        long i = 0, j = n - 1;
        for (;;) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i >= j) break;
            u32 t = a[i]; a[i] = a[j]; a[j] = t;
            i++; j--;
        }
        if (j + 1 < n - j - 1) { quicksort(a, j + 1); a += j + 1; n -= j + 1; }
        else { quicksort(a + j + 1, n - j - 1); n = j + 1; }
    }
    insertion_sort(a, n);
}
static NOINLINE u64 sort_kernel(u64 iter)
{
    rng_state = 0x9E3779B97F4A7C15ull + iter;
    for (u32 i = 0; i < SORT_N; i++) keys[i] = (u32)next_random();
    quicksort(keys, SORT_N);
    u64 h = 0;
    for (u32 i = 0; i < SORT_N; i += 97) h = h * 31 + keys[i];
    for (u32 i = 1; i < SORT_N; i++) if (keys[i - 1] > keys[i]) return 0;   /* not sorted */
    return h;
}

/* matrix: 48x48 signed 32-bit multiply with 64-bit accumulation (imul, movsxd, strided loads). */
#define MAT_N 48
static i32 ma[MAT_N][MAT_N], mb[MAT_N][MAT_N];
static int64_t mc[MAT_N][MAT_N];
static NOINLINE u64 matrix_kernel(u64 iter)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            ma[i][j] = (i32)((i * 7 + j * 3 + (int)iter) % 41) - 20;
            mb[i][j] = (i32)((i * 5 - j * 11 + (int)iter) % 37) - 18;
        }
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            int64_t s = 0;
            for (int k = 0; k < MAT_N; k++) s += (int64_t)ma[i][k] * mb[k][j];
            mc[i][j] = s;
        }
    u64 h = 0;
    for (int i = 0; i < MAT_N; i++) h = h * 1000003 + (u64)mc[i][(i * 13) % MAT_N];
    return h;
}

/* tree: an unbalanced binary search tree in a static pool (pointer chasing, data-dependent branches). */
#define TREE_N 8192
struct node { u64 key; struct node *left, *right; u32 count; };
static struct node pool[TREE_N];
static NOINLINE u64 tree_kernel(u64 iter)
{
    rng_state = 0xD1B54A32D192ED03ull ^ (iter * 0x100000001b3ull);
    struct node *root = 0;
    u32 used = 0;
    for (u32 i = 0; i < TREE_N; i++) {
        u64 key = next_random() % (TREE_N * 2);
        struct node **at = &root;
        while (*at && (*at)->key != key) at = key < (*at)->key ? &(*at)->left : &(*at)->right;
        if (*at) { (*at)->count++; continue; }
        struct node *n = &pool[used++];
        n->key = key; n->left = n->right = 0; n->count = 1;
        *at = n;
    }
    u64 found = 0, depth = 0;
    for (u64 key = 0; key < TREE_N * 2; key += 3) {
        struct node *n = root;
        while (n && n->key != key) { n = key < n->key ? n->left : n->right; depth++; }
        if (n) found += n->count;
    }
    return found * 1000003 + depth + used;
}

/* search: naive and Knuth-Morris-Pratt substring counts over generated text (byte loads, movzx). */
#define TEXT_N 32768
static char text[TEXT_N];
static int failure[16];
static NOINLINE u64 search_kernel(u64 iter)
{
    rng_state = 0xA0761D6478BD642Full + iter;
    for (u32 i = 0; i < TEXT_N; i++) text[i] = "abcab"[next_random() % 5];
    static const char pattern[] = "abcaab";
    const int m = sizeof pattern - 1;
    u64 naive = 0;
    for (u32 i = 0; i + m <= TEXT_N; i++) {
        int k = 0;
        while (k < m && text[i + k] == pattern[k]) k++;
        naive += k == m;
    }
    failure[0] = 0;
    for (int i = 1, k = 0; i < m; i++) {
        while (k > 0 && pattern[i] != pattern[k]) k = failure[k - 1];
        if (pattern[i] == pattern[k]) k++;
        failure[i] = k;
    }
    u64 kmp = 0;
    for (u32 i = 0, k = 0; i < TEXT_N; i++) {
        while (k > 0 && text[i] != pattern[k]) k = (u32)failure[k - 1];
        if (text[i] == pattern[k]) k++;
        if (k == (u32)m) { kmp++; k = (u32)failure[k - 1]; }
    }
    return naive << 32 | kmp;
}

/* divide: gcd by remainders, modular exponentiation with 128-bit products (div, mul r64). */
static u64 gcd(u64 a, u64 b) { while (b) { u64 t = a % b; a = b; b = t; } return a; }
static u64 mulmod(u64 a, u64 b, u64 m) { return (u64)((unsigned __int128)a * b % m); }
static u64 powmod(u64 b, u64 e, u64 m)
{
    u64 r = 1;
    b %= m;
    while (e) { if (e & 1) r = mulmod(r, b, m); b = mulmod(b, b, m); e >>= 1; }
    return r;
}
static NOINLINE u64 divide_kernel(u64 iter)
{
    u64 g = 0, p = 0;
    int64_t q = 0;
    for (u64 i = 1; i <= 2000; i++) {
        g += gcd(i * 7919 + iter, i * 104729 + 13);
        q += (int64_t)(i * 2654435761u) / -(int64_t)(i + 3) % 1000;
    }
    for (u64 i = 0; i < 64; i++) p ^= powmod(i + 2 + iter, 0xFFFFFFFFFFFFFFC4ull, 0xFFFFFFFFFFFFFFC5ull);
    return g * 31 + p + (u64)q;
}

/* bits: population counts, bit reversal, byte swaps, rotations, leading zeros, variable shifts. */
static NOINLINE u64 bits_kernel(u64 iter)
{
    u64 x = 0x0123456789ABCDEFull ^ iter, acc = 0;
    for (u32 i = 0; i < 20000; i++) {
        u64 v = x;
        u32 pop = 0;
        while (v) { v &= v - 1; pop++; }
        u64 r = 0;
        for (int b = 0; b < 64; b += 8) r |= ((x >> b) & 0xFF) << (56 - b);
        u32 lz = x ? (u32)__builtin_clzll(x) : 64;
        u32 sh = (u32)(x & 31);
        acc += pop + (r ^ __builtin_bswap64(x)) + lz + ((x << sh) | (x >> (64 - sh - 1) >> 1)) + (u64)((i32)x >> (sh & 15));
        x = x * 6364136223846793005ull + 1442695040888963407ull;
    }
    return acc;
}

/* compress: LZ77 with a hash of 3-byte prefixes (16-bit loads and stores, compare loops). */
#define LZ_N 16384
static u8 lz_in[LZ_N], lz_out[LZ_N * 2];
static u16 lz_head[4096];
static NOINLINE u64 compress_kernel(u64 iter)
{
    rng_state = 0xE7037ED1A0B428DBull + iter;
    for (u32 i = 0; i < LZ_N; i++) {
        u64 r = next_random();
        lz_in[i] = (r & 3) == 0 && i > 64 ? lz_in[i - 1 - (r >> 8) % 64] : (u8)('a' + (r >> 16) % 8);
    }
    for (u32 i = 0; i < 4096; i++) lz_head[i] = 0xFFFF;
    u32 o = 0, i = 0, matches = 0;
    while (i + 3 <= LZ_N) {
        u32 h = ((u32)lz_in[i] * 506832829u ^ (u32)lz_in[i + 1] << 8 ^ lz_in[i + 2]) & 4095;
        u32 cand = lz_head[h];
        lz_head[h] = (u16)i;
        u32 len = 0;
        if (cand != 0xFFFF && i - cand < 65535)
            while (i + len < LZ_N && len < 255 && lz_in[cand + len] == lz_in[i + len]) len++;
        if (len >= 3) {
            lz_out[o++] = 0; lz_out[o++] = (u8)len;
            lz_out[o++] = (u8)(i - cand); lz_out[o++] = (u8)((i - cand) >> 8);
            i += len; matches++;
        } else lz_out[o++] = lz_in[i++];
    }
    u64 h = o;
    for (u32 k = 0; k < o; k++) h = (h ^ lz_out[k]) * 1099511628211ull;
    return h ^ (u64)matches << 40;
}

/* lexer: a character-class state machine over generated source text (a switch: an indirect jump). */
#define SRC_N 32768
static char src[SRC_N];
static NOINLINE u64 lexer_kernel(u64 iter)
{
    rng_state = 0x8EBC6AF09C88C6E3ull + iter;
    static const char alphabet[] = "int x = 42 + y1 * (z - 7); // c\n\"s\" 'c' if\t";
    for (u32 i = 0; i < SRC_N; i++) src[i] = alphabet[next_random() % (sizeof alphabet - 1)];
    u64 idents = 0, numbers = 0, ops = 0, strings = 0, lines = 0, value = 0;
    for (u32 i = 0; i < SRC_N;) {
        char c = src[i];
        switch (c) {
        case ' ': case '\t': i++; break;
        case '\n': lines++; i++; break;
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9': {
            u64 v = 0;
            while (i < SRC_N && src[i] >= '0' && src[i] <= '9') v = v * 10 + (u64)(src[i++] - '0');
            numbers++; value += v; break;
        }
        case '"': case '\'': {
            char q = c;
            i++;
            while (i < SRC_N && src[i] != q && src[i] != '\n') i++;
            i++; strings++; break;
        }
        case '/':
            if (i + 1 < SRC_N && src[i + 1] == '/') { while (i < SRC_N && src[i] != '\n') i++; }
            else { ops++; i++; }
            break;
        case '+': case '-': case '*': case '=': case '(': case ')': case ';': ops++; i++; break;
        default:
            if ((c >= 'a' && c <= 'z') || c == '_') {
                while (i < SRC_N && ((src[i] >= 'a' && src[i] <= 'z') || (src[i] >= '0' && src[i] <= '9') || src[i] == '_')) i++;
                idents++;
            } else i++;
        }
    }
    return idents << 48 ^ numbers << 32 ^ ops << 16 ^ strings ^ lines << 8 ^ value;
}

void bench_start(long *sp) __attribute__((used, noreturn));
void bench_start(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    u64 scale = argc > 1 ? parse_u64(argv[1]) : 10;
    u64 mask = argc > 2 ? parse_u64(argv[2]) : 255;
    static const char *const names[] = { "sort", "matrix", "tree", "search", "divide", "bits", "compress", "lexer" };
    static u64 (*const kernels[])(u64) = { sort_kernel, matrix_kernel, tree_kernel, search_kernel,
                                          divide_kernel, bits_kernel, compress_kernel, lexer_kernel };
    u64 results[8] = { 0 };
    for (u64 it = 0; it < scale; it++)
        for (int k = 0; k < 8; k++)
            if (mask >> k & 1) results[k] = results[k] * 31 + kernels[k](it);
    put_str("scale="); put_u64(scale); put_str(" mask="); put_u64(mask);
    for (int k = 0; k < 8; k++) { put_str("\n"); put_str(names[k]); put_str("="); put_hex(results[k]); }
    put_str("\n");
    sys_write(1, out, out_len);
    sys_exit(0);
}
