/* s-hold MIB [KIB]: fills MIB MiB of heap with a pattern and, with KIB, writes a KIB KiB file
 * /tmp/held; prints "holding" and waits for end of input; then checks that heap and file still hold
 * the pattern ("PASS hold"). A large, idle process for snapshot tests. Also safe natively. */
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long mib = argc > 1 ? atol(argv[1]) : 8, kib = argc > 2 ? atol(argv[2]) : 0;
    size_t n = (size_t)mib << 20;
    unsigned char *heap = malloc(n);
    if (!heap) { printf("FAIL malloc\n"); return 1; }
    for (size_t i = 0; i < n; i++) heap[i] = (unsigned char)(i * 7 + i / 4096);
    if (kib > 0) {
        static unsigned char line[1024];
        int fd = open("/tmp/held", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        for (long k = 0; k < kib; k++) {
            for (int i = 0; i < 1024; i++) line[i] = (unsigned char)(k + i);
            if (write(fd, line, sizeof line) != (long)sizeof line) { printf("FAIL write\n"); return 1; }
        }
        close(fd);
    }
    printf("holding\n");
    char c;
    while (read(0, &c, 1) > 0) {}
    for (size_t i = 0; i < n; i++)
        if (heap[i] != (unsigned char)(i * 7 + i / 4096)) { printf("FAIL heap byte %lu\n", (unsigned long)i); return 1; }
    if (kib > 0) {
        int fd = open("/tmp/held", O_RDONLY);
        long total = 0, r;
        char buf[4096];
        while ((r = read(fd, buf, sizeof buf)) > 0) total += r;
        close(fd);
        if (total != kib * 1024) { printf("FAIL file size %ld\n", total); return 1; }
    }
    printf("PASS hold\n");
    return 0;
}
