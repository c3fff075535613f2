#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <err.h>

static int copy(int fd, const char *name)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0) return 0;
        if (n < 0) { warn("%s", name); return 1; }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(1, buf + off, (size_t)(n - off));
            if (w <= 0) { warn("write"); return 1; }
            off += w;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) return copy(0, "stdin");
    int status = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-") == 0) { status |= copy(0, "stdin"); continue; }
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) { warn("%s", argv[i]); status = 1; continue; }
        status |= copy(fd, argv[i]);
        close(fd);
    }
    return status;
}
