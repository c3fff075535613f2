/* fork: return values, copied memory, shared open files, interleaving, trees, failure. */
#include "t.h"

static int data_var = 1234;        /* .data */
static int bss_var;                /* .bss */

static int tree(int depth)
{
    if (depth == 0) return 1;
    pid_t a = fork();
    if (a == 0) _exit(tree(depth - 1));
    pid_t b = fork();
    if (b == 0) _exit(tree(depth - 1));
    if (a < 0 || b < 0) return 0;
    return 1 + exit_code_of(a) + exit_code_of(b);
}

int main(void)
{
    /* return values */
    pid_t me = getpid();
    pid_t p = fork();
    CHECK(p >= 0);
    if (p == 0) _exit(getppid() == me && getpid() != me ? 7 : 1);
    CHECK(p != me);
    CHECK(exit_code_of(p) == 7);
    pass("fork-returns");

    /* private memory: stack, data, bss, heap */
    int stack_var = 55;
    int *heap = malloc(64 * 1024);
    CHECK(heap);
    for (int i = 0; i < 16 * 1024; i++) heap[i] = i;
    int to_child[2], to_parent[2];
    CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0);
    p = fork();
    CHECK(p >= 0);
    if (p == 0) {
        char c;
        stack_var = 1; data_var = 2; bss_var = 3; heap[100] = -1; heap[16000] = -2;
        CHECK(write(to_parent[1], "w", 1) == 1);         /* child wrote */
        CHECK(read(to_child[0], &c, 1) == 1);             /* parent wrote */
        _exit(stack_var == 1 && data_var == 2 && bss_var == 3 && heap[100] == -1 && heap[16000] == -2
              && heap[5000] == 5000 ? 0 : 1);
    }
    char c;
    CHECK(read(to_parent[0], &c, 1) == 1);
    CHECK(stack_var == 55 && data_var == 1234 && bss_var == 0 && heap[100] == 100 && heap[16000] == 16000);
    stack_var = 9; data_var = 9; bss_var = 9; heap[5000] = 9;
    CHECK(write(to_child[1], "p", 1) == 1);
    CHECK(exit_code_of(p) == 0);
    close(to_child[0]); close(to_child[1]); close(to_parent[0]); close(to_parent[1]);
    free(heap);
    pass("fork-private-memory");

    /* shared open-file objects: the child's read advances the parent's offset */
    const char *path = "t-fork.tmp";
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "abcdef", 6) == 6);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    p = fork();
    CHECK(p >= 0);
    if (p == 0) {
        char b[3];
        _exit(read(fd, b, 3) == 3 && memcmp(b, "abc", 3) == 0 ? 0 : 1);
    }
    CHECK(exit_code_of(p) == 0);
    char b[8];
    CHECK(read(fd, b, 8) == 3 && memcmp(b, "def", 3) == 0);
    close(fd);
    unlink(path);
    pass("fork-shared-offset");

    /* byte-at-a-time output from several processes interleaves, never duplicates */
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    enum { KIDS = 6, BYTES = 200 };
    pid_t kids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        kids[k] = fork();
        CHECK(kids[k] >= 0);
        if (kids[k] == 0) {
            close(pfd[0]);
            char ch = (char)('A' + k);
            for (int i = 0; i < BYTES; i++) {
                if (write(pfd[1], &ch, 1) != 1) _exit(1);
                if (i % 16 == 0) sched_yield();
            }
            _exit(0);
        }
    }
    close(pfd[1]);
    int counts[KIDS] = { 0 }, total = 0;
    for (;;) {
        char rb[128];
        ssize_t n = read(pfd[0], rb, sizeof rb);
        CHECK(n >= 0);
        if (n == 0) break;
        for (ssize_t i = 0; i < n; i++) {
            int k = rb[i] - 'A';
            CHECK(k >= 0 && k < KIDS);
            counts[k]++;
            total++;
        }
    }
    close(pfd[0]);
    for (int k = 0; k < KIDS; k++) { CHECK(exit_code_of(kids[k]) == 0); CHECK(counts[k] == BYTES); }
    CHECK(total == KIDS * BYTES);
    pass("fork-interleave-no-duplicates");

    /* atomic read-modify-writes as the child's first writes to copy-on-write pages: each faults,
       the kernel copies the page and the instruction restarts with its registers as they were */
    static struct { long add; char pad[4096 - sizeof(long)]; long cas; } __attribute__((aligned(4096))) atomics = { 100, { 0 }, 7 };
    p = fork();
    CHECK(p >= 0);
    if (p == 0) {
        long old = __sync_fetch_and_add(&atomics.add, 5);            /* lock xadd: a page of its own */
        long seen = __sync_val_compare_and_swap(&atomics.cas, 7, 9);  /* lock cmpxchg: the next page */
        _exit(old == 100 && atomics.add == 105 && seen == 7 && atomics.cas == 9 ? 0 : 1);
    }
    CHECK(exit_code_of(p) == 0);
    CHECK(atomics.add == 100 && atomics.cas == 7);
    pass("fork-atomics-on-copied-pages");

    /* a tree of 255 processes */
    CHECK(tree(7) == 255);
    pass("fork-tree-255");

    /* fork failure is clean (Lab only: on the host this would be a fork bomb) */
    if (on_lab()) {
        p = fork();
        CHECK(p >= 0);
        if (p == 0) {
            static pid_t mine[20000];
            int n = 0;
            for (;;) {
                pid_t q = fork();
                if (q == 0) { for (;;) { char x; read(-1, &x, 0); sched_yield(); } }
                if (q < 0) { if (errno != EAGAIN && errno != ENOMEM) _exit(2); break; }
                mine[n++] = q;
                if (n == 20000) _exit(3);
            }
            for (int i = 0; i < n; i++) kill(mine[i], 9);
            for (int i = 0; i < n; i++) if (waitpid(mine[i], 0, 0) != mine[i]) _exit(4);
            pid_t q = fork();            /* the kernel recovered: fork works again */
            if (q < 0) _exit(5);
            if (q == 0) _exit(0);
            if (waitpid(q, 0, 0) != q) _exit(6);
            _exit(0);
        }
        CHECK(exit_code_of(p) == 0);
        pass("fork-fails-cleanly");
    } else {
        skip("fork-fails-cleanly", "Lab kernel only");
    }
    return 0;
}
