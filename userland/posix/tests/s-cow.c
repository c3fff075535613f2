/* Copy-on-write fork with shared leaf page tables, driven by the host (tests/Kernel.Tests/
 * PosixCowTests.cs): at each checkpoint one process reads a line from stdin while the others are
 * blocked in waitpid, so the host can count free pages and check the kernel's invariants there.
 * Natively it just needs enough input lines (e.g. yes | head).
 *   s-cow MIB   touches MIB MiB of heap (one value per page) and then:
 *     A  parent, before the fork          B  child, forked (it has written only its stack)
 *     C  child, after writing one page    D  parent, child and grandchild (which wrote a page
 *                                            and shrank the heap) gone
 *     E  second child, sharing            F  parent, second child gone
 * Every process checks that it sees exactly its own writes; "PASS cow-shared-tables" when all did. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

static char *mem;
static long pages;

/* Waits for one input line (a byte at a time: a pipe may hold several lines). */
static void checkpoint(void)
{
    char ch;
    do if (read(0, &ch, 1) != 1) _exit(3); while (ch != '\n');
}

static char original(long page) { return (char)(page * 7 + 1); }

/* Pages whose first byte differs from the original, except that page `a` must hold `va`
 * and page `b` must hold `vb` (-1: no exception). */
static long wrong(long a, char va, long b, char vb)
{
    long bad = 0;
    for (long i = 0; i < pages; i++) {
        char want = i == a ? va : i == b ? vb : original(i);
        if (mem[i * 4096] != want) bad++;
    }
    return bad;
}

static int exited_ok(pid_t pid)
{
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv)
{
    long mib = argc > 1 ? atol(argv[1]) : 8;
    pages = mib * 256;
    mem = sbrk(pages * 4096);
    if (mem == (char *)-1) { printf("sbrk failed\n"); return 1; }
    for (long i = 0; i < pages; i++) mem[i * 4096] = original(i);
    long mid = pages / 2;          /* in a leaf table that maps nothing but heap (for MIB >= 8) */
    long bad = 0;

    checkpoint();                                                /* A */
    pid_t c = fork();
    if (c < 0) { printf("fork failed\n"); return 1; }
    if (c == 0) {
        checkpoint();                                            /* B */
        mem[mid * 4096] = 'c';
        checkpoint();                                            /* C */
        long cbad = wrong(mid, 'c', -1, 0);
        pid_t g = fork();
        if (g == 0) {
            long gbad = wrong(mid, 'c', -1, 0);
            mem[(mid + 1) * 4096] = 'g';
            gbad += wrong(mid, 'c', mid + 1, 'g');
            /* shrinking the heap unmaps pages of leaf tables still shared with the child */
            if (pages >= 512 && sbrk(-256 * 4096) == (void *)-1) gbad++;
            _exit(gbad == 0 ? 0 : 1);
        }
        if (g < 0 || !exited_ok(g)) cbad++;
        cbad += wrong(mid, 'c', -1, 0);                          /* the grandchild's write stays its own */
        _exit(cbad == 0 ? 0 : 1);
    }
    if (!exited_ok(c)) { printf("child saw wrong data\n"); bad++; }
    bad += wrong(-1, 0, -1, 0);                                  /* no child write shows here */
    mem[0] = 'p';
    bad += wrong(0, 'p', -1, 0);

    checkpoint();                                                /* D */
    c = fork();
    if (c < 0) { printf("fork failed\n"); return 1; }
    if (c == 0) {
        checkpoint();                                            /* E */
        _exit(0);
    }
    if (!exited_ok(c)) bad++;
    bad += wrong(0, 'p', -1, 0);
    checkpoint();                                                /* F */
    if (bad) { printf("FAIL cow-shared-tables: %ld wrong\n", bad); return 1; }
    printf("PASS cow-shared-tables\n");
    return 0;
}
