/* The emulator benchmark's loops workload (`bench emulator --workload loops`): counted loops over
   integer arrays, the shape where qemu-user keeps up with our JIT. qemu-user addresses guest memory
   directly (guest base + address), while each of our accesses whose address registers a loop steps
   tests its access window on every pass (Embench's matmult-int measured 1.00 times qemu-user's
   time, PolyBench's floyd-warshall 1.27, at stop 44). Kernels: a matrix product walking a column
   (ijk), the same in ikj order, Floyd-Warshall's min relaxation (a cmov per element), a 5-point
   integer stencil, a prefix sum with a running maximum, and a transpose. Usage: loops [scale [mask]]
   (bit k runs kernel k; default all); prints one checksum per kernel. The output is identical
   natively, under qemu-user and in the Machine. */
#include "rt.h"

#define N 48
static int ma[N][N], mb[N][N], mc[N][N];
/* The loops run to a size the compiler cannot see, as most programs' do (a constant trip count lets
   gcc -O2 vectorise the products, which no longer measures the loops qemu-user is good at). */
static volatile int dimension = N;

static u64 xorshift(u64 *x) { *x ^= *x << 13; *x ^= *x >> 7; *x ^= *x << 17; return *x; }

static NOINLINE void fill(int m[N][N], u64 seed)
{
    u64 x = 0x9E3779B97F4A7C15ull ^ seed;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) m[i][j] = (int)(xorshift(&x) & 1023) - 512;
}

static NOINLINE u64 sum_matrix(int m[N][N])
{
    u64 s = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) s = s * 31 + (u32)m[i][j];
    return s;
}

/* c = a x b, the inner loop walking a column of b (a stride of a row). */
static NOINLINE u64 k_matmul_ijk(u64 it)
{
    int n = dimension;
    fill(ma, it); fill(mb, it + 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int s = 0;
            for (int k = 0; k < n; k++) s += ma[i][k] * mb[k][j];
            mc[i][j] = s;
        }
    return sum_matrix(mc);
}

/* c += a[i][k] * b[k][.]: the inner loop walking rows (gcc may vectorise it). */
static NOINLINE u64 k_matmul_ikj(u64 it)
{
    int n = dimension;
    fill(ma, it + 2); fill(mb, it + 3);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) mc[i][j] = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < n; k++) {
            int a = ma[i][k];
            for (int j = 0; j < n; j++) mc[i][j] += a * mb[k][j];
        }
    return sum_matrix(mc);
}

/* All-pairs shortest paths over non-negative weights: d[i][j] = min(d[i][j], d[i][k] + d[k][j]). */
static NOINLINE u64 k_floyd(u64 it)
{
    int n = dimension;
    fill(ma, it + 4);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) ma[i][j] = i == j ? 0 : (ma[i][j] & 511) + 1;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                int through = ma[i][k] + ma[k][j];
                ma[i][j] = through < ma[i][j] ? through : ma[i][j];
            }
    return sum_matrix(ma);
}

/* Ten sweeps of a 5-point average with shifts between two grids. */
static NOINLINE u64 k_stencil(u64 it)
{
    int n = dimension;
    fill(ma, it + 5);
    for (int t = 0; t < 10; t++) {
        for (int i = 1; i < n - 1; i++)
            for (int j = 1; j < n - 1; j++)
                mb[i][j] = (ma[i][j] * 4 + ma[i - 1][j] + ma[i + 1][j] + ma[i][j - 1] + ma[i][j + 1]) >> 3;
        for (int i = 1; i < n - 1; i++)
            for (int j = 1; j < n - 1; j++)
                ma[i][j] = (mb[i][j] * 4 + mb[i - 1][j] + mb[i + 1][j] + mb[i][j - 1] + mb[i][j + 1]) >> 3;
    }
    return sum_matrix(ma);
}

/* Prefix sums of each row with the running maximum of the sums (a loop-carried chain). */
static NOINLINE u64 k_prefix(u64 it)
{
    int n = dimension;
    fill(ma, it + 6);
    long best = 0;
    for (int r = 0; r < 20; r++)
        for (int i = 0; i < n; i++) {
            long s = 0, m = -1L << 40;
            for (int j = 0; j < n; j++) {
                s += ma[i][j] ^ r;
                mb[i][j] = (int)s;
                m = s > m ? s : m;
            }
            best += m;
        }
    return (u64)best * 31 + sum_matrix(mb);
}

/* b = transpose(a), then a = transpose(b) + 1, a few times. */
static NOINLINE u64 k_transpose(u64 it)
{
    int n = dimension;
    fill(ma, it + 7);
    for (int r = 0; r < 20; r++) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) mb[j][i] = ma[i][j];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) ma[j][i] = mb[i][j] + 1;
    }
    return sum_matrix(ma);
}

void bench_start(long *sp) __attribute__((used, noreturn));
void bench_start(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    u64 scale = argc > 1 ? parse_u64(argv[1]) : 10;
    u64 mask = argc > 2 ? parse_u64(argv[2]) : 63;
    static const char *const names[] = { "matmul_ijk", "matmul_ikj", "floyd", "stencil", "prefix", "transpose" };
    static u64 (*const kernels[])(u64) = { k_matmul_ijk, k_matmul_ikj, k_floyd, k_stencil, k_prefix, k_transpose };
    u64 results[6] = { 0 };
    for (u64 it = 0; it < scale; it++)
        for (int k = 0; k < 6; k++)
            if (mask >> k & 1) results[k] = results[k] * 31 + kernels[k](it);
    put_str("scale="); put_u64(scale); put_str(" mask="); put_u64(mask);
    for (int k = 0; k < 6; k++) { put_str("\n"); put_str(names[k]); put_str("="); put_hex(results[k]); }
    put_str("\n");
    sys_write(1, out, out_len);
    sys_exit(0);
}
