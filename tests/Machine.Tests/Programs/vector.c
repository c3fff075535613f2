/* Simple loops over arrays that gcc vectorises with SSE2 at -O2/-O3 (unless -mgeneral-regs-only):
   element-wise add/sub/mul/shift/xor on 8/16/32/64-bit elements, reductions (sum, min, max,
   count, dot product), conditional selects, absolute differences, widening and narrowing. */
#include "rt.h"

#define N 4096
static int32_t a32[N], b32[N], c32[N];
static uint16_t a16[N], b16[N], c16[N];
static uint8_t a8[N], b8[N], c8[N];
static int64_t a64[N], b64[N];
static u32 seed = 0x12345678;

static u32 next(void) { seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5; return seed; }

static NOINLINE void fill(void)
{
    for (int i = 0; i < N; i++) {
        u32 r = next();
        a32[i] = (int32_t)r >> 8; b32[i] = (int32_t)(r * 2654435761u) >> 12;
        a16[i] = (uint16_t)r; b16[i] = (uint16_t)(r >> 16);
        a8[i] = (uint8_t)(r >> 3); b8[i] = (uint8_t)(r >> 11);
        a64[i] = (int64_t)(((u64)r << 32) | next()); b64[i] = (int64_t)next() - 0x80000000ll;
    }
}

static NOINLINE void add32(void) { for (int i = 0; i < N; i++) c32[i] = (int32_t)((u32)a32[i] + (u32)b32[i]); }
static NOINLINE void mul32(void) { for (int i = 0; i < N; i++) c32[i] = (int32_t)((u32)a32[i] * (u32)b32[i] + 3u); }
static NOINLINE void shifts32(void) { for (int i = 0; i < N; i++) c32[i] = (a32[i] >> 3) ^ (int32_t)((u32)b32[i] << 5) ^ (int32_t)((u32)a32[i] >> 7); }
static NOINLINE void select32(void) { for (int i = 0; i < N; i++) c32[i] = a32[i] > b32[i] ? a32[i] - b32[i] : b32[i] & 0xFFFF; }
static NOINLINE void abs32(void) { for (int i = 0; i < N; i++) { int32_t d = a32[i] - b32[i]; c32[i] = d < 0 ? -d : d; } }
static NOINLINE i64 sum32(void) { i64 s = 0; for (int i = 0; i < N; i++) s += c32[i]; return s; }
static NOINLINE int32_t min32(void) { int32_t m = a32[0]; for (int i = 0; i < N; i++) m = a32[i] < m ? a32[i] : m; return m; }
static NOINLINE int32_t max32(void) { int32_t m = b32[0]; for (int i = 0; i < N; i++) m = b32[i] > m ? b32[i] : m; return m; }
static NOINLINE int count_eq_mod(void) { int n = 0; for (int i = 0; i < N; i++) n += (a32[i] & 7) == (b32[i] & 7); return n; }
static NOINLINE u32 dot32(void) { u32 s = 0; for (int i = 0; i < N; i++) s += (u32)a32[i] * (u32)b32[i]; return s; }

static NOINLINE void ops16(void) { for (int i = 0; i < N; i++) c16[i] = (uint16_t)(a16[i] * b16[i] + (a16[i] >> 2) - b16[i]); }
static NOINLINE u32 sum16(void) { u32 s = 0; for (int i = 0; i < N; i++) s += c16[i]; return s; }
static NOINLINE void ops8(void) { for (int i = 0; i < N; i++) c8[i] = (uint8_t)((a8[i] + b8[i]) ^ (a8[i] & 0x5A)); }
static NOINLINE void avg8(void) { for (int i = 0; i < N; i++) c8[i] = (uint8_t)((a8[i] + b8[i] + 1) >> 1); }
static NOINLINE void sat8(void) { for (int i = 0; i < N; i++) { int s = a8[i] + b8[i]; c8[i] = (uint8_t)(s > 255 ? 255 : s); } }
static NOINLINE void max8(void) { for (int i = 0; i < N; i++) c8[i] = a8[i] > b8[i] ? a8[i] : b8[i]; }
static NOINLINE u32 sum8(void) { u32 s = 0; for (int i = 0; i < N; i++) s += c8[i]; return s; }
static NOINLINE u64 sad8(void) { u64 s = 0; for (int i = 0; i < N; i++) s += (u64)(a8[i] > b8[i] ? a8[i] - b8[i] : b8[i] - a8[i]); return s; }

static NOINLINE void ops64(void) { for (int i = 0; i < N; i++) a64[i] = (int64_t)((u64)a64[i] + (u64)b64[i]) ^ (b64[i] >> 3); }
static NOINLINE u64 xor64(void) { u64 s = 0; for (int i = 0; i < N; i++) s ^= (u64)a64[i] + (u64)i; return s; }
static NOINLINE void widen(void) { for (int i = 0; i < N; i++) c32[i] = (int32_t)a16[i] - (int32_t)b8[i]; }
static NOINLINE void narrow(void) { for (int i = 0; i < N; i++) c8[i] = (uint8_t)(c32[i] >> 4); }
static NOINLINE void copy_rev(void) { for (int i = 0; i < N; i++) c32[i] = a32[N - 1 - i]; }

struct px { uint8_t r, g, b, a; };
static struct px img[N];
static NOINLINE u32 gray(void)
{
    u32 s = 0;
    for (int i = 0; i < N; i++) { img[i].r = a8[i]; img[i].g = b8[i]; img[i].b = c8[i]; img[i].a = 255; }
    for (int i = 0; i < N; i++) s += (u32)(img[i].r * 77 + img[i].g * 150 + img[i].b * 29) >> 8;
    return s;
}

static u64 h;
static void mix(const char *name, u64 v)
{
    h = (h ^ v) * 0x100000001B3ull;
    out_str(name); out_char('='); out_hex(v, 0); out_nl();
}

int main(void)
{
    fill();
    add32(); mix("add32", (u64)sum32());
    mul32(); mix("mul32", (u64)sum32());
    shifts32(); mix("shifts32", (u64)sum32());
    select32(); mix("select32", (u64)sum32());
    abs32(); mix("abs32", (u64)sum32());
    mix("min32", (u64)(u32)min32());
    mix("max32", (u64)(u32)max32());
    mix("count_eq", (u64)count_eq_mod());
    mix("dot32", dot32());
    ops16(); mix("ops16", sum16());
    ops8(); mix("ops8", sum8());
    avg8(); mix("avg8", sum8());
    sat8(); mix("sat8", sum8());
    max8(); mix("max8", sum8());
    mix("sad8", sad8());
    ops64(); mix("ops64", xor64());
    widen(); mix("widen", (u64)sum32());
    narrow(); mix("narrow", sum8());
    copy_rev(); mix("copy_rev", (u64)sum32() ^ (u64)c32[5]);
    mix("gray", gray());
    out_kv_hex("total", h);
    return (int)(h & 0x7F);
}
