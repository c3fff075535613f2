/* Deep and call-heavy recursion: Ackermann, naive Fibonacci, Towers of Hanoi, N-queens
   backtracking, mutual recursion, and a 100,000-deep recursion that the compiler cannot turn into
   a loop (each frame's address escapes). */
#include "rt.h"

static NOINLINE u64 ackermann(u64 m, u64 n)
{
    if (m == 0) return n + 1;
    if (n == 0) return ackermann(m - 1, 1);
    return ackermann(m - 1, ackermann(m, n - 1));
}

static NOINLINE u64 fib(u32 n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static u64 hanoi_moves, hanoi_hash;
static NOINLINE void hanoi(int n, int from, int to, int via)
{
    if (n == 0) return;
    hanoi(n - 1, from, via, to);
    hanoi_moves++;
    hanoi_hash = hanoi_hash * 7 + (u64)(from * 3 + to) + (u64)n;
    hanoi(n - 1, via, to, from);
}

static int queens_cols[12];
static NOINLINE int queens(int row, int n)
{
    if (row == n) return 1;
    int count = 0;
    for (int c = 0; c < n; c++) {
        int ok = 1;
        for (int r = 0; r < row; r++) {
            int d = queens_cols[r] - c;
            if (d == 0 || d == row - r || d == r - row) { ok = 0; break; }
        }
        if (ok) { queens_cols[row] = c; count += queens(row + 1, n); }
    }
    return count;
}

static NOINLINE int is_odd(u32 n);
static NOINLINE int is_even(u32 n) { return n == 0 ? 1 : is_odd(n - 1); }
static NOINLINE int is_odd(u32 n) { return n == 0 ? 0 : is_even(n - 1); }

/* Each frame links to its caller's frame through a pointer, so the recursion is real. */
struct frame { const struct frame *up; u32 value; };

static u64 deepest_sum;
static NOINLINE u32 deep(u32 n, const struct frame *up)
{
    struct frame f = { up, n * 2654435761u };
    if (n == 0) {
        /* walk the chain from the bottom: touches every frame still on the stack */
        u64 s = 0;
        for (const struct frame *p = &f; p; p = p->up) s = s * 31 + p->value;
        deepest_sum = s;
        return 1;
    }
    return deep(n - 1, &f) + (f.value & 1);
}

/* Recursive descent evaluator over an expression string. */
static const char *expr_p;
static NOINLINE i64 expr_sum(void);
static NOINLINE i64 expr_atom(void)
{
    if (*expr_p == '(') { expr_p++; i64 v = expr_sum(); expr_p++; return v; }
    if (*expr_p == '-') { expr_p++; return -expr_atom(); }
    i64 v = 0;
    while (*expr_p >= '0' && *expr_p <= '9') v = v * 10 + (*expr_p++ - '0');
    return v;
}
static NOINLINE i64 expr_prod(void)
{
    i64 v = expr_atom();
    while (*expr_p == '*' || *expr_p == '/' || *expr_p == '%') {
        char op = *expr_p++;
        i64 r = expr_atom();
        v = op == '*' ? v * r : op == '/' ? v / r : v % r;
    }
    return v;
}
static NOINLINE i64 expr_sum(void)
{
    i64 v = expr_prod();
    while (*expr_p == '+' || *expr_p == '-') {
        char op = *expr_p++;
        i64 r = expr_prod();
        v = op == '+' ? v + r : v - r;
    }
    return v;
}

int main(void)
{
    out_str("ackermann(2,3)="); out_u64(ackermann(2, 3)); out_nl();
    out_str("ackermann(3,5)="); out_u64(ackermann(3, 5)); out_nl();
    out_str("fib(24)="); out_u64(fib(24)); out_nl();
    hanoi(14, 1, 3, 2);
    out_str("hanoi(14): moves="); out_u64(hanoi_moves); out_str(" hash="); out_hex(hanoi_hash, 16); out_nl();
    out_str("queens(8)="); out_u64((u64)queens(0, 8)); out_nl();
    out_str("is_even(10001)="); out_u64((u64)is_even(10001)); out_str(" is_odd(7777)="); out_u64((u64)is_odd(7777)); out_nl();
    u32 odd = deep(100000, 0);
    out_str("deep(100000): odd values="); out_u64(odd); out_str(" chain hash="); out_hex(deepest_sum, 16); out_nl();
    static const char *exprs[] = { "1+2*3", "(1+2)*3", "-(4-10)*(7%4)/2", "((((((((((42))))))))))", "100/7-100%7*3+-5" };
    for (unsigned i = 0; i < COUNT(exprs); i++) {
        expr_p = exprs[i];
        out_str(exprs[i]); out_str(" = "); out_i64(expr_sum()); out_nl();
    }
    return (int)(ackermann(2, 3) + (u64)queens(0, 6));
}
