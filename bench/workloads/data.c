/* The emulator benchmark's data workload (`bench emulator --workload data`): ordinary C over arrays
   of megabytes, where a program's working set is more pages than a software TLB of 1,024 slots
   held (stop 20 measured 2.7 to 5.7 times qemu-user's time on each before the TLB grew to 4,096
   slots under a folded index, and 14 times on the copy). A sieve of Eratosthenes over 8 MB, a
   linear-probing hash table of 16 MiB, a merge sort of half a million ints, a breadth-first search
   of a 1000 x 1000 grid, and a copy between two 4 MiB arrays side by side (whose pages lay exactly
   a TLB's reach apart). Usage: data [scale [mask]] (bit k runs kernel k; default all) and prints
   one checksum per kernel. The output is identical natively, under qemu-user and in the Machine. */
#include "rt.h"

/* Counts the primes below 8,000,000 + it. */
#define SIEVE_N 8000000
static u8 composite[SIEVE_N + 64];
static NOINLINE u64 k_sieve(u64 it)
{
    u64 n = SIEVE_N + it % 64, count = 0;
    for (u64 i = 0; i <= n; i++) composite[i] = 0;
    for (u64 i = 2; i * i <= n; i++)
        if (!composite[i])
            for (u64 j = i * i; j <= n; j += i) composite[j] = 1;
    for (u64 i = 2; i <= n; i++) count += !composite[i];
    return count;
}

/* Counts keys in an open-addressing table of 2^20 slots (16 MiB): random probes over all of it. */
struct slot { u64 key, count; };
#define HASH_BITS 20
static struct slot table[1u << HASH_BITS];
static NOINLINE u64 k_hash(u64 it)
{
    for (u32 i = 0; i < (1u << HASH_BITS); i++) table[i].key = 0;
    u64 x = it * 0x9E3779B97F4A7C15ull + 1, s = 0;
    for (u32 i = 0; i < 400000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        u64 key = x % 1500000 + 1, h = (key * 0x9E3779B97F4A7C15ull) >> (64 - HASH_BITS);
        while (table[h].key && table[h].key != key) h = (h + 1) & ((1u << HASH_BITS) - 1);
        if (table[h].key == key) s += ++table[h].count;
        else { table[h].key = key; table[h].count = 1; }
    }
    return s;
}

/* Top-down merge sort of 2^19 ints through a scratch array (2 MiB each). */
#define SORT_N (1 << 19)
static int values[SORT_N], scratch[SORT_N];
static void merge_sort(int *a, int *t, int n)
{
    if (n < 2) return;
    int m = n / 2;
    merge_sort(a, t, m);
    merge_sort(a + m, t, n - m);
    int i = 0, j = m, k = 0;
    while (i < m && j < n) t[k++] = a[i] <= a[j] ? a[i++] : a[j++];
    while (i < m) t[k++] = a[i++];
    while (j < n) t[k++] = a[j++];
    for (int q = 0; q < n; q++) a[q] = t[q];
}
static NOINLINE u64 k_msort(u64 it)
{
    u32 x = (u32)it * 7 + 1;
    for (int i = 0; i < SORT_N; i++) { x = x * 1664525u + 1013904223u; values[i] = (int)(x >> 1); }
    merge_sort(values, scratch, SORT_N);
    u64 s = 0;
    for (int i = 0; i < SORT_N; i += 4099) s = s * 31 + (u64)values[i];
    return s;
}

/* Breadth-first search from a corner of a 1000 x 1000 grid with a quarter of its cells walls. */
#define GRID 1000
static int dist[GRID * GRID], queue[GRID * GRID];
static u8 wall[GRID * GRID];
static NOINLINE u64 k_bfs(u64 it)
{
    u32 x = (u32)it + 5;
    for (int i = 0; i < GRID * GRID; i++) { x = x * 1103515245u + 12345u; wall[i] = (x >> 16) % 100 < 25; dist[i] = -1; }
    wall[0] = 0;
    int head = 0, tail = 0;
    queue[tail++] = 0;
    dist[0] = 0;
    while (head < tail) {
        int c = queue[head++], cx = c % GRID, cy = c / GRID;
        int next[4] = { cx > 0 ? c - 1 : -1, cx < GRID - 1 ? c + 1 : -1, cy > 0 ? c - GRID : -1, cy < GRID - 1 ? c + GRID : -1 };
        for (int d = 0; d < 4; d++) {
            int n = next[d];
            if (n >= 0 && !wall[n] && dist[n] < 0) { dist[n] = dist[c] + 1; queue[tail++] = n; }
        }
    }
    return (u64)tail * 1000003 + (u64)dist[queue[tail - 1]];
}

/* Copies between two 4 MiB arrays declared side by side, four passes. */
#define COPY_N (1u << 20)
static u32 src[COPY_N], dst[COPY_N];
static NOINLINE u64 k_copy(u64 it)
{
    for (u32 i = 0; i < COPY_N; i++) src[i] = i * 2654435761u + (u32)it;
    u64 s = 0;
    for (u32 pass = 0; pass < 4; pass++) {
        for (u32 i = 0; i < COPY_N; i++) dst[i] = src[i] + pass;
        for (u32 i = 0; i < COPY_N; i++) src[i] = dst[i] ^ (i >> 3);
        s += dst[(it * 7919 + pass) % COPY_N];
    }
    return s;
}

void bench_start(long *sp) __attribute__((used, noreturn));
void bench_start(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    u64 scale = argc > 1 ? parse_u64(argv[1]) : 2;
    u64 mask = argc > 2 ? parse_u64(argv[2]) : 31;
    static const char *const names[] = { "sieve", "hash", "msort", "bfs", "copy" };
    static u64 (*const kernels[])(u64) = { k_sieve, k_hash, k_msort, k_bfs, k_copy };
    u64 results[5] = { 0 };
    for (u64 it = 0; it < scale; it++)
        for (int k = 0; k < 5; k++)
            if (mask >> k & 1) results[k] = results[k] * 31 + kernels[k](it);
    put_str("scale="); put_u64(scale); put_str(" mask="); put_u64(mask);
    for (int k = 0; k < 5; k++) { put_str("\n"); put_str(names[k]); put_str("="); put_hex(results[k]); }
    put_str("\n");
    sys_write(1, out, out_len);
    sys_exit(0);
}
