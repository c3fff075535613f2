/* Emulator benchmark workload: freestanding (own _start, raw syscalls, no libc), deterministic.
   Usage: bench [scale [mask]]  -- runs `scale` iterations of the kernels selected by `mask`
   (bit 0 sieve, 1 fib, 2 interp, 3 memcpy, 4 hash; default all) and prints one checksum per kernel.
   The output is identical natively, under qemu-user and in the Machine. */
#include "rt.h"

/* ---------------------------------------------------------------- kernels */

/* sieve: byte stores and tight counted loops over a 256 KiB array. */
#define SIEVE_N (1u << 18)
static u8 composite[SIEVE_N];
static NOINLINE u64 sieve(void)
{
    for (u32 i = 0; i < SIEVE_N; i++) composite[i] = 0;
    u64 count = 0;
    for (u32 i = 2; i < SIEVE_N; i++) {
        if (composite[i]) continue;
        count++;
        for (u32 j = i * 2; j < SIEVE_N; j += i) composite[j] = 1;
    }
    return count;
}

/* fib: call/ret/push/pop. */
static NOINLINE u64 fib(u32 n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

/* interp: a bytecode VM whose switch compiles to an indirect jump through a table. */
enum { OP_HALT, OP_PUSH, OP_LOAD, OP_STORE, OP_ADD, OP_SUB, OP_MUL, OP_XOR, OP_SHR, OP_AND,
       OP_LT, OP_JNZ, OP_JMP, OP_DUP, OP_DROP, OP_INC };
static NOINLINE i64 interp(const i64 *code, i64 *vars)
{
    i64 stack[64];
    int sp = 0, pc = 0;
    for (;;) {
        i64 b;
        switch (code[pc++]) {
        case OP_HALT: return sp ? stack[sp - 1] : 0;
        case OP_PUSH: stack[sp++] = code[pc++]; break;
        case OP_LOAD: stack[sp++] = vars[code[pc++]]; break;
        case OP_STORE: vars[code[pc++]] = stack[--sp]; break;
        case OP_ADD: b = stack[--sp]; stack[sp - 1] = (i64)((u64)stack[sp - 1] + (u64)b); break;
        case OP_SUB: b = stack[--sp]; stack[sp - 1] = (i64)((u64)stack[sp - 1] - (u64)b); break;
        case OP_MUL: b = stack[--sp]; stack[sp - 1] = (i64)((u64)stack[sp - 1] * (u64)b); break;
        case OP_XOR: b = stack[--sp]; stack[sp - 1] ^= b; break;
        case OP_SHR: b = stack[--sp]; stack[sp - 1] = (i64)((u64)stack[sp - 1] >> (b & 63)); break;
        case OP_AND: b = stack[--sp]; stack[sp - 1] &= b; break;
        case OP_LT: b = stack[--sp]; stack[sp - 1] = stack[sp - 1] < b; break;
        case OP_JNZ: b = stack[--sp]; pc = b ? (int)code[pc] : pc + 1; break;
        case OP_JMP: pc = (int)code[pc]; break;
        case OP_DUP: stack[sp] = stack[sp - 1]; sp++; break;
        case OP_DROP: sp--; break;
        case OP_INC: stack[sp - 1]++; break;
        default: return -1;
        }
    }
}
/* for (i = 0; i < 10000; i++) h = (h ^ i) * 0x100000001b3 ^ (h >> 29); -- v0 = i, v1 = h */
static const i64 interp_prog[] = {
    /* 0 */ OP_PUSH, 0, OP_STORE, 0,
    /* 4 */ OP_LOAD, 1, OP_LOAD, 0, OP_XOR, OP_PUSH, 0x100000001b3LL, OP_MUL,
    /* 12 */ OP_LOAD, 1, OP_PUSH, 29, OP_SHR, OP_XOR, OP_STORE, 1,
    /* 20 */ OP_LOAD, 0, OP_INC, OP_DUP, OP_STORE, 0, OP_PUSH, 10000, OP_LT, OP_JNZ, 4,
    /* 31 */ OP_LOAD, 1, OP_HALT,
};

/* memcpy: 8-byte copies, byte memset, unaligned byte copies over 256 KiB. */
#define BUF_N 262144
static u64 src64[BUF_N / 8], dst64[BUF_N / 8];
static u8 bytes[BUF_N + 16];
static NOINLINE u64 copy_kernel(u64 iter)
{
    for (u32 i = 0; i < BUF_N / 8; i++) src64[i] = i * 0x9E3779B97F4A7C15ull + iter;
    for (u32 i = 0; i < BUF_N / 8; i++) dst64[i] = src64[i];
    u8 fill = (u8)iter;
    for (u32 i = 0; i < BUF_N; i++) bytes[i] = fill;
    const u8 *s = (const u8 *)dst64 + 3;
    for (u32 i = 0; i < BUF_N - 8; i++) bytes[i + 5] = s[i];
    return dst64[iter % (BUF_N / 8)] ^ bytes[iter % BUF_N] ^ bytes[BUF_N - 1];
}

/* hash: FNV-1a 64 and table-driven CRC32 over 64 KiB. */
#define HASH_N 65536
static u8 data[HASH_N];
static u32 crc_table[256];
static NOINLINE u64 hash_kernel(u64 iter)
{
    u64 x = 0x2545F4914F6CDD1Dull ^ iter;
    for (u32 i = 0; i < HASH_N; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; data[i] = (u8)(x >> 32); }
    u64 h = 14695981039346656037ull;
    for (u32 i = 0; i < HASH_N; i++) { h ^= data[i]; h *= 1099511628211ull; }
    u32 c = 0xFFFFFFFFu;
    for (u32 i = 0; i < HASH_N; i++) c = crc_table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
    return h ^ ~c;
}

/* ---------------------------------------------------------------- main */

void bench_start(long *sp) __attribute__((used, noreturn));
void bench_start(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    u64 scale = argc > 1 ? parse_u64(argv[1]) : 10;
    u64 mask = argc > 2 ? parse_u64(argv[2]) : 31;

    for (u32 i = 0; i < 256; i++) {
        u32 c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    u64 r_sieve = 0, r_fib = 0, r_interp = 0, r_copy = 0, r_hash = 0;
    for (u64 it = 0; it < scale; it++) {
        if (mask & 1) r_sieve += sieve();
        if (mask & 2) r_fib += fib(23 + (u32)(it & 1));
        if (mask & 4) { i64 vars[2] = { 0, (i64)it }; r_interp = r_interp * 31 + (u64)interp(interp_prog, vars); }
        if (mask & 8) r_copy = r_copy * 31 + copy_kernel(it);
        if (mask & 16) r_hash = r_hash * 31 + hash_kernel(it);
    }
    put_str("scale="); put_u64(scale); put_str(" mask="); put_u64(mask);
    put_str("\nsieve="); put_u64(r_sieve);
    put_str("\nfib="); put_u64(r_fib);
    put_str("\ninterp="); put_hex(r_interp);
    put_str("\nmemcpy="); put_hex(r_copy);
    put_str("\nhash="); put_hex(r_hash);
    put_str("\n");
    sys_write(1, out, out_len);
    sys_exit(0);
}
