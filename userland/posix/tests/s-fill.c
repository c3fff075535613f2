/* s-fill FILE: writes FILE in 64 KiB blocks until the file system is full, as `cat /dev/zero > FILE`
 * would, and checks how a full file system answers: the last write that stores anything may be
 * short, the next fails with ENOSPC, creating another file fails with ENOSPC too, and once FILE is
 * unlinked there is room again. Lab only: natively it would fill the host's disk (prints SKIP). */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <lab.h>

static char block[65536];

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/tmp/fill";
    if (lab_on_linux_host()) { printf("SKIP fill-enospc (would fill the host's disk)\n"); return 0; }
    memset(block, 'z', sizeof block);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { printf("FAIL open: %d\n", errno); return 1; }
    long total = 0, shorts = 0;
    for (;;) {
        long n = write(fd, block, sizeof block);
        if (n < 0) {
            if (errno != ENOSPC) { printf("FAIL write: errno %d, not ENOSPC\n", errno); return 1; }
            break;
        }
        if (n == 0) { printf("FAIL write returned 0\n"); return 1; }
        if (n < (long)sizeof block) shorts++;
        total += n;
    }
    printf("fill: %ld bytes, %ld short write%s, then ENOSPC\n", total, shorts, shorts == 1 ? "" : "s");
    if (shorts > 1) { printf("FAIL more than one short write\n"); return 1; }
    if (write(fd, block, 1) != -1 || errno != ENOSPC) { printf("FAIL a full file system took another byte\n"); return 1; }
    int again = open("/tmp/fill-another-file-with-a-long-name-to-need-room", O_WRONLY | O_CREAT, 0644);
    if (again >= 0 || errno != ENOSPC) { printf("FAIL creating a file on a full file system: %d %d\n", again, errno); return 1; }
    printf("PASS fill-enospc\n");

    /* reading back what was written */
    if (lseek(fd, total - 10, SEEK_SET) != total - 10) { printf("FAIL lseek\n"); return 1; }
    close(fd);
    fd = open(path, O_RDONLY);
    char tail[16];
    if (lseek(fd, total - 10, SEEK_SET) != total - 10 || read(fd, tail, sizeof tail) != 10 || memcmp(tail, block, 10) != 0) {
        printf("FAIL reading the end back\n");
        return 1;
    }
    close(fd);

    /* unlinking gives the room back */
    if (unlink(path) != 0) { printf("FAIL unlink: %d\n", errno); return 1; }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, block, sizeof block) != (long)sizeof block) { printf("FAIL no room after unlink\n"); return 1; }
    close(fd);
    unlink(path);
    printf("PASS fill-room-after-unlink\n");
    return 0;
}
