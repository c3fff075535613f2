/* 128-bit arithmetic: multiply, divide and modulo (libgcc's __udivti3/__divti3/__umodti3/__modti3),
   shifts by every count, comparisons, decimal printing, modular exponentiation with 128-bit
   intermediates (Miller-Rabin), integer square roots. */
#include "rt.h"

static void out_u128(u128 v)
{
    char tmp[48];
    int i = 0;
    do { tmp[i++] = (char)('0' + (int)(v % 10)); v /= 10; } while (v);
    while (i) out_char(tmp[--i]);
}

static void out_i128(i128 v)
{
    if (v < 0) { out_char('-'); out_u128(-(u128)v); }
    else out_u128((u128)v);
}

static void out_hex128(u128 v)
{
    out_str("0x"); out_hex((u64)(v >> 64), 16); out_hex((u64)v, 16);
}

static NOINLINE u64 mulmod(u64 a, u64 b, u64 m) { return (u64)((u128)a * b % m); }

static u64 powmod(u64 b, u64 e, u64 m)
{
    u64 r = 1 % m;
    b %= m;
    while (e) { if (e & 1) r = mulmod(r, b, m); b = mulmod(b, b, m); e >>= 1; }
    return r;
}

static int is_prime(u64 n)
{
    if (n < 2) return 0;
    static const u64 small[] = { 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37 };
    for (unsigned i = 0; i < COUNT(small); i++) { if (n % small[i] == 0) return n == small[i]; }
    u64 d = n - 1;
    int s = 0;
    while (!(d & 1)) { d >>= 1; s++; }
    for (unsigned i = 0; i < COUNT(small); i++) {
        u64 x = powmod(small[i], d, n);
        if (x == 1 || x == n - 1) continue;
        int composite = 1;
        for (int r = 1; r < s; r++) { x = mulmod(x, x, n); if (x == n - 1) { composite = 0; break; } }
        if (composite) return 0;
    }
    return 1;
}

static u128 isqrt128(u128 n)
{
    if (n < 2) return n;
    u128 x = n, y = (x + 1) / 2;
    while (y < x) { x = y; y = (x + n / x) / 2; }
    return x;
}

/* volatile sources keep gcc from folding the constant cases away */
static volatile u64 vlo = 0xFEDCBA9876543210ull, vhi = 0x0123456789ABCDEFull;

int main(void)
{
    /* Factorials up to 34! fit in 128 bits. */
    u128 f = 1;
    for (int i = 1; i <= 34; i++) {
        f *= (u128)i;
        if (i % 5 == 4 || i == 34) { out_u64((u64)i); out_str("! = "); out_u128(f); out_nl(); }
    }
    /* Divide it back down. */
    for (int i = 34; i >= 1; i--) {
        if (f % (u128)i != 0) { out_str("factorial remainder!\n"); return 1; }
        f /= (u128)i;
    }
    out_str("34!/34/.../1 = "); out_u128(f); out_nl();

    /* Fibonacci numbers up to F(186) < 2^128. */
    u128 a = 0, b = 1;
    for (int i = 0; i < 186; i++) { u128 t = a + b; a = b; b = t; }
    out_str("F(186) = "); out_u128(a); out_nl();
    out_str("F(186) hex = "); out_hex128(a); out_nl();

    u128 x = ((u128)vhi << 64) | vlo;
    u128 y = ((u128)vlo << 64) | vhi;
    out_str("x = "); out_hex128(x); out_nl();
    out_str("x*y = "); out_hex128(x * y); out_nl();
    out_str("y/x = "); out_u128(y / x); out_str(" y%x = "); out_u128(y % x); out_nl();
    out_str("x/1000000007 = "); out_u128(x / 1000000007u); out_str(" rem "); out_u128(x % 1000000007u); out_nl();
    u128 big_div = ((u128)0x1234567ull << 64) | 0x89ABCDEFull;
    out_str("y/big = "); out_u128(y / big_div); out_str(" rem "); out_hex128(y % big_div); out_nl();

    /* Signed division and modulo with all sign combinations. */
    i128 sv[] = { (i128)x, -(i128)x, (i128)12345678901234567ll, -(i128)98765432123456789ll };
    i128 sd[] = { 7, -7, (i128)1 << 70, -((i128)1 << 65) - 3 };
    u64 h = 0;
    for (unsigned i = 0; i < COUNT(sv); i++)
        for (unsigned j = 0; j < COUNT(sd); j++) {
            i128 q = sv[i] / sd[j], r = sv[i] % sd[j];
            if (q * sd[j] + r != sv[i]) { out_str("signed div identity failed\n"); return 2; }
            h = h * 31 + (u64)q + (u64)((u128)r >> 64) * 7 + (u64)r;
            if (i == j) { out_i128(sv[i]); out_str(" / "); out_i128(sd[j]); out_str(" = "); out_i128(q); out_str(" r "); out_i128(r); out_nl(); }
        }
    out_kv_hex("signed_div_hash", h);

    /* Shifts by every count 0..127, logical and arithmetic. */
    u64 sh = 0;
    i128 neg = -(i128)x;
    for (unsigned s = 0; s < 128; s++) {
        u128 l = x << s, r = x >> s;
        i128 ar = neg >> s;
        sh = sh * 1000003 ^ (u64)l ^ (u64)(l >> 64) ^ (u64)r ^ (u64)(r >> 64) ^ (u64)ar ^ (u64)((u128)ar >> 64);
    }
    out_kv_hex("shift_hash", sh);

    /* Comparisons. */
    u64 cmp = 0;
    u128 vals[] = { 0, 1, x, y, ~(u128)0, (u128)1 << 64, ((u128)1 << 64) - 1 };
    for (unsigned i = 0; i < COUNT(vals); i++)
        for (unsigned j = 0; j < COUNT(vals); j++)
            cmp = cmp * 3 + (u64)(vals[i] < vals[j]) + 2 * (u64)((i128)vals[i] < (i128)vals[j]);
    out_kv_hex("cmp_hash", cmp);

    /* 64x64->128 high halves. */
    u64 mh = 0;
    for (u64 i = 1; i < 2000; i++) {
        u128 p = (u128)(i * 0x9E3779B97F4A7C15ull) * (i * 0xC2B2AE3D27D4EB4Full);
        i128 sp = (i128)(i64)(i * 0x9E3779B97F4A7C15ull) * (i64)(i * 0xC2B2AE3D27D4EB4Full);
        mh += (u64)(p >> 64) ^ (u64)((u128)sp >> 64);
    }
    out_kv_hex("mulhi_hash", mh);

    /* Miller-Rabin with 128-bit mulmod. */
    static const u64 cand[] = { 1000000007ull, 1000000008ull, 18446744073709551557ull, 18446744073709551559ull,
                                 4611686018427387847ull, 9223372036854775783ull, 9223372036854775807ull, 2305843009213693951ull };
    for (unsigned i = 0; i < COUNT(cand); i++) { out_u64(cand[i]); out_str(is_prime(cand[i]) ? " prime" : " composite"); out_nl(); }
    int count = 0;
    for (u64 n = 0xFFFFFFFFFFFFFF00ull; n != 0; n++) count += is_prime(n);
    out_kv_u64("primes_in_last_256", (u64)count);

    out_str("isqrt(x*x+5) = "); out_u128(isqrt128((u128)vlo * vlo + 5)); out_nl();
    out_str("isqrt(2^127) = "); out_u128(isqrt128((u128)1 << 127)); out_nl();
    return (int)(h & 0x7F);
}
