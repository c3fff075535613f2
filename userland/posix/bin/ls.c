#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/stat.h>
#include <err.h>

/* ls [-a] [-l] [PATH...]: names sorted, one per line; -l adds size and type. */
static int show_all, longfmt;

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void print_entry(const char *dir, const char *name)
{
    if (!longfmt) { printf("%s\n", name); return; }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    if (stat(path, &st) < 0) { printf("?          %s\n", name); return; }
    printf("%c %8ld %s\n", S_ISDIR(st.st_mode) ? 'd' : '-', (long)st.st_size, name);
}

static int list(const char *path, int header)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        if (longfmt) printf("- %8ld %s\n", (long)st.st_size, path);
        else printf("%s\n", path);
        return 0;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) { warn("%s", path); return 1; }
    size_t cap = 64, n = 0;
    char **names = malloc(cap * sizeof *names);
    char buf[4096];
    for (;;) {
        long r = getdents64(fd, buf, sizeof buf);
        if (r < 0) { warn("%s", path); close(fd); return 1; }
        if (r == 0) break;
        for (long off = 0; off < r;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            off += d->d_reclen;
            if (d->d_name[0] == '.' && !show_all) continue;
            if (n == cap) { cap *= 2; names = realloc(names, cap * sizeof *names); }
            names[n++] = strdup(d->d_name);
        }
    }
    close(fd);
    qsort(names, n, sizeof *names, cmp);
    if (header) printf("%s:\n", path);
    for (size_t i = 0; i < n; i++) { print_entry(path, names[i]); free(names[i]); }
    free(names);
    return 0;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++)
        for (const char *o = argv[i] + 1; *o; o++) {
            if (*o == 'a') show_all = 1;
            else if (*o == 'l') longfmt = 1;
            else { fprintf(stderr, "usage: ls [-al] [PATH...]\n"); return 2; }
        }
    if (i >= argc) return list(".", 0);
    int status = 0, many = argc - i > 1;
    for (; i < argc; i++) status |= list(argv[i], many);
    return status;
}
