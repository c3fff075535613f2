/* Stress: a fork tree of exactly 363 processes (the root plus 362 descendants: a ternary tree of
 * depth 5 is 1+3+9+27+81+243 = 364, so the last leaf level is one short). Every process reaps its
 * children and exits with the size of its subtree (mod 256 at the root, reported on stdout). */
#include "t.h"

/* Builds a subtree of `want` processes rooted at the caller; returns the number created (incl. self). */
static int subtree(int want)
{
    if (want <= 1) return 1;
    int rest = want - 1;
    int kids = rest < 3 ? rest : 3;
    pid_t pids[3];
    int sizes[3];
    for (int i = 0; i < kids; i++) {
        sizes[i] = rest / kids + (i < rest % kids ? 1 : 0);
        pids[i] = fork();
        if (pids[i] < 0) { printf("FAIL fork\n"); exit(1); }
        if (pids[i] == 0) {
            int n = subtree(sizes[i]);
            _exit(n == sizes[i] ? 0 : 1);
        }
    }
    int total = 1;
    for (int i = 0; i < kids; i++) {
        int st = 0;
        if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            printf("FAIL child of subtree %d\n", want);
            exit(1);
        }
        total += sizes[i];
    }
    if (wait(NULL) != -1 || errno != ECHILD) { printf("FAIL extra child\n"); exit(1); }
    return total;
}

int main(void)
{
    int n = subtree(363);
    printf("fork tree: %d processes\n", n);
    if (n != 363) return 1;
    pass("fork-tree-363");
    return 0;
}
