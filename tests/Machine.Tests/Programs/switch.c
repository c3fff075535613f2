/* Dense switches that gcc compiles to jump tables: a stack bytecode interpreter with 32 opcodes,
   a 48-case function with distinct side effects per case, and a character classifier. */
#include "rt.h"

enum op {
    OP_HALT, OP_PUSH, OP_POP, OP_DUP, OP_SWAP, OP_OVER, OP_ADD, OP_SUB,
    OP_MUL, OP_DIV, OP_MOD, OP_AND, OP_OR, OP_XOR, OP_SHL, OP_SHR,
    OP_NEG, OP_NOT, OP_EQ, OP_LT, OP_GT, OP_JMP, OP_JZ, OP_JNZ,
    OP_LOAD, OP_STORE, OP_INC, OP_DEC, OP_PRINT, OP_CALL, OP_RET, OP_ROT,
};

static i64 stack[256];
static i64 vars[16];
static int rstack[64];

static u64 run(const i64 *code, u64 *steps_out)
{
    int sp = 0, rsp = 0, pc = 0;
    u64 steps = 0, printed = 0;
    for (;;) {
        steps++;
        i64 ins = code[pc++];
        i64 a, b;
        switch ((enum op)ins) {
        case OP_HALT: *steps_out = steps; return printed;
        case OP_PUSH: stack[sp++] = code[pc++]; break;
        case OP_POP: sp--; break;
        case OP_DUP: stack[sp] = stack[sp - 1]; sp++; break;
        case OP_SWAP: a = stack[sp - 1]; stack[sp - 1] = stack[sp - 2]; stack[sp - 2] = a; break;
        case OP_OVER: stack[sp] = stack[sp - 2]; sp++; break;
        case OP_ADD: b = stack[--sp]; stack[sp - 1] = (i64)((u64)stack[sp - 1] + (u64)b); break;
        case OP_SUB: b = stack[--sp]; stack[sp - 1] = (i64)((u64)stack[sp - 1] - (u64)b); break;
        case OP_MUL: b = stack[--sp]; stack[sp - 1] = (i64)((u64)stack[sp - 1] * (u64)b); break;
        case OP_DIV: b = stack[--sp]; stack[sp - 1] = b ? stack[sp - 1] / b : 0; break;
        case OP_MOD: b = stack[--sp]; stack[sp - 1] = b ? stack[sp - 1] % b : 0; break;
        case OP_AND: b = stack[--sp]; stack[sp - 1] &= b; break;
        case OP_OR: b = stack[--sp]; stack[sp - 1] |= b; break;
        case OP_XOR: b = stack[--sp]; stack[sp - 1] ^= b; break;
        case OP_SHL: b = stack[--sp]; stack[sp - 1] = (i64)((u64)stack[sp - 1] << (b & 63)); break;
        case OP_SHR: b = stack[--sp]; stack[sp - 1] = (i64)((u64)stack[sp - 1] >> (b & 63)); break;
        case OP_NEG: stack[sp - 1] = (i64)(0 - (u64)stack[sp - 1]); break;
        case OP_NOT: stack[sp - 1] = ~stack[sp - 1]; break;
        case OP_EQ: b = stack[--sp]; stack[sp - 1] = stack[sp - 1] == b; break;
        case OP_LT: b = stack[--sp]; stack[sp - 1] = stack[sp - 1] < b; break;
        case OP_GT: b = stack[--sp]; stack[sp - 1] = stack[sp - 1] > b; break;
        case OP_JMP: pc = (int)code[pc]; break;
        case OP_JZ: a = stack[--sp]; pc = a ? pc + 1 : (int)code[pc]; break;
        case OP_JNZ: a = stack[--sp]; pc = a ? (int)code[pc] : pc + 1; break;
        case OP_LOAD: stack[sp++] = vars[code[pc++]]; break;
        case OP_STORE: vars[code[pc++]] = stack[--sp]; break;
        case OP_INC: stack[sp - 1] = (i64)((u64)stack[sp - 1] + 1); break;
        case OP_DEC: stack[sp - 1] = (i64)((u64)stack[sp - 1] - 1); break;
        case OP_PRINT: out_i64(stack[--sp]); out_char(' '); printed++; break;
        case OP_CALL: rstack[rsp++] = pc + 1; pc = (int)code[pc]; break;
        case OP_RET: pc = rstack[--rsp]; break;
        case OP_ROT: a = stack[sp - 3]; stack[sp - 3] = stack[sp - 2]; stack[sp - 2] = stack[sp - 1]; stack[sp - 1] = a; break;
        default: out_str("bad opcode\n"); *steps_out = steps; return ~0ull;
        }
    }
}

/* Count primes below 3000 by trial division; print every 50th prime. v0=n, v1=d, v2=count. */
static const i64 primes_prog[] = {
    /* 0 */ OP_PUSH, 2, OP_STORE, 0, OP_PUSH, 0, OP_STORE, 2,
    /* 8: outer */ OP_LOAD, 0, OP_PUSH, 3000, OP_LT, OP_JZ, 62,
    /* 15 */ OP_PUSH, 2, OP_STORE, 1,
    /* 19: inner */ OP_LOAD, 1, OP_DUP, OP_MUL, OP_LOAD, 0, OP_GT, OP_JNZ, 43,
    /* 28 */ OP_LOAD, 0, OP_LOAD, 1, OP_MOD, OP_JZ, 55,
    /* 35 */ OP_LOAD, 1, OP_INC, OP_STORE, 1, OP_JMP, 19,
    /* 42 */ OP_HALT,
    /* 43: prime */ OP_LOAD, 2, OP_INC, OP_STORE, 2, OP_CALL, 66,
    /* 50 */ OP_JMP, 55, OP_HALT, OP_HALT, OP_HALT,
    /* 55: next */ OP_LOAD, 0, OP_INC, OP_STORE, 0, OP_JMP, 8,
    /* 62: done */ OP_LOAD, 2, OP_PRINT, OP_HALT,
    /* 66: sub: print n if count % 50 == 0 */ OP_LOAD, 2, OP_PUSH, 50, OP_MOD, OP_JNZ, 76, OP_LOAD, 0, OP_PRINT,
    /* 76 */ OP_RET,
};

/* Bit mixing: an LCG step, rotate, not, neg, xor/shift mixing; 2000 rounds. v0=x, v1=i. */
static const i64 mix_prog[] = {
    /* 0 */ OP_PUSH, 7, OP_STORE, 0, OP_PUSH, 2000, OP_STORE, 1,
    /* 8: loop */ OP_LOAD, 0, OP_PUSH, 6364136223846793005LL, OP_MUL, OP_PUSH, 1442695040888963407LL, OP_ADD,
    /* 16 */ OP_DUP, OP_PUSH, 17, OP_SHR, OP_SWAP, OP_PUSH, 47, OP_SHL, OP_OR, OP_NOT, OP_NEG,
    /* 27 */ OP_PUSH, 3, OP_PUSH, 5, OP_ROT, OP_XOR, OP_SWAP, OP_SHL,
    /* 35 */ OP_DUP, OP_PUSH, 11, OP_SHR, OP_XOR, OP_STORE, 0,
    /* 42 */ OP_LOAD, 1, OP_DEC, OP_DUP, OP_STORE, 1, OP_PUSH, 0, OP_EQ, OP_JZ, 8,
    /* 53 */ OP_LOAD, 0, OP_PRINT, OP_PUSH, -7, OP_PUSH, 3, OP_DIV, OP_PRINT, OP_PUSH, -7, OP_PUSH, 3, OP_MOD, OP_PRINT,
    /* 68 */ OP_PUSH, 12, OP_PUSH, 10, OP_OVER, OP_AND, OP_OR, OP_PRINT, OP_PUSH, 5, OP_POP, OP_HALT,
};

static u64 side;

static NOINLINE u64 dense(u32 k, u64 x)
{
    switch (k) {
    case 0: return x + 1;
    case 1: return x * 3;
    case 2: side++; return x ^ 0x55;
    case 3: return x << 3;
    case 4: return x >> 2;
    case 5: side += x; return x - 7;
    case 6: return ~x;
    case 7: return x * x;
    case 8: return x / 3;
    case 9: return x % 11;
    case 10: side ^= x; return x | 0x100;
    case 11: return x & 0xFFFF;
    case 12: return x + 1234567;
    case 13: return x * 7 + 1;
    case 14: return (x >> 7) | (x << 57);
    case 15: side -= 3; return x - side;
    case 16: return x ^ (x >> 13);
    case 17: return x + (x << 5);
    case 18: return x / 10;
    case 19: return x % 1000;
    case 20: side = side * 5 + 1; return x + side;
    case 21: return x * 0x9E3779B97F4A7C15ull;
    case 22: return x ^ 0xFFFFFFFF00000000ull;
    case 23: return x >> 33;
    case 24: return x + 24;
    case 25: side += 25; return x * 25;
    case 26: return x - 26;
    case 27: return x ^ 27;
    case 28: return x | 28;
    case 29: return x & ~(u64)29;
    case 30: side ^= 30; return x * 30 + 1;
    case 31: return x / 31;
    case 32: return x % 32;
    case 33: return x << 33 | x >> 31;
    case 34: return x + x / 34;
    case 35: side += 35; return x - x / 35;
    case 36: return x * 36;
    case 37: return x ^ (x << 37);
    case 38: return x + 0x3838;
    case 39: return x * 39 - 1;
    case 40: side *= 3; return x ^ side;
    case 41: return x / 41 + 41;
    case 42: return x % 42 + 42;
    case 43: return x >> 43;
    case 44: return x * 44 + 4;
    case 45: side += 45; return x ^ 45;
    case 46: return x + 46 * 46;
    case 47: return x - 47 * 47;
    default: return x;
    }
}

static const char *classify(u8 c)
{
    switch (c) {
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9': return "digit";
    case 'a': case 'e': case 'i': case 'o': case 'u': return "vowel";
    case 'A': case 'E': case 'I': case 'O': case 'U': return "VOWEL";
    case ' ': case '\t': case '\n': return "space";
    case '+': case '-': case '*': case '/': case '%': case '=': case '<': case '>': return "operator";
    case '(': case ')': case '[': case ']': case '{': case '}': return "bracket";
    case '.': case ',': case ';': case ':': case '!': case '?': return "punct";
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return "consonant";
        return "other";
    }
}

int main(void)
{
    u64 steps;
    out_str("primes: ");
    u64 printed = run(primes_prog, &steps);
    out_str("| printed="); out_u64(printed); out_str(" steps="); out_u64(steps); out_nl();
    out_str("mix: ");
    printed = run(mix_prog, &steps);
    out_str("| printed="); out_u64(printed); out_str(" steps="); out_u64(steps); out_nl();

    u64 x = 0x0123456789ABCDEFull, h = 0;
    for (u32 i = 0; i < 20000; i++) {
        x = dense((u32)((x ^ i) % 50), x) + i;
        h = h * 1099511628211ull ^ x;
    }
    out_kv_hex("dense", h);
    out_kv_hex("side", side);

    const char *text = "int main(void) { return a[3] + b * (x - 42) / 7; } // Ok? Yes!\n\tEND.";
    u64 counts[10] = { 0 };
    static const char *kinds[] = { "digit", "vowel", "VOWEL", "space", "operator", "bracket", "punct", "consonant", "other" };
    for (const char *p = text; *p; p++) {
        const char *k = classify((u8)*p);
        for (unsigned j = 0; j < COUNT(kinds); j++) if (k == kinds[j] || memcmp(k, kinds[j], rt_strlen(kinds[j]) + 1) == 0) { counts[j]++; break; }
    }
    for (unsigned j = 0; j < COUNT(kinds); j++) { out_str(kinds[j]); out_char('='); out_u64(counts[j]); out_char(' '); }
    out_nl();
    return (int)(h % 97);
}
