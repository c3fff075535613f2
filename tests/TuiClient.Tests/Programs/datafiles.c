/* A course-style test that reads the data files placed beside it (tui run --file / --dir), then, with
   "crash", dies on a null pointer as a buggy student program would. */
#include <stdio.h>
#include <string.h>

static void show(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { printf("%s: cannot open\n", path); return; }
    char line[128];
    while (fgets(line, sizeof line, f)) printf("%s: %s", path, line);
    fclose(f);
}

int main(int argc, char **argv) {
    show("input.txt");
    show("data/a.txt");
    show("/data/sub/b.txt");
    if (argc > 1 && strcmp(argv[1], "crash") == 0) { volatile int *p = 0; *p = 1; }
    return 0;
}
