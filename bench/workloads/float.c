/* The emulator benchmark's floating-point workload (`bench emulator --workload float`): scalar SSE2
   double and single arithmetic as gcc emits it for ordinary numeric C. An n-body step (sqrt and
   division), the Mandelbrot set (compares that branch on ucomisd), the spectral norm (int to double
   conversions, a function call per element), a single-precision matrix product with float to integer
   conversions, and a Horner polynomial over a table. Usage: float [scale [mask]] (bit k runs kernel k;
   default all) and prints one checksum per kernel: the bit patterns of the results, so a rounding
   difference anywhere shows. The output is identical natively, under qemu-user and in the Machine. */
#include "rt.h"

static u64 bits_of(double d) { union { double d; u64 u; } c = { d }; return c.u; }

/* Five bodies, 200 steps of pairwise gravity with a softened distance. */
static NOINLINE u64 k_nbody(u64 it)
{
    double x[5], y[5], z[5], vx[5], vy[5], vz[5], m[5];
    for (int i = 0; i < 5; i++) {
        x[i] = i * 1.1 + (double)it * 1e-3; y[i] = i * 0.7 - 1; z[i] = 0.3 * i;
        vx[i] = 0.01 * i; vy[i] = -0.02 * i; vz[i] = 0.005; m[i] = 1.0 + i;
    }
    for (int s = 0; s < 200; s++) {
        for (int i = 0; i < 5; i++)
            for (int j = i + 1; j < 5; j++) {
                double dx = x[i] - x[j], dy = y[i] - y[j], dz = z[i] - z[j];
                double d2 = dx * dx + dy * dy + dz * dz + 0.01;
                double mag = 0.001 / (d2 * __builtin_sqrt(d2));
                vx[i] -= dx * m[j] * mag; vy[i] -= dy * m[j] * mag; vz[i] -= dz * m[j] * mag;
                vx[j] += dx * m[i] * mag; vy[j] += dy * m[i] * mag; vz[j] += dz * m[i] * mag;
            }
        for (int i = 0; i < 5; i++) { x[i] += 0.001 * vx[i]; y[i] += 0.001 * vy[i]; z[i] += 0.001 * vz[i]; }
    }
    return bits_of(x[0] + y[1] + z[2] + vx[3] + vy[4]);
}

/* Escape counts over a 32x24 grid, at most 60 iterations per point. */
static NOINLINE u64 k_mandel(u64 it)
{
    u64 count = 0;
    for (int py = 0; py < 24; py++)
        for (int px = 0; px < 32; px++) {
            double cr = -2.0 + px * (2.5 / 32) + (double)it * 1e-6, ci = -1.0 + py * (2.0 / 24);
            double zr = 0, zi = 0;
            int k = 0;
            while (k < 60 && zr * zr + zi * zi < 4.0) { double t = zr * zr - zi * zi + cr; zi = 2 * zr * zi + ci; zr = t; k++; }
            count = count * 3 + (u64)k;
        }
    return count;
}

/* The spectral norm of the infinite matrix A(i,j) = 1/((i+j)(i+j+1)/2+i+1), truncated to 40x40. */
static NOINLINE double a_elem(int i, int j) { return 1.0 / ((i + j) * (i + j + 1) / 2 + i + 1); }
static NOINLINE u64 k_spectral(u64 it)
{
    enum { N = 40 };
    double u[N], v[N], t[N];
    for (int i = 0; i < N; i++) u[i] = 1.0 + (double)(it % 3);
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < N; i++) { double s = 0; for (int j = 0; j < N; j++) s += a_elem(i, j) * u[j]; t[i] = s; }
        for (int i = 0; i < N; i++) { double s = 0; for (int j = 0; j < N; j++) s += a_elem(j, i) * t[j]; v[i] = s; }
        for (int i = 0; i < N; i++) u[i] = v[i];
    }
    double a = 0, b = 0;
    for (int i = 0; i < N; i++) { a += u[i] * v[i]; b += v[i] * v[i]; }
    return bits_of(__builtin_sqrt(a / b));
}

/* A 24x24 single-precision matrix product, its entries truncated to integers for the checksum. */
static NOINLINE u64 k_matf(u64 it)
{
    enum { N = 24 };
    static float a[N][N], b[N][N], c[N][N];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) { a[i][j] = (float)(i + j + (int)(it % 7)) * 0.5f; b[i][j] = (float)(i - j) * 0.25f; }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) { float s = 0; for (int k = 0; k < N; k++) s += a[i][k] * b[k][j]; c[i][j] = s; }
    u64 h = 0;
    for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) h = h * 31 + (u64)(i64)c[i][j];
    return h;
}

/* A degree-7 polynomial by Horner's rule at 512 points, with a min/max clamp. */
static NOINLINE u64 k_poly(u64 it)
{
    static const double coef[8] = { 1.0, -0.5, 0.25, -0.125, 0.0625, -0.03125, 0.015625, -0.0078125 };
    double acc = 0, lo = 1e300, hi = -1e300;
    for (int p = 0; p < 512; p++) {
        double x = -2.0 + p * (4.0 / 512) + (double)it * 1e-9, y = 0;
        for (int k = 7; k >= 0; k--) y = y * x + coef[k];
        lo = y < lo ? y : lo;
        hi = y > hi ? y : hi;
        acc += y;
    }
    return bits_of(acc) ^ bits_of(lo) * 3 ^ bits_of(hi) * 7;
}

void bench_start(long *sp) __attribute__((used, noreturn));
void bench_start(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    u64 scale = argc > 1 ? parse_u64(argv[1]) : 10;
    u64 mask = argc > 2 ? parse_u64(argv[2]) : 31;
    static const char *const names[] = { "nbody", "mandel", "spectral", "matf", "poly" };
    static u64 (*const kernels[])(u64) = { k_nbody, k_mandel, k_spectral, k_matf, k_poly };
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
