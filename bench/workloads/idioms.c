/* The emulator benchmark's idioms workload (`bench emulator --workload idioms`): ordinary C whose hot
   loops gcc compiles to the less common instructions, each of which once fell back to the
   interpreter (stop 19 measured 4 to 9 times qemu-user's time on each before they were compiled).
   Trailing and leading zero counts (rep bsf, bsr), a zeroed local array (rep stos), struct copies
   (SSE moves), a variable rotate (rol by cl), a histogram (read-modify-write of memory), a bitset
   sieve, and the game of life on bytes. Usage: idioms [scale [mask]] (bit k runs kernel k; default
   all) and prints one checksum per kernel. The output is identical natively, under qemu-user and in
   the Machine. */
#include "rt.h"

static u64 xorshift(u64 *x) { *x ^= *x << 13; *x ^= *x >> 7; *x ^= *x << 17; return *x; }

/* Walks the set bits of random words from both ends. */
static NOINLINE u64 k_bitscan(u64 it)
{
    u64 s = 0, x = 0x9E3779B97F4A7C15ull * (it + 1);
    for (int i = 0; i < 4000; i++) {
        u64 y = xorshift(&x);
        while (y) { s += (u64)__builtin_ctzll(y) * 3 + (u64)__builtin_clzll(y); y &= y - 1; y &= y - 1; }
    }
    return s;
}

/* A zeroed scratch array per call, as `int buf[96] = {0};` in a helper. */
static NOINLINE int sum_sparse(const int *a, int n) { int s = 0; for (int i = 0; i < n; i += 7) s += a[i] ^ i; return s; }
static NOINLINE u64 k_zeroed(u64 it)
{
    u64 s = 0;
    for (int r = 0; r < 3000; r++) {
        int buf[96] = { 0 };
        buf[r % 96] = (int)it + r;
        s += (u64)sum_sparse(buf, 96);
    }
    return s;
}

/* Records copied by value between arrays (gcc copies the 200-byte structs with 16-byte SSE moves). */
typedef struct { u64 key; u64 data[24]; } record;
static record recs_a[64], recs_b[64];
static NOINLINE u64 k_copies(u64 it)
{
    for (int i = 0; i < 64; i++) { recs_a[i].key = (u64)i * 2654435761u + it; for (int j = 0; j < 24; j++) recs_a[i].data[j] = (u64)(i ^ j); }
    u64 s = 0;
    for (int r = 0; r < 40; r++)
        for (int i = 0; i < 64; i++) { recs_b[(i * 5 + r) & 63] = recs_a[i]; s += recs_b[i].key + recs_b[i].data[r % 24]; }
    return s;
}

/* A hash mixed with a data-dependent rotate. */
static NOINLINE u64 k_rotate(u64 it)
{
    u64 h = it + 1;
    for (int i = 0; i < 20000; i++) {
        unsigned r = (unsigned)(h & 63);
        h = ((h << r) | (h >> ((64 - r) & 63))) ^ (h * 0x9E3779B97F4A7C15ull) ^ (u64)i;
    }
    return h;
}

/* Counts of random bytes. */
static u32 hist[256];
static NOINLINE u64 k_histogram(u64 it)
{
    u64 x = it * 2654435761u + 1, s = 0;
    for (int i = 0; i < 256; i++) hist[i] = 0;
    for (int i = 0; i < 20000; i++) hist[xorshift(&x) & 255]++;
    for (int i = 0; i < 256; i++) s = s * 3 + hist[i];
    return s;
}

/* The primes below 100,000 in a bitset. */
static u64 sieve_bits[(100000 >> 6) + 2];
static NOINLINE u64 k_bitset(u64 it)
{
    u64 n = 100000 - it % 7, c = 0;
    for (u64 i = 0; i < (n >> 6) + 1; i++) sieve_bits[i] = 0;
    for (u64 i = 2; i * i <= n; i++)
        if (!(sieve_bits[i >> 6] & (1ULL << (i & 63))))
            for (u64 j = i * i; j <= n; j += i) sieve_bits[j >> 6] |= 1ULL << (j & 63);
    for (u64 i = 2; i <= n; i++) c += !(sieve_bits[i >> 6] & (1ULL << (i & 63)));
    return c;
}

/* Ten generations of the game of life on a 32x32 byte grid. */
static unsigned char g0[34][34], g1[34][34];
static NOINLINE u64 k_life(u64 it)
{
    for (int y = 1; y < 33; y++) for (int x = 1; x < 33; x++) g0[y][x] = (unsigned char)(((x * 7 + y * 13 + (int)it) % 5) == 0);
    for (int gen = 0; gen < 10; gen++) {
        for (int y = 1; y < 33; y++)
            for (int x = 1; x < 33; x++) {
                int n = g0[y - 1][x - 1] + g0[y - 1][x] + g0[y - 1][x + 1] + g0[y][x - 1] + g0[y][x + 1]
                      + g0[y + 1][x - 1] + g0[y + 1][x] + g0[y + 1][x + 1];
                g1[y][x] = (unsigned char)(n == 3 || (n == 2 && g0[y][x]));
            }
        for (int y = 1; y < 33; y++) for (int x = 1; x < 33; x++) g0[y][x] = g1[y][x];
    }
    u64 s = 0;
    for (int y = 1; y < 33; y++) for (int x = 1; x < 33; x++) s = s * 2 + g0[y][x];
    return s;
}

void bench_start(long *sp) __attribute__((used, noreturn));
void bench_start(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    u64 scale = argc > 1 ? parse_u64(argv[1]) : 10;
    u64 mask = argc > 2 ? parse_u64(argv[2]) : 127;
    static const char *const names[] = { "bitscan", "zeroed", "copies", "rotate", "histogram", "bitset", "life" };
    static u64 (*const kernels[])(u64) = { k_bitscan, k_zeroed, k_copies, k_rotate, k_histogram, k_bitset, k_life };
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
