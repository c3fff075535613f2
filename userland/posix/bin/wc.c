#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <err.h>

/* wc [FILE...]: lines, words, bytes, each right-aligned in 7 columns. */
static long tl, tw, tc;

static int count(int fd, const char *name, int show_name)
{
    char buf[4096];
    long l = 0, w = 0, c = 0;
    int inword = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) { warn("%s", name); return 1; }
        for (ssize_t i = 0; i < n; i++) {
            char ch = buf[i];
            c++;
            if (ch == '\n') l++;
            int space = ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
            if (space) inword = 0;
            else if (!inword) { inword = 1; w++; }
        }
    }
    if (show_name) printf("%7ld %7ld %7ld %s\n", l, w, c, name);
    else printf("%7ld %7ld %7ld\n", l, w, c);
    tl += l; tw += w; tc += c;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (argc == 2 && strcmp(argv[1], "-") == 0)) return count(0, "stdin", 0);
    int status = 0;
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) { warn("%s", argv[i]); status = 1; continue; }
        status |= count(fd, argv[i], 1);
        close(fd);
    }
    if (argc > 2) printf("%7ld %7ld %7ld total\n", tl, tw, tc);
    return status;
}
