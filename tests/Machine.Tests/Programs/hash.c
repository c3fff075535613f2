/* Hashing: FNV-1a (32 and 64 bit), CRC32 (bitwise and table-driven), SHA-256 with known vectors. */
#include "rt.h"

static u32 fnv1a32(const u8 *p, size_t n)
{
    u32 h = 2166136261u;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 16777619u; }
    return h;
}

static u64 fnv1a64(const u8 *p, size_t n)
{
    u64 h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ull; }
    return h;
}

static u32 crc32_bitwise(const u8 *p, size_t n)
{
    u32 c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & -(c & 1));
    }
    return ~c;
}

static u32 crc_table[256];

static void crc32_init(void)
{
    for (u32 i = 0; i < 256; i++) {
        u32 c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static u32 crc32_table(const u8 *p, size_t n)
{
    u32 c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return ~c;
}

/* ---- SHA-256 ---- */
static const u32 K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

struct sha256 { u32 h[8]; u8 buf[64]; size_t len; u64 total; };

static u32 ror32(u32 x, int r) { return (x >> r) | (x << (32 - r)); }

static void sha256_block(struct sha256 *s, const u8 *p)
{
    u32 w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (u32)p[4 * i] << 24 | (u32)p[4 * i + 1] << 16 | (u32)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        u32 s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        u32 s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    u32 a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        u32 t1 = h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        u32 t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_init(struct sha256 *s)
{
    static const u32 iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
    memcpy(s->h, iv, sizeof iv);
    s->len = 0;
    s->total = 0;
}

static void sha256_update(struct sha256 *s, const u8 *p, size_t n)
{
    s->total += n;
    while (n) {
        size_t take = 64 - s->len < n ? 64 - s->len : n;
        memcpy(s->buf + s->len, p, take);
        s->len += take; p += take; n -= take;
        if (s->len == 64) { sha256_block(s, s->buf); s->len = 0; }
    }
}

static void sha256_final(struct sha256 *s, u8 out[32])
{
    u64 bits = s->total * 8;
    u8 pad = 0x80;
    sha256_update(s, &pad, 1);
    u8 zero = 0;
    while (s->len != 56) sha256_update(s, &zero, 1);
    u8 len[8];
    for (int i = 0; i < 8; i++) len[i] = (u8)(bits >> (56 - 8 * i));
    sha256_update(s, len, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (u8)(s->h[i] >> 24); out[4 * i + 1] = (u8)(s->h[i] >> 16);
        out[4 * i + 2] = (u8)(s->h[i] >> 8); out[4 * i + 3] = (u8)s->h[i];
    }
}

static int print_sha(const char *label, const u8 *p, size_t n, const char *expect)
{
    struct sha256 s;
    u8 d[32];
    char hex[65];
    sha256_init(&s);
    /* feed in uneven pieces to exercise buffering */
    size_t off = 0, piece = 1;
    while (off < n) { size_t t = n - off < piece ? n - off : piece; sha256_update(&s, p + off, t); off += t; piece = piece * 3 + 1; }
    sha256_final(&s, d);
    for (int i = 0; i < 32; i++) { hex[2 * i] = "0123456789abcdef"[d[i] >> 4]; hex[2 * i + 1] = "0123456789abcdef"[d[i] & 15]; }
    hex[64] = 0;
    out_str("sha256("); out_str(label); out_str(")="); out_str(hex);
    int ok = !expect || memcmp(hex, expect, 64) == 0;
    out_str(ok ? " ok" : " MISMATCH"); out_nl();
    return ok;
}

static u8 data[65536];

int main(void)
{
    int ok = 1;
    u64 x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof data; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; data[i] = (u8)(x >> 24); }

    static const char *words[] = { "", "a", "foobar", "The quick brown fox jumps over the lazy dog" };
    for (size_t i = 0; i < COUNT(words); i++) {
        const u8 *w = (const u8 *)words[i];
        size_t n = rt_strlen(words[i]);
        out_str("\""); out_str(words[i]); out_str("\": fnv32=");
        out_hex(fnv1a32(w, n), 8); out_str(" fnv64="); out_hex(fnv1a64(w, n), 16);
        out_str(" crc32="); out_hex(crc32_bitwise(w, n), 8); out_nl();
    }
    crc32_init();
    if (crc32_table((const u8 *)"123456789", 9) != 0xCBF43926u) ok = 0;
    if (crc32_bitwise((const u8 *)"123456789", 9) != 0xCBF43926u) ok = 0;
    if (fnv1a64((const u8 *)"a", 1) != 0xaf63dc4c8601ec8cull) ok = 0;

    out_kv_hex("fnv32(data)", fnv1a32(data, sizeof data));
    out_kv_hex("fnv64(data)", fnv1a64(data, sizeof data));
    u32 c1 = crc32_table(data, sizeof data), c2 = crc32_bitwise(data, 8192);
    out_kv_hex("crc32(data)", c1);
    out_kv_hex("crc32bits(data[0:8192])", c2);
    if (crc32_table(data, 8192) != c2) ok = 0;

    ok &= print_sha("", (const u8 *)"", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ok &= print_sha("abc", (const u8 *)"abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ok &= print_sha("448 bits", (const u8 *)"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
                    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    ok &= print_sha("data[0:20000]", data, 20000, 0);
    out_kv_u64("hash_ok", (u64)ok);
    return ok ? 0 : 3;
}
