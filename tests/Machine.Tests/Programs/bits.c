/* Bit manipulation: popcount/parity (libgcc's __popcountdi2 without POPCNT), clz/ctz (bsr/bsf),
   byte swaps, rotates, bit reversal, Gray codes, sign extension, setcc/cmov idioms, signed and
   unsigned division by constants (magic multiplies), 8/16-bit partial registers. */
#include "rt.h"

static volatile u64 vseed = 0xD1B54A32D192ED03ull;

static NOINLINE int pop64(u64 x) { return __builtin_popcountll(x); }
static NOINLINE int parity64(u64 x) { return __builtin_parityll(x); }
static NOINLINE int clz64(u64 x) { return x ? __builtin_clzll(x) : 64; }
static NOINLINE int ctz64(u64 x) { return x ? __builtin_ctzll(x) : 64; }
static NOINLINE int clz32(u32 x) { return x ? __builtin_clz(x) : 32; }
static NOINLINE u64 bswap64(u64 x) { return __builtin_bswap64(x); }
static NOINLINE u32 bswap32(u32 x) { return __builtin_bswap32(x); }
static NOINLINE u16 bswap16(u16 x) { return __builtin_bswap16(x); }
static NOINLINE u64 rotl64(u64 x, unsigned r) { return (x << (r & 63)) | (x >> ((64 - r) & 63)); }
static NOINLINE u32 rotr32(u32 x, unsigned r) { return (x >> (r & 31)) | (x << ((32 - r) & 31)); }
static NOINLINE u16 rotl16(u16 x, unsigned r) { r &= 15; return (u16)((x << r) | (x >> ((16 - r) & 15))); }
static NOINLINE u8 rotr8(u8 x, unsigned r) { r &= 7; return (u8)((x >> r) | (x << ((8 - r) & 7))); }

static NOINLINE u64 bitrev64(u64 x)
{
    x = ((x >> 1) & 0x5555555555555555ull) | ((x & 0x5555555555555555ull) << 1);
    x = ((x >> 2) & 0x3333333333333333ull) | ((x & 0x3333333333333333ull) << 2);
    x = ((x >> 4) & 0x0F0F0F0F0F0F0F0Full) | ((x & 0x0F0F0F0F0F0F0F0Full) << 4);
    return __builtin_bswap64(x);
}

static NOINLINE int sign_of(i64 x) { return (x > 0) - (x < 0); }
static NOINLINE i64 sext(u64 x, int bits) { return (i64)(x << (64 - bits)) >> (64 - bits); }
static NOINLINE u64 min_u(u64 a, u64 b) { return a < b ? a : b; }
static NOINLINE i64 max_s(i64 a, i64 b) { return a > b ? a : b; }

typedef int32_t i32;
static NOINLINE i32 div_consts(i32 x) { return x / 7 + x / -3 + x % 10 + x / 16 + x % 8; }
static NOINLINE u32 udiv_consts(u32 x) { return x / 7 + x / 1000 + x % 10 + x / 3 + (x >> 5) % 13; }
static NOINLINE i64 div64_consts(i64 x) { return x / 1000000007 + x % 12345 + x / -9; }
static NOINLINE u32 flags_mix(u32 a, u32 b)
{
    u32 r = 0;
    r |= (u32)(a < b) << 0;
    r |= (u32)((i32)a < (i32)b) << 1;
    r |= (u32)(a == b) << 2;
    r |= (u32)(a + b < a) << 3;                          /* carry */
    r |= (u32)__builtin_add_overflow((i32)a, (i32)b, &(i32){0}) << 4;
    r |= (u32)__builtin_sub_overflow((i32)a, (i32)b, &(i32){0}) << 5;
    r |= (u32)__builtin_mul_overflow(a, b, &(u32){0}) << 6;
    r |= (u32)((a & b) == 0) << 7;
    r |= (u32)(a >= b) << 8;
    r |= (u32)((i32)a >= (i32)b) << 9;
    return r;
}

struct packed { u8 a; u16 b; u8 c; u32 d; } __attribute__((packed));
static struct packed pk[64];

int main(void)
{
    u64 x = vseed, h = 0;
    for (int i = 0; i < 3000; i++) {
        x ^= x << 7; x ^= x >> 9;
        u64 v = i % 17 == 0 ? 0 : i % 13 == 0 ? x >> (i % 64) : x;
        h = h * 0x9E3779B97F4A7C15ull + (u64)pop64(v) + ((u64)parity64(v) << 7) + ((u64)clz64(v) << 8) + ((u64)ctz64(v) << 16)
            + ((u64)clz32((u32)v) << 24) + bswap64(v) + bswap32((u32)v) + bswap16((u16)v) + rotl64(v, (unsigned)i) + rotr32((u32)v, (unsigned)i)
            + rotl16((u16)v, (unsigned)i) + rotr8((u8)v, (unsigned)i) + bitrev64(v);
        h ^= (u64)sign_of((i64)v) + (u64)sext(v, 1 + i % 64) + min_u(v, h) + (u64)max_s((i64)v, (i64)h);
        h += (u64)(u32)div_consts((i32)v) + udiv_consts((u32)(v >> 7)) + (u64)div64_consts((i64)v) + flags_mix((u32)v, (u32)(v >> 32));
        if (i < 4) {
            out_str("v="); out_hex(v, 16); out_str(" pop="); out_u64((u64)pop64(v)); out_str(" par="); out_u64((u64)parity64(v));
            out_str(" clz="); out_u64((u64)clz64(v)); out_str(" ctz="); out_u64((u64)ctz64(v)); out_str(" rev="); out_hex(bitrev64(v), 16);
            out_str(" flags="); out_hex(flags_mix((u32)v, (u32)(v >> 32)), 3); out_nl();
        }
    }
    out_kv_hex("bits_hash", h);

    /* Gray code round trip and partial-register arithmetic. */
    u64 g = 0;
    for (u32 i = 0; i < 5000; i++) {
        u32 gray = i ^ (i >> 1), back = gray;
        for (u32 s = 1; s < 32; s <<= 1) back ^= back >> s;
        if (back != i) { out_str("gray mismatch\n"); return 1; }
        u8 lo = (u8)i, hi = (u8)(i >> 8);
        u16 w = (u16)(lo * hi + (u16)gray);
        g = g * 31 + w + (u8)(lo - hi) + (u8)(lo << 3);
    }
    out_kv_hex("gray_hash", g);

    for (int i = 0; i < 64; i++) { pk[i].a = (u8)i; pk[i].b = (u16)(i * 1000); pk[i].c = (u8)~i; pk[i].d = (u32)i * 0x01010101u; }
    u64 ph = 0;
    for (int i = 0; i < 64; i++) ph = ph * 131 + pk[i].a + pk[i].b + pk[i].c + pk[i].d;
    out_kv_hex("packed_hash", ph);
    return (int)((h ^ g) & 0x7F);
}
