#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

/* echo [-n] ARGS...: one write for the whole line. */
int main(int argc, char **argv)
{
    int i = 1, newline = 1;
    if (i < argc && strcmp(argv[i], "-n") == 0) { newline = 0; i++; }
    size_t len = 1;
    for (int j = i; j < argc; j++) len += strlen(argv[j]) + 1;
    char *buf = malloc(len);
    if (!buf) return 1;
    size_t n = 0;
    for (int j = i; j < argc; j++) {
        if (j > i) buf[n++] = ' ';
        size_t l = strlen(argv[j]);
        memcpy(buf + n, argv[j], l);
        n += l;
    }
    if (newline) buf[n++] = '\n';
    return write(1, buf, n) == (ssize_t)n ? 0 : 1;
}
