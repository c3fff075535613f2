#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <err.h>

/* grep [-v] [-c] [-n] STRING [FILE...]: fixed-string match. Exit 0 if a line was selected,
 * 1 if none, 2 on error. */
static int invert, count_only, numbers, multi;
static long selected_total;

static void emit(const char *name, long lineno, const char *line, size_t len)
{
    char prefix[300] = "";
    int n = 0;
    if (multi) n += snprintf(prefix + n, sizeof prefix - (size_t)n, "%s:", name);
    if (numbers) n += snprintf(prefix + n, sizeof prefix - (size_t)n, "%ld:", lineno);
    if (n) write(1, prefix, (size_t)n);
    write(1, line, len);
    write(1, "\n", 1);
}

static int grep_fd(int fd, const char *name, const char *pat)
{
    size_t cap = 4096, len = 0;
    char *line = malloc(cap);
    long lineno = 0, selected = 0;
    char buf[4096];
    int done = 0;
    size_t patlen = strlen(pat);
    while (!done) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) { warn("%s", name); free(line); return -1; }
        if (n == 0) { done = 1; if (len == 0) break; buf[0] = '\n'; n = 1; }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (len + 1 >= cap) { cap *= 2; line = realloc(line, cap); if (!line) errx(2, "out of memory"); }
                line[len++] = buf[i];
                continue;
            }
            line[len] = 0;
            lineno++;
            int match = 0;
            if (patlen == 0) match = 1;
            else for (size_t k = 0; k + patlen <= len; k++)
                if (memcmp(line + k, pat, patlen) == 0) { match = 1; break; }
            if (match != invert) {
                selected++;
                if (!count_only) emit(name, lineno, line, len);
            }
            len = 0;
        }
    }
    free(line);
    if (count_only) {
        if (multi) printf("%s:%ld\n", name, selected);
        else printf("%ld\n", selected);
    }
    selected_total += selected;
    return 0;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (strcmp(argv[i], "--") == 0) { i++; break; }
        for (const char *o = argv[i] + 1; *o; o++) {
            if (*o == 'v') invert = 1;
            else if (*o == 'c') count_only = 1;
            else if (*o == 'n') numbers = 1;
            else if (*o == 'F') {}
            else { fprintf(stderr, "usage: grep [-vcnF] STRING [FILE...]\n"); return 2; }
        }
    }
    if (i >= argc) { fprintf(stderr, "usage: grep [-vcnF] STRING [FILE...]\n"); return 2; }
    const char *pat = argv[i++];
    int error = 0;
    if (i >= argc) { if (grep_fd(0, "(standard input)", pat) < 0) error = 1; }
    else {
        multi = argc - i > 1;
        for (; i < argc; i++) {
            int fd = open(argv[i], O_RDONLY);
            if (fd < 0) { warn("%s", argv[i]); error = 1; continue; }
            if (grep_fd(fd, argv[i], pat) < 0) error = 1;
            close(fd);
        }
    }
    if (error) return 2;
    return selected_total ? 0 : 1;
}
